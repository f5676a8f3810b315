/* The per-process-type seccomp allow-lists and the SIGSYS reporter that names
 * a refused syscall to the parent (see sandbox.h). */
#include "ipc/sandbox.h"

#include "ipc/crash.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <pthread.h>
#include <seccomp.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Sanitizer runtimes make syscalls of their own (LeakSanitizer stops the
 * world with ptrace from a clone()d tracer and reads /proc/self/maps); a
 * sanitizer build allows those too, decided at compile time, never from the
 * environment. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define IPC_SANDBOX_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) ||                         \
    __has_feature(memory_sanitizer)
#define IPC_SANDBOX_SANITIZER 1
#endif
#endif
#ifndef IPC_SANDBOX_SANITIZER
#define IPC_SANDBOX_SANITIZER 0
#endif

/* What happens to a syscall outside the list. A debugging build may define
 * it as SCMP_ACT_NOTIFY to list what a runtime needs (docs/process-model.md). */
#ifndef IPC__SANDBOX_DEFAULT_ACTION
#define IPC__SANDBOX_DEFAULT_ACTION SCMP_ACT_TRAP
#endif

/* si_code of a seccomp SIGSYS (asm-generic/siginfo.h; glibc lacks it). */
#ifndef SYS_SECCOMP
#define SYS_SECCOMP 1
#endif

enum {
    T_CONTENT = 1,
    T_DEMO = 2,
    T_NUWA = 4,
    T_TEST = 8,
    T_ALL = T_CONTENT | T_DEMO | T_NUWA | T_TEST,
    T_SHM = T_CONTENT | T_NUWA | T_TEST, /* types that create shared memory */
};
enum { B_ANY, B_PLAIN, B_SAN }; /* the builds a rule is in */
enum { ACT_ALLOW, ACT_ERRNO };

struct cond {
    unsigned arg; /* 0: no condition; else argument index + 1 */
    uint64_t mask, value;
    int self; /* value is the caller's pid, known only when the filter is built */
};

struct rule {
    const char *name;
    unsigned types;
    unsigned build;
    int act;
    int err;
    struct cond c;
    const char *doc;
};

/* clang-format off */
#define LOW32 0xffffffffull
#define ALLOW(n, t) {n, t, B_ANY, ACT_ALLOW, 0, {0, 0, 0, 0}, "allow"}
#define ALLOW_IF(n, t, b, arg, mask, val, doc)                                                     \
    {n, t, b, ACT_ALLOW, 0, {(arg) + 1, mask, val, 0}, doc}
#define DENY(n, t, b, e, doc) {n, t, b, ACT_ERRNO, e, {0, 0, 0, 0}, doc}

