/* Unit tests for the ChannelProxy: sends from other threads, order under load,
 * batching, filters consuming and replying on the IO thread, close, errors,
 * and an IO thread parked across fork() that then does real channel I/O. */
#include "testutil.h"

#include "ipc/errors.h"
#include "ipc/proxy.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#if defined(__SANITIZE_THREAD__)
/* The fork test starts the IO thread again in the child of a threaded
 * process, which is what restart_after_fork is for. */
const char *__tsan_default_options(void);
const char *__tsan_default_options(void)
{
    return "die_after_fork=0";
}
#endif

#define T_DATA IPC_MSG_TYPE(0x42, 1)
#define T_PING IPC_MSG_TYPE(0x42, 2)
#define T_PONG IPC_MSG_TYPE(0x42, 3)
#define T_QUIT IPC_MSG_TYPE(0x42, 4)

static const ipc_frame_limits test_limits = {1u << 20, IPC_MSG_MAX_FDS, NULL, NULL};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int pump_until(ipc_loop *loop, const atomic_int *flag, int want)
{
    double end = now_s() + 30;
    while (atomic_load(flag) < want) {
        if (now_s() > end)
            return -1;
        ipc_loop_run_once(loop, 50);
    }
    return 0;
}

static ipc_msg *msg2(uint32_t type, int32_t a, int32_t b)
{
    ipc_msg *m = ipc_msg_new(IPC_ROUTING_CONTROL, type, 0);
    ipc_pickle_write_i32(ipc_msg_writer(m), a);
    ipc_pickle_write_i32(ipc_msg_writer(m), b);
    return m;
}

static void read2(const ipc_msg *m, int32_t *a, int32_t *b)
{
    ipc_pickle_iter it;
    ipc_msg_iter(m, &it);
    *a = *b = -1;
    ipc_pickle_read_i32(&it, a);
    ipc_pickle_read_i32(&it, b);
}

/* ---- the echo helper: a proxy on fd 3 echoing on its listener thread ---- */

typedef struct pecho {
    ipc_loop *loop;
    ipc_proxy *proxy;
    int err;
    uint64_t echoed;
} pecho;

static void pecho_msg(void *ctx, ipc_msg *m)
{
    pecho *e = ctx;
    if (ipc_msg_type(m) == T_QUIT) {
        ipc_msg_free(m);
        /* Closing drops what is still queued: let the echoes go out first. */
        ipc_chan_stats st;
        for (;;) {
            ipc_proxy_get_stats(e->proxy, &st);
            if (st.msgs_sent >= e->echoed + 1)
                break;
            usleep(1000);
        }
        ipc_loop_quit(e->loop);
        return;
    }
    e->echoed++;
    ipc_proxy_send(e->proxy, m);
}

static void pecho_err(void *ctx, int err)
{
    pecho *e = ctx;
    e->err = err;
    ipc_loop_quit(e->loop);
}

static int run_pecho(int fd)
{
    static const ipc_listener l = {pecho_msg, NULL, pecho_err, NULL};
    pecho e = {0};
    if (ipc_loop_new(&e.loop) != 0)
        return 10;
    ipc_proxy_opts o = {IPC_CHAN_CLIENT, NULL, fd,          IPC_SIDE_CHILD, &l, &e,
                        e.loop,          NULL, &test_limits};
    if (ipc_proxy_create(&e.proxy, &o) != 0)
        return 11;
    ipc_loop_run(e.loop);
    ipc_proxy_free(e.proxy);
    ipc_loop_free(e.loop);
    return e.err == IPC_E_PEER_CLOSED || e.err == 0 ? 0 : 12;
}

static int helper_pecho(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return run_pecho(IPC_CHILD_CHANNEL_FD);
}

static const rig_helper helpers[] = {{"pecho", helper_pecho}, {NULL, NULL}};

/* ---- a recording listener on the test thread ---- */

#define SENDERS    4
#define PER_SENDER 5000

typedef struct rec {
    atomic_int nmsgs;
    atomic_int connected;
    atomic_int errors;
    int err;
    int last[SENDERS];
    int order_ok;
    int on_listener_thread;
    ipc_loop *loop;
    ipc_msg *keep[64];
    int nkeep;
} rec;

