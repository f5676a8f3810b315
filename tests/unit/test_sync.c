/* Unit tests for synchronous messages: replies from a filter and from the
 * listener, timeouts and late replies, out-of-order replies, parent-side
 * refusal, channel death during a wait, reply errors, and messages that arrive
 * during a wait being dispatched afterwards. The responder is a real process. */
#include "testutil.h"

#include "ipc/errors.h"
#include "ipc/proxy.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define T_ECHO     IPC_MSG_TYPE(0x43, 1) /* answered by a filter on the IO thread */
#define T_LISTENER IPC_MSG_TYPE(0x43, 2) /* answered by the listener */
#define T_HOLD     IPC_MSG_TYPE(0x43, 3) /* held until T_RELEASE */
#define T_RELEASE  IPC_MSG_TYPE(0x43, 4)
#define T_BATCH    IPC_MSG_TYPE(0x43, 5) /* held until `a` of them, answered in reverse */
#define T_ERR      IPC_MSG_TYPE(0x43, 6)
#define T_DIE      IPC_MSG_TYPE(0x43, 7)
#define T_NOISE    IPC_MSG_TYPE(0x43, 8) /* three T_NOTE first, then the reply */
#define T_NOTE     IPC_MSG_TYPE(0x43, 9)

static const ipc_frame_limits test_limits = {1u << 20, IPC_MSG_MAX_FDS, NULL, NULL};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static ipc_msg *msg2(uint32_t type, uint32_t flags, int32_t a, int32_t b)
{
    ipc_msg *m = ipc_msg_new(IPC_ROUTING_CONTROL, type, flags);
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

static ipc_msg *reply_to(const ipc_msg *req, int32_t a, int32_t b)
{
    ipc_msg *r = ipc_msg_new_reply(req);
    ipc_pickle_write_i32(ipc_msg_writer(r), a);
    ipc_pickle_write_i32(ipc_msg_writer(r), b);
    return r;
}

/* ---- the responder (the parent side), run in a helper process ---- */

typedef struct responder {
    ipc_loop *loop;
    ipc_proxy *proxy;
    ipc_msg *held[64];
    int nheld;
    int err;
} responder;

static int resp_filter(void *ctx, ipc_proxy *p, ipc_msg *m)
{
    (void)ctx;
    if (ipc_msg_type(m) != T_ECHO)
        return 0;
    int32_t a, b;
    read2(m, &a, &b);
    ipc_proxy_send(p, reply_to(m, a, b));
    ipc_msg_free(m);
    return 1;
}

static void answer_held_reversed(responder *r)
{
    while (r->nheld > 0) {
        ipc_msg *req = r->held[--r->nheld];
        int32_t a, b;
        read2(req, &a, &b);
        ipc_proxy_send(r->proxy, reply_to(req, a, b));
        ipc_msg_free(req);
    }
}

static void resp_msg(void *ctx, ipc_msg *m)
{
    responder *r = ctx;
    int32_t a, b;
    read2(m, &a, &b);
    switch (ipc_msg_type(m)) {
    case T_LISTENER:
        ipc_proxy_send(r->proxy, reply_to(m, a, b));
        break;
    case T_HOLD:
    case T_BATCH:
        if (r->nheld < 64) {
            r->held[r->nheld++] = m;
            m = NULL;
        }
        if (ipc_msg_type(r->held[r->nheld - 1]) == T_BATCH && r->nheld == a)
            answer_held_reversed(r);
        break;
    case T_RELEASE:
        answer_held_reversed(r);
        break;
    case T_ERR: {
        ipc_msg *rep = ipc_msg_new_reply(m);
        ipc_msg_set_flags(rep, ipc_msg_flags(rep) | IPC_MSG_REPLY_ERROR);
        ipc_proxy_send(r->proxy, rep);
        break;
    }
    case T_DIE:
        _exit(0);
    case T_NOISE:
        for (int i = 0; i < 3; i++)
            ipc_proxy_send(r->proxy, msg2(T_NOTE, 0, i, 0));
        ipc_proxy_send(r->proxy, reply_to(m, a, b));
        break;
    default:
        break;
    }
    ipc_msg_free(m);
}

static void resp_err(void *ctx, int err)
{
    responder *r = ctx;
    r->err = err;
    ipc_loop_quit(r->loop);
}

static int helper_responder(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    static const ipc_listener l = {resp_msg, NULL, resp_err, NULL};
    static responder r;
    if (ipc_loop_new(&r.loop) != 0)
        return 10;
    ipc_filter f = {resp_filter, NULL, NULL, NULL, &r};
    ipc_proxy_opts o = {IPC_CHAN_CLIENT,
                        NULL,
                        IPC_CHILD_CHANNEL_FD,
                        IPC_SIDE_PARENT,
                        &l,
                        &r,
                        r.loop,
                        NULL,
                        &test_limits,
                        &f,
                        1};
    if (ipc_proxy_create(&r.proxy, &o) != 0)
        return 11;
    /* A sync send from the parent side is refused outright. */
    ipc_msg *rep = NULL;
    if (ipc_proxy_send_sync(r.proxy, msg2(T_ECHO, 0, 1, 1), &rep, 1000) != IPC_E_SYNC_FROM_PARENT ||
        rep)
        return 12;
    ipc_loop_run(r.loop);
    ipc_proxy_free(r.proxy);
    answer_held_reversed(&r); /* frees what is left (sends fail: closed) */
    ipc_loop_free(r.loop);
    return r.err == IPC_E_PEER_CLOSED ? 0 : 13;
}

static const rig_helper helpers[] = {{"responder", helper_responder}, {NULL, NULL}};

/* ---- the child side: the test process ---- */

typedef struct notes {
    atomic_int n;
    int order_ok;
} notes;

static void notes_msg(void *ctx, ipc_msg *m)
{
    notes *nt = ctx;
    int32_t a, b;
    read2(m, &a, &b);
    if (ipc_msg_type(m) != T_NOTE || a != atomic_load(&nt->n))
        nt->order_ok = 0;
    atomic_fetch_add(&nt->n, 1);
    ipc_msg_free(m);
}

static const ipc_listener notes_listener = {notes_msg, NULL, NULL, NULL};

typedef struct fixture {
    ipc_loop *loop;
    ipc_proxy *p;
    pid_t pid;
    notes nt;
} fixture;

static void fx_start(fixture *fx)
{
    ck_assert_ptr_nonnull(ipc_iothread_default()); /* its fds stay open */
    rig_fd_mark();
    memset(fx, 0, sizeof *fx);
    fx->nt.order_ok = 1;
    ck_assert_int_eq(ipc_loop_new(&fx->loop), 0);
    ipc_proxy_opts o = {IPC_CHAN_SERVER, NULL,     -1,   IPC_SIDE_CHILD, &notes_listener,
                        &fx->nt,         fx->loop, NULL, &test_limits};
    ck_assert_int_eq(ipc_proxy_create(&fx->p, &o), 0);
    int cfd = ipc_proxy_take_client_fd(fx->p);
    fx->pid = rig_spawn_helper("responder", cfd, NULL);
    close(cfd);
    ck_assert_int_gt(fx->pid, 0);
}

static void fx_stop(fixture *fx, int want_status)
{
    ipc_proxy_free(fx->p);
    ck_assert_int_eq(rig_wait(fx->pid), want_status);
    for (int i = 0; i < 5; i++)
        ipc_loop_run_once(fx->loop, 0);
    ipc_loop_free(fx->loop);
    rig_assert_no_leaks();
}

static int sync_value(ipc_proxy *p, uint32_t type, int32_t a, int32_t b, int timeout, int32_t *ra,
                      int32_t *rb)
{
    ipc_msg *rep = NULL;
    int rc = ipc_proxy_send_sync(p, msg2(type, 0, a, b), &rep, timeout);
    if (rep) {
        read2(rep, ra, rb);
        ipc_msg_free(rep);
    }
    return rc;
}

START_TEST(sync_reply_from_filter_and_from_listener)
{
    static fixture fx;
    fx_start(&fx);
    int32_t a, b;
    for (int i = 0; i < 200; i++) {
        ck_assert_int_eq(sync_value(fx.p, T_ECHO, i, -i, 10000, &a, &b), 0);
        ck_assert_int_eq(a, i);
        ck_assert_int_eq(b, -i);
        ck_assert_int_eq(sync_value(fx.p, T_LISTENER, i, 7, 10000, &a, &b), 0);
        ck_assert_int_eq(a, i);
    }
    ipc_chan_stats st;
    ipc_proxy_get_stats(fx.p, &st);
    ck_assert_uint_eq(st.replies_unmatched, 0);
    ck_assert_int_eq(atomic_load(&fx.nt.n), 0); /* replies never reach the listener */
    fx_stop(&fx, 0);
}
END_TEST

START_TEST(sync_timeout_then_late_reply_dropped_and_counted)
{
    static fixture fx;
    fx_start(&fx);
    int32_t a, b;
    ck_assert_int_eq(sync_value(fx.p, T_HOLD, 1, 2, 100, &a, &b), IPC_E_TIMEOUT);
    ck_assert_int_eq(ipc_proxy_send(fx.p, msg2(T_RELEASE, 0, 0, 0)), 0);
    ipc_chan_stats st;
    double end = now_s() + 20;
    do {
        ipc_loop_run_once(fx.loop, 10);
        ipc_proxy_get_stats(fx.p, &st);
    } while (st.replies_unmatched == 0 && now_s() < end);
    ck_assert_uint_eq(st.replies_unmatched, 1);
    /* The channel still works. */
    ck_assert_int_eq(sync_value(fx.p, T_ECHO, 5, 6, 10000, &a, &b), 0);
    ck_assert_int_eq(a, 5);
    ck_assert_int_eq(atomic_load(&fx.nt.n), 0);
    fx_stop(&fx, 0);
}
END_TEST

#define WAITERS 4

typedef struct waiter_arg {
    ipc_proxy *p;
    uint32_t type;
    int32_t id;
    int rc;
    int32_t got;
} waiter_arg;

static void *waiter_main(void *arg)
{
    waiter_arg *w = arg;
    int32_t b;
    w->got = -1;
    w->rc = sync_value(w->p, w->type, w->type == T_BATCH ? WAITERS : w->id, w->id, -1, &w->got, &b);
    if (w->rc == 0)
        w->got = b;
    return NULL;
}

START_TEST(sync_out_of_order_replies_reach_their_waiters)
{
    static fixture fx;
    fx_start(&fx);
    pthread_t th[WAITERS];
    waiter_arg wa[WAITERS];
    for (int i = 0; i < WAITERS; i++) {
        wa[i] = (waiter_arg){fx.p, T_BATCH, 100 + i, 0, 0};
        ck_assert_int_eq(pthread_create(&th[i], NULL, waiter_main, &wa[i]), 0);
    }
    for (int i = 0; i < WAITERS; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_eq(wa[i].rc, 0);
        ck_assert_int_eq(wa[i].got, 100 + i);
    }
    ipc_chan_stats st;
    ipc_proxy_get_stats(fx.p, &st);
    ck_assert_uint_eq(st.replies_unmatched, 0);
    fx_stop(&fx, 0);
}
END_TEST

START_TEST(sync_from_parent_side_refused)
{
    ck_assert_ptr_nonnull(ipc_iothread_default());
    rig_fd_mark();
    ipc_loop *loop;
    ck_assert_int_eq(ipc_loop_new(&loop), 0);
    ipc_proxy_opts o = {IPC_CHAN_SERVER, NULL, -1, IPC_SIDE_PARENT, NULL, NULL, loop, NULL,
                        &test_limits};
    ipc_proxy *p;
    ck_assert_int_eq(ipc_proxy_create(&p, &o), 0);
    ipc_msg *rep = (ipc_msg *)&rep;
    ck_assert_int_eq(ipc_proxy_send_sync(p, msg2(T_ECHO, 0, 1, 2), &rep, 1000),
                     IPC_E_SYNC_FROM_PARENT);
    ck_assert_ptr_null(rep);
    ipc_chan_stats st;
    double end = now_s() + 20;
    do {
        usleep(1000);
        ipc_proxy_get_stats(p, &st);
    } while (st.msgs_sent == 0 && now_s() < end);
    ck_assert_uint_eq(st.msgs_sent, 1); /* the hello only */
    ipc_proxy_free(p);
    ipc_loop_free(loop);
    rig_assert_no_leaks();
    /* The responder helper checks the same from a live parent-side proxy. */
    static fixture fx;
    fx_start(&fx);
    fx_stop(&fx, 0);
}
END_TEST

START_TEST(sync_channel_death_wakes_every_waiter)
{
    static fixture fx;
    fx_start(&fx);
    pthread_t th[WAITERS];
    waiter_arg wa[WAITERS];
    for (int i = 0; i < WAITERS; i++) {
        wa[i] = (waiter_arg){fx.p, T_HOLD, i, 0, 0};
        ck_assert_int_eq(pthread_create(&th[i], NULL, waiter_main, &wa[i]), 0);
    }
    /* Every request must be on the wire before the T_DIE behind it. */
    int32_t a, b;
    for (;;) {
        ipc_chan_stats st;
        ipc_proxy_get_stats(fx.p, &st);
        if (st.msgs_sent >= (uint64_t)WAITERS + 1)
            break;
        usleep(1000);
    }
    ck_assert_int_eq(ipc_proxy_send(fx.p, msg2(T_DIE, 0, 0, 0)), 0);
    for (int i = 0; i < WAITERS; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_eq(wa[i].rc, IPC_E_PEER_CLOSED);
    }
    /* Later sync sends fail at once with the same error. */
    ck_assert_int_eq(sync_value(fx.p, T_ECHO, 0, 0, -1, &a, &b), IPC_E_PEER_CLOSED);
    fx_stop(&fx, 0);
}
END_TEST

START_TEST(sync_reply_error)
{
    static fixture fx;
    fx_start(&fx);
    ipc_msg *rep = NULL;
    ck_assert_int_eq(ipc_proxy_send_sync(fx.p, msg2(T_ERR, 0, 1, 2), &rep, 10000),
                     IPC_E_REPLY_ERROR);
    ck_assert_ptr_nonnull(rep);
    ck_assert(ipc_msg_is_reply_error(rep));
    ipc_msg_free(rep);
    fx_stop(&fx, 0);
}
END_TEST

START_TEST(sync_messages_during_wait_dispatched_after)
{
    static fixture fx;
    fx_start(&fx);
    int32_t a, b;
    /* Called on the listener loop's own thread: the notes that arrive before
     * the reply wait in the loop's queue. */
    ck_assert_int_eq(sync_value(fx.p, T_NOISE, 3, 4, 10000, &a, &b), 0);
    ck_assert_int_eq(a, 3);
    ck_assert_int_eq(atomic_load(&fx.nt.n), 0);
    double end = now_s() + 20;
    while (atomic_load(&fx.nt.n) < 3 && now_s() < end)
        ipc_loop_run_once(fx.loop, 10);
    ck_assert_int_eq(atomic_load(&fx.nt.n), 3);
    ck_assert(fx.nt.order_ok);
    fx_stop(&fx, 0);
}
END_TEST

typedef struct io_try {
    ipc_proxy *p;
    atomic_int done;
    int rc;
} io_try;

static void try_sync_on_io(void *arg)
{
    io_try *t = arg;
    ipc_msg *rep = NULL;
    t->rc = ipc_proxy_send_sync(t->p, msg2(T_ECHO, 0, 1, 1), &rep, 1000);
    ipc_msg_free(rep);
    atomic_store(&t->done, 1);
}

START_TEST(sync_on_io_thread_refused)
{
    static fixture fx;
    fx_start(&fx);
    static io_try t;
    t.p = fx.p;
    atomic_store(&t.done, 0);
    ck_assert_int_eq(ipc_loop_post(ipc_iothread_loop(ipc_iothread_default()), try_sync_on_io, &t),
                     0);
    while (!atomic_load(&t.done))
        usleep(1000);
    ck_assert_int_eq(t.rc, IPC_E_WRONG_THREAD);
    fx_stop(&fx, 0);
}
END_TEST

static Suite *sync_suite(void)
{
    Suite *s = suite_create("sync");
    RIG_TCASE(s, "sync_reply_from_filter_and_from_listener",
              sync_reply_from_filter_and_from_listener, 60);
    RIG_TCASE(s, "sync_timeout_then_late_reply_dropped_and_counted",
              sync_timeout_then_late_reply_dropped_and_counted, 30);
    RIG_TCASE(s, "sync_out_of_order_replies_reach_their_waiters",
              sync_out_of_order_replies_reach_their_waiters, 30);
    RIG_TCASE(s, "sync_from_parent_side_refused", sync_from_parent_side_refused, 30);
    RIG_TCASE(s, "sync_channel_death_wakes_every_waiter", sync_channel_death_wakes_every_waiter,
              30);
    RIG_TCASE(s, "sync_reply_error", sync_reply_error, 30);
    RIG_TCASE(s, "sync_messages_during_wait_dispatched_after",
              sync_messages_during_wait_dispatched_after, 30);
    RIG_TCASE(s, "sync_on_io_thread_refused", sync_on_io_thread_refused, 30);
    return s;
}

int main(int argc, char **argv)
{
    return rig_test_main(argc, argv, sync_suite, helpers);
}
