/* Unit tests for the Pickle writer and iterator, including hostile payloads. */
#include "testutil.h"

#include "ipc/errors.h"
#include "ipc/pickle.h"

#include <float.h>
#include <stdlib.h>
#include <string.h>

START_TEST(pickle_roundtrip_every_kind)
{
    ipc_pickle w;
    ipc_pickle_init(&w);
    ipc_pickle_write_bool(&w, true);
    ipc_pickle_write_i32(&w, -7);
    ipc_pickle_write_u32(&w, 0xdeadbeefu);
    ipc_pickle_write_i64(&w, INT64_MIN);
    ipc_pickle_write_u64(&w, UINT64_MAX);
    ipc_pickle_write_double(&w, -DBL_MAX);
    ipc_pickle_write_string(&w, "hello", 5);
    ipc_pickle_write_bytes(&w, "\0\1\2", 3);
    ipc_pickle_write_fd_index(&w, 2);
    ck_assert_int_eq(ipc_pickle_error(&w), 0);
    ck_assert_int_eq(ipc_pickle_size(&w) % 4, 0);

    ipc_pickle_iter it;
    ipc_pickle_iter_init(&it, ipc_pickle_data(&w), ipc_pickle_size(&w));
    bool b;
    int32_t i32;
    uint32_t u32;
    int64_t i64;
    uint64_t u64;
    double d;
    const char *s;
    const uint8_t *p;
    size_t n;
    ck_assert_int_eq(ipc_pickle_read_bool(&it, &b), 0);
    ck_assert(b);
    ck_assert_int_eq(ipc_pickle_read_i32(&it, &i32), 0);
    ck_assert_int_eq(i32, -7);
    ck_assert_int_eq(ipc_pickle_read_u32(&it, &u32), 0);
    ck_assert_uint_eq(u32, 0xdeadbeefu);
    ck_assert_int_eq(ipc_pickle_read_i64(&it, &i64), 0);
    ck_assert(i64 == INT64_MIN);
    ck_assert_int_eq(ipc_pickle_read_u64(&it, &u64), 0);
    ck_assert(u64 == UINT64_MAX);
    ck_assert_int_eq(ipc_pickle_read_double(&it, &d), 0);
    ck_assert(d == -DBL_MAX);
    ck_assert_int_eq(ipc_pickle_read_string(&it, &s, &n), 0);
    ck_assert_uint_eq(n, 5);
    ck_assert(memcmp(s, "hello", 5) == 0);
    ck_assert_int_eq(ipc_pickle_read_bytes(&it, &p, &n), 0);
    ck_assert_uint_eq(n, 3);
    ck_assert(memcmp(p, "\0\1\2", 3) == 0);
    ck_assert_int_eq(ipc_pickle_read_fd_index(&it, &i32), 0);
    ck_assert_int_eq(i32, 2);
    ck_assert_int_eq(ipc_pickle_iter_end(&it), 0);
    ipc_pickle_dispose(&w);
}
END_TEST

START_TEST(pickle_lying_length_is_truncated)
{
    /* length 0xfffffffc followed by 4 bytes: must not wrap or read past. */
    const uint8_t buf[8] = {0xfc, 0xff, 0xff, 0xff, 'a', 'b', 'c', 'd'};
    ipc_pickle_iter it;
    ipc_pickle_iter_init(&it, buf, sizeof buf);
    const uint8_t *p;
    size_t n;
    ck_assert_int_eq(ipc_pickle_read_bytes(&it, &p, &n), IPC_E_TRUNCATED);
    ck_assert_uint_eq(it.pos, 0);
}
END_TEST

START_TEST(pickle_short_reads_fail_without_advancing)
{
    const uint8_t buf[7] = {1, 0, 0, 0, 2, 0, 0};
    ipc_pickle_iter it;
    ipc_pickle_iter_init(&it, buf, sizeof buf);
    uint64_t v;
    ck_assert_int_eq(ipc_pickle_read_u64(&it, &v), IPC_E_TRUNCATED);
    ck_assert_uint_eq(it.pos, 0);
    uint32_t u;
    ck_assert_int_eq(ipc_pickle_read_u32(&it, &u), 0);
    ck_assert_int_eq(ipc_pickle_read_u32(&it, &u), IPC_E_TRUNCATED);
    ck_assert_int_eq(ipc_pickle_iter_end(&it), IPC_E_TRAILING);
}
END_TEST

