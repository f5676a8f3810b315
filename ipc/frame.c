/* Incremental frame decoder (docs/wire-format.md, "Framing and fds"). Bytes go
 * to a staging buffer, except long payload tails which are read in place.
 * Payload buffers come from the large-buffer cache (bufpool_internal.h) and
 * go back to it when the message is freed. */
#include "ipc/frame.h"

#include "bufpool_internal.h"
#include "ipc/errors.h"
#include "msg_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#define STAGE_SIZE (64u * 1024u)
/* A payload tail at least this long is read straight into the payload buffer. */
#define ZERO_COPY_MIN 4096u
/* A frame's payload buffer is allocated up front up to this size; beyond it,
 * memory follows the bytes received (it doubles with what has arrived), so a
 * header that lies about its size costs at most this much per channel. */
#define UPFRONT_MAX (512u * 1024u)
/* After a frame with at least this much payload the next read asks for just
 * a header, so that the next payload of a stream of large messages is read in
 * place instead of through the staging buffer (a syscall is cheaper than
 * copying it). */
#define HEADER_ONLY_AFTER (32u * 1024u)

struct ipc_frame_decoder {
    ipc_frame_limits lim;
    int err;
    uint32_t err_type;

    uint8_t *stage; /* STAGE_SIZE bytes; [start, end) not parsed yet */
    size_t start, end;
    int zero_copy;  /* the last space() pointed into the payload */
    size_t granted_tail; /* ... and this much of the stage after it */
    int after_large; /* the last frame had >= HEADER_ONLY_AFTER of payload */
    size_t granted; /* bytes the last space() offered; commit may not exceed */

    int have_header;
    ipc_msg_header hdr;
    uint8_t *payload;
    size_t payload_cap; /* the buffer's real size; may exceed the payload */
    size_t payload_got;

    int *fdq; /* ring of received fds not yet given to a message */
    size_t fdq_head, fdq_len, fdq_cap;

    ipc_msg **ready; /* ring of decoded messages */
    size_t ready_head, ready_len, ready_cap;
};

void ipc_frame_limits_default(ipc_frame_limits *lim)
{
    lim->max_payload = IPC_FRAME_DEFAULT_MAX_PAYLOAD;
    lim->max_fds = IPC_FRAME_DEFAULT_MAX_FDS;
    lim->type_known = NULL;
    lim->type_ctx = NULL;
}

int ipc_frame_decoder_new(ipc_frame_decoder **out, const ipc_frame_limits *lim)
{
    *out = NULL;
    ipc_frame_decoder *d = calloc(1, sizeof *d);
    if (!d)
        return -ENOMEM;
    if (lim)
        d->lim = *lim;
    else
        ipc_frame_limits_default(&d->lim);
    if (d->lim.max_fds > IPC_MSG_MAX_FDS || d->lim.max_payload > 0x7ffffff0u) {
        free(d);
        return -EINVAL;
    }
    d->stage = malloc(STAGE_SIZE);
    if (!d->stage) {
        free(d);
        return -ENOMEM;
    }
    *out = d;
    return 0;
}

static void close_fds(const int *fds, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (fds[i] >= 0)
            close(fds[i]);
}

static void close_queued_fds(ipc_frame_decoder *d)
{
    for (size_t i = 0; i < d->fdq_len; i++)
        close(d->fdq[(d->fdq_head + i) % d->fdq_cap]);
    d->fdq_len = 0;
}

void ipc_frame_decoder_free(ipc_frame_decoder *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->ready_len; i++)
        ipc_msg_free(d->ready[(d->ready_head + i) % d->ready_cap]);
    close_queued_fds(d);
    free(d->ready);
    free(d->fdq);
    ipc__buf_put(d->payload, d->payload_cap);
    free(d->stage);
    free(d);
}

/* Records the first error; drops what can never be delivered. Messages already
 * decoded stay in the ready ring: nothing accepted is lost. */
