/* The per-process-type seccomp allow-lists and the SIGSYS reporter that names
 * a refused syscall to the parent (see sandbox.h). */
#include "ipc/sandbox.h"

#include "ipc/crash.h"
#include "sandbox_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
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

static int add_rule(scmp_filter_ctx ctx, const struct rule *r, uint32_t self)
{
    int nr = seccomp_syscall_resolve_name(r->name);
    if (nr < 0)
        return 0; /* no such syscall on this architecture */
    uint32_t act = r->act == ACT_ALLOW ? SCMP_ACT_ALLOW : SCMP_ACT_ERRNO((uint32_t)r->err);
    if (!r->c.arg)
        return seccomp_rule_add(ctx, act, nr, 0);
    uint64_t value = r->c.self ? (uint64_t)self : r->c.value;
    struct scmp_arg_cmp cmp = {r->c.arg - 1, SCMP_CMP_MASKED_EQ, r->c.mask, value};
    return seccomp_rule_add_array(ctx, act, nr, 1, &cmp);
}

/* The policy of `mask` as a libseccomp context; `self` stands for the
 * caller's pid in the rules that name it. */
static int build_ctx(unsigned mask, uint32_t self, scmp_filter_ctx *out)
{
    int rc = 0;
    scmp_filter_ctx ctx = seccomp_init(IPC__SANDBOX_DEFAULT_ACTION);
    if (!ctx)
        return -ENOMEM;
    /* Another architecture's syscall numbers (int 0x80 on x86-64) would slip
     * past the names: kill the whole process, not just the thread. */
    if (seccomp_api_get() >= 3)
        rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
    for (size_t i = 0; rc == 0 && i < sizeof rules / sizeof rules[0]; i++)
        if (rule_applies(&rules[i], mask))
            rc = add_rule(ctx, &rules[i], self);
    if (rc < 0) {
        seccomp_release(ctx);
        return rc;
    }
    *out = ctx;
    return 0;
}

/* The BPF program libseccomp makes of the policy (seccomp_export_bpf
 * writes it to an fd; 2.5 has no in-memory export). *out is malloc()ed. */
static int compile(unsigned mask, uint32_t self, struct sock_filter **out, size_t *len)
{
    scmp_filter_ctx ctx = NULL;
    struct sock_filter *insns = NULL;
    int fd = -1;
    int rc = build_ctx(mask, self, &ctx);
    if (rc)
        goto fail;
    if ((fd = memfd_create("ipc-sandbox-bpf", MFD_CLOEXEC)) < 0) {
        rc = -errno;
        goto fail;
    }
    if ((rc = seccomp_export_bpf(ctx, fd)) < 0)
        goto fail;
    off_t size = lseek(fd, 0, SEEK_END);
    rc = -EPROTO;
    if (size <= 0 || size % (off_t)sizeof *insns || size > (off_t)(BPF_MAXINSNS * sizeof *insns))
        goto fail;
    rc = -ENOMEM;
    if (!(insns = malloc((size_t)size)))
        goto fail;
    size_t got = 0;
    while (got < (size_t)size) {
        ssize_t n = pread(fd, (char *)insns + got, (size_t)size - got, (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = n < 0 ? -errno : -EPROTO;
            goto fail;
        }
        got += (size_t)n;
    }
    *out = insns;
    *len = (size_t)size / sizeof *insns;
    insns = NULL;
    rc = 0;
fail:
    free(insns);
    if (fd >= 0)
        close(fd);
    if (ctx)
        seccomp_release(ctx);
    return rc;
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

/* Loads a program on every thread of the process (TSYNC), with
 * no_new_privs, as libseccomp's seccomp_load does, without allocating. Where
 * seccomp(2) is missing (valgrind implements only prctl), a single-threaded
 * process loses nothing without TSYNC; a threaded one must not go on with
 * threads left unfiltered. */
static int load(const struct sock_filter *insns, size_t len)
{
    struct sock_fprog fp = {(unsigned short)len, (struct sock_filter *)insns};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return -errno;
    long r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &fp);
    if (r > 0)
        return -EAGAIN; /* thread r could not be synchronised: nothing was loaded */
    if (r == 0)
        return 0;
    if (errno != ENOSYS)
        return -errno;
    if (count_threads() != 1)
        return -EOPNOTSUPP;
    return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fp, 0, 0) < 0 ? -errno : 0;
}

static void set_reporter_info(const char *process_type, void *page)
{
    crash_page = page;
    size_t n = strnlen(process_type, sizeof sandbox_type - 1);
    memcpy(sandbox_type, process_type, n);
    sandbox_type[n] = '\0';
}

#if IPC__SANDBOX_DEFAULT_ACTION == SCMP_ACT_NOTIFY
/* A listing build (docs/process-model.md, "Sanitizer builds"): libseccomp
 * loads the filter and keeps the notification fd; no precompiled programs. */
#define IPC__SANDBOX_LIBSECCOMP_LOAD 1
#else
#define IPC__SANDBOX_LIBSECCOMP_LOAD 0
#endif

