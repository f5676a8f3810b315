/* The channel: one end of a socketpair driven by an IO thread. Sends go to a
 * mutex-protected output queue; whoever holds the write token (a sending
 * thread writing directly, or the IO thread) flushes it, many messages per
 * sendmsg, resuming partial writes exactly where they stopped. Reads go
 * straight into the frame decoder; every decoded message reaches the listener
 * before any error. Design notes: docs/channels.md. */
#include "ipc/chan.h"

#include "chan_internal.h"
#include "ipc/errors.h"
#include "ipc/protocol.h"
#include "loop_internal.h"
#include "msg_internal.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/* At most this many fds ride on one sendmsg (the kernel allows 253). */
#define FDS_PER_SEND 250
/* Two iovecs (header, payload) per message. */
#define BATCH_MSGS (IOV_MAX / 2)
/* Reads per read event before yielding to other channels. */
#define READS_PER_EVENT 16
/* Direct writes by sending threads in a row, with nothing received in
 * between, before the channel counts as streaming and the IO thread batches. */
#define DIRECT_STREAK_MAX 8
/* Flow control: a sending thread (never the IO thread) that finds more than
 * HIGH_WATER bytes queued waits until the queue is below LOW_WATER. Memory
 * stays bounded and is reused while warm instead of faulted in afresh. */
#define HIGH_WATER (8u << 20)
#define LOW_WATER (4u << 20)

struct ipc_chan {
    atomic_int refs;
    ipc_chan_mode mode;
    char *channel_id;
    int fd;
    int client_fd;      /* server mode, no channel id: ours until taken */
    int client_in_map;  /* server mode with id: the map holds client_map_fd */
    int client_map_fd;
    ipc_listener listener;
    void *lctx;
    ipc_frame_limits limits;      /* the decoder's: type_known is ours */
    ipc_frame_limits user_limits; /* as given */
    void (*read_done)(void *ctx);
    void *read_done_ctx;

    /* The read side. The IO thread reads, and so may the listener's thread
     * while it sleeps in its loop with nothing else to do (direct mode, see
     * ipc__chan_listener_read): rmu, recursive because callbacks may close
     * the channel, is held around every read and around shut(). */
    pthread_mutex_t rmu;
    int direct;         /* under rmu: the listener may read while idle */
    int listener_idle;  /* under rmu: it is idle and will read what arrives */
    int ctrunc_pending; /* under rmu: the listener's read lost fds */
    int xfd;            /* direct mode: the IO thread's private epoll set */
    struct event *xev;  /* ... watched by the IO loop */
    int io_armed;       /* under rmu: the socket is armed in xfd */

    /* IO thread (or the reader holding rmu). */
    ipc_loop *io;
    ipc_frame_decoder *dec;
    struct event *rev, *wev;
    ipc__fork_hook fork_hook;
    int closed_io;    /* ipc_chan_close ran (or the child discarded it) */
    int err_reported; /* on_error has been called (or is never to be) */
    int got_hello;
    pid_t expect_pid; /* opts->peer_pid: a bridge's known peer, or 0 */
    int in_read;      /* inside the read callback: flush at its end */
    int flush_after_read;
    pid_t peer_pid;   /* also read by other threads: under mu */

    /* Write token holder only. */
    uint8_t (*hdrs)[IPC_MSG_HEADER_SIZE];

    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_cond_t cv_space; /* the queue went below LOW_WATER, or closed */
    size_t queued_bytes;
    ipc_msg **q; /* output ring */
    size_t qhead, qlen, qcap;
    size_t head_off;         /* bytes of q[qhead] already written */
    uint32_t head_fds_sent;  /* fds of q[qhead] already written */
    int can_write;           /* connected and not closed */
    int closed;              /* sends are refused */
    int busy;                /* the write token is held */
    int thread_writing;      /* ... by a thread other than the IO thread */
    int write_dead;          /* the socket refused a write: no more writes */
    int write_err;           /* why, when it is ours to report */
    int direct_streak;
    int flush_waiters;       /* threads in ipc__chan_wait_flushed */
    ipc_chan_stats stats;
};

static void flush(ipc_chan *c, int on_io);
static void fail_channel(ipc_chan *c, int err);

/* ---- lifetime ---- */

void ipc__chan_ref(ipc_chan *c)
{
    atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
}

/* The client end dies with the channel, as in Chromium's Close(). */
static void drop_client_end(ipc_chan *c)
{
    pthread_mutex_lock(&c->mu);
    int fd = c->client_fd;
    c->client_fd = -1;
    int in_map = c->client_in_map;
    c->client_in_map = 0;
    pthread_mutex_unlock(&c->mu);
    if (fd >= 0)
        close(fd);
    if (in_map) {
        fd = ipc__chan_map_take_if(c->channel_id, c->client_map_fd);
        if (fd >= 0)
            close(fd);
    }
}

static void destroy(ipc_chan *c)
{
    for (size_t i = 0; i < c->qlen; i++)
        ipc_msg_free(c->q[(c->qhead + i) % c->qcap]);
    if (c->fd >= 0)
        close(c->fd);
    drop_client_end(c);
    ipc_frame_decoder_free(c->dec);
    if (c->rev)
        event_free(c->rev);
    if (c->wev)
        event_free(c->wev);
    if (c->xev)
        event_free(c->xev);
    if (c->xfd >= 0)
        close(c->xfd);
    free(c->q);
    free(c->hdrs);
    free(c->channel_id);
    pthread_mutex_destroy(&c->mu);
    pthread_mutex_destroy(&c->rmu);
    pthread_cond_destroy(&c->cv);
    pthread_cond_destroy(&c->cv_space);
    free(c);
}

void ipc__chan_unref(ipc_chan *c)
{
    if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1)
        destroy(c);
}

