/* libipc as the benchmark drives it: each process runs an ipc_loop on its main
 * thread and an ipc_proxy over a socketpair channel on the default IO thread,
 * so every message goes listener thread -> IO thread -> socket -> IO thread ->
 * listener thread. The parent is IPC_CHAN_SERVER and hands the client end to
 * the re-executed peer at fd 3, which adopts it as IPC_CHAN_CLIENT.
 * Two peer variants: "libipc" answers from its listener (main thread),
 * "libipc-filter" from an ipc_filter on its IO thread. Messages are
 * control-routed, class 0x7E (a PTest-like test class), payload written with
 * the Pickle writer; explicit frame limits with no type registry.
 * Part of ipcbench.c's single translation unit (see harness.h). */
#ifndef BENCH_TR_LIBIPC_H
#define BENCH_TR_LIBIPC_H

#include "transport.h"

#include "ipc/errors.h"
#include "ipc/loop.h"
#include "ipc/msg.h"
#include "ipc/proxy.h"

#define LIPC_CLASS  0x7E
#define LIPC_T_DATA IPC_MSG_TYPE(LIPC_CLASS, 1) /* bytes: the message */
#define LIPC_T_CTL  IPC_MSG_TYPE(LIPC_CLASS, 2) /* u32 op, u32 size, u64 count */
#define LIPC_INBOX  64

static const ipc_frame_limits lipc_limits = {
    .max_payload = BENCH_MAX_MSG + 64, /* a bytes field: length + data + padding */
    .max_fds = 4,
    .type_known = NULL,
    .type_ctx = NULL,
};

/* ---- messages ---- */

