/* The baseline: a bare AF_UNIX stream socketpair between two processes,
 * blocking send()/recv(), one send() per message, no framing, no threads.
 * The receiving side of a throughput run reads in large chunks, as a plain
 * byte stream allows. Part of ipcbench.c's single translation unit. */
#ifndef BENCH_TR_RAW_H
#define BENCH_TR_RAW_H

#include "transport.h"

#include <sys/socket.h>

typedef struct raw_conn {
    bench_conn base;
    int fd;
} raw_conn;

static int raw_send(bench_conn *c, const void *buf, size_t len)
{
    raw_conn *r = (raw_conn *)c;
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = send(r->fd, p, len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int raw_read_exact(int fd, void *buf, size_t len)
{
    uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = recv(fd, p, len, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            return -ECONNRESET;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int raw_recv(bench_conn *c, void *buf, size_t len)
{
    return raw_read_exact(((raw_conn *)c)->fd, buf, len);
}

static int raw_recv_bulk(bench_conn *c, uint64_t count, size_t size, uint64_t *msgs,
                         uint64_t *bytes)
{
    static uint8_t chunk[256 * 1024];
    raw_conn *r = (raw_conn *)c;
    uint64_t left = count * size;
    while (left > 0) {
        size_t want = left < sizeof(chunk) ? (size_t)left : sizeof(chunk);
        ssize_t n = recv(r->fd, chunk, want, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            return -ECONNRESET;
        left -= (uint64_t)n;
    }
    *msgs = count;
    *bytes = count * size;
    return 0;
}

static int raw_close(bench_conn *c, int failed)
{
    raw_conn *r = (raw_conn *)c;
    int rc = bench_quit_and_reap(c, failed);
    close(r->fd);
    free(r);
    return rc;
}

static int raw_open(const bench_transport *tr, bench_conn **out)
{
    int sv[2] = {-1, -1};
    raw_conn *r = calloc(1, sizeof(*r));
    int rc = -ENOMEM;
    if (!r)
        goto fail;
    r->base.tr = tr;
    r->fd = -1;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        rc = -errno;
        goto fail;
    }
    const char *args[] = {tr->name, NULL};
    pid_t pid = bench_spawn_peer(sv[1], args);
    close(sv[1]);
    sv[1] = -1;
    if (pid < 0) {
        rc = (int)pid;
        goto fail;
    }
    r->base.pid = pid;
    r->fd = sv[0];
    sv[0] = -1;
    rc = bench_expect_ready(&r->base);
    if (rc < 0) {
        raw_close(&r->base, 1);
        return rc;
    }
    *out = &r->base;
    return 0;
fail:
    if (sv[0] >= 0)
        close(sv[0]);
    free(r);
    return rc;
}

static int raw_peer_main(const bench_transport *tr, int argc, char **argv)
{
    (void)argc;
    (void)argv;
    raw_conn r = {.base = {.tr = tr}, .fd = 3};
    int rc = bench_peer_loop(&r.base);
    close(r.fd);
    return rc < 0 ? 1 : 0;
}

static const bench_transport bench_tr_raw = {
    .name = "raw",
    .label = "raw socketpair",
    .open = raw_open,
    .send = raw_send,
    .recv = raw_recv,
    .send_ctl = bench_send_ctl_bytes,
    .recv_ctl = bench_recv_ctl_bytes,
    .recv_bulk = raw_recv_bulk,
    .close = raw_close,
    .peer_main = raw_peer_main,
};

#endif
