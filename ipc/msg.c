/* Messages: header fields, the Pickle payload and attached fds with ownership. */
#include "msg_internal.h"

#include "bufpool_internal.h"
#include "ipc/errors.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int attach(ipc_msg *m, int fd);

ipc_msg *ipc_msg_new(int32_t routing_id, uint32_t type, uint32_t flags)
{
    ipc_msg *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->type = type;
    m->routing_id = routing_id;
    m->flags = flags;
    ipc_pickle_init(&m->payload);
    return m;
}

ipc_msg *ipc_msg_new_reply(const ipc_msg *req)
{
    uint32_t flags = (req->flags & IPC_MSG_PRIORITY_MASK) | IPC_MSG_REPLY;
    ipc_msg *m = ipc_msg_new(req->routing_id, req->type, flags);
    if (m)
        m->txn_id = req->txn_id;
    return m;
}

void ipc_msg_free(ipc_msg *m)
{
    if (!m)
        return;
    for (uint32_t i = 0; i < m->nfds; i++)
        if (m->fds[i] >= 0)
            close(m->fds[i]);
    free(m->fds);
    ipc_pickle_dispose(&m->payload);
    free(m);
}

ipc_msg *ipc_msg_clone(const ipc_msg *src)
{
    ipc_msg *m = ipc_msg_new(src->routing_id, src->type, src->flags);
    if (!m)
        return NULL;
    m->txn_id = src->txn_id;
    if (src->payload.len &&
        (ipc_pickle_reserve(&m->payload, src->payload.len) != 0))
        goto fail;
    if (src->payload.len)
        memcpy(m->payload.data, src->payload.data, src->payload.len);
    m->payload.len = src->payload.len;
    m->payload.err = src->payload.err; /* a failed writer stays failed */
    for (uint32_t i = 0; i < src->nfds; i++) {
        int fd = src->fds[i] >= 0 ? fcntl(src->fds[i], F_DUPFD_CLOEXEC, 0) : -1;
        if (src->fds[i] >= 0 && fd < 0)
            goto fail;
        if (attach(m, fd) < 0)
            goto fail;
    }
    return m;
fail:
    ipc_msg_free(m);
    return NULL;
}

uint32_t ipc_msg_type(const ipc_msg *m)
{
    return m->type;
}

int32_t ipc_msg_routing_id(const ipc_msg *m)
{
    return m->routing_id;
}

uint32_t ipc_msg_flags(const ipc_msg *m)
{
    return m->flags;
}

uint32_t ipc_msg_txn_id(const ipc_msg *m)
{
    return m->txn_id;
}

void ipc_msg_set_routing_id(ipc_msg *m, int32_t routing_id)
{
    m->routing_id = routing_id;
}

void ipc_msg_set_flags(ipc_msg *m, uint32_t flags)
{
    m->flags = flags;
}

void ipc_msg_set_txn_id(ipc_msg *m, uint32_t txn_id)
{
    m->txn_id = txn_id;
}

int ipc_msg_is_sync(const ipc_msg *m)
{
    return (m->flags & IPC_MSG_SYNC) != 0;
}

int ipc_msg_is_reply(const ipc_msg *m)
{
    return (m->flags & IPC_MSG_REPLY) != 0;
}

int ipc_msg_is_reply_error(const ipc_msg *m)
{
    return (m->flags & IPC_MSG_REPLY_ERROR) != 0;
}

int ipc_msg_wants_reply(const ipc_msg *m)
{
    return (m->flags & IPC_MSG_WANTS_REPLY) != 0;
}

ipc_pickle *ipc_msg_writer(ipc_msg *m)
{
    return &m->payload;
}

const uint8_t *ipc_msg_payload(const ipc_msg *m, size_t *len)
{
    *len = m->payload.len;
    return m->payload.data;
}

void ipc_msg_iter(const ipc_msg *m, ipc_pickle_iter *it)
{
    ipc_pickle_iter_init(it, m->payload.data, m->payload.len);
}

/* Appends a slot; fd may be -1 (a clone of a slot already taken keeps the
 * indices of the fds after it). Closes fd on failure. */
static int attach(ipc_msg *m, int fd)
{
    if (m->nfds >= IPC_MSG_MAX_FDS) {
        if (fd >= 0)
            close(fd);
        return IPC_E_TOO_MANY_FDS;
    }
    if (m->nfds == m->fds_cap) {
        uint32_t cap = m->fds_cap ? m->fds_cap * 2 : 4;
        int *p = realloc(m->fds, cap * sizeof *p);
        if (!p) {
            if (fd >= 0)
                close(fd);
            return -ENOMEM;
        }
        m->fds = p;
        m->fds_cap = cap;
    }
    m->fds[m->nfds] = fd;
    return (int)m->nfds++;
}

int ipc_msg_add_fd(ipc_msg *m, int fd)
{
    /* A negative fd would be counted in num_fds yet could never be sent. */
    if (fd < 0)
        return -EBADF;
    return attach(m, fd);
}

