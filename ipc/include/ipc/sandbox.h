/* The seccomp sandbox of child processes: one allow-list per process type
 * ("content", "demo", "nuwa", "test"; "main" runs unsandboxed), installed with
 * libseccomp on every thread. A syscall outside the list raises SIGSYS; the
 * handler records the syscall in the crash-info page for the parent's crash
 * report and the process dies of SIGSYS. The lists are documented in
 * docs/process-model.md ("Sandbox"). */
#ifndef IPC_SANDBOX_H
#define IPC_SANDBOX_H

#include <stddef.h>

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