/* The hello is the channel's own: known whatever the caller's table says. */
static int chan_type_known(uint32_t type, void *ctx)
{
    ipc_chan *c = ctx;
    return type == IPC_MSG_HELLO || c->user_limits.type_known(type, c->user_limits.type_ctx);
}

static void init_rmu(pthread_mutex_t *m)
{
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(m, &a);
    pthread_mutexattr_destroy(&a);
}

static int set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return -errno;
    return 0;
}

static int open_server(ipc_chan *c, const ipc_chan_opts *opts)
{
    int fds[2];
    int rc = ipc_socketpair(opts->channel_id, fds);
    if (rc)
        return rc;
    c->fd = fds[0];
    if (opts->channel_id) {
        rc = ipc_chan_map_register(opts->channel_id, fds[1]);
        if (rc) {
            close(fds[1]);
            return rc;
        }
        c->client_in_map = 1;
        c->client_map_fd = fds[1];
    } else {
        c->client_fd = fds[1];
    }
    return 0;
}

static int open_client(ipc_chan *c, const ipc_chan_opts *opts)
{
    if (opts->fd >= 0) {
        c->fd = opts->fd;
        return 0;
    }
    if (!opts->channel_id)
        return -EINVAL;
    int fd = ipc_chan_map_take(opts->channel_id);
    if (fd < 0)
        return fd;
    c->fd = fd;
    return 0;
}

int ipc_chan_create(ipc_chan **out, const ipc_chan_opts *opts)
{
    *out = NULL;
    int rc = -ENOMEM;
    /* Server mode ignores opts->fd: a zeroed struct must not cost us stdin. */
    int adopt = opts->mode == IPC_CHAN_CLIENT ? opts->fd : -1;
    ipc_chan *c = calloc(1, sizeof *c);
    if (!c)
        goto fail;
    atomic_init(&c->refs, 1);
    c->fd = c->client_fd = c->client_map_fd = c->xfd = -1;
    c->peer_pid = -1;
    c->mode = opts->mode;
    c->expect_pid = opts->peer_pid > 0 ? opts->peer_pid : 0;
    pthread_mutex_init(&c->mu, NULL);
    init_rmu(&c->rmu);
    pthread_cond_init(&c->cv, NULL);
    pthread_cond_init(&c->cv_space, NULL);
    if (opts->listener)
        c->listener = *opts->listener;
    c->lctx = opts->listener_ctx;
    if (opts->limits) {
        c->user_limits = *opts->limits;
    } else {
        ipc_frame_limits_default(&c->user_limits);
        c->user_limits.type_known = ipc_msg_type_known;
    }
    c->limits = c->user_limits;
    if (c->user_limits.type_known) {
        c->limits.type_known = chan_type_known;
        c->limits.type_ctx = c;
    }
    if (opts->channel_id && !(c->channel_id = strdup(opts->channel_id)))
        goto fail;
    rc = opts->mode == IPC_CHAN_SERVER ? open_server(c, opts) : open_client(c, opts);
    adopt = -1; /* open_client took it */
    if (rc)
        goto fail;
    rc = set_nonblock(c->fd);
    if (rc)
        goto fail;
    rc = ipc_frame_decoder_new(&c->dec, &c->limits);
    if (rc)
        goto fail;
    *out = c;
    return 0;
fail:
    if (adopt >= 0)
        close(adopt);
    if (c)
        destroy(c);
    return rc;
}

int ipc_chan_client_fd(const ipc_chan *c)
{
    ipc_chan *m = (ipc_chan *)c;
    pthread_mutex_lock(&m->mu);
    int fd = m->client_fd;
    pthread_mutex_unlock(&m->mu);
    return fd;
}

int ipc_chan_take_client_fd(ipc_chan *c)
{
    pthread_mutex_lock(&c->mu);
    int fd = c->client_fd;
    c->client_fd = -1;
    pthread_mutex_unlock(&c->mu);
    return fd;
}

void ipc__chan_set_read_done(ipc_chan *c, void (*fn)(void *ctx), void *ctx)
{
    c->read_done = fn;
    c->read_done_ctx = ctx;
}

/* ---- the output queue (under mu) ---- */

static int q_grow(ipc_chan *c)
{
    size_t cap = c->qcap ? c->qcap * 2 : 64;
    ipc_msg **q = malloc(cap * sizeof *q);
    if (!q)
        return -ENOMEM;
    for (size_t i = 0; i < c->qlen; i++)
        q[i] = c->q[(c->qhead + i) % c->qcap];
    free(c->q);
    c->q = q;
    c->qcap = cap;
    c->qhead = 0;
    return 0;
}

static size_t msg_wire_size(const ipc_msg *m)
{
    return IPC_MSG_HEADER_SIZE + m->payload.len;
}

static int q_push(ipc_chan *c, ipc_msg *m)
{
    if (c->qlen == c->qcap && q_grow(c) != 0)
        return -ENOMEM;
    c->q[(c->qhead + c->qlen) % c->qcap] = m;
    c->qlen++;
    c->queued_bytes += msg_wire_size(m);
    return 0;
}

static int q_push_front(ipc_chan *c, ipc_msg *m)
{
    if (c->qlen == c->qcap && q_grow(c) != 0)
        return -ENOMEM;
    c->qhead = (c->qhead + c->qcap - 1) % c->qcap;
    c->q[c->qhead] = m;
    c->qlen++;
    c->queued_bytes += msg_wire_size(m);
    return 0;
}

static ipc_msg *q_at(const ipc_chan *c, size_t i)
{
    return c->q[(c->qhead + i) % c->qcap];
}