START_TEST(pickle_rejects_bad_bool_padding_and_nul)
{
    const uint8_t badbool[4] = {2, 0, 0, 0};
    const uint8_t badpad[8] = {1, 0, 0, 0, 'x', 1, 0, 0};
    const uint8_t nul[8] = {2, 0, 0, 0, 'a', 0, 0, 0};
    ipc_pickle_iter it;
    bool b;
    const uint8_t *p;
    const char *s;
    size_t n;
    ipc_pickle_iter_init(&it, badbool, sizeof badbool);
    ck_assert_int_eq(ipc_pickle_read_bool(&it, &b), IPC_E_BAD_BOOL);
    ipc_pickle_iter_init(&it, badpad, sizeof badpad);
    ck_assert_int_eq(ipc_pickle_read_bytes(&it, &p, &n), IPC_E_BAD_PADDING);
    ipc_pickle_iter_init(&it, nul, sizeof nul);
    ck_assert_int_eq(ipc_pickle_read_string(&it, &s, &n), IPC_E_BAD_STRING);
    ck_assert_uint_eq(it.pos, 0);
    ipc_pickle_iter_init(&it, nul, sizeof nul);
    ck_assert_int_eq(ipc_pickle_read_bytes(&it, &p, &n), 0); /* bytes may hold NUL */
}
END_TEST

START_TEST(pickle_writer_errors_are_sticky)
{
    ipc_pickle w;
    ipc_pickle_init(&w);
    ck_assert_int_eq(ipc_pickle_write_string(&w, "a\0b", 3), IPC_E_BAD_STRING);
    ck_assert_int_eq(ipc_pickle_write_u32(&w, 1), IPC_E_BAD_STRING);
    uint8_t *d;
    size_t n;
    ck_assert_int_eq(ipc_pickle_release(&w, &d, &n), IPC_E_BAD_STRING);
    ipc_pickle_dispose(&w);
    ipc_pickle_init(&w);
    ck_assert_int_eq(ipc_pickle_write_bytes(&w, "", (size_t)IPC_PICKLE_MAX_SIZE), IPC_E_TOO_LARGE);
    ipc_pickle_dispose(&w);
}
END_TEST

START_TEST(pickle_layout_is_pinned)
{
    /* docs/wire-format.md section 3, byte for byte. A change here is a wire
     * format change. */
    ipc_pickle w;
    ipc_pickle_init(&w);
    ipc_pickle_write_bool(&w, true);
    ipc_pickle_write_bool(&w, false);
    ipc_pickle_write_i32(&w, -7);
    ipc_pickle_write_u32(&w, 0x01020304u);
    ipc_pickle_write_i64(&w, -2);
    ipc_pickle_write_u64(&w, 1ull << 32);
    ipc_pickle_write_double(&w, 1.0);
    ipc_pickle_write_string(&w, "hello", 5);
    ipc_pickle_write_bytes(&w, "", 0);
    ipc_pickle_write_bytes(&w, "\xab", 1);
    ipc_pickle_write_bytes(&w, "abcd", 4);
    ipc_pickle_write_string(&w, "hi!xyz", 6);
    ipc_pickle_write_string(&w, "", 0);
    ipc_pickle_write_fd_index(&w, 2);
    ipc_pickle_write_fd_index(&w, IPC_PICKLE_NO_FD);
    ck_assert_int_eq(ipc_pickle_error(&w), 0);
    static const uint8_t want[] = {
        0x01, 0x00, 0x00, 0x00,                         /* bool true */
        0x00, 0x00, 0x00, 0x00,                         /* bool false */
        0xf9, 0xff, 0xff, 0xff,                         /* i32 -7 */
        0x04, 0x03, 0x02, 0x01,                         /* u32 0x01020304 */
        0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, /* i64 -2 */
        0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, /* u64 1 << 32, low word first */
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf0, 0x3f, /* double 1.0 */
        0x05, 0x00, 0x00, 0x00, 'h',  'e',  'l',  'l',  /* string "hello" */
        'o',  0x00, 0x00, 0x00,                         /*   + 3 zero pad */
        0x00, 0x00, 0x00, 0x00,                         /* bytes "" */
        0x01, 0x00, 0x00, 0x00, 0xab, 0x00, 0x00, 0x00, /* bytes {ab} + 3 pad */
        0x04, 0x00, 0x00, 0x00, 'a',  'b',  'c',  'd',  /* bytes "abcd", no pad */
        0x06, 0x00, 0x00, 0x00, 'h',  'i',  '!',  'x',  /* string "hi!xyz" */
        'y',  'z',  0x00, 0x00,                         /*   + 2 pad */
        0x00, 0x00, 0x00, 0x00,                         /* string "" */
        0x02, 0x00, 0x00, 0x00,                         /* fd index 2 */
        0xff, 0xff, 0xff, 0xff,                         /* fd NO_FD (-1) */
    };
    ck_assert_uint_eq(ipc_pickle_size(&w), sizeof want);
    ck_assert_mem_eq(ipc_pickle_data(&w), want, sizeof want);

    uint8_t *data;
    size_t len;
    ck_assert_int_eq(ipc_pickle_release(&w, &data, &len), 0);
    ck_assert_uint_eq(len, sizeof want);
    ck_assert_mem_eq(data, want, sizeof want);
    ck_assert_uint_eq(ipc_pickle_size(&w), 0); /* the writer is empty again */
    ck_assert_ptr_null(ipc_pickle_data(&w));
    free(data);
}
END_TEST

