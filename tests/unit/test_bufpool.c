/* Unit tests for the large-buffer cache (ipc/bufpool.c): size classes, reuse,
 * the byte cap, blocks it must not keep, growth, use from many threads and
 * across fork, and its users: the Pickle writer and the frame decoder reuse
 * buffers, and a lying frame header still gets at most the up-front bound. */
#include "testutil.h"
#include "wire_util.h"

#include "../../ipc/bufpool_internal.h"
#include "ipc/frame.h"
#include "ipc/msg.h"
#include "ipc/pickle.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHECK(x) ck_assert(x)
#define CHECK_EQ(a, b) ck_assert_uint_eq((a), (b))
#define KIB ((size_t)1024)
#define MIB ((size_t)1024 * 1024)

static ipc__buf_stats stats(void)
{
    ipc__buf_stats st;
    ipc__buf_get_stats(&st);
    return st;
}

START_TEST(bufpool_class_sizes)
{
    CHECK_EQ(ipc__buf_class_size(0), 0);
    CHECK_EQ(ipc__buf_class_size(4 * KIB - 1), 0);
    CHECK_EQ(ipc__buf_class_size(4 * KIB), 4 * KIB);
    CHECK_EQ(ipc__buf_class_size(4100), 5 * KIB); /* a 4 KiB bytes field */
    CHECK_EQ(ipc__buf_class_size(16 * KIB), 16 * KIB);
    CHECK_EQ(ipc__buf_class_size(16 * KIB + 1), 20 * KIB);
    CHECK_EQ(ipc__buf_class_size(28 * KIB + 1), 32 * KIB);
    CHECK_EQ(ipc__buf_class_size(65540), 80 * KIB); /* a 64 KiB bytes field */
    CHECK_EQ(ipc__buf_class_size(3 * MIB + 1), 3 * MIB + 512 * KIB);
    CHECK_EQ(ipc__buf_class_size(4 * MIB), 4 * MIB);
    CHECK_EQ(ipc__buf_class_size(4 * MIB + 1), 0);
    /* Every size maps to the smallest class that holds it. */
    size_t prev = 4 * KIB;
    for (size_t n = 4 * KIB; n <= 4 * MIB; n += 1021) {
        size_t c = ipc__buf_class_size(n);
        CHECK(c >= n && c >= prev);
        CHECK(c - n < c / 4 + 1);
        prev = c;
    }
}
END_TEST

START_TEST(bufpool_reuses_a_block)
{
    ipc__buf_trim();
    size_t cap;
    uint8_t *a = ipc__buf_get(65540, &cap);
    CHECK(a != NULL);
    CHECK_EQ(cap, 80 * KIB);
    memset(a, 0xab, cap); /* all of cap is usable */
    ipc__buf_stats before = stats();
    ipc__buf_put(a, cap);
    CHECK_EQ(stats().cached_bytes, before.cached_bytes + cap);
    size_t cap2;
    uint8_t *b = ipc__buf_get(70000, &cap2); /* same class */
    CHECK(b == a);
    CHECK_EQ(cap2, cap);
    CHECK_EQ(stats().hits, before.hits + 1);
    CHECK_EQ(stats().cached_bytes, before.cached_bytes);
    /* Another class does not take it. */
    ipc__buf_put(b, cap2);
    uint8_t *c = ipc__buf_get(200 * KIB, &cap);
    CHECK(c != b);
    ipc__buf_put(c, cap);
    ipc__buf_trim();
    CHECK_EQ(stats().cached_bytes, 0);
    CHECK_EQ(stats().cached_blocks, 0);
}
END_TEST

START_TEST(bufpool_caps_cached_bytes)
{
    ipc__buf_trim();
    enum { N = 40 };
    void *p[N];
    size_t cap = 0;
    for (int i = 0; i < N; i++)
        CHECK((p[i] = ipc__buf_get(MIB, &cap)) != NULL);
    ipc__buf_stats before = stats();
    for (int i = 0; i < N; i++)
        ipc__buf_put(p[i], cap);
    ipc__buf_stats after = stats();
    CHECK(after.cached_bytes <= IPC__BUF_CACHE_MAX);
    CHECK_EQ(after.cached_bytes, IPC__BUF_CACHE_MAX / cap * cap);
    CHECK_EQ(after.overflows - before.overflows, N - IPC__BUF_CACHE_MAX / cap);
    ipc__buf_trim();
}
END_TEST

