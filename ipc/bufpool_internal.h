/* A small process-wide cache of payload buffers (4 KiB to 4 MiB) shared by the
 * Pickle writer and the frame decoder, so that streaming large messages reuses
 * warm memory instead of making malloc trim and re-fault its heap when buffers
 * are allocated on one thread and freed on another. Bounded (at most
 * IPC__BUF_CACHE_MAX bytes cached), thread-safe, not installed. */
#ifndef IPC_BUFPOOL_INTERNAL_H
#define IPC_BUFPOOL_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

/* Sizes in [IPC__BUF_MIN, IPC__BUF_MAX] are rounded up to a size class (four
 * per power of two); others go to malloc as they are. */
#define IPC__BUF_MIN ((size_t)4 << 10)
#define IPC__BUF_MAX ((size_t)4 << 20)
/* Bytes the cache holds at most; a buffer given back beyond it is freed. */
#define IPC__BUF_CACHE_MAX ((size_t)16 << 20)

/* A buffer of at least `size` bytes (size > 0): a cached one of the right
 * class, or a new malloc'd block. *cap gets its usable size, which is the
 * class size for sizes in the class range and `size` otherwise. The block is
 * an ordinary malloc'd block: free() is always allowed (it is then simply not
 * reused). NULL on ENOMEM. Any thread. */
void *ipc__buf_get(size_t size, size_t *cap);

/* Takes back a block of capacity `cap` (NULL allowed). It is cached when
 * `cap` is exactly a class size, the block really is that large and the cache
 * has room; otherwise freed. `cap` must not exceed the block's real size.
 * Any thread. */
void ipc__buf_put(void *p, size_t cap);

/* Grows a block holding `len` valid bytes and capacity `cap` to at least
 * `want` bytes, keeping the bytes: like realloc, through the cache. On
 * success returns the new block (p is given back) and sets *new_cap; on
 * ENOMEM returns NULL and p is untouched. p may be NULL (len and cap 0). */
void *ipc__buf_grow(void *p, size_t len, size_t cap, size_t want, size_t *new_cap);

/* The class size a request of `size` bytes gets, or 0 outside the range. */
size_t ipc__buf_class_size(size_t size);

typedef struct ipc__buf_stats {
    uint64_t hits;       /* requests served from the cache */
    uint64_t misses;     /* requests in the class range that had to malloc */
    uint64_t puts;       /* blocks taken into the cache */
    uint64_t overflows;  /* class blocks freed because the cache was full */
    size_t cached_bytes; /* held now */
    size_t cached_blocks;
} ipc__buf_stats;

void ipc__buf_get_stats(ipc__buf_stats *out);
/* Frees every cached block (and keeps the counters). Any thread. */
void ipc__buf_trim(void);

#endif
