/* Unit tests for the channel: server/client by channel id and by fd, the
 * channel map, hello, fd passing (500 fds in one message between processes),
 * partial reads and writes, batching, EOF after earlier messages, and
 * malformed frames written raw by a peer process. */
#include "testutil.h"

#include "ipc/chan.h"
#include "ipc/errors.h"
#include "ipc/loop.h"
#include "ipc/protocol.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define T_DATA    IPC_MSG_TYPE(0x41, 1)
#define T_FDS     IPC_MSG_TYPE(0x41, 2)
#define T_BIG     IPC_MSG_TYPE(0x41, 3)
#define T_UNKNOWN IPC_MSG_TYPE(0x7f, 9)

/* ---- a listener that records what it hears ---- */

#define MAX_EV 4096

typedef struct coll {
    ipc_msg *msgs[MAX_EV];
    int nmsgs;
    int connected;
    pid_t peer;
    int errors;
    int err;
    int bad;
    int bad_reason;
    uint32_t bad_type;
    char bad_name[128];
    int events_after_error;
    ipc_chan *chan;
} coll;

static void c_msg(void *ctx, ipc_msg *m)
{
    coll *c = ctx;
    if (c->errors)
        c->events_after_error++;
    if (c->nmsgs < MAX_EV)
        c->msgs[c->nmsgs++] = m;
    else
        ipc_msg_free(m);
}

static void c_conn(void *ctx, pid_t pid)
{
    coll *c = ctx;
    c->connected++;
    c->peer = pid;
}

static void c_err(void *ctx, int err)
{
    coll *c = ctx;
    c->errors++;
    c->err = err;
}

static void c_bad(void *ctx, int reason, uint32_t type, const char *name)
{
    coll *c = ctx;
    c->bad++;
    c->bad_reason = reason;
    c->bad_type = type;
    snprintf(c->bad_name, sizeof c->bad_name, "%s", name);
}

static const ipc_listener coll_listener = {c_msg, c_conn, c_err, c_bad};

static void coll_free(coll *c)
{
    for (int i = 0; i < c->nmsgs; i++)
        ipc_msg_free(c->msgs[i]);
    c->nmsgs = 0;
}

static const ipc_frame_limits test_limits = {1u << 20, IPC_MSG_MAX_FDS, NULL, NULL};

static int known_0x41(uint32_t type, void *ctx)
{
    (void)ctx;
    return IPC_MSG_CLASS(type) == 0x41 || IPC_MSG_CLASS(type) == IPC_CLASS_INTERNAL;
}

static const ipc_frame_limits typed_limits = {1u << 20, IPC_MSG_MAX_FDS, known_0x41, NULL};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Runs the loop until *flag reaches want; a safety deadline fails the test
 * instead of hanging it (not a timing assertion). */
static int pump_until(ipc_loop *loop, const int *flag, int want)
{
    double end = now_s() + 20;
    while (*flag < want) {
        if (now_s() > end)
            return -1;
        ipc_loop_run_once(loop, 50);
    }
    return 0;
}

static ipc_msg *data_msg(uint32_t type, int32_t v)
{
    ipc_msg *m = ipc_msg_new(IPC_ROUTING_CONTROL, type, 0);
    ipc_pickle_write_i32(ipc_msg_writer(m), v);
    return m;
}

static int32_t msg_i32(const ipc_msg *m)
{
    ipc_pickle_iter it;
    int32_t v = -1;
    ipc_msg_iter(m, &it);
    ipc_pickle_read_i32(&it, &v);
    return v;
}

static ipc_chan *open_chan(ipc_chan_mode mode, const char *id, int fd, coll *c,
                           const ipc_frame_limits *lim)
{
    ipc_chan_opts o = {mode, id, fd, &coll_listener, c, lim ? lim : &test_limits};
    ipc_chan *ch = NULL;
    ck_assert_int_eq(ipc_chan_create(&ch, &o), 0);
    c->chan = ch;
    return ch;
}

/* ---- helper processes (run as `test_chan --helper NAME`) ---- */

typedef struct echo_state {
    ipc_loop *loop;
    ipc_chan *chan;
    int done;
    int bad_hello;
} echo_state;

static void echo_msg(void *ctx, ipc_msg *m)
{
    echo_state *e = ctx;
    ipc_chan_send(e->chan, m); /* back as it came, fds included */
}

static void echo_err(void *ctx, int err)
{
    echo_state *e = ctx;
    e->done = err == IPC_E_PEER_CLOSED ? 1 : 2;
    ipc_loop_quit(e->loop);
}

static void echo_bad(void *ctx, int reason, uint32_t type, const char *name)
{
    (void)type;
    (void)name;
    echo_state *e = ctx;
    if (reason == IPC_E_BAD_HELLO)
        e->bad_hello = 1;
}

static void set_bufs(int fd, int size)
{
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
}

/* Echoes every message back over fd 3 until the peer closes. argv[1]: "small"
 * shrinks the socket buffers. Exit 0 on a clean EOF, 3 on a bad hello. */
