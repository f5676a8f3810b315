/* Shared helpers for the Check unit tests: a main that runs a suite in fork
 * mode, helper processes spawned by re-executing the test binary, and fd-leak
 * and zombie checks. */
#ifndef RIG_TESTUTIL_H
#define RIG_TESTUTIL_H

#include <check.h>
#include <sys/types.h>

/* A helper process: the test binary run as `test_x --helper NAME [args]`. */
typedef struct rig_helper {
    const char *name;
    int (*main)(int argc, char **argv); /* argv[0] is NAME */
} rig_helper;

/* Runs the suite (or a helper when argv asks for one). Returns the exit code. */
int rig_test_main(int argc, char **argv, Suite *(*make_suite)(void), const rig_helper *helpers);

/* Path of the running test binary, for spawning helpers. */
const char *rig_self_exe(void);
/* Starts `self --helper name args...` with `child_fd` (if >= 0) at fd 3 and
 * every other fd except 0-2 closed. Returns the pid or -1. */
pid_t rig_spawn_helper(const char *name, int child_fd, const char *const *args);
/* Waits for pid; returns its exit status (0-255) or 128+signal, -1 on error. */
int rig_wait(pid_t pid);
/* Number of open fds in this process. */
int rig_count_fds(void);

/* Fails the test if fds leaked since rig_fd_mark() or a child was not reaped. */
void rig_fd_mark(void);
void rig_assert_no_leaks(void);

#define RIG_TCASE(suite, name, fn, timeout_s)                                                      \
    do {                                                                                           \
        TCase *tc_ = tcase_create(name);                                                           \
        tcase_set_timeout(tc_, timeout_s);                                                         \
        tcase_add_test(tc_, fn);                                                                   \
        suite_add_tcase(suite, tc_);                                                               \
    } while (0)

#endif