static ipc_msg *q_pop(ipc_chan *c)
{
    ipc_msg *m = c->q[c->qhead];
    c->qhead = (c->qhead + 1) % c->qcap;
    c->qlen--;
    size_t was = c->queued_bytes;
    c->queued_bytes -= msg_wire_size(m);
    if (was >= LOW_WATER && c->queued_bytes < LOW_WATER)
        pthread_cond_broadcast(&c->cv_space);
    return m;
}

/* ---- writing ---- */

typedef struct batch {
    struct iovec iov[2 * BATCH_MSGS];
    int iovcnt;
    size_t nmsgs;
    size_t bytes[BATCH_MSGS]; /* bytes of each message in this batch */
    size_t total;
    uint32_t nfds; /* fds of the first message in this batch */
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(FDS_PER_SEND * sizeof(int))];
    } ctl;
} batch;

/* Adds bytes [off, off+len) of message m (header then payload) to the batch. */
static void add_span(batch *b, const uint8_t *hdr, const ipc_msg *m, size_t off, size_t len)
{
    if (off < IPC_MSG_HEADER_SIZE) {
        size_t n = IPC_MSG_HEADER_SIZE - off;
        n = n < len ? n : len;
        b->iov[b->iovcnt++] = (struct iovec){(void *)(hdr + off), n};
        off += n;
        len -= n;
    }
    if (len > 0)
        b->iov[b->iovcnt++] =
            (struct iovec){m->payload.data + (off - IPC_MSG_HEADER_SIZE), len};
}

/* Fills the batch from the queue head (under mu). A message with fds to send
 * always starts a batch, so its fds travel with its own first bytes; one with
 * more than FDS_PER_SEND fds is cut so that every chunk of fds has bytes. */
static void build_batch(ipc_chan *c, batch *b)
{
    b->iovcnt = 0;
    b->nmsgs = 0;
    b->total = 0;
    b->nfds = 0;
    size_t limit = c->qlen < BATCH_MSGS ? c->qlen : BATCH_MSGS;
    for (size_t i = 0; i < limit; i++) {
        ipc_msg *m = q_at(c, i);
        size_t off = i == 0 ? c->head_off : 0;
        uint32_t rem_fds = m->nfds - (i == 0 ? c->head_fds_sent : 0);
        if (rem_fds > 0 && i > 0)
            break;
        size_t rem = msg_wire_size(m) - off;
        size_t len = rem;
        uint32_t nfds = rem_fds;
        if (rem_fds > FDS_PER_SEND) {
            uint32_t later = (rem_fds - FDS_PER_SEND + FDS_PER_SEND - 1) / FDS_PER_SEND;
            nfds = FDS_PER_SEND;
            len = rem - later; /* >= 1: see the invariant in account() */
        }
        if (off == 0)
            ipc_msg_encode_header(m, c->hdrs[i]);
        add_span(b, c->hdrs[i], m, off, len);
        b->bytes[i] = len;
        b->total += len;
        b->nmsgs++;
        if (nfds) {
            b->nfds = nfds;
            /* CMSG_SPACE pads past the fds; sendmsg passes the padding too. */
            memset(b->ctl.buf, 0, CMSG_SPACE(nfds * sizeof(int)));
            memcpy(CMSG_DATA(&b->ctl.align), m->fds + (m->nfds - rem_fds), nfds * sizeof(int));
        }
        if (len < rem)
            break;
    }
}

/* Records that `n` bytes of the batch were written (under mu); moves finished
 * messages to `done`. The fds went with the first byte. Invariant: the head
 * message keeps at least one byte per chunk of fds still to send. */
static size_t account(ipc_chan *c, const batch *b, size_t n, ipc_msg **done)
{
    size_t ndone = 0;
    c->stats.writes++;
    c->stats.bytes_sent += n;
    if (b->nfds) {
        c->head_fds_sent += b->nfds;
        c->stats.fds_sent += b->nfds;
    }
    for (size_t i = 0; i < b->nmsgs && n > 0; i++) {
        ipc_msg *m = q_at(c, 0);
        size_t take = n < b->bytes[i] ? n : b->bytes[i];
        c->head_off += take;
        n -= take;
        if (c->head_off == msg_wire_size(m)) {
            done[ndone++] = q_pop(c);
            c->head_off = 0;
            c->head_fds_sent = 0;
            c->stats.msgs_sent++;
        }
    }
    return ndone;
}

static void io_arm_task(void *arg)
{
    ipc_chan *c = arg;
    if (!c->closed_io && c->wev)
        event_add(c->wev, NULL);
    ipc__chan_unref(c);
}

static void io_fail_task(void *arg)
{
    ipc_chan *c = arg;
    pthread_mutex_lock(&c->mu);
    int err = c->write_err ? c->write_err : IPC_E_CLOSED;
    pthread_mutex_unlock(&c->mu);
    pthread_mutex_lock(&c->rmu);
    fail_channel(c, err);
    pthread_mutex_unlock(&c->rmu);
    ipc__chan_unref(c);
}

/* Hands the token to the IO thread, which runs `fn` (under mu). */
static void handoff(ipc_chan *c, int on_io, ipc_task_fn fn)
{
    if (on_io && fn == io_arm_task) {
        event_add(c->wev, NULL);
        return;
    }
    /* Failures are reported from a task of their own, never from inside the
     * send that met them. */
    ipc__chan_ref(c);
    if (ipc_loop_post(c->io, fn, c) != 0)
        ipc__chan_unref(c);
}

/* Releases the token (under mu). */
static void release_token(ipc_chan *c)
{
    c->busy = 0;
    if (c->thread_writing || c->flush_waiters) {
        c->thread_writing = 0;
        pthread_cond_broadcast(&c->cv);
    }
}

/* Writes the queue until it is empty or the socket is full. The caller holds
 * the write token and not mu. */
/* The IO thread gives up the token: it stops waiting for EV_WRITE (wev is
 * persistent while the IO thread holds the token, so a stream that keeps the
 * socket full does not re-arm it on every wakeup). */
