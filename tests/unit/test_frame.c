/* Unit tests for the frame decoder: one random stream decoded identically in
 * every chunking, the zero-copy path, every hostile-input error with fd counts
 * checked, a cross-process SCM_RIGHTS test over a real socketpair, and a
 * deterministic random-input property test. */
#include "testutil.h"
#include "wire_util.h"

#include "ipc/errors.h"
#include "ipc/frame.h"
#include "ipc/msg.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define T_TYPE IPC_MSG_TYPE(0x41, 1)

/* ck_assert*() records its location with a write() on every pass; the loops
 * here check millions of times, so they use these, free until they fail. */
#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            ck_abort_msg("%s:%d: %s", __FILE__, __LINE__, #c);                                     \
    } while (0)
#define CHECK_OP(a, op, b)                                                                         \
    do {                                                                                           \
        long long a_ = (long long)(a), b_ = (long long)(b);                                        \
        if (!(a_ op b_))                                                                           \
            ck_abort_msg("%s:%d: %s %s %s (%lld vs %lld)", __FILE__, __LINE__, #a, #op, #b, a_,    \
                         b_);                                                                      \
    } while (0)
#define CHECK_EQ(a, b) CHECK_OP(a, ==, b)
#define CHECK_NE(a, b) CHECK_OP(a, !=, b)
#define CHECK_LT(a, b) CHECK_OP(a, <, b)
#define CHECK_LE(a, b) CHECK_OP(a, <=, b)
#define CHECK_GT(a, b) CHECK_OP(a, >, b)
#define CHECK_GE(a, b) CHECK_OP(a, >=, b)

/* ---------------------------------------------------------------- helpers */

static int fd_is_open(int fd)
{
    return fcntl(fd, F_GETFD) >= 0;
}

static int new_fd(void)
{
    int fd = eventfd(0, EFD_CLOEXEC);
    CHECK_GE(fd, 0);
    return fd;
}

static void new_fds(int *fds, size_t n)
{
    for (size_t i = 0; i < n; i++)
        fds[i] = new_fd();
}

static ipc_frame_decoder *dec_new(const ipc_frame_limits *lim)
{
    ipc_frame_decoder *d = NULL;
    CHECK_EQ(ipc_frame_decoder_new(&d, lim), 0);
    ck_assert_ptr_nonnull(d);
    return d;
}

static ipc_frame_limits limits(uint32_t max_payload, uint32_t max_fds)
{
    ipc_frame_limits lim;
    ipc_frame_limits_default(&lim);
    lim.max_payload = max_payload;
    lim.max_fds = max_fds;
    return lim;
}

/* Appends a valid frame whose payload is `len` bytes of `fill`. */
static void put_frame(rig_buf *b, uint32_t type, uint32_t num_fds, size_t len, uint8_t fill)
{
    uint8_t *p = malloc(len ? len : 1);
    memset(p, fill, len);
    rig_wire_frame(b, type, 3, 0, num_fds, 0, p, len);
    free(p);
}

/* Takes the next message, which must exist; checks type and fd count. */
static ipc_msg *take(ipc_frame_decoder *d, uint32_t type, size_t nfds)
{
    ipc_msg *m = NULL;
    CHECK_EQ(ipc_frame_decoder_next(d, &m), 1);
    ck_assert_ptr_nonnull(m);
    CHECK_EQ(ipc_msg_type(m), type);
    CHECK_EQ(ipc_msg_num_fds(m), nfds);
    return m;
}

/* ------------------------------------------ one random stream, every chunking */

typedef struct xmsg {
    uint32_t type, flags, txn, nfds;
    int32_t routing;
    size_t start, end; /* the frame's bytes in the stream */
    size_t fd_first;   /* its first fd in the stream's fd order */
} xmsg;

typedef struct stream {
    rig_buf bytes;
    xmsg *msgs;
    size_t nmsgs;
    size_t *due; /* fd i is pushed before the chunk holding byte due[i] */
    size_t nfds;
} stream;

static void sort_sizes(size_t *a, size_t n)
{
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && a[j - 1] > a[j]; j--) {
            size_t t = a[j];
            a[j] = a[j - 1];
            a[j - 1] = t;
        }
}

static uint32_t random_valid_flags(rig_rng *r, uint32_t *txn)
{
    static const uint32_t kinds[] = {0, IPC_MSG_SYNC, IPC_MSG_WANTS_REPLY, IPC_MSG_REPLY,
                                     IPC_MSG_REPLY | IPC_MSG_REPLY_ERROR};
    uint32_t f = kinds[rig_rng_below(r, 5)] | (uint32_t)rig_rng_below(r, 3);
    *txn = (f & ~(uint32_t)IPC_MSG_PRIORITY_MASK) ? (uint32_t)rig_rng_range(r, 1, UINT32_MAX) : 0;
    return f;
}

/* `n` messages: sizes 0..200 KiB (a quarter large, the rest small; the first
 * empty, the second the largest), fd counts 0..12, one with 300 fds. */
static void make_stream(stream *s, uint64_t seed, size_t n)
{
    rig_rng r;
    rig_rng_seed(&r, seed);
    rig_buf_init(&s->bytes);
    s->msgs = calloc(n, sizeof *s->msgs);
    s->nmsgs = n;
    s->due = NULL;
    s->nfds = 0;
    for (size_t k = 0; k < n; k++) {
        xmsg *x = &s->msgs[k];
        size_t size = rig_rng_below(&r, 4) == 0 ? rig_rng_range(&r, 0, 200 * 1024)
                                                : rig_rng_range(&r, 0, 512);
        if (k == 0)
            size = 0;
        if (k == 1)
            size = 200 * 1024;
        size &= ~(size_t)3;
        x->type = (uint32_t)rig_rng_next(&r);
        x->routing = (int32_t)rig_rng_next(&r);
        x->flags = random_valid_flags(&r, &x->txn);
        x->nfds = rig_rng_below(&r, 3) == 0 ? (uint32_t)rig_rng_range(&r, 1, 12) : 0;
        if (k == n / 2)
            x->nfds = 300;
        x->start = s->bytes.len;
        x->fd_first = s->nfds;
        uint8_t h[IPC_MSG_HEADER_SIZE];
        rig_wire_header(h, (uint32_t)size, x->type, x->routing, x->flags, x->nfds, x->txn);
        rig_buf_put(&s->bytes, h, sizeof h);
        uint8_t *p = malloc(size ? size : 1);
        rig_rng_fill(&r, p, size);
        rig_buf_put(&s->bytes, p, size);
        free(p);
        x->end = s->bytes.len;

        s->due = realloc(s->due, (s->nfds + x->nfds) * sizeof *s->due + 1);
        int all_first = rig_rng_below(&r, 2) == 0; /* all on the first sendmsg */
        for (uint32_t i = 0; i < x->nfds; i++)
            s->due[s->nfds + i] =
                all_first ? x->start : x->start + rig_rng_below(&r, x->end - x->start);
        sort_sizes(s->due + s->nfds, x->nfds);
        s->nfds += x->nfds;
    }
}

static void free_stream(stream *s)
{
    rig_buf_free(&s->bytes);
    free(s->msgs);
    free(s->due);
}

typedef struct run {
    const stream *s;
    ipc_frame_decoder *d;
    int *fds;
    size_t pushed; /* fds handed to the decoder so far */
    size_t got;    /* messages taken and checked */
    rig_rng rng;
} run;

static void run_begin(run *r, const stream *s, uint64_t seed)
{
    r->s = s;
    r->d = dec_new(NULL);
    r->fds = malloc(s->nfds * sizeof *r->fds + 1);
    new_fds(r->fds, s->nfds);
    r->pushed = 0;
    r->got = 0;
    rig_rng_seed(&r->rng, seed);
}

/* Pushes every fd due before byte `end`, in groups of at most 250 as a
 * recvmsg would deliver them. */
static void push_due(run *r, size_t end)
{
    size_t k = r->pushed;
    while (k < r->s->nfds && r->s->due[k] < end)
        k++;
    while (r->pushed < k) {
        size_t n = k - r->pushed;
        if (n > 250)
            n = 250;
        CHECK_EQ(ipc_frame_decoder_push_fds(r->d, r->fds + r->pushed, n), 0);
        r->pushed += n;
    }
}

