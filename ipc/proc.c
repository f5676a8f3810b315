/* Launching a child (fork+exec, fd 3, superfluous fds closed, exec errors back
 * through a CLOEXEC pipe, parent-death signal) and reaping it (exit status,
 * crash-info page, crash report). The loop-driven parts are in proc_watch.c. */
#include "proc_internal.h"

#include "ipc/errors.h"
#include "ipc/sandbox.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

int ipc__proc_test_fd_fallback;
int ipc__proc_test_no_pidfd;

#ifndef IPC_BUILD_ID
#define IPC_BUILD_ID "libipc-0.1.0+" __DATE__ "T" __TIME__
#endif

const char *ipc_build_id(void)
{
    return IPC_BUILD_ID;
}

void ipc_proc_opts_init(ipc_proc_opts *opts)
{
    memset(opts, 0, sizeof *opts);
    opts->channel_fd = -1;
}

/* ---- the launch plan: everything the child needs, allocated before fork
 * because only async-signal-safe calls may run between fork and exec ---- */

#define PLAN_MAX_MAPS (IPC_PROC_MAX_FDS + 3)
#define MAX_ARGS      256

enum exec_step { STEP_FDS = 1, STEP_PDEATHSIG = 2, STEP_EXECVE = 3 };

struct plan {
    const char *path;
    char **argv; /* NULL-terminated; [app_argc..] are ours, allocated */
    int app_argc;
    char *const *envp;
    int src[PLAN_MAX_MAPS], dst[PLAN_MAX_MAPS];
    size_t nmaps;
    pid_t parent_pid;
    int pipe_w;
    int fd_fallback;
};

static void plan_dispose(struct plan *p)
{
    if (p->argv)
        for (char **a = p->argv + p->app_argc; *a; a++)
            free(*a);
    free(p->argv);
    p->argv = NULL;
}

static int fd_open(int fd)
{
    return fd >= 0 && fcntl(fd, F_GETFD) >= 0;
}

static int dst_taken(const struct plan *p, int fd)
{
    for (size_t i = 0; i < p->nmaps; i++)
        if (p->dst[i] == fd)
            return 1;
    return 0;
}

static int reserved(int fd)
{
    return fd == IPC_CHILD_CHANNEL_FD || fd == IPC_CHILD_PREFS_FD || fd == IPC_CHILD_CRASHINFO_FD;
}

static void add_map(struct plan *p, int src, int dst)
{
    p->src[p->nmaps] = src;
    p->dst[p->nmaps] = dst;
    p->nmaps++;
}

/* Decides where each of opts->fds lands (see ipc_proc_fd): explicit places
 * first, then fds that keep their own number, then the displaced ones. */
static int plan_fds(struct plan *p, const ipc_proc_opts *o, int *child_fds)
{
    for (size_t i = 0; i < o->nfds; i++) {
        int want = o->fds[i].child_fd;
        child_fds[i] = -1;
        if (!fd_open(o->fds[i].fd))
            return -EBADF;
        if (want < -1 || reserved(want) || (want >= 0 && dst_taken(p, want)))
            return -EINVAL;
        if (want >= 0) {
            add_map(p, o->fds[i].fd, want);
            child_fds[i] = want;
        }
    }
    for (size_t i = 0; i < o->nfds; i++) {
        int own = o->fds[i].fd;
        if (o->fds[i].child_fd == -1 && !reserved(own) && !dst_taken(p, own)) {
            add_map(p, own, own);
            child_fds[i] = own;
        }
    }
    for (size_t i = 0; i < o->nfds; i++) {
        if (child_fds[i] >= 0)
            continue;
        int n = IPC_CHILD_FIRST_FREE_FD;
        while (dst_taken(p, n))
            n++;
        add_map(p, o->fds[i].fd, n);
        child_fds[i] = n;
    }
    return 0;
}

