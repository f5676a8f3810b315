/* Child processes, parent and child sides (Gecko's GeckoChildProcessHost and
 * ProcessChild, B2G's LaunchApp). The parent launches a child with fork+exec:
 * the channel's client end lands on fd 3 (IPC_CHILD_CHANNEL_FD), every other
 * inherited fd except 0-2 and a keep-list is closed, the child dies with its
 * parent (PR_SET_PDEATHSIG), and an exec failure comes back with its errno.
 * The command line tells the child the parent's pid and build id, its process
 * type and where its prefs are; ipc_child_init() checks and applies all that
 * (and the sandbox) in the child. The parent notices the child's death with a
 * pidfd (or SIGCHLD) on a loop, reaps it and writes a crash report when it died
 * abnormally. Details and formats: docs/process-model.md. */
#ifndef IPC_PROC_H
#define IPC_PROC_H

#include "ipc/chan.h"
#include "ipc/crash.h"
#include "ipc/loop.h"
#include "ipc/prefs.h"

#include <stddef.h>
#include <sys/types.h>

/* Fixed fds in a freshly started child, before ipc_child_init() (which closes
 * 4 and 5 after mapping them). Fds a caller keeps get numbers from 6 up when
 * their own number is one of these. */
#define IPC_CHILD_PREFS_FD      4
#define IPC_CHILD_CRASHINFO_FD  5
#define IPC_CHILD_FIRST_FREE_FD 6
/* Most extra fds one launch may hand over. */
#define IPC_PROC_MAX_FDS 64u

/* Exit statuses that stand for start-up failures of ipc_child_init(); the
 * parent maps them back to errors in ipc_crash_info.error. */
#define IPC_CHILD_EXIT_BUILD_ID 90 /* IPC_E_BUILD_ID */
#define IPC_CHILD_EXIT_ARGS     91 /* IPC_E_PARAM: bad libipc arguments */
#define IPC_CHILD_EXIT_PREFS    92 /* the prefs could not be read */
#define IPC_CHILD_EXIT_SANDBOX  93 /* the sandbox could not be applied */
#define IPC_CHILD_EXIT_INIT     94 /* any other start-up failure */
/* Status of a child that failed between fork and exec (reported as IPC_E_EXEC). */
#define IPC_CHILD_EXIT_EXEC 127

/* The build id a parent sends and a child checks: identifies the libipc
 * build (IPC_BUILD_ID at compile time, else the library version and the
 * compile date and time). Never NULL. Any thread. */
const char *ipc_build_id(void);

/* ================= parent side ================= */

/* An fd to hand to the child. child_fd >= 0 puts it exactly there (0-2
 * redirect stdio; 3-5 are reserved: -EINVAL); -1 keeps its own number, or the
 * next free number from IPC_CHILD_FIRST_FREE_FD up when that one is reserved
 * or taken. ipc_proc_child_fd() and the child's ipc_child_info say where it
 * landed. */
typedef struct ipc_proc_fd {
    int fd;
    int child_fd;
} ipc_proc_fd;

typedef struct ipc_proc_opts {
    const char *path;         /* executable; no PATH search */
    const char *const *argv;  /* the child's own leading arguments, argv[0] first, NULL-
                                 terminated; NULL: just { path } */
    const char *const *envp;  /* NULL-terminated; NULL: the parent's environment */
    const char *process_type; /* "content", "demo", "nuwa", "test" or "main" */
    int channel_fd;           /* the channel's client end, to fd 3; -1: none. Taken. */
    const ipc_proc_fd *fds;   /* extra fds, borrowed (the caller keeps and closes them) */
    size_t nfds;              /* <= IPC_PROC_MAX_FDS */
    const ipc_prefs *prefs;   /* copied into a sealed memfd; NULL: no prefs */
    const char *build_id;     /* NULL: ipc_build_id() */
    const char *crash_dir;    /* where crash reports go; NULL: $IPC_CRASH_DIR; neither: none */
    ipc_crash_ring *ring;     /* recent messages for a crash report (a reference is taken);
                                 NULL: the handle makes its own */
} ipc_proc_opts;

/* Sets defaults: everything NULL/0 and channel_fd -1. */
void ipc_proc_opts_init(ipc_proc_opts *opts);

/* A child process handle. Unless a prototype says otherwise, one thread uses
 * a handle at a time: the one that launched it, or the loop's thread once it
 * is watched. */
typedef struct ipc_proc ipc_proc;

/* What became of a launch. */
typedef struct ipc_proc_launch_result {
    int err;          /* 0, IPC_E_EXEC, or -errno/IPC_E_* from the parent's side */
    int exec_errno;   /* with IPC_E_EXEC: the errno of the failing step, else 0 */
    const char *step; /* with IPC_E_EXEC: "execve", "fds", "pdeathsig", else NULL */
} ipc_proc_launch_result;

/* Launches a child and waits until it has exec'd (or failed to). On success
 * *out is the caller's handle. opts->channel_fd is taken (closed in the parent)
 * on success and on failure; opts->fds stay the caller's. `res` may be NULL.
 * Returns res->err: 0, -EINVAL (bad options, unknown process type), IPC_E_EXEC
 * (see res->exec_errno: ENOENT, EACCES, ...) or -errno. Any long-lived thread:
 * the child's PR_SET_PDEATHSIG fires when the *thread* that launched it exits. */
int ipc_proc_launch(const ipc_proc_opts *opts, ipc_proc **out, ipc_proc_launch_result *res);

/* Gecko's WhenProcessHandleReady: cb(ctx, res, proc) runs later on `loop`'s
 * thread with the launch's result; on success the callee owns `proc`, on
 * failure proc is NULL. */