static int helper_echo(int argc, char **argv)
{
    echo_state e = {0};
    static const ipc_listener l = {echo_msg, NULL, echo_err, echo_bad};
    if (argc > 1 && strcmp(argv[1], "small") == 0)
        set_bufs(IPC_CHILD_CHANNEL_FD, 4096);
    if (ipc_loop_new(&e.loop) != 0)
        return 10;
    ipc_loop_run_once(e.loop, 0);
    ipc_chan_opts o = {IPC_CHAN_CLIENT, NULL, IPC_CHILD_CHANNEL_FD, &l, &e, &test_limits};
    if (ipc_chan_create(&e.chan, &o) != 0)
        return 11;
    if (ipc_chan_connect(e.chan, e.loop) != 0)
        return 12;
    ipc_loop_run(e.loop);
    ipc_chan_free(e.chan);
    ipc_loop_free(e.loop);
    if (e.bad_hello)
        return 3;
    return e.done == 1 ? 0 : 13;
}

/* Sends argv[1] messages then exits (EOF for the parent). */
static int helper_send_then_exit(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 10;
    ipc_loop *loop;
    ipc_chan *ch;
    if (ipc_loop_new(&loop) != 0)
        return 10;
    ipc_loop_run_once(loop, 0);
    ipc_chan_opts o = {IPC_CHAN_CLIENT, NULL, IPC_CHILD_CHANNEL_FD, NULL, NULL, &test_limits};
    if (ipc_chan_create(&ch, &o) != 0)
        return 11;
    /* Queued before connect: one batch, so it all fits in the socket even
     * though the parent reads nothing until we are gone. */
    for (int i = 0; i < n; i++)
        ipc_chan_send(ch, data_msg(T_DATA, i));
    if (ipc_chan_connect(ch, loop) != 0)
        return 12;
    /* Flush: wait until everything went to the kernel. */
    ipc_chan_stats st;
    for (;;) {
        ipc_chan_get_stats(ch, &st);
        if (st.msgs_sent == (uint64_t)n + 1)
            break;
        ipc_loop_run_once(loop, 10);
    }
    ipc_chan_free(ch);
    ipc_loop_free(loop);
    return 0;
}

static void put32(uint8_t *b, uint32_t v)
{
    b[0] = (uint8_t)v;
    b[1] = (uint8_t)(v >> 8);
    b[2] = (uint8_t)(v >> 16);
    b[3] = (uint8_t)(v >> 24);
}

static size_t raw_header(uint8_t *b, uint32_t size, uint32_t type, int32_t rid, uint32_t flags,
                         uint32_t nfds, uint32_t txn)
{
    put32(b, size);
    put32(b + 4, type);
    put32(b + 8, (uint32_t)rid);
    put32(b + 12, flags);
    put32(b + 16, nfds);
    put32(b + 20, txn);
    return 24;
}

static size_t raw_hello(uint8_t *b, int32_t pid)
{
    size_t n = raw_header(b, 4, IPC_MSG_HELLO, IPC_ROUTING_NONE, 0, 0, 0);
    put32(b + n, (uint32_t)pid);
    return n + 4;
}

static size_t raw_data(uint8_t *b, int32_t v)
{
    size_t n = raw_header(b, 4, T_DATA, IPC_ROUTING_CONTROL, 0, 0, 0);
    put32(b + n, (uint32_t)v);
    return n + 4;
}