static void io_stop_writing(ipc_chan *c, int on_io)
{
    if (on_io && c->wev)
        event_del(c->wev);
}

static void flush(ipc_chan *c, int on_io)
{
    batch local;
    batch *b = &local;
    ipc_msg *done[BATCH_MSGS];
    for (;;) {
        pthread_mutex_lock(&c->mu);
        if (c->closed || c->write_dead || c->qlen == 0) {
            release_token(c);
            pthread_mutex_unlock(&c->mu);
            io_stop_writing(c, on_io);
            return;
        }
        build_batch(c, b);
        int fd = c->fd;
        pthread_mutex_unlock(&c->mu);

        struct msghdr mh = {.msg_iov = b->iov, .msg_iovlen = (size_t)b->iovcnt};
        if (b->nfds) {
            mh.msg_control = b->ctl.buf;
            mh.msg_controllen = CMSG_SPACE(b->nfds * sizeof(int));
            struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
            cm->cmsg_level = SOL_SOCKET;
            cm->cmsg_type = SCM_RIGHTS;
            cm->cmsg_len = CMSG_LEN(b->nfds * sizeof(int));
        }
        ssize_t n = sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
        int err = n < 0 ? errno : 0;
        if (n < 0 && err == EINTR)
            continue;
        pthread_mutex_lock(&c->mu);
        if (n < 0 && (err == EAGAIN || err == EWOULDBLOCK)) {
            /* The IO thread keeps the token and waits for EV_WRITE. */
            int stop = c->closed;
            if (stop)
                release_token(c);
            else if (c->thread_writing) {
                c->thread_writing = 0;
                pthread_cond_broadcast(&c->cv);
            }
            pthread_mutex_unlock(&c->mu);
            if (stop)
                io_stop_writing(c, on_io);
            else
                handoff(c, on_io, io_arm_task);
            return;
        }
        if (n <= 0) {
            /* EPIPE/ECONNRESET: the peer is gone; reading will reach its EOF
             * and report it after whatever it sent. Anything else is ours. */
            c->write_dead = 1;
            c->write_err = n < 0 ? -err : -EIO;
            pthread_cond_broadcast(&c->cv_space);
            release_token(c);
            int closed = c->closed;
            pthread_mutex_unlock(&c->mu);
            io_stop_writing(c, on_io);
            if (!closed && err != EPIPE && err != ECONNRESET)
                handoff(c, on_io, io_fail_task);
            return;
        }
        size_t ndone = 0;
        int full = (size_t)n < b->total && !c->closed;
        if (!c->closed)
            ndone = account(c, b, (size_t)n, done);
        if (full && c->thread_writing) {
            c->thread_writing = 0;
            pthread_cond_broadcast(&c->cv);
        }
        pthread_mutex_unlock(&c->mu);
        for (size_t i = 0; i < ndone; i++)
            ipc_msg_free(done[i]);
        if (full) {
            /* A short write means the socket is full: wait for EV_WRITE
             * rather than spend a sendmsg on EAGAIN. */
            handoff(c, on_io, io_arm_task);
            return;
        }
    }
}

static int ensure_hdrs(ipc_chan *c)
{
    if (!c->hdrs)
        c->hdrs = malloc(BATCH_MSGS * sizeof *c->hdrs);
    return c->hdrs ? 0 : -ENOMEM;
}

/* Waits (not on the IO thread) while the queue is over the high mark. */
static void wait_for_space(ipc_chan *c)
{
    pthread_mutex_lock(&c->mu);
    if (c->queued_bytes > HIGH_WATER && !(c->io && ipc_loop_on_thread(c->io))) {
        while (c->queued_bytes >= LOW_WATER && !c->closed && !c->write_dead)
            pthread_cond_wait(&c->cv_space, &c->mu);
    }
    pthread_mutex_unlock(&c->mu);
}

/* Queues m and, when the token is free, writes or hands writing over. */
static int enqueue(ipc_chan *c, ipc_msg *m)
{
    pthread_mutex_lock(&c->mu);
    if (c->closed) {
        pthread_mutex_unlock(&c->mu);
        ipc_msg_free(m);
        return IPC_E_CLOSED;
    }
    if (q_push(c, m) != 0) {
        pthread_mutex_unlock(&c->mu);
        ipc_msg_free(m);
        return -ENOMEM;
    }
    if (!c->can_write || c->busy) {
        pthread_mutex_unlock(&c->mu);
        return 0;
    }
    c->busy = 1;
    if (ipc_loop_on_thread(c->io)) {
        pthread_mutex_unlock(&c->mu);
        if (c->in_read)
            c->flush_after_read = 1; /* replies written with the read's batch */
        else
            flush(c, 1);
        return 0;
    }
    if (c->direct_streak < DIRECT_STREAK_MAX) {
        c->direct_streak++;
        c->thread_writing = 1;
        pthread_mutex_unlock(&c->mu);
        flush(c, 0);
        return 0;
    }
    pthread_mutex_unlock(&c->mu);
    /* Streaming: let the IO thread write whatever piles up meanwhile. */
    handoff(c, 0, io_arm_task);
    return 0;
}

int ipc__chan_send_any(ipc_chan *c, ipc_msg *m)
{
    int rc = enqueue(c, m);
    if (rc == 0)
        wait_for_space(c);
    return rc;
}

int ipc_chan_send(ipc_chan *c, ipc_msg *m)
{
    return ipc__chan_send_any(c, m);
}

static void write_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    flush(arg, 1);
}

/* ---- reading ---- */