START_TEST(bufpool_keeps_only_class_blocks)
{
    ipc__buf_trim();
    ipc__buf_stats before = stats();
    /* Outside the classes: plain malloc and free. */
    size_t cap;
    void *small = ipc__buf_get(100, &cap);
    CHECK(small != NULL);
    CHECK_EQ(cap, 100);
    ipc__buf_put(small, cap);
    small = ipc__buf_get(4 * KIB - 4, &cap);
    CHECK(small != NULL);
    CHECK_EQ(cap, 4 * KIB - 4);
    ipc__buf_put(small, cap);
    void *big = ipc__buf_get(5 * MIB, &cap);
    CHECK(big != NULL);
    CHECK_EQ(cap, 5 * MIB);
    ipc__buf_put(big, cap);
    /* A capacity that is no class size. */
    void *odd = malloc(70000);
    ipc__buf_put(odd, 70000);
    /* A capacity that claims more than the block has: freed, never reused. */
    void *liar = malloc(100);
    ipc__buf_put(liar, 16 * KIB);
    ipc__buf_put(NULL, 16 * KIB);
    void *odd_small = malloc(4 * KIB + 100);
    ipc__buf_put(odd_small, 4 * KIB + 100);
    CHECK_EQ(stats().cached_blocks, before.cached_blocks);
    CHECK_EQ(stats().puts, before.puts);
}
END_TEST

START_TEST(bufpool_grow_keeps_bytes)
{
    ipc__buf_trim();
    size_t cap = 0, len = 0;
    uint8_t *p = NULL;
    const size_t steps[] = {1000, 4100, 20 * KIB, 100 * KIB, 5 * MIB, 9 * MIB};
    for (size_t s = 0; s < sizeof steps / sizeof steps[0]; s++) {
        size_t ncap;
        uint8_t *q = ipc__buf_grow(p, len, cap, steps[s], &ncap);
        CHECK(q != NULL);
        CHECK(ncap >= steps[s]);
        int bad = 0;
        for (size_t i = 0; i < len; i++)
            bad |= q[i] != (uint8_t)(i * 7);
        CHECK(!bad);
        for (size_t i = len; i < steps[s]; i++)
            q[i] = (uint8_t)(i * 7);
        p = q;
        cap = ncap;
        len = steps[s];
    }
    /* Growing to what it already holds changes nothing. */
    size_t same;
    CHECK(ipc__buf_grow(p, len, cap, cap, &same) == p);
    CHECK_EQ(same, cap);
    ipc__buf_put(p, cap);
    ipc__buf_trim();
}
END_TEST

typedef struct churn_arg {
    unsigned seed;
    int bad;
} churn_arg;

/* Takes and gives back buffers of random classes, writing a pattern of its
 * own into each and checking it before giving it back. */
static void *churn(void *arg)
{
    churn_arg *a = arg;
    rig_rng r;
    rig_rng_seed(&r, a->seed);
    enum { HELD = 8 };
    uint8_t *held[HELD] = {0};
    size_t caps[HELD] = {0}, lens[HELD] = {0};
    for (int i = 0; i < 3000; i++) {
        int k = (int)rig_rng_below(&r, HELD);
        if (held[k]) {
            for (size_t j = 0; j < lens[k]; j += 997)
                if (held[k][j] != (uint8_t)(a->seed + j))
                    a->bad = 1;
            ipc__buf_put(held[k], caps[k]);
            held[k] = NULL;
            continue;
        }
        lens[k] = (size_t)rig_rng_range(&r, 2 * KIB, 600 * KIB);
        held[k] = ipc__buf_get(lens[k], &caps[k]);
        if (!held[k]) {
            a->bad = 1;
            continue;
        }
        for (size_t j = 0; j < lens[k]; j += 997)
            held[k][j] = (uint8_t)(a->seed + j);
    }
    for (int k = 0; k < HELD; k++)
        ipc__buf_put(held[k], caps[k]);
    return NULL;
}