static int send_with_fds(int sock, const void *buf, size_t len, const int *fds, int nfds)
{
    struct iovec iov = {(void *)buf, len};
    union {
        struct cmsghdr a;
        char b[CMSG_SPACE(300 * sizeof(int))];
    } ctl;
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    if (nfds) {
        mh.msg_control = ctl.b;
        mh.msg_controllen = CMSG_SPACE((size_t)nfds * sizeof(int));
        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN((size_t)nfds * sizeof(int));
        memcpy(CMSG_DATA(cm), fds, (size_t)nfds * sizeof(int));
    }
    return sendmsg(sock, &mh, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -1;
}

/* Writes a hello, one good message, then the malformed frame named argv[1]
 * straight into fd 3; then waits for the parent to close (or closes first
 * for the truncation cases). */
static int helper_raw(int argc, char **argv)
{
    if (argc < 2)
        return 20;
    const char *what = argv[1];
    int s = IPC_CHILD_CHANNEL_FD;
    uint8_t b[256];
    size_t n = raw_hello(b, getpid());
    n += raw_data(b + n, 7);
    int keep_open = 1;
    int nfds = 0;
    int fds[300];
    if (strcmp(what, "oversized") == 0) {
        n += raw_header(b + n, 64u << 20, T_DATA, IPC_ROUTING_CONTROL, 0, 0, 0);
    } else if (strcmp(what, "unaligned") == 0) {
        n += raw_header(b + n, 6, T_DATA, IPC_ROUTING_CONTROL, 0, 0, 0);
    } else if (strcmp(what, "lying_length") == 0) {
        n += raw_header(b + n, 64, T_DATA, IPC_ROUTING_CONTROL, 0, 0, 0);
        memset(b + n, 0, 8);
        n += 8;
        keep_open = 0;
    } else if (strcmp(what, "bad_flags") == 0) {
        n += raw_header(b + n, 0, T_DATA, IPC_ROUTING_CONTROL, 0x80, 0, 0);
    } else if (strcmp(what, "sync_without_txn") == 0) {
        n += raw_header(b + n, 0, T_DATA, IPC_ROUTING_CONTROL, IPC_MSG_SYNC, 0, 0);
    } else if (strcmp(what, "fd_count") == 0) {
        /* Claims 3 fds, carries 2. */
        n += raw_header(b + n, 0, T_DATA, IPC_ROUTING_CONTROL, 0, 3, 0);
        nfds = 2;
    } else if (strcmp(what, "extra_fds") == 0) {
        /* Claims none, carries 2; the stream ends there. */
        n += raw_header(b + n, 0, T_DATA, IPC_ROUTING_CONTROL, 0, 0, 0);
        nfds = 2;
        keep_open = 0;
    } else if (strcmp(what, "too_many_fds") == 0) {
        n += raw_header(b + n, 0, T_DATA, IPC_ROUTING_CONTROL, 0, 5000, 0);
    } else if (strcmp(what, "ctrunc") == 0) {
        n += raw_data(b + n, 8);
        nfds = 253; /* the kernel's most, more than a receiver takes at once */
    } else if (strcmp(what, "unknown_type") == 0) {
        n += raw_header(b + n, 0, T_UNKNOWN, IPC_ROUTING_CONTROL, 0, 0, 0);
    } else if (strcmp(what, "truncated_header") == 0) {
        n += raw_header(b + n, 0, T_DATA, IPC_ROUTING_CONTROL, 0, 0, 0) - 14;
        keep_open = 0;
    } else if (strcmp(what, "missing_hello") == 0) {
        n = raw_data(b, 1);
    } else if (strcmp(what, "bad_hello") == 0) {
        n = raw_hello(b, 1); /* SO_PEERCRED says otherwise */
    } else {
        return 21;
    }
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    for (int i = 0; i < nfds; i++)
        fds[i] = devnull;
    if (nfds) {
        /* The good part first, then the bad frame with its fds. */
        size_t good = raw_hello(b, getpid()) + 28;
        if (write(s, b, good) != (ssize_t)good)
            return 22;
        if (send_with_fds(s, b + good, n - good, fds, nfds) != 0)
            return 23;
    } else if (write(s, b, n) != (ssize_t)n) {
        return 24;
    }
    close(devnull);
    if (keep_open) {
        char buf[4096];
        while (read(s, buf, sizeof buf) > 0)
            ;
    }
    return 0;
}

/* Acts as the parent side of a raw stream: writes a hello claiming argv[1]'s
 * pid, then a data message; reads until EOF. */
static int helper_raw_hello(int argc, char **argv)
{
    int32_t pid = argc > 1 ? atoi(argv[1]) : 1;
    uint8_t b[64];
    size_t n = raw_hello(b, pid);
    n += raw_data(b + n, 1);
    if (write(IPC_CHILD_CHANNEL_FD, b, n) != (ssize_t)n)
        return 20;
    char buf[4096];
    while (read(IPC_CHILD_CHANNEL_FD, buf, sizeof buf) > 0)
        ;
    return 0;
}

static const rig_helper helpers[] = {
    {"echo", helper_echo}, {"send_then_exit", helper_send_then_exit},
    {"raw", helper_raw},   {"raw_hello", helper_raw_hello},
    {NULL, NULL},
};

/* ---- tests ---- */

START_TEST(chan_map_register_take_clear)
{
    rig_fd_mark();
    int p[2];
    ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
    ck_assert_int_eq(ipc_chan_map_register("a", p[0]), 0);
    ck_assert_int_eq(ipc_chan_map_register("a", p[1]), IPC_E_EXISTS);
    ck_assert_int_eq(ipc_chan_map_register("b", p[1]), 0);
    ck_assert_int_eq(ipc_chan_map_take("a"), p[0]);
    ck_assert_int_eq(ipc_chan_map_take("a"), IPC_E_NO_CHANNEL);
    close(p[0]);
    ipc_chan_map_clear(); /* closes b's fd */
    ck_assert_int_eq(ipc_chan_map_take("b"), IPC_E_NO_CHANNEL);
    ck_assert_int_eq(fcntl(p[1], F_GETFD), -1);
    ipc_chan *ch;
    ipc_chan_opts o = {IPC_CHAN_CLIENT, "nobody", -1, NULL, NULL, NULL};
    ck_assert_int_eq(ipc_chan_create(&ch, &o), IPC_E_NO_CHANNEL);
    rig_assert_no_leaks();
}
END_TEST

static int fake_pairs;
static int fake_factory(const char *id, int fds[2], void *ctx)
{
    (void)ctx;
    if (id && strcmp(id, "refuse") == 0)
        return -EPERM;
    fake_pairs++;
    return socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) ? -errno : 0;
}

START_TEST(chan_pair_factory_is_used)
{
    rig_fd_mark();
    ipc_set_pair_factory(fake_factory, NULL);
    int fds[2];
    ck_assert_int_eq(ipc_socketpair("x", fds), 0);
    ck_assert_int_eq(fake_pairs, 1);
    close(fds[0]);
    close(fds[1]);
    ipc_chan *ch;
    ipc_chan_opts o = {IPC_CHAN_SERVER, "refuse", -1, NULL, NULL, NULL};
    ck_assert_int_eq(ipc_chan_create(&ch, &o), -EPERM);
    o.channel_id = NULL;
    ck_assert_int_eq(ipc_chan_create(&ch, &o), 0);
    ck_assert_int_eq(fake_pairs, 2);
    ipc_chan_free(ch);
    ipc_set_pair_factory(NULL, NULL);
    rig_assert_no_leaks();
}
END_TEST

