/* nng as a user would pick it for a two-process channel: a pair0 socket over
 * ipc:// (a socket file in the run's temp dir), default options, blocking
 * nng_send()/nng_recv(); the sink takes nng_msg objects so nng is not charged
 * an extra copy. Part of ipcbench.c's single translation unit. */
#ifndef BENCH_TR_NNG_H
#define BENCH_TR_NNG_H

#include "transport.h"

#include <nng/nng.h>
#include <nng/protocol/pair0/pair.h>

/* nng reports its own error numbers; they travel as -(BASE + code). */
#define BENCH_E_NNG_BASE 20000

typedef struct nng_conn {
    bench_conn base;
    nng_socket sock;
    int open;
} nng_conn;

static int nngb_err(int e)
{
    return -(BENCH_E_NNG_BASE + e);
}

static int nngb_send(bench_conn *c, const void *buf, size_t len)
{
    nng_conn *n = (nng_conn *)c;
    int e;
    while ((e = nng_send(n->sock, (void *)buf, len, 0)) == NNG_EINTR) {
    }
    return e ? nngb_err(e) : 0;
}

static int nngb_recv(bench_conn *c, void *buf, size_t len)
{
    nng_conn *n = (nng_conn *)c;
    size_t got;
    int e;
    do {
        got = len;
        e = nng_recv(n->sock, buf, &got, 0);
    } while (e == NNG_EINTR);
    if (e)
        return nngb_err(e);
    return got == len ? 0 : -EPROTO;
}

static int nngb_recv_bulk(bench_conn *c, uint64_t count, size_t size, uint64_t *msgs,
                          uint64_t *bytes)
{
    nng_conn *n = (nng_conn *)c;
    for (*msgs = 0, *bytes = 0; *msgs < count;) {
        nng_msg *m = NULL;
        int e = nng_recvmsg(n->sock, &m, 0);
        if (e == NNG_EINTR)
            continue;
        if (e)
            return nngb_err(e);
        size_t len = nng_msg_len(m);
        nng_msg_free(m);
        if (len != size)
            return -EPROTO;
        ++*msgs;
        *bytes += len;
    }
    return 0;
}

/* pair0 does not report a vanished peer either: time out instead of hang. */
static int nngb_set_timeouts(nng_conn *n)
{
    int e = nng_socket_set_ms(n->sock, NNG_OPT_RECVTIMEO, BENCH_IO_TIMEOUT_S * 1000);
    if (e == 0)
        e = nng_socket_set_ms(n->sock, NNG_OPT_SENDTIMEO, BENCH_IO_TIMEOUT_S * 1000);
    return e ? nngb_err(e) : 0;
}

static void nngb_free(nng_conn *n)
{
    if (n->open)
        nng_close(n->sock);
    free(n);
}

static int nngb_close(bench_conn *c, int failed)
{
    int rc = bench_quit_and_reap(c, failed);
    nngb_free((nng_conn *)c);
    return rc;
}

static int nngb_open(const bench_transport *tr, bench_conn **out)
{
    static int seq;
    char path[128], name[32], url[160];
    nng_conn *n = calloc(1, sizeof(*n));
    int rc = -ENOMEM, e;
    if (!n)
        goto fail;
    n->base.tr = tr;
    snprintf(name, sizeof(name), "nng-%d.sock", seq++);
    rc = bench_tmpdir_path(name, path, sizeof(path));
    if (rc < 0)
        goto fail;
    snprintf(url, sizeof(url), "ipc://%s", path);
    if ((e = nng_pair0_open(&n->sock)) != 0) {
        rc = nngb_err(e);
        goto fail;
    }
    n->open = 1;
    if ((rc = nngb_set_timeouts(n)) < 0)
        goto fail;
    if ((e = nng_listen(n->sock, url, NULL, 0)) != 0) {
        rc = nngb_err(e);
        goto fail;
    }
    const char *args[] = {tr->name, url, NULL};
    pid_t pid = bench_spawn_peer(-1, args);
    if (pid < 0) {
        rc = (int)pid;
        goto fail;
    }
    n->base.pid = pid;
    rc = bench_expect_ready(&n->base);
    if (rc < 0) {
        nngb_close(&n->base, 1);
        return rc;
    }
    *out = &n->base;
    return 0;
fail:
    if (n)
        nngb_free(n);
    return rc;
}

static int nngb_peer_main(const bench_transport *tr, int argc, char **argv)
{
    nng_conn *n = calloc(1, sizeof(*n));
    int rc = -ENOMEM, e;
    if (!n || argc < 2)
        goto done;
    n->base.tr = tr;
    if ((e = nng_pair0_open(&n->sock)) != 0) {
        rc = nngb_err(e);
        goto done;
    }
    n->open = 1;
    if ((rc = nngb_set_timeouts(n)) < 0)
        goto done;
    if ((e = nng_dial(n->sock, argv[1], NULL, 0)) != 0) {
        rc = nngb_err(e);
        goto done;
    }
    rc = bench_peer_loop(&n->base);
done:
    if (n)
        nngb_free(n);
    if (rc <= -BENCH_E_NNG_BASE)
        fprintf(stderr, "ipcbench nng peer: %s\n", nng_strerror(-rc - BENCH_E_NNG_BASE));
    else if (rc < 0)
        fprintf(stderr, "ipcbench nng peer: %s\n", strerror(-rc));
    return rc < 0 ? 1 : 0;
}

static const bench_transport bench_tr_nng = {
    .name = "nng",
    .label = "nng pair0 ipc://",
    .open = nngb_open,
    .send = nngb_send,
    .recv = nngb_recv,
    .send_ctl = bench_send_ctl_bytes,
    .recv_ctl = bench_recv_ctl_bytes,
    .recv_bulk = nngb_recv_bulk,
    .close = nngb_close,
    .peer_main = nngb_peer_main,
};

#endif