static int fail(ipc_frame_decoder *d, int err)
{
    if (!d->err) {
        d->err = err;
        d->err_type = d->have_header ? d->hdr.type : 0;
        close_queued_fds(d);
        ipc__buf_put(d->payload, d->payload_cap);
        d->payload = NULL;
        d->payload_cap = d->payload_got = 0;
        d->have_header = 0;
        d->start = d->end = 0;
        d->zero_copy = 0;
        d->granted = 0;
        d->granted_tail = 0;
    }
    return d->err;
}

int ipc_frame_decoder_push_fds(ipc_frame_decoder *d, const int *fds, size_t n)
{
    /* A peer may send the next message's fds early, but never more than two
     * messages' worth can be outstanding. */
    size_t bound = 2 * (size_t)d->lim.max_fds;
    if (d->err || n > bound - d->fdq_len) {
        close_fds(fds, n);
        return d->err ? d->err : fail(d, IPC_E_TOO_MANY_FDS);
    }
    /* A negative value would be handed out as a message's fd: the caller's fd
     * stream is broken and no later frame can be trusted to get its own fds. */
    for (size_t i = 0; i < n; i++) {
        if (fds[i] < 0) {
            close_fds(fds, n);
            return fail(d, -EBADF);
        }
    }
    if (d->fdq_len + n > d->fdq_cap) {
        size_t cap = d->fdq_cap ? d->fdq_cap : 16;
        while (cap < d->fdq_len + n)
            cap *= 2;
        int *q = malloc(cap * sizeof *q);
        if (!q) {
            close_fds(fds, n);
            return fail(d, -ENOMEM);
        }
        for (size_t i = 0; i < d->fdq_len; i++)
            q[i] = d->fdq[(d->fdq_head + i) % d->fdq_cap];
        free(d->fdq);
        d->fdq = q;
        d->fdq_cap = cap;
        d->fdq_head = 0;
    }
    for (size_t i = 0; i < n; i++)
        d->fdq[(d->fdq_head + d->fdq_len + i) % d->fdq_cap] = fds[i];
    d->fdq_len += n;
    return 0;
}

static int push_ready(ipc_frame_decoder *d, ipc_msg *m)
{
    if (d->ready_len == d->ready_cap) {
        size_t cap = d->ready_cap ? d->ready_cap * 2 : 16;
        ipc_msg **r = malloc(cap * sizeof *r);
        if (!r)
            return -ENOMEM;
        for (size_t i = 0; i < d->ready_len; i++)
            r[i] = d->ready[(d->ready_head + i) % d->ready_cap];
        free(d->ready);
        d->ready = r;
        d->ready_cap = cap;
        d->ready_head = 0;
    }
    d->ready[(d->ready_head + d->ready_len) % d->ready_cap] = m;
    d->ready_len++;
    return 0;
}

/* The payload is complete: claim its fds and queue the message. */
static int emit(ipc_frame_decoder *d)
{
    uint32_t nfds = d->hdr.num_fds;
    if (d->fdq_len < nfds)
        return fail(d, IPC_E_FD_COUNT);
    int fds[IPC_MSG_MAX_FDS];
    for (uint32_t i = 0; i < nfds; i++)
        fds[i] = d->fdq[(d->fdq_head + i) % d->fdq_cap];
    d->fdq_head = d->fdq_cap ? (d->fdq_head + nfds) % d->fdq_cap : 0;
    d->fdq_len -= nfds;

    d->after_large = d->hdr.payload_size >= HEADER_ONLY_AFTER;
    uint8_t *payload = d->payload;
    size_t cap = d->payload_cap;
    d->payload = NULL;
    d->payload_cap = d->payload_got = 0;
    ipc_msg *m = ipc__msg_from_frame(&d->hdr, payload, cap, fds); /* takes both */
    if (!m || push_ready(d, m) != 0) {
        ipc_msg_free(m);
        return fail(d, -ENOMEM); /* with have_header still set: names the type */
    }
    d->have_header = 0;
    return 0;
}

/* Grows the payload buffer towards `want` bytes (never beyond the frame),
 * through the buffer cache: its size class may give more than asked. */