enum read_kind { R_BOOL, R_I32, R_U32, R_I64, R_U64, R_DOUBLE, R_STRING, R_BYTES, R_FD, R_COUNT };

static int do_read(enum read_kind k, ipc_pickle_iter *it)
{
    bool b;
    int32_t i32;
    uint32_t u32;
    int64_t i64;
    uint64_t u64;
    double d;
    const char *s;
    const uint8_t *p;
    size_t n;
    switch (k) {
    case R_BOOL:
        return ipc_pickle_read_bool(it, &b);
    case R_I32:
        return ipc_pickle_read_i32(it, &i32);
    case R_U32:
        return ipc_pickle_read_u32(it, &u32);
    case R_I64:
        return ipc_pickle_read_i64(it, &i64);
    case R_U64:
        return ipc_pickle_read_u64(it, &u64);
    case R_DOUBLE:
        return ipc_pickle_read_double(it, &d);
    case R_STRING:
        return ipc_pickle_read_string(it, &s, &n);
    case R_BYTES:
        return ipc_pickle_read_bytes(it, &p, &n);
    case R_FD:
        return ipc_pickle_read_fd_index(it, &i32);
    default:
        return 1;
    }
}

/* Runs read `k` over `field` placed after a 4-byte field already read, so a
 * failure that resets pos to 0 (rather than leaving it) is caught too. */
static int read_after_prefix(enum read_kind k, const uint8_t *field, size_t len, size_t *pos)
{
    uint8_t buf[64];
    ck_assert_uint_le(len + 4, sizeof buf);
    memset(buf, 0x5a, 4);
    memcpy(buf + 4, field, len);
    ipc_pickle_iter it;
    ipc_pickle_iter_init(&it, buf, len + 4);
    uint32_t skip;
    ck_assert_int_eq(ipc_pickle_read_u32(&it, &skip), 0);
    int rc = do_read(k, &it);
    *pos = it.pos;
    return rc;
}