START_TEST(chan_server_client_by_channel_id)
{
    rig_fd_mark();
    ipc_loop *loop;
    ck_assert_int_eq(ipc_loop_new(&loop), 0);
    ipc_loop_run_once(loop, 0);
    static coll s, c;
    memset(&s, 0, sizeof s);
    memset(&c, 0, sizeof c);
    ipc_chan *srv = open_chan(IPC_CHAN_SERVER, "chan.test.1", -1, &s, NULL);
    ck_assert_int_eq(ipc_chan_client_fd(srv), -1); /* the map holds it */
    ipc_chan *cli = open_chan(IPC_CHAN_CLIENT, "chan.test.1", -1, &c, NULL);
    ck_assert_int_eq(ipc_chan_map_take("chan.test.1"), IPC_E_NO_CHANNEL);
    /* Sent before connect: queued behind the hello. */
    ck_assert_int_eq(ipc_chan_send(srv, data_msg(T_DATA, 1)), 0);
    ck_assert_int_eq(ipc_chan_connect(srv, loop), 0);
    ck_assert_int_eq(ipc_chan_connect(cli, loop), 0);
    ck_assert_int_eq(ipc_chan_send(srv, data_msg(T_DATA, 2)), 0);
    ck_assert_int_eq(ipc_chan_send(cli, data_msg(T_DATA, 3)), 0);
    ck_assert_int_eq(pump_until(loop, &c.nmsgs, 2), 0);
    ck_assert_int_eq(pump_until(loop, &s.nmsgs, 1), 0);
    ck_assert_int_eq(c.connected, 1);
    ck_assert_int_eq(s.connected, 1);
    ck_assert_int_eq(c.peer, getpid());
    ck_assert_int_eq(ipc_chan_peer_pid(srv), getpid());
    ck_assert_int_eq(msg_i32(c.msgs[0]), 1);
    ck_assert_int_eq(msg_i32(c.msgs[1]), 2);
    ck_assert_int_eq(msg_i32(s.msgs[0]), 3);
    ck_assert_uint_eq(ipc_msg_type(s.msgs[0]), T_DATA);
    ipc_chan_stats st;
    ipc_chan_get_stats(srv, &st);
    ck_assert_uint_eq(st.msgs_sent, 3); /* hello + 2 */
    ck_assert_uint_eq(st.msgs_received, 2);
    /* Closing the server ends the client with PEER_CLOSED, once. */
    ipc_chan_free(srv);
    ck_assert_int_eq(pump_until(loop, &c.errors, 1), 0);
    ck_assert_int_eq(c.err, IPC_E_PEER_CLOSED);
    ck_assert_int_eq(s.errors, 0);
    ck_assert_int_eq(ipc_chan_send(cli, data_msg(T_DATA, 4)), IPC_E_CLOSED);
    ipc_chan_free(cli);
    coll_free(&s);
    coll_free(&c);
    ipc_loop_free(loop);
    rig_assert_no_leaks();
}
END_TEST

START_TEST(chan_server_closes_unclaimed_client_end)
{
    rig_fd_mark();
    static coll s;
    memset(&s, 0, sizeof s);
    ipc_chan *srv = open_chan(IPC_CHAN_SERVER, "chan.test.2", -1, &s, NULL);
    ipc_chan_free(srv); /* never connected: any thread may free it */
    ck_assert_int_eq(ipc_chan_map_take("chan.test.2"), IPC_E_NO_CHANNEL);
    srv = open_chan(IPC_CHAN_SERVER, NULL, -1, &s, NULL);
    ck_assert_int_ge(ipc_chan_client_fd(srv), 0);
    int fd = ipc_chan_take_client_fd(srv);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(ipc_chan_take_client_fd(srv), -1);
    ipc_chan_free(srv);
    close(fd);
    rig_assert_no_leaks();
}
END_TEST

/* Starts the echo helper on a fresh pair; returns the parent's channel. */
static ipc_chan *start_echo(ipc_loop *loop, coll *c, pid_t *pid, const char *mode)
{
    ipc_chan *ch = open_chan(IPC_CHAN_SERVER, NULL, -1, c, NULL);
    int cfd = ipc_chan_take_client_fd(ch);
    const char *args[] = {mode, NULL};
    *pid = rig_spawn_helper("echo", cfd, mode ? args : NULL);
    ck_assert_int_gt(*pid, 0);
    close(cfd);
    ck_assert_int_eq(ipc_chan_connect(ch, loop), 0);
    return ch;
}

START_TEST(chan_cross_process_echo_by_fd)
{
    rig_fd_mark();
    ipc_loop *loop;
    ck_assert_int_eq(ipc_loop_new(&loop), 0);
    ipc_loop_run_once(loop, 0);
    static coll c;
    memset(&c, 0, sizeof c);
    pid_t pid;
    ipc_chan *ch = start_echo(loop, &c, &pid, NULL);
    for (int i = 0; i < 1000; i++)
        ck_assert_int_eq(ipc_chan_send(ch, data_msg(T_DATA, i)), 0);
    ck_assert_int_eq(pump_until(loop, &c.nmsgs, 1000), 0);
    for (int i = 0; i < 1000; i++)
        ck_assert_int_eq(msg_i32(c.msgs[i]), i);
    ck_assert_int_eq(c.connected, 1);
    ck_assert_int_eq(c.peer, pid);
    ipc_chan_free(ch);
    ck_assert_int_eq(rig_wait(pid), 0);
    coll_free(&c);
    ipc_loop_free(loop);
    rig_assert_no_leaks();
}
END_TEST

