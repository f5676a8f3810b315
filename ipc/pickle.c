/* Pickle writer and bounds-checked iterator (layout: docs/wire-format.md). */
#include "ipc/pickle.h"

#include "bufpool_internal.h"
#include "ipc/errors.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static size_t pad4(size_t n)
{
    return (4 - (n & 3)) & 3;
}

void ipc_pickle_init(ipc_pickle *w)
{
    w->data = NULL;
    w->len = 0;
    w->cap = 0;
    w->err = 0;
}

void ipc_pickle_dispose(ipc_pickle *w)
{
    ipc__buf_put(w->data, w->cap); /* large buffers go back to the cache */
    ipc_pickle_init(w);
}

int ipc_pickle_release(ipc_pickle *w, uint8_t **data, size_t *len)
{
    *data = NULL;
    *len = 0;
    if (w->err)
        return w->err;
    *data = w->data;
    *len = w->len;
    ipc_pickle_init(w);
    return 0;
}

int ipc_pickle_error(const ipc_pickle *w)
{
    return w->err;
}

size_t ipc_pickle_size(const ipc_pickle *w)
{
    return w->len;
}

const uint8_t *ipc_pickle_data(const ipc_pickle *w)
{
    return w->data;
}

int ipc_pickle_reserve(ipc_pickle *w, size_t extra)
{
    if (w->err)
        return w->err;
    if (extra > IPC_PICKLE_MAX_SIZE || w->len > IPC_PICKLE_MAX_SIZE - extra)
        return w->err = IPC_E_TOO_LARGE;
    size_t need = w->len + extra;
    if (need <= w->cap)
        return 0;
    /* Small buffers double from 64 bytes; a large first reservation takes
     * just its size class from the buffer cache, so a 64 KiB payload does not
     * sit in 128 KiB. */
    size_t cap = w->cap ? w->cap : 64;
    while (cap < need && (w->cap || cap < IPC__BUF_MIN))
        cap *= 2; /* need <= 128 MiB, so this cannot overflow */
    if (cap < need)
        cap = need;
    uint8_t *p = ipc__buf_grow(w->data, w->len, w->cap, cap, &cap);
    if (!p)
        return w->err = -ENOMEM;
    w->data = p;
    w->cap = cap;
    return 0;
}