static int push_arg(struct plan *p, int *argc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int push_arg(struct plan *p, int *argc, const char *fmt, ...)
{
    if (*argc >= MAX_ARGS - 1)
        return -E2BIG;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&p->argv[*argc], fmt, ap);
    va_end(ap);
    if (n < 0) {
        p->argv[*argc] = NULL;
        return -ENOMEM;
    }
    p->argv[++*argc] = NULL;
    return 0;
}

static int fds_arg(struct plan *p, int *argc, const int *child_fds, size_t n)
{
    char buf[IPC_PROC_MAX_FDS * 12 + 1];
    size_t at = 0;
    for (size_t i = 0; i < n; i++)
        at += (size_t)snprintf(buf + at, sizeof buf - at, "%s%d", i ? "," : "", child_fds[i]);
    return push_arg(p, argc, "%s", buf);
}

static int plan_args(struct plan *p, const ipc_proc_opts *o, const int *child_fds, size_t prefs_len)
{
    int argc = 0, rc = 0;
    while (o->argv && o->argv[argc])
        if (++argc >= MAX_ARGS - 32) /* room for ours */
            return -E2BIG;
    p->argv = calloc(MAX_ARGS, sizeof *p->argv);
    if (!p->argv)
        return -ENOMEM;
    if (o->argv)
        memcpy(p->argv, o->argv, (size_t)argc * sizeof *p->argv);
    else
        p->argv[argc++] = (char *)o->path;
    p->app_argc = argc;
    const char *id = o->build_id ? o->build_id : ipc_build_id();
    if ((rc = push_arg(p, &argc, "-ipcChild")) < 0 || (rc = push_arg(p, &argc, "-parentPid")) < 0 ||
        (rc = push_arg(p, &argc, "%d", (int)p->parent_pid)) < 0 ||
        (rc = push_arg(p, &argc, "-parentBuildId")) < 0 ||
        (rc = push_arg(p, &argc, "%s", id)) < 0 || (rc = push_arg(p, &argc, "-processType")) < 0 ||
        (rc = push_arg(p, &argc, "%s", o->process_type)) < 0 ||
        (rc = push_arg(p, &argc, "-crashInfoHandle")) < 0 ||
        (rc = push_arg(p, &argc, "%d", IPC_CHILD_CRASHINFO_FD)) < 0)
        return rc;
    if (o->channel_fd >= 0 && ((rc = push_arg(p, &argc, "-channelFd")) < 0 ||
                               (rc = push_arg(p, &argc, "%d", IPC_CHILD_CHANNEL_FD)) < 0))
        return rc;
    if (o->prefs && ((rc = push_arg(p, &argc, "-prefsHandle")) < 0 ||
                     (rc = push_arg(p, &argc, "%d", IPC_CHILD_PREFS_FD)) < 0 ||
                     (rc = push_arg(p, &argc, "-prefsLen")) < 0 ||
                     (rc = push_arg(p, &argc, "%zu", prefs_len)) < 0))
        return rc;
    if (o->nfds &&
        ((rc = push_arg(p, &argc, "-fds")) < 0 || (rc = fds_arg(p, &argc, child_fds, o->nfds)) < 0))
        return rc;
    return 0;
}

/* ---- in the child, between fork and exec: async-signal-safe only, raw
 * syscalls where a sanitizer might intercept the libc wrapper ---- */

static __attribute__((noreturn)) void report_and_exit(int pipe_w, int step, int err)
{
    uint8_t rec[8];
    for (int i = 0; i < 4; i++) {
        rec[i] = (uint8_t)((unsigned)step >> (8 * i));
        rec[4 + i] = (uint8_t)((unsigned)err >> (8 * i));
    }
    ssize_t w;
    do
        w = write(pipe_w, rec, sizeof rec);
    while (w < 0 && errno == EINTR);
    _exit(IPC_CHILD_EXIT_EXEC);
}

