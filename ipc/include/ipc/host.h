/* The process host (Gecko's GeckoChildProcessHost with its parent-side
 * connection): launches a child with its channel already made, keeps the
 * messages that arrive before the parent actor binds, turns the child's death
 * into ActorDestroy(AbnormalShutdown) and a crash report holding the last
 * messages of that channel, and kills a child that sends a bad message
 * (Chromium's OnBadMessageReceived). The child side of the same start-up is
 * ipc_host_child_conn(). Everything runs on the host's loop thread. */
#ifndef IPC_HOST_H
#define IPC_HOST_H

#include "ipc/actor.h"
#include "ipc/proc.h"

#include <sys/types.h>

typedef struct ipc_host ipc_host;

/* Gecko's WhenProcessHandleReady: err 0 and the child is running (bind the
 * parent actor to ipc_host_conn()), or the launch failed (the host is dead;
 * free it). */
typedef void (*ipc_host_ready_fn)(void *ctx, ipc_host *host, int err);
/* The child died and was reaped (or, for an adopted process, its pidfd said
 * so). `info` and `report_path` are borrowed; report_path is "" when none.
 * The connection's actors may still be alive here: they end when the
 * channel's end of stream, which follows the child's last messages (a
 * Goodbye: NormalShutdown), has been read; with AbnormalShutdown if it has not
 * come 2 s after the death. */
typedef void (*ipc_host_exit_fn)(void *ctx, ipc_host *host, const ipc_crash_info *info,
                                 const char *report_path);

typedef struct ipc_host_opts {
    ipc_loop *loop;          /* the host's (main) loop; required */
    ipc_proc_opts proc;      /* what to run; channel_fd is set by the host */
    const char *label;       /* connection label for logs ("demo", "tab") */
    ipc_host_ready_fn ready; /* may be NULL */
    ipc_host_exit_fn exited; /* may be NULL */
    void *ctx;
} ipc_host_opts;

/* Creates the channel, then launches the child asynchronously with the
 * channel's client end on its fd 3. 0 (ready runs later, exactly once) or a
 * negative code (nothing runs; nothing to free). */
int ipc_host_launch(const ipc_host_opts *opts, ipc_host **out);
/* Makes a host for a process this one did not launch but got a channel to
 * (B2G's AddNewProcess: a child the fork server forked). Takes `fd`. The
 * peer's hello must name `pid` (the pair's maker was a third process, so
 * SO_PEERCRED cannot tell). Death is noticed through a pidfd; reaping is the
 * real parent's job. */
int ipc_host_adopt(const ipc_host_opts *opts, pid_t pid, int fd, ipc_host **out);

ipc_conn *ipc_host_conn(const ipc_host *host);
pid_t ipc_host_pid(const ipc_host *host);
/* The proc handle (NULL for adopted processes and before the launch ended). */
ipc_proc *ipc_host_proc(const ipc_host *host);
/* 1 once the child is known dead. */
int ipc_host_exited(const ipc_host *host);
/* Kills the child (SIGKILL). A death the parent caused is not a crash. */
int ipc_host_kill(ipc_host *host);
/* Kills and reaps the child if it still runs, frees the connection (whose
 * actors get AbnormalShutdown if still alive) and the host. */
void ipc_host_free(ipc_host *host);

/* In a child after ipc_child_init(): the connection to its parent on fd 3
 * (side child). `label` may be NULL. */
int ipc_host_child_conn(ipc_loop *loop, int channel_fd, const char *label, ipc_conn **out);

#endif
