/* B2G's Nuwa fork server and preallocated-process manager on libipc, both
 * sides of PContent's NuwaFork / AddNewProcess / TurnIntoApp / Ready.
 *
 * Main process: the manager (PreallocatedProcessManager) launches the fork
 * server (process type "nuwa") with ipc_host_launch after a delay (1 s,
 * DEFAULT_ALLOCATE_DELAY), marks that connection as the fork server's
 * (ContentParent::IsNuwaProcess), and keeps a number of spares: each NuwaFork
 * it sends comes back as AddNewProcess(pid, fd), which it accepts only from
 * the fork server (from anyone else it is a bad message and the sender is
 * killed), adopts with ipc_host_adopt and publishes as a spare. Taking a spare
 * sends TurnIntoApp(app_name); the app answers Ready(pid); a replacement is
 * forked at once.
 *
 * Fork server: on NuwaFork it makes a socketpair, parks the IO thread, forks,
 * unparks, closes the child's end and sends AddNewProcess with the other; it
 * reaps every process it forked. The new process restarts its IO thread and
 * resets its main loop (fork copies only the calling thread and shares epoll
 * and eventfd instances with the parent), drops the fork server's channel to
 * main (the IO layer's fork hook stops it at once; the connection and its fd
 * are freed on the next loop turn), arms PR_SET_PDEATHSIG, stacks the spare
 * sandbox, and connects a PContent child actor over its end of the new pair.
 *
 * Everything runs on the loop thread given in the options (the main thread)
 * unless a prototype says otherwise. Docs: docs/process-model.md, "Fork server
 * (Nuwa)". */
#ifndef IPC_NUWA_H
#define IPC_NUWA_H

#include "ipc/actor.h"
#include "ipc/loop.h"
#include "ipc/proc.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* PreallocatedProcessManager's DEFAULT_ALLOCATE_DELAY. */
#define IPC_NUWA_DEFAULT_DELAY_MS 1000
#define IPC_NUWA_DEFAULT_SPARES   1u
/* Longest app name TurnIntoApp may carry (bytes, without the NUL). */
#define IPC_NUWA_APP_NAME_MAX 63
/* How long a closed spare, app or fork server gets to exit before it is
 * killed, during ipc_nuwa_manager_shutdown() and ipc_nuwa_server_free(). */
#define IPC_NUWA_EXIT_GRACE_MS 3000

/* ======================= main process: the manager ======================= */

typedef struct ipc_nuwa_manager ipc_nuwa_manager;

typedef enum ipc_nuwa_event_kind {
    IPC_NUWA_EV_NUWA_LAUNCHING,  /* the delay passed: launching the fork server */
    IPC_NUWA_EV_NUWA_RUNNING,    /* pid: the fork server runs */
    IPC_NUWA_EV_NUWA_FAILED,     /* err: it could not be launched */
    IPC_NUWA_EV_FORK_REQUESTED,  /* NuwaFork sent; replacement: 1 when it replaces a
                                    spare that was taken or died */
    IPC_NUWA_EV_SPARE_PUBLISHED, /* pid, parent_pid: AddNewProcess accepted */
    IPC_NUWA_EV_SPARE_CONNECTED, /* pid: the spare's hello arrived; it is set up */
    IPC_NUWA_EV_SPARE_TAKEN,     /* pid, app_name: TurnIntoApp sent */
    IPC_NUWA_EV_APP_READY,       /* pid, app_name, latency_ns (take to Ready) */
    IPC_NUWA_EV_BAD_SENDER,      /* pid, err: a process sent what it must not
                                    (AddNewProcess from other than the fork server,
                                    a Ready it owed nobody); it is being killed */
    IPC_NUWA_EV_EXITED,          /* pid, app_name ("" for a spare): a spare or app died */
    IPC_NUWA_EV_NUWA_EXITED,     /* pid: the fork server died (its spares die with it) */
    IPC_NUWA_EV_SHUTDOWN_DONE,   /* after ipc_nuwa_manager_shutdown(): all are gone */
} ipc_nuwa_event_kind;

/* "SPARE_PUBLISHED" and so on. */
const char *ipc_nuwa_event_name(ipc_nuwa_event_kind kind);

typedef struct ipc_nuwa_event {
    ipc_nuwa_event_kind kind;
    pid_t pid;
    pid_t parent_pid;     /* SPARE_PUBLISHED: the new process's parent (the fork server) */
    const char *app_name; /* borrowed for the call; "" when none */
    uint64_t latency_ns;  /* APP_READY */
    int replacement;      /* FORK_REQUESTED */
    int err;              /* NUWA_FAILED, BAD_SENDER */
    /* NUWA_EXITED: its exit status (0-255), or 128 + the signal that killed
     * it. EXITED: -1 (the fork server, not main, collects those). */
    int exit_status;
} ipc_nuwa_event;

