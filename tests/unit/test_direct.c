/* Unit tests for direct mode (docs/channels.md): a proxy without filters lets
 * its listener's thread read the socket itself while it sleeps in its loop.
 * The peer here is a raw socket written by a test thread, which writes only
 * once the listener's thread is really asleep in epoll_wait, so what the
 * listener reads is known. Order across listener and IO-thread reads, sync
 * replies for another thread, a filter added later, end of stream, bad
 * frames, a second hello, and no fd left behind on close. */
#include "testutil.h"
#include "wire_util.h"

#include "ipc/errors.h"
#include "ipc/protocol.h"
#include "ipc/proxy.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define CHECK(x) ck_assert(x)
#define CHECK_EQ(a, b) ck_assert_int_eq((a), (b))
#define T_DATA IPC_MSG_TYPE(0x43, 1)

static const ipc_frame_limits test_limits = {1u << 20, IPC_MSG_MAX_FDS, NULL, NULL};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- what the listener heard ---- */

typedef struct heard {
    atomic_int n;       /* data messages */
    atomic_int errors;
    atomic_int bad;
    atomic_int connected;
    int err, bad_reason;
    int order_ok;
    int after_error;    /* anything heard after on_error */
    int32_t last;
    pid_t listener_tid;
    int wrong_thread;
    int busy_every;     /* sleep in every n-th callback (0: never) */
} heard;

static void heard_msg(void *ctx, ipc_msg *m)
{
    heard *h = ctx;
    if (gettid() != h->listener_tid)
        h->wrong_thread = 1;
    if (atomic_load(&h->errors))
        h->after_error = 1;
    ipc_pickle_iter it;
    int32_t v = -1;
    ipc_msg_iter(m, &it);
    ipc_pickle_read_i32(&it, &v);
    if (v != h->last + 1)
        h->order_ok = 0;
    h->last = v;
    int n = atomic_fetch_add(&h->n, 1) + 1;
    if (h->busy_every && n % h->busy_every == 0)
        usleep(300); /* busy: the IO thread reads meanwhile */
    ipc_msg_free(m);
}

static void heard_connected(void *ctx, pid_t pid)
{
    (void)pid;
    atomic_fetch_add(&((heard *)ctx)->connected, 1);
}

static void heard_error(void *ctx, int err)
{
    heard *h = ctx;
    h->err = err;
    atomic_fetch_add(&h->errors, 1);
}

static void heard_bad(void *ctx, int reason, uint32_t type, const char *name)
{
    (void)type;
    (void)name;
    heard *h = ctx;
    h->bad_reason = reason;
    atomic_fetch_add(&h->bad, 1);
}

static const ipc_listener heard_listener = {heard_msg, heard_connected, heard_error, heard_bad};

static int pump_until(ipc_loop *loop, const atomic_int *v, int want)
{
    double end = now_s() + 30;
    while (atomic_load(v) < want) {
        if (now_s() > end)
            return -1;
        ipc_loop_run_once(loop, 50);
    }
    return 0;
}

/* ---- the raw peer ---- */

static size_t put_data(uint8_t *b, int32_t v)
{
    uint8_t p[4];
    rig_wire_le32(p, (uint32_t)v);
    rig_wire_header(b, 4, T_DATA, IPC_ROUTING_CONTROL, 0, 0, 0);
    memcpy(b + IPC_MSG_HEADER_SIZE, p, 4);
    return IPC_MSG_HEADER_SIZE + 4;
}

static size_t put_hello(uint8_t *b)
{
    uint8_t p[4];
    rig_wire_le32(p, (uint32_t)getpid());
    rig_wire_header(b, 4, IPC_MSG_HELLO, IPC_ROUTING_NONE, 0, 0, 0);
    memcpy(b + IPC_MSG_HEADER_SIZE, p, 4);
    return IPC_MSG_HEADER_SIZE + 4;
}

static void write_all(int fd, const void *b, size_t n)
{
    const uint8_t *p = b;
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        ck_assert_msg(w > 0, "send: %s", strerror(errno));
        p += w;
        n -= (size_t)w;
    }
}

