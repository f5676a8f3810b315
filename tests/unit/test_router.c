/* Unit tests for the router: control vs routed delivery, routing ids, route
 * removal, unhandled messages reported and counted, and a router fed by a
 * proxy from a peer process. */
#include "testutil.h"

#include "ipc/errors.h"
#include "ipc/proxy.h"
#include "ipc/router.h"

#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define T_A IPC_MSG_TYPE(0x44, 1)

typedef struct sink {
    int msgs;
    int32_t last_rid;
    int connected;
    int errors;
    int err;
} sink;

static void s_msg(void *ctx, ipc_msg *m)
{
    sink *s = ctx;
    s->msgs++;
    s->last_rid = ipc_msg_routing_id(m);
    ipc_msg_free(m);
}

static void s_conn(void *ctx, pid_t pid)
{
    (void)pid;
    sink *s = ctx;
    s->connected++;
}

static void s_err(void *ctx, int err)
{
    sink *s = ctx;
    s->errors++;
    s->err = err;
}

static const ipc_listener sink_listener = {s_msg, s_conn, s_err, NULL};

typedef struct unh {
    int n;
    int err;
    int32_t rid;
} unh;

static void on_unhandled(void *ctx, int err, const ipc_msg *m)
{
    unh *u = ctx;
    u->n++;
    u->err = err;
    u->rid = ipc_msg_routing_id(m);
}

START_TEST(router_control_and_routed)
{
    sink control = {0}, r5 = {0}, r6 = {0};
    unh u = {0};
    ipc_router *r;
    ck_assert_int_eq(ipc_router_new(&r, &sink_listener, &control, on_unhandled, &u), 0);
    ck_assert_int_eq(ipc_router_add_route(r, 5, &sink_listener, &r5), 0);
    ck_assert_int_eq(ipc_router_add_route(r, 6, &sink_listener, &r6), 0);
    ck_assert_int_eq(ipc_router_add_route(r, 5, &sink_listener, &r6), IPC_E_EXISTS);
    ck_assert_int_eq(ipc_router_add_route(r, IPC_ROUTING_CONTROL, &sink_listener, &r6), -EINVAL);
    ck_assert_int_eq(ipc_router_add_route(r, IPC_ROUTING_NONE, &sink_listener, &r6), -EINVAL);
    ck_assert_int_eq(ipc_router_route(r, ipc_msg_new(IPC_ROUTING_CONTROL, T_A, 0)), 0);
    ck_assert_int_eq(ipc_router_route(r, ipc_msg_new(5, T_A, 0)), 0);
    ck_assert_int_eq(ipc_router_route(r, ipc_msg_new(6, T_A, 0)), 0);
    ck_assert_int_eq(ipc_router_route(r, ipc_msg_new(6, T_A, 0)), 0);
    ck_assert_int_eq(control.msgs, 1);
    ck_assert_int_eq(control.last_rid, IPC_ROUTING_CONTROL);
    ck_assert_int_eq(r5.msgs, 1);
    ck_assert_int_eq(r6.msgs, 2);
    ck_assert_int_eq(u.n, 0);
    ck_assert_uint_eq(ipc_router_unhandled_count(r), 0);
    ipc_router_free(r);
}
END_TEST

START_TEST(router_unhandled_reported_and_counted)
{
    sink r5 = {0};
    unh u = {0};
    ipc_router *r;
    /* No control listener at all. */
    ck_assert_int_eq(ipc_router_new(&r, NULL, NULL, on_unhandled, &u), 0);
    ck_assert_int_eq(ipc_router_add_route(r, 5, &sink_listener, &r5), 0);
    ck_assert_int_eq(ipc_router_route(r, ipc_msg_new(77, T_A, 0)), IPC_E_UNHANDLED);
    ck_assert_int_eq(u.n, 1);
    ck_assert_int_eq(u.err, IPC_E_UNHANDLED);
    ck_assert_int_eq(u.rid, 77);
    ck_assert_int_eq(ipc_router_route(r, ipc_msg_new(IPC_ROUTING_CONTROL, T_A, 0)),
                     IPC_E_UNHANDLED);
    ck_assert_int_eq(ipc_router_route(r, ipc_msg_new(IPC_ROUTING_NONE, T_A, 0)), IPC_E_UNHANDLED);
    ck_assert_int_eq(ipc_router_remove_route(r, 5), 0);
    ck_assert_int_eq(ipc_router_remove_route(r, 5), -ENOENT);
    ck_assert_int_eq(ipc_router_route(r, ipc_msg_new(5, T_A, 0)), IPC_E_UNHANDLED);
    ck_assert_int_eq(r5.msgs, 0);
    ck_assert_uint_eq(ipc_router_unhandled_count(r), 4);
    ck_assert_int_eq(u.n, 4);
    ipc_router_free(r);
    /* Without an on_unhandled callback it is still only counted. */
    ck_assert_int_eq(ipc_router_new(&r, NULL, NULL, NULL, NULL), 0);
    ck_assert_int_eq(ipc_router_route(r, ipc_msg_new(3, T_A, 0)), IPC_E_UNHANDLED);
    ck_assert_uint_eq(ipc_router_unhandled_count(r), 1);
    ipc_router_free(r);
}
END_TEST