static int grow_payload(ipc_frame_decoder *d, size_t want)
{
    if (want <= d->payload_cap)
        return 0;
    size_t cap;
    uint8_t *p = ipc__buf_grow(d->payload, d->payload_got, d->payload_cap, want, &cap);
    if (!p)
        return fail(d, -ENOMEM);
    d->payload = p;
    d->payload_cap = cap;
    return 0;
}

/* The part of the payload buffer this frame may fill. */
static size_t payload_room_end(const ipc_frame_decoder *d)
{
    size_t size = d->hdr.payload_size;
    return d->payload_cap < size ? d->payload_cap : size;
}

/* Room for the next chunk: up to UPFRONT_MAX at first, then doubling what
 * has arrived. Memory follows the bytes received, so a lying size costs the
 * liar, not us. */
static size_t next_payload_cap(const ipc_frame_decoder *d)
{
    size_t size = d->hdr.payload_size;
    size_t step = d->payload_got > UPFRONT_MAX ? d->payload_got : UPFRONT_MAX;
    return size - d->payload_got < step ? size : d->payload_got + step;
}

static int start_frame(ipc_frame_decoder *d)
{
    int rc = ipc_msg_decode_header(d->stage + d->start, &d->hdr);
    d->start += IPC_MSG_HEADER_SIZE;
    d->have_header = 1;
    if (rc)
        return fail(d, rc);
    if (d->hdr.payload_size > d->lim.max_payload)
        return fail(d, IPC_E_BAD_SIZE);
    if (d->hdr.num_fds > d->lim.max_fds)
        return fail(d, IPC_E_TOO_MANY_FDS);
    if (d->lim.type_known && !d->lim.type_known(d->hdr.type, d->lim.type_ctx))
        return fail(d, IPC_E_UNKNOWN_TYPE);
    d->payload_got = 0;
    if (d->hdr.payload_size == 0)
        return emit(d);
    return grow_payload(d, next_payload_cap(d));
}

/* Parses everything the staging buffer holds. */
static int parse(ipc_frame_decoder *d)
{
    while (!d->err) {
        size_t avail = d->end - d->start;
        if (!d->have_header) {
            if (avail < IPC_MSG_HEADER_SIZE)
                break;
            start_frame(d);
            continue;
        }
        if (avail == 0)
            break;
        size_t need = d->hdr.payload_size - d->payload_got;
        size_t take = avail < need ? avail : need;
        /* Grow as space() does, geometrically and only when full;
         * next_payload_cap() >= payload_got + take since take <= STAGE_SIZE. */
        if (d->payload_got + take > payload_room_end(d) && grow_payload(d, next_payload_cap(d)) != 0)
            break;
        memcpy(d->payload + d->payload_got, d->stage + d->start, take);
        d->payload_got += take;
        d->start += take;
        if (d->payload_got == d->hdr.payload_size)
            emit(d);
    }
    if (d->start == d->end)
        d->start = d->end = 0;
    return d->err;
}

int ipc_frame_decoder_space(ipc_frame_decoder *d, uint8_t **buf, size_t *len)
{
    if (d->err)
        return d->err;
    size_t need = d->have_header ? d->hdr.payload_size - d->payload_got : 0;
    if (d->have_header && d->start == d->end && need >= ZERO_COPY_MIN) {
        /* Grow only when full: next_payload_cap() rises with every byte
         * received, so growing on each call would realloc (copy) the whole
         * payload once per short read. */
        if (d->payload_got == payload_room_end(d) && grow_payload(d, next_payload_cap(d)) != 0)
            return d->err;
        d->zero_copy = 1;
        *buf = d->payload + d->payload_got;
        *len = d->granted = payload_room_end(d) - d->payload_got;
        return 0;
    }
    if (d->start > 0) {
        memmove(d->stage, d->stage + d->start, d->end - d->start);
        d->end -= d->start;
        d->start = 0;
    }
    d->zero_copy = 0;
    *buf = d->stage + d->end;
    *len = d->granted = STAGE_SIZE - d->end;
    if (!d->have_header && d->after_large && d->end < IPC_MSG_HEADER_SIZE)
        *len = d->granted = IPC_MSG_HEADER_SIZE - d->end;
    return 0;
}