static const struct rule rules[] = {
    /* memory */
    ALLOW("brk", T_ALL), ALLOW("mmap", T_ALL), ALLOW("munmap", T_ALL), ALLOW("mprotect", T_ALL),
    ALLOW("mremap", T_ALL), ALLOW("madvise", T_ALL),
    /* threads and synchronisation: clone only for threads (CLONE_VM), never
     * a fork, except in the fork server. clone3 takes its flags in memory
     * that a filter cannot read, so it reports ENOSYS and glibc falls back
     * to clone. */
    ALLOW("futex", T_ALL), ALLOW("set_robust_list", T_ALL), ALLOW("rseq", T_ALL),
    ALLOW("set_tid_address", T_ALL),
    ALLOW_IF("clone", T_CONTENT | T_DEMO | T_TEST, B_ANY, 0, CLONE_VM, CLONE_VM,
             "allow if flags has CLONE_VM (threads)"),
    ALLOW("clone", T_NUWA), DENY("clone3", T_ALL, B_ANY, ENOSYS, "errno ENOSYS"),
    ALLOW("sched_yield", T_ALL), ALLOW("sched_getaffinity", T_ALL), ALLOW("exit", T_ALL),
    ALLOW("exit_group", T_ALL),
    /* identity and signals (tgkill: raise, abort, the SIGSYS reporter) */
    ALLOW("getpid", T_ALL), ALLOW("gettid", T_ALL), ALLOW("getppid", T_ALL), ALLOW("getuid", T_ALL),
    ALLOW("geteuid", T_ALL), ALLOW("getgid", T_ALL), ALLOW("getegid", T_ALL),
    ALLOW("tgkill", T_ALL),
    {"kill", T_CONTENT | T_DEMO | T_TEST, B_ANY, ACT_ALLOW, 0, {1, LOW32, 0, 1},
     "allow if pid is the caller's own (raise; valgrind's default actions)"},
    ALLOW("rt_sigaction", T_ALL), ALLOW("rt_sigprocmask", T_ALL),
    ALLOW("rt_sigreturn", T_ALL), ALLOW("sigaltstack", T_ALL), ALLOW("restart_syscall", T_ALL),
    ALLOW("pause", T_ALL), ALLOW("rt_sigsuspend", T_ALL), ALLOW("rt_sigtimedwait", T_ALL),
    /* time */
    ALLOW("clock_gettime", T_ALL), ALLOW("clock_getres", T_ALL), ALLOW("gettimeofday", T_ALL),
    ALLOW("time", T_ALL), ALLOW("nanosleep", T_ALL), ALLOW("clock_nanosleep", T_ALL),
    ALLOW("getrandom", T_ALL),
    /* fds already open: I/O, flags, stat of an fd (glibc's fstat is
     * newfstatat with AT_EMPTY_PATH) */
    ALLOW("read", T_ALL), ALLOW("write", T_ALL), ALLOW("readv", T_ALL), ALLOW("writev", T_ALL),
    ALLOW("pread64", T_ALL), ALLOW("pwrite64", T_ALL), ALLOW("close", T_ALL), ALLOW("dup", T_ALL),
    ALLOW("dup2", T_ALL), ALLOW("dup3", T_ALL), ALLOW("fcntl", T_ALL), ALLOW("lseek", T_ALL),
    ALLOW("fstat", T_ALL),
    ALLOW_IF("newfstatat", T_ALL, B_ANY, 3, AT_EMPTY_PATH, AT_EMPTY_PATH,
             "allow if flags has AT_EMPTY_PATH (fstat)"),
    {"newfstatat", T_ALL, B_PLAIN, ACT_ERRNO, EACCES, {4, AT_EMPTY_PATH, 0, 0},
     "errno EACCES without AT_EMPTY_PATH (a path)"},
    ALLOW_IF("ioctl", T_ALL, B_ANY, 1, LOW32, TCGETS, "allow TCGETS (isatty)"),
    ALLOW_IF("ioctl", T_ALL, B_ANY, 1, LOW32, FIONREAD, "allow FIONREAD"),
    ALLOW_IF("ioctl", T_ALL, B_ANY, 1, LOW32, FIONBIO, "allow FIONBIO"),
    ALLOW_IF("prlimit64", T_ALL, B_PLAIN, 2, ~0ull, 0, "allow if new_limit is NULL (read)"),
    ALLOW("getrlimit", T_ALL),
    /* event loops (libevent: epoll, eventfd, pipes) */
    ALLOW("epoll_create", T_ALL), ALLOW("epoll_create1", T_ALL), ALLOW("epoll_ctl", T_ALL),
    ALLOW("epoll_wait", T_ALL), ALLOW("epoll_pwait", T_ALL), ALLOW("epoll_pwait2", T_ALL),
    ALLOW("poll", T_ALL), ALLOW("ppoll", T_ALL), ALLOW("select", T_ALL), ALLOW("pselect6", T_ALL),
    ALLOW("eventfd2", T_ALL), ALLOW("pipe", T_ALL), ALLOW("pipe2", T_ALL),
    /* channels: unix socket pairs only, messages with SCM_RIGHTS, SO_PEERCRED */
    ALLOW_IF("socketpair", T_ALL, B_ANY, 0, LOW32, AF_UNIX, "allow if domain is AF_UNIX"),
    ALLOW("sendmsg", T_ALL), ALLOW("recvmsg", T_ALL), ALLOW("sendto", T_ALL),
    ALLOW("recvfrom", T_ALL), ALLOW("shutdown", T_ALL), ALLOW("getsockopt", T_ALL),
    ALLOW("setsockopt", T_ALL),
    /* shared memory handed to other processes */
    ALLOW("memfd_create", T_SHM), ALLOW("ftruncate", T_SHM),
    /* thread names */
    ALLOW_IF("prctl", T_ALL, B_PLAIN, 0, LOW32, PR_SET_NAME, "allow PR_SET_NAME"),
    ALLOW_IF("prctl", T_ALL, B_PLAIN, 0, LOW32, PR_GET_NAME, "allow PR_GET_NAME"),
    /* the fork server forks, reaps, signals its children and stacks a
     * stricter filter onto each one */
    ALLOW("wait4", T_NUWA), ALLOW("waitid", T_NUWA), ALLOW("kill", T_NUWA),
    ALLOW("pidfd_open", T_NUWA), ALLOW("pidfd_send_signal", T_NUWA), ALLOW("seccomp", T_NUWA),
    ALLOW_IF("prctl", T_NUWA, B_PLAIN, 0, LOW32, PR_SET_PDEATHSIG, "allow PR_SET_PDEATHSIG"),
    ALLOW_IF("prctl", T_NUWA, B_PLAIN, 0, LOW32, PR_SET_NO_NEW_PRIVS, "allow PR_SET_NO_NEW_PRIVS"),
    ALLOW_IF("prctl", T_NUWA, B_PLAIN, 0, LOW32, PR_GET_SECCOMP, "allow PR_GET_SECCOMP"),
    /* Path-based calls fail politely (libraries probe files) in the plain
     * build; everything else is a crash. */
    DENY("open", T_ALL, B_PLAIN, EACCES, "errno EACCES"),
    DENY("openat", T_ALL, B_PLAIN, EACCES, "errno EACCES"),
    DENY("access", T_ALL, B_ANY, EACCES, "errno EACCES"),
    DENY("faccessat", T_ALL, B_ANY, EACCES, "errno EACCES"),
    DENY("faccessat2", T_ALL, B_ANY, EACCES, "errno EACCES"),
    DENY("stat", T_ALL, B_ANY, EACCES, "errno EACCES"),
    DENY("lstat", T_ALL, B_ANY, EACCES, "errno EACCES"),
    DENY("statx", T_ALL, B_ANY, EACCES, "errno EACCES"),
    DENY("readlink", T_ALL, B_PLAIN, EACCES, "errno EACCES"),
    DENY("readlinkat", T_ALL, B_PLAIN, EACCES, "errno EACCES"),
    /* Sanitizer builds only: LeakSanitizer at exit (a clone(CLONE_VM)
     * tracer that ptrace-attaches every thread and waits for it, reads
     * /proc/self/maps and /proc/self/task), symbolizing reports. */
    {"ptrace", T_ALL, B_SAN, ACT_ALLOW, 0, {0, 0, 0, 0}, "allow (sanitizer build)"},
    {"wait4", T_CONTENT | T_DEMO | T_TEST, B_SAN, ACT_ALLOW, 0, {0, 0, 0, 0}, "allow (sanitizer build)"},
    {"prctl", T_ALL, B_SAN, ACT_ALLOW, 0, {0, 0, 0, 0}, "allow (sanitizer build)"},
    {"prlimit64", T_ALL, B_SAN, ACT_ALLOW, 0, {0, 0, 0, 0}, "allow (sanitizer build)"},
    {"open", T_ALL, B_SAN, ACT_ALLOW, 0, {0, 0, 0, 0}, "allow (sanitizer build)"},
    {"openat", T_ALL, B_SAN, ACT_ALLOW, 0, {0, 0, 0, 0}, "allow (sanitizer build)"},
    {"readlink", T_ALL, B_SAN, ACT_ALLOW, 0, {0, 0, 0, 0}, "allow (sanitizer build)"},
    {"readlinkat", T_ALL, B_SAN, ACT_ALLOW, 0, {0, 0, 0, 0}, "allow (sanitizer build)"},
    {"getdents", T_ALL, B_SAN, ACT_ALLOW, 0, {0, 0, 0, 0}, "allow (sanitizer build)"},
    {"getdents64", T_ALL, B_SAN, ACT_ALLOW, 0, {0, 0, 0, 0}, "allow (sanitizer build)"},
    {"newfstatat", T_ALL, B_SAN, ACT_ALLOW, 0, {4, AT_EMPTY_PATH, 0, 0},
     "allow without AT_EMPTY_PATH (sanitizer build)"},
};
/* clang-format on */

