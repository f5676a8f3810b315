/* Internal to the process layer: the handle shared by proc.c (launch, reap,
 * wait) and proc_watch.c (the loop-driven async launch and death watch), and
 * test hooks that force the fallback paths. */
#ifndef IPC_PROC_INTERNAL_H
#define IPC_PROC_INTERNAL_H

#include "ipc/proc.h"

#include <limits.h>

struct ipc_proc {
    pid_t pid;
    pid_t parent_pid;
    int pidfd; /* -1 where pidfd_open is missing */
    char type[IPC_CRASH_TYPE_MAX];
    char *crash_dir;  /* NULL: no reports */
    void *crash_page; /* IPC_CRASHINFO_SIZE bytes shared with the child */
    ipc_crash_ring *ring;
    int child_fds[IPC_PROC_MAX_FDS];
    size_t nfds;
    int exec_pipe;      /* read end while the exec is pending, else -1 */
    int kill_requested; /* the last signal the parent sent, 0: none */
    int exec_failed;    /* died between fork and exec: not a crash */
    int reaped;
    ipc_crash_info info;
    char report_path[PATH_MAX];
    /* Set by proc_watch.c while a watch or async launch is registered: how
     * to drop it when the handle is freed. */
    void *watch;
    void (*watch_drop)(ipc_proc *proc);
};

/* Forks the child; returns with proc->exec_pipe open (blocking) before the
 * child's exec is known to have worked. Takes opts->channel_fd. */
int ipc__proc_spawn(const ipc_proc_opts *opts, ipc_proc **out);
/* Reads the exec pipe: 0 (exec'd; the pipe is closed), 1 (still pending,
 * only on a non-blocking pipe), or IPC_E_EXEC / -errno with res filled (the
 * child is reaped). */
int ipc__proc_exec_result(ipc_proc *proc, ipc_proc_launch_result *res);
/* Reaps the child if it has died (block: wait for it). 1 when reaped now or
 * before, 0 when still running, -errno. Fills proc->info, writes the report. */
int ipc__proc_try_reap(ipc_proc *proc, int block);

/* The child died unseen (waitpid failed with `err`, e.g. -ECHILD when
 * SIGCHLD is ignored): marks it reaped with info.error = err, no report. */
void ipc__proc_mark_lost(ipc_proc *proc, int err);
/* Closes the pidfd (once no event watches it). */
void ipc__proc_close_pidfd(ipc_proc *proc);

/* Test hooks (0: normal). fd_fallback 1: close fds by reading /proc/self/fd,
 * 2: by trying every number up to RLIMIT_NOFILE. no_pidfd: act as if
 * pidfd_open were missing. Set before launching; not thread-safe. */
extern int ipc__proc_test_fd_fallback;
extern int ipc__proc_test_no_pidfd;

#endif