/* Moves every src to its dst (Chromium's ShuffleFileDescriptors): before an
 * fd is overwritten, a later mapping that still needs it gets a copy above
 * every destination. dup2 leaves the destination without FD_CLOEXEC. */
static int shuffle_fds(int *src, const int *dst, size_t n, int lowest_safe)
{
    for (size_t i = 0; i < n; i++) {
        if (src[i] == dst[i]) {
            if (syscall(SYS_fcntl, src[i], F_SETFD, 0) < 0)
                return -errno;
            continue;
        }
        int tmp = -1;
        for (size_t j = i + 1; j < n; j++) {
            if (src[j] != dst[i])
                continue;
            if (tmp < 0 &&
                (tmp = (int)syscall(SYS_fcntl, src[j], F_DUPFD_CLOEXEC, lowest_safe)) < 0)
                return -errno;
            src[j] = tmp;
        }
        if (syscall(SYS_dup3, src[i], dst[i], 0) < 0)
            return -errno;
    }
    return 0;
}

static int is_kept(const int *keep, size_t nkeep, int fd)
{
    for (size_t i = 0; i < nkeep; i++)
        if (keep[i] == fd)
            return 1;
    return 0;
}

static int close_brute(const int *keep, size_t nkeep)
{
    struct rlimit rl;
    unsigned long max = 65536;
    if (syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, NULL, &rl) == 0 && rl.rlim_cur < max)
        max = rl.rlim_cur;
    for (unsigned long fd = 3; fd < max; fd++)
        if (!is_kept(keep, nkeep, (int)fd))
            syscall(SYS_close, (int)fd);
    return 0;
}