/* Waits until thread `tid` of this process sleeps in epoll_wait (its loop is
 * idle, so the listener reads whatever arrives now). */
static void wait_in_epoll(pid_t tid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/self/task/%d/syscall", (int)tid);
    double end = now_s() + 20;
    for (;;) {
        FILE *f = fopen(path, "r");
        long nr = -1;
        if (f) {
            if (fscanf(f, "%ld", &nr) != 1)
                nr = -1;
            fclose(f);
        }
#ifdef SYS_epoll_wait
        if (nr == SYS_epoll_wait)
            return;
#endif
        if (nr == SYS_epoll_pwait)
            return;
#ifdef SYS_epoll_pwait2
        if (nr == SYS_epoll_pwait2)
            return;
#endif
        ck_assert_msg(now_s() < end, "listener thread never slept in epoll_wait");
        usleep(200);
    }
}

/* ---- a proxy on the main thread's loop, its peer a raw socket ---- */

typedef struct rig {
    ipc_loop *loop;
    ipc_proxy *p;
    int peer; /* the raw end */
    heard h;
} rig;

static void rig_start(rig *r, ipc_side side, const ipc_filter *filters, size_t nfilters)
{
    ck_assert_ptr_nonnull(ipc_iothread_default()); /* its fds stay open */
    rig_fd_mark();
    memset(r, 0, sizeof *r);
    r->h.order_ok = 1;
    r->h.last = -1;
    r->h.listener_tid = gettid();
    CHECK_EQ(ipc_loop_new(&r->loop), 0);
    ipc_proxy_opts o = {IPC_CHAN_SERVER, NULL, -1, side, &heard_listener, &r->h, r->loop,
                        NULL, &test_limits, filters, nfilters};
    CHECK_EQ(ipc_proxy_create(&r->p, &o), 0);
    r->peer = ipc_proxy_take_client_fd(r->p);
    CHECK(r->peer >= 0);
    uint8_t b[64];
    write_all(r->peer, b, put_hello(b));
    CHECK_EQ(pump_until(r->loop, &r->h.connected, 1), 0);
    /* Let the listener's watch start (a task on its loop). */
    for (int i = 0; i < 5; i++)
        ipc_loop_run_once(r->loop, 0);
}

static void rig_stop(rig *r)
{
    ipc_proxy_free(r->p);
    if (r->peer >= 0)
        close(r->peer);
    for (int i = 0; i < 5; i++)
        ipc_loop_run_once(r->loop, 0);
    ipc_loop_free(r->loop);
    rig_assert_no_leaks();
}

static uint64_t listener_reads(ipc_proxy *p)
{
    ipc_chan_stats st;
    ipc_proxy_get_stats(p, &st);
    return st.listener_reads;
}

/* Writes one frame each time the listener's thread is asleep. */
typedef struct writer {
    rig *r;
    pid_t listener_tid;
    int n;
    size_t (*frame)(uint8_t *b, int i);
    int close_after;
} writer;

static size_t data_frame(uint8_t *b, int i)
{
    return put_data(b, i);
}

static void *write_when_idle(void *arg)
{
    writer *w = arg;
    for (int i = 0; i < w->n; i++) {
        uint8_t b[64];
        wait_in_epoll(w->listener_tid);
        write_all(w->r->peer, b, w->frame(b, i));
        /* The next write waits for the listener to have read this one. */
        double end = now_s() + 20;
        while (atomic_load(&w->r->h.n) + atomic_load(&w->r->h.errors) < i + 1 && now_s() < end)
            usleep(100);
    }
    if (w->close_after) {
        wait_in_epoll(w->listener_tid);
        shutdown(w->r->peer, SHUT_WR);
    }
    return NULL;
}

START_TEST(direct_idle_listener_reads_itself)
{
    static rig r;
    rig_start(&r, IPC_SIDE_PARENT, NULL, 0);
    uint64_t before = listener_reads(r.p);
    writer w = {&r, gettid(), 20, data_frame, 0};
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, write_when_idle, &w), 0);
    CHECK_EQ(pump_until(r.loop, &r.h.n, 20), 0);
    pthread_join(th, NULL);
    CHECK(r.h.order_ok);
    CHECK(!r.h.wrong_thread);
    /* Each message arrived while the listener slept: it read every one. */
    ck_assert_uint_eq(listener_reads(r.p) - before, 20);
    ipc_chan_stats st;
    ipc_proxy_get_stats(r.p, &st);
    ck_assert_uint_eq(st.msgs_received, 21); /* and the hello */
    rig_stop(&r);
}
END_TEST

