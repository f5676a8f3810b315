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

static Suite *suite(void)
{
    Suite *s = suite_create("pickle");
    RIG_TCASE(s, "roundtrip", pickle_roundtrip_every_kind, 10);
    RIG_TCASE(s, "lying_length", pickle_lying_length_is_truncated, 10);
    RIG_TCASE(s, "short_reads", pickle_short_reads_fail_without_advancing, 10);
    RIG_TCASE(s, "bad_values", pickle_rejects_bad_bool_padding_and_nul, 10);
    RIG_TCASE(s, "sticky", pickle_writer_errors_are_sticky, 10);
    return s;
}

int main(int argc, char **argv)
{
    return rig_test_main(argc, argv, suite, NULL);
}