/* Stops all I/O; the listener hears nothing more from here on. */
static void shut_locked(ipc_chan *c)
{
    if (c->closed_io)
        return;
    c->closed_io = 1;
    c->direct = c->listener_idle = 0;
    if (c->xev) {
        event_free(c->xev);
        c->xev = NULL;
    }
    if (c->xfd >= 0) {
        close(c->xfd);
        c->xfd = -1;
    }
    pthread_mutex_lock(&c->mu);
    c->closed = 1;
    c->can_write = 0;
    while (c->thread_writing)
        pthread_cond_wait(&c->cv, &c->mu);
    size_t n = c->qlen;
    ipc_msg **drop = n ? malloc(n * sizeof *drop) : NULL;
    for (size_t i = 0; i < n; i++) {
        ipc_msg *m = q_pop(c);
        if (drop)
            drop[i] = m;
        else
            ipc_msg_free(m);
    }
    c->stats.msgs_dropped_unsent += n;
    pthread_cond_broadcast(&c->cv_space);
    c->head_off = 0;
    c->head_fds_sent = 0;
    if (c->flush_waiters)
        pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    for (size_t i = 0; drop && i < n; i++)
        ipc_msg_free(drop[i]);
    free(drop);
    if (c->rev) {
        event_free(c->rev);
        c->rev = NULL;
    }
    if (c->wev) {
        event_free(c->wev);
        c->wev = NULL;
    }
    if (c->io)
        ipc__loop_remove_fork_hook(c->io, &c->fork_hook);
    if (c->fd >= 0) {
        /* The listener's duplicate (direct mode) may outlive this fd for a
         * while: the peer must see the end now all the same. */
        shutdown(c->fd, SHUT_RDWR);
        close(c->fd);
        c->fd = -1;
    }
    drop_client_end(c);
    /* Closes the fds of frames that never completed. */
    ipc_frame_decoder_free(c->dec);
    c->dec = NULL;
}

static void shut(ipc_chan *c)
{
    pthread_mutex_lock(&c->rmu);
    shut_locked(c);
    pthread_mutex_unlock(&c->rmu);
}

/* Reports `err` once and closes. */
static void fail_channel(ipc_chan *c, int err)
{
    if (c->err_reported || c->closed_io)
        return;
    c->err_reported = 1;
    shut(c);
    if (c->listener.on_error)
        c->listener.on_error(c->lctx, err);
}

static void bad_message(ipc_chan *c, int reason, uint32_t type)
{
    if (c->err_reported || c->closed_io)
        return;
    if (c->listener.on_bad_message) {
        char name[IPC_MSG_NAME_MAX];
        ipc_msg_type_name(type, 0, name, sizeof name);
        c->listener.on_bad_message(c->lctx, reason, type, name);
    }
    fail_channel(c, reason);
}

/* The parent of `pid`, from /proc; -1 when unknown (gone, or /proc refused,
 * as in a sandboxed child). */
static pid_t parent_of(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n;
    do
        n = read(fd, buf, sizeof buf - 1);
    while (n < 0 && errno == EINTR);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    /* "pid (comm) state ppid ...": comm may hold anything, even ')'. */
    char *rp = strrchr(buf, ')');
    char state;
    int ppid;
    if (!rp || sscanf(rp + 1, " %c %d", &state, &ppid) != 2)
        return -1;
    return (pid_t)ppid;
}

/* The hello: routing NONE, an int32 pid and nothing else. */
static int take_hello(ipc_chan *c, ipc_msg *m)
{
    ipc_pickle_iter it;
    int32_t pid = 0;
    ipc_msg_iter(m, &it);
    if (c->got_hello || ipc_msg_routing_id(m) != IPC_ROUTING_NONE || m->nfds != 0 ||
        ipc_pickle_read_i32(&it, &pid) != 0 || ipc_pickle_iter_end(&it) != 0 || pid <= 0)
        return IPC_E_BAD_HELLO;
    if (c->expect_pid && pid != c->expect_pid)
        return IPC_E_BAD_HELLO;
    /* SO_PEERCRED names whoever called socketpair(): us, the peer, or, for a
     * bridge whose peer we were told, our parent (the main process); for a
     * fork server's pair (B2G's AddNewProcess), the fork server: our parent
     * as seen by the process it forked, the peer's parent as seen by main. */
    struct ucred cred;
    socklen_t len = sizeof cred;
    if (getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 && cred.pid > 0 &&
        cred.pid != getpid() && cred.pid != pid &&
        !(c->expect_pid && (cred.pid == getppid() || cred.pid == parent_of(pid))))
        return IPC_E_BAD_HELLO;
    c->got_hello = 1;
    pthread_mutex_lock(&c->mu);
    c->peer_pid = pid;
    pthread_mutex_unlock(&c->mu);
    return 0;
}

static void deliver(ipc_chan *c, ipc_msg *m)
{
    if (ipc_msg_type(m) == IPC_MSG_HELLO || !c->got_hello) {
        uint32_t type = ipc_msg_type(m);
        int rc = type == IPC_MSG_HELLO ? take_hello(c, m) : IPC_E_BAD_HELLO;
        ipc_msg_free(m);
        if (rc) {
            bad_message(c, rc, type);
            return;
        }
        if (c->listener.on_connected)
            c->listener.on_connected(c->lctx, c->peer_pid);
        return;
    }
    if (c->listener.on_message)
        c->listener.on_message(c->lctx, m);
    else
        ipc_msg_free(m);
}

/* Hands every decoded message to the listener, then (if report) the
 * decoder's error. */
static void drain_decoder(ipc_chan *c, uint64_t *nmsgs, int report)
{
    ipc_msg *m;
    int r;
    while (!c->closed_io && (r = ipc_frame_decoder_next(c->dec, &m)) == 1) {
        (*nmsgs)++;
        deliver(c, m);
    }
    if (c->closed_io || r == 0 || !report)
        return;
    if (r == -ENOMEM)
        fail_channel(c, r);
    else
        bad_message(c, r, ipc_frame_decoder_error_type(c->dec));
}

