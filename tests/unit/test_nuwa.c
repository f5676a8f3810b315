/* Unit tests for B2G's fork server and preallocated-process manager
 * (nuwa.h) across real processes: the test is the main process, the fork
 * server is this binary re-executed as helper "nuwa", spares and apps are
 * forked from it. Covered: the hello on a pair a third process made, the
 * launch delay, spares kept at N, a spare turned into an app (its own pid, the
 * fork server's child), replacements, the forked process's IO thread and its
 * release of the fork server's channel, AddNewProcess from the wrong process
 * (bad message, sender killed), dead spares replaced, on-demand forks, clean
 * shutdown and main's death taking everything with it (no orphans, no
 * zombies, no leaked fds). */
#include "proctest.h"
#include "testutil.h"

#include "ipc/errors.h"
#include "ipc/nuwa.h"
#include "ipc/proxy.h"
#include "ipc/protocols/PContent.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if defined(__SANITIZE_THREAD__)
/* The fork server starts the IO thread again in each forked child, which is
 * what ipc_iothread_restart_after_fork is for; TSan would refuse it. */
const char *__tsan_default_options(void);
const char *__tsan_default_options(void)
{
    return "die_after_fork=0";
}
#endif

/* ---- small helpers ---- */

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Runs the loop until *flag is non-zero or ms pass; returns *flag. */
static int run_until(ipc_loop *loop, const int *flag, int ms)
{
    long long end = now_ms() + ms;
    while (!*flag && now_ms() < end)
        ipc_loop_run_once(loop, 20);
    return *flag;
}

static int send_fd_pid(int sock, int fd, pid_t pid)
{
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int))];
    } ctl;
    int32_t v = (int32_t)pid;
    struct iovec iov = {&v, sizeof v};
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof ctl.buf};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &fd, sizeof fd);
    return sendmsg(sock, &mh, MSG_NOSIGNAL) == (ssize_t)sizeof v ? 0 : -1;
}

static int recv_fd_pid(int sock, int *fd, pid_t *pid)
{
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int))];
    } ctl;
    int32_t v = 0;
    struct iovec iov = {&v, sizeof v};
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof ctl.buf};
    ssize_t n;
    do
        n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    if (n != (ssize_t)sizeof v || !cm || cm->cmsg_type != SCM_RIGHTS)
        return -1;
    memcpy(fd, CMSG_DATA(cm), sizeof *fd);
    *pid = (pid_t)v;
    return 0;
}

/* ---- a pair made by a third process ---- */

typedef struct peer {
    ipc_loop *loop;
    pid_t connected_pid;
    int connected;
    int msgs;
    int bad;
    int err;
} peer;

static void peer_msg(void *ctx, ipc_msg *m)
{
    peer *p = ctx;
    p->msgs++;
    ipc_msg_free(m);
}

static void peer_connected(void *ctx, pid_t pid)
{
    peer *p = ctx;
    p->connected_pid = pid;
    p->connected = 1;
}

static void peer_error(void *ctx, int err)
{
    peer *p = ctx;
    p->err = err ? err : -1;
}

static void peer_bad(void *ctx, int reason, uint32_t type, const char *name)
{
    peer *p = ctx;
    (void)type;
    (void)name;
    p->bad = reason;
}

static const ipc_listener peer_listener = {peer_msg, peer_connected, peer_error, peer_bad};

static int open_peer(peer *p, ipc_proxy **out, int fd, ipc_side side, pid_t expect)
{
    memset(p, 0, sizeof *p);
    if (ipc_loop_new(&p->loop) != 0)
        return -1;
    ipc_proxy_opts o = {.mode = IPC_CHAN_CLIENT,
                        .fd = fd,
                        .side = side,
                        .listener = &peer_listener,
                        .listener_ctx = p,
                        .listener_loop = p->loop,
                        .peer_pid = expect};
    return ipc_proxy_create(out, &o);
}

static void close_peer(peer *p, ipc_proxy *proxy)
{
    ipc_proxy_free(proxy);
    ipc_loop_run_once(p->loop, 0);
    ipc_loop_free(p->loop);
}

static int send_ready(ipc_proxy *proxy)
{
    ipc_PContent_Ready r = {.pid = (int32_t)getpid()};
    return ipc_PContent_Ready_send(proxy, IPC_ROUTING_CONTROL, &r);
}

/* The forked end: expects the main process (argv[1]) to say hello, sends one
 * message, and waits for main to close. */
static int third_party_child(int fd, pid_t main_pid)
{
    peer p;
    ipc_proxy *proxy;
    if (open_peer(&p, &proxy, fd, IPC_SIDE_CHILD, main_pid) != 0)
        return 10;
    /* May fail when main refused us first; main counts what arrived. */
    send_ready(proxy);
    run_until(p.loop, &p.err, 20000);
    int rc = !p.connected ? 12 : p.connected_pid != main_pid ? 13 : p.bad ? 14 : 0;
    close_peer(&p, proxy);
    return rc;
}

/* Helper "pairmaker" (fd 3: a control socket to the test): makes a pair,
 * forks a child that keeps one end, hands the other end and the child's pid
 * to the test, then reaps the child. As the fork server does, but bare. */
static int helper_pairmaker(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    pid_t main_pid = (pid_t)atoi(argv[1]);
    int sv[2];
    if (ipc_socketpair(NULL, sv) != 0)
        return 3;
    pid_t pid = fork();
    if (pid < 0)
        return 4;
    if (pid == 0) {
        close(3);
        close(sv[0]);
        _exit(third_party_child(sv[1], main_pid));
    }
    close(sv[1]);
    if (send_fd_pid(3, sv[0], pid) != 0)
        return 5;
    close(sv[0]);
    int status;
    if (waitpid(pid, &status, 0) != pid)
        return 6;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Connects to the child of a pairmaker; `right` says whether to expect the
 * child's true pid or a wrong one. Returns the pairmaker's exit status. */
static int meet_third_party_child(int right, peer *p)
{
    int ctl[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ctl), 0);
    char me[16];
    snprintf(me, sizeof me, "%d", (int)getpid());
    const char *args[] = {me, NULL};
    pid_t maker = rig_spawn_helper("pairmaker", ctl[1], args);
    ck_assert_int_gt(maker, 0);
    close(ctl[1]);
    int fd = -1;
    pid_t child = 0;
    ck_assert_int_eq(recv_fd_pid(ctl[0], &fd, &child), 0);
    close(ctl[0]);
    ipc_proxy *proxy;
    ck_assert_int_eq(open_peer(p, &proxy, fd, IPC_SIDE_PARENT, right ? child : maker), 0);
    if (right) {
        run_until(p->loop, &p->msgs, 20000);
        ck_assert_int_eq(p->connected, 1);
        ck_assert_int_eq(p->connected_pid, child);
        ck_assert_int_eq(send_ready(proxy), 0);
    } else {
        run_until(p->loop, &p->err, 20000);
        ck_assert_int_eq(p->connected, 0);
    }
    ck_assert_int_eq(p->bad, right ? 0 : IPC_E_BAD_HELLO);
    close_peer(p, proxy);
    return rig_wait(maker);
}