static void rec_msg(void *ctx, ipc_msg *m)
{
    rec *r = ctx;
    if (ipc_loop_current() != r->loop)
        r->on_listener_thread = 0;
    int32_t a, b;
    read2(m, &a, &b);
    if (a >= 0 && a < SENDERS) {
        if (b != r->last[a] + 1)
            r->order_ok = 0;
        r->last[a] = b;
    }
    if (r->nkeep < 64)
        r->keep[r->nkeep++] = m;
    else
        ipc_msg_free(m);
    atomic_fetch_add(&r->nmsgs, 1);
}

static void rec_conn(void *ctx, pid_t pid)
{
    (void)pid;
    rec *r = ctx;
    atomic_fetch_add(&r->connected, 1);
}

static void rec_err(void *ctx, int err)
{
    rec *r = ctx;
    r->err = err;
    atomic_fetch_add(&r->errors, 1);
}

static const ipc_listener rec_listener = {rec_msg, rec_conn, rec_err, NULL};

static void rec_init(rec *r, ipc_loop *loop)
{
    memset(r, 0, sizeof *r);
    r->loop = loop;
    r->order_ok = 1;
    r->on_listener_thread = 1;
    for (int i = 0; i < SENDERS; i++)
        r->last[i] = -1;
}

static void rec_free(rec *r)
{
    for (int i = 0; i < r->nkeep; i++)
        ipc_msg_free(r->keep[i]);
    r->nkeep = 0;
}

static ipc_proxy *start_pecho(ipc_loop *loop, rec *r, pid_t *pid)
{
    ipc_proxy_opts o = {IPC_CHAN_SERVER, NULL, -1, IPC_SIDE_PARENT, &rec_listener, r, loop, NULL,
                        &test_limits};
    ipc_proxy *p;
    ck_assert_int_eq(ipc_proxy_create(&p, &o), 0);
    int cfd = ipc_proxy_take_client_fd(p);
    ck_assert_int_ge(cfd, 0);
    *pid = rig_spawn_helper("pecho", cfd, NULL);
    close(cfd);
    ck_assert_int_gt(*pid, 0);
    return p;
}

typedef struct sender_arg {
    ipc_proxy *p;
    int id;
    int n;
} sender_arg;

static void *sender_main(void *arg)
{
    sender_arg *s = arg;
    for (int i = 0; i < s->n; i++)
        if (ipc_proxy_send(s->p, msg2(T_DATA, s->id, i)) != 0)
            return (void *)1;
    return NULL;
}

START_TEST(proxy_send_from_threads_order_per_thread)
{
    ck_assert_ptr_nonnull(ipc_iothread_default()); /* its fds stay open */
    rig_fd_mark();
    ipc_loop *loop;
    ck_assert_int_eq(ipc_loop_new(&loop), 0);
    static rec r;
    rec_init(&r, loop);
    pid_t pid;
    ipc_proxy *p = start_pecho(loop, &r, &pid);
    pthread_t th[SENDERS];
    sender_arg sa[SENDERS];
    for (int i = 0; i < SENDERS; i++) {
        sa[i] = (sender_arg){p, i, PER_SENDER};
        ck_assert_int_eq(pthread_create(&th[i], NULL, sender_main, &sa[i]), 0);
    }
    for (int i = 0; i < SENDERS; i++) {
        void *ret;
        pthread_join(th[i], &ret);
        ck_assert_ptr_null(ret);
    }
    ck_assert_int_eq(pump_until(loop, &r.nmsgs, SENDERS * PER_SENDER), 0);
    ck_assert(r.order_ok);
    ck_assert(r.on_listener_thread);
    ck_assert_int_eq(atomic_load(&r.connected), 1);
    ck_assert_int_eq(ipc_proxy_peer_pid(p), pid);
    ipc_chan_stats st;
    ipc_proxy_get_stats(p, &st);
    ck_assert_uint_eq(st.msgs_sent, SENDERS * PER_SENDER + 1);
    ck_assert_uint_eq(st.msgs_received, SENDERS * PER_SENDER + 1);
    ipc_proxy_send(p, msg2(T_QUIT, 0, 0));
    ck_assert_int_eq(rig_wait(pid), 0);
    ipc_proxy_free(p);
    rec_free(&r);
    ipc_loop_free(loop);
    rig_assert_no_leaks();
}
END_TEST