/* getdents64's record: u64 ino, s64 off, u16 reclen, u8 type, name. */
static int close_by_proc(const int *keep, size_t nkeep)
{
    int dir =
        (int)syscall(SYS_openat, AT_FDCWD, "/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0)
        return close_brute(keep, nkeep);
    char buf[4096] __attribute__((aligned(8)));
    long n;
    while ((n = syscall(SYS_getdents64, dir, buf, sizeof buf)) > 0) {
        for (long off = 0; off < n;) {
            unsigned short reclen;
            memcpy(&reclen, buf + off + 16, sizeof reclen);
            const char *name = buf + off + 19;
            int fd = 0, ok = name[0] != '\0';
            for (const char *c = name; *c; c++) {
                if (*c < '0' || *c > '9' || fd > 100000000) {
                    ok = 0;
                    break;
                }
                fd = fd * 10 + (*c - '0');
            }
            if (ok && fd > 2 && fd != dir && !is_kept(keep, nkeep, fd))
                syscall(SYS_close, fd);
            off += reclen;
        }
    }
    syscall(SYS_close, dir);
    return n < 0 ? close_brute(keep, nkeep) : 0;
}

/* Chromium's CloseSuperfluousFds: everything but 0-2 and `keep` (sorted). */
static int close_superfluous(const int *keep, size_t nkeep, int fallback)
{
    if (fallback == 1)
        return close_by_proc(keep, nkeep);
    if (fallback == 2)
        return close_brute(keep, nkeep);
    unsigned lo = 3;
    for (size_t i = 0; i <= nkeep; i++) {
        unsigned hi = i < nkeep ? (unsigned)keep[i] : ~0u;
        if (i < nkeep && (unsigned)keep[i] < lo) {
            if ((unsigned)keep[i] + 1 > lo)
                lo = (unsigned)keep[i] + 1;
            continue;
        }
        if (hi > lo && syscall(SYS_close_range, lo, hi - 1, 0) < 0) {
            if (errno == ENOSYS || errno == EINVAL)
                return close_by_proc(keep, nkeep);
            return -errno;
        }
        lo = hi == ~0u ? hi : hi + 1;
    }
    return 0;
}

static void sort_ints(int *v, size_t n)
{
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && v[j - 1] > v[j]; j--) {
            int t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
}

static void reset_signals(void)
{
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            sigaction(sig, &dfl, NULL); /* fails harmlessly for glibc's internal signals */
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

static __attribute__((noreturn)) void child_after_fork(struct plan *p)
{
    reset_signals();
    if (syscall(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
        report_and_exit(p->pipe_w, STEP_PDEATHSIG, errno);
    /* The parent may have died before PDEATHSIG was armed: we would be an
     * orphan nobody waits for. */
    if (getppid() != p->parent_pid)
        _exit(IPC_CHILD_EXIT_EXEC);
    int lowest_safe = IPC_CHILD_FIRST_FREE_FD;
    for (size_t i = 0; i < p->nmaps; i++)
        if (p->dst[i] >= lowest_safe)
            lowest_safe = p->dst[i] + 1;
    /* The error pipe must survive the shuffle (it may sit on 3): move it above
     * every destination first. It stays CLOEXEC, so exec closes it. */
    int w = (int)syscall(SYS_fcntl, p->pipe_w, F_DUPFD_CLOEXEC, lowest_safe);
    if (w < 0)
        report_and_exit(p->pipe_w, STEP_FDS, errno);
    p->pipe_w = w;
    int rc = shuffle_fds(p->src, p->dst, p->nmaps, w + 1);
    if (rc < 0)
        report_and_exit(w, STEP_FDS, -rc);
    int keep[PLAN_MAX_MAPS + 1];
    size_t nkeep = 0;
    for (size_t i = 0; i < p->nmaps; i++)
        keep[nkeep++] = p->dst[i];
    keep[nkeep++] = w;
    sort_ints(keep, nkeep);
    if ((rc = close_superfluous(keep, nkeep, p->fd_fallback)) < 0)
        report_and_exit(w, STEP_FDS, -rc);
    syscall(SYS_execve, p->path, p->argv, p->envp);
    report_and_exit(w, STEP_EXECVE, errno);
}

/* ---- the parent's side of the launch ---- */

static int check_opts(const ipc_proc_opts *o)
{
    if (!o->path || !o->process_type || !ipc_sandbox_known(o->process_type))
        return -EINVAL;
    if (strlen(o->process_type) >= IPC_CRASH_TYPE_MAX || o->nfds > IPC_PROC_MAX_FDS ||
        (o->nfds && !o->fds))
        return -EINVAL;
    if (o->channel_fd >= 0 && !fd_open(o->channel_fd))
        return -EBADF;
    return 0;
}

static int make_crash_page(ipc_proc *proc, int *fd_out)
{
    int fd = memfd_create("ipc-crashinfo", MFD_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (ftruncate(fd, IPC_CRASHINFO_SIZE) < 0)
        goto fail;
    void *page = mmap(NULL, IPC_CRASHINFO_SIZE, PROT_READ, MAP_SHARED, fd, 0);
    if (page == MAP_FAILED)
        goto fail;
    proc->crash_page = page;
    *fd_out = fd;
    return 0;
fail:;
    int rc = -errno;
    close(fd);
    return rc;
}

static int proc_new(const ipc_proc_opts *o, ipc_proc **out)
{
    ipc_proc *proc = calloc(1, sizeof *proc);
    if (!proc)
        return -ENOMEM;
    proc->pidfd = -1;
    proc->exec_pipe = -1;
    proc->parent_pid = getpid();
    snprintf(proc->type, sizeof proc->type, "%s", o->process_type);
    proc->nfds = o->nfds;
    const char *dir = o->crash_dir ? o->crash_dir : getenv("IPC_CRASH_DIR");
    int rc = 0;
    if (dir && *dir && !(proc->crash_dir = strdup(dir)))
        rc = -ENOMEM;
    if (rc == 0 && o->ring)
        proc->ring = ipc_crash_ring_ref(o->ring);
    else if (rc == 0)
        rc = ipc_crash_ring_new(&proc->ring, 0);
    if (rc < 0) {
        ipc_proc_free(proc);
        return rc;
    }
    *out = proc;
    return 0;
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static int open_pidfd(pid_t pid)
{
    if (ipc__proc_test_no_pidfd)
        return -1;
    int fd = (int)syscall(SYS_pidfd_open, pid, 0); /* always O_CLOEXEC */
    return fd >= 0 ? fd : -1;
}

/* Forks with every signal blocked, so no handler of ours runs in the child
 * before it has reset them. */
static int do_fork(ipc_proc *proc, struct plan *p)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pid_t pid = fork();
    if (pid == 0)
        child_after_fork(p);
    int err = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (pid < 0)
        return -err;
    proc->pid = pid;
    proc->pidfd = open_pidfd(pid);
    return 0;
}

int ipc__proc_spawn(const ipc_proc_opts *o, ipc_proc **out)
{
    struct plan p = {0};
    ipc_proc *proc = NULL;
    int chan = o->channel_fd, prefs_fd = -1, crash_fd = -1, pipefd[2] = {-1, -1};
    size_t prefs_len = 0;
    int rc = check_opts(o);
    if (rc < 0)
        goto fail;
    if ((rc = proc_new(o, &proc)) < 0)
        goto fail;
    p.path = o->path;
    p.envp = o->envp ? (char *const *)o->envp : environ;
    p.parent_pid = proc->parent_pid;
    p.fd_fallback = ipc__proc_test_fd_fallback;
    if (o->prefs && (rc = ipc_prefs_to_memfd(o->prefs, &prefs_fd, &prefs_len)) < 0)
        goto fail;
    if ((rc = make_crash_page(proc, &crash_fd)) < 0)
        goto fail;
    if (chan >= 0)
        add_map(&p, chan, IPC_CHILD_CHANNEL_FD);
    if (prefs_fd >= 0)
        add_map(&p, prefs_fd, IPC_CHILD_PREFS_FD);
    add_map(&p, crash_fd, IPC_CHILD_CRASHINFO_FD);
    if ((rc = plan_fds(&p, o, proc->child_fds)) < 0)
        goto fail;
    if ((rc = plan_args(&p, o, proc->child_fds, prefs_len)) < 0)
        goto fail;
    if (pipe2(pipefd, O_CLOEXEC) < 0) {
        rc = -errno;
        goto fail;
    }
    p.pipe_w = pipefd[1];
    if ((rc = do_fork(proc, &p)) < 0)
        goto fail;
    proc->exec_pipe = pipefd[0];
    pipefd[0] = -1;
    *out = proc;
    proc = NULL;
fail:
    close_fd(&pipefd[0]);
    close_fd(&pipefd[1]);
    close_fd(&prefs_fd);
    close_fd(&crash_fd);
    close_fd(&chan);
    plan_dispose(&p);
    ipc_proc_free(proc);
    return rc;
}

static const char *step_name(uint32_t step)
{
    switch (step) {
    case STEP_FDS:
        return "fds";
    case STEP_PDEATHSIG:
        return "pdeathsig";
    case STEP_EXECVE:
        return "execve";
    default:
        return "unknown";
    }
}

int ipc__proc_exec_result(ipc_proc *proc, ipc_proc_launch_result *res)
{
    uint8_t rec[8];
    ssize_t n;
    do
        n = read(proc->exec_pipe, rec, sizeof rec);
    while (n < 0 && errno == EINTR);
    int err = n < 0 ? errno : 0;
    if (n < 0 && (err == EAGAIN || err == EWOULDBLOCK))
        return 1;
    memset(res, 0, sizeof *res);
    close_fd(&proc->exec_pipe);
    if (n == 0)
        return 0; /* EOF: the exec closed the CLOEXEC pipe */
    if (n < 0) {
        res->err = -err;
        return res->err;
    }
    uint32_t step = 0, e = 0;
    for (int i = 0; i < 4; i++) {
        step |= (uint32_t)rec[i] << (8 * i);
        e |= (uint32_t)rec[4 + i] << (8 * i);
    }
    res->err = IPC_E_EXEC;
    res->exec_errno = n == (ssize_t)sizeof rec ? (int)e : EIO;
    res->step = step_name(n == (ssize_t)sizeof rec ? step : 0);
    proc->exec_failed = 1; /* a failed launch is not a crash */
    ipc__proc_try_reap(proc, 1);
    return res->err;
}

int ipc_proc_launch(const ipc_proc_opts *opts, ipc_proc **out, ipc_proc_launch_result *res)
{
    ipc_proc_launch_result local;
    ipc_proc *proc = NULL;
    if (!res)
        res = &local;
    memset(res, 0, sizeof *res);
    int rc = ipc__proc_spawn(opts, &proc);
    if (rc < 0) {
        res->err = rc;
        return rc;
    }
    if ((rc = ipc__proc_exec_result(proc, res)) < 0) {
        ipc_proc_free(proc);
        return rc;
    }
    *out = proc;
    return 0;
}

/* ---- reaping ---- */

static int classify_exit(int status)
{
    switch (status) {
    case IPC_CHILD_EXIT_BUILD_ID:
        return IPC_E_BUILD_ID;
    case IPC_CHILD_EXIT_ARGS:
    case IPC_CHILD_EXIT_PREFS:
        return IPC_E_PARAM;
    default:
        return 0;
    }
}

static void fill_info(ipc_proc *proc, int status)
{
    ipc_crash_info *in = &proc->info;
    memset(in, 0, sizeof *in);
    in->pid = proc->pid;
    in->parent_pid = proc->parent_pid;
    snprintf(in->process_type, sizeof in->process_type, "%s", proc->type);
    in->time = (int64_t)time(NULL);
    in->syscall_nr = -1;
    if (WIFEXITED(status)) {
        in->exited = 1;
        in->exit_status = WEXITSTATUS(status);
        in->error = proc->exec_failed ? IPC_E_EXEC : classify_exit(in->exit_status);
        return;
    }
    in->signal = WTERMSIG(status);
    in->core_dumped = WCOREDUMP(status) ? 1 : 0;
    int nr;
    uint32_t arch;
    /* Only a SIGSYS death vouches for what the child wrote in the page. */
    if (in->signal == SIGSYS &&
        ipc_crashinfo_read(proc->crash_page, IPC_CRASHINFO_SIZE, &nr, &arch)) {
        in->syscall_nr = nr;
        ipc_syscall_name(nr, arch, in->syscall_name, sizeof in->syscall_name);
    }
}

static int abnormal(const ipc_proc *proc)
{
    const ipc_crash_info *in = &proc->info;
    if (proc->exec_failed)
        return 0;
    if (in->exited)
        return in->exit_status != 0;
    return !(proc->kill_requested && in->signal == proc->kill_requested);
}

static void write_report(ipc_proc *proc)
{
    if (!proc->crash_dir || !abnormal(proc))
        return;
    int rc = ipc_crash_report_write(proc->crash_dir, &proc->info, proc->ring, proc->report_path,
                                    sizeof proc->report_path);
    if (rc < 0) {
        proc->report_path[0] = '\0';
        fprintf(stderr, "ipc: no crash report for pid %d in %s: %s\n", (int)proc->pid,
                proc->crash_dir, ipc_strerror(rc));
    }
}

int ipc__proc_try_reap(ipc_proc *proc, int block)
{
    int status;
    pid_t r;
    if (proc->reaped)
        return 1;
    do
        r = waitpid(proc->pid, &status, block ? 0 : WNOHANG);
    while (r < 0 && errno == EINTR);
    if (r < 0)
        return -errno;
    if (r == 0)
        return 0;
    proc->reaped = 1;
    if (!proc->watch) /* a watch's event still uses the pidfd: detach() closes it */
        close_fd(&proc->pidfd);
    fill_info(proc, status);
    write_report(proc);
    return 1;
}

void ipc__proc_mark_lost(ipc_proc *proc, int err)
{
    proc->reaped = 1;
    fill_info(proc, 0);
    proc->info.error = err;
}

void ipc__proc_close_pidfd(ipc_proc *proc)
{
    close_fd(&proc->pidfd);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Without a pidfd there is nothing to poll: check every few milliseconds. */
static int wait_polling(ipc_proc *proc, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    for (;;) {
        int rc = ipc__proc_try_reap(proc, 0);
        if (rc != 0)
            return rc;
        if (now_ms() >= deadline)
            return IPC_E_TIMEOUT;
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

int ipc_proc_wait(ipc_proc *proc, int timeout_ms, ipc_crash_info *info)
{
    int rc;
    if (proc->watch)
        return IPC_E_STATE;
    if (proc->reaped || timeout_ms < 0) {
        rc = ipc__proc_try_reap(proc, 1);
    } else if (proc->pidfd < 0) {
        rc = wait_polling(proc, timeout_ms);
    } else {
        struct pollfd pfd = {proc->pidfd, POLLIN, 0};
        int64_t deadline = now_ms() + timeout_ms;
        do {
            int left = (int)(deadline - now_ms());
            rc = poll(&pfd, 1, left > 0 ? left : 0);
        } while (rc < 0 && errno == EINTR);
        if (rc < 0)
            return -errno;
        if (rc == 0)
            return IPC_E_TIMEOUT;
        rc = ipc__proc_try_reap(proc, 1);
    }
    if (rc < 0)
        return rc;
    if (info)
        *info = proc->info;
    return 0;
}

int ipc_proc_kill(ipc_proc *proc, int sig)
{
    if (proc->reaped)
        return -ESRCH;
    /* Unreaped, the pid cannot have been reused: kill() is as safe as the
     * pidfd. */
    int rc = proc->pidfd >= 0 ? (int)syscall(SYS_pidfd_send_signal, proc->pidfd, sig, NULL, 0)
                              : kill(proc->pid, sig);
    if (rc < 0)
        return -errno;
    if (sig != 0)
        proc->kill_requested = sig;
    return 0;
}

int ipc_proc_reaped(const ipc_proc *proc)
{
    return proc->reaped;
}

const ipc_crash_info *ipc_proc_exit_info(const ipc_proc *proc, const char **report_path)
{
    if (!proc->reaped)
        return NULL;
    if (report_path)
        *report_path = proc->report_path;
    return &proc->info;
}

pid_t ipc_proc_pid(const ipc_proc *proc)
{
    return proc->pid;
}

const char *ipc_proc_type(const ipc_proc *proc)
{
    return proc->type;
}

int ipc_proc_child_fd(const ipc_proc *proc, size_t i)
{
    return i < proc->nfds ? proc->child_fds[i] : -1;
}

ipc_crash_ring *ipc_proc_ring(ipc_proc *proc)
{
    return proc->ring;
}

void ipc_proc_note_message(ipc_proc *proc, ipc_msg_dir dir, const char *desc)
{
    ipc_crash_ring_push(proc->ring, dir, desc);
}

void ipc_proc_free(ipc_proc *proc)
{
    if (!proc)
        return;
    if (proc->watch_drop)
        proc->watch_drop(proc);
    if (proc->pid > 0 && !proc->reaped) {
        ipc_proc_kill(proc, SIGKILL);
        ipc__proc_try_reap(proc, 1);
    }
    close_fd(&proc->exec_pipe);
    close_fd(&proc->pidfd);
    if (proc->crash_page)
        munmap(proc->crash_page, IPC_CRASHINFO_SIZE);
    ipc_crash_ring_unref(proc->ring);
    free(proc->crash_dir);
    free(proc);
}