START_TEST(nuwa_pair_made_by_third_process_says_hello)
{
    /* SO_PEERCRED on both ends names the pairmaker; the expected pid is what
     * each side checks the hello against. */
    ck_assert_ptr_nonnull(ipc_iothread_default()); /* its fds stay open */
    rig_fd_mark();
    peer p;
    ck_assert_int_eq(meet_third_party_child(1, &p), 0);
    ck_assert_int_eq(p.msgs, 1);
    rig_assert_no_leaks();
}
END_TEST

START_TEST(nuwa_pair_made_by_third_process_wrong_pid_refused)
{
    ck_assert_ptr_nonnull(ipc_iothread_default());
    rig_fd_mark();
    peer p;
    /* Our side refuses the hello; the child only sees the channel close. */
    ck_assert_int_eq(meet_third_party_child(0, &p), 0);
    ck_assert_int_eq(p.msgs, 0);
    rig_assert_no_leaks();
}
END_TEST

/* ---- fd-carrying sends under valgrind ---- */

#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
/* Helper "fdsend" (fd 3: a channel): sends AddNewProcess with one fd, as the
 * fork server does, and waits for the test to close the channel. */
static int helper_fdsend(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    peer p;
    ipc_proxy *proxy;
    if (open_peer(&p, &proxy, 3, IPC_SIDE_CHILD, 0) != 0)
        return 30;
    ipc_PContent_AddNewProcess a = {.pid = (int32_t)getpid(), .channel = 0};
    int rc = ipc_PContent_AddNewProcess_send(proxy, IPC_ROUTING_CONTROL, &a);
    run_until(p.loop, &p.err, 20000);
    close_peer(&p, proxy);
    return rc ? 31 : 0;
}

START_TEST(nuwa_fd_message_send_is_valgrind_clean)
{
    /* SCM_RIGHTS with one fd leaves 4 bytes of padding in the control
     * buffer; valgrind (rightly) refuses uninitialised bytes handed to the
     * kernel, which made every valgrind run of the fork server fail. */
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        if (dup2(sv[1], 3) < 0)
            _exit(126);
        char *argv[] = {
            "valgrind", "-q",     "--vgdb=no", "--error-exitcode=99", (char *)rig_self_exe(),
            "--helper", "fdsend", NULL};
        execv("/usr/bin/valgrind", argv);
        _exit(127);
    }
    close(sv[1]);
    peer p;
    ipc_proxy *proxy;
    ck_assert_int_eq(open_peer(&p, &proxy, sv[0], IPC_SIDE_PARENT, 0), 0);
    run_until(p.loop, &p.msgs, 60000);
    ck_assert_int_eq(p.msgs, 1);
    close_peer(&p, proxy);
    ck_assert_int_eq(rig_wait(pid), 0); /* 99: valgrind found an error */
}
END_TEST
#endif

/* ================= the fork server helper (and what it forks) ================= */

/* In a forked process, what become_app found wrong, or 0. Reported to main
 * as a Ready naming pid -1, which main takes for a bad message. */
static struct {
    ipc_loop *loop;
    ipc_nuwa_server *srv;
    ipc_nuwa_spare *spare;
    struct stat chan; /* the fork server's channel to main (fd 3) */
} nw;

/* The fork server's channel must be gone from the forked process: fd 3 is
 * either closed or something else now. */
static int still_holds_fork_server_channel(void)
{
    struct stat st;
    return fstat(3, &st) == 0 && st.st_ino == nw.chan.st_ino && st.st_dev == nw.chan.st_dev;
}

static int send_ready_raw(ipc_nuwa_spare *sp, pid_t pid)
{
    ipc_PContent_Ready r = {.pid = (int32_t)pid};
    return ipc_PContent_Ready_send(ipc_conn_proxy(ipc_nuwa_spare_conn(sp)), IPC_ROUTING_CONTROL,
                                   &r);
}

/* On the restarted IO thread of the forked process: answer from there. */
static void ready_from_io_thread(void *arg)
{
    ipc_nuwa_spare *sp = arg;
    ipc_loop *io = ipc_iothread_loop(ipc_iothread_default());
    int ok = ipc_loop_on_thread(io) && !ipc_loop_on_thread(nw.loop) &&
             (pid_t)syscall(SYS_gettid) != getpid();
    send_ready_raw(sp, ok ? getpid() : -1);
}

/* AddNewProcess from an app: main must take it for a bad message. */
static void claim_to_be_nuwa(ipc_nuwa_spare *sp)
{
    ipc_PContent_AddNewProcess a = {.pid = (int32_t)getpid(), .channel = 0};
    ipc_msg *m = NULL;
    if (ipc_PContent_AddNewProcess_build(&m, IPC_ROUTING_CONTROL, &a) == 0)
        ipc_actor_send(ipc_nuwa_spare_actor(sp), m);
}

/* The app name says what the test wants: "plain-*" answers Ready at once,
 * "iothread-*" answers from the IO thread, "evil-*" sends AddNewProcess and
 * "unhandled-*" LaunchDemoProcess, which main does not handle, and neither
 * answers. Under the spare sandbox (content), "selfkill-*" signals itself
 * (allowed: its own pid) and answers, "killnuwa-*" signals the fork server
 * and "mount-*" mounts, both refused (the process dies of SIGSYS; were they
 * allowed, it would answer with pid -1, a bad message). Every app first
 * checks the fork server's channel is gone. */
