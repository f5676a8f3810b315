/* ipcrig-b2g, B2G's process model on libipc in one binary: the main process
 * (b2g) with its preallocated-process manager, the fork server (nuwa) and the
 * app processes it forks. Shared declarations of its three files. */
#ifndef RIG_B2G_H
#define RIG_B2G_H

#include "ipc/proc.h"

#include <stdint.h>
#include <sys/types.h>

#define RIG_B2G_EXIT_OK    0
#define RIG_B2G_EXIT_FAIL  1
#define RIG_B2G_EXIT_USAGE 2

typedef struct rig_b2g_opts {
    unsigned spares;      /* spares kept ready */
    int delay_ms;         /* before the fork server is launched */
    int replace_delay_ms; /* after a take, before the replacement fork; -1: delay_ms */
    unsigned apps;        /* apps started one after the other, each from a spare */
    int timeout_ms;       /* the whole run */
    int quiet;            /* only the summary */
} rig_b2g_opts;

/* The main process: returns the exit status. */
int rig_b2g_main(const rig_b2g_opts *opts);
/* A child (the fork server, and whatever it forks): argv has -ipcChild. */
int rig_b2g_child(int argc, char **argv);

/* Progress lines are off (--quiet). */
extern int rig_b2g_quiet;
/* "[main 1234] " style progress lines on stdout (line-buffered). */
void rig_b2g_say(const char *who, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The parent of `pid` from /proc, or -1. */
pid_t rig_b2g_parent_of(pid_t pid);

#endif