static void check_msg(const run *r, const xmsg *x, ipc_msg *m)
{
    CHECK_EQ(ipc_msg_type(m), x->type);
    CHECK_EQ(ipc_msg_routing_id(m), x->routing);
    CHECK_EQ(ipc_msg_flags(m), x->flags);
    CHECK_EQ(ipc_msg_txn_id(m), x->txn);
    size_t len;
    const uint8_t *p = ipc_msg_payload(m, &len);
    CHECK_EQ(len, x->end - x->start - IPC_MSG_HEADER_SIZE);
    if (len)
        CHECK(memcmp(p, r->s->bytes.data + x->start + IPC_MSG_HEADER_SIZE, len) == 0);
    CHECK_EQ(ipc_msg_num_fds(m), x->nfds);
    for (uint32_t i = 0; i < x->nfds; i++)
        CHECK_EQ(ipc_msg_fd(m, i), r->fds[x->fd_first + i]);
}

static void drain(run *r)
{
    ipc_msg *m;
    int rc;
    while ((rc = ipc_frame_decoder_next(r->d, &m)) == 1) {
        CHECK_LT(r->got, r->s->nmsgs);
        check_msg(r, &r->s->msgs[r->got++], m);
        ipc_msg_free(m);
    }
    CHECK_EQ(rc, 0);
}

static void run_end(run *r)
{
    drain(r);
    CHECK_EQ(r->got, r->s->nmsgs);
    CHECK_EQ(r->pushed, r->s->nfds);
    CHECK_EQ(ipc_frame_decoder_pending_bytes(r->d), 0);
    CHECK_EQ(ipc_frame_decoder_pending_fds(r->d), 0);
    CHECK_EQ(ipc_frame_decoder_finish(r->d), 0);
    ipc_frame_decoder_free(r->d);
    free(r->fds);
}

/* Feeds the stream with ipc_frame_decoder_feed() in chunks from `chunk`. */
static void feed_chunked(run *r, size_t (*chunk)(rig_rng *))
{
    const rig_buf *b = &r->s->bytes;
    for (size_t pos = 0; pos < b->len;) {
        size_t c = chunk(&r->rng);
        if (c > b->len - pos)
            c = b->len - pos;
        push_due(r, pos + c);
        CHECK_EQ(ipc_frame_decoder_feed(r->d, b->data + pos, c), 0);
        drain(r);
        pos += c;
    }
}

static size_t chunk_one(rig_rng *r)
{
    (void)r;
    return 1;
}

static size_t chunk_random(rig_rng *r)
{
    switch (rig_rng_below(r, 10)) {
    case 0:
    case 1:
    case 2:
    case 3:
        return rig_rng_range(r, 1, 64);
    case 4:
    case 5:
    case 6:
        return rig_rng_range(r, 65, 4096);
    case 7:
    case 8:
        return rig_rng_range(r, 4097, 70000);
    default:
        return rig_rng_range(r, 70001, 400000);
    }
}

static stream the_stream;
static void stream_setup(void)
{
    make_stream(&the_stream, 0x5eed0001u, 40);
}
static void stream_teardown(void)
{
    free_stream(&the_stream);
}

START_TEST(frame_stream_byte_by_byte)
{
    rig_fd_mark();
    run r;
    run_begin(&r, &the_stream, 1);
    feed_chunked(&r, chunk_one);
    run_end(&r);
    rig_assert_no_leaks();
}
END_TEST

START_TEST(frame_stream_random_chunks)
{
    rig_fd_mark();
    for (uint64_t seed = 1; seed <= 4; seed++) {
        run r;
        run_begin(&r, &the_stream, seed);
        feed_chunked(&r, chunk_random);
        run_end(&r);
    }
    rig_assert_no_leaks();
}
END_TEST

START_TEST(frame_stream_space_commit_short)
{
    /* space()/commit() as a channel uses them, committing less than offered
     * (sometimes nothing), which also takes the zero-copy path. */
    rig_fd_mark();
    for (uint64_t seed = 1; seed <= 3; seed++) {
        run r;
        run_begin(&r, &the_stream, seed);
        const rig_buf *b = &r.s->bytes;
        size_t zero_copy_bytes = 0;
        uintptr_t stage = 0, stage_len = 0; /* the first offer is the whole staging area */
        for (size_t pos = 0; pos < b->len;) {
            uint8_t *buf;
            size_t room;
            CHECK_EQ(ipc_frame_decoder_space(r.d, &buf, &room), 0);
            CHECK_GT(room, 0);
            if (!stage) {
                stage = (uintptr_t)buf;
                stage_len = room;
            }
            int zc = (uintptr_t)buf < stage || (uintptr_t)buf >= stage + stage_len;
            size_t max = room < b->len - pos ? room : b->len - pos;
            size_t c;
            switch (rig_rng_below(&r.rng, 8)) {
            case 0:
                c = 0;
                break;
            case 1:
            case 2:
            case 3:
                c = rig_rng_range(&r.rng, 1, max < 16 ? max : 16);
                break;
            case 4:
            case 5:
                c = rig_rng_range(&r.rng, 1, max);
                break;
            default:
                c = max;
                break;
            }
            push_due(&r, pos + c);
            /* Poison what is offered but not committed: it must be ignored. */
            memset(buf, 0xa5, room);
            memcpy(buf, b->data + pos, c);
            CHECK_EQ(ipc_frame_decoder_commit(r.d, c), 0);
            if (zc)
                zero_copy_bytes += c;
            drain(&r);
            pos += c;
        }
        CHECK_GT(zero_copy_bytes, 0);
        run_end(&r);
    }
    rig_assert_no_leaks();
}
END_TEST

/* ----------------------------------------------------------- zero copy */

START_TEST(frame_zero_copy_large_payload)
{
    const size_t size = 1024 * 1024;
    uint8_t *payload = malloc(size);
    rig_rng r;
    rig_rng_seed(&r, 7);
    rig_rng_fill(&r, payload, size);
    ipc_frame_decoder *d = dec_new(NULL);
    uint8_t h[IPC_MSG_HEADER_SIZE];
    rig_wire_header(h, (uint32_t)size, T_TYPE, 1, 0, 0, 0);
    CHECK_EQ(ipc_frame_decoder_feed(d, h, sizeof h), 0);

    uint8_t *last_buf = NULL;
    size_t last_off = 0, got = 0, calls = 0;
    while (got < size) {
        uint8_t *buf;
        size_t room;
        CHECK_EQ(ipc_frame_decoder_space(d, &buf, &room), 0);
        /* Never past this frame's payload: a recvmsg into it cannot swallow
         * the next frame's bytes. */
        CHECK_LE(room, size - got);
        CHECK_GT(room, 0);
        if (calls == 0)
            CHECK_LT(room, size); /* memory follows the bytes received */
        memcpy(buf, payload + got, room);
        last_buf = buf;
        last_off = got;
        CHECK_EQ(ipc_frame_decoder_commit(d, room), 0);
        got += room;
        calls++;
    }
    /* Buffers grow geometrically: a handful of reads, not one per 4 KiB. */
    CHECK_LE(calls, 12);
    CHECK_GE(calls, 2);
    /* A small frame after it goes through the staging area as usual. */
    rig_buf tail;
    rig_buf_init(&tail);
    put_frame(&tail, T_TYPE + 1, 0, 8, 0x33);
    CHECK_EQ(ipc_frame_decoder_feed(d, tail.data, tail.len), 0);

    ipc_msg *m = take(d, T_TYPE, 0);
    size_t len;
    const uint8_t *p = ipc_msg_payload(m, &len);
    CHECK_EQ(len, size);
    /* The last read went straight into the message's payload buffer. */
    ck_assert_ptr_eq(p + last_off, last_buf);
    CHECK(memcmp(p, payload, size) == 0);
    ipc_msg_free(m);
    m = take(d, T_TYPE + 1, 0);
    ipc_msg_free(m);
    CHECK_EQ(ipc_frame_decoder_finish(d), 0);
    ipc_frame_decoder_free(d);
    rig_buf_free(&tail);
    free(payload);
}
END_TEST

