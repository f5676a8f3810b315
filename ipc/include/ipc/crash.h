/* Crash reports for child processes that die abnormally: what the parent knows
 * about the death (pid, type, signal or exit status, the syscall the sandbox
 * refused), plus a ring of the last messages sent and received on the child's
 * channel. Also the crash-info page through which a sandboxed child tells its
 * parent which syscall killed it. Report format: docs/process-model.md. */
#ifndef IPC_CRASH_H
#define IPC_CRASH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- recent messages ---- */

/* Longest message description kept (bytes, excluding the NUL); longer ones
 * are cut. */
#define IPC_CRASH_DESC_MAX 200u
/* Default and largest ring sizes. */
#define IPC_CRASH_RING_DEFAULT 16u
#define IPC_CRASH_RING_MAX     1024u

typedef enum ipc_msg_dir { IPC_MSG_SENT = 0, IPC_MSG_RECEIVED = 1 } ipc_msg_dir;

/* A fixed-size ring of message descriptions ("PDemo::Msg_Foo route=3"), oldest
 * dropped first. Reference-counted so the channel layer that fills it and the
 * process handle that reports it may be freed in either order. Every function
 * may be called from any thread. */
typedef struct ipc_crash_ring ipc_crash_ring;

/* Creates a ring holding `cap` entries (0: IPC_CRASH_RING_DEFAULT) with one
 * reference. 0, -EINVAL (cap over IPC_CRASH_RING_MAX) or -ENOMEM. */
int ipc_crash_ring_new(ipc_crash_ring **out, size_t cap);
ipc_crash_ring *ipc_crash_ring_ref(ipc_crash_ring *ring);
/* Drops a reference; the last one frees the ring. NULL is a no-op. */
void ipc_crash_ring_unref(ipc_crash_ring *ring);
/* Records a description (copied; control characters become '?', cut at
 * IPC_CRASH_DESC_MAX). Never fails: without memory the entry is lost. */
void ipc_crash_ring_push(ipc_crash_ring *ring, ipc_msg_dir dir, const char *desc);
/* Number of entries held now (<= cap). */
size_t ipc_crash_ring_count(const ipc_crash_ring *ring);
/* Copies entry i (0 = oldest) into buf (NUL-terminated, cut to fit). 0 or
 * -ERANGE. */
int ipc_crash_ring_get(const ipc_crash_ring *ring, size_t i, ipc_msg_dir *dir, char *buf,
                       size_t buflen);

/* ---- what the parent learnt about a death ---- */

#define IPC_CRASH_TYPE_MAX    32u /* process type, with the NUL */
#define IPC_CRASH_SYSCALL_MAX 48u /* syscall name, with the NUL */

typedef struct ipc_crash_info {
    pid_t pid;
    pid_t parent_pid;
    char process_type[IPC_CRASH_TYPE_MAX];
    int64_t time;    /* seconds since the epoch when the death was seen */
    int exited;      /* 1: exited with exit_status; 0: killed by `signal` */
    int exit_status; /* 0-255 when exited */
    int signal;      /* when !exited */
    int core_dumped;
    /* A start-up failure the exit status stands for (IPC_E_BUILD_ID,
     * IPC_E_PARAM, IPC_E_EXEC; see IPC_CHILD_EXIT_* in proc.h), -errno when
     * the death was seen but its status could not be collected (-ECHILD:
     * SIGCHLD ignored, someone else reaped it), else 0. */
    int error;
    /* The syscall the sandbox refused (from the crash-info page), or -1. */
    int syscall_nr;
    char syscall_name[IPC_CRASH_SYSCALL_MAX]; /* "" when syscall_nr is -1 */
} ipc_crash_info;

/* Writes the report for `info` and the ring's messages (ring may be NULL)
 * into directory `dir` as "ipc-crash-<type>-<pid>.txt" ("-<n>" appended if
 * taken). The file appears complete or not at all (written aside, then
 * linked). On success, if path is not NULL, its name is copied there (cut to
 * pathlen). 0 or -errno. Any thread. */
int ipc_crash_report_write(const char *dir, const ipc_crash_info *info, const ipc_crash_ring *ring,
                           char *path, size_t pathlen);
/* The report text, as written to the file. On success the caller frees *text.
 * 0 or -ENOMEM. Any thread. */
int ipc_crash_report_format(const ipc_crash_info *info, const ipc_crash_ring *ring, char **text,
                            size_t *len);

/* A parsed report. */
typedef struct ipc_crash_report {
    ipc_crash_info info;
    size_t nmsgs;
    struct ipc_crash_report_msg {
        ipc_msg_dir dir;
        char desc[IPC_CRASH_DESC_MAX + 1];
    } * msgs;
} ipc_crash_report;

/* Parses report text (hostile input: every field checked, strict grammar);
 * `text` is borrowed and need not be NUL-terminated. On success the caller
 * frees with ipc_crash_report_dispose(); on failure nothing is owned. 0,
 * IPC_E_PARAM (bad grammar or value), IPC_E_BAD_SIZE (over a limit),
 * IPC_E_TRAILING or -ENOMEM. Any thread. */
int ipc_crash_report_parse(const char *text, size_t len, ipc_crash_report *out);
void ipc_crash_report_dispose(ipc_crash_report *report);

/* ---- names ---- */

/* "SIGSEGV" for 11; "SIG42" for a number without a name. Never NULL. */
const char *ipc_signal_name(int sig, char *buf, size_t buflen);
/* The syscall's name for the audit arch (AUDIT_ARCH_*, as in siginfo's
 * si_arch; 0: native), resolved with libseccomp, or "syscall_<nr>". Any
 * thread (not async-signal-safe). */
void ipc_syscall_name(int nr, uint32_t arch, char *buf, size_t buflen);

/* ---- the crash-info page (child -> parent) ---- */

/* Size of the shared page a child's SIGSYS handler writes into. */
#define IPC_CRASHINFO_SIZE 4096u

/* Records a refused syscall in `page`. Async-signal-safe: plain stores only. */
void ipc_crashinfo_record(void *page, int nr, uint32_t arch);
/* Reads what a (possibly hostile) child left in `page` (len bytes). 1 with
 * *nr and *arch when it recorded a syscall, 0 when not. */
int ipc_crashinfo_read(const void *page, size_t len, int *nr, uint32_t *arch);

#endif
