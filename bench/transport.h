/* The transport interface every benchmarked IPC stack implements (raw
 * socketpair, ZeroMQ, nng, libipc), the control messages the benchmark sends
 * its peer process, and the generic peer loop for blocking transports.
 *
 * Protocol (parent -> peer): a control message {op, size, count}, then data.
 *   ECHO  the peer sends back each of the next `count` messages of `size`
 *   SINK  the peer receives `count` messages of `size`, then sends ACK with
 *         the count and bytes it received
 *   QUIT  the peer closes its end and exits 0
 * The peer sends READY once it is connected. Part of ipcbench.c's single
 * translation unit (see harness.h). */
#ifndef BENCH_TRANSPORT_H
#define BENCH_TRANSPORT_H

#include "harness.h"

#define BENCH_CTL_SIZE 16
#define BENCH_MAX_MSG  (64u * 1024u)

enum bench_op { BENCH_OP_READY = 1, BENCH_OP_ECHO, BENCH_OP_SINK, BENCH_OP_ACK, BENCH_OP_QUIT };

typedef struct bench_ctl {
    uint32_t op;
    uint32_t size;  /* message size (ECHO, SINK); ACK: the size received */
    uint64_t count; /* messages (ECHO, SINK); ACK: messages received */
} bench_ctl;

static void bench_ctl_encode(const bench_ctl *c, uint8_t out[BENCH_CTL_SIZE])
{
    bench_put_u32(out, c->op);
    bench_put_u32(out + 4, c->size);
    bench_put_u64(out + 8, c->count);
}

static int bench_ctl_decode(const uint8_t in[BENCH_CTL_SIZE], bench_ctl *c)
{
    c->op = bench_get_u32(in);
    c->size = bench_get_u32(in + 4);
    c->count = bench_get_u64(in + 8);
    if (c->op < BENCH_OP_READY || c->op > BENCH_OP_QUIT || c->size > BENCH_MAX_MSG)
        return -EPROTO;
    return 0;
}

typedef struct bench_transport bench_transport;

/* One connection from the benchmark to its peer process. Transports embed it
 * as their first member. */
typedef struct bench_conn {
    const bench_transport *tr;
    pid_t pid; /* the peer; 0 in the peer itself */
} bench_conn;

struct bench_transport {
    const char *name;  /* for --peer and for selecting rows */
    const char *label; /* for the tables */
    /* Parent: spawns the peer, connects, waits for READY. 0 or negative. */
    int (*open)(const bench_transport *tr, bench_conn **out);
    /* Both sides, blocking. 0 or negative. */
    int (*send)(bench_conn *c, const void *buf, size_t len);
    /* Receives one message that must be exactly `len` bytes. */
    int (*recv)(bench_conn *c, void *buf, size_t len);
    int (*send_ctl)(bench_conn *c, const bench_ctl *ctl);
    int (*recv_ctl)(bench_conn *c, bench_ctl *ctl);
    /* Peer: receives `count` messages of `size` as fast as the transport
     * allows; adds up what arrived. NULL: recv() in a loop. */
    int (*recv_bulk)(bench_conn *c, uint64_t count, size_t size, uint64_t *msgs, uint64_t *bytes);
    /* Parent: QUIT, reap the peer (killing it if `failed` or it lingers),
     * free. Returns the peer's exit code. */
    int (*close)(bench_conn *c, int failed);
    /* Parent, optional: cumulative messages handed to the kernel and the
     * write calls that carried them (shows batching with -v). */
    void (*write_stats)(bench_conn *c, uint64_t *msgs, uint64_t *writes);
    /* Peer: `self --peer <name> args...` runs this; returns the exit code. */
    int (*peer_main)(const bench_transport *tr, int argc, char **argv);
};

/* Control messages as plain 16-byte messages, for byte/message transports. */
static int bench_send_ctl_bytes(bench_conn *c, const bench_ctl *ctl)
{
    uint8_t b[BENCH_CTL_SIZE];
    bench_ctl_encode(ctl, b);
    return c->tr->send(c, b, sizeof(b));
}

static int bench_recv_ctl_bytes(bench_conn *c, bench_ctl *ctl)
{
    uint8_t b[BENCH_CTL_SIZE];
    int rc = c->tr->recv(c, b, sizeof(b));
    return rc < 0 ? rc : bench_ctl_decode(b, ctl);
}

static int bench_expect_ready(bench_conn *c)
{
    bench_ctl ctl;
    int rc = c->tr->recv_ctl(c, &ctl);
    if (rc < 0)
        return rc;
    return ctl.op == BENCH_OP_READY ? 0 : -EPROTO;
}

static int bench_peer_echo(bench_conn *c, const bench_ctl *ctl, uint8_t *buf)
{
    for (uint64_t i = 0; i < ctl->count; i++) {
        int rc = c->tr->recv(c, buf, ctl->size);
        if (rc < 0)
            return rc;
        rc = c->tr->send(c, buf, ctl->size);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int bench_peer_sink(bench_conn *c, const bench_ctl *ctl, uint8_t *buf)
{
    uint64_t msgs = 0, bytes = 0;
    int rc = 0;
    if (c->tr->recv_bulk) {
        rc = c->tr->recv_bulk(c, ctl->count, ctl->size, &msgs, &bytes);
    } else {
        for (; msgs < ctl->count && rc == 0; msgs++) {
            rc = c->tr->recv(c, buf, ctl->size);
            bytes += ctl->size;
        }
    }
    if (rc < 0)
        return rc;
    bench_ctl ack = {
        .op = BENCH_OP_ACK, .size = (uint32_t)(msgs ? bytes / msgs : 0), .count = msgs};
    return c->tr->send_ctl(c, &ack);
}

/* The peer side for blocking transports: READY, then serve control messages
 * until QUIT. Returns 0 on QUIT, negative on any error. */
static int bench_peer_loop(bench_conn *c)
{
    static uint8_t buf[BENCH_MAX_MSG];
    bench_ctl ctl = {.op = BENCH_OP_READY};
    int rc = c->tr->send_ctl(c, &ctl);
    while (rc == 0) {
        rc = c->tr->recv_ctl(c, &ctl);
        if (rc < 0)
            break;
        if (ctl.op == BENCH_OP_QUIT)
            return 0;
        if (ctl.op == BENCH_OP_ECHO)
            rc = bench_peer_echo(c, &ctl, buf);
        else if (ctl.op == BENCH_OP_SINK)
            rc = bench_peer_sink(c, &ctl, buf);
        else
            rc = -EPROTO;
    }
    return rc;
}

/* Parent side of close for blocking transports: QUIT, then reap. */
static int bench_quit_and_reap(bench_conn *c, int failed)
{
    bench_ctl quit = {.op = BENCH_OP_QUIT};
    if (!failed && c->tr->send_ctl(c, &quit) == 0)
        return bench_reap(c->pid, BENCH_REAP_TIMEOUT_MS);
    return bench_kill_and_reap(c->pid);
}

#endif