static int nw_become_app(void *ctx, ipc_nuwa_spare *sp, const char *name)
{
    (void)ctx;
    if (still_holds_fork_server_channel()) {
        send_ready_raw(sp, -1);
        return 1;
    }
    if (strncmp(name, "iothread-", 9) == 0) {
        if (ipc_loop_post(ipc_iothread_loop(ipc_iothread_default()), ready_from_io_thread, sp) != 0)
            send_ready_raw(sp, -1);
        return 1;
    }
    if (strncmp(name, "selfkill-", 9) == 0)
        return kill(getpid(), 0) == 0 ? 0 : (send_ready_raw(sp, -1), 1);
    if (strncmp(name, "killnuwa-", 9) == 0) {
        kill(getppid(), 0);
        send_ready_raw(sp, -1);
        return 1;
    }
    if (strncmp(name, "mount-", 6) == 0) {
        syscall(SYS_mount, "none", "/nonexistent", "tmpfs", 0ul, NULL);
        send_ready_raw(sp, -1);
        return 1;
    }
    if (strncmp(name, "evil-", 5) == 0) {
        claim_to_be_nuwa(sp);
        return 1;
    }
    if (strncmp(name, "unhandled-", 10) == 0) {
        /* A message main has no handler for. */
        ipc_PContent_LaunchDemoProcess l = {0};
        ipc_PContent_LaunchDemoProcess_send(ipc_conn_proxy(ipc_nuwa_spare_conn(sp)),
                                            IPC_ROUTING_CONTROL, 1, &l);
        return 1;
    }
    return 0;
}

static void nw_forked(void *ctx, ipc_nuwa_spare *sp)
{
    (void)ctx;
    nw.spare = sp;
}

static void nw_spare_closed(void *ctx, ipc_nuwa_spare *sp, ipc_destroy_reason why)
{
    (void)ctx;
    (void)sp;
    (void)why;
    ipc_loop_quit(nw.loop);
}

static void nw_server_closed(void *ctx, ipc_nuwa_server *srv, ipc_destroy_reason why)
{
    (void)ctx;
    (void)srv;
    (void)why;
    ipc_loop_quit(nw.loop);
}

extern int ipc__nuwa_test_no_pidfd;

static int helper_nuwa(int argc, char **argv)
{
    /* Before the sandbox, which refuses setting limits: a process it kills
     * leaves no core file. */
    struct rlimit no_core = {0, 0};
    setrlimit(RLIMIT_CORE, &no_core);
    ipc_child_info info;
    rig_proc_child_init(argc, argv, &info);
    const char *np = getenv("RIG_NUWA_NO_PIDFD");
    ipc__nuwa_test_no_pidfd = np && strcmp(np, "1") == 0;
    if (fstat(info.channel_fd, &nw.chan) != 0 || ipc_loop_new(&nw.loop) != 0)
        return 10;
    /* RIG_NUWA_SPARE_SANDBOX="" stacks none (valgrind cannot stack filters:
     * it lacks seccomp(2) and the nuwa filter hides /proc/self/task). */
    ipc_nuwa_server_opts o = {
        .loop = nw.loop,
        .channel_fd = info.channel_fd,
        .main_pid = info.parent_pid,
        .spare_sandbox = getenv("RIG_NUWA_SPARE_SANDBOX"),
        .closed = nw_server_closed,
        .spare = {.forked = nw_forked, .become_app = nw_become_app, .closed = nw_spare_closed}};
    if (ipc_nuwa_server_start(&o, &nw.srv) != 0)
        return 11;
    ipc_loop_run(nw.loop);
    int forked = !ipc_nuwa_server_is_fork_server(nw.srv);
    ipc_nuwa_spare_free(nw.spare);
    ipc_nuwa_server_stop(nw.srv);
    ipc_nuwa_server_stats st;
    ipc_nuwa_server_get_stats(nw.srv, &st);
    ipc_nuwa_server_free(nw.srv);
    ipc_loop_run_once(nw.loop, 0);
    ipc_loop_free(nw.loop);
    ipc_child_info_dispose(&info);
    if (forked)
        return nw.spare ? 0 : 12;
    /* A child that failed (a sanitizer or valgrind finding, a refused
     * syscall) fails the fork server, which main checks. */
    return st.abnormal_exits || st.fork_failures ? 13 : 0;
}

/* ================= the main process side ================= */

#define MAX_PIDS 64

typedef struct rec {
    ipc_loop *loop;
    ipc_nuwa_manager *m;
    int n[IPC_NUWA_EV_SHUTDOWN_DONE + 1]; /* events seen, per kind */
    long long started_ms, launching_ms;
    pid_t nuwa_pid;
    pid_t published[MAX_PIDS], published_parent[MAX_PIDS];
    int npublished;
    pid_t ready_pid[MAX_PIDS];
    uint64_t latency_ns;
    pid_t bad_pid;
    int bad_err;
    pid_t exited[MAX_PIDS];
    int nexited;
    int nuwa_status;     /* its exit status (128 + signal when killed) */
    int nuwa_killed;     /* the test killed it */
    int children_failed; /* the test made children of nuwa fail: it exits 13 */
} rec;

static void on_event(void *ctx, ipc_nuwa_manager *m, const ipc_nuwa_event *ev)
{
    rec *r = ctx;
    (void)m;
    int k = r->n[ev->kind]++;
    switch (ev->kind) {
    case IPC_NUWA_EV_NUWA_LAUNCHING:
        r->launching_ms = now_ms();
        break;
    case IPC_NUWA_EV_NUWA_RUNNING:
        r->nuwa_pid = ev->pid;
        break;
    case IPC_NUWA_EV_SPARE_PUBLISHED:
        if (k < MAX_PIDS) {
            r->published[k] = ev->pid;
            r->published_parent[k] = ev->parent_pid;
            r->npublished = k + 1;
        }
        break;
    case IPC_NUWA_EV_APP_READY:
        if (k < MAX_PIDS)
            r->ready_pid[k] = ev->pid;
        r->latency_ns = ev->latency_ns;
        break;
    case IPC_NUWA_EV_BAD_SENDER:
        r->bad_pid = ev->pid;
        r->bad_err = ev->err;
        break;
    case IPC_NUWA_EV_NUWA_EXITED:
        r->nuwa_status = ev->exit_status;
        break;
    case IPC_NUWA_EV_EXITED:
        if (k < MAX_PIDS) {
            r->exited[k] = ev->pid;
            r->nexited = k + 1;
        }
        break;
    default:
        break;
    }
}

/* The fork server's command line: this binary's "nuwa" helper, behind the
 * words of $RIG_NUWA_WRAP when set (e.g. "valgrind --error-exitcode=99 -q":
 * the fork server and everything it forks then run under valgrind, while
 * this process keeps its pidfds, which valgrind 3.19 lacks). */
static const char **nuwa_argv(void)
{
    static char wrap[512];
    static const char *argv[32];
    int n = 0;
    const char *w = getenv("RIG_NUWA_WRAP");
    if (w && *w) {
        snprintf(wrap, sizeof wrap, "%s", w);
        for (char *save = NULL, *t = strtok_r(wrap, " ", &save); t && n < 24;
             t = strtok_r(NULL, " ", &save))
            argv[n++] = t;
    }
    argv[n++] = rig_self_exe();
    argv[n++] = "--helper";
    argv[n++] = "nuwa";
    argv[n] = NULL;
    return argv;
}