typedef void (*ipc_proc_launch_cb)(void *ctx, const ipc_proc_launch_result *res, ipc_proc *proc);
/* Forks now on the calling thread and returns without waiting for the exec;
 * the loop watches for it and calls cb exactly once. Returns 0 (cb will run),
 * or a negative code (cb will not run; opts->channel_fd was taken anyway).
 * Any long-lived thread (see ipc_proc_launch); `loop` must outlive the call
 * of cb. */
int ipc_proc_launch_async(ipc_loop *loop, const ipc_proc_opts *opts, ipc_proc_launch_cb cb,
                          void *ctx);

/* The child's pid (until the handle is freed). Any thread. */
pid_t ipc_proc_pid(const ipc_proc *proc);
const char *ipc_proc_type(const ipc_proc *proc);
/* Where opts->fds[i] landed in the child, or -1 when i is out of range. */
int ipc_proc_child_fd(const ipc_proc *proc, size_t i);
/* The ring of recent messages (borrowed; ipc_crash_ring_ref() to keep it). */
ipc_crash_ring *ipc_proc_ring(ipc_proc *proc);
/* Records a message description for a crash report. Any thread. */
void ipc_proc_note_message(ipc_proc *proc, ipc_msg_dir dir, const char *desc);

/* Called once when the child has died and been reaped. `info` is borrowed for
 * the call; report_path is the crash report written ("" when none). The
 * callee may free `proc` inside the callback. */
typedef void (*ipc_proc_exit_cb)(void *ctx, ipc_proc *proc, const ipc_crash_info *info,
                                 const char *report_path);
/* Watches for the child's death on `loop` (a pidfd, EV_READ; SIGCHLD and
 * waitpid where pidfds are missing). On the loop's thread; one watch per
 * handle. 0, IPC_E_STATE (already watched or already reaped) or -errno. */
int ipc_proc_watch(ipc_proc *proc, ipc_loop *loop, ipc_proc_exit_cb cb, void *ctx);

/* Waits up to timeout_ms (-1: forever) for the child to die, reaps it and
 * fills *info (may be NULL). Also returns at once for a child already reaped.
 * Not while a watch is set (IPC_E_STATE). 0, IPC_E_TIMEOUT or -errno. */
int ipc_proc_wait(ipc_proc *proc, int timeout_ms, ipc_crash_info *info);
/* Sends `sig` unless the child was reaped (then -ESRCH). A death by a signal
 * the parent sent is not a crash: no report is written for it. */
int ipc_proc_kill(ipc_proc *proc, int sig);
/* 1 once the child has been reaped. */
int ipc_proc_reaped(const ipc_proc *proc);
/* The crash info and report path after the child was reaped, else NULL. */
const ipc_crash_info *ipc_proc_exit_info(const ipc_proc *proc, const char **report_path);

/* Frees the handle. A child still running is killed (SIGKILL) and reaped
 * first, so no handle ever leaves a zombie or an orphan. On the thread that
 * uses the handle (the loop's thread when watched). */
void ipc_proc_free(ipc_proc *proc);

/* ================= child side ================= */

/* What a child learnt from its command line. */
typedef struct ipc_child_info {
    pid_t parent_pid;
    char process_type[IPC_CRASH_TYPE_MAX];
    int channel_fd;            /* IPC_CHILD_CHANNEL_FD, or -1 when the parent gave none */
    ipc_prefs *prefs;          /* owned by the info; empty when none were passed */
    int fds[IPC_PROC_MAX_FDS]; /* where the parent's opts->fds[i] are (CLOEXEC set) */
    size_t nfds;
    int app_argc;     /* argv[0..app_argc) are the application's own args */
    void *crash_page; /* the crash-info page (stays mapped for life), or NULL */
    int exit_code;    /* after a failure: the IPC_CHILD_EXIT_* to _exit() with */
} ipc_child_info;

/* Parses, checks and applies libipc's arguments in a child, in this order:
 * the debug pause (IPC_DEBUG_CHILD_PROCESS=1 or IPC_DEBUG_CHILD_PAUSE=N: a
 * "CHILDCHILDCHILDCHILD ... debug me @ <pid>" line on stderr, then N seconds,
 * default 30), the build id, the channel and extra fds (set CLOEXEC), the
 * prefs (mapped, decoded, fd 4 closed), the crash-info page (mapped, fd 5
 * closed), then the sandbox of the process type. Call it first in main(),
 * before any thread starts. On success the channel fd (3) is the caller's to
 * build its client channel on, and info must be disposed. On failure info
 * owns nothing and the caller must _exit(info->exit_code) so the parent can
 * tell what failed. 0, IPC_E_PARAM (arguments), IPC_E_BUILD_ID, -EPERM or
 * IPC_E_* (prefs), -errno (crash page, sandbox). Main thread. */
int ipc_child_init(int argc, char **argv, ipc_child_info *info);
/* Frees what info owns (the prefs). The crash page stays mapped: the
 * sandbox's SIGSYS handler writes there until the process ends. */
void ipc_child_info_dispose(ipc_child_info *info);

/* The raw libipc arguments, parsed without side effects (for tests and
 * fuzzing). Strings point into argv. */
typedef struct ipc_child_args {
    int app_argc;
    pid_t parent_pid;
    const char *build_id;
    const char *process_type;
    int channel_fd; /* -1 when absent */
    int prefs_fd;   /* -1 when absent */
    size_t prefs_len;
    int crash_fd; /* -1 when absent */
    int fds[IPC_PROC_MAX_FDS];
    size_t nfds;
} ipc_child_args;
/* 0 or IPC_E_PARAM (missing marker, unknown or repeated key, bad value). */
int ipc_child_parse_args(int argc, char *const *argv, ipc_child_args *out);

#endif