static const struct {
    const char *name;
    unsigned mask; /* 0: runs unsandboxed */
} types[] = {
    {"content", T_CONTENT}, {"demo", T_DEMO}, {"nuwa", T_NUWA}, {"test", T_TEST}, {"main", 0},
};

static int type_mask(const char *type, unsigned *mask)
{
    for (size_t i = 0; type && i < sizeof types / sizeof types[0]; i++) {
        if (strcmp(types[i].name, type) == 0) {
            *mask = types[i].mask;
            return 1;
        }
    }
    return 0;
}

static int rule_applies(const struct rule *r, unsigned mask)
{
    if (!(r->types & mask))
        return 0;
    if (r->build == B_ANY)
        return 1;
    return r->build == (IPC_SANDBOX_SANITIZER ? B_SAN : B_PLAIN);
}

int ipc_sandbox_known(const char *process_type)
{
    unsigned mask;
    return type_mask(process_type, &mask);
}

int ipc_sandbox_enforced(const char *process_type)
{
    unsigned mask;
    return type_mask(process_type, &mask) && mask != 0;
}

size_t ipc_sandbox_rules(const char *process_type, ipc_sandbox_rule *out, size_t max)
{
    unsigned mask;
    size_t n = 0;
    if (!type_mask(process_type, &mask) || mask == 0)
        return 0;
    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++) {
        if (!rule_applies(&rules[i], mask))
            continue;
        if (n < max) {
            out[n].syscall = rules[i].name;
            out[n].action = rules[i].doc;
        }
        n++;
    }
    return n;
}