/* ------------------------------------------------------------ hostile input */

START_TEST(frame_zero_copy_short_reads_keep_the_buffer)
{
    /* While the payload buffer has room, a short read must not move it: the
     * next offer is the rest of the same buffer (growing on every call would
     * copy the whole payload once per read). */
    const size_t size = 300 * 1024;
    ipc_frame_decoder *d = dec_new(NULL);
    uint8_t h[IPC_MSG_HEADER_SIZE];
    rig_wire_header(h, (uint32_t)size, T_TYPE, 1, 0, 0, 0);
    CHECK_EQ(ipc_frame_decoder_feed(d, h, sizeof h), 0);
    uint8_t *prev = NULL;
    size_t prev_room = 0, moves = 0;
    /* The last few KiB go through the staging area (too short to bother). */
    for (size_t got = 0; got < size; got += 1) {
        uint8_t *buf;
        size_t room;
        CHECK_EQ(ipc_frame_decoder_space(d, &buf, &room), 0);
        if (size - got < 4096) {
            prev = NULL;
        } else if (prev_room > 1) {
            CHECK(buf == prev + 1);
            CHECK_EQ(room, prev_room - 1);
        } else if (prev) {
            moves++; /* the buffer was full: it may grow (and move) now */
        }
        *buf = (uint8_t)got;
        CHECK_EQ(ipc_frame_decoder_commit(d, 1), 0);
        prev = buf;
        prev_room = room;
    }
    CHECK_LE(moves, 8);
    ipc_msg *m = take(d, T_TYPE, 0);
    size_t len;
    const uint8_t *p = ipc_msg_payload(m, &len);
    CHECK_EQ(len, size);
    for (size_t i = 0; i < size; i++)
        CHECK_EQ(p[i], (uint8_t)i);
    ipc_msg_free(m);
    ipc_frame_decoder_free(d);
}
END_TEST

START_TEST(frame_payload_over_limit)
{
    rig_fd_mark();
    ipc_frame_limits lim = limits(1024, 8);
    /* At the limit: accepted. */
    ipc_frame_decoder *d = dec_new(&lim);
    rig_buf b;
    rig_buf_init(&b);
    put_frame(&b, T_TYPE, 0, 1024, 1);
    CHECK_EQ(ipc_frame_decoder_feed(d, b.data, b.len), 0);
    ipc_msg_free(take(d, T_TYPE, 0));
    /* Four over: BAD_SIZE at the header, before any payload arrives. */
    int fds[2];
    new_fds(fds, 2);
    CHECK_EQ(ipc_frame_decoder_push_fds(d, fds, 2), 0);
    uint8_t h[IPC_MSG_HEADER_SIZE];
    rig_wire_header(h, 1028, T_TYPE + 5, 0, 0, 2, 0);
    CHECK_EQ(ipc_frame_decoder_feed(d, h, sizeof h), IPC_E_BAD_SIZE);
    CHECK_EQ(ipc_frame_decoder_error(d), IPC_E_BAD_SIZE);
    CHECK_EQ(ipc_frame_decoder_error_type(d), T_TYPE + 5);
    CHECK(!fd_is_open(fds[0]) && !fd_is_open(fds[1])); /* queued fds closed */
    CHECK_EQ(ipc_frame_decoder_pending_fds(d), 0);
    ipc_frame_decoder_free(d);

    /* The default limit: 128 MiB + 4 and the largest aligned u32. */
    const uint32_t over[] = {IPC_FRAME_DEFAULT_MAX_PAYLOAD + 4, 0xfffffffcu};
    for (size_t i = 0; i < 2; i++) {
        d = dec_new(NULL);
        rig_wire_header(h, over[i], T_TYPE, 0, 0, 0, 0);
        CHECK_EQ(ipc_frame_decoder_feed(d, h, sizeof h), IPC_E_BAD_SIZE);
        CHECK_EQ(ipc_frame_decoder_error_type(d), T_TYPE);
        ipc_frame_decoder_free(d);
    }
    rig_buf_free(&b);
    rig_assert_no_leaks();
}
END_TEST

START_TEST(frame_lying_size_allocates_nothing_up_front)
{
    /* A 24-byte header claiming 128 MiB (exactly the limit, so accepted) must
     * not make the decoder allocate 128 MiB: memory follows the bytes. */
    ipc_frame_decoder *d = dec_new(NULL);
    long vm_before = rig_vm_size_kib();
    CHECK_GT(vm_before, 0);
    uint8_t h[IPC_MSG_HEADER_SIZE];
    rig_wire_header(h, IPC_FRAME_DEFAULT_MAX_PAYLOAD, T_TYPE, 0, 0, 0, 0);
    CHECK_EQ(ipc_frame_decoder_feed(d, h, sizeof h), 0);
    uint8_t some[1000];
    memset(some, 7, sizeof some);
    CHECK_EQ(ipc_frame_decoder_feed(d, some, sizeof some), 0);
    uint8_t *buf;
    size_t room;
    CHECK_EQ(ipc_frame_decoder_space(d, &buf, &room), 0);
    CHECK_LT(room, 1024 * 1024);
    long vm_after = rig_vm_size_kib();
    ck_assert_msg(vm_after - vm_before < 16 * 1024, "VmSize grew by %ld KiB for a lying header",
                  vm_after - vm_before);
    CHECK_EQ(ipc_frame_decoder_pending_bytes(d), IPC_MSG_HEADER_SIZE + sizeof some);
    CHECK_EQ(ipc_frame_decoder_finish(d), IPC_E_TRUNCATED);
    CHECK_EQ(ipc_frame_decoder_error_type(d), T_TYPE);
    ipc_frame_decoder_free(d);
}
END_TEST

START_TEST(frame_num_fds_over_limit)
{
    rig_fd_mark();
    ipc_frame_limits lim = limits(1024, 4);
    ipc_frame_decoder *d = dec_new(&lim);
    int fds[5];
    new_fds(fds, 4);
    CHECK_EQ(ipc_frame_decoder_push_fds(d, fds, 4), 0);
    rig_buf b;
    rig_buf_init(&b);
    put_frame(&b, T_TYPE, 4, 4, 0); /* at the limit: fine */
    CHECK_EQ(ipc_frame_decoder_feed(d, b.data, b.len), 0);
    ipc_msg *m = take(d, T_TYPE, 4);
    ipc_msg_free(m);
    new_fds(fds, 5);
    CHECK_EQ(ipc_frame_decoder_push_fds(d, fds, 5), 0);
    b.len = 0;
    put_frame(&b, T_TYPE + 9, 5, 4, 0);
    CHECK_EQ(ipc_frame_decoder_feed(d, b.data, b.len), IPC_E_TOO_MANY_FDS);
    CHECK_EQ(ipc_frame_decoder_error_type(d), T_TYPE + 9);
    for (int i = 0; i < 5; i++)
        CHECK(!fd_is_open(fds[i]));
    ipc_frame_decoder_free(d);

    /* Default limit: IPC_MSG_MAX_FDS + 1 and a huge count. */
    const uint32_t counts[] = {IPC_MSG_MAX_FDS + 1, 0xffffffffu};
    for (size_t i = 0; i < 2; i++) {
        d = dec_new(NULL);
        uint8_t h[IPC_MSG_HEADER_SIZE];
        rig_wire_header(h, 0, T_TYPE, 0, 0, counts[i], 0);
        CHECK_EQ(ipc_frame_decoder_feed(d, h, sizeof h), IPC_E_TOO_MANY_FDS);
        ipc_frame_decoder_free(d);
    }
    rig_buf_free(&b);
    rig_assert_no_leaks();
}
END_TEST

START_TEST(frame_misaligned_size)
{
    for (uint32_t size = 1; size < 8; size++) {
        if (size == 4)
            continue;
        ipc_frame_decoder *d = dec_new(NULL);
        uint8_t h[IPC_MSG_HEADER_SIZE];
        rig_wire_header(h, size, T_TYPE, 0, 0, 0, 0);
        CHECK_EQ(ipc_frame_decoder_feed(d, h, sizeof h), IPC_E_BAD_SIZE);
        CHECK_EQ(ipc_frame_decoder_error_type(d), T_TYPE);
        ipc_frame_decoder_free(d);
    }
}
END_TEST