/* Starts a manager whose fork server is this binary's "nuwa" helper. No
 * ck_assert here: helpers use it too. 0 or an error. */
static int start_manager(rec *r, unsigned spares, int delay_ms, int replace_delay_ms)
{
    memset(r, 0, sizeof *r);
    int rc = ipc_loop_new(&r->loop);
    if (rc)
        return rc;
    ipc_nuwa_manager_opts o;
    ipc_nuwa_manager_opts_init(&o);
    o.loop = r->loop;
    o.nuwa.argv = nuwa_argv();
    o.nuwa.path = o.nuwa.argv[0];
    o.spares = spares;
    o.delay_ms = delay_ms;
    o.replace_delay_ms = replace_delay_ms;
    o.on_event = on_event;
    o.ctx = r;
    r->started_ms = now_ms();
    return ipc_nuwa_manager_start(&o, &r->m);
}

#define start(r, spares, delay, replace)                                                           \
    ck_assert_int_eq(start_manager(r, spares, delay, replace), 0)

/* Runs the loop until `kind` was seen `count` times (or 20 s pass). */
static int wait_event(rec *r, ipc_nuwa_event_kind kind, int count)
{
    long long end = now_ms() + 20000;
    while (r->n[kind] < count && now_ms() < end)
        ipc_loop_run_once(r->loop, 20);
    return r->n[kind] >= count;
}

static int wait_connected(rec *r, unsigned count)
{
    long long end = now_ms() + 20000;
    while (ipc_nuwa_manager_connected_spares(r->m) < count && now_ms() < end)
        ipc_loop_run_once(r->loop, 20);
    return ipc_nuwa_manager_connected_spares(r->m) >= count;
}

static void shutdown_and_free(rec *r)
{
    ipc_nuwa_manager_shutdown(r->m);
    ck_assert(wait_event(r, IPC_NUWA_EV_SHUTDOWN_DONE, 1));
    ck_assert(ipc_nuwa_manager_done(r->m));
    /* 0: it reaped every child and none had failed. */
    if (r->n[IPC_NUWA_EV_NUWA_RUNNING])
        ck_assert_int_eq(r->nuwa_status, r->nuwa_killed       ? 128 + SIGKILL
                                         : r->children_failed ? 13
                                                              : 0);
    ipc_nuwa_manager_free(r->m);
    ipc_loop_run_once(r->loop, 0);
    ipc_loop_free(r->loop);
}

/* The pid's parent from /proc, or -1 when there is no such process. */
static pid_t parent_of(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    char *rp = strrchr(buf, ')');
    char state;
    int ppid;
    if (!rp || sscanf(rp + 1, " %c %d", &state, &ppid) != 2)
        return -1;
    return (pid_t)ppid;
}

/* 1 when no process `pid` exists, not even a zombie: it died and was reaped. */
static int reaped(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d", (int)pid);
    return access(path, F_OK) != 0 && errno == ENOENT;
}

/* Waits (running the loop) until `pid` is reaped by whoever is its parent. */
static int wait_reaped(rec *r, pid_t pid)
{
    long long end = now_ms() + 20000;
    while (!reaped(pid) && now_ms() < end)
        ipc_loop_run_once(r->loop, 10);
    return reaped(pid);
}

static void take(rec *r, const char *name, pid_t *pid)
{
    ck_assert_int_eq(ipc_nuwa_manager_take_spare(r->m, name, pid), 0);
    ck_assert_int_gt(*pid, 0);
}

START_TEST(nuwa_launches_after_configured_delay)
{
    ck_assert_ptr_nonnull(ipc_iothread_default());
    rig_fd_mark();
    rec r;
    start(&r, 1, 400, 0);
    ck_assert_int_eq(ipc_nuwa_manager_nuwa_pid(r.m), 0);
    ck_assert_int_eq(ipc_nuwa_manager_request_fork(r.m), IPC_E_STATE); /* nothing to ask yet */
    ck_assert(wait_event(&r, IPC_NUWA_EV_NUWA_RUNNING, 1));
    /* Never before the delay (the timer only fires late, never early). */
    ck_assert_int_ge(r.launching_ms - r.started_ms, 400);
    ck_assert_int_eq(r.n[IPC_NUWA_EV_NUWA_LAUNCHING], 1);
    /* Launched by us with ipc_host_launch: our child. */
    ck_assert_int_gt(r.nuwa_pid, 0);
    ck_assert_int_eq(ipc_nuwa_manager_nuwa_pid(r.m), r.nuwa_pid);
    ck_assert_int_eq(parent_of(r.nuwa_pid), getpid());
    ck_assert(wait_event(&r, IPC_NUWA_EV_SPARE_PUBLISHED, 1));
    shutdown_and_free(&r);
    rig_assert_no_leaks();
}
END_TEST

START_TEST(nuwa_spares_kept_at_n_and_taken_spare_replaced)
{
    ck_assert_ptr_nonnull(ipc_iothread_default());
    rig_fd_mark();
    rec r;
    start(&r, 3, 0, 0);
    ck_assert(wait_event(&r, IPC_NUWA_EV_SPARE_PUBLISHED, 3));
    ck_assert(wait_connected(&r, 3));
    ipc_nuwa_counts c;
    ipc_nuwa_manager_get_counts(r.m, &c);
    ck_assert_uint_eq(c.forks_requested, 3);
    ck_assert_uint_eq(c.spares_published, 3);
    ck_assert_uint_eq(c.spares, 3);
    ck_assert_uint_eq(c.replacements, 0);
    ck_assert_uint_eq(c.forks_pending, 0);
    pid_t pids[8];
    ck_assert_uint_eq(ipc_nuwa_manager_spare_pids(r.m, pids, 8), 3);
    for (int i = 0; i < 3; i++) {
        /* Each one the fork server's own child, each a different process. */
        ck_assert_int_eq(pids[i], r.published[i]);
        ck_assert_int_eq(parent_of(pids[i]), r.nuwa_pid);
        ck_assert_int_eq(r.published_parent[i], r.nuwa_pid);
        ck_assert_int_ne(pids[i], r.nuwa_pid);
        for (int j = 0; j < i; j++)
            ck_assert_int_ne(pids[i], pids[j]);
    }
    pid_t app;
    take(&r, "plain-1", &app);
    ck_assert_int_eq(app, pids[0]); /* the oldest */
    ipc_nuwa_manager_get_counts(r.m, &c);
    ck_assert_uint_eq(c.spares, 2);
    ck_assert_uint_eq(c.spares_taken, 1);
    ck_assert(wait_event(&r, IPC_NUWA_EV_APP_READY, 1));
    /* The take triggered one replacement, and only one. */
    ck_assert(wait_event(&r, IPC_NUWA_EV_SPARE_PUBLISHED, 4));
    ipc_nuwa_manager_get_counts(r.m, &c);
    ck_assert_uint_eq(c.forks_requested, 4);
    ck_assert_uint_eq(c.replacements, 1);
    ck_assert_uint_eq(c.spares, 3);
    ck_assert_uint_eq(c.apps, 1);
    ck_assert_uint_eq(c.bad_senders, 0);
    ck_assert_int_ne(r.published[3], app);
    ck_assert_int_eq(parent_of(r.published[3]), r.nuwa_pid);
    shutdown_and_free(&r);
    rig_assert_no_leaks();
}
END_TEST