int ipc_sandbox_apply(const char *process_type, void *page)
{
    unsigned mask;
    int rc;
    if (!type_mask(process_type, &mask))
        return -EINVAL;
    if (mask == 0)
        return 0;
#if IPC__SANDBOX_LIBSECCOMP_LOAD
    scmp_filter_ctx ctx = NULL;
    if ((rc = build_ctx(mask, (uint32_t)getpid(), &ctx)) < 0)
        return rc;
    if (seccomp_api_get() >= 2)
        rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
    else
        rc = count_threads() == 1 ? 0 : -EOPNOTSUPP;
    set_reporter_info(process_type, page);
    if (rc == 0)
        rc = install_reporter();
    if (rc == 0)
        rc = seccomp_load(ctx);
    seccomp_release(ctx);
    return rc;
#else
    struct sock_filter *insns = NULL;
    size_t len = 0;
    if ((rc = compile(mask, (uint32_t)getpid(), &insns, &len)) < 0)
        return rc;
    set_reporter_info(process_type, page);
    rc = install_reporter();
    if (rc == 0)
        rc = load(insns, len);
    free(insns);
    return rc;
#endif
}

/* ---- programs compiled ahead of time ---- */

/* Two stand-ins for the caller's pid (above any pid_max): compiling with
 * each and comparing the programs finds the instructions that hold it. */
#define PID_STANDIN_A 0x7ffffff1u
#define PID_STANDIN_B 0x7ffffff2u
#define MAX_PID_SLOTS 8

struct ipc_sandbox_prog {
    char type[32];
    struct sock_filter *insns;
    size_t len;
    size_t pid_at[MAX_PID_SLOTS]; /* instructions whose k is the caller's pid */
    size_t npid;
};

/* Only a jump comparing the accumulator with a constant may differ between
 * the two compilations, and only by the stand-in. */
static int find_pid_slots(ipc_sandbox_prog *p, const struct sock_filter *b, size_t blen)
{
    if (blen != p->len)
        return -EPROTO;
    for (size_t i = 0; i < p->len; i++) {
        const struct sock_filter *a = &p->insns[i];
        if (memcmp(a, &b[i], sizeof *a) == 0)
            continue;
        if (a->code != b[i].code || a->jt != b[i].jt || a->jf != b[i].jf ||
            a->code != (BPF_JMP | BPF_JEQ | BPF_K) || a->k != PID_STANDIN_A ||
            b[i].k != PID_STANDIN_B || p->npid == MAX_PID_SLOTS)
            return -EPROTO;
        p->pid_at[p->npid++] = i;
    }
    return 0;
}

int ipc_sandbox_prog_new(const char *process_type, ipc_sandbox_prog **out)
{
    unsigned mask;
    struct sock_filter *other = NULL;
    size_t other_len = 0;
    ipc_sandbox_prog *p = NULL;
    int rc = -EINVAL;
    *out = NULL;
    if (!type_mask(process_type, &mask) || mask == 0 || strlen(process_type) >= sizeof p->type)
        goto fail;
    rc = -EOPNOTSUPP;
    if (IPC__SANDBOX_LIBSECCOMP_LOAD)
        goto fail;
    rc = -ENOMEM;
    if (!(p = calloc(1, sizeof *p)))
        goto fail;
    snprintf(p->type, sizeof p->type, "%s", process_type);
    if ((rc = compile(mask, PID_STANDIN_A, &p->insns, &p->len)) < 0 ||
        (rc = compile(mask, PID_STANDIN_B, &other, &other_len)) < 0 ||
        (rc = find_pid_slots(p, other, other_len)) < 0)
        goto fail;
    free(other);
    *out = p;
    return 0;
fail:
    free(other);
    ipc_sandbox_prog_free(p);
    return rc;
}

/* The program for the caller `pid`, in place. */
static void patch_pid(ipc_sandbox_prog *p, uint32_t pid)
{
    for (size_t i = 0; i < p->npid; i++)
        p->insns[p->pid_at[i]].k = pid;
}

int ipc_sandbox_prog_apply(ipc_sandbox_prog *p, void *page)
{
    if (!p)
        return -EINVAL;
    patch_pid(p, (uint32_t)getpid());
    set_reporter_info(p->type, page);
    int rc = install_reporter();
    return rc ? rc : load(p->insns, p->len);
}

const char *ipc_sandbox_prog_type(const ipc_sandbox_prog *p)
{
    return p->type;
}

void ipc_sandbox_prog_free(ipc_sandbox_prog *p)
{
    if (!p)
        return;
    free(p->insns);
    free(p);
}

/* ---- for the tests (sandbox_internal.h) ---- */

int ipc__sandbox_bpf_for_pid(const char *process_type, pid_t pid, void **out, size_t *len)
{
    unsigned mask;
    *out = NULL;
    *len = 0;
    if (!type_mask(process_type, &mask) || mask == 0)
        return -EINVAL;
    struct sock_filter *insns = NULL;
    size_t n = 0;
    int rc = compile(mask, (uint32_t)pid, &insns, &n);
    if (rc == 0) {
        *out = insns;
        *len = n * sizeof *insns;
    }
    return rc;
}

int ipc__sandbox_prog_bpf(ipc_sandbox_prog *p, pid_t pid, void **out, size_t *len)
{
    *out = NULL;
    *len = p->len * sizeof *p->insns;
    patch_pid(p, (uint32_t)pid);
    if (!(*out = malloc(*len)))
        return -ENOMEM;
    memcpy(*out, p->insns, *len);
    return 0;
}

size_t ipc__sandbox_prog_pid_slots(const ipc_sandbox_prog *p)
{
    return p->npid;
}