START_TEST(proxy_burst_is_batched_and_ordered)
{
    ck_assert_ptr_nonnull(ipc_iothread_default()); /* its fds stay open */
    rig_fd_mark();
    ipc_loop *loop;
    ck_assert_int_eq(ipc_loop_new(&loop), 0);
    static rec r, peer;
    rec_init(&r, loop);
    rec_init(&peer, loop);
    ipc_proxy_opts o = {IPC_CHAN_SERVER, NULL, -1, IPC_SIDE_PARENT, &rec_listener, &r, loop, NULL,
                        &test_limits};
    ipc_proxy *a, *b;
    ck_assert_int_eq(ipc_proxy_create(&a, &o), 0);
    o.mode = IPC_CHAN_CLIENT;
    o.fd = ipc_proxy_take_client_fd(a);
    o.listener_ctx = &peer;
    o.side = IPC_SIDE_CHILD;
    ck_assert_int_eq(ipc_proxy_create(&b, &o), 0);
    enum { N = 50000 };
    sender_arg sa = {a, 0, N};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, sender_main, &sa), 0);
    ck_assert_int_eq(pump_until(loop, &peer.nmsgs, N), 0);
    pthread_join(th, NULL);
    ck_assert(peer.order_ok);
    ck_assert_int_eq(peer.last[0], N - 1);
    /* The peer may read the last bytes before the writer has counted them. */
    ck_assert_int_eq(ipc_proxy_flush(a, 10000), 0);
    ipc_chan_stats st;
    ipc_proxy_get_stats(a, &st);
    ck_assert_uint_eq(st.msgs_sent, N + 1);
    ck_assert_uint_lt(st.writes, st.msgs_sent);
    ipc_proxy_free(a);
    ck_assert_int_eq(pump_until(loop, &peer.errors, 1), 0);
    ck_assert_int_eq(peer.err, IPC_E_PEER_CLOSED);
    ck_assert_int_eq(atomic_load(&r.errors), 0);
    ipc_proxy_free(b);
    rec_free(&r);
    rec_free(&peer);
    ipc_loop_free(loop);
    rig_assert_no_leaks();
}
END_TEST

/* ---- filters ---- */

typedef struct pong_filter {
    ipc_loop *io_loop;
    atomic_int added, removed, consumed, errors, wrong_thread;
    ipc_proxy *added_with;
} pong_filter;

static int pf_message(void *ctx, ipc_proxy *p, ipc_msg *m)
{
    pong_filter *f = ctx;
    if (ipc_loop_current() != f->io_loop)
        atomic_fetch_add(&f->wrong_thread, 1);
    if (ipc_msg_type(m) != T_PING)
        return 0;
    int32_t a, b;
    read2(m, &a, &b);
    ipc_msg_free(m);
    atomic_fetch_add(&f->consumed, 1);
    ipc_proxy_send(p, msg2(T_PONG, a, b));
    return 1;
}

static void pf_added(void *ctx, ipc_proxy *p)
{
    pong_filter *f = ctx;
    f->added_with = p;
    if (ipc_loop_current() != f->io_loop)
        atomic_fetch_add(&f->wrong_thread, 1);
    atomic_fetch_add(&f->added, 1);
}

static void pf_removed(void *ctx)
{
    pong_filter *f = ctx;
    atomic_fetch_add(&f->removed, 1);
}

static void pf_error(void *ctx, int err)
{
    (void)err;
    pong_filter *f = ctx;
    atomic_fetch_add(&f->errors, 1);
}

typedef struct pong_count {
    atomic_int pongs;
    atomic_int data;
    int order_ok;
    int next;
} pong_count;

static void pc_msg(void *ctx, ipc_msg *m)
{
    pong_count *c = ctx;
    int32_t a, b;
    read2(m, &a, &b);
    if (ipc_msg_type(m) == T_PONG) {
        if (b != c->next)
            c->order_ok = 0;
        c->next++;
        atomic_fetch_add(&c->pongs, 1);
    } else {
        atomic_fetch_add(&c->data, 1);
    }
    ipc_msg_free(m);
}