START_TEST(pickle_failed_reads_never_advance)
{
    /* One valid encoding per kind. */
    static const struct {
        enum read_kind k;
        uint8_t b[16];
        size_t len;
    } valid[] = {
        {R_BOOL, {1, 0, 0, 0}, 4},
        {R_I32, {0xf9, 0xff, 0xff, 0xff}, 4},
        {R_U32, {1, 2, 3, 4}, 4},
        {R_I64, {1, 2, 3, 4, 5, 6, 7, 8}, 8},
        {R_U64, {1, 2, 3, 4, 5, 6, 7, 8}, 8},
        {R_DOUBLE, {0, 0, 0, 0, 0, 0, 0xf0, 0x3f}, 8},
        {R_STRING, {5, 0, 0, 0, 'h', 'e', 'l', 'l', 'o', 0, 0, 0}, 12},
        {R_BYTES, {3, 0, 0, 0, 0, 1, 2, 0}, 8},
        {R_FD, {7, 0, 0, 0}, 4},
    };
    size_t pos;
    for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++) {
        /* The whole field reads and advances by its length... */
        ck_assert_int_eq(read_after_prefix(valid[i].k, valid[i].b, valid[i].len, &pos), 0);
        ck_assert_uint_eq(pos, 4 + valid[i].len);
        /* ...and every strict prefix of it is TRUNCATED without moving. */
        for (size_t cut = 0; cut < valid[i].len; cut++) {
            int rc = read_after_prefix(valid[i].k, valid[i].b, cut, &pos);
            ck_assert_msg(rc == IPC_E_TRUNCATED, "kind %d cut %zu: rc %d", valid[i].k, cut, rc);
            ck_assert_uint_eq(pos, 4);
        }
    }

    /* Value errors do not move either. */
    static const struct {
        enum read_kind k;
        uint8_t b[16];
        size_t len;
        int err;
    } bad[] = {
        {R_BOOL, {2, 0, 0, 0}, 4, IPC_E_BAD_BOOL},
        {R_BOOL, {0, 0, 0, 1}, 4, IPC_E_BAD_BOOL},
        {R_BOOL, {0xff, 0xff, 0xff, 0xff}, 4, IPC_E_BAD_BOOL},
        {R_FD, {0xfe, 0xff, 0xff, 0xff}, 4, IPC_E_BAD_FD_INDEX},
        {R_FD, {0, 0, 0, 0x80}, 4, IPC_E_BAD_FD_INDEX},
        {R_BYTES, {1, 0, 0, 0, 'x', 1, 0, 0}, 8, IPC_E_BAD_PADDING},
        {R_BYTES, {1, 0, 0, 0, 'x', 0, 1, 0}, 8, IPC_E_BAD_PADDING},
        {R_BYTES, {1, 0, 0, 0, 'x', 0, 0, 0x80}, 8, IPC_E_BAD_PADDING},
        {R_BYTES, {6, 0, 0, 0, 1, 2, 3, 4, 5, 6, 0, 9}, 12, IPC_E_BAD_PADDING},
        {R_STRING, {2, 0, 0, 0, 'a', 'b', 9, 0}, 8, IPC_E_BAD_PADDING},
        {R_STRING, {3, 0, 0, 0, 0, 'b', 'c', 0}, 8, IPC_E_BAD_STRING},
        {R_STRING, {3, 0, 0, 0, 'a', 0, 'c', 0}, 8, IPC_E_BAD_STRING},
        {R_STRING, {3, 0, 0, 0, 'a', 'b', 0, 0}, 8, IPC_E_BAD_STRING},
        /* lengths that lie: past the end, past it only with the padding,
         * and the largest u32 (must not wrap) */
        {R_BYTES, {5, 0, 0, 0, 1, 2, 3, 4}, 8, IPC_E_TRUNCATED},
        {R_BYTES, {5, 0, 0, 0, 1, 2, 3, 4, 5}, 9, IPC_E_TRUNCATED},
        {R_BYTES, {5, 0, 0, 0, 1, 2, 3, 4, 5, 0, 0}, 11, IPC_E_TRUNCATED},
        {R_BYTES, {0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4}, 8, IPC_E_TRUNCATED},
        {R_BYTES, {0xfd, 0xff, 0xff, 0xff, 1, 2, 3, 4}, 8, IPC_E_TRUNCATED},
        {R_STRING, {0xfc, 0xff, 0xff, 0xff, 'a', 'b', 'c', 'd'}, 8, IPC_E_TRUNCATED},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = read_after_prefix(bad[i].k, bad[i].b, bad[i].len, &pos);
        ck_assert_msg(rc == bad[i].err, "bad[%zu]: rc %d want %d", i, rc, bad[i].err);
        ck_assert_uint_eq(pos, 4);
    }

    /* An empty or NULL payload: every read is TRUNCATED. */
    for (int k = 0; k < R_COUNT; k++) {
        ipc_pickle_iter it;
        ipc_pickle_iter_init(&it, NULL, 100); /* NULL data means no bytes */
        ck_assert_uint_eq(ipc_pickle_iter_remaining(&it), 0);
        ck_assert_int_eq(do_read((enum read_kind)k, &it), IPC_E_TRUNCATED);
        ck_assert_uint_eq(it.pos, 0);
        ck_assert_int_eq(ipc_pickle_iter_end(&it), 0);
    }
}
END_TEST