int ipc_frame_decoder_space_iov(ipc_frame_decoder *d, struct iovec *iov, int *n)
{
    uint8_t *buf;
    size_t len;
    *n = 0;
    int rc = ipc_frame_decoder_space(d, &buf, &len);
    if (rc)
        return rc;
    iov[0] = (struct iovec){buf, len};
    *n = 1;
    /* Only when this read can finish the payload, so that whatever follows
     * it belongs after it; the stage is empty then (zero copy needs that).
     * After a large payload just the next header, as space() would offer. */
    if (d->zero_copy && d->payload_got + len == d->hdr.payload_size && d->start == 0 &&
        d->end == 0) {
        size_t tail = d->hdr.payload_size >= HEADER_ONLY_AFTER ? IPC_MSG_HEADER_SIZE : STAGE_SIZE;
        iov[1] = (struct iovec){d->stage, tail};
        d->granted_tail = tail;
        d->granted += tail;
        *n = 2;
    }
    return 0;
}

int ipc_frame_decoder_commit(ipc_frame_decoder *d, size_t n)
{
    if (d->err)
        return d->err;
    /* One commit per space(): parsing may move the staged bytes, so a second
     * commit would take bytes from the wrong place. */
    if (n > d->granted)
        return fail(d, -EINVAL);
    size_t first = d->granted - d->granted_tail;
    d->granted = d->granted_tail = 0;
    if (d->zero_copy) {
        size_t in_payload = n < first ? n : first;
        d->payload_got += in_payload;
        if (d->payload_got == d->hdr.payload_size)
            emit(d);
        if (d->err || n == in_payload)
            return d->err;
        /* The rest went to the empty stage, behind the finished payload. */
        d->end = n - in_payload;
        return parse(d);
    }
    d->end += n;
    return parse(d);
}

int ipc_frame_decoder_feed(ipc_frame_decoder *d, const void *data, size_t len)
{
    const uint8_t *p = data;
    while (len > 0) {
        uint8_t *buf;
        size_t room;
        int rc = ipc_frame_decoder_space(d, &buf, &room);
        if (rc)
            return rc;
        size_t n = len < room ? len : room;
        memcpy(buf, p, n);
        rc = ipc_frame_decoder_commit(d, n);
        if (rc)
            return rc;
        p += n;
        len -= n;
    }
    return d->err;
}

int ipc_frame_decoder_next(ipc_frame_decoder *d, ipc_msg **out)
{
    *out = NULL;
    if (d->ready_len > 0) {
        *out = d->ready[d->ready_head];
        d->ready_head = (d->ready_head + 1) % d->ready_cap;
        d->ready_len--;
        return 1;
    }
    return d->err;
}

int ipc_frame_decoder_peek(const ipc_frame_decoder *d, const ipc_msg **out)
{
    *out = d->ready_len > 0 ? d->ready[d->ready_head] : NULL;
    return d->ready_len > 0;
}

int ipc_frame_decoder_finish(ipc_frame_decoder *d)
{
    if (d->err)
        return d->err;
    if (d->have_header || d->end > d->start)
        return fail(d, IPC_E_TRUNCATED);
    if (d->fdq_len > 0)
        return fail(d, IPC_E_FD_COUNT);
    return 0;
}

int ipc_frame_decoder_error(const ipc_frame_decoder *d)
{
    return d->err;
}

uint32_t ipc_frame_decoder_error_type(const ipc_frame_decoder *d)
{
    return d->err_type;
}

size_t ipc_frame_decoder_pending_bytes(const ipc_frame_decoder *d)
{
    return (d->have_header ? IPC_MSG_HEADER_SIZE + d->payload_got : 0) + (d->end - d->start);
}

size_t ipc_frame_decoder_pending_fds(const ipc_frame_decoder *d)
{
    return d->fdq_len;
}
