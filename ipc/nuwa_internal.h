/* Internals shared by the fork server's side (nuwa.c) and the main
 * process's manager (nuwa_manager.c). */
#ifndef IPC_NUWA_INTERNAL_H
#define IPC_NUWA_INTERNAL_H

#include "ipc/nuwa.h"

#include <stdint.h>
#include <string.h>
#include <time.h>

static inline uint64_t ipc__nuwa_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* 1..IPC_NUWA_APP_NAME_MAX bytes. */
static inline int ipc__nuwa_app_name_ok(const char *name)
{
    size_t n = name ? strnlen(name, IPC_NUWA_APP_NAME_MAX + 1) : 0;
    return n > 0 && n <= IPC_NUWA_APP_NAME_MAX;
}

#endif