START_TEST(bufpool_threads_share_it)
{
    ipc__buf_trim();
    enum { T = 4 };
    pthread_t th[T];
    churn_arg args[T];
    for (int i = 0; i < T; i++) {
        args[i] = (churn_arg){.seed = 100u + (unsigned)i};
        CHECK(pthread_create(&th[i], NULL, churn, &args[i]) == 0);
    }
    for (int i = 0; i < T; i++) {
        pthread_join(th[i], NULL);
        CHECK(!args[i].bad);
    }
    ipc__buf_stats st = stats();
    CHECK(st.hits > 0);
    CHECK(st.cached_bytes <= IPC__BUF_CACHE_MAX);
    ipc__buf_trim();
}
END_TEST

/* Takes the pool's lock over and over without holding any block (so a
 * child forked meanwhile has nothing of ours to leak). */
static void *lock_forever(void *arg)
{
    atomic_int *stop = arg;
    while (!atomic_load(stop)) {
        ipc__buf_stats st;
        ipc__buf_get_stats(&st);
        ipc__buf_trim();
        sched_yield(); /* valgrind runs one thread at a time */
    }
    return NULL;
}

START_TEST(bufpool_usable_after_fork)
{
    /* Another thread is inside the pool most of the time; the child of a
     * fork must still be able to use it (its lock is not left held). */
    static atomic_int stop;
    pthread_t th;
    CHECK(pthread_create(&th, NULL, lock_forever, &stop) == 0);
    for (int i = 0; i < 20; i++) {
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
            size_t cap;
            void *p = ipc__buf_get(64 * KIB, &cap);
            ipc__buf_put(p, cap);
            p = ipc__buf_get(64 * KIB, &cap);
            free(p);
            ipc__buf_trim();
            _exit(p ? 0 : 1);
        }
        CHECK_EQ(rig_wait(pid), 0);
    }
    atomic_store(&stop, 1);
    pthread_join(th, NULL);
}
END_TEST

START_TEST(bufpool_pickle_writer_reuses)
{
    ipc__buf_trim();
    static uint8_t data[64 * 1024];
    memset(data, 5, sizeof data);
    ipc_pickle w;
    ipc_pickle_init(&w);
    CHECK(ipc_pickle_write_bytes(&w, data, sizeof data) == 0);
    const uint8_t *first = ipc_pickle_data(&w);
    ipc_pickle_dispose(&w);
    ipc__buf_stats before = stats();
    CHECK(before.cached_blocks == 1);
    ipc_pickle_init(&w);
    CHECK(ipc_pickle_write_bytes(&w, data, sizeof data) == 0);
    CHECK(ipc_pickle_data(&w) == first);
    CHECK_EQ(stats().hits, before.hits + 1);
    /* Growing field by field keeps every byte. */
    for (int i = 0; i < 20000; i++)
        CHECK(ipc_pickle_write_u32(&w, (uint32_t)i) == 0);
    ipc_pickle_iter it;
    ipc_pickle_iter_init(&it, ipc_pickle_data(&w), ipc_pickle_size(&w));
    const uint8_t *p;
    size_t n;
    CHECK(ipc_pickle_read_bytes(&it, &p, &n) == 0);
    CHECK(n == sizeof data && memcmp(p, data, n) == 0);
    for (int i = 0; i < 20000; i++) {
        uint32_t v;
        CHECK(ipc_pickle_read_u32(&it, &v) == 0);
        CHECK_EQ(v, (uint32_t)i);
    }
    /* A released buffer is the caller's to free(). */
    uint8_t *out;
    size_t len;
    CHECK(ipc_pickle_release(&w, &out, &len) == 0);
    free(out);
    ipc__buf_trim();
}
END_TEST