START_TEST(proxy_filter_consumes_and_replies_on_io_thread)
{
    ck_assert_ptr_nonnull(ipc_iothread_default()); /* its fds stay open */
    rig_fd_mark();
    ipc_loop *loop;
    ck_assert_int_eq(ipc_loop_new(&loop), 0);
    ipc_iothread *io;
    ck_assert_int_eq(ipc_iothread_start(&io), 0);
    static pong_filter pf;
    memset(&pf, 0, sizeof pf);
    pf.io_loop = ipc_iothread_loop(io);
    static pong_count pc;
    memset(&pc, 0, sizeof pc);
    pc.order_ok = 1;
    static rec srv_rec;
    rec_init(&srv_rec, loop);
    static const ipc_listener pcl = {pc_msg, NULL, NULL, NULL};
    /* Server: filter answers pings on its IO thread; the rest reaches srv_rec. */
    ipc_proxy_opts o = {IPC_CHAN_SERVER, NULL, -1, IPC_SIDE_PARENT, &rec_listener,
                        &srv_rec,        loop, io, &test_limits};
    ipc_proxy *srv, *cli;
    ck_assert_int_eq(ipc_proxy_create(&srv, &o), 0);
    ipc_filter f = {pf_message, pf_added, pf_removed, pf_error, &pf};
    ck_assert_int_eq(ipc_proxy_add_filter(srv, &f), 0);
    /* Installed once on_added ran; only then may pings arrive. */
    while (atomic_load(&pf.added) == 0)
        usleep(1000);
    o.mode = IPC_CHAN_CLIENT;
    o.fd = ipc_proxy_take_client_fd(srv);
    o.side = IPC_SIDE_CHILD;
    o.listener = &pcl;
    o.listener_ctx = &pc;
    o.io = NULL; /* the default IO thread: a different one */
    ck_assert_int_eq(ipc_proxy_create(&cli, &o), 0);
    enum { N = 2000 };
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(ipc_proxy_send(cli, msg2(T_PING, 9, i)), 0);
        if (i % 10 == 0)
            ck_assert_int_eq(ipc_proxy_send(cli, msg2(T_DATA, 0, i / 10)), 0);
    }
    ck_assert_int_eq(pump_until(loop, &pc.pongs, N), 0);
    ck_assert_int_eq(pump_until(loop, &srv_rec.nmsgs, N / 10), 0);
    ck_assert(pc.order_ok);
    ck_assert(srv_rec.order_ok);
    ck_assert_int_eq(atomic_load(&pf.consumed), N);
    ck_assert_int_eq(atomic_load(&pf.added), 1);
    ck_assert_ptr_eq(pf.added_with, srv);
    ck_assert_int_eq(atomic_load(&pf.wrong_thread), 0);
    ck_assert_int_eq(atomic_load(&pc.data), 0);
    ipc_proxy_free(cli);
    ck_assert_int_eq(pump_until(loop, &srv_rec.errors, 1), 0);
    ck_assert_int_eq(atomic_load(&pf.errors), 1);
    ipc_proxy_free(srv);
    ck_assert_int_eq(atomic_load(&pf.removed), 1);
    ipc_iothread_stop(io);
    rec_free(&srv_rec);
    ipc_loop_free(loop);
    rig_assert_no_leaks();
}
END_TEST

START_TEST(proxy_close_stops_callbacks_and_sends)
{
    ck_assert_ptr_nonnull(ipc_iothread_default()); /* its fds stay open */
    rig_fd_mark();
    ipc_loop *loop;
    ck_assert_int_eq(ipc_loop_new(&loop), 0);
    static rec r;
    rec_init(&r, loop);
    pid_t pid;
    ipc_proxy *p = start_pecho(loop, &r, &pid);
    for (int i = 0; i < 100; i++)
        ipc_proxy_send(p, msg2(T_DATA, 0, i));
    ck_assert_int_eq(pump_until(loop, &r.nmsgs, 1), 0);
    ipc_proxy_close(p);
    int seen = atomic_load(&r.nmsgs);
    /* Echoes still in flight must never reach the listener now. */
    for (int i = 0; i < 20; i++)
        ipc_loop_run_once(loop, 5);
    ck_assert_int_eq(atomic_load(&r.nmsgs), seen);
    ck_assert_int_eq(atomic_load(&r.errors), 0);
    ck_assert_int_eq(ipc_proxy_send(p, msg2(T_DATA, 0, 0)), IPC_E_CLOSED);
    ipc_proxy_close(p); /* twice is fine */
    ck_assert_int_eq(rig_wait(pid), 0);
    ipc_proxy_free(p);
    /* Tasks already posted to this loop hold references: drain them. */
    for (int i = 0; i < 5; i++)
        ipc_loop_run_once(loop, 0);
    rec_free(&r);
    ipc_loop_free(loop);
    rig_assert_no_leaks();
}
END_TEST