static void close_cmsg_fds(struct msghdr *mh)
{
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
            continue;
        size_t n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        int *fds = (int *)CMSG_DATA(cm);
        for (size_t i = 0; i < n; i++)
            close(fds[i]);
    }
}

/* Pushes the fds of one recvmsg into the decoder. 0 or an error. */
static int push_cmsg_fds(ipc_chan *c, struct msghdr *mh, uint64_t *nfds)
{
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
            continue;
        size_t n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        int fds[FDS_PER_SEND + 3];
        memcpy(fds, CMSG_DATA(cm), n * sizeof(int));
        *nfds += n;
        int rc = ipc_frame_decoder_push_fds(c->dec, fds, n);
        if (rc)
            return rc;
    }
    return 0;
}

typedef struct read_result {
    ssize_t n;   /* bytes read, 0 at EOF, or -errno */
    int ctrunc;  /* the kernel cut the fds: the bytes still count */
    size_t room; /* what the read could have taken */
    int ended;   /* a short read that proves the data ran out */
} read_result;

/* One recvmsg into the decoder. Fds go in before the bytes. */
static void read_once(ipc_chan *c, uint64_t *nfds, read_result *r)
{
    struct iovec iov[2];
    int niov;
    r->ctrunc = 0;
    r->room = 0;
    int rc = ipc_frame_decoder_space_iov(c->dec, iov, &niov);
    if (rc) {
        r->n = rc;
        return;
    }
    size_t len = iov[0].iov_len + (niov > 1 ? iov[1].iov_len : 0);
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(FDS_PER_SEND * sizeof(int))];
    } ctl;
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)niov, .msg_control = ctl.buf,
                        .msg_controllen = sizeof ctl.buf};
    ssize_t n;
    do
        n = recvmsg(c->fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    r->n = n < 0 ? -errno : n;
    if (n < 0)
        return;
    r->room = len;
    /* recvmsg stops after bytes that came with fds even when more are
     * queued, so only a short read without fds shows the data ran out. */
    r->ended = (size_t)n < len && mh.msg_controllen == 0;
    if (mh.msg_flags & MSG_CTRUNC) {
        close_cmsg_fds(&mh);
        r->ctrunc = 1;
    } else if ((rc = push_cmsg_fds(c, &mh, nfds)) != 0) {
        r->n = rc; /* the decoder has failed: drain reports it */
        return;
    }
    if (n > 0)
        ipc_frame_decoder_commit(c->dec, (size_t)n);
}

/* Acts on one read: messages first, then whatever ended the stream. Returns
 * non-zero when reading should stop for this event. */
static int after_read(ipc_chan *c, const read_result *r, uint64_t *nmsgs)
{
    if (r->n == -EAGAIN || r->n == -EWOULDBLOCK)
        return 1;
    if (r->ctrunc) {
        drain_decoder(c, nmsgs, 0);
        bad_message(c, IPC_E_CTRUNC, 0);
        return 1;
    }
    if (r->n > 0 || r->n <= IPC_E_BASE) {
        drain_decoder(c, nmsgs, 1); /* decoder errors come out after its messages */
        return r->n <= 0 || (size_t)r->n < r->room;
    }
    drain_decoder(c, nmsgs, 1);
    if (c->closed_io)
        return 1;
    /* A peer that closes with our bytes unread gives ECONNRESET rather than
     * EOF, after its own bytes: the same end of stream. */
    if (r->n == 0 || r->n == -ECONNRESET) {
        int rc = ipc_frame_decoder_finish(c->dec);
        if (rc)
            bad_message(c, rc, ipc_frame_decoder_error_type(c->dec));
        else
            fail_channel(c, IPC_E_PEER_CLOSED);
    } else {
        fail_channel(c, (int)r->n);
    }
    return 1;
}

static void count_read(ipc_chan *c, uint64_t nmsgs, uint64_t nbytes, uint64_t nfds)
{
    pthread_mutex_lock(&c->mu);
    c->stats.msgs_received += nmsgs;
    c->stats.bytes_received += nbytes;
    c->stats.fds_received += nfds;
    if (nmsgs)
        c->direct_streak = 0;
    pthread_mutex_unlock(&c->mu);
}

/* What a read delivered is complete: the filters' replies are written, the
 * rest goes to the listener. */
static void read_settled(ipc_chan *c)
{
    if (c->flush_after_read) {
        c->flush_after_read = 0;
        flush(c, 1);
    }
    if (c->read_done)
        c->read_done(c->read_done_ctx);
}

/* The IO thread's read (under rmu), up to READS_PER_EVENT reads; the read
 * event is level-triggered, so what is left (more data, or an end of stream
 * behind the last bytes) brings it back. */
static void io_read(ipc_chan *c)
{
    uint64_t nmsgs = 0, nbytes = 0, nfds = 0;
    c->in_read = 1;
    if (c->ctrunc_pending) {
        /* The listener's read lost fds: deliver what it decoded, then fail. */
        c->ctrunc_pending = 0;
        drain_decoder(c, &nmsgs, 0);
        bad_message(c, IPC_E_CTRUNC, 0);
    } else {
        /* What the listener's read left to us: a hello, or the error after
         * the messages it delivered. */
        drain_decoder(c, &nmsgs, 1);
    }
    for (int i = 0; i < READS_PER_EVENT && !c->closed_io; i++) {
        read_result r;
        read_once(c, &nfds, &r);
        if (r.n > 0)
            nbytes += (size_t)r.n;
        int data = r.n > 0 && !r.ctrunc;
        int stop = after_read(c, &r, &nmsgs);
        /* recvmsg stops after bytes that came with fds even when more wait:
         * only a short read without fds shows that the data ran out. */
        if (data && !c->closed_io)
            stop = r.ended;
        if (stop)
            break;
    }
    c->in_read = 0;
    count_read(c, nmsgs, nbytes, nfds);
    read_settled(c);
}