/* One frame with `size` payload bytes of `fill`. */
static void frame_of(rig_buf *b, size_t size, uint8_t fill)
{
    uint8_t *payload = malloc(size);
    memset(payload, fill, size);
    rig_wire_frame(b, IPC_MSG_TYPE(0x41, 1), 1, 0, 0, 0, payload, size);
    free(payload);
}

START_TEST(bufpool_decoder_payloads_come_back)
{
    ipc__buf_trim();
    ipc_frame_decoder *d;
    CHECK(ipc_frame_decoder_new(&d, NULL) == 0);
    const uint8_t *prev = NULL;
    for (int i = 0; i < 10; i++) {
        rig_buf b;
        rig_buf_init(&b);
        frame_of(&b, 65540, (uint8_t)i);
        CHECK(ipc_frame_decoder_feed(d, b.data, b.len) == 0);
        rig_buf_free(&b);
        ipc_msg *m;
        CHECK(ipc_frame_decoder_next(d, &m) == 1);
        size_t len;
        const uint8_t *p = ipc_msg_payload(m, &len);
        CHECK_EQ(len, 65540);
        CHECK(p[0] == (uint8_t)i && p[len - 1] == (uint8_t)i);
        if (prev)
            CHECK(p == prev); /* the last message's buffer, reused */
        prev = p;
        ipc_msg_free(m);
    }
    ipc__buf_stats st = stats();
    CHECK(st.hits >= 9);
    ipc_frame_decoder_free(d);
    ipc__buf_trim();
}
END_TEST

START_TEST(bufpool_lying_header_gets_the_upfront_bound)
{
    /* A header claiming 128 MiB with 1000 bytes behind it: the decoder holds
     * one payload buffer of at most 512 KiB, and it comes back on failure. */
    ipc__buf_trim();
    ipc_frame_decoder *d;
    CHECK(ipc_frame_decoder_new(&d, NULL) == 0);
    uint8_t h[IPC_MSG_HEADER_SIZE];
    rig_wire_header(h, IPC_FRAME_DEFAULT_MAX_PAYLOAD, IPC_MSG_TYPE(0x41, 1), 1, 0, 0, 0);
    CHECK(ipc_frame_decoder_feed(d, h, sizeof h) == 0);
    uint8_t some[1000];
    memset(some, 1, sizeof some);
    CHECK(ipc_frame_decoder_feed(d, some, sizeof some) == 0);
    uint8_t *buf;
    size_t room;
    CHECK(ipc_frame_decoder_space(d, &buf, &room) == 0);
    CHECK(room + sizeof some <= 512 * KIB);
    ipc__buf_stats st = stats();
    CHECK_EQ(st.misses, 1); /* one buffer so far */
    CHECK(ipc_frame_decoder_finish(d) != 0);
    st = stats();
    CHECK_EQ(st.cached_blocks, 1);
    CHECK(st.cached_bytes <= 512 * KIB);
    ipc_frame_decoder_free(d);
    ipc__buf_trim();
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("bufpool");
    RIG_TCASE(s, "class_sizes", bufpool_class_sizes, 10);
    RIG_TCASE(s, "reuse", bufpool_reuses_a_block, 10);
    RIG_TCASE(s, "cap", bufpool_caps_cached_bytes, 10);
    RIG_TCASE(s, "only_class_blocks", bufpool_keeps_only_class_blocks, 10);
    RIG_TCASE(s, "grow", bufpool_grow_keeps_bytes, 10);
    RIG_TCASE(s, "threads", bufpool_threads_share_it, 60);
    RIG_TCASE(s, "fork", bufpool_usable_after_fork, 30);
    RIG_TCASE(s, "pickle", bufpool_pickle_writer_reuses, 10);
    RIG_TCASE(s, "decoder", bufpool_decoder_payloads_come_back, 10);
    RIG_TCASE(s, "lying_header", bufpool_lying_header_gets_the_upfront_bound, 10);
    return s;
}

int main(int argc, char **argv)
{
    return rig_test_main(argc, argv, suite, NULL);
}