START_TEST(frame_bad_flags)
{
    const struct {
        uint32_t flags, txn;
    } bad[] = {
        {0x40, 0},
        {0x80000000u, 0},
        {3, 0},
        {IPC_MSG_REPLY_ERROR, 1},
        {IPC_MSG_SYNC | IPC_MSG_WANTS_REPLY, 1},
        {IPC_MSG_REPLY | IPC_MSG_WANTS_REPLY, 1},
        {IPC_MSG_SYNC | IPC_MSG_REPLY, 1},
        {IPC_MSG_SYNC, 0},
        {0, 5},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        rig_fd_mark();
        ipc_frame_decoder *d = dec_new(NULL);
        int fd = new_fd();
        CHECK_EQ(ipc_frame_decoder_push_fds(d, &fd, 1), 0);
        uint8_t h[IPC_MSG_HEADER_SIZE];
        rig_wire_header(h, 4, T_TYPE + (uint32_t)i, 0, bad[i].flags, 1, bad[i].txn);
        CHECK_EQ(ipc_frame_decoder_feed(d, h, sizeof h), IPC_E_BAD_FLAGS);
        CHECK_EQ(ipc_frame_decoder_error_type(d), T_TYPE + (uint32_t)i);
        CHECK(!fd_is_open(fd));
        ipc_frame_decoder_free(d);
        rig_assert_no_leaks();
    }
}
END_TEST

static int odd_types_unknown(uint32_t type, void *ctx)
{
    ++*(int *)ctx;
    return (type & 1) == 0;
}

START_TEST(frame_unknown_type)
{
    rig_fd_mark();
    int calls = 0;
    ipc_frame_limits lim;
    ipc_frame_limits_default(&lim);
    lim.type_known = odd_types_unknown;
    lim.type_ctx = &calls;
    ipc_frame_decoder *d = dec_new(&lim);
    int fds[3];
    new_fds(fds, 3);
    CHECK_EQ(ipc_frame_decoder_push_fds(d, fds, 3), 0);
    rig_buf b;
    rig_buf_init(&b);
    put_frame(&b, 0x100, 1, 8, 0);
    put_frame(&b, 0x101, 2, 8, 0);
    put_frame(&b, 0x102, 0, 8, 0);
    CHECK_EQ(ipc_frame_decoder_feed(d, b.data, b.len), IPC_E_UNKNOWN_TYPE);
    CHECK_EQ(calls, 2); /* asked once per header, never after the error */
    CHECK_EQ(ipc_frame_decoder_error_type(d), 0x101);
    CHECK(!fd_is_open(fds[1]) && !fd_is_open(fds[2]));
    ipc_msg *m = take(d, 0x100, 1); /* the known one before it is delivered */
    CHECK_EQ(ipc_msg_fd(m, 0), fds[0]);
    ipc_msg_free(m);
    CHECK_EQ(ipc_frame_decoder_next(d, &m), IPC_E_UNKNOWN_TYPE);
    ck_assert_ptr_null(m);
    ipc_frame_decoder_free(d);
    rig_buf_free(&b);
    rig_assert_no_leaks();
}
END_TEST

START_TEST(frame_fewer_fds_than_declared)
{
    rig_fd_mark();
    ipc_frame_decoder *d = dec_new(NULL);
    int fds[2];
    new_fds(fds, 2);
    CHECK_EQ(ipc_frame_decoder_push_fds(d, fds, 2), 0);
    rig_buf b;
    rig_buf_init(&b);
    put_frame(&b, T_TYPE + 3, 3, 16, 0);
    /* The fds are counted when the last byte arrives, not at the header. */
    CHECK_EQ(ipc_frame_decoder_feed(d, b.data, b.len - 1), 0);
    CHECK_EQ(ipc_frame_decoder_feed(d, b.data + b.len - 1, 1), IPC_E_FD_COUNT);
    CHECK_EQ(ipc_frame_decoder_error_type(d), T_TYPE + 3);
    CHECK(!fd_is_open(fds[0]) && !fd_is_open(fds[1]));
    ipc_frame_decoder_free(d);

    /* Same for a frame with no payload: the header is its last byte. */
    d = dec_new(NULL);
    b.len = 0;
    put_frame(&b, T_TYPE, 1, 0, 0);
    CHECK_EQ(ipc_frame_decoder_feed(d, b.data, b.len), IPC_E_FD_COUNT);
    ipc_frame_decoder_free(d);
    rig_buf_free(&b);
    rig_assert_no_leaks();
}
END_TEST

START_TEST(frame_extra_fds_at_finish)
{
    rig_fd_mark();
    ipc_frame_decoder *d = dec_new(NULL);
    int fds[3];
    new_fds(fds, 3);
    CHECK_EQ(ipc_frame_decoder_push_fds(d, fds, 3), 0);
    rig_buf b;
    rig_buf_init(&b);
    put_frame(&b, T_TYPE, 2, 4, 0);
    CHECK_EQ(ipc_frame_decoder_feed(d, b.data, b.len), 0);
    CHECK_EQ(ipc_frame_decoder_pending_fds(d), 1);
    CHECK_EQ(ipc_frame_decoder_finish(d), IPC_E_FD_COUNT);
    CHECK(!fd_is_open(fds[2])); /* the spare fd is closed at once */
    CHECK_EQ(ipc_frame_decoder_pending_fds(d), 0);
    CHECK_EQ(ipc_frame_decoder_error_type(d), 0);
    ipc_msg *m = take(d, T_TYPE, 2); /* still delivered */
    CHECK_EQ(ipc_msg_fd(m, 1), fds[1]);
    ipc_msg_free(m);
    ipc_frame_decoder_free(d);

    /* Only fds, no bytes at all. */
    d = dec_new(NULL);
    new_fds(fds, 1);
    CHECK_EQ(ipc_frame_decoder_push_fds(d, fds, 1), 0);
    CHECK_EQ(ipc_frame_decoder_finish(d), IPC_E_FD_COUNT);
    CHECK(!fd_is_open(fds[0]));
    ipc_frame_decoder_free(d);
    rig_buf_free(&b);
    rig_assert_no_leaks();
}
END_TEST

START_TEST(frame_too_many_fds_pushed)
{
    rig_fd_mark();
    ipc_frame_limits lim = limits(1024, 4);
    ipc_frame_decoder *d = dec_new(&lim);
    int fds[8];
    new_fds(fds, 8);
    /* Two frames' worth (2 x max_fds) may wait... */
    CHECK_EQ(ipc_frame_decoder_push_fds(d, fds, 5), 0);
    CHECK_EQ(ipc_frame_decoder_push_fds(d, fds + 5, 3), 0);
    CHECK_EQ(ipc_frame_decoder_pending_fds(d), 8);
    /* ...one more is too many: that fd and every queued one is closed. */
    int more = new_fd();
    CHECK_EQ(ipc_frame_decoder_push_fds(d, &more, 1), IPC_E_TOO_MANY_FDS);
    CHECK(!fd_is_open(more));
    for (int i = 0; i < 8; i++)
        CHECK(!fd_is_open(fds[i]));
    CHECK_EQ(ipc_frame_decoder_error_type(d), 0);
    ipc_frame_decoder_free(d);

    /* One push over the bound, mid-frame: names the frame being read. */
    d = dec_new(&lim);
    uint8_t h[IPC_MSG_HEADER_SIZE];
    rig_wire_header(h, 8, T_TYPE + 1, 0, 0, 0, 0);
    CHECK_EQ(ipc_frame_decoder_feed(d, h, sizeof h), 0);
    int nine[9];
    new_fds(nine, 9);
    CHECK_EQ(ipc_frame_decoder_push_fds(d, nine, 9), IPC_E_TOO_MANY_FDS);
    for (int i = 0; i < 9; i++)
        CHECK(!fd_is_open(nine[i]));
    CHECK_EQ(ipc_frame_decoder_error_type(d), T_TYPE + 1);
    ipc_frame_decoder_free(d);

    /* max_fds 0: a single fd is too many. */
    lim = limits(1024, 0);
    d = dec_new(&lim);
    more = new_fd();
    CHECK_EQ(ipc_frame_decoder_push_fds(d, &more, 1), IPC_E_TOO_MANY_FDS);
    CHECK(!fd_is_open(more));
    ipc_frame_decoder_free(d);
    rig_assert_no_leaks();
}
END_TEST

