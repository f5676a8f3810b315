/* The seccomp sandbox of child processes: one allow-list per process type
 * ("content", "demo", "nuwa", "test"; "main" runs unsandboxed), installed with
 * libseccomp on every thread. A syscall outside the list raises SIGSYS; the
 * handler records the syscall in the crash-info page for the parent's crash
 * report and the process dies of SIGSYS. The lists are documented in
 * docs/process-model.md ("Sandbox"). */
#ifndef IPC_SANDBOX_H
#define IPC_SANDBOX_H

#include <stddef.h>
#include <sys/types.h>

/* 1 when libipc knows the process type (a policy or "main"), else 0. */
int ipc_sandbox_known(const char *process_type);
/* 1 when the type runs under a seccomp filter, 0 for "main" or unknown. */
int ipc_sandbox_enforced(const char *process_type);

/* Installs the SIGSYS reporter and the filter for `process_type` in the
 * calling process, on all of its threads (TSYNC), with no_new_privs.
 * Irreversible; a second call stacks another filter (never loosens).
 * `crash_page` (IPC_CRASHINFO_SIZE bytes shared with the parent, or NULL) is
 * where the SIGSYS handler records the refused syscall; it must stay mapped
 * for the life of the process. Takes no ownership. Call it from the main
 * thread. 0 (also for "main"), -EINVAL for an unknown type, or -errno from
 * libseccomp. */
int ipc_sandbox_apply(const char *process_type, void *crash_page);

/* A policy compiled to its seccomp BPF program ahead of time, so that a
 * process can install it later without libseccomp: the fork server compiles
 * the spare sandbox once and every process it forks loads it. The program is
 * exactly what ipc_sandbox_apply() would install in the calling process: the
 * rules that name the caller's pid are patched with it when it is applied. */
typedef struct ipc_sandbox_prog ipc_sandbox_prog;

/* Compiles the policy of `process_type`. *out is the caller's (free it with
 * ipc_sandbox_prog_free). 0, -EINVAL (unknown type, or "main": nothing to
 * apply), -EOPNOTSUPP (a build whose default action is SCMP_ACT_NOTIFY:
 * use ipc_sandbox_apply), or -errno from libseccomp. Any thread. */
int ipc_sandbox_prog_new(const char *process_type, ipc_sandbox_prog **out);

/* As ipc_sandbox_apply() with the precompiled policy: installs the SIGSYS
 * reporter (recording into `crash_page`, as there) and loads the program with
 * no_new_privs on all threads (TSYNC; without seccomp(2), as under valgrind,
 * with prctl() if the process has one thread). No libseccomp call, and no
 * allocation where seccomp(2) exists. Writes the caller's pid into `prog`,
 * which stays the caller's.
 * Call it from the main thread. 0, -EINVAL (prog NULL), -EOPNOTSUPP (no
 * seccomp(2) and more than one thread, or unknown), -EAGAIN (a thread could
 * not take the filter; nothing was loaded) or -errno. */
int ipc_sandbox_prog_apply(ipc_sandbox_prog *prog, void *crash_page);
/* The process type it was compiled for (owned by prog). */
const char *ipc_sandbox_prog_type(const ipc_sandbox_prog *prog);
void ipc_sandbox_prog_free(ipc_sandbox_prog *prog);

/* One rule of a policy, for documentation and the harness. */
typedef struct ipc_sandbox_rule {
    const char *syscall; /* "clone" */
    const char *action;  /* "allow", "allow if flags has CLONE_VM", "errno EACCES", ... */
} ipc_sandbox_rule;

/* Fills out[0..max) with the rules in force for `process_type` in this build
 * (sanitizer builds add what their runtime needs) and returns how many there
 * are (may exceed max). 0 for "main" and for unknown types. Anything not
 * listed is killed with SIGSYS. Any thread. */
size_t ipc_sandbox_rules(const char *process_type, ipc_sandbox_rule *out, size_t max);

#endif