int ipc_msg_write_fd(ipc_msg *m, int fd)
{
    ipc_pickle *w = &m->payload;
    if (w->err) {
        if (fd >= 0)
            close(fd);
        return w->err;
    }
    if (fd < 0)
        return ipc_pickle_write_fd_index(w, IPC_PICKLE_NO_FD);
    int idx = attach(m, fd);
    if (idx < 0)
        return w->err = idx; /* sticky: the payload now lacks this field */
    return ipc_pickle_write_fd_index(w, idx);
}

int ipc_msg_read_fd(ipc_msg *m, ipc_pickle_iter *it, int *fd)
{
    ipc_pickle_iter save = *it;
    int32_t idx;
    int rc = ipc_pickle_read_fd_index(it, &idx);
    if (rc)
        return rc;
    if (idx == IPC_PICKLE_NO_FD) {
        *fd = -1;
        return 0;
    }
    rc = ipc_msg_take_fd(m, (size_t)idx);
    if (rc < 0) {
        *it = save;
        return rc;
    }
    *fd = rc;
    return 0;
}

size_t ipc_msg_num_fds(const ipc_msg *m)
{
    return m->nfds;
}

int ipc_msg_fd(const ipc_msg *m, size_t index)
{
    return index < m->nfds ? m->fds[index] : -1;
}

int ipc_msg_take_fd(ipc_msg *m, size_t index)
{
    if (index >= m->nfds || m->fds[index] < 0)
        return IPC_E_BAD_FD_INDEX;
    int fd = m->fds[index];
    m->fds[index] = -1;
    return fd;
}

static void put_le32(uint8_t *b, uint32_t v)
{
    b[0] = (uint8_t)v;
    b[1] = (uint8_t)(v >> 8);
    b[2] = (uint8_t)(v >> 16);
    b[3] = (uint8_t)(v >> 24);
}

static uint32_t get_le32(const uint8_t *b)
{
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

void ipc_msg_encode_header(const ipc_msg *m, uint8_t out[IPC_MSG_HEADER_SIZE])
{
    put_le32(out + 0, (uint32_t)m->payload.len);
    put_le32(out + 4, m->type);
    put_le32(out + 8, (uint32_t)m->routing_id);
    put_le32(out + 12, m->flags);
    put_le32(out + 16, m->nfds);
    put_le32(out + 20, m->txn_id);
}

int ipc_msg_decode_header(const uint8_t in[IPC_MSG_HEADER_SIZE], ipc_msg_header *h)
{
    h->payload_size = get_le32(in + 0);
    h->type = get_le32(in + 4);
    h->routing_id = (int32_t)get_le32(in + 8);
    h->flags = get_le32(in + 12);
    h->num_fds = get_le32(in + 16);
    h->txn_id = get_le32(in + 20);

    uint32_t f = h->flags;
    if (f & ~(uint32_t)IPC_MSG_FLAGS_KNOWN)
        return IPC_E_BAD_FLAGS;
    if ((f & IPC_MSG_PRIORITY_MASK) == 3)
        return IPC_E_BAD_FLAGS;
    if ((f & IPC_MSG_REPLY_ERROR) && !(f & IPC_MSG_REPLY))
        return IPC_E_BAD_FLAGS;
    if ((f & IPC_MSG_SYNC) && (f & IPC_MSG_WANTS_REPLY))
        return IPC_E_BAD_FLAGS;
    if ((f & IPC_MSG_REPLY) && (f & IPC_MSG_WANTS_REPLY))
        return IPC_E_BAD_FLAGS;
    /* A reply never carries SYNC: the receiver could not tell whether to match
     * it to a pending request or dispatch it as a new blocking one. */
    if ((f & IPC_MSG_REPLY) && (f & IPC_MSG_SYNC))
        return IPC_E_BAD_FLAGS;
    int needs_txn = (f & (IPC_MSG_SYNC | IPC_MSG_WANTS_REPLY | IPC_MSG_REPLY)) != 0;
    if (needs_txn != (h->txn_id != 0))
        return IPC_E_BAD_FLAGS;
    if (h->payload_size & 3)
        return IPC_E_BAD_SIZE;
    return 0;
}

ipc_msg *ipc__msg_from_frame(const ipc_msg_header *h, uint8_t *payload, size_t cap,
                             const int *fds)
{
    assert(h->num_fds <= IPC_MSG_MAX_FDS); /* the decoder checked its limits */
    ipc_msg *m = ipc_msg_new(h->routing_id, h->type, h->flags);
    if (!m)
        goto fail;
    m->txn_id = h->txn_id;
    if (h->num_fds) {
        m->fds = malloc(h->num_fds * sizeof *m->fds);
        if (!m->fds)
            goto fail;
        memcpy(m->fds, fds, h->num_fds * sizeof *m->fds);
        m->nfds = m->fds_cap = h->num_fds;
    }
    m->payload.data = payload;
    m->payload.len = h->payload_size;
    m->payload.cap = payload ? cap : 0; /* ipc_msg_free gives it back by it */
    return m;
fail:
    ipc__buf_put(payload, cap);
    for (uint32_t i = 0; i < h->num_fds; i++)
        close(fds[i]);
    if (m) {
        m->nfds = 0;
        ipc_msg_free(m);
    }
    return NULL;
}