START_TEST(frame_negative_fd_pushed)
{
    rig_fd_mark();
    ipc_frame_decoder *d = dec_new(NULL);
    int fds[3] = {new_fd(), -1, new_fd()};
    CHECK_EQ(ipc_frame_decoder_push_fds(d, fds, 3), -EBADF);
    CHECK(!fd_is_open(fds[0]) && !fd_is_open(fds[2]));
    CHECK_EQ(ipc_frame_decoder_error(d), -EBADF);
    ipc_frame_decoder_free(d);
    rig_assert_no_leaks();
}
END_TEST

START_TEST(frame_truncated_at_finish)
{
    rig_buf b;
    rig_buf_init(&b);
    put_frame(&b, T_TYPE + 4, 0, 64, 9);
    /* Every cut inside the frame: mid-header names no type, mid-payload
     * names the frame's. */
    for (size_t cut = 1; cut < b.len; cut++) {
        ipc_frame_decoder *d = dec_new(NULL);
        CHECK_EQ(ipc_frame_decoder_feed(d, b.data, cut), 0);
        CHECK_EQ(ipc_frame_decoder_pending_bytes(d), cut);
        CHECK_EQ(ipc_frame_decoder_finish(d), IPC_E_TRUNCATED);
        CHECK_EQ(ipc_frame_decoder_error_type(d), cut < IPC_MSG_HEADER_SIZE ? 0 : T_TYPE + 4);
        CHECK_EQ(ipc_frame_decoder_finish(d), IPC_E_TRUNCATED);
        ipc_frame_decoder_free(d);
    }
    /* Nothing at all, or whole frames only: a clean end. */
    ipc_frame_decoder *d = dec_new(NULL);
    CHECK_EQ(ipc_frame_decoder_finish(d), 0);
    CHECK_EQ(ipc_frame_decoder_feed(d, b.data, b.len), 0);
    CHECK_EQ(ipc_frame_decoder_finish(d), 0);
    ipc_msg_free(take(d, T_TYPE + 4, 0));
    ipc_frame_decoder_free(d);
    rig_buf_free(&b);
}
END_TEST

START_TEST(frame_messages_before_error_are_delivered)
{
    rig_fd_mark();
    ipc_frame_decoder *d = dec_new(NULL);
    int fds[4];
    new_fds(fds, 4);
    CHECK_EQ(ipc_frame_decoder_push_fds(d, fds, 4), 0);
    rig_buf b;
    rig_buf_init(&b);
    put_frame(&b, 1, 1, 0, 0);
    put_frame(&b, 2, 0, 8000, 2);
    put_frame(&b, 3, 2, 4, 3);
    uint8_t h[IPC_MSG_HEADER_SIZE];
    rig_wire_header(h, 4, 4, 0, 0x100, 1, 0); /* bad flags */
    rig_buf_put(&b, h, sizeof h);
    put_frame(&b, 5, 0, 4, 5); /* after the error: never delivered */
    CHECK_EQ(ipc_frame_decoder_feed(d, b.data, b.len), IPC_E_BAD_FLAGS);
    CHECK(!fd_is_open(fds[3])); /* the failing frame's fd */
    ipc_msg *m = take(d, 1, 1);
    CHECK_EQ(ipc_msg_fd(m, 0), fds[0]);
    ipc_msg_free(m);
    m = take(d, 2, 0);
    size_t len;
    const uint8_t *p = ipc_msg_payload(m, &len);
    CHECK_EQ(len, 8000);
    CHECK_EQ(p[7999], 2);
    ipc_msg_free(m);
    m = take(d, 3, 2);
    CHECK_EQ(ipc_msg_fd(m, 1), fds[2]);
    ipc_msg_free(m);
    CHECK_EQ(ipc_frame_decoder_next(d, &m), IPC_E_BAD_FLAGS);
    CHECK_EQ(ipc_frame_decoder_next(d, &m), IPC_E_BAD_FLAGS);
    CHECK_EQ(ipc_frame_decoder_error_type(d), 4);

    /* Undelivered messages are freed with the decoder, fds and all. */
    ipc_frame_decoder_free(d);
    d = dec_new(NULL);
    new_fds(fds, 3);
    CHECK_EQ(ipc_frame_decoder_push_fds(d, fds, 3), 0);
    b.len = 0;
    put_frame(&b, 1, 1, 4, 0);
    put_frame(&b, 2, 1, 100000, 0);
    CHECK_EQ(ipc_frame_decoder_feed(d, b.data, b.len - 50000), 0);
    ipc_frame_decoder_free(d); /* one message ready, one half-read, one fd spare */
    for (int i = 0; i < 3; i++)
        CHECK(!fd_is_open(fds[i]));
    ipc_frame_decoder_free(NULL);
    rig_buf_free(&b);
    rig_assert_no_leaks();
}
END_TEST

START_TEST(frame_errors_are_sticky)
{
    rig_fd_mark();
    ipc_frame_decoder *d = dec_new(NULL);
    uint8_t h[IPC_MSG_HEADER_SIZE];
    rig_wire_header(h, 6, T_TYPE, 0, 0, 0, 0);
    CHECK_EQ(ipc_frame_decoder_feed(d, h, sizeof h), IPC_E_BAD_SIZE);
    /* Every entry point now answers with the first error... */
    rig_buf b;
    rig_buf_init(&b);
    put_frame(&b, 9, 0, 4, 0);
    CHECK_EQ(ipc_frame_decoder_feed(d, b.data, b.len), IPC_E_BAD_SIZE);
    int fd = new_fd();
    CHECK_EQ(ipc_frame_decoder_push_fds(d, &fd, 1), IPC_E_BAD_SIZE);
    CHECK(!fd_is_open(fd)); /* ...and still takes ownership of fds */
    uint8_t *buf;
    size_t room;
    CHECK_EQ(ipc_frame_decoder_space(d, &buf, &room), IPC_E_BAD_SIZE);
    CHECK_EQ(ipc_frame_decoder_commit(d, 0), IPC_E_BAD_SIZE);
    CHECK_EQ(ipc_frame_decoder_finish(d), IPC_E_BAD_SIZE);
    ipc_msg *m = (ipc_msg *)(uintptr_t)1; /* a non-NULL sentinel: next() must clear it */
    CHECK_EQ(ipc_frame_decoder_next(d, &m), IPC_E_BAD_SIZE);
    ck_assert_ptr_null(m);
    CHECK_EQ(ipc_frame_decoder_error(d), IPC_E_BAD_SIZE);
    CHECK_EQ(ipc_frame_decoder_error_type(d), T_TYPE);
    CHECK_EQ(ipc_frame_decoder_pending_bytes(d), 0);
    ipc_frame_decoder_free(d);
    rig_buf_free(&b);
    rig_assert_no_leaks();
}
END_TEST