/* ---- the SIGSYS reporter (async-signal-safe from here to the handler's
 * end) ---- */

static void *crash_page;
static char sandbox_type[32];

static size_t put_str(char *buf, size_t at, size_t cap, const char *s)
{
    while (*s && at < cap)
        buf[at++] = *s++;
    return at;
}

static size_t put_int(char *buf, size_t at, size_t cap, long v)
{
    char tmp[24];
    size_t n = 0;
    unsigned long u = v < 0 ? 0ul - (unsigned long)v : (unsigned long)v;
    do
        tmp[n++] = (char)('0' + u % 10);
    while ((u /= 10) && n < sizeof tmp);
    if (v < 0 && at < cap)
        buf[at++] = '-';
    while (n && at < cap)
        buf[at++] = tmp[--n];
    return at;
}

static void on_sigsys(int sig, siginfo_t *si, void *uctx)
{
    (void)uctx;
    int saved = errno;
    int nr = si->si_code == SYS_SECCOMP ? si->si_syscall : -1;
    if (nr >= 0)
        ipc_crashinfo_record(crash_page, nr, si->si_arch);
    char line[160];
    size_t n = put_str(line, 0, sizeof line, "ipc sandbox: ");
    n = put_str(line, n, sizeof line, sandbox_type);
    n = put_str(line, n, sizeof line, " process ");
    n = put_int(line, n, sizeof line, (long)getpid());
    n = put_str(line, n, sizeof line, " made forbidden syscall ");
    n = put_int(line, n, sizeof line, nr);
    n = put_str(line, n, sizeof line, "\n");
    ssize_t w = write(STDERR_FILENO, line, n);
    (void)w;
    /* Die of SIGSYS, so the parent sees the signal: default action, raise it
     * while it is still blocked in this handler, then unblock. */
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigaction(sig, &dfl, NULL);
    syscall(SYS_tgkill, getpid(), gettid(), sig);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    errno = saved;
    syscall(SYS_exit_group, 128 + sig); /* not reached: SIGSYS killed us */
}

/* Threads in this process, from /proc/self/task; -1 when unknown. */
static int count_threads(void)
{
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

static int add_rule(scmp_filter_ctx ctx, const struct rule *r)
{
    int nr = seccomp_syscall_resolve_name(r->name);
    if (nr < 0)
        return 0; /* no such syscall on this architecture */
    uint32_t act = r->act == ACT_ALLOW ? SCMP_ACT_ALLOW : SCMP_ACT_ERRNO((uint32_t)r->err);
    if (!r->c.arg)
        return seccomp_rule_add(ctx, act, nr, 0);
    uint64_t value = r->c.self ? (uint64_t)(uint32_t)getpid() : r->c.value;
    struct scmp_arg_cmp cmp = {r->c.arg - 1, SCMP_CMP_MASKED_EQ, r->c.mask, value};
    return seccomp_rule_add_array(ctx, act, nr, 1, &cmp);
}

static int install_reporter(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigsys;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGSYS, &sa, NULL) < 0)
        return -errno;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGSYS);
    return pthread_sigmask(SIG_UNBLOCK, &set, NULL) == 0 ? 0 : -EINVAL;
}

int ipc_sandbox_apply(const char *process_type, void *page)
{
    unsigned mask;
    int rc;
    if (!type_mask(process_type, &mask))
        return -EINVAL;
    if (mask == 0)
        return 0;
    scmp_filter_ctx ctx = seccomp_init(IPC__SANDBOX_DEFAULT_ACTION);
    if (!ctx)
        return -ENOMEM;
    /* TSYNC needs the seccomp(2) syscall (libseccomp API level 2). Where it
     * is missing (valgrind implements only prctl), a single-threaded
     * process loses nothing without it; a threaded one must not go on with
     * threads left unfiltered. */
    if (seccomp_api_get() >= 2)
        rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
    else
        rc = count_threads() == 1 ? 0 : -EOPNOTSUPP;
    /* Another architecture's syscall numbers (int 0x80 on x86-64) would slip
     * past the names: kill the whole process, not just the thread. */
    if (rc == 0 && seccomp_api_get() >= 3)
        rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
    if (rc < 0)
        goto fail;
    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++)
        if (rule_applies(&rules[i], mask) && (rc = add_rule(ctx, &rules[i])) < 0)
            goto fail;
    crash_page = page;
    memset(sandbox_type, 0, sizeof sandbox_type);
    strncpy(sandbox_type, process_type, sizeof sandbox_type - 1);
    if ((rc = install_reporter()) < 0)
        goto fail;
    rc = seccomp_load(ctx);
fail:
    seccomp_release(ctx);
    return rc;
}