typedef struct burster {
    int fd;
    int n;
    unsigned seed;
} burster;

static void *write_bursts(void *arg)
{
    burster *b = arg;
    rig_rng rng;
    rig_rng_seed(&rng, b->seed);
    uint8_t buf[64 * 64];
    for (int i = 0; i < b->n;) {
        int k = (int)rig_rng_range(&rng, 1, 64);
        size_t len = 0;
        for (int j = 0; j < k && i < b->n; j++, i++)
            len += put_data(buf + len, i);
        write_all(b->fd, buf, len);
        if (rig_rng_below(&rng, 3) == 0)
            usleep((useconds_t)rig_rng_below(&rng, 400));
    }
    return NULL;
}

START_TEST(direct_order_across_listener_and_io_reads)
{
    /* Bursts while the listener alternates between sleeping (it reads) and
     * sleeping in callbacks (the IO thread reads): every message exactly
     * once, in order, all on the listener's thread. */
    static rig r;
    rig_start(&r, IPC_SIDE_PARENT, NULL, 0);
    r.h.busy_every = 7;
    enum { N = 5000 };
    burster b = {r.peer, N, 42};
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, write_bursts, &b), 0);
    CHECK_EQ(pump_until(r.loop, &r.h.n, N), 0);
    pthread_join(th, NULL);
    for (int i = 0; i < 5; i++)
        ipc_loop_run_once(r.loop, 10);
    CHECK_EQ(atomic_load(&r.h.n), N);
    CHECK(r.h.order_ok);
    CHECK(!r.h.wrong_thread);
    CHECK_EQ(r.h.last, N - 1);
    CHECK_EQ(atomic_load(&r.h.errors), 0);
    rig_stop(&r);
}
END_TEST

/* The raw peer as a sync responder: decodes requests, answers each with a
 * reply carrying the same txn, once the listener's thread sleeps. */
typedef struct responder {
    rig *r;
    pid_t listener_tid;
    int n;
} responder;

static void *respond_when_idle(void *arg)
{
    responder *s = arg;
    ipc_frame_decoder *d;
    CHECK_EQ(ipc_frame_decoder_new(&d, NULL), 0);
    int answered = 0;
    while (answered < s->n) {
        CHECK(rig_recv_into_decoder(s->r->peer, d, 0) > 0);
        ipc_msg *m;
        while (ipc_frame_decoder_next(d, &m) == 1) {
            if (ipc_msg_type(m) == IPC_MSG_HELLO) {
                ipc_msg_free(m);
                continue;
            }
            ipc_msg *rep = ipc_msg_new_reply(m);
            ipc_pickle_write_i32(ipc_msg_writer(rep), 1000 + answered);
            rig_buf b;
            rig_buf_init(&b);
            rig_wire_msg(&b, rep);
            wait_in_epoll(s->listener_tid);
            write_all(s->r->peer, b.data, b.len);
            rig_buf_free(&b);
            ipc_msg_free(rep);
            ipc_msg_free(m);
            answered++;
        }
    }
    ipc_frame_decoder_free(d);
    return NULL;
}

typedef struct syncer {
    ipc_proxy *p;
    int n;
    atomic_int done;
    int bad;
} syncer;

static void *send_syncs(void *arg)
{
    syncer *s = arg;
    for (int i = 0; i < s->n; i++) {
        ipc_msg *req = ipc_msg_new(IPC_ROUTING_CONTROL, T_DATA, 0);
        ipc_pickle_write_i32(ipc_msg_writer(req), i);
        ipc_msg *rep = NULL;
        int rc = ipc_proxy_send_sync(s->p, req, &rep, 20000);
        int32_t v = -1;
        if (rep) {
            ipc_pickle_iter it;
            ipc_msg_iter(rep, &it);
            ipc_pickle_read_i32(&it, &v);
            ipc_msg_free(rep);
        }
        if (rc != 0 || v != 1000 + i)
            s->bad = 1;
    }
    atomic_store(&s->done, 1);
    return NULL;
}