typedef void (*ipc_nuwa_event_fn)(void *ctx, ipc_nuwa_manager *m, const ipc_nuwa_event *ev);

/* Every step, counted; readable at any time from the loop thread. */
typedef struct ipc_nuwa_counts {
    uint64_t forks_requested;  /* NuwaFork sent */
    uint64_t replacements;     /* of those, to replace a spare taken or lost */
    uint64_t spares_published; /* AddNewProcess accepted */
    uint64_t spares_taken;     /* TurnIntoApp sent */
    uint64_t apps_ready;       /* Ready received */
    uint64_t bad_senders;      /* processes killed for a bad message */
    uint64_t exited;           /* spares and apps that died */
    unsigned spares;           /* spares ready now */
    unsigned apps;             /* apps (and spares turning into apps) alive now */
    unsigned forks_pending;    /* NuwaFork sent, AddNewProcess not yet received */
} ipc_nuwa_counts;

typedef struct ipc_nuwa_manager_opts {
    ipc_loop *loop;             /* the main loop; required */
    ipc_proc_opts nuwa;         /* how to run the fork server (path, argv, envp, prefs...);
                                   process_type is forced to "nuwa", channel_fd to the host's */
    unsigned spares;            /* spares to keep ready (0: on demand only) */
    int delay_ms;               /* before launching the fork server; < 0: the default */
    int replace_delay_ms;       /* after a spare is taken, before its replacement is
                                   forked (B2G delays it too); < 0: delay_ms */
    ipc_nuwa_event_fn on_event; /* may be NULL */
    void *ctx;
} ipc_nuwa_manager_opts;

/* Defaults: IPC_NUWA_DEFAULT_SPARES, IPC_NUWA_DEFAULT_DELAY_MS for both
 * delays, proc opts from ipc_proc_opts_init(). */
void ipc_nuwa_manager_opts_init(ipc_nuwa_manager_opts *opts);

/* Creates the manager and arms the delayed launch (ScheduleDelayedNuwaFork).
 * The strings and arrays in opts->nuwa must outlive the launch. 0 or -errno. */
int ipc_nuwa_manager_start(const ipc_nuwa_manager_opts *opts, ipc_nuwa_manager **out);
/* Asks the fork server for one more process now (on demand; it becomes a
 * spare). 0, IPC_E_STATE (the fork server is not running, or shutting down). */
int ipc_nuwa_manager_request_fork(ipc_nuwa_manager *m);
/* Takes the oldest spare that is connected (else the oldest) and sends it
 * TurnIntoApp(app_name) (copied); APP_READY follows when it answers, and its
 * replacement is forked after replace_delay_ms. *pid (may be NULL) is the
 * spare's pid. 0, -EAGAIN (no spare), -EINVAL (name empty or longer than
 * IPC_NUWA_APP_NAME_MAX), IPC_E_STATE (shutting down), or the send's error. */
int ipc_nuwa_manager_take_spare(ipc_nuwa_manager *m, const char *app_name, pid_t *pid);
/* Close() on a spare's or an app's actor (Goodbye); the process exits and the
 * fork server reaps it. 0, -ESRCH (no such spare or app). */
int ipc_nuwa_manager_close_process(ipc_nuwa_manager *m, pid_t pid);
void ipc_nuwa_manager_get_counts(const ipc_nuwa_manager *m, ipc_nuwa_counts *out);
/* The fork server's pid, or 0 when it is not running. */
pid_t ipc_nuwa_manager_nuwa_pid(const ipc_nuwa_manager *m);
/* Copies the pids of the spares ready now, oldest first; returns how many
 * there are (may exceed max). */
size_t ipc_nuwa_manager_spare_pids(const ipc_nuwa_manager *m, pid_t *out, size_t max);
/* Spares whose hello has arrived (main's IO thread has read it; the
 * SPARE_CONNECTED event follows on the manager's next hello poll, within
 * 1 ms). */
unsigned ipc_nuwa_manager_connected_spares(const ipc_nuwa_manager *m);
/* Begins a clean shutdown: Close() to every spare and app, then, once they
 * have all exited, to the fork server; stragglers are killed after
 * IPC_NUWA_EXIT_GRACE_MS. SHUTDOWN_DONE is reported when every process is
 * gone (at once when the fork server never ran). */
void ipc_nuwa_manager_shutdown(ipc_nuwa_manager *m);
/* 1 once SHUTDOWN_DONE was reported. */
int ipc_nuwa_manager_done(const ipc_nuwa_manager *m);
/* Kills whatever still runs (the fork server is reaped; its children die of
 * their parent-death signal) and frees the manager. Not from inside one of its
 * own callbacks. */
void ipc_nuwa_manager_free(ipc_nuwa_manager *m);