START_TEST(router_next_routing_id_skips_used)
{
    sink s = {0};
    ipc_router *r;
    ck_assert_int_eq(ipc_router_new(&r, NULL, NULL, NULL, NULL), 0);
    ck_assert_int_eq(ipc_router_add_route(r, 2, &sink_listener, &s), 0);
    ck_assert_int_eq(ipc_router_add_route(r, 3, &sink_listener, &s), 0);
    int32_t a = ipc_router_next_routing_id(r);
    ck_assert_int_eq(a, 1);
    ck_assert_int_eq(ipc_router_add_route(r, a, &sink_listener, &s), 0);
    ck_assert_int_eq(ipc_router_next_routing_id(r), 4);
    ck_assert_int_eq(ipc_router_next_routing_id(r), 5);
    for (int i = 0; i < 1000; i++) {
        int32_t id = ipc_router_next_routing_id(r);
        ck_assert(id > 0 && id != IPC_ROUTING_CONTROL);
        ck_assert_int_eq(ipc_router_add_route(r, id, &sink_listener, &s), 0);
    }
    ipc_router_free(r);
}
END_TEST

/* ---- a router behind a proxy, fed by a peer process ---- */

static const ipc_frame_limits test_limits = {1u << 20, IPC_MSG_MAX_FDS, NULL, NULL};

static int helper_sender(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    ipc_loop *loop;
    if (ipc_loop_new(&loop) != 0)
        return 10;
    ipc_proxy_opts o = {
        IPC_CHAN_CLIENT, NULL, IPC_CHILD_CHANNEL_FD, IPC_SIDE_CHILD, NULL, NULL, loop, NULL,
        &test_limits};
    ipc_proxy *p;
    if (ipc_proxy_create(&p, &o) != 0)
        return 11;
    static const int32_t rids[] = {IPC_ROUTING_CONTROL, 5, 6, 99, 5, IPC_ROUTING_CONTROL};
    for (size_t i = 0; i < sizeof rids / sizeof rids[0]; i++)
        ipc_proxy_send(p, ipc_msg_new(rids[i], T_A, 0));
    ipc_chan_stats st;
    do {
        usleep(1000);
        ipc_proxy_get_stats(p, &st);
    } while (st.msgs_sent < 7);
    ipc_proxy_free(p);
    ipc_loop_free(loop);
    return 0;
}

static const rig_helper helpers[] = {{"sender", helper_sender}, {NULL, NULL}};

START_TEST(router_behind_proxy_routes_peer_messages)
{
    ck_assert_ptr_nonnull(ipc_iothread_default());
    rig_fd_mark();
    sink control = {0}, r5 = {0}, r6 = {0};
    unh u = {0};
    ipc_router *r;
    ck_assert_int_eq(ipc_router_new(&r, &sink_listener, &control, on_unhandled, &u), 0);
    ck_assert_int_eq(ipc_router_add_route(r, 5, &sink_listener, &r5), 0);
    ck_assert_int_eq(ipc_router_add_route(r, 6, &sink_listener, &r6), 0);
    ipc_loop *loop;
    ck_assert_int_eq(ipc_loop_new(&loop), 0);
    ipc_proxy_opts o = {IPC_CHAN_SERVER,       NULL, -1,   IPC_SIDE_PARENT,
                        ipc_router_listener(), r,    loop, NULL,
                        &test_limits};
    ipc_proxy *p;
    ck_assert_int_eq(ipc_proxy_create(&p, &o), 0);
    int cfd = ipc_proxy_take_client_fd(p);
    pid_t pid = rig_spawn_helper("sender", cfd, NULL);
    close(cfd);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (control.errors == 0) {
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        ck_assert_msg(t.tv_sec - t0.tv_sec < 20, "no EOF from the sender");
        ipc_loop_run_once(loop, 50);
    }
    ck_assert_int_eq(control.msgs, 2);
    ck_assert_int_eq(r5.msgs, 2);
    ck_assert_int_eq(r6.msgs, 1);
    ck_assert_int_eq(u.n, 1);
    ck_assert_int_eq(u.rid, 99);
    ck_assert_uint_eq(ipc_router_unhandled_count(r), 1);
    /* Connect and error go to the control listener and every route. */
    ck_assert_int_eq(control.connected + r5.connected + r6.connected, 3);
    ck_assert_int_eq(control.errors + r5.errors + r6.errors, 3);
    ck_assert_int_eq(r6.err, IPC_E_PEER_CLOSED);
    ck_assert_int_eq(rig_wait(pid), 0);
    ipc_proxy_free(p);
    ipc_loop_run_once(loop, 0);
    ipc_loop_free(loop);
    ipc_router_free(r);
    rig_assert_no_leaks();
}
END_TEST

static Suite *router_suite(void)
{
    Suite *s = suite_create("router");
    RIG_TCASE(s, "router_control_and_routed", router_control_and_routed, 10);
    RIG_TCASE(s, "router_unhandled_reported_and_counted", router_unhandled_reported_and_counted,
              10);
    RIG_TCASE(s, "router_next_routing_id_skips_used", router_next_routing_id_skips_used, 10);
    RIG_TCASE(s, "router_behind_proxy_routes_peer_messages",
              router_behind_proxy_routes_peer_messages, 30);
    return s;
}

int main(int argc, char **argv)
{
    return rig_test_main(argc, argv, router_suite, helpers);
}