START_TEST(frame_commit_misuse)
{
    uint8_t *buf;
    size_t room;
    /* More than offered. */
    ipc_frame_decoder *d = dec_new(NULL);
    CHECK_EQ(ipc_frame_decoder_space(d, &buf, &room), 0);
    CHECK_EQ(ipc_frame_decoder_commit(d, room + 1), -EINVAL);
    CHECK_EQ(ipc_frame_decoder_error(d), -EINVAL);
    ipc_frame_decoder_free(d);
    /* Without space(). */
    d = dec_new(NULL);
    CHECK_EQ(ipc_frame_decoder_commit(d, 0), 0);
    CHECK_EQ(ipc_frame_decoder_commit(d, 1), -EINVAL);
    ipc_frame_decoder_free(d);
    /* Twice for one space(): the staged bytes may have moved in between. */
    d = dec_new(NULL);
    rig_buf b;
    rig_buf_init(&b);
    put_frame(&b, T_TYPE, 0, 4, 1);
    CHECK_EQ(ipc_frame_decoder_space(d, &buf, &room), 0);
    memcpy(buf, b.data, b.len);
    CHECK_EQ(ipc_frame_decoder_commit(d, b.len), 0);
    CHECK_EQ(ipc_frame_decoder_commit(d, 1), -EINVAL);
    ipc_msg_free(take(d, T_TYPE, 0)); /* the good frame is still delivered */
    ipc_frame_decoder_free(d);
    /* In zero-copy mode too. */
    d = dec_new(NULL);
    uint8_t h[IPC_MSG_HEADER_SIZE];
    rig_wire_header(h, 100000, T_TYPE, 0, 0, 0, 0);
    CHECK_EQ(ipc_frame_decoder_feed(d, h, sizeof h), 0);
    CHECK_EQ(ipc_frame_decoder_space(d, &buf, &room), 0);
    CHECK_EQ(ipc_frame_decoder_commit(d, 10), 0);
    CHECK_EQ(ipc_frame_decoder_commit(d, 10), -EINVAL);
    ipc_frame_decoder_free(d);
    rig_buf_free(&b);
}
END_TEST

START_TEST(frame_decoder_new_checks_limits)
{
    ipc_frame_decoder *d = (ipc_frame_decoder *)1;
    ipc_frame_limits lim = limits(1024, IPC_MSG_MAX_FDS + 1);
    CHECK_EQ(ipc_frame_decoder_new(&d, &lim), -EINVAL);
    ck_assert_ptr_null(d);
    lim = limits(0x7ffffff4u, 4);
    CHECK_EQ(ipc_frame_decoder_new(&d, &lim), -EINVAL);
    ipc_frame_limits_default(&lim);
    CHECK_EQ(lim.max_payload, 128u * 1024 * 1024);
    CHECK_EQ(lim.max_fds, IPC_MSG_MAX_FDS);
    ck_assert_ptr_null(lim.type_known);
    CHECK_EQ(ipc_frame_decoder_new(&d, &lim), 0);
    ipc_frame_decoder_free(d);
    /* max_payload 0: only empty frames. */
    lim = limits(0, 4);
    d = dec_new(&lim);
    rig_buf b;
    rig_buf_init(&b);
    put_frame(&b, 1, 0, 0, 0);
    put_frame(&b, 2, 0, 4, 0);
    CHECK_EQ(ipc_frame_decoder_feed(d, b.data, b.len), IPC_E_BAD_SIZE);
    ipc_msg_free(take(d, 1, 0));
    ipc_frame_decoder_free(d);
    rig_buf_free(&b);
}
END_TEST

/* --------------------------------------------------- cross-process, SCM_RIGHTS */

/* The plan both processes follow: message k carries xp_plan[k].nfds pipes,
 * pipe i of message k holding the id xp_id(k, i). */
#define XP_NMSG 9
static const struct {
    uint32_t nfds;
    uint32_t filler; /* bytes of a trailing bytes field */
    int bare;        /* no payload at all: fds attached, no params */
} xp_plan[XP_NMSG] = {
    {3, 40, 0},         /* 0: plain */
    {0, 1024, 0},       /* 1: no fds */
    {500, 0, 0},        /* 2: 500 fds over three sendmsg calls */
    {2, 64, 0},         /* 3: its tail travels with 4's head and 4's fds */
    {4, 100, 0},        /* 4 */
    {5, 300 * 1024, 0}, /* 5: large: zero-copy on the receiver */
    {250, 16, 0},       /* 6: exactly one sendmsg's worth */
    {2, 0, 1},          /* 7: header only, split in two, one fd each */
    {1, 8, 0},          /* 8 */
};
#define XP_TYPE(k) IPC_MSG_TYPE(0x77, (k) + 1)

static uint32_t xp_id(uint32_t k, uint32_t i)
{
    return 0x10000u * (k + 1) + i;
}

static uint8_t xp_fill(uint32_t k, size_t j)
{
    return (uint8_t)(j * 7 + k);
}

static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* Builds message k with fresh pipes; its bytes go to `out`. */
static ipc_msg *xp_build(uint32_t k, rig_buf *out)
{
    ipc_msg *m = ipc_msg_new(IPC_ROUTING_CONTROL, XP_TYPE(k), 0);
    if (!m)
        return NULL;
    ipc_pickle *w = ipc_msg_writer(m);
    if (!xp_plan[k].bare)
        ipc_pickle_write_u32(w, k);
    for (uint32_t i = 0; i < xp_plan[k].nfds; i++) {
        int fd = rig_pipe_with_id(xp_id(k, i));
        if (fd < 0)
            goto fail;
        if (xp_plan[k].bare) {
            if (ipc_msg_add_fd(m, fd) < 0)
                goto fail;
            continue;
        }
        ipc_msg_write_fd(m, fd);
        ipc_pickle_write_u32(w, xp_id(k, i));
    }
    if (!xp_plan[k].bare) {
        uint8_t *f = malloc(xp_plan[k].filler + 1);
        for (size_t j = 0; j < xp_plan[k].filler; j++)
            f[j] = xp_fill(k, j);
        ipc_pickle_write_bytes(w, f, xp_plan[k].filler);
        free(f);
    }
    if (ipc_pickle_error(w))
        goto fail;
    rig_buf_init(out);
    rig_wire_msg(out, m);
    return m;
fail:
    ipc_msg_free(m);
    return NULL;
}

static int xp_fds(const ipc_msg *m, int *fds)
{
    size_t n = ipc_msg_num_fds(m);
    for (size_t i = 0; i < n; i++)
        fds[i] = ipc_msg_fd(m, i);
    return (int)n;
}

/* The sender: fd 3 is its end of the socketpair. */
static int xp_sender_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    raise_nofile();
    const int sock = 3;
    ipc_msg *m[XP_NMSG];
    rig_buf b[XP_NMSG];
    static int fds[XP_NMSG][500];
    for (uint32_t k = 0; k < XP_NMSG; k++) {
        m[k] = xp_build(k, &b[k]);
        if (!m[k])
            return 10;
        xp_fds(m[k], fds[k]);
    }
    int rc = 0;
#define SEND(buf, len, f, n)                                                                       \
    do {                                                                                           \
        if (rc == 0)                                                                               \
            rc = rig_send_with_fds(sock, buf, len, f, n);                                          \
    } while (0)
    SEND(b[0].data, b[0].len, fds[0], 3);
    SEND(b[1].data, b[1].len, NULL, 0);
    /* 500 fds: 250 + 200 + 50 on three sendmsg calls, then bytes alone. */
    SEND(b[2].data, 700, fds[2], 250);
    SEND(b[2].data + 700, 700, fds[2] + 250, 200);
    SEND(b[2].data + 1400, 100, fds[2] + 450, 50);
    SEND(b[2].data + 1500, b[2].len - 1500, NULL, 0);
    /* 3's head with 3's fds; then 3's tail and 4's head in one sendmsg that
     * carries 4's fds; then 4's tail. */
    SEND(b[3].data, 30, fds[3], 2);
    rig_buf glued;
    rig_buf_init(&glued);
    rig_buf_put(&glued, b[3].data + 30, b[3].len - 30);
    rig_buf_put(&glued, b[4].data, 10);
    SEND(glued.data, glued.len, fds[4], 4);
    rig_buf_free(&glued);
    SEND(b[4].data + 10, b[4].len - 10, NULL, 0);
    SEND(b[5].data, b[5].len, fds[5], 5);
    SEND(b[6].data, b[6].len, fds[6], 250);
    SEND(b[7].data, 12, fds[7], 1);
    SEND(b[7].data + 12, 12, fds[7] + 1, 1);
    SEND(b[8].data, b[8].len, fds[8], 1);
#undef SEND
    for (uint32_t k = 0; k < XP_NMSG; k++) {
        ipc_msg_free(m[k]); /* the kernel holds its own references in flight */
        rig_buf_free(&b[k]);
    }
    close(sock);
    return rc == 0 ? 0 : 20;
}