/* ==================== the fork server and its children ==================== */

typedef struct ipc_nuwa_server ipc_nuwa_server;
typedef struct ipc_nuwa_spare ipc_nuwa_spare;

/* What each forked process does; every callback runs in that process, on its
 * main loop. */
typedef struct ipc_nuwa_spare_ops {
    /* The fork returned here and the new process is set up (its channel to
     * main connected, its PContent child actor bound). The fork server's
     * handle is inert in this process from now on. May be NULL. */
    void (*forked)(void *ctx, ipc_nuwa_spare *spare);
    /* TurnIntoApp(app_name) arrived (name borrowed). Return 0 and Ready(pid)
     * goes out now; 1 to answer later with ipc_nuwa_spare_ready(); a negative
     * code closes this process's channel. May be NULL (always 0). */
    int (*become_app)(void *ctx, ipc_nuwa_spare *spare, const char *app_name);
    /* The channel to main is gone (Goodbye: IPC_NORMAL_SHUTDOWN, or a
     * failure): time to quit the loop. May be NULL. */
    void (*closed)(void *ctx, ipc_nuwa_spare *spare, ipc_destroy_reason why);
    void *ctx;
} ipc_nuwa_spare_ops;

typedef struct ipc_nuwa_server_opts {
    ipc_loop *loop;   /* the fork server's main loop (it forks on this thread); required */
    ipc_iothread *io; /* the IO thread its channels use; NULL: ipc_iothread_default() */
    int channel_fd;   /* its channel to main (ipc_child_info.channel_fd); taken */
    pid_t main_pid;   /* the main process (ipc_child_info.parent_pid); 0: getppid() */
    /* Sandbox stacked onto every forked process (ipc_sandbox_apply): NULL
     * means "content"; "" stacks none. */
    const char *spare_sandbox;
    /* The fork server's own channel to main is gone: quit the loop, then
     * ipc_nuwa_server_free() reaps the children. May be NULL. */
    void (*closed)(void *ctx, ipc_nuwa_server *srv, ipc_destroy_reason why);
    void *ctx;
    ipc_nuwa_spare_ops spare;
} ipc_nuwa_server_opts;

/* Call in the fork server (after ipc_child_init, which applied the "nuwa"
 * sandbox) before running the loop: connects to main over opts->channel_fd
 * and binds the PContent child actor that answers NuwaFork. 0 or -errno /
 * IPC_E_*. No other thread of the process may be inside libipc or hold a lock
 * when a NuwaFork is handled (B2G freezes them; here there is only the IO
 * thread, which the server parks). */
int ipc_nuwa_server_start(const ipc_nuwa_server_opts *opts, ipc_nuwa_server **out);
/* 1 in the fork server, 0 in a process it forked (its handle is inert). */
int ipc_nuwa_server_is_fork_server(const ipc_nuwa_server *srv);
typedef struct ipc_nuwa_server_stats {
    uint64_t forks;          /* processes forked */
    uint64_t fork_failures;  /* NuwaFork not served (main cannot be told; logged) */
    uint64_t reaped;         /* children reaped */
    uint64_t abnormal_exits; /* of those: exit status other than 0, or killed by a
                                signal other than SIGKILL (main's or ours) */
    size_t children;         /* forked and not yet reaped */
} ipc_nuwa_server_stats;
/* The fork server's counts; all 0 in a process it forked. */
void ipc_nuwa_server_get_stats(const ipc_nuwa_server *srv, ipc_nuwa_server_stats *out);
/* In the fork server: closes its channel, gives its children
 * IPC_NUWA_EXIT_GRACE_MS to exit, kills the rest and reaps all of them (the
 * stats count them). In a forked process: drops what it inherited. Idempotent;
 * the handle stays valid for ipc_nuwa_server_get_stats(). */
void ipc_nuwa_server_stop(ipc_nuwa_server *srv);
/* Stops (as above) if needed, then frees. */
void ipc_nuwa_server_free(ipc_nuwa_server *srv);

/* ---- in a forked process ---- */

/* The connection to main and its PContent child actor. */
ipc_conn *ipc_nuwa_spare_conn(const ipc_nuwa_spare *spare);
ipc_actor *ipc_nuwa_spare_actor(const ipc_nuwa_spare *spare);
/* The app name once TurnIntoApp arrived, else "". */
const char *ipc_nuwa_spare_app_name(const ipc_nuwa_spare *spare);
/* Sends Ready(getpid()) after become_app returned 1. 0, IPC_E_STATE (no
 * TurnIntoApp pending an answer) or the send's error. */
int ipc_nuwa_spare_ready(ipc_nuwa_spare *spare);
/* Closes the channel if still open and frees the spare. */
void ipc_nuwa_spare_free(ipc_nuwa_spare *spare);

#endif