static void read_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    ipc_chan *c = arg;
    ipc__chan_ref(c);
    pthread_mutex_lock(&c->rmu);
    if (!c->closed_io)
        io_read(c);
    pthread_mutex_unlock(&c->rmu);
    ipc__chan_unref(c);
}

static void io_read_task(void *arg)
{
    ipc_chan *c = arg;
    pthread_mutex_lock(&c->rmu);
    if (!c->closed_io)
        io_read(c);
    pthread_mutex_unlock(&c->rmu);
    ipc__chan_unref(c);
}

/* Makes the IO thread read now (from the listener's thread). */
static void post_io_read(ipc_chan *c)
{
    ipc__chan_ref(c);
    if (ipc_loop_post(c->io, io_read_task, c) != 0)
        ipc__chan_unref(c);
}

/* ---- the listener's reads (direct mode) ----
 * In direct mode the IO thread watches the socket through a private epoll
 * set (xfd) instead of its libevent base, because the listener's thread must
 * switch that watch off while it sleeps in its loop (or both threads would
 * wake for every message) and on again before it runs anything else, and
 * epoll_ctl on a set of our own is safe from any thread. */

/* Under rmu: the IO thread watches (on) or not. Arming with bytes already
 * waiting reports them at once. */
static void io_watch(ipc_chan *c, int on)
{
    if (c->xfd < 0 || c->io_armed == on)
        return;
    struct epoll_event ev = {.events = on ? EPOLLIN : 0};
    if (epoll_ctl(c->xfd, EPOLL_CTL_MOD, c->fd, &ev) == 0)
        c->io_armed = on;
    else if (!on)
        c->io_armed = 1; /* could not stop: harmless, the IO thread reads too */
    else
        post_io_read(c); /* could not start: make the IO thread look now */
}

/* The set is level-triggered, as is its only member: polling the set (as
 * the IO loop's epoll does) drops the member from its ready list once the
 * socket has been read dry, so nothing needs to be taken out of it here. */
static void xset_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    read_cb(-1, EV_READ, arg);
}

/* IO thread, under rmu: moves the IO thread's watch into (on) or out of the
 * private set. */
static int io_watch_private(ipc_chan *c, int on)
{
    if (on) {
        int xfd = epoll_create1(EPOLL_CLOEXEC);
        struct epoll_event ev = {.events = EPOLLIN};
        struct event *xev = xfd < 0 ? NULL
                                    : event_new(ipc_loop_base(c->io), xfd, EV_READ | EV_PERSIST,
                                                xset_cb, c);
        if (!xev || epoll_ctl(xfd, EPOLL_CTL_ADD, c->fd, &ev) != 0 || event_add(xev, NULL) != 0) {
            if (xev)
                event_free(xev);
            if (xfd >= 0)
                close(xfd);
            return -ENOMEM;
        }
        event_del(c->rev);
        c->xfd = xfd;
        c->xev = xev;
        c->io_armed = 1;
        return 0;
    }
    if (c->xev) {
        event_free(c->xev);
        c->xev = NULL;
    }
    if (c->xfd >= 0) {
        close(c->xfd);
        c->xfd = -1;
    }
    c->io_armed = 0;
    if (c->rev && !c->closed_io)
        event_add(c->rev, NULL);
    return 0;
}

void ipc__chan_set_direct(ipc_chan *c, int on)
{
    pthread_mutex_lock(&c->rmu);
    if (c->closed_io)
        on = 0;
    if (on && !c->direct && io_watch_private(c, 1) != 0)
        on = 0;
    if (!on && c->direct) {
        c->listener_idle = 0;
        io_watch_private(c, 0);
    }
    c->direct = on;
    pthread_mutex_unlock(&c->rmu);
}

