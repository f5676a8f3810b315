/* The payload buffer cache (bufpool_internal.h). glibc gives each thread's
 * arena its own heap top and trims it when a large free leaves enough slack;
 * a payload allocated on the IO thread and freed on the listener's thread (or
 * the other way round) then costs an madvise or munmap plus page faults for
 * every 64 KiB message, and 4 KiB payloads freed on another thread contend
 * for the allocating thread's arena lock and make it trim and re-fault too.
 * Keeping a bounded number of freed blocks per size class, under one mutex,
 * makes steady streaming allocate nothing new.
 * Cached blocks are poisoned for ASan and valgrind, so a use after free of a
 * pooled payload is still caught. */
#include "bufpool_internal.h"

#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#define POOL_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define POOL_ASAN 1
#endif
#endif
/* HIDE: the block is cached, no access. SHOW: the block is handed out,
 * contents undefined as after malloc. */
#ifdef POOL_ASAN
#include <sanitizer/asan_interface.h>
#define HIDE(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define SHOW(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#elif defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define HIDE(p, n) VALGRIND_MAKE_MEM_NOACCESS(p, n)
#define SHOW(p, n) VALGRIND_MAKE_MEM_UNDEFINED(p, n)
#endif
#endif
#ifndef HIDE
#define HIDE(p, n) ((void)(p), (void)(n))
#define SHOW(p, n) ((void)(p), (void)(n))
#endif

#define MIN_SHIFT 12 /* IPC__BUF_MIN = 1 << 12 */
#define STEPS 4      /* classes per power of two */
/* 4 KiB, 5 KiB, 6 KiB, 7 KiB, 8 KiB, 10 KiB, ... 3.5 MiB, 4 MiB. */
#define NCLASSES ((22 - MIN_SHIFT) * STEPS + 1)

/* Cached blocks of one class, as a stack of pointers kept outside the blocks
 * (so the blocks can be poisoned whole and leak checkers still see them). */
typedef struct class_stack {
    void **v; /* room for IPC__BUF_CACHE_MAX / class size blocks */
    size_t n;
} class_stack;

static struct {
    pthread_mutex_t mu;
    class_stack cls[NCLASSES];
    ipc__buf_stats st;
} pool = {.mu = PTHREAD_MUTEX_INITIALIZER};

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

/* fork() while another thread holds the mutex would leave it locked forever
 * in the child: hold it across fork, as malloc does with its own locks. */
static void pool_lock_for_fork(void)
{
    pthread_mutex_lock(&pool.mu);
}

static void pool_unlock_after_fork(void)
{
    pthread_mutex_unlock(&pool.mu);
}

static void register_atfork(void)
{
    pthread_atfork(pool_lock_for_fork, pool_unlock_after_fork, pool_unlock_after_fork);
}

/* Every use of the lock goes through here, so the fork handlers are in place
 * before any thread can hold it. */
static void lock_pool(void)
{
    pthread_once(&atfork_once, register_atfork);
    pthread_mutex_lock(&pool.mu);
}

static size_t class_bytes(int i)
{
    size_t base = (size_t)1 << (MIN_SHIFT + i / STEPS);
    return base / STEPS * (size_t)(STEPS + i % STEPS);
}

/* The smallest class holding `size` bytes, or -1 outside the range. */
static int class_index(size_t size)
{
    if (size > IPC__BUF_MAX || size < IPC__BUF_MIN)
        return -1;
    if (size == IPC__BUF_MIN)
        return 0;
    int k = 63 - __builtin_clzll((unsigned long long)(size - 1)); /* 2^k < size <= 2^(k+1) */
    size_t step = ((size_t)1 << k) / STEPS;
    size_t j = (size - ((size_t)1 << k) + step - 1) / step; /* 1..STEPS */
    return (k - MIN_SHIFT) * STEPS + (int)j;
}

size_t ipc__buf_class_size(size_t size)
{
    int i = class_index(size);
    return i < 0 ? 0 : class_bytes(i);
}

/* The class whose size is exactly `cap`, or -1. */
static int exact_class(size_t cap)
{
    int i = class_index(cap);
    return i >= 0 && class_bytes(i) == cap ? i : -1;
}

void *ipc__buf_get(size_t size, size_t *cap)
{
    if (size == 0)
        size = 1;
    int i = class_index(size);
    if (i < 0) {
        void *p = malloc(size);
        *cap = p ? size : 0;
        return p;
    }
    size_t bytes = class_bytes(i);
    lock_pool();
    class_stack *cs = &pool.cls[i];
    void *b = cs->n ? cs->v[--cs->n] : NULL;
    if (b) {
        SHOW(b, bytes);
        pool.st.cached_bytes -= bytes;
        pool.st.cached_blocks--;
        pool.st.hits++;
    } else {
        pool.st.misses++;
    }
    pthread_mutex_unlock(&pool.mu);
    if (!b)
        b = malloc(bytes);
    *cap = b ? bytes : 0;
    return b;
}

void ipc__buf_put(void *p, size_t cap)
{
    if (!p)
        return;
    int i = exact_class(cap);
    /* A caller's cap may understate the block, never overstate it; the check
     * makes a wrong cap cost a free, not a heap overflow later. */
    if (i < 0 || malloc_usable_size(p) < cap) {
        free(p);
        return;
    }
    lock_pool();
    class_stack *cs = &pool.cls[i];
    if (!cs->v)
        cs->v = malloc(IPC__BUF_CACHE_MAX / cap * sizeof *cs->v); /* NULL: not kept */
    int keep = cs->v && pool.st.cached_bytes + cap <= IPC__BUF_CACHE_MAX;
    if (keep) {
        cs->v[cs->n++] = p; /* n * cap <= cached_bytes <= the cap: it fits */
        HIDE(p, cap);
        pool.st.cached_bytes += cap;
        pool.st.cached_blocks++;
        pool.st.puts++;
    } else {
        pool.st.overflows++;
    }
    pthread_mutex_unlock(&pool.mu);
    if (!keep)
        free(p);
}

void *ipc__buf_grow(void *p, size_t len, size_t cap, size_t want, size_t *new_cap)
{
    if (want <= cap) {
        *new_cap = cap;
        return p;
    }
    /* Outside the classes on both ends realloc may grow in place. */
    if (exact_class(cap) < 0 && ipc__buf_class_size(want) == 0) {
        void *q = realloc(p, want);
        if (q)
            *new_cap = want;
        return q;
    }
    size_t got;
    void *q = ipc__buf_get(want, &got);
    if (!q)
        return NULL;
    if (len)
        memcpy(q, p, len);
    ipc__buf_put(p, cap);
    *new_cap = got;
    return q;
}

void ipc__buf_get_stats(ipc__buf_stats *out)
{
    lock_pool();
    *out = pool.st;
    pthread_mutex_unlock(&pool.mu);
}

void ipc__buf_trim(void)
{
    class_stack all[NCLASSES];
    lock_pool();
    memcpy(all, pool.cls, sizeof all);
    memset(pool.cls, 0, sizeof pool.cls);
    pool.st.cached_bytes = 0;
    pool.st.cached_blocks = 0;
    pthread_mutex_unlock(&pool.mu);
    for (int i = 0; i < NCLASSES; i++) {
        for (size_t k = 0; k < all[i].n; k++) {
            SHOW(all[i].v[k], class_bytes(i));
            free(all[i].v[k]);
        }
        free(all[i].v);
    }
}