START_TEST(proxy_peer_exit_reported_once_after_messages)
{
    ck_assert_ptr_nonnull(ipc_iothread_default()); /* its fds stay open */
    rig_fd_mark();
    ipc_loop *loop;
    ck_assert_int_eq(ipc_loop_new(&loop), 0);
    static rec r;
    rec_init(&r, loop);
    pid_t pid;
    ipc_proxy *p = start_pecho(loop, &r, &pid);
    for (int i = 0; i < 300; i++)
        ipc_proxy_send(p, msg2(T_DATA, 1, i));
    ipc_proxy_send(p, msg2(T_QUIT, 0, 0));
    ck_assert_int_eq(pump_until(loop, &r.errors, 1), 0);
    ck_assert_int_eq(atomic_load(&r.nmsgs), 300);
    ck_assert(r.order_ok);
    ck_assert_int_eq(r.err, IPC_E_PEER_CLOSED);
    for (int i = 0; i < 10; i++)
        ipc_loop_run_once(loop, 2);
    ck_assert_int_eq(atomic_load(&r.errors), 1);
    ck_assert_int_eq(rig_wait(pid), 0);
    ipc_proxy_free(p);
    rec_free(&r);
    ipc_loop_free(loop);
    rig_assert_no_leaks();
}
END_TEST

/* ---- fork: park, fork, restart in the child, real channel I/O ---- */

START_TEST(proxy_iothread_park_fork_restart_child_does_io)
{
    ck_assert_ptr_nonnull(ipc_iothread_default()); /* its fds stay open */
    rig_fd_mark();
    ipc_loop *loop;
    ck_assert_int_eq(ipc_loop_new(&loop), 0);
    ipc_iothread *io;
    ck_assert_int_eq(ipc_iothread_start(&io), 0);
    /* A live channel pair in the parent, on the IO thread being forked. */
    static rec ra, rb;
    rec_init(&ra, loop);
    rec_init(&rb, loop);
    ipc_proxy_opts o = {IPC_CHAN_SERVER, NULL, -1, IPC_SIDE_PARENT, &rec_listener, &ra, loop, io,
                        &test_limits};
    ipc_proxy *a, *b;
    ck_assert_int_eq(ipc_proxy_create(&a, &o), 0);
    o.mode = IPC_CHAN_CLIENT;
    o.fd = ipc_proxy_take_client_fd(a);
    o.listener_ctx = &rb;
    ck_assert_int_eq(ipc_proxy_create(&b, &o), 0);
    ck_assert_int_eq(pump_until(loop, &rb.connected, 1), 0);
    ck_assert_int_eq(pump_until(loop, &ra.connected, 1), 0);

    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    ck_assert_int_eq(ipc_iothread_park(io), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(sv[0]);
        if (ipc_iothread_restart_after_fork(io) != 0)
            _exit(20);
        /* Inherited channels are dead here: they belong to the parent. */
        if (ipc_proxy_send(a, msg2(T_DATA, 0, 0)) != IPC_E_CLOSED)
            _exit(21);
        /* A fresh proxy on the restarted IO thread echoes for the parent. */
        ipc_proxy_opts co = {IPC_CHAN_CLIENT, NULL, sv[1], IPC_SIDE_CHILD, NULL, NULL, NULL, io,
                             &test_limits};
        static const ipc_listener l = {pecho_msg, NULL, pecho_err, NULL};
        static pecho e;
        if (ipc_loop_new(&e.loop) != 0)
            _exit(22);
        co.listener = &l;
        co.listener_ctx = &e;
        co.listener_loop = e.loop;
        if (ipc_proxy_create(&e.proxy, &co) != 0)
            _exit(23);
        ipc_loop_run(e.loop);
        ipc_proxy_free(e.proxy);
        ipc_loop_free(e.loop);
        ipc_iothread_stop(io);
        _exit(e.err == IPC_E_PEER_CLOSED || e.err == 0 ? 0 : 24);
    }
    close(sv[1]);
    ipc_iothread_unpark(io);
    /* The parent's own pair still works after the fork. */
    ipc_proxy_send(a, msg2(T_DATA, 2, 0));
    ck_assert_int_eq(pump_until(loop, &rb.nmsgs, 1), 0);
    /* And the child echoes over the new channel. */
    static rec rc;
    rec_init(&rc, loop);
    ipc_proxy_opts po = {
        IPC_CHAN_CLIENT, NULL, sv[0], IPC_SIDE_PARENT, &rec_listener, &rc, loop, io, &test_limits};
    ipc_proxy *pc;
    ck_assert_int_eq(ipc_proxy_create(&pc, &po), 0);
    for (int i = 0; i < 500; i++)
        ipc_proxy_send(pc, msg2(T_DATA, 3, i));
    ck_assert_int_eq(pump_until(loop, &rc.nmsgs, 500), 0);
    ck_assert(rc.order_ok);
    ck_assert_int_eq(ipc_proxy_peer_pid(pc), pid);
    ipc_proxy_send(pc, msg2(T_QUIT, 0, 0));
    ck_assert_int_eq(rig_wait(pid), 0);
    ipc_proxy_free(pc);
    ipc_proxy_free(a);
    ipc_proxy_free(b);
    for (int i = 0; i < 5; i++)
        ipc_loop_run_once(loop, 0);
    ipc_iothread_stop(io);
    rec_free(&ra);
    rec_free(&rb);
    rec_free(&rc);
    ipc_loop_free(loop);
    rig_assert_no_leaks();
}
END_TEST