START_TEST(nuwa_taken_spare_becomes_app_with_its_own_pid)
{
    ck_assert_ptr_nonnull(ipc_iothread_default());
    rig_fd_mark();
    rec r;
    start(&r, 1, 0, 0);
    ck_assert(wait_connected(&r, 1));
    pid_t app;
    take(&r, "plain-app", &app);
    ck_assert(wait_event(&r, IPC_NUWA_EV_APP_READY, 1));
    /* Ready(pid) names the spare we took; it is not the fork server but its
     * child, and it checked that the fork server's channel is gone. */
    ck_assert_int_eq(r.ready_pid[0], app);
    ck_assert_int_ne(app, r.nuwa_pid);
    ck_assert_int_ne(app, getpid());
    ck_assert_int_eq(parent_of(app), r.nuwa_pid);
    ck_assert_uint_gt(r.latency_ns, 0);
    ck_assert_int_eq(r.n[IPC_NUWA_EV_BAD_SENDER], 0);
    ipc_nuwa_counts c;
    ipc_nuwa_manager_get_counts(r.m, &c);
    ck_assert_uint_eq(c.apps_ready, 1);
    ck_assert_uint_eq(c.apps, 1);
    /* Taking again gets the replacement, a different process. */
    ck_assert(wait_connected(&r, 1));
    pid_t app2;
    take(&r, "plain-app2", &app2);
    ck_assert_int_ne(app2, app);
    ck_assert(wait_event(&r, IPC_NUWA_EV_APP_READY, 2));
    ck_assert_int_eq(r.ready_pid[1], app2);
    ck_assert_int_eq(r.n[IPC_NUWA_EV_BAD_SENDER], 0);
    shutdown_and_free(&r);
    rig_assert_no_leaks();
}
END_TEST

START_TEST(nuwa_forked_process_io_thread_sends_and_receives)
{
    ck_assert_ptr_nonnull(ipc_iothread_default());
    rig_fd_mark();
    rec r;
    start(&r, 2, 0, 0);
    for (int i = 1; i <= 3; i++) {
        /* TurnIntoApp is read by the new IO thread; Ready is written by it. */
        ck_assert(wait_connected(&r, 1));
        char name[32];
        snprintf(name, sizeof name, "iothread-%d", i);
        pid_t app;
        take(&r, name, &app);
        ck_assert(wait_event(&r, IPC_NUWA_EV_APP_READY, i));
        ck_assert_int_eq(r.ready_pid[i - 1], app);
    }
    ck_assert_int_eq(r.n[IPC_NUWA_EV_BAD_SENDER], 0);
    shutdown_and_free(&r);
    rig_assert_no_leaks();
}
END_TEST

START_TEST(nuwa_add_new_process_from_app_is_bad_message_and_sender_killed)
{
    ck_assert_ptr_nonnull(ipc_iothread_default());
    rig_fd_mark();
    rec r;
    start(&r, 1, 0, 0);
    ck_assert(wait_connected(&r, 1));
    pid_t evil;
    take(&r, "evil-1", &evil);
    /* It sends AddNewProcess (with an fd) instead of Ready: main is not
     * fooled (IsNuwaProcess) and kills it. */
    ck_assert(wait_event(&r, IPC_NUWA_EV_BAD_SENDER, 1));
    ck_assert_int_eq(r.bad_pid, evil);
    ck_assert_int_eq(r.bad_err, IPC_E_BAD_SENDER);
    ck_assert(wait_event(&r, IPC_NUWA_EV_EXITED, 1));
    ck_assert_int_eq(r.exited[0], evil);
    ck_assert_int_eq(r.n[IPC_NUWA_EV_APP_READY], 0);
    /* Its parent, the fork server, reaped it: no zombie left. */
    ck_assert(wait_reaped(&r, evil));
    ipc_nuwa_counts c;
    ipc_nuwa_manager_get_counts(r.m, &c);
    ck_assert_uint_eq(c.bad_senders, 1);
    ck_assert_uint_eq(c.apps, 0);
    /* The claimed "new process" was never published: only real forks were. */
    ck_assert_uint_eq(c.spares_published, (uint64_t)r.n[IPC_NUWA_EV_SPARE_PUBLISHED]);
    for (int i = 0; i < r.npublished; i++)
        ck_assert_int_eq(r.published_parent[i], r.nuwa_pid);
    /* The fork server is untouched and still serves. */
    ck_assert_int_eq(ipc_nuwa_manager_nuwa_pid(r.m), r.nuwa_pid);
    ck_assert(wait_connected(&r, 1));
    pid_t app;
    take(&r, "plain-after", &app);
    ck_assert(wait_event(&r, IPC_NUWA_EV_APP_READY, 1));
    shutdown_and_free(&r);
    rig_assert_no_leaks(); /* the fd it sent is closed too */
}
END_TEST

START_TEST(nuwa_unhandled_message_from_app_is_bad_message_and_sender_killed)
{
    ck_assert_ptr_nonnull(ipc_iothread_default());
    rig_fd_mark();
    rec r;
    start(&r, 1, 0, 0);
    ck_assert(wait_connected(&r, 1));
    pid_t app;
    take(&r, "unhandled-1", &app);
    ck_assert(wait_event(&r, IPC_NUWA_EV_BAD_SENDER, 1));
    ck_assert_int_eq(r.bad_pid, app);
    ck_assert_int_eq(r.bad_err, IPC_E_UNHANDLED);
    ck_assert(wait_event(&r, IPC_NUWA_EV_EXITED, 1));
    ck_assert_int_eq(r.exited[0], app);
    ck_assert(wait_reaped(&r, app));
    ipc_nuwa_counts c;
    ipc_nuwa_manager_get_counts(r.m, &c);
    ck_assert_uint_eq(c.bad_senders, 1);
    shutdown_and_free(&r);
    rig_assert_no_leaks();
}
END_TEST

