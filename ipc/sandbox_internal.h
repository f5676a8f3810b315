/* Internals of the sandbox for the tests: the BPF programs themselves, to
 * show that a precompiled program is the one compiled in place. */
#ifndef IPC_SANDBOX_INTERNAL_H
#define IPC_SANDBOX_INTERNAL_H

#include "ipc/sandbox.h"

#include <stddef.h>
#include <sys/types.h>

/* The program ipc_sandbox_apply() would load in process `pid` (struct
 * sock_filter array, host byte order). *out is malloc()ed. 0 or -errno. */
int ipc__sandbox_bpf_for_pid(const char *process_type, pid_t pid, void **out, size_t *len);
/* A copy of the precompiled program as applied by process `pid` (patches
 * `prog` for it). 0 or -ENOMEM. */
int ipc__sandbox_prog_bpf(ipc_sandbox_prog *prog, pid_t pid, void **out, size_t *len);
/* How many instructions hold the caller's pid. */
size_t ipc__sandbox_prog_pid_slots(const ipc_sandbox_prog *prog);

#endif