/* ---- flow control ---- */

typedef struct big_sender {
    ipc_proxy *p;
    atomic_int sent;
    int last_rc;
} big_sender;

static void *big_sender_main(void *arg)
{
    big_sender *b = arg;
    for (int i = 0; i < 64; i++) {
        ipc_msg *m = ipc_msg_new(IPC_ROUTING_CONTROL, T_DATA, 0);
        ipc_pickle_reserve(ipc_msg_writer(m), 1u << 20);
        static uint8_t zero[1u << 20];
        ipc_pickle_write_bytes(ipc_msg_writer(m), zero, sizeof zero - 8);
        b->last_rc = ipc_proxy_send(b->p, m);
        if (b->last_rc != 0)
            break;
        atomic_fetch_add(&b->sent, 1);
    }
    return NULL;
}

START_TEST(proxy_sender_waits_while_queue_is_full)
{
    ck_assert_ptr_nonnull(ipc_iothread_default());
    rig_fd_mark();
    ipc_loop *loop;
    ck_assert_int_eq(ipc_loop_new(&loop), 0);
    ipc_proxy_opts o = {IPC_CHAN_SERVER, NULL, -1, IPC_SIDE_PARENT, NULL, NULL, loop, NULL,
                        &test_limits};
    ipc_proxy *p;
    ck_assert_int_eq(ipc_proxy_create(&p, &o), 0);
    int peer = ipc_proxy_take_client_fd(p); /* never read: the queue only grows */
    static big_sender b;
    b.p = p;
    atomic_store(&b.sent, 0);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, big_sender_main, &b), 0);
    while (atomic_load(&b.sent) < 4)
        usleep(1000);
    ipc_proxy_close(p); /* wakes the sender if it waits */
    pthread_join(th, NULL);
    ipc_chan_stats st;
    ipc_proxy_get_stats(p, &st);
    /* At most 8 MiB (plus the message that crossed the mark) ever queued;
     * without flow control all 64 would be. */
    ck_assert_uint_le(st.msgs_dropped_unsent, 10);
    ck_assert_int_lt(atomic_load(&b.sent), 64);
    ck_assert_int_eq(b.last_rc, IPC_E_CLOSED);
    ipc_proxy_free(p);
    close(peer);
    for (int i = 0; i < 5; i++)
        ipc_loop_run_once(loop, 0);
    ipc_loop_free(loop);
    rig_assert_no_leaks();
}
END_TEST

static Suite *proxy_suite(void)
{
    Suite *s = suite_create("proxy");
    RIG_TCASE(s, "proxy_send_from_threads_order_per_thread",
              proxy_send_from_threads_order_per_thread, 60);
    RIG_TCASE(s, "proxy_burst_is_batched_and_ordered", proxy_burst_is_batched_and_ordered, 60);
    RIG_TCASE(s, "proxy_filter_consumes_and_replies_on_io_thread",
              proxy_filter_consumes_and_replies_on_io_thread, 60);
    RIG_TCASE(s, "proxy_close_stops_callbacks_and_sends", proxy_close_stops_callbacks_and_sends,
              30);
    RIG_TCASE(s, "proxy_peer_exit_reported_once_after_messages",
              proxy_peer_exit_reported_once_after_messages, 30);
    RIG_TCASE(s, "proxy_sender_waits_while_queue_is_full", proxy_sender_waits_while_queue_is_full,
              30);
    RIG_TCASE(s, "proxy_iothread_park_fork_restart_child_does_io",
              proxy_iothread_park_fork_restart_child_does_io, 60);
    return s;
}

int main(int argc, char **argv)
{
    return rig_test_main(argc, argv, proxy_suite, helpers);
}