START_TEST(nuwa_dead_spare_is_replaced_and_reaped)
{
    ck_assert_ptr_nonnull(ipc_iothread_default());
    rig_fd_mark();
    rec r;
    start(&r, 2, 0, 60000); /* a long replacement delay: losses do not wait for it */
    ck_assert(wait_connected(&r, 2));
    pid_t victim = r.published[0];
    ck_assert_int_eq(kill(victim, SIGKILL), 0);
    ck_assert(wait_event(&r, IPC_NUWA_EV_EXITED, 1));
    ck_assert_int_eq(r.exited[0], victim);
    ck_assert(wait_reaped(&r, victim));
    ck_assert(wait_event(&r, IPC_NUWA_EV_SPARE_PUBLISHED, 3));
    ck_assert(wait_connected(&r, 2));
    ipc_nuwa_counts c;
    ipc_nuwa_manager_get_counts(r.m, &c);
    ck_assert_uint_eq(c.forks_requested, 3);
    ck_assert_uint_eq(c.replacements, 1);
    ck_assert_uint_eq(c.exited, 1);
    ck_assert_uint_eq(c.spares, 2);
    shutdown_and_free(&r);
    rig_assert_no_leaks();
}
END_TEST

START_TEST(nuwa_on_demand_fork_without_spares)
{
    ck_assert_ptr_nonnull(ipc_iothread_default());
    rig_fd_mark();
    rec r;
    start(&r, 0, 0, 0);
    ck_assert(wait_event(&r, IPC_NUWA_EV_NUWA_RUNNING, 1));
    ipc_nuwa_counts c;
    ipc_nuwa_manager_get_counts(r.m, &c);
    ck_assert_uint_eq(c.forks_requested, 0); /* no spares wanted: none asked for */
    pid_t app;
    ck_assert_int_eq(ipc_nuwa_manager_take_spare(r.m, "plain-x", &app), -EAGAIN);
    ck_assert_int_eq(ipc_nuwa_manager_request_fork(r.m), 0);
    ck_assert(wait_event(&r, IPC_NUWA_EV_SPARE_PUBLISHED, 1));
    take(&r, "plain-x", &app);
    ck_assert_int_eq(app, r.published[0]);
    ck_assert(wait_event(&r, IPC_NUWA_EV_APP_READY, 1));
    ipc_nuwa_manager_get_counts(r.m, &c);
    ck_assert_uint_eq(c.forks_requested, 1);
    ck_assert_uint_eq(c.replacements, 0);
    ck_assert_uint_eq(c.spares, 0);
    ck_assert_int_eq(ipc_nuwa_manager_close_process(r.m, app), 0);
    ck_assert_int_eq(ipc_nuwa_manager_close_process(r.m, app), -ESRCH);
    ck_assert(wait_event(&r, IPC_NUWA_EV_EXITED, 1));
    ck_assert(wait_reaped(&r, app));
    shutdown_and_free(&r);
    rig_assert_no_leaks();
}
END_TEST

START_TEST(nuwa_spare_sandbox_compiled_once_keeps_the_policy)
{
    /* The fork server compiles the spare sandbox before forking and each
     * process it forks only loads it: kill(2) is still allowed to the
     * process's own pid only (the pid is patched in), and what content may
     * not do still kills it. */
    ck_assert_ptr_nonnull(ipc_iothread_default());
    rig_fd_mark();
    /* This case is about the sandbox: its fork server stacks content's on
     * every spare and runs natively whatever the environment says (valgrind
     * runs stack none and wrap the fork server: valgrind lacks seccomp(2),
     * and nuwa's filter refuses the prctl() that would stack one without). */
    const char *was = getenv("RIG_NUWA_SPARE_SANDBOX");
    char saved[32];
    snprintf(saved, sizeof saved, "%s", was ? was : "");
    ck_assert_int_eq(setenv("RIG_NUWA_SPARE_SANDBOX", "content", 1), 0);
    const char *wrap = getenv("RIG_NUWA_WRAP");
    char saved_wrap[512];
    snprintf(saved_wrap, sizeof saved_wrap, "%s", wrap ? wrap : "");
    ck_assert_int_eq(unsetenv("RIG_NUWA_WRAP"), 0);
    rec r;
    start(&r, 0, 0, 0);
    ck_assert(wait_event(&r, IPC_NUWA_EV_NUWA_RUNNING, 1));
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(ipc_nuwa_manager_request_fork(r.m), 0);
    ck_assert(wait_event(&r, IPC_NUWA_EV_SPARE_PUBLISHED, 3));
    ck_assert(wait_connected(&r, 3));
    pid_t self_killer, nuwa_killer, mounter;
    take(&r, "selfkill-1", &self_killer);
    ck_assert(wait_event(&r, IPC_NUWA_EV_APP_READY, 1));
    ck_assert_int_eq(r.ready_pid[0], self_killer);
    take(&r, "killnuwa-2", &nuwa_killer);
    take(&r, "mount-3", &mounter);
    ck_assert(wait_event(&r, IPC_NUWA_EV_EXITED, 2));
    ck_assert(wait_reaped(&r, nuwa_killer));
    ck_assert(wait_reaped(&r, mounter));
    ck_assert(r.exited[0] == nuwa_killer || r.exited[1] == nuwa_killer);
    ck_assert(r.exited[0] == mounter || r.exited[1] == mounter);
    /* Neither got to answer: the calls killed them. */
    ck_assert_int_eq(r.n[IPC_NUWA_EV_BAD_SENDER], 0);
    ck_assert_int_eq(r.n[IPC_NUWA_EV_APP_READY], 1);
    ck_assert(!reaped(self_killer));
    /* Two of its children died of a signal: the fork server exits 13. */
    r.children_failed = 1;
    shutdown_and_free(&r);
    ck_assert(reaped(self_killer));
    if (was)
        setenv("RIG_NUWA_SPARE_SANDBOX", saved, 1);
    else
        unsetenv("RIG_NUWA_SPARE_SANDBOX");
    if (wrap)
        setenv("RIG_NUWA_WRAP", saved_wrap, 1);
    rig_assert_no_leaks();
}
END_TEST