START_TEST(direct_sync_reply_read_by_listener_goes_to_its_waiter)
{
    /* Another thread waits in a sync send; the listener's thread sleeps in
     * its loop and reads the reply, which goes straight to the waiter and
     * never to the listener. */
    static rig r;
    rig_start(&r, IPC_SIDE_CHILD, NULL, 0);
    uint64_t before = listener_reads(r.p);
    enum { N = 10 };
    responder rs = {&r, gettid(), N};
    syncer sy = {r.p, N, 0, 0};
    pthread_t t1, t2;
    CHECK_EQ(pthread_create(&t1, NULL, respond_when_idle, &rs), 0);
    CHECK_EQ(pthread_create(&t2, NULL, send_syncs, &sy), 0);
    CHECK_EQ(pump_until(r.loop, &sy.done, 1), 0);
    pthread_join(t2, NULL);
    pthread_join(t1, NULL);
    CHECK(!sy.bad);
    CHECK_EQ(atomic_load(&r.h.n), 0);
    ck_assert_uint_ge(listener_reads(r.p) - before, N);
    ipc_chan_stats st;
    ipc_proxy_get_stats(r.p, &st);
    ck_assert_uint_eq(st.replies_unmatched, 0);
    rig_stop(&r);
}
END_TEST

typedef struct filt {
    atomic_int seen;
    atomic_int added;
    pid_t listener_tid;
    int on_listener_thread;
} filt;

static int filt_msg(void *ctx, ipc_proxy *p, ipc_msg *m)
{
    (void)p;
    filt *f = ctx;
    if (gettid() == f->listener_tid)
        f->on_listener_thread = 1;
    atomic_fetch_add(&f->seen, 1);
    ipc_msg_free(m);
    return 1;
}

static void filt_added(void *ctx, ipc_proxy *p)
{
    (void)p;
    atomic_store(&((filt *)ctx)->added, 1);
}

START_TEST(direct_filter_added_later_runs_on_io_thread)
{
    /* Once a filter is installed the listener stops reading for good: later
     * messages go through the filter on the IO thread. */
    static rig r;
    rig_start(&r, IPC_SIDE_PARENT, NULL, 0);
    static filt f;
    memset(&f, 0, sizeof f);
    f.listener_tid = gettid();
    ipc_filter flt = {filt_msg, filt_added, NULL, NULL, &f};
    CHECK_EQ(ipc_proxy_add_filter(r.p, &flt), 0);
    CHECK_EQ(pump_until(r.loop, &f.added, 1), 0);
    for (int i = 0; i < 5; i++)
        ipc_loop_run_once(r.loop, 0);
    uint64_t before = listener_reads(r.p);
    for (int i = 0; i < 10; i++) {
        uint8_t b[64];
        write_all(r.peer, b, put_data(b, i));
    }
    CHECK_EQ(pump_until(r.loop, &f.seen, 10), 0);
    CHECK(!f.on_listener_thread);
    CHECK_EQ(atomic_load(&r.h.n), 0);
    ck_assert_uint_eq(listener_reads(r.p), before);
    rig_stop(&r);
}
END_TEST

START_TEST(direct_end_of_stream_reported_once_after_messages)
{
    static rig r;
    rig_start(&r, IPC_SIDE_PARENT, NULL, 0);
    writer w = {&r, gettid(), 10, data_frame, 1};
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, write_when_idle, &w), 0);
    CHECK_EQ(pump_until(r.loop, &r.h.errors, 1), 0);
    pthread_join(th, NULL);
    for (int i = 0; i < 5; i++)
        ipc_loop_run_once(r.loop, 10);
    CHECK_EQ(atomic_load(&r.h.n), 10);
    CHECK(r.h.order_ok);
    CHECK_EQ(atomic_load(&r.h.errors), 1);
    CHECK_EQ(r.h.err, IPC_E_PEER_CLOSED);
    CHECK(!r.h.after_error);
    CHECK_EQ(atomic_load(&r.h.bad), 0);
    rig_stop(&r);
}
END_TEST

