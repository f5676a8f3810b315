/* Chromium-style Pickle: a writer that appends 4-byte-aligned little-endian
 * fields, and an iterator whose every read is bounds- and overflow-checked.
 * The byte layout is specified in docs/wire-format.md ("Pickle payload"). */
#ifndef IPC_PICKLE_H
#define IPC_PICKLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest payload a writer produces: the frame decoder's default limit. */
#define IPC_PICKLE_MAX_SIZE (128u * 1024u * 1024u)
/* Value written for an fd parameter that carries no descriptor. */
#define IPC_PICKLE_NO_FD (-1)

/* Writer. Fields are private; use the functions. Any thread, one at a time.
 * Errors are sticky: after the first failure every write returns it again, so
 * a caller may write many fields and check only ipc_pickle_error(). */
typedef struct ipc_pickle {
    uint8_t *data;
    size_t len;
    size_t cap;
    int err;
} ipc_pickle;

void ipc_pickle_init(ipc_pickle *w);
/* Frees the buffer; the writer may be initialised again. */
void ipc_pickle_dispose(ipc_pickle *w);
/* Hands the buffer to the caller (free() it; NULL when nothing was written);
 * the writer becomes empty. On a sticky error returns it, hands nothing
 * (*data NULL, *len 0) and the writer keeps its buffer until disposed. */
int ipc_pickle_release(ipc_pickle *w, uint8_t **data, size_t *len);
int ipc_pickle_error(const ipc_pickle *w);
size_t ipc_pickle_size(const ipc_pickle *w);
const uint8_t *ipc_pickle_data(const ipc_pickle *w);
/* Reserves room so later writes up to `extra` bytes do not reallocate. */
int ipc_pickle_reserve(ipc_pickle *w, size_t extra);

int ipc_pickle_write_bool(ipc_pickle *w, bool v);
int ipc_pickle_write_i32(ipc_pickle *w, int32_t v);
int ipc_pickle_write_u32(ipc_pickle *w, uint32_t v);
int ipc_pickle_write_i64(ipc_pickle *w, int64_t v);
int ipc_pickle_write_u64(ipc_pickle *w, uint64_t v);
int ipc_pickle_write_double(ipc_pickle *w, double v);
/* A string may not contain NUL (IPC_E_BAD_STRING); `len` excludes any NUL. */
int ipc_pickle_write_string(ipc_pickle *w, const char *s, size_t len);
int ipc_pickle_write_bytes(ipc_pickle *w, const void *p, size_t len);
/* An fd parameter is an index into the message's attached fds, or NO_FD. */
int ipc_pickle_write_fd_index(ipc_pickle *w, int32_t index);

/* Iterator over a payload it does not own. */
typedef struct ipc_pickle_iter {
    const uint8_t *data;
    size_t len;
    size_t pos;
} ipc_pickle_iter;

void ipc_pickle_iter_init(ipc_pickle_iter *it, const void *data, size_t len);
/* Bytes not read yet. */
size_t ipc_pickle_iter_remaining(const ipc_pickle_iter *it);
/* 0 when everything was read, IPC_E_TRAILING otherwise. */
int ipc_pickle_iter_end(const ipc_pickle_iter *it);

/* Each read returns 0 and advances, or a negative IPC_E_* code and leaves the
 * iterator where it was: IPC_E_TRUNCATED, IPC_E_BAD_BOOL, IPC_E_BAD_STRING,
 * IPC_E_BAD_PADDING, IPC_E_OVERFLOW. */
int ipc_pickle_read_bool(ipc_pickle_iter *it, bool *v);
int ipc_pickle_read_i32(ipc_pickle_iter *it, int32_t *v);
int ipc_pickle_read_u32(ipc_pickle_iter *it, uint32_t *v);
int ipc_pickle_read_i64(ipc_pickle_iter *it, int64_t *v);
int ipc_pickle_read_u64(ipc_pickle_iter *it, uint64_t *v);
int ipc_pickle_read_double(ipc_pickle_iter *it, double *v);
/* Views into the payload (not NUL-terminated); valid while the payload is. */
int ipc_pickle_read_string(ipc_pickle_iter *it, const char **s, size_t *len);
int ipc_pickle_read_bytes(ipc_pickle_iter *it, const uint8_t **p, size_t *len);
/* Reads an fd index: >= 0 or IPC_PICKLE_NO_FD; other negatives are
 * IPC_E_BAD_FD_INDEX. The message layer checks it against its fd count. */
int ipc_pickle_read_fd_index(ipc_pickle_iter *it, int32_t *index);

#endif