START_TEST(nuwa_manager_api_refusals)
{
    ck_assert_ptr_nonnull(ipc_iothread_default());
    rig_fd_mark();
    rec r;
    start(&r, 1, 60000, -1);
    pid_t pid = 0;
    ck_assert_int_eq(ipc_nuwa_manager_take_spare(r.m, "a", &pid), -EAGAIN);
    ck_assert_int_eq(ipc_nuwa_manager_take_spare(r.m, "", &pid), -EINVAL);
    char longname[IPC_NUWA_APP_NAME_MAX + 2];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    ck_assert_int_eq(ipc_nuwa_manager_take_spare(r.m, longname, &pid), -EINVAL);
    ck_assert_int_eq(ipc_nuwa_manager_close_process(r.m, getpid()), -ESRCH);
    ck_assert_int_eq(ipc_nuwa_manager_spare_pids(r.m, NULL, 0), 0);
    /* Shut down before the delay: the fork server is never launched. */
    ipc_nuwa_manager_shutdown(r.m);
    ck_assert_int_eq(r.n[IPC_NUWA_EV_SHUTDOWN_DONE], 1);
    ck_assert_int_eq(r.n[IPC_NUWA_EV_NUWA_LAUNCHING], 0);
    ck_assert_int_eq(ipc_nuwa_manager_take_spare(r.m, "a", &pid), IPC_E_STATE);
    ck_assert_int_eq(ipc_nuwa_manager_request_fork(r.m), IPC_E_STATE);
    ipc_nuwa_manager_free(r.m);
    ipc_loop_free(r.loop);
    /* The fork server's options: a bad sandbox name is refused, fd taken. */
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    ipc_loop *loop;
    ck_assert_int_eq(ipc_loop_new(&loop), 0);
    ipc_nuwa_server_opts so = {.loop = loop, .channel_fd = sv[0], .spare_sandbox = "bogus"};
    ipc_nuwa_server *srv = (ipc_nuwa_server *)1;
    ck_assert_int_eq(ipc_nuwa_server_start(&so, &srv), -EINVAL);
    ck_assert_ptr_null(srv);
    close(sv[1]);
    ipc_loop_free(loop);
    rig_assert_no_leaks();
}
END_TEST

START_TEST(nuwa_shutdown_takes_everything_no_orphans_no_zombies)
{
    ck_assert_ptr_nonnull(ipc_iothread_default());
    rig_fd_mark();
    rec r;
    start(&r, 2, 0, 0);
    ck_assert(wait_connected(&r, 2));
    pid_t app;
    take(&r, "plain-1", &app);
    ck_assert(wait_event(&r, IPC_NUWA_EV_APP_READY, 1));
    ck_assert(wait_event(&r, IPC_NUWA_EV_SPARE_PUBLISHED, 3));
    pid_t all[MAX_PIDS + 1];
    int n = 0;
    all[n++] = r.nuwa_pid;
    for (int i = 0; i < r.npublished; i++)
        all[n++] = r.published[i];
    ipc_nuwa_manager_shutdown(r.m);
    ck_assert(wait_event(&r, IPC_NUWA_EV_SHUTDOWN_DONE, 1));
    /* Every spare and app exited first (Close/Goodbye), then the fork
     * server, which reaped them before exiting; we reaped it. */
    ck_assert_int_eq(r.n[IPC_NUWA_EV_EXITED], 3);
    ck_assert_int_eq(r.n[IPC_NUWA_EV_NUWA_EXITED], 1);
    ck_assert_int_eq(r.nuwa_status, 0);
    ck_assert_int_eq(r.n[IPC_NUWA_EV_BAD_SENDER], 0);
    for (int i = 0; i < n; i++)
        ck_assert_msg(reaped(all[i]), "process %d is still there", (int)all[i]);
    ipc_nuwa_manager_free(r.m);
    ipc_loop_run_once(r.loop, 0);
    ipc_loop_free(r.loop);
    rig_assert_no_leaks();
}
END_TEST

/* Helper "mainproc" (fd 3: a pipe to the test): a main process with two
 * spares and one app; writes "nuwa spare spare app\n" and waits to be killed. */
static int helper_mainproc(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    rec r;
    if (start_manager(&r, 2, 0, 0) != 0 || !wait_connected(&r, 2))
        return 20;
    pid_t app;
    if (ipc_nuwa_manager_take_spare(r.m, "plain-1", &app) != 0 ||
        !wait_event(&r, IPC_NUWA_EV_APP_READY, 1) || !wait_connected(&r, 2))
        return 21;
    pid_t spares[2];
    ipc_nuwa_manager_spare_pids(r.m, spares, 2);
    char line[128];
    int len = snprintf(line, sizeof line, "%d %d %d %d\n", (int)r.nuwa_pid, (int)spares[0],
                       (int)spares[1], (int)app);
    if (rig_write_all(3, line, (size_t)len) != 0)
        return 22;
    for (;;)
        ipc_loop_run_once(r.loop, 1000);
}

START_TEST(nuwa_main_killed_takes_nuwa_and_spares_with_it)
{
    /* Orphans come to us instead of init, so we can tell they died. */
    ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), 0);
    rig_fd_mark();
    int p[2];
    ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
    pid_t mainproc = rig_spawn_helper("mainproc", p[1], NULL);
    ck_assert_int_gt(mainproc, 0);
    close(p[1]);
    char line[128];
    ssize_t n = rig_read_until(p[0], line, sizeof line - 1, '\n', 20000);
    close(p[0]);
    ck_assert_int_gt(n, 0);
    line[n] = '\0';
    int pids[4];
    ck_assert_int_eq(sscanf(line, "%d %d %d %d", &pids[0], &pids[1], &pids[2], &pids[3]), 4);
    ck_assert_int_eq(parent_of(pids[0]), mainproc);
    for (int i = 1; i < 4; i++)
        ck_assert_int_eq(parent_of(pids[i]), pids[0]);
    ck_assert_int_eq(kill(mainproc, SIGKILL), 0);
    /* The fork server dies of its parent-death signal, its children of
     * theirs; each one, reparented to us, is reaped here. */
    int left = 5;
    pid_t want[5] = {mainproc, pids[0], pids[1], pids[2], pids[3]};
    long long end = now_ms() + 20000;
    while (left > 0 && now_ms() < end) {
        int status;
        pid_t got = waitpid(-1, &status, WNOHANG);
        if (got <= 0) {
            usleep(10000);
            continue;
        }
        for (int i = 0; i < 5; i++)
            if (want[i] == got) {
                want[i] = 0;
                left--;
            }
    }
    ck_assert_msg(left == 0, "%d process(es) survived main", left);
    for (int i = 0; i < 4; i++)
        ck_assert(reaped(pids[i]));
    /* As their subreaper, we also reap the orphans of those five, until we
     * have no child left: in a sanitizer build a spare exiting on its
     * channel's end starts LeakSanitizer's tracer, a process of its own,
     * which its parent-death signal kills when the spare dies of its own. */
    while (now_ms() < end) {
        pid_t got = waitpid(-1, NULL, WNOHANG);
        if (got < 0)
            break; /* ECHILD: none left */
        if (got == 0)
            usleep(10000);
    }
    ck_assert_int_eq(waitpid(-1, NULL, WNOHANG), -1);
    ck_assert_int_eq(errno, ECHILD);
    rig_assert_no_leaks();
}
END_TEST