START_TEST(pickle_bytes_exactly_fill_the_payload)
{
    /* n == everything left (with its padding) reads; one more does not. */
    uint8_t buf[4 + 8];
    memset(buf, 0, sizeof buf);
    ipc_pickle_iter it;
    const uint8_t *p;
    size_t n;
    for (uint32_t len = 0; len <= 8; len++) {
        buf[0] = (uint8_t)len;
        size_t total = 4 + len + ((4 - (len & 3)) & 3);
        ipc_pickle_iter_init(&it, buf, total);
        ck_assert_int_eq(ipc_pickle_read_bytes(&it, &p, &n), 0);
        ck_assert_uint_eq(n, len);
        ck_assert_ptr_eq(p, buf + 4);
        ck_assert_int_eq(ipc_pickle_iter_end(&it), 0);
        ipc_pickle_iter_init(&it, buf, total - 1);
        ck_assert_int_eq(ipc_pickle_read_bytes(&it, &p, &n), IPC_E_TRUNCATED);
        ck_assert_uint_eq(it.pos, 0);
    }
}
END_TEST

START_TEST(pickle_max_size_boundaries)
{
    const size_t max = IPC_PICKLE_MAX_SIZE;
    ipc_pickle w;

    /* reserve: exactly the maximum fits, one byte more is TOO_LARGE (sticky),
     * and nothing wraps for SIZE_MAX. */
    ipc_pickle_init(&w);
    ck_assert_int_eq(ipc_pickle_reserve(&w, max + 1), IPC_E_TOO_LARGE);
    ck_assert_int_eq(ipc_pickle_write_u32(&w, 1), IPC_E_TOO_LARGE);
    ipc_pickle_dispose(&w);
    ipc_pickle_init(&w);
    ck_assert_int_eq(ipc_pickle_reserve(&w, SIZE_MAX), IPC_E_TOO_LARGE);
    ipc_pickle_dispose(&w);
    ipc_pickle_init(&w);
    ck_assert_int_eq(ipc_pickle_write_u32(&w, 1), 0);
    ck_assert_int_eq(ipc_pickle_reserve(&w, max - 4), 0);
    ck_assert_int_eq(ipc_pickle_reserve(&w, max - 3), IPC_E_TOO_LARGE);
    ipc_pickle_dispose(&w);

    /* write_bytes: the length that brings the payload to exactly max, and the
     * smallest one over it (padding counts). Lengths near SIZE_MAX do not
     * wrap. None of the failing calls reads the source. */
    ipc_pickle_init(&w);
    ck_assert_int_eq(ipc_pickle_write_bytes(&w, "", max - 3), IPC_E_TOO_LARGE);
    ipc_pickle_dispose(&w);
    ipc_pickle_init(&w);
    ck_assert_int_eq(ipc_pickle_write_bytes(&w, "", SIZE_MAX), IPC_E_TOO_LARGE);
    ipc_pickle_dispose(&w);
    ipc_pickle_init(&w);
    ck_assert_int_eq(ipc_pickle_write_bytes(&w, "", SIZE_MAX - 3), IPC_E_TOO_LARGE);
    ipc_pickle_dispose(&w);

    uint8_t *src = calloc(1, max); /* zero pages: not touched until read */
    ck_assert_ptr_nonnull(src);
    src[0] = 0x11;
    src[max - 9] = 0x22; /* the last byte of the field written below */
    ipc_pickle_init(&w);
    ck_assert_int_eq(ipc_pickle_write_u32(&w, 7), 0);
    ck_assert_int_eq(ipc_pickle_write_bytes(&w, src, max - 8), 0);
    ck_assert_uint_eq(ipc_pickle_size(&w), max);
    /* Full: every further write fails, changes nothing, and sticks. */
    ck_assert_int_eq(ipc_pickle_write_bool(&w, false), IPC_E_TOO_LARGE);
    ck_assert_uint_eq(ipc_pickle_size(&w), max);
    ck_assert_int_eq(ipc_pickle_write_bytes(&w, "", 0), IPC_E_TOO_LARGE);
    ck_assert_int_eq(ipc_pickle_error(&w), IPC_E_TOO_LARGE);
    /* The full payload reads back. */
    ipc_pickle_iter it;
    ipc_pickle_iter_init(&it, ipc_pickle_data(&w), ipc_pickle_size(&w));
    uint32_t u;
    const uint8_t *p;
    size_t n;
    ck_assert_int_eq(ipc_pickle_read_u32(&it, &u), 0);
    ck_assert_uint_eq(u, 7);
    ck_assert_int_eq(ipc_pickle_read_bytes(&it, &p, &n), 0);
    ck_assert_uint_eq(n, max - 8);
    ck_assert_uint_eq(p[0], 0x11);
    ck_assert_uint_eq(p[max - 9], 0x22);
    ck_assert_int_eq(ipc_pickle_iter_end(&it), 0);
    uint8_t *d = (uint8_t *)1;
    size_t dl = 1;
    ck_assert_int_eq(ipc_pickle_release(&w, &d, &dl), IPC_E_TOO_LARGE);
    ck_assert_ptr_null(d);
    ck_assert_uint_eq(dl, 0);
    ipc_pickle_dispose(&w);
    free(src);
}
END_TEST