static size_t bad_flags_frame(uint8_t *b, int i)
{
    if (i == 0)
        return put_data(b, 0);
    rig_wire_header(b, 0, T_DATA, IPC_ROUTING_CONTROL, 0x80, 0, 0);
    return IPC_MSG_HEADER_SIZE;
}

START_TEST(direct_bad_frame_after_good_reported_by_io_thread)
{
    static rig r;
    rig_start(&r, IPC_SIDE_PARENT, NULL, 0);
    writer w = {&r, gettid(), 2, bad_flags_frame, 0};
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, write_when_idle, &w), 0);
    CHECK_EQ(pump_until(r.loop, &r.h.errors, 1), 0);
    pthread_join(th, NULL);
    CHECK_EQ(atomic_load(&r.h.n), 1);
    CHECK_EQ(atomic_load(&r.h.bad), 1);
    CHECK_EQ(r.h.bad_reason, IPC_E_BAD_FLAGS);
    CHECK_EQ(r.h.err, IPC_E_BAD_FLAGS);
    CHECK_EQ(atomic_load(&r.h.errors), 1);
    rig_stop(&r);
}
END_TEST

static size_t second_hello_frame(uint8_t *b, int i)
{
    return i == 0 ? put_data(b, 0) : put_hello(b);
}

START_TEST(direct_second_hello_is_bad)
{
    static rig r;
    rig_start(&r, IPC_SIDE_PARENT, NULL, 0);
    writer w = {&r, gettid(), 2, second_hello_frame, 0};
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, write_when_idle, &w), 0);
    CHECK_EQ(pump_until(r.loop, &r.h.errors, 1), 0);
    pthread_join(th, NULL);
    CHECK_EQ(atomic_load(&r.h.n), 1);
    CHECK_EQ(r.h.bad_reason, IPC_E_BAD_HELLO);
    CHECK_EQ(r.h.err, IPC_E_BAD_HELLO);
    rig_stop(&r);
}
END_TEST

START_TEST(direct_close_while_watching_leaves_nothing)
{
    /* Closed from the listener's thread while its watch is on: the peer sees
     * the end at once and no fd is left (rig_stop checks). */
    static rig r;
    rig_start(&r, IPC_SIDE_PARENT, NULL, 0);
    writer w = {&r, gettid(), 3, data_frame, 0};
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, write_when_idle, &w), 0);
    CHECK_EQ(pump_until(r.loop, &r.h.n, 3), 0);
    pthread_join(th, NULL);
    ipc_proxy_close(r.p);
    char buf[256];
    ssize_t n;
    while ((n = recv(r.peer, buf, sizeof buf, 0)) > 0) /* our hello, then */
        ;
    CHECK_EQ(n, 0); /* EOF, not a hang */
    CHECK_EQ(ipc_proxy_send(r.p, ipc_msg_new(IPC_ROUTING_CONTROL, T_DATA, 0)), IPC_E_CLOSED);
    rig_stop(&r);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("direct");
    RIG_TCASE(s, "idle_listener_reads", direct_idle_listener_reads_itself, 60);
    RIG_TCASE(s, "order", direct_order_across_listener_and_io_reads, 60);
    RIG_TCASE(s, "sync_reply", direct_sync_reply_read_by_listener_goes_to_its_waiter, 60);
    RIG_TCASE(s, "filter_later", direct_filter_added_later_runs_on_io_thread, 60);
    RIG_TCASE(s, "eof", direct_end_of_stream_reported_once_after_messages, 60);
    RIG_TCASE(s, "bad_frame", direct_bad_frame_after_good_reported_by_io_thread, 60);
    RIG_TCASE(s, "second_hello", direct_second_hello_is_bad, 60);
    RIG_TCASE(s, "close", direct_close_while_watching_leaves_nothing, 60);
    return s;
}

int main(int argc, char **argv)
{
    return rig_test_main(argc, argv, suite, NULL);
}