/* Every fd must be a distinct, working pipe holding exactly its id. */
static void xp_check(ipc_msg *m, uint32_t k)
{
    CHECK_EQ(ipc_msg_type(m), XP_TYPE(k));
    CHECK_EQ(ipc_msg_num_fds(m), xp_plan[k].nfds);
    if (xp_plan[k].bare) {
        size_t len;
        ipc_msg_payload(m, &len);
        CHECK_EQ(len, 0);
        for (uint32_t i = 0; i < xp_plan[k].nfds; i++) {
            int fd = ipc_msg_take_fd(m, i);
            CHECK_GE(fd, 0);
            CHECK_EQ(fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
            CHECK_EQ(rig_pipe_id(fd), xp_id(k, i));
            close(fd);
        }
        return;
    }
    ipc_pickle_iter it;
    ipc_msg_iter(m, &it);
    uint32_t v;
    CHECK_EQ(ipc_pickle_read_u32(&it, &v), 0);
    CHECK_EQ(v, k);
    for (uint32_t i = 0; i < xp_plan[k].nfds; i++) {
        int fd = -1;
        CHECK_EQ(ipc_msg_read_fd(m, &it, &fd), 0);
        CHECK_GE(fd, 0);
        CHECK_EQ(ipc_pickle_read_u32(&it, &v), 0);
        CHECK_EQ(v, xp_id(k, i));
        CHECK_EQ(fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
        CHECK_EQ(rig_pipe_id(fd), xp_id(k, i));
        close(fd);
    }
    const uint8_t *p;
    size_t n;
    CHECK_EQ(ipc_pickle_read_bytes(&it, &p, &n), 0);
    CHECK_EQ(n, xp_plan[k].filler);
    for (size_t j = 0; j < n; j++)
        CHECK_EQ(p[j], xp_fill(k, j));
    CHECK_EQ(ipc_pickle_iter_end(&it), 0);
}

static void cross_process(size_t max_read)
{
    raise_nofile();
    rig_fd_mark();
    int sv[2];
    CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    pid_t pid = rig_spawn_helper("xp_sender", sv[1], NULL);
    CHECK_GT(pid, 0);
    close(sv[1]);
    ipc_frame_decoder *d = dec_new(NULL);
    uint32_t k = 0;
    size_t reads = 0;
    for (;;) {
        long n = rig_recv_into_decoder(sv[0], d, max_read);
        ck_assert_msg(n >= 0, "recv: %s", ipc_errname((int)n));
        ipc_msg *m;
        int rc;
        while ((rc = ipc_frame_decoder_next(d, &m)) == 1) {
            CHECK_LT(k, XP_NMSG);
            xp_check(m, k++);
            ipc_msg_free(m);
        }
        CHECK_EQ(rc, 0);
        if (n == 0)
            break;
        reads++;
    }
    int status = rig_wait(pid);
    CHECK_EQ(status, 0);
    CHECK_EQ(k, XP_NMSG);
    CHECK_EQ(ipc_frame_decoder_finish(d), 0);
    ipc_frame_decoder_free(d);
    close(sv[0]);
    CHECK_GT(reads, max_read ? 1000u : 2u);
    rig_assert_no_leaks();
}

START_TEST(frame_cross_process_scm_rights)
{
    cross_process(0);
}
END_TEST

START_TEST(frame_cross_process_small_reads)
{
    /* Reads of 61 bytes: fds arrive with the first piece of their sendmsg. */
    cross_process(61);
}
END_TEST

/* ------------------------------------------------- random input property */

static int even_types_known(uint32_t type, void *ctx)
{
    (void)ctx;
    return (type & 1) == 0;
}

/* Fills `in` with hostile bytes; returns how many fds its frames declare when
 * it started from valid frames (0 otherwise), so pushes can match them. */
static size_t gen_input(rig_rng *r, rig_buf *in)
{
    size_t declared = 0;
    in->len = 0;
    switch (rig_rng_below(r, 3)) {
    case 0: { /* pure noise */
        size_t n = rig_rng_below(r, 300);
        uint8_t tmp[300];
        rig_rng_fill(r, tmp, n);
        rig_buf_put(in, tmp, n);
        break;
    }
    case 1: { /* valid frames, then mutated */
        size_t frames = rig_rng_range(r, 1, 6);
        for (size_t f = 0; f < frames; f++) {
            uint8_t p[64];
            size_t len = rig_rng_below(r, 17) * 4;
            rig_rng_fill(r, p, len);
            uint32_t txn;
            uint32_t flags = random_valid_flags(r, &txn);
            uint32_t nfds = rig_rng_below(r, 3) == 0 ? (uint32_t)rig_rng_range(r, 1, 3) : 0;
            declared += nfds;
            rig_wire_frame(in, (uint32_t)rig_rng_below(r, 4), (int32_t)rig_rng_next(r), flags, nfds,
                           txn, p, len);
        }
        size_t muts = rig_rng_below(r, 5);
        for (size_t i = 0; i < muts && in->len > 0; i++) {
            switch (rig_rng_below(r, 4)) {
            case 0:
                in->data[rig_rng_below(r, in->len)] = (uint8_t)rig_rng_next(r);
                break;
            case 1:
                in->data[rig_rng_below(r, in->len)] ^= (uint8_t)(1u << rig_rng_below(r, 8));
                break;
            case 2:
                in->len = rig_rng_below(r, in->len);
                break;
            default: {
                uint8_t tmp[16];
                size_t n = rig_rng_range(r, 1, 16);
                rig_rng_fill(r, tmp, n);
                rig_buf_put(in, tmp, n);
            }
            }
        }
        break;
    }
    default: { /* headers built from boundary values */
        static const uint32_t sizes[] = {
            0, 4, 8, 60, 64, 68, 3, 0xfffffffcu, 0x80000000u, IPC_FRAME_DEFAULT_MAX_PAYLOAD};
        static const uint32_t nfds[] = {0, 1, 2, 3, 4, 8, 9, 1024, 1025, 0xffffffffu};
        static const uint32_t flags[] = {0, 1, 2, 3, 4, 8, 0x18, 0x10, 0x20, 0x24, 0x28, 0x40};
        size_t frames = rig_rng_range(r, 1, 4);
        for (size_t f = 0; f < frames; f++) {
            uint8_t h[IPC_MSG_HEADER_SIZE];
            uint32_t size = sizes[rig_rng_below(r, 10)];
            rig_wire_header(h, size, (uint32_t)rig_rng_below(r, 4), 0, flags[rig_rng_below(r, 12)],
                            nfds[rig_rng_below(r, 10)], (uint32_t)rig_rng_below(r, 2));
            rig_buf_put(in, h, sizeof h);
            uint8_t tmp[72];
            size_t n = size <= 72 ? size : rig_rng_below(r, 72);
            rig_rng_fill(r, tmp, n);
            rig_buf_put(in, tmp, n);
        }
    }
    }
    return declared;
}

static void log_u32(rig_buf *log, uint32_t v)
{
    rig_buf_put_le32(log, v);
}

static int error_is_classified(int rc)
{
    return rc == 0 || rc == IPC_E_TRUNCATED || rc == IPC_E_BAD_SIZE || rc == IPC_E_FD_COUNT ||
           rc == IPC_E_TOO_MANY_FDS || rc == IPC_E_UNKNOWN_TYPE || rc == IPC_E_BAD_FLAGS;
}

static void fuzz_take(ipc_frame_decoder *d, const ipc_frame_limits *lim, rig_buf *log)
{
    ipc_msg *m;
    int rc;
    while ((rc = ipc_frame_decoder_next(d, &m)) == 1) {
        size_t len;
        const uint8_t *p = ipc_msg_payload(m, &len);
        size_t nfds = ipc_msg_num_fds(m);
        CHECK_LE(len, lim->max_payload);
        CHECK_LE(nfds, lim->max_fds);
        if (lim->type_known)
            CHECK(lim->type_known(ipc_msg_type(m), NULL));
        uint8_t h[IPC_MSG_HEADER_SIZE];
        ipc_msg_header hd;
        ipc_msg_encode_header(m, h);
        CHECK_EQ(ipc_msg_decode_header(h, &hd), 0); /* only valid frames come out */
        log_u32(log, ipc_msg_type(m));
        log_u32(log, ipc_msg_flags(m));
        log_u32(log, ipc_msg_txn_id(m));
        log_u32(log, (uint32_t)ipc_msg_routing_id(m));
        log_u32(log, (uint32_t)nfds);
        log_u32(log, (uint32_t)len);
        rig_buf_put(log, p, len);
        for (size_t i = 0; i < nfds; i++)
            CHECK(fd_is_open(ipc_msg_fd(m, i)));
        ipc_msg_free(m);
    }
    CHECK(error_is_classified(rc));
}

/* Decodes `in`; mode 0 in one feed, 1 byte by byte, 2 via space/commit with
 * short commits. Modes 0-2 push every fd first, so their outcome cannot depend
 * on the chunking. Mode 3 is mode 2 with the fds pushed in random groups at
 * random points (its log is not comparable). */
static void fuzz_decode(const rig_buf *in, const ipc_frame_limits *lim, int base, size_t nfds,
                        int mode, uint64_t seed, rig_buf *log)
{
    ipc_frame_decoder *d = dec_new(lim);
    int fds[16];
    for (size_t i = 0; i < nfds; i++) {
        fds[i] = fcntl(base, F_DUPFD_CLOEXEC, 0);
        CHECK_GE(fds[i], 0);
    }
    size_t pushed = mode == 3 ? 0 : nfds;
    int rc = ipc_frame_decoder_push_fds(d, fds, pushed);
    log_u32(log, (uint32_t)rc);
    rig_rng r;
    rig_rng_seed(&r, seed);
    for (size_t pos = 0; pos < in->len;) {
        size_t c;
        if (pushed < nfds && rig_rng_below(&r, 3) == 0) {
            size_t k = rig_rng_range(&r, 1, nfds - pushed);
            rc = ipc_frame_decoder_push_fds(d, fds + pushed, k);
            pushed += k;
            CHECK(error_is_classified(rc));
        }
        if (mode == 0) {
            c = in->len;
            rc = ipc_frame_decoder_feed(d, in->data, c);
        } else if (mode == 1) {
            c = 1;
            rc = ipc_frame_decoder_feed(d, in->data + pos, 1);
        } else {
            uint8_t *buf;
            size_t room;
            rc = ipc_frame_decoder_space(d, &buf, &room);
            if (rc)
                break;
            c = rig_rng_range(&r, 0, room < in->len - pos ? room : in->len - pos);
            if (c > 7 && rig_rng_below(&r, 2))
                c = rig_rng_range(&r, 0, 7);
            memcpy(buf, in->data + pos, c);
            rc = ipc_frame_decoder_commit(d, c);
        }
        CHECK(error_is_classified(rc));
        fuzz_take(d, lim, log);
        if (rc)
            break;
        pos += c;
    }
    if (pushed < nfds) /* after an error too: the decoder must close them */
        CHECK(error_is_classified(ipc_frame_decoder_push_fds(d, fds + pushed, nfds - pushed)));
    int err = ipc_frame_decoder_error(d);
    rc = ipc_frame_decoder_finish(d);
    CHECK(error_is_classified(rc));
    CHECK(err == 0 || rc == err); /* sticky */
    fuzz_take(d, lim, log);
    log_u32(log, (uint32_t)rc);
    log_u32(log, ipc_frame_decoder_error_type(d));
    CHECK_EQ(ipc_frame_decoder_pending_fds(d), 0);
    ipc_frame_decoder_free(d);
}

START_TEST(frame_random_input_property)
{
    rig_fd_mark();
    int base = open("/dev/null", O_RDONLY | O_CLOEXEC);
    CHECK_GE(base, 0);
    rig_buf in, log[4];
    rig_buf_init(&in);
    for (int i = 0; i < 4; i++)
        rig_buf_init(&log[i]);
    size_t delivered = 0, clean = 0;
    for (uint64_t iter = 0; iter < 3000; iter++) {
        rig_rng r;
        rig_rng_seed(&r, 0xf0f0000000000000ull + iter);
        size_t declared = gen_input(&r, &in);
        /* Mostly roomy limits, so that frames get through; sometimes tight. */
        static const uint32_t pay[] = {0, 8, 64, IPC_FRAME_DEFAULT_MAX_PAYLOAD};
        static const uint32_t fdl[] = {0, 2, 4, IPC_MSG_MAX_FDS};
        ipc_frame_limits lim;
        ipc_frame_limits_default(&lim);
        if (rig_rng_below(&r, 3) == 0)
            lim = limits(pay[rig_rng_below(&r, 4)], fdl[rig_rng_below(&r, 4)]);
        if (rig_rng_below(&r, 4) == 0)
            lim.type_known = even_types_known;
        size_t nfds = rig_rng_below(&r, 2) ? declared : rig_rng_below(&r, 12);
        if (nfds > 16)
            nfds = 16;
        uint64_t seed = rig_rng_next(&r);
        for (int mode = 0; mode < 4; mode++) {
            log[mode].len = 0;
            fuzz_decode(&in, &lim, base, nfds, mode, seed, &log[mode]);
        }
        ck_assert_msg(log[0].len == log[1].len && log[0].len == log[2].len,
                      "iteration %llu: chunkings disagree", (unsigned long long)iter);
        ck_assert_msg(memcmp(log[0].data, log[1].data, log[0].len) == 0 &&
                          memcmp(log[0].data, log[2].data, log[0].len) == 0,
                      "iteration %llu: chunkings disagree", (unsigned long long)iter);
        delivered += log[0].len > 3 * 4; /* more than push rc, finish rc, error type */
        clean += rig_wire_get_le32(log[0].data + log[0].len - 8) == 0;
    }
    /* The generator reaches deep enough to matter. */
    CHECK_GT(delivered, 400);
    CHECK_GT(clean, 80);
    rig_buf_free(&in);
    for (int i = 0; i < 4; i++)
        rig_buf_free(&log[i]);
    close(base);
    rig_assert_no_leaks();
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("frame");
    TCase *tc = tcase_create("stream");
    tcase_set_timeout(tc, 60);
    tcase_add_unchecked_fixture(tc, stream_setup, stream_teardown);
    tcase_add_test(tc, frame_stream_byte_by_byte);
    tcase_add_test(tc, frame_stream_random_chunks);
    tcase_add_test(tc, frame_stream_space_commit_short);
    suite_add_tcase(s, tc);
    RIG_TCASE(s, "zero_copy", frame_zero_copy_large_payload, 20);
    RIG_TCASE(s, "zero_copy_short", frame_zero_copy_short_reads_keep_the_buffer, 20);
    RIG_TCASE(s, "over_limit", frame_payload_over_limit, 10);
    RIG_TCASE(s, "lying_size", frame_lying_size_allocates_nothing_up_front, 10);
    RIG_TCASE(s, "fds_over_limit", frame_num_fds_over_limit, 10);
    RIG_TCASE(s, "misaligned", frame_misaligned_size, 10);
    RIG_TCASE(s, "bad_flags", frame_bad_flags, 10);
    RIG_TCASE(s, "unknown_type", frame_unknown_type, 10);
    RIG_TCASE(s, "fewer_fds", frame_fewer_fds_than_declared, 10);
    RIG_TCASE(s, "extra_fds", frame_extra_fds_at_finish, 10);
    RIG_TCASE(s, "too_many_pushed", frame_too_many_fds_pushed, 10);
    RIG_TCASE(s, "negative_fd", frame_negative_fd_pushed, 10);
    RIG_TCASE(s, "truncated", frame_truncated_at_finish, 10);
    RIG_TCASE(s, "before_error", frame_messages_before_error_are_delivered, 10);
    RIG_TCASE(s, "sticky", frame_errors_are_sticky, 10);
    RIG_TCASE(s, "commit_misuse", frame_commit_misuse, 10);
    RIG_TCASE(s, "new_limits", frame_decoder_new_checks_limits, 10);
    RIG_TCASE(s, "cross_process", frame_cross_process_scm_rights, 30);
    RIG_TCASE(s, "cross_process_small", frame_cross_process_small_reads, 30);
    RIG_TCASE(s, "property", frame_random_input_property, 120);
    return s;
}

static const rig_helper helpers[] = {
    {"xp_sender", xp_sender_main},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    return rig_test_main(argc, argv, suite, helpers);
}
