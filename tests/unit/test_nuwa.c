/* Unit tests for B2G's fork server (nuwa.h) across real processes: the hello
 * on a pair that a third process made. */
#include "testutil.h"

#include "ipc/errors.h"
#include "ipc/proxy.h"
#include "ipc/protocols/PContent.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

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
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
                        .msg_controllen = sizeof ctl.buf};
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
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
                        .msg_controllen = sizeof ctl.buf};
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
                        .expect_peer_pid = expect};
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
    if (send_ready(proxy) != 0)
        return 11;
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

static const rig_helper helpers[] = {
    {"pairmaker", helper_pairmaker},
    {NULL, NULL},
};

static Suite *nuwa_suite(void)
{
    Suite *s = suite_create("nuwa");
    RIG_TCASE(s, "nuwa_pair_made_by_third_process_says_hello",
              nuwa_pair_made_by_third_process_says_hello, 30);
    RIG_TCASE(s, "nuwa_pair_made_by_third_process_wrong_pid_refused",
              nuwa_pair_made_by_third_process_wrong_pid_refused, 30);
    return s;
}

int main(int argc, char **argv)
{
    return rig_test_main(argc, argv, nuwa_suite, helpers);
}
