/* Unit tests for ipc_frame_decoder_space_iov(): two-region reads (the rest of
 * a payload read in place, then what follows it) decode exactly what one
 * region at a time does, in any chunking, and hostile headers are still
 * bounded and classified. */
#include "testutil.h"
#include "wire_util.h"

#include "ipc/errors.h"
#include "ipc/frame.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(x) ck_assert(x)
#define CHECK_EQ(a, b) ck_assert_uint_eq((a), (b))
#define T_TYPE IPC_MSG_TYPE(0x41, 1)

typedef struct stream {
    rig_buf wire;
    size_t sizes[400];
    int n;
} stream;

/* Frames of mixed sizes: runs of large ones (read in place), small ones
 * (staged) and empty ones; payload byte i of frame k is (k * 31 + i). */
static void make_stream(stream *s, uint64_t seed)
{
    rig_rng r;
    rig_rng_seed(&r, seed);
    rig_buf_init(&s->wire);
    s->n = 0;
    for (int k = 0; k < 300; k++) {
        uint64_t kind = rig_rng_below(&r, 10);
        size_t size = kind < 4   ? (size_t)rig_rng_range(&r, 32, 300) * 1024
                      : kind < 8 ? (size_t)rig_rng_range(&r, 1, 6000)
                                 : 0;
        size &= ~(size_t)3;
        uint8_t *p = malloc(size + 1);
        for (size_t i = 0; i < size; i++)
            p[i] = (uint8_t)(k * 31 + i);
        rig_wire_frame(&s->wire, T_TYPE, k, 0, 0, 0, p, size);
        free(p);
        s->sizes[s->n++] = size;
    }
}

/* Feeds the stream through space_iov/commit, each read capped at a random
 * size, and checks every message; counts reads that used two regions. */
static int feed_iov(const stream *s, uint64_t seed, size_t *two_region_reads)
{
    rig_rng r;
    rig_rng_seed(&r, seed);
    ipc_frame_decoder *d;
    CHECK(ipc_frame_decoder_new(&d, NULL) == 0);
    size_t off = 0;
    int next = 0;
    *two_region_reads = 0;
    while (off < s->wire.len) {
        struct iovec iov[2];
        int n = 0;
        CHECK(ipc_frame_decoder_space_iov(d, iov, &n) == 0);
        CHECK(n == 1 || n == 2);
        CHECK(iov[0].iov_len > 0);
        if (n == 2) {
            CHECK(iov[1].iov_len > 0 && iov[1].iov_len <= 64 * 1024);
            (*two_region_reads)++;
        }
        size_t room = iov[0].iov_len + (n == 2 ? iov[1].iov_len : 0);
        size_t cap = rig_rng_below(&r, 4) == 0 ? (size_t)rig_rng_range(&r, 1, 100) : room;
        size_t want = s->wire.len - off;
        want = want < room ? want : room;
        want = want < cap ? want : cap;
        size_t a = want < iov[0].iov_len ? want : iov[0].iov_len;
        memcpy(iov[0].iov_base, s->wire.data + off, a);
        if (want > a)
            memcpy(iov[1].iov_base, s->wire.data + off + a, want - a);
        CHECK(ipc_frame_decoder_commit(d, want) == 0);
        off += want;
        ipc_msg *m;
        while (ipc_frame_decoder_next(d, &m) == 1) {
            CHECK(next < s->n);
            CHECK_EQ(ipc_msg_routing_id(m), (unsigned)next);
            size_t len;
            const uint8_t *p = ipc_msg_payload(m, &len);
            CHECK_EQ(len, s->sizes[next]);
            int bad = 0;
            for (size_t i = 0; i < len; i++)
                bad |= p[i] != (uint8_t)(next * 31 + i);
            CHECK(!bad);
            ipc_msg_free(m);
            next++;
        }
    }
    CHECK(ipc_frame_decoder_finish(d) == 0);
    ipc_frame_decoder_free(d);
    return next;
}

START_TEST(frameiov_mixed_stream_any_chunking)
{
    for (uint64_t seed = 1; seed <= 6; seed++) {
        stream s;
        make_stream(&s, seed);
        size_t two;
        CHECK_EQ(feed_iov(&s, seed * 77, &two), (unsigned)s.n);
        CHECK(two > 0); /* the second region was really used */
        rig_buf_free(&s.wire);
    }
}
END_TEST