static int lipc_new_data(const void *buf, size_t len, ipc_msg **out)
{
    ipc_msg *m = ipc_msg_new(IPC_ROUTING_CONTROL, LIPC_T_DATA, 0);
    if (!m)
        return -ENOMEM;
    int rc = ipc_pickle_write_bytes(ipc_msg_writer(m), buf, len);
    if (rc < 0) {
        ipc_msg_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

static int lipc_new_ctl(const bench_ctl *ctl, ipc_msg **out)
{
    ipc_msg *m = ipc_msg_new(IPC_ROUTING_CONTROL, LIPC_T_CTL, 0);
    if (!m)
        return -ENOMEM;
    ipc_pickle *w = ipc_msg_writer(m);
    ipc_pickle_write_u32(w, ctl->op);
    ipc_pickle_write_u32(w, ctl->size);
    ipc_pickle_write_u64(w, ctl->count);
    int rc = ipc_pickle_error(w);
    if (rc < 0) {
        ipc_msg_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

/* The data message's bytes, borrowed from `m`. */
static int lipc_read_data(const ipc_msg *m, const uint8_t **p, size_t *len)
{
    ipc_pickle_iter it;
    if (ipc_msg_type(m) != LIPC_T_DATA)
        return -EPROTO;
    ipc_msg_iter(m, &it);
    int rc = ipc_pickle_read_bytes(&it, p, len);
    return rc < 0 ? rc : ipc_pickle_iter_end(&it);
}

static int lipc_read_ctl(const ipc_msg *m, bench_ctl *ctl)
{
    ipc_pickle_iter it;
    int rc;
    if (ipc_msg_type(m) != LIPC_T_CTL)
        return -EPROTO;
    ipc_msg_iter(m, &it);
    if ((rc = ipc_pickle_read_u32(&it, &ctl->op)) < 0 ||
        (rc = ipc_pickle_read_u32(&it, &ctl->size)) < 0 ||
        (rc = ipc_pickle_read_u64(&it, &ctl->count)) < 0 || (rc = ipc_pickle_iter_end(&it)) < 0)
        return rc;
    if (ctl->op < BENCH_OP_READY || ctl->op > BENCH_OP_QUIT || ctl->size > BENCH_MAX_MSG)
        return -EPROTO;
    return 0;
}

/* A reply carrying the same bytes as `req`. */
static int lipc_echo_of(const ipc_msg *req, ipc_msg **out)
{
    const uint8_t *p;
    size_t len;
    int rc = lipc_read_data(req, &p, &len);
    return rc < 0 ? rc : lipc_new_data(p, len, out);
}

/* ---- parent side: blocking calls over the main thread's loop ---- */

static ipc_loop *lipc_loop; /* the parent's main-thread loop, shared by its proxies */

typedef struct lipc_conn {
    bench_conn base;
    ipc_proxy *proxy;
    ipc_msg *inbox[LIPC_INBOX]; /* arrived on the listener, not yet taken */
    unsigned head, count;
    int err; /* from on_error / on_bad_message */
} lipc_conn;

static void lipc_on_message(void *ctx, ipc_msg *msg)
{
    lipc_conn *c = ctx;
    if (c->count == LIPC_INBOX) {
        ipc_msg_free(msg);
        if (!c->err)
            c->err = -ENOBUFS;
        return;
    }
    c->inbox[(c->head + c->count++) % LIPC_INBOX] = msg;
}

static void lipc_on_error(void *ctx, int err)
{
    lipc_conn *c = ctx;
    if (!c->err)
        c->err = err;
}

static void lipc_on_bad_message(void *ctx, int reason, uint32_t type, const char *name)
{
    (void)type;
    (void)name;
    lipc_on_error(ctx, reason);
}

static const ipc_listener lipc_parent_listener = {
    .on_message = lipc_on_message,
    .on_error = lipc_on_error,
    .on_bad_message = lipc_on_bad_message,
};

/* Runs the main loop until a message is in the inbox; takes it. */
static int lipc_take(lipc_conn *c, ipc_msg **out)
{
    while (c->count == 0) {
        if (c->err)
            return c->err;
        int rc = ipc_loop_run_once(lipc_loop, -1);
        if (rc < 0)
            return rc;
    }
    *out = c->inbox[c->head];
    c->head = (c->head + 1) % LIPC_INBOX;
    c->count--;
    return 0;
}

static int lipc_send(bench_conn *bc, const void *buf, size_t len)
{
    ipc_msg *m;
    int rc = lipc_new_data(buf, len, &m);
    return rc < 0 ? rc : ipc_proxy_send(((lipc_conn *)bc)->proxy, m);
}

static int lipc_recv(bench_conn *bc, void *buf, size_t len)
{
    ipc_msg *m;
    const uint8_t *p;
    size_t n;
    int rc = lipc_take((lipc_conn *)bc, &m);
    if (rc < 0)
        return rc;
    rc = lipc_read_data(m, &p, &n);
    if (rc == 0 && n != len)
        rc = -EPROTO;
    if (rc == 0)
        memcpy(buf, p, len);
    ipc_msg_free(m);
    return rc;
}

static int lipc_send_ctl(bench_conn *bc, const bench_ctl *ctl)
{
    ipc_msg *m;
    int rc = lipc_new_ctl(ctl, &m);
    return rc < 0 ? rc : ipc_proxy_send(((lipc_conn *)bc)->proxy, m);
}

static int lipc_recv_ctl(bench_conn *bc, bench_ctl *ctl)
{
    ipc_msg *m;
    int rc = lipc_take((lipc_conn *)bc, &m);
    if (rc < 0)
        return rc;
    rc = lipc_read_ctl(m, ctl);
    ipc_msg_free(m);
    return rc;
}

static void lipc_write_stats(bench_conn *bc, uint64_t *msgs, uint64_t *writes)
{
    ipc_chan_stats st;
    ipc_proxy_get_stats(((lipc_conn *)bc)->proxy, &st);
    *msgs = st.msgs_sent;
    *writes = st.writes;
}

static void lipc_free(lipc_conn *c)
{
    if (c->proxy) {
        ipc_proxy_close(c->proxy);
        ipc_proxy_free(c->proxy);
    }
    while (c->count) {
        ipc_msg_free(c->inbox[c->head]);
        c->head = (c->head + 1) % LIPC_INBOX;
        c->count--;
    }
    free(c);
}

static int lipc_close(bench_conn *bc, int failed)
{
    lipc_conn *c = (lipc_conn *)bc;
    int rc = bench_quit_and_reap(bc, failed || c->err);
    lipc_free(c);
    return rc;
}

static int lipc_open(const bench_transport *tr, bench_conn **out)
{
    lipc_conn *c = calloc(1, sizeof(*c));
    int rc = -ENOMEM, fd = -1;
    if (!c)
        goto fail;
    c->base.tr = tr;
    if (!lipc_loop && (rc = ipc_loop_new(&lipc_loop)) < 0)
        goto fail;
    ipc_proxy_opts opts = {
        .mode = IPC_CHAN_SERVER,
        .fd = -1,
        .side = IPC_SIDE_PARENT,
        .listener = &lipc_parent_listener,
        .listener_ctx = c,
        .listener_loop = lipc_loop,
        .limits = &lipc_limits,
    };
    if ((rc = ipc_proxy_create(&c->proxy, &opts)) < 0) {
        c->proxy = NULL;
        goto fail;
    }
    if ((fd = ipc_proxy_take_client_fd(c->proxy)) < 0) {
        rc = fd;
        goto fail;
    }
    const char *args[] = {tr->name, NULL};
    pid_t pid = bench_spawn_peer(fd, args);
    close(fd);
    if (pid < 0) {
        rc = (int)pid;
        goto fail;
    }
    c->base.pid = pid;
    if ((rc = bench_expect_ready(&c->base)) < 0) {
        lipc_close(&c->base, 1);
        return rc;
    }
    *out = &c->base;
    return 0;
fail:
    if (c)
        lipc_free(c);
    return rc;
}

/* After the last connection: the main loop goes; the default IO thread has
 * no stop call and ends with the process. */
static void bench_libipc_shutdown(void)
{
    if (!lipc_loop)
        return;
    ipc_loop_run_once(lipc_loop, 0);
    ipc_loop_free(lipc_loop);
    lipc_loop = NULL;
}

/* ---- peer side: callbacks on the peer's main loop (and IO thread) ---- */

typedef struct lipc_peer {
    ipc_loop *loop;
    ipc_proxy *proxy;
    uint32_t mode; /* BENCH_OP_ECHO or BENCH_OP_SINK */
    uint32_t size;
    uint64_t want, msgs, bytes;
    int err, quitting;
} lipc_peer;

static void lipc_peer_fail(lipc_peer *p, int err)
{
    if (!p->err && !p->quitting)
        p->err = err;
    ipc_loop_quit(p->loop);
}

static int lipc_peer_send_ctl(lipc_peer *p, const bench_ctl *ctl)
{
    ipc_msg *m;
    int rc = lipc_new_ctl(ctl, &m);
    return rc < 0 ? rc : ipc_proxy_send(p->proxy, m);
}

static int lipc_peer_on_ctl(lipc_peer *p, const ipc_msg *msg)
{
    bench_ctl ctl;
    int rc = lipc_read_ctl(msg, &ctl);
    if (rc < 0)
        return rc;
    if (ctl.op == BENCH_OP_QUIT) {
        p->quitting = 1;
        ipc_loop_quit(p->loop);
        return 0;
    }
    if (ctl.op != BENCH_OP_ECHO && ctl.op != BENCH_OP_SINK)
        return -EPROTO;
    p->mode = ctl.op;
    p->size = ctl.size;
    p->want = ctl.count;
    p->msgs = p->bytes = 0;
    if (p->mode == BENCH_OP_SINK && p->want == 0) {
        bench_ctl ack = {.op = BENCH_OP_ACK};
        return lipc_peer_send_ctl(p, &ack);
    }
    return 0;
}

static int lipc_peer_on_data(lipc_peer *p, const ipc_msg *msg)
{
    const uint8_t *data = NULL;
    size_t len = 0;
    ipc_msg *reply = NULL;
    int rc = 0;
    if (p->mode == BENCH_OP_ECHO) {
        rc = lipc_echo_of(msg, &reply);
        return rc < 0 ? rc : ipc_proxy_send(p->proxy, reply);
    }
    if (p->mode != BENCH_OP_SINK)
        return -EPROTO;
    rc = lipc_read_data(msg, &data, &len);
    if (rc < 0)
        return rc;
    if (len != p->size)
        return -EPROTO;
    p->msgs++;
    p->bytes += len;
    if (p->msgs == p->want) {
        bench_ctl ack = {.op = BENCH_OP_ACK, .size = p->size, .count = p->msgs};
        return lipc_peer_send_ctl(p, &ack);
    }
    return 0;
}

static void lipc_peer_on_message(void *ctx, ipc_msg *msg)
{
    lipc_peer *p = ctx;
    int rc = ipc_msg_type(msg) == LIPC_T_CTL ? lipc_peer_on_ctl(p, msg) : lipc_peer_on_data(p, msg);
    ipc_msg_free(msg);
    if (rc < 0)
        lipc_peer_fail(p, rc);
}

static void lipc_peer_on_error(void *ctx, int err)
{
    lipc_peer_fail(ctx, err);
}

static void lipc_peer_on_bad_message(void *ctx, int reason, uint32_t type, const char *name)
{
    (void)type;
    (void)name;
    lipc_peer_fail(ctx, reason);
}

static const ipc_listener lipc_peer_listener = {
    .on_message = lipc_peer_on_message,
    .on_error = lipc_peer_on_error,
    .on_bad_message = lipc_peer_on_bad_message,
};

/* The filter variant: data is answered on the IO thread and never reaches the
 * listener; control messages pass on to it. */
static int lipc_filter_on_message(void *ctx, ipc_proxy *proxy, ipc_msg *msg)
{
    ipc_msg *reply;
    (void)ctx;
    if (ipc_msg_type(msg) != LIPC_T_DATA)
        return 0;
    if (lipc_echo_of(msg, &reply) == 0)
        ipc_proxy_send(proxy, reply);
    ipc_msg_free(msg);
    return 1;
}

static int lipc_peer_run(int with_filter)
{
    lipc_peer p = {0};
    int rc = ipc_loop_new(&p.loop);
    if (rc < 0)
        goto done;
    ipc_proxy_opts opts = {
        .mode = IPC_CHAN_CLIENT,
        .fd = IPC_CHILD_CHANNEL_FD,
        .side = IPC_SIDE_CHILD,
        .listener = &lipc_peer_listener,
        .listener_ctx = &p,
        .listener_loop = p.loop,
        .limits = &lipc_limits,
    };
    /* Installed before the channel reads, so the filter sees every message. */
    ipc_filter echo = {.on_message = lipc_filter_on_message, .ctx = &p};
    if (with_filter) {
        opts.filters = &echo;
        opts.nfilters = 1;
    }
    if ((rc = ipc_proxy_create(&p.proxy, &opts)) < 0) {
        p.proxy = NULL;
        goto done;
    }
    bench_ctl ready = {.op = BENCH_OP_READY};
    if ((rc = lipc_peer_send_ctl(&p, &ready)) < 0)
        goto done;
    rc = ipc_loop_run(p.loop);
    if (rc == 0)
        rc = p.err;
done:
    if (p.proxy) {
        ipc_proxy_close(p.proxy);
        ipc_proxy_free(p.proxy);
    }
    if (p.loop) {
        ipc_loop_run_once(p.loop, 0);
        ipc_loop_free(p.loop);
    }
    if (rc < 0)
        fprintf(stderr, "ipcbench libipc peer: %s\n", ipc_strerror(rc));
    return rc < 0 ? 1 : 0;
}

static int lipc_peer_main(const bench_transport *tr, int argc, char **argv)
{
    (void)tr;
    (void)argc;
    (void)argv;
    return lipc_peer_run(0);
}

static int lipc_peer_filter_main(const bench_transport *tr, int argc, char **argv)
{
    (void)tr;
    (void)argc;
    (void)argv;
    return lipc_peer_run(1);
}

static const bench_transport bench_tr_libipc = {
    .name = "libipc",
    .label = "libipc (listener)",
    .open = lipc_open,
    .send = lipc_send,
    .recv = lipc_recv,
    .send_ctl = lipc_send_ctl,
    .recv_ctl = lipc_recv_ctl,
    .close = lipc_close,
    .write_stats = lipc_write_stats,
    .peer_main = lipc_peer_main,
};

static const bench_transport bench_tr_libipc_filter = {
    .name = "libipc-filter",
    .label = "libipc (peer IO filter)",
    .open = lipc_open,
    .send = lipc_send,
    .recv = lipc_recv,
    .send_ctl = lipc_send_ctl,
    .recv_ctl = lipc_recv_ctl,
    .close = lipc_close,
    .write_stats = lipc_write_stats,
    .peer_main = lipc_peer_filter_main,
};

#endif