START_TEST(nuwa_fork_server_killed_its_children_die_of_pdeathsig)
{
    /* Their channels to main stay open: only the parent-death signal armed
     * after the fork can kill them. Orphans come to us instead of init. */
    ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), 0);
    ck_assert_ptr_nonnull(ipc_iothread_default());
    rig_fd_mark();
    rec r;
    start(&r, 2, 0, 0);
    ck_assert(wait_connected(&r, 2));
    pid_t app;
    take(&r, "plain-1", &app);
    ck_assert(wait_event(&r, IPC_NUWA_EV_APP_READY, 1));
    ck_assert(wait_event(&r, IPC_NUWA_EV_SPARE_PUBLISHED, 3));
    pid_t nuwa = r.nuwa_pid;
    r.nuwa_killed = 1;
    ck_assert_int_eq(kill(nuwa, SIGKILL), 0);
    ck_assert(wait_event(&r, IPC_NUWA_EV_NUWA_EXITED, 1));
    ck_assert(wait_event(&r, IPC_NUWA_EV_EXITED, 3));
    for (int i = 0; i < 3; i++) {
        pid_t pid = r.published[i];
        long long end = now_ms() + 20000;
        while (waitpid(pid, NULL, WNOHANG) != pid && now_ms() < end)
            ipc_loop_run_once(r.loop, 10);
        ck_assert_msg(reaped(pid), "child %d of the dead fork server lives on", (int)pid);
    }
    ck_assert_int_eq(ipc_nuwa_manager_nuwa_pid(r.m), 0);
    ck_assert_int_eq(ipc_nuwa_manager_request_fork(r.m), IPC_E_STATE);
    shutdown_and_free(&r);
    rig_assert_no_leaks();
}
END_TEST

START_TEST(nuwa_fork_server_reaps_without_pidfds)
{
    /* The fork server's fallback where pidfds are missing: it polls. */
    ck_assert_int_eq(setenv("RIG_NUWA_NO_PIDFD", "1", 1), 0);
    ck_assert_ptr_nonnull(ipc_iothread_default());
    rig_fd_mark();
    rec r;
    start(&r, 1, 0, 0);
    ck_assert(wait_connected(&r, 1));
    pid_t victim = r.published[0];
    ck_assert_int_eq(kill(victim, SIGKILL), 0);
    ck_assert(wait_reaped(&r, victim)); /* reaped by the fork server's poll */
    ck_assert(wait_connected(&r, 1));
    pid_t app;
    take(&r, "plain-1", &app);
    ck_assert(wait_event(&r, IPC_NUWA_EV_APP_READY, 1));
    ck_assert_int_eq(ipc_nuwa_manager_close_process(r.m, app), 0);
    ck_assert(wait_reaped(&r, app));
    shutdown_and_free(&r);
    rig_assert_no_leaks();
}
END_TEST

static const rig_helper helpers[] = {
    {"pairmaker", helper_pairmaker},
    {"nuwa", helper_nuwa},
    {"mainproc", helper_mainproc},
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
    {"fdsend", helper_fdsend},
#endif
    {NULL, NULL},
};

static Suite *nuwa_suite(void)
{
    Suite *s = suite_create("nuwa");
    RIG_TCASE(s, "nuwa_pair_made_by_third_process_says_hello",
              nuwa_pair_made_by_third_process_says_hello, 30);
    RIG_TCASE(s, "nuwa_pair_made_by_third_process_wrong_pid_refused",
              nuwa_pair_made_by_third_process_wrong_pid_refused, 30);
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
    /* valgrind cannot run a sanitizer build; those builds check memory themselves. */
    RIG_TCASE(s, "nuwa_fd_message_send_is_valgrind_clean", nuwa_fd_message_send_is_valgrind_clean,
              120);
#endif
    RIG_TCASE(s, "nuwa_launches_after_configured_delay", nuwa_launches_after_configured_delay, 60);
    RIG_TCASE(s, "nuwa_spares_kept_at_n_and_taken_spare_replaced",
              nuwa_spares_kept_at_n_and_taken_spare_replaced, 60);
    RIG_TCASE(s, "nuwa_taken_spare_becomes_app_with_its_own_pid",
              nuwa_taken_spare_becomes_app_with_its_own_pid, 60);
    RIG_TCASE(s, "nuwa_forked_process_io_thread_sends_and_receives",
              nuwa_forked_process_io_thread_sends_and_receives, 60);
    RIG_TCASE(s, "nuwa_add_new_process_from_app_is_bad_message_and_sender_killed",
              nuwa_add_new_process_from_app_is_bad_message_and_sender_killed, 60);
    RIG_TCASE(s, "nuwa_unhandled_message_from_app_is_bad_message_and_sender_killed",
              nuwa_unhandled_message_from_app_is_bad_message_and_sender_killed, 60);
    RIG_TCASE(s, "nuwa_dead_spare_is_replaced_and_reaped", nuwa_dead_spare_is_replaced_and_reaped,
              60);
    RIG_TCASE(s, "nuwa_on_demand_fork_without_spares", nuwa_on_demand_fork_without_spares, 60);
    RIG_TCASE(s, "nuwa_manager_api_refusals", nuwa_manager_api_refusals, 30);
    RIG_TCASE(s, "nuwa_spare_sandbox_compiled_once_keeps_the_policy",
              nuwa_spare_sandbox_compiled_once_keeps_the_policy, 60);
    RIG_TCASE(s, "nuwa_shutdown_takes_everything_no_orphans_no_zombies",
              nuwa_shutdown_takes_everything_no_orphans_no_zombies, 60);
    RIG_TCASE(s, "nuwa_main_killed_takes_nuwa_and_spares_with_it",
              nuwa_main_killed_takes_nuwa_and_spares_with_it, 60);
    RIG_TCASE(s, "nuwa_fork_server_killed_its_children_die_of_pdeathsig",
              nuwa_fork_server_killed_its_children_die_of_pdeathsig, 60);
    RIG_TCASE(s, "nuwa_fork_server_reaps_without_pidfds", nuwa_fork_server_reaps_without_pidfds,
              60);
    return s;
}

int main(int argc, char **argv)
{
    return rig_test_main(argc, argv, nuwa_suite, helpers);
}
