/* Unit tests for the error table: distinct codes, names and messages, and the
 * -errno fallbacks of ipc_strerror()/ipc_errname(). */
#include "testutil.h"

#include "ipc/errors.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

struct row {
    int code;
    const char *name;
    const char *msg;
};

static const struct row rows[] = {
#define ROW(name, value, msg) {value, #name, msg},
    IPC_ERROR_TABLE(ROW)
#undef ROW
};
#define NROWS (sizeof rows / sizeof rows[0])

START_TEST(errors_table_is_distinct_and_complete)
{
    ck_assert_uint_ge(NROWS, 30);
    for (size_t i = 0; i < NROWS; i++) {
        /* Outside the errno range, so -errno and IPC_E_* never collide. */
        ck_assert_int_le(rows[i].code, IPC_E_BASE);
        ck_assert_str_eq(ipc_errname(rows[i].code), rows[i].name);
        ck_assert_str_eq(ipc_strerror(rows[i].code), rows[i].msg);
        ck_assert(strncmp(rows[i].name, "IPC_E_", 6) == 0);
        ck_assert_uint_gt(strlen(rows[i].msg), 3);
        for (size_t j = i + 1; j < NROWS; j++) {
            ck_assert_msg(rows[i].code != rows[j].code, "%s and %s share %d", rows[i].name,
                          rows[j].name, rows[i].code);
            ck_assert_str_ne(rows[i].name, rows[j].name);
            ck_assert_msg(strcmp(rows[i].msg, rows[j].msg) != 0, "%s and %s share a message",
                          rows[i].name, rows[j].name);
        }
    }
}
END_TEST

START_TEST(errors_values_are_stable)
{
    /* These appear in logs, reports and docs/wire-format.md section 6. */
    ck_assert_int_eq(IPC_E_TRUNCATED, -1000);
    ck_assert_int_eq(IPC_E_BAD_SIZE, -1001);
    ck_assert_int_eq(IPC_E_FD_COUNT, -1002);
    ck_assert_int_eq(IPC_E_TOO_MANY_FDS, -1003);
    ck_assert_int_eq(IPC_E_UNKNOWN_TYPE, -1004);
    ck_assert_int_eq(IPC_E_BAD_FLAGS, -1006);
    ck_assert_int_eq(IPC_E_BAD_PADDING, -1007);
    ck_assert_int_eq(IPC_E_TRAILING, -1008);
    ck_assert_int_eq(IPC_E_BAD_BOOL, -1010);
    ck_assert_int_eq(IPC_E_BAD_STRING, -1011);
    ck_assert_int_eq(IPC_E_BAD_FD_INDEX, -1012);
    ck_assert_int_eq(IPC_E_CTRUNC, -1015);
    ck_assert_int_eq(IPC_E_BAD_HELLO, -1025);
}
END_TEST

START_TEST(errors_errno_names_and_messages)
{
    ck_assert_str_eq(ipc_errname(-EAGAIN), "EAGAIN");
    ck_assert_str_eq(ipc_errname(-ENOMEM), "ENOMEM");
    ck_assert_str_eq(ipc_errname(-EPIPE), "EPIPE");
    ck_assert_str_eq(ipc_errname(-EBADF), "EBADF");
    ck_assert_str_eq(ipc_strerror(-EPIPE), strerror(EPIPE));
    ck_assert_str_eq(ipc_strerror(-ENOMEM), strerror(ENOMEM));
    ck_assert_str_eq(ipc_errname(0), "OK");
    ck_assert_str_eq(ipc_strerror(0), "success");
}
END_TEST

START_TEST(errors_unknown_codes)
{
    const int unknown[] = {1,     EAGAIN, 4242,  -999,    -998,   -1016,
                           -1019, -1042,  -5000, INT_MIN, INT_MAX};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        ck_assert_str_eq(ipc_errname(unknown[i]), "UNKNOWN");
        ck_assert_str_eq(ipc_strerror(unknown[i]), "unknown error");
    }
}
END_TEST

START_TEST(errors_strerror_results_stay_valid)
{
    /* Every result is a static string: an earlier one must survive later calls
     * (glibc's strerror() frees its buffer for unknown errnos on the next call). */
    const char *a = ipc_strerror(-998);
    const char *b = ipc_strerror(-997);
    const char *c = ipc_strerror(-EIO);
    const char *d = ipc_errname(-996);
    ck_assert_str_eq(a, "unknown error");
    ck_assert_str_eq(b, "unknown error");
    ck_assert_str_eq(c, strerror(EIO));
    ck_assert_str_eq(d, "UNKNOWN");
    ck_assert_ptr_eq(ipc_strerror(IPC_E_CLOSED), ipc_strerror(IPC_E_CLOSED));
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("errors");
    RIG_TCASE(s, "distinct", errors_table_is_distinct_and_complete, 10);
    RIG_TCASE(s, "stable", errors_values_are_stable, 10);
    RIG_TCASE(s, "errno", errors_errno_names_and_messages, 10);
    RIG_TCASE(s, "unknown", errors_unknown_codes, 10);
    RIG_TCASE(s, "stay_valid", errors_strerror_results_stay_valid, 10);
    return s;
}

int main(int argc, char **argv)
{
    return rig_test_main(argc, argv, suite, NULL);
}