/* Appends `len` bytes then zero padding to the next multiple of four. */
static int append(ipc_pickle *w, const void *p, size_t len)
{
    size_t pad = pad4(len);
    if (len > IPC_PICKLE_MAX_SIZE)
        return w->err = IPC_E_TOO_LARGE;
    int rc = ipc_pickle_reserve(w, len + pad);
    if (rc)
        return rc;
    if (len + pad == 0)
        return 0; /* w->data may still be NULL: no pointer arithmetic on it */
    if (len)
        memcpy(w->data + w->len, p, len);
    memset(w->data + w->len + len, 0, pad);
    w->len += len + pad;
    return 0;
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

int ipc_pickle_write_u32(ipc_pickle *w, uint32_t v)
{
    uint8_t b[4];
    put_le32(b, v);
    return append(w, b, 4);
}

int ipc_pickle_write_i32(ipc_pickle *w, int32_t v)
{
    return ipc_pickle_write_u32(w, (uint32_t)v);
}

int ipc_pickle_write_bool(ipc_pickle *w, bool v)
{
    return ipc_pickle_write_u32(w, v ? 1u : 0u);
}

int ipc_pickle_write_u64(ipc_pickle *w, uint64_t v)
{
    uint8_t b[8];
    put_le32(b, (uint32_t)v);
    put_le32(b + 4, (uint32_t)(v >> 32));
    return append(w, b, 8);
}

int ipc_pickle_write_i64(ipc_pickle *w, int64_t v)
{
    return ipc_pickle_write_u64(w, (uint64_t)v);
}

int ipc_pickle_write_double(ipc_pickle *w, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    return ipc_pickle_write_u64(w, bits);
}

int ipc_pickle_write_bytes(ipc_pickle *w, const void *p, size_t len)
{
    if (w->err)
        return w->err;
    if (len > IPC_PICKLE_MAX_SIZE - 4)
        return w->err = IPC_E_TOO_LARGE;
    int rc = ipc_pickle_reserve(w, 4 + len + pad4(len));
    if (rc)
        return rc;
    ipc_pickle_write_u32(w, (uint32_t)len);
    return append(w, p, len);
}

int ipc_pickle_write_string(ipc_pickle *w, const char *s, size_t len)
{
    if (w->err)
        return w->err;
    if (len && memchr(s, '\0', len))
        return w->err = IPC_E_BAD_STRING;
    return ipc_pickle_write_bytes(w, s, len);
}

int ipc_pickle_write_fd_index(ipc_pickle *w, int32_t index)
{
    if (w->err)
        return w->err;
    if (index < IPC_PICKLE_NO_FD)
        return w->err = IPC_E_BAD_FD_INDEX;
    return ipc_pickle_write_i32(w, index);
}

/* ---- iterator ---- */

void ipc_pickle_iter_init(ipc_pickle_iter *it, const void *data, size_t len)
{
    it->data = data;
    it->len = data ? len : 0;
    it->pos = 0;
}

size_t ipc_pickle_iter_remaining(const ipc_pickle_iter *it)
{
    return it->len - it->pos;
}

int ipc_pickle_iter_end(const ipc_pickle_iter *it)
{
    return it->pos == it->len ? 0 : IPC_E_TRAILING;
}

/* Points *p at the next `n` bytes without advancing. */
static int peek(const ipc_pickle_iter *it, size_t n, const uint8_t **p)
{
    if (n > it->len - it->pos)
        return IPC_E_TRUNCATED;
    *p = it->data + it->pos;
    return 0;
}

int ipc_pickle_read_u32(ipc_pickle_iter *it, uint32_t *v)
{
    const uint8_t *p;
    int rc = peek(it, 4, &p);
    if (rc)
        return rc;
    *v = get_le32(p);
    it->pos += 4;
    return 0;
}

int ipc_pickle_read_i32(ipc_pickle_iter *it, int32_t *v)
{
    uint32_t u;
    int rc = ipc_pickle_read_u32(it, &u);
    if (rc == 0)
        *v = (int32_t)u;
    return rc;
}

int ipc_pickle_read_bool(ipc_pickle_iter *it, bool *v)
{
    const uint8_t *p;
    int rc = peek(it, 4, &p);
    if (rc)
        return rc;
    uint32_t u = get_le32(p);
    if (u > 1)
        return IPC_E_BAD_BOOL;
    *v = u == 1;
    it->pos += 4;
    return 0;
}

int ipc_pickle_read_u64(ipc_pickle_iter *it, uint64_t *v)
{
    const uint8_t *p;
    int rc = peek(it, 8, &p);
    if (rc)
        return rc;
    *v = (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
    it->pos += 8;
    return 0;
}

int ipc_pickle_read_i64(ipc_pickle_iter *it, int64_t *v)
{
    uint64_t u;
    int rc = ipc_pickle_read_u64(it, &u);
    if (rc == 0)
        *v = (int64_t)u;
    return rc;
}

int ipc_pickle_read_double(ipc_pickle_iter *it, double *v)
{
    uint64_t u;
    int rc = ipc_pickle_read_u64(it, &u);
    if (rc == 0)
        memcpy(v, &u, sizeof *v);
    return rc;
}

int ipc_pickle_read_bytes(ipc_pickle_iter *it, const uint8_t **out, size_t *len)
{
    const uint8_t *p;
    int rc = peek(it, 4, &p);
    if (rc)
        return rc;
    size_t n = get_le32(p);
    size_t avail = it->len - it->pos - 4;
    /* n <= UINT32_MAX, so n + 3 cannot overflow size_t; compare, never add to pos first. */
    if (n > avail)
        return IPC_E_TRUNCATED;
    size_t pad = pad4(n);
    if (pad > avail - n)
        return IPC_E_TRUNCATED;
    for (size_t i = 0; i < pad; i++)
        if (p[4 + n + i] != 0)
            return IPC_E_BAD_PADDING;
    *out = p + 4;
    *len = n;
    it->pos += 4 + n + pad;
    return 0;
}

int ipc_pickle_read_string(ipc_pickle_iter *it, const char **s, size_t *len)
{
    ipc_pickle_iter save = *it;
    const uint8_t *p;
    size_t n;
    int rc = ipc_pickle_read_bytes(it, &p, &n);
    if (rc)
        return rc;
    if (n && memchr(p, '\0', n)) {
        *it = save;
        return IPC_E_BAD_STRING;
    }
    *s = (const char *)p;
    *len = n;
    return 0;
}

int ipc_pickle_read_fd_index(ipc_pickle_iter *it, int32_t *index)
{
    const uint8_t *p;
    int rc = peek(it, 4, &p);
    if (rc)
        return rc;
    int32_t v = (int32_t)get_le32(p);
    if (v < IPC_PICKLE_NO_FD)
        return IPC_E_BAD_FD_INDEX;
    *index = v;
    it->pos += 4;
    return 0;
}
