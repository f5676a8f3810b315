/* ZeroMQ as a user would pick it for a two-process channel: a ZMQ_PAIR socket
 * over ipc:// (a socket file in the run's temp dir), default options, blocking
 * zmq_send()/zmq_recv(); the sink receives into reused zmq_msg_t objects so
 * ZeroMQ is not charged an extra copy. Part of ipcbench.c's single TU. */
#ifndef BENCH_TR_ZMQ_H
#define BENCH_TR_ZMQ_H

#include "transport.h"

#include <zmq.h>

typedef struct zmq_conn {
    bench_conn base;
    void *ctx;
    void *sock;
} zmq_conn;

/* EAGAIN from a blocking call means ZMQ_RCVTIMEO/ZMQ_SNDTIMEO expired. */
static int zmq_err(void)
{
    int e = zmq_errno();
    return e == EAGAIN ? -ETIMEDOUT : e > 0 ? -e : -EIO;
}

static int zmqb_send(bench_conn *c, const void *buf, size_t len)
{
    zmq_conn *z = (zmq_conn *)c;
    while (zmq_send(z->sock, buf, len, 0) < 0) {
        if (zmq_errno() != EINTR)
            return zmq_err();
    }
    return 0;
}

static int zmqb_recv(bench_conn *c, void *buf, size_t len)
{
    zmq_conn *z = (zmq_conn *)c;
    int n;
    while ((n = zmq_recv(z->sock, buf, len, 0)) < 0) {
        if (zmq_errno() != EINTR)
            return zmq_err();
    }
    return (size_t)n == len ? 0 : -EPROTO;
}

static int zmqb_recv_bulk(bench_conn *c, uint64_t count, size_t size, uint64_t *msgs,
                          uint64_t *bytes)
{
    zmq_conn *z = (zmq_conn *)c;
    zmq_msg_t m;
    int rc = 0;
    zmq_msg_init(&m);
    for (*msgs = 0, *bytes = 0; *msgs < count;) {
        int n = zmq_msg_recv(&m, z->sock, 0);
        if (n < 0 && zmq_errno() == EINTR)
            continue;
        if (n < 0 || (size_t)n != size) {
            rc = n < 0 ? zmq_err() : -EPROTO;
            break;
        }
        ++*msgs;
        *bytes += (uint64_t)n;
    }
    zmq_msg_close(&m);
    return rc;
}

static void zmqb_free(zmq_conn *z)
{
    if (z->sock) {
        int linger = 0;
        zmq_setsockopt(z->sock, ZMQ_LINGER, &linger, sizeof(linger));
        zmq_close(z->sock);
    }
    if (z->ctx)
        zmq_ctx_term(z->ctx);
    free(z);
}

static int zmqb_close(bench_conn *c, int failed)
{
    int rc = bench_quit_and_reap(c, failed);
    zmqb_free((zmq_conn *)c);
    return rc;
}

static int zmqb_socket(zmq_conn *z)
{
    /* PAIR never reports a vanished peer: a timeout turns that into an error
     * for this row instead of a hang for the whole run. */
    int timeout_ms = BENCH_IO_TIMEOUT_S * 1000;
    z->ctx = zmq_ctx_new();
    if (!z->ctx)
        return zmq_err();
    z->sock = zmq_socket(z->ctx, ZMQ_PAIR);
    if (!z->sock)
        return zmq_err();
    if (zmq_setsockopt(z->sock, ZMQ_RCVTIMEO, &timeout_ms, sizeof(timeout_ms)) < 0 ||
        zmq_setsockopt(z->sock, ZMQ_SNDTIMEO, &timeout_ms, sizeof(timeout_ms)) < 0)
        return zmq_err();
    return 0;
}

static int zmqb_open(const bench_transport *tr, bench_conn **out)
{
    static int seq;
    char path[128], name[32], url[160];
    zmq_conn *z = calloc(1, sizeof(*z));
    int rc = -ENOMEM;
    if (!z)
        goto fail;
    z->base.tr = tr;
    snprintf(name, sizeof(name), "zmq-%d.sock", seq++);
    rc = bench_tmpdir_path(name, path, sizeof(path));
    if (rc < 0)
        goto fail;
    snprintf(url, sizeof(url), "ipc://%s", path);
    rc = zmqb_socket(z);
    if (rc < 0)
        goto fail;
    if (zmq_bind(z->sock, url) < 0) {
        rc = zmq_err();
        goto fail;
    }
    const char *args[] = {tr->name, url, NULL};
    pid_t pid = bench_spawn_peer(-1, args);
    if (pid < 0) {
        rc = (int)pid;
        goto fail;
    }
    z->base.pid = pid;
    rc = bench_expect_ready(&z->base);
    if (rc < 0) {
        zmqb_close(&z->base, 1);
        return rc;
    }
    *out = &z->base;
    return 0;
fail:
    if (z)
        zmqb_free(z);
    return rc;
}

static int zmqb_peer_main(const bench_transport *tr, int argc, char **argv)
{
    zmq_conn *z = calloc(1, sizeof(*z));
    int rc = -ENOMEM;
    if (!z || argc < 2)
        goto done;
    z->base.tr = tr;
    rc = zmqb_socket(z);
    if (rc == 0 && zmq_connect(z->sock, argv[1]) < 0)
        rc = zmq_err();
    if (rc == 0)
        rc = bench_peer_loop(&z->base);
done:
    if (z)
        zmqb_free(z);
    if (rc < 0)
        fprintf(stderr, "ipcbench zmq peer: %s\n", strerror(-rc));
    return rc < 0 ? 1 : 0;
}

static const bench_transport bench_tr_zmq = {
    .name = "zmq",
    .label = "ZeroMQ PAIR ipc://",
    .open = zmqb_open,
    .send = zmqb_send,
    .recv = zmqb_recv,
    .send_ctl = bench_send_ctl_bytes,
    .recv_ctl = bench_recv_ctl_bytes,
    .recv_bulk = zmqb_recv_bulk,
    .close = zmqb_close,
    .peer_main = zmqb_peer_main,
};

#endif