START_TEST(chan_500_fds_in_one_message_between_processes)
{
    rig_fd_mark();
    ipc_loop *loop;
    ck_assert_int_eq(ipc_loop_new(&loop), 0);
    ipc_loop_run_once(loop, 0);
    static coll c;
    memset(&c, 0, sizeof c);
    pid_t pid;
    ipc_chan *ch = start_echo(loop, &c, &pid, NULL);
    int p[2];
    ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
    struct stat ref;
    ck_assert_int_eq(fstat(p[1], &ref), 0);
    ipc_msg *m = ipc_msg_new(IPC_ROUTING_CONTROL, T_FDS, 0);
    for (int i = 0; i < 500; i++)
        ck_assert_int_eq(ipc_msg_write_fd(m, fcntl(p[1], F_DUPFD_CLOEXEC, 0)), 0);
    ipc_pickle_write_i32(ipc_msg_writer(m), 500);
    ck_assert_int_eq(ipc_chan_send(ch, m), 0);
    ck_assert_int_eq(ipc_chan_send(ch, data_msg(T_DATA, 1)), 0);
    ck_assert_int_eq(pump_until(loop, &c.nmsgs, 2), 0);
    ipc_msg *r = c.msgs[0];
    ck_assert_uint_eq(ipc_msg_type(r), T_FDS);
    ck_assert_uint_eq(ipc_msg_num_fds(r), 500);
    for (size_t i = 0; i < 500; i++) {
        struct stat st;
        ck_assert_int_eq(fstat(ipc_msg_fd(r, i), &st), 0);
        ck_assert(st.st_ino == ref.st_ino && st.st_dev == ref.st_dev);
        ck_assert_int_eq(fcntl(ipc_msg_fd(r, i), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    }
    ck_assert_int_eq(msg_i32(c.msgs[1]), 1);
    ipc_chan_stats st;
    ipc_chan_get_stats(ch, &st);
    ck_assert_uint_eq(st.fds_sent, 500);
    ck_assert_uint_eq(st.fds_received, 500);
    ck_assert_uint_ge(st.writes, 3); /* hello, then 500 fds need two sendmsg */
    ipc_chan_free(ch);
    ck_assert_int_eq(rig_wait(pid), 0);
    coll_free(&c);
    close(p[0]);
    close(p[1]);
    ipc_loop_free(loop);
    rig_assert_no_leaks();
}
END_TEST

START_TEST(chan_partial_writes_tiny_buffers_large_messages)
{
    rig_fd_mark();
    ipc_loop *loop;
    ck_assert_int_eq(ipc_loop_new(&loop), 0);
    ipc_loop_run_once(loop, 0);
    static coll c;
    memset(&c, 0, sizeof c);
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    set_bufs(sv[0], 4096);
    set_bufs(sv[1], 4096);
    ipc_chan *ch = open_chan(IPC_CHAN_CLIENT, NULL, sv[0], &c, NULL);
    const char *args[] = {"small", NULL};
    pid_t pid = rig_spawn_helper("echo", sv[1], args);
    close(sv[1]);
    ck_assert_int_eq(ipc_chan_connect(ch, loop), 0);
    /* Sizes that straddle every boundary, through 4 KiB socket buffers. */
    static const size_t sizes[] = {700 * 1024, 4, 65536, 3 * 4096 + 4, 1, 300 * 1024};
    enum { N = sizeof sizes / sizeof sizes[0] };
    for (int i = 0; i < N; i++) {
        ipc_msg *m = ipc_msg_new(IPC_ROUTING_CONTROL, T_BIG, 0);
        size_t len = sizes[i];
        uint8_t *buf = malloc(len);
        for (size_t k = 0; k < len; k++)
            buf[k] = (uint8_t)(k * 31 + (size_t)i);
        ipc_pickle_write_bytes(ipc_msg_writer(m), buf, len);
        free(buf);
        ck_assert_int_eq(ipc_chan_send(ch, m), 0);
    }
    ck_assert_int_eq(pump_until(loop, &c.nmsgs, N), 0);
    for (int i = 0; i < N; i++) {
        ipc_pickle_iter it;
        const uint8_t *p;
        size_t len;
        ipc_msg_iter(c.msgs[i], &it);
        ck_assert_int_eq(ipc_pickle_read_bytes(&it, &p, &len), 0);
        ck_assert_uint_eq(len, sizes[i]);
        for (size_t k = 0; k < len; k++)
            if (p[k] != (uint8_t)(k * 31 + (size_t)i))
                ck_abort_msg("message %d byte %zu differs", i, k);
    }
    ipc_chan_stats st;
    ipc_chan_get_stats(ch, &st);
    ck_assert_uint_eq(st.msgs_sent, N + 1);
    ipc_chan_free(ch);
    ck_assert_int_eq(rig_wait(pid), 0);
    coll_free(&c);
    ipc_loop_free(loop);
    rig_assert_no_leaks();
}
END_TEST

START_TEST(chan_batches_queued_messages)
{
    rig_fd_mark();
    ipc_loop *loop;
    ck_assert_int_eq(ipc_loop_new(&loop), 0);
    ipc_loop_run_once(loop, 0);
    static coll s, c;
    memset(&s, 0, sizeof s);
    memset(&c, 0, sizeof c);
    ipc_chan *srv = open_chan(IPC_CHAN_SERVER, NULL, -1, &s, NULL);
    int cfd = ipc_chan_take_client_fd(srv);
    set_bufs(cfd, 4096);
    ipc_chan *cli = open_chan(IPC_CHAN_CLIENT, NULL, cfd, &c, NULL);
    /* The client is not reading yet: the socket fills and the rest queues. */
    ck_assert_int_eq(ipc_chan_connect(srv, loop), 0);
    enum { N = 3000 };
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(ipc_chan_send(srv, data_msg(T_DATA, i)), 0);
    ck_assert_int_eq(ipc_chan_connect(cli, loop), 0);
    ck_assert_int_eq(pump_until(loop, &c.nmsgs, N), 0);
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(msg_i32(c.msgs[i]), i);
    ipc_chan_stats st;
    ipc_chan_get_stats(srv, &st);
    ck_assert_uint_eq(st.msgs_sent, N + 1);
    ck_assert_uint_lt(st.writes, st.msgs_sent / 4);
    ipc_chan_get_stats(cli, &st);
    ck_assert_uint_eq(st.msgs_received, N + 1);
    ipc_chan_free(srv);
    ipc_chan_free(cli);
    coll_free(&s);
    coll_free(&c);
    ipc_loop_free(loop);
    rig_assert_no_leaks();
}
END_TEST

START_TEST(chan_eof_reported_once_after_messages)
{
    rig_fd_mark();
    ipc_loop *loop;
    ck_assert_int_eq(ipc_loop_new(&loop), 0);
    ipc_loop_run_once(loop, 0);
    static coll c;
    memset(&c, 0, sizeof c);
    ipc_chan *ch = open_chan(IPC_CHAN_SERVER, NULL, -1, &c, NULL);
    int cfd = ipc_chan_take_client_fd(ch);
    const char *args[] = {"500", NULL};
    pid_t pid = rig_spawn_helper("send_then_exit", cfd, args);
    close(cfd);
    ck_assert_int_eq(rig_wait(pid), 0); /* everything is in our socket now */
    ck_assert_int_eq(ipc_chan_connect(ch, loop), 0);
    ck_assert_int_eq(pump_until(loop, &c.errors, 1), 0);
    for (int i = 0; i < 20; i++)
        ipc_loop_run_once(loop, 0);
    ck_assert_int_eq(c.nmsgs, 500);
    for (int i = 0; i < 500; i++)
        ck_assert_int_eq(msg_i32(c.msgs[i]), i);
    ck_assert_int_eq(c.errors, 1);
    ck_assert_int_eq(c.err, IPC_E_PEER_CLOSED);
    ck_assert_int_eq(c.events_after_error, 0);
    ck_assert_int_eq(c.bad, 0);
    ck_assert_int_eq(ipc_chan_send(ch, data_msg(T_DATA, 1)), IPC_E_CLOSED);
    ipc_chan_free(ch);
    coll_free(&c);
    ipc_loop_free(loop);
    rig_assert_no_leaks();
}
END_TEST

/* Runs helper_raw with `what`; checks the classified error, that the good
 * message before it arrived, that a second channel is untouched, and fds. */
static void check_malformed(const char *what, int want, uint32_t want_type)
{
    rig_fd_mark();
    ipc_loop *loop;
    ck_assert_int_eq(ipc_loop_new(&loop), 0);
    ipc_loop_run_once(loop, 0);
    static coll c, o1, o2;
    memset(&c, 0, sizeof c);
    memset(&o1, 0, sizeof o1);
    memset(&o2, 0, sizeof o2);
    ipc_chan *other1 = open_chan(IPC_CHAN_SERVER, NULL, -1, &o1, NULL);
    ipc_chan *other2 = open_chan(IPC_CHAN_CLIENT, NULL, ipc_chan_take_client_fd(other1), &o2, NULL);
    ck_assert_int_eq(ipc_chan_connect(other1, loop), 0);
    ck_assert_int_eq(ipc_chan_connect(other2, loop), 0);

    ipc_chan *ch = open_chan(IPC_CHAN_SERVER, NULL, -1, &c, &typed_limits);
    int cfd = ipc_chan_take_client_fd(ch);
    const char *args[] = {what, NULL};
    pid_t pid = rig_spawn_helper("raw", cfd, args);
    close(cfd);
    ck_assert_int_eq(ipc_chan_connect(ch, loop), 0);
    ck_assert_int_eq(pump_until(loop, &c.errors, 1), 0);
    ck_assert_msg(c.bad == 1, "%s: %d bad-message reports", what, c.bad);
    ck_assert_msg(c.bad_reason == want, "%s: reason %s, want %s", what, ipc_errname(c.bad_reason),
                  ipc_errname(want));
    ck_assert_int_eq(c.err, want);
    ck_assert_int_eq(c.errors, 1);
    ck_assert_uint_eq(c.bad_type, want_type);
    ck_assert(c.bad_name[0] != '\0');
    if (want != IPC_E_BAD_HELLO) {
        ck_assert_int_eq(c.connected, 1);
        ck_assert_int_ge(c.nmsgs, 1);
        ck_assert_int_eq(msg_i32(c.msgs[0]), 7);
    }
    ck_assert_int_eq(ipc_chan_send(ch, data_msg(T_DATA, 1)), IPC_E_CLOSED);
    /* The other channel still works. */
    ck_assert_int_eq(ipc_chan_send(other1, data_msg(T_DATA, 42)), 0);
    ck_assert_int_eq(pump_until(loop, &o2.nmsgs, 1), 0);
    ck_assert_int_eq(msg_i32(o2.msgs[0]), 42);
    ck_assert_int_eq(o1.errors + o2.errors, 0);
    ipc_chan_free(ch);
    ck_assert_int_eq(rig_wait(pid), 0);
    ipc_chan_free(other1);
    ipc_chan_free(other2);
    coll_free(&c);
    coll_free(&o2);
    ipc_loop_free(loop);
    rig_assert_no_leaks(); /* the fds the bad frames carried are closed */
}

START_TEST(chan_bad_oversized)
{
    check_malformed("oversized", IPC_E_BAD_SIZE, T_DATA);
}
END_TEST
START_TEST(chan_bad_unaligned_length)
{
    check_malformed("unaligned", IPC_E_BAD_SIZE, T_DATA);
}
END_TEST
START_TEST(chan_bad_lying_length)
{
    check_malformed("lying_length", IPC_E_TRUNCATED, T_DATA);
}
END_TEST
START_TEST(chan_bad_flags)
{
    check_malformed("bad_flags", IPC_E_BAD_FLAGS, T_DATA);
}
END_TEST
START_TEST(chan_bad_sync_without_txn)
{
    check_malformed("sync_without_txn", IPC_E_BAD_FLAGS, T_DATA);
}
END_TEST
START_TEST(chan_bad_fd_count)
{
    check_malformed("fd_count", IPC_E_FD_COUNT, T_DATA);
}
END_TEST
START_TEST(chan_bad_extra_fds)
{
    check_malformed("extra_fds", IPC_E_FD_COUNT, 0);
}
END_TEST
START_TEST(chan_bad_too_many_fds)
{
    check_malformed("too_many_fds", IPC_E_TOO_MANY_FDS, T_DATA);
}
END_TEST
START_TEST(chan_bad_ctrunc)
{
    check_malformed("ctrunc", IPC_E_CTRUNC, 0);
}
END_TEST
START_TEST(chan_bad_unknown_type)
{
    check_malformed("unknown_type", IPC_E_UNKNOWN_TYPE, T_UNKNOWN);
}
END_TEST
START_TEST(chan_bad_truncated_header)
{
    check_malformed("truncated_header", IPC_E_TRUNCATED, 0);
}
END_TEST
START_TEST(chan_bad_missing_hello)
{
    check_malformed("missing_hello", IPC_E_BAD_HELLO, T_DATA);
}
END_TEST

START_TEST(chan_hello_pid_checked_against_peercred)
{
    /* The child's SO_PEERCRED names us (we made the pair); a hello claiming
     * another pid is refused there. */
    rig_fd_mark();
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    pid_t pid = rig_spawn_helper("echo", sv[1], NULL);
    close(sv[1]);
    uint8_t b[64];
    size_t n = raw_hello(b, 1);
    ck_assert_int_eq(write(sv[0], b, n), (ssize_t)n);
    shutdown(sv[0], SHUT_WR);
    char buf[256];
    while (read(sv[0], buf, sizeof buf) > 0)
        ;
    close(sv[0]);
    ck_assert_int_eq(rig_wait(pid), 3);
    /* And a truthful one is accepted. */
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    pid = rig_spawn_helper("echo", sv[1], NULL);
    close(sv[1]);
    n = raw_hello(b, getpid());
    ck_assert_int_eq(write(sv[0], b, n), (ssize_t)n);
    shutdown(sv[0], SHUT_WR);
    while (read(sv[0], buf, sizeof buf) > 0)
        ;
    close(sv[0]);
    ck_assert_int_eq(rig_wait(pid), 0);
    rig_assert_no_leaks();
}
END_TEST

START_TEST(chan_default_limits_use_the_registry)
{
    rig_fd_mark();
    ipc_loop *loop;
    ck_assert_int_eq(ipc_loop_new(&loop), 0);
    ipc_loop_run_once(loop, 0);
    static coll c;
    memset(&c, 0, sizeof c);
    ipc_chan_opts o = {IPC_CHAN_SERVER, NULL, -1, &coll_listener, &c, NULL};
    ipc_chan *ch;
    ck_assert_int_eq(ipc_chan_create(&ch, &o), 0);
    c.chan = ch;
    int peer = ipc_chan_take_client_fd(ch);
    uint8_t b[64];
    size_t n = raw_hello(b, getpid());
    uint32_t type = IPC_MSG_TYPE(0x7ffe, 0x33);
    ck_assert(!ipc_msg_type_known(type, NULL));
    n += raw_header(b + n, 0, type, IPC_ROUTING_CONTROL, 0, 0, 0);
    ck_assert_int_eq(write(peer, b, n), (ssize_t)n);
    ck_assert_int_eq(ipc_chan_connect(ch, loop), 0);
    ck_assert_int_eq(pump_until(loop, &c.errors, 1), 0);
    ck_assert_int_eq(c.connected, 1); /* the hello is always known */
    ck_assert_int_eq(c.bad, 1);
    ck_assert_int_eq(c.bad_reason, IPC_E_UNKNOWN_TYPE);
    ck_assert_uint_eq(c.bad_type, type);
    char want[IPC_MSG_NAME_MAX];
    ck_assert_str_eq(c.bad_name, ipc_msg_type_name(type, 0, want, sizeof want));
    ipc_chan_free(ch);
    close(peer);
    ipc_loop_free(loop);
    rig_assert_no_leaks();
}
END_TEST

static int close_in_cb_count;
static void close_in_msg(void *ctx, ipc_msg *m)
{
    coll *c = ctx;
    close_in_cb_count++;
    ipc_msg_free(m);
    ipc_chan_close(c->chan);
}

START_TEST(chan_close_from_callback_stops_delivery)
{
    rig_fd_mark();
    ipc_loop *loop;
    ck_assert_int_eq(ipc_loop_new(&loop), 0);
    ipc_loop_run_once(loop, 0);
    static coll s, c;
    memset(&s, 0, sizeof s);
    memset(&c, 0, sizeof c);
    static const ipc_listener l = {close_in_msg, NULL, c_err, c_bad};
    ipc_chan *srv = open_chan(IPC_CHAN_SERVER, NULL, -1, &s, NULL);
    ipc_chan_opts o = {IPC_CHAN_CLIENT, NULL, ipc_chan_take_client_fd(srv), &l, &c, &test_limits};
    ipc_chan *cli;
    ck_assert_int_eq(ipc_chan_create(&cli, &o), 0);
    c.chan = cli;
    for (int i = 0; i < 10; i++)
        ipc_chan_send(srv, data_msg(T_DATA, i));
    ck_assert_int_eq(ipc_chan_connect(srv, loop), 0);
    ck_assert_int_eq(ipc_chan_connect(cli, loop), 0);
    ck_assert_int_eq(pump_until(loop, &close_in_cb_count, 1), 0);
    for (int i = 0; i < 10; i++)
        ipc_loop_run_once(loop, 5);
    ck_assert_int_eq(close_in_cb_count, 1);
    ck_assert_int_eq(c.errors, 0);
    ck_assert_int_eq(pump_until(loop, &s.errors, 1), 0);
    ck_assert_int_eq(s.err, IPC_E_PEER_CLOSED);
    ipc_chan_free(cli);
    ipc_chan_free(srv);
    ipc_loop_free(loop);
    rig_assert_no_leaks();
}
END_TEST

static Suite *chan_suite(void)
{
    Suite *s = suite_create("chan");
    RIG_TCASE(s, "chan_map_register_take_clear", chan_map_register_take_clear, 10);
    RIG_TCASE(s, "chan_pair_factory_is_used", chan_pair_factory_is_used, 10);
    RIG_TCASE(s, "chan_server_client_by_channel_id", chan_server_client_by_channel_id, 20);
    RIG_TCASE(s, "chan_server_closes_unclaimed_client_end", chan_server_closes_unclaimed_client_end,
              10);
    RIG_TCASE(s, "chan_cross_process_echo_by_fd", chan_cross_process_echo_by_fd, 30);
    RIG_TCASE(s, "chan_500_fds_in_one_message_between_processes",
              chan_500_fds_in_one_message_between_processes, 30);
    RIG_TCASE(s, "chan_partial_writes_tiny_buffers_large_messages",
              chan_partial_writes_tiny_buffers_large_messages, 60);
    RIG_TCASE(s, "chan_batches_queued_messages", chan_batches_queued_messages, 30);
    RIG_TCASE(s, "chan_eof_reported_once_after_messages", chan_eof_reported_once_after_messages,
              30);
    RIG_TCASE(s, "chan_bad_oversized", chan_bad_oversized, 30);
    RIG_TCASE(s, "chan_bad_unaligned_length", chan_bad_unaligned_length, 30);
    RIG_TCASE(s, "chan_bad_lying_length", chan_bad_lying_length, 30);
    RIG_TCASE(s, "chan_bad_flags", chan_bad_flags, 30);
    RIG_TCASE(s, "chan_bad_sync_without_txn", chan_bad_sync_without_txn, 30);
    RIG_TCASE(s, "chan_bad_fd_count", chan_bad_fd_count, 30);
    RIG_TCASE(s, "chan_bad_extra_fds", chan_bad_extra_fds, 30);
    RIG_TCASE(s, "chan_bad_too_many_fds", chan_bad_too_many_fds, 30);
    RIG_TCASE(s, "chan_bad_ctrunc", chan_bad_ctrunc, 30);
    RIG_TCASE(s, "chan_bad_unknown_type", chan_bad_unknown_type, 30);
    RIG_TCASE(s, "chan_bad_truncated_header", chan_bad_truncated_header, 30);
    RIG_TCASE(s, "chan_bad_missing_hello", chan_bad_missing_hello, 30);
    RIG_TCASE(s, "chan_hello_pid_checked_against_peercred", chan_hello_pid_checked_against_peercred,
              30);
    RIG_TCASE(s, "chan_default_limits_use_the_registry", chan_default_limits_use_the_registry, 20);
    RIG_TCASE(s, "chan_close_from_callback_stops_delivery", chan_close_from_callback_stops_delivery,
              20);
    return s;
}

int main(int argc, char **argv)
{
    return rig_test_main(argc, argv, chan_suite, helpers);
}