START_TEST(pickle_fd_index_rules)
{
    ipc_pickle w;
    ipc_pickle_init(&w);
    ck_assert_int_eq(ipc_pickle_write_fd_index(&w, 0), 0);
    ck_assert_int_eq(ipc_pickle_write_fd_index(&w, INT32_MAX), 0);
    ck_assert_int_eq(ipc_pickle_write_fd_index(&w, -1), 0);
    ck_assert_int_eq(ipc_pickle_write_fd_index(&w, -2), IPC_E_BAD_FD_INDEX);
    ck_assert_int_eq(ipc_pickle_error(&w), IPC_E_BAD_FD_INDEX);
    ck_assert_uint_eq(ipc_pickle_size(&w), 12);
    ipc_pickle_iter it;
    ipc_pickle_iter_init(&it, ipc_pickle_data(&w), ipc_pickle_size(&w));
    int32_t v;
    ck_assert_int_eq(ipc_pickle_read_fd_index(&it, &v), 0);
    ck_assert_int_eq(v, 0);
    ck_assert_int_eq(ipc_pickle_read_fd_index(&it, &v), 0);
    ck_assert_int_eq(v, INT32_MAX);
    ck_assert_int_eq(ipc_pickle_read_fd_index(&it, &v), 0);
    ck_assert_int_eq(v, IPC_PICKLE_NO_FD);
    ipc_pickle_dispose(&w);
}
END_TEST

START_TEST(pickle_release_empty_writer)
{
    ipc_pickle w;
    ipc_pickle_init(&w);
    uint8_t *d = (uint8_t *)1;
    size_t n = 5;
    ck_assert_int_eq(ipc_pickle_release(&w, &d, &n), 0);
    ck_assert_ptr_null(d);
    ck_assert_uint_eq(n, 0);
    /* Writing nothing to an empty writer is fine and stays empty. */
    ck_assert_int_eq(ipc_pickle_reserve(&w, 0), 0);
    ck_assert_uint_eq(ipc_pickle_size(&w), 0);
    ck_assert_int_eq(ipc_pickle_write_string(&w, NULL, 0), 0);
    ck_assert_uint_eq(ipc_pickle_size(&w), 4);
    ipc_pickle_dispose(&w);
    ipc_pickle_dispose(&w); /* twice is harmless */
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("pickle");
    RIG_TCASE(s, "roundtrip", pickle_roundtrip_every_kind, 10);
    RIG_TCASE(s, "lying_length", pickle_lying_length_is_truncated, 10);
    RIG_TCASE(s, "short_reads", pickle_short_reads_fail_without_advancing, 10);
    RIG_TCASE(s, "bad_values", pickle_rejects_bad_bool_padding_and_nul, 10);
    RIG_TCASE(s, "sticky", pickle_writer_errors_are_sticky, 10);
    RIG_TCASE(s, "layout", pickle_layout_is_pinned, 10);
    RIG_TCASE(s, "no_advance", pickle_failed_reads_never_advance, 10);
    RIG_TCASE(s, "bytes_fill", pickle_bytes_exactly_fill_the_payload, 10);
    RIG_TCASE(s, "max_size", pickle_max_size_boundaries, 30);
    RIG_TCASE(s, "fd_index", pickle_fd_index_rules, 10);
    RIG_TCASE(s, "release_empty", pickle_release_empty_writer, 10);
    return s;
}

int main(int argc, char **argv)
{
    return rig_test_main(argc, argv, suite, NULL);
}