int ipc__chan_dup_fd(ipc_chan *c)
{
    pthread_mutex_lock(&c->rmu);
    int fd = -EBADF;
    if (!c->closed_io) {
        fd = fcntl(c->fd, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
            fd = -errno;
    }
    pthread_mutex_unlock(&c->rmu);
    return fd;
}

void ipc__chan_listener_idle(ipc_chan *c, int idle)
{
    pthread_mutex_lock(&c->rmu);
    if (c->direct && !c->closed_io) {
        c->listener_idle = idle;
        io_watch(c, !idle);
    }
    pthread_mutex_unlock(&c->rmu);
}

/* Delivers what the decoder holds, but stops before anything that is the IO
 * thread's to handle: a hello (a protocol error by now) or the decoder's
 * error. 0, or -1 when the IO thread must take over. */
static int listener_drain(ipc_chan *c, uint64_t *nmsgs)
{
    const ipc_msg *next;
    while (ipc_frame_decoder_peek(c->dec, &next) == 1) {
        if (ipc_msg_type(next) == IPC_MSG_HELLO)
            return -1;
        ipc_msg *m;
        ipc_frame_decoder_next(c->dec, &m);
        (*nmsgs)++;
        deliver(c, m);
        if (c->closed_io)
            return -1;
    }
    return ipc_frame_decoder_error(c->dec) ? -1 : 0;
}

int ipc__chan_listener_read(ipc_chan *c)
{
    pthread_mutex_lock(&c->rmu);
    if (!c->direct || c->closed_io) {
        pthread_mutex_unlock(&c->rmu);
        return -1;
    }
    uint64_t nmsgs = 0, nbytes = 0, nfds = 0;
    int at_end = 0, hand_over = 0;
    for (int i = 0; i < READS_PER_EVENT && !hand_over && !at_end; i++) {
        read_result r;
        read_once(c, &nfds, &r);
        if (r.n > 0)
            nbytes += (size_t)r.n;
        if (r.ctrunc) {
            c->ctrunc_pending = 1;
            hand_over = 1;
        } else if (r.n == -EAGAIN || r.n == -EWOULDBLOCK) {
            at_end = 1;
        } else if (r.n <= 0 || listener_drain(c, &nmsgs) != 0) {
            hand_over = 1; /* end of stream, errors, a hello: the IO thread's */
        } else if (r.ended) {
            at_end = 1;
        }
    }
    /* We are about to run callbacks: the IO thread watches again (and reads
     * at once whatever came after our last read). */
    c->listener_idle = 0;
    io_watch(c, 1);
    if (!at_end || hand_over)
        post_io_read(c); /* the rest, or what only the IO thread may report */
    pthread_mutex_lock(&c->mu);
    c->stats.listener_reads++;
    pthread_mutex_unlock(&c->mu);
    count_read(c, nmsgs, nbytes, nfds);
    if (c->read_done)
        c->read_done(c->read_done_ctx);
    pthread_mutex_unlock(&c->rmu);
    return hand_over ? -1 : nmsgs > 0;
}

/* ---- connect, close ---- */

/* In a child after fork: the parent still uses this socket, so stop touching
 * it; the owner closes our copy when it frees the channel. */
static void forget_after_fork(ipc__fork_hook *h)
{
    ipc_chan *c = (ipc_chan *)((char *)h - offsetof(ipc_chan, fork_hook));
    ipc__loop_remove_fork_hook(c->io, h);
    if (c->rev)
        event_del(c->rev);
    if (c->wev)
        event_del(c->wev);
    c->closed_io = 1;
    c->err_reported = 1;
    c->closed = 1;
    c->can_write = 0;
    c->busy = 0;
    c->thread_writing = 0;
    c->direct = c->listener_idle = 0;
    if (c->xev) /* the set is shared with the parent: never touch it here */
        event_del(c->xev);
    pthread_mutex_init(&c->mu, NULL);
    init_rmu(&c->rmu);
    pthread_cond_init(&c->cv, NULL);
    pthread_cond_init(&c->cv_space, NULL);
}

static ipc_msg *make_hello(void)
{
    ipc_msg *m = ipc_msg_new(IPC_ROUTING_NONE, IPC_MSG_HELLO, 0);
    if (m && ipc_pickle_write_i32(ipc_msg_writer(m), (int32_t)getpid()) != 0) {
        ipc_msg_free(m);
        m = NULL;
    }
    return m;
}

int ipc_chan_connect(ipc_chan *c, ipc_loop *io)
{
    if (c->io || c->closed_io)
        return IPC_E_STATE;
    int rc = -ENOMEM;
    ipc_msg *hello = make_hello();
    struct event_base *base = ipc_loop_base(io);
    c->rev = event_new(base, c->fd, EV_READ | EV_PERSIST, read_cb, c);
    c->wev = event_new(base, c->fd, EV_WRITE | EV_PERSIST, write_cb, c);
    if (!hello || !c->rev || !c->wev || ensure_hdrs(c) != 0 || event_add(c->rev, NULL) != 0)
        goto fail;
    pthread_mutex_lock(&c->mu);
    c->io = io;
    rc = c->closed ? IPC_E_CLOSED : q_push_front(c, hello);
    if (rc) {
        pthread_mutex_unlock(&c->mu);
        goto fail;
    }
    hello = NULL;
    c->can_write = 1;
    int take = !c->busy;
    c->busy = 1;
    pthread_mutex_unlock(&c->mu);
    c->fork_hook.fn = forget_after_fork;
    ipc__loop_add_fork_hook(io, &c->fork_hook);
    if (take)
        flush(c, 1);
    return 0;
fail:
    ipc_msg_free(hello);
    if (c->rev)
        event_free(c->rev);
    if (c->wev)
        event_free(c->wev);
    c->rev = c->wev = NULL;
    return rc;
}

int ipc__chan_wait_flushed(ipc_chan *c, int timeout_ms)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    if (timeout_ms >= 0) {
        deadline.tv_sec += timeout_ms / 1000;
        deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000L;
        }
    }
    int rc = 0;
    pthread_mutex_lock(&c->mu);
    c->flush_waiters++;
    while (rc == 0 && (c->qlen > 0 || c->busy)) {
        if (c->closed || c->write_dead) {
            rc = IPC_E_CLOSED;
            break;
        }
        if (timeout_ms < 0)
            pthread_cond_wait(&c->cv, &c->mu);
        else if (pthread_cond_timedwait(&c->cv, &c->mu, &deadline) == ETIMEDOUT)
            rc = IPC_E_TIMEOUT;
    }
    if (rc == 0 && c->qlen > 0)
        rc = IPC_E_CLOSED;
    c->flush_waiters--;
    pthread_mutex_unlock(&c->mu);
    return rc;
}

void ipc_chan_close(ipc_chan *c)
{
    pthread_mutex_lock(&c->rmu);
    c->err_reported = 1; /* the owner closed it: nothing to report */
    shut_locked(c);
    pthread_mutex_unlock(&c->rmu);
}

void ipc_chan_free(ipc_chan *c)
{
    if (!c)
        return;
    ipc_chan_close(c);
    ipc__chan_unref(c);
}

void ipc_chan_get_stats(const ipc_chan *c, ipc_chan_stats *out)
{
    ipc_chan *m = (ipc_chan *)c;
    pthread_mutex_lock(&m->mu);
    *out = m->stats;
    pthread_mutex_unlock(&m->mu);
}

pid_t ipc_chan_peer_pid(const ipc_chan *c)
{
    ipc_chan *m = (ipc_chan *)c;
    pthread_mutex_lock(&m->mu);
    pid_t p = m->peer_pid;
    pthread_mutex_unlock(&m->mu);
    return p;
}