START_TEST(frameiov_large_frames_take_header_only)
{
    /* After a large payload's end the second region is one header, so the
     * next large payload is read in place, not staged. */
    ipc_frame_decoder *d;
    CHECK(ipc_frame_decoder_new(&d, NULL) == 0);
    const size_t size = 64 * 1024 + 4;
    rig_buf b;
    rig_buf_init(&b);
    uint8_t *p = calloc(1, size);
    for (int k = 0; k < 3; k++)
        rig_wire_frame(&b, T_TYPE, k, 0, 0, 0, p, size);
    free(p);
    CHECK(ipc_frame_decoder_feed(d, b.data, IPC_MSG_HEADER_SIZE) == 0);
    size_t off = IPC_MSG_HEADER_SIZE;
    for (int k = 0; k < 3; k++) {
        struct iovec iov[2];
        int n;
        CHECK(ipc_frame_decoder_space_iov(d, iov, &n) == 0);
        CHECK_EQ(iov[0].iov_len, size);
        CHECK_EQ(n, 2);
        CHECK_EQ(iov[1].iov_len, IPC_MSG_HEADER_SIZE);
        size_t take = k < 2 ? size + IPC_MSG_HEADER_SIZE : size;
        memcpy(iov[0].iov_base, b.data + off, size);
        if (k < 2)
            memcpy(iov[1].iov_base, b.data + off + size, IPC_MSG_HEADER_SIZE);
        CHECK(ipc_frame_decoder_commit(d, take) == 0);
        off += take;
        ipc_msg *m;
        CHECK(ipc_frame_decoder_next(d, &m) == 1);
        CHECK_EQ(ipc_msg_routing_id(m), (unsigned)k);
        ipc_msg_free(m);
    }
    CHECK(ipc_frame_decoder_finish(d) == 0);
    ipc_frame_decoder_free(d);
    rig_buf_free(&b);
}
END_TEST

START_TEST(frameiov_partial_payload_has_one_region)
{
    /* A payload buffer that cannot finish the frame (memory follows the
     * bytes): no second region, whatever follows cannot be ours yet. */
    ipc_frame_decoder *d;
    CHECK(ipc_frame_decoder_new(&d, NULL) == 0);
    uint8_t h[IPC_MSG_HEADER_SIZE];
    rig_wire_header(h, 4u * 1024 * 1024, T_TYPE, 1, 0, 0, 0);
    CHECK(ipc_frame_decoder_feed(d, h, sizeof h) == 0);
    struct iovec iov[2];
    int n;
    CHECK(ipc_frame_decoder_space_iov(d, iov, &n) == 0);
    CHECK_EQ(n, 1);
    CHECK(iov[0].iov_len <= 512 * 1024);
    /* Over-committing the total is still caught. */
    CHECK(ipc_frame_decoder_commit(d, iov[0].iov_len + 1) == -EINVAL);
    ipc_frame_decoder_free(d);
}
END_TEST

START_TEST(frameiov_bad_header_in_second_region)
{
    /* The header that arrives in the second region is checked like any:
     * the frame before it is delivered, then the error. */
    ipc_frame_limits lim;
    ipc_frame_limits_default(&lim);
    lim.max_payload = 64 * 1024;
    ipc_frame_decoder *d;
    CHECK(ipc_frame_decoder_new(&d, &lim) == 0);
    const size_t size = 40 * 1024;
    rig_buf b;
    rig_buf_init(&b);
    uint8_t *p = calloc(1, size);
    rig_wire_frame(&b, T_TYPE, 7, 0, 0, 0, p, size);
    free(p);
    uint8_t h[IPC_MSG_HEADER_SIZE];
    rig_wire_header(h, 1024 * 1024, T_TYPE + 1, 1, 0, 0, 0); /* over the limit */
    rig_buf_put(&b, h, sizeof h);
    CHECK(ipc_frame_decoder_feed(d, b.data, IPC_MSG_HEADER_SIZE) == 0);
    struct iovec iov[2];
    int n;
    CHECK(ipc_frame_decoder_space_iov(d, iov, &n) == 0);
    CHECK_EQ(n, 2);
    memcpy(iov[0].iov_base, b.data + IPC_MSG_HEADER_SIZE, size);
    memcpy(iov[1].iov_base, h, sizeof h);
    CHECK(ipc_frame_decoder_commit(d, size + sizeof h) == IPC_E_BAD_SIZE);
    ipc_msg *m;
    CHECK(ipc_frame_decoder_next(d, &m) == 1);
    CHECK_EQ(ipc_msg_routing_id(m), 7);
    ipc_msg_free(m);
    CHECK(ipc_frame_decoder_next(d, &m) == IPC_E_BAD_SIZE);
    CHECK_EQ(ipc_frame_decoder_error_type(d), T_TYPE + 1);
    ipc_frame_decoder_free(d);
    rig_buf_free(&b);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("frameiov");
    RIG_TCASE(s, "mixed_stream", frameiov_mixed_stream_any_chunking, 60);
    RIG_TCASE(s, "header_only", frameiov_large_frames_take_header_only, 10);
    RIG_TCASE(s, "partial_payload", frameiov_partial_payload_has_one_region, 10);
    RIG_TCASE(s, "bad_header_second", frameiov_bad_header_in_second_region, 10);
    return s;
}

int main(int argc, char **argv)
{
    return rig_test_main(argc, argv, suite, NULL);
}
