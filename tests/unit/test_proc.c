/* Unit tests for launching children and their start-up: fd 3 and the fd
 * shuffle, superfluous fds, exec errors, the build id, prefs through a sealed
 * memfd (and hostile blobs and arguments), the debug pause, parent death, and
 * reaping. Children are this binary re-executed as helpers. */
#include "proctest.h"
#include "testutil.h"

#include "ipc/errors.h"
#include "../../ipc/proc_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define T_MS 10000 /* an upper bound for anything a child should do, not a speed check */

/* ================= helpers (run in the child) ================= */

/* Reports its open fds, its extra fds and what init told it on fd 3, then
 * writes a byte 'k' to each extra fd above 2. */
static int h_fdcheck(int argc, char **argv)
{
    ipc_child_info info;
    rig_proc_child_init(argc, argv, &info);
    char out[2048];
    size_t at = (size_t)snprintf(out, sizeof out, "open=");
    for (int fd = 0; fd < 1024; fd++)
        if (fcntl(fd, F_GETFD) >= 0)
            at += (size_t)snprintf(out + at, sizeof out - at, "%d,", fd);
    at += (size_t)snprintf(out + at, sizeof out - at, " fds=");
    for (size_t i = 0; i < info.nfds; i++)
        at += (size_t)snprintf(out + at, sizeof out - at, "%d,", info.fds[i]);
    at += (size_t)snprintf(out + at, sizeof out - at, " chan=%d type=%s ppid=%d prefs=%zu\n",
                           info.channel_fd, info.process_type, (int)info.parent_pid,
                           ipc_prefs_count(info.prefs));
    int rc = rig_write_all(IPC_CHILD_CHANNEL_FD, out, at);
    for (size_t i = 0; i < info.nfds; i++)
        if (info.fds[i] > 2)
            rc |= rig_write_all(info.fds[i], "k", 1);
    ipc_child_info_dispose(&info);
    return rc == 0 ? 0 : 1;
}

/* Sends its prefs back, encoded, on fd 3. */
static int h_prefs(int argc, char **argv)
{
    ipc_child_info info;
    rig_proc_child_init(argc, argv, &info);
    uint8_t *blob;
    size_t len;
    int rc = ipc_prefs_encode(info.prefs, &blob, &len);
    if (rc == 0) {
        rc = rig_write_all(3, blob, len);
        free(blob);
    }
    ipc_child_info_dispose(&info);
    return rc == 0 ? 0 : 1;
}

/* Initialises, says 'R' on fd 3, then waits to be killed. */
static int h_sleeper(int argc, char **argv)
{
    ipc_child_info info;
    rig_proc_child_init(argc, argv, &info);
    if (rig_write_all(3, "R", 1) < 0)
        return 1;
    for (;;)
        pause();
}

/* Exits with the status in argv[1] after initialising. */
static int h_exit(int argc, char **argv)
{
    ipc_child_info info;
    rig_proc_child_init(argc, argv, &info);
    ipc_child_info_dispose(&info);
    return atoi(argv[1]);
}

/* Launches a sleeper grandchild, sends its pid on fd 3, then waits to be
 * killed (it runs as "main": unsandboxed, it may launch). */
static int h_middle(int argc, char **argv)
{
    ipc_child_info info;
    rig_proc_child_init(argc, argv, &info);
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return 1;
    rig_proc_launch l;
    rig_proc_prepare(&l, "sleeper", NULL, "test", sv[1]);
    ipc_proc *gc;
    if (ipc_proc_launch(&l.opts, &gc, NULL) < 0)
        return 2;
    char r;
    if (rig_read_for(sv[0], &r, 1, T_MS) != 1 || r != 'R')
        return 3;
    char msg[32];
    int n = snprintf(msg, sizeof msg, "%d\n", (int)ipc_proc_pid(gc));
    if (rig_write_all(3, msg, (size_t)n) < 0)
        return 4;
    for (;;)
        pause();
}

static const rig_helper helpers[] = {
    {"fdcheck", h_fdcheck}, {"prefs", h_prefs},   {"sleeper", h_sleeper},
    {"exit", h_exit},       {"middle", h_middle}, {NULL, NULL},
};

/* ================= parent-side utilities ================= */

static void make_pair(int sv[2])
{
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
}

/* Launches fdcheck with the given extra fds and reads its report. */
static ipc_proc *run_fdcheck(int chan_client, int chan_parent, const ipc_proc_fd *fds, size_t nfds,
                             char *report, size_t len)
{
    rig_proc_launch l;
    rig_proc_prepare(&l, "fdcheck", NULL, "test", chan_client);
    l.opts.fds = fds;
    l.opts.nfds = nfds;
    ipc_proc *proc = NULL;
    ipc_proc_launch_result res;
    int rc = ipc_proc_launch(&l.opts, &proc, &res);
    ck_assert_msg(rc == 0, "launch: %s (errno %d)", ipc_strerror(rc), res.exec_errno);
    ssize_t n = rig_read_until(chan_parent, report, len - 1, '\n', T_MS);
    ck_assert_int_gt(n, 0);
    report[n] = '\0';
    return proc;
}

static void expect_clean_exit(ipc_proc *proc)
{
    ipc_crash_info info;
    ck_assert_int_eq(ipc_proc_wait(proc, T_MS, &info), 0);
    ck_assert_msg(info.exited && info.exit_status == 0, "child exited=%d status=%d signal=%d",
                  info.exited, info.exit_status, info.signal);
    ipc_proc_free(proc);
}

/* Makes sure fd 3 is open (a /dev/null placeholder when it is free) so the
 * test's own fds land elsewhere. Returns the placeholder or -1. */
static int hold_fd3(void)
{
    if (fcntl(3, F_GETFD) >= 0)
        return -1;
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    ck_assert_int_eq(fd, 3);
    return fd;
}

/* Puts `fd` on 3 (parking what was there), launches fdcheck with channel
 * `chan` (3 means that fd) and the extra fds, then puts the old 3 back before
 * anything may assert (it may be Check's own). `fd` is consumed. */
static int launch_with_fd3(int fd, int chan, const ipc_proc_fd *fds, size_t nfds, ipc_proc **proc)
{
    int saved = fcntl(3, F_DUPFD_CLOEXEC, 20);
    int ok = saved >= 0 && dup3(fd, 3, O_CLOEXEC) == 3;
    close(fd);
    rig_proc_launch l;
    rig_proc_prepare(&l, "fdcheck", NULL, "test", chan);
    l.opts.fds = fds;
    l.opts.nfds = nfds;
    int rc = ok ? ipc_proc_launch(&l.opts, proc, NULL) : -EBADF;
    if (saved >= 0) {
        dup3(saved, 3, O_CLOEXEC);
        close(saved);
    }
    return rc;
}

static void read_report(int fd, char *report, size_t len)
{
    ssize_t n = rig_read_until(fd, report, len - 1, '\n', T_MS);
    ck_assert_int_gt(n, 0);
    report[n] = '\0';
}

static char peer_byte(int fd)
{
    char c = 0;
    ck_assert_int_eq(rig_read_for(fd, &c, 1, T_MS), 1);
    return c;
}

/* ================= launch and fds ================= */

START_TEST(proc_channel_on_fd3_and_nothing_else_open)
{
    rig_fd_mark();
    int sv[2];
    make_pair(sv);
    /* Inheritable fds that must not reach the child. */
    int stray = open("/dev/null", O_RDONLY);
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    char report[2048], want[128];
    ipc_proc *proc = run_fdcheck(sv[1], sv[0], NULL, 0, report, sizeof report);
    snprintf(want, sizeof want, "open=0,1,2,3, fds= chan=3 type=test ppid=%d prefs=0\n",
             (int)getpid());
    ck_assert_str_eq(report, want);
    expect_clean_exit(proc);
    ck_assert_int_eq(fcntl(sv[1], F_GETFD), -1); /* the launch took the client end */
    close(stray);
    close(p[0]);
    close(p[1]);
    close(sv[0]);
    rig_assert_no_leaks();
}
END_TEST

static void fallback_case(int mode)
{
    rig_fd_mark();
    int sv[2], p[2];
    make_pair(sv);
    ck_assert_int_eq(pipe(p), 0); /* inheritable, must be closed */
    ipc__proc_test_fd_fallback = mode;
    char report[2048], want[128];
    ipc_proc *proc = run_fdcheck(sv[1], sv[0], NULL, 0, report, sizeof report);
    ipc__proc_test_fd_fallback = 0;
    snprintf(want, sizeof want, "open=0,1,2,3, fds= chan=3 type=test ppid=%d prefs=0\n",
             (int)getpid());
    ck_assert_str_eq(report, want);
    expect_clean_exit(proc);
    close(p[0]);
    close(p[1]);
    close(sv[0]);
    rig_assert_no_leaks();
}

START_TEST(proc_close_fallback_proc_self_fd)
{
    fallback_case(1);
}
END_TEST

START_TEST(proc_close_fallback_every_number)
{
    fallback_case(2);
}
END_TEST

START_TEST(proc_keep_list_fd_survives_at_its_number)
{
    rig_fd_mark();
    int sv[2], p[2];
    make_pair(sv);
    ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
    ipc_proc_fd keep = {p[1], -1};
    char report[2048], want[160];
    ipc_proc *proc = run_fdcheck(sv[1], sv[0], &keep, 1, report, sizeof report);
    ck_assert_int_eq(ipc_proc_child_fd(proc, 0), p[1]);
    ck_assert_int_eq(ipc_proc_child_fd(proc, 1), -1);
    snprintf(want, sizeof want, "open=0,1,2,3,%d, fds=%d, chan=3 type=test ppid=%d prefs=0\n", p[1],
             p[1], (int)getpid());
    ck_assert_str_eq(report, want);
    close(p[1]);
    ck_assert_int_eq(peer_byte(p[0]), 'k');
    expect_clean_exit(proc);
    close(p[0]);
    close(sv[0]);
    rig_assert_no_leaks();
}
END_TEST

START_TEST(proc_channel_source_already_on_fd3)
{
    int hold = hold_fd3();
    rig_fd_mark();
    int sv[2];
    make_pair(sv);
    ipc_proc *proc = NULL;
    ck_assert_int_eq(launch_with_fd3(sv[1], 3, NULL, 0, &proc), 0);
    char report[2048], want[128];
    read_report(sv[0], report, sizeof report);
    snprintf(want, sizeof want, "open=0,1,2,3, fds= chan=3 type=test ppid=%d prefs=0\n",
             (int)getpid());
    ck_assert_str_eq(report, want);
    expect_clean_exit(proc);
    close(sv[0]);
    rig_assert_no_leaks();
    if (hold >= 0)
        close(hold);
}
END_TEST

START_TEST(proc_keep_fd_sitting_on_3_is_moved)
{
    int hold = hold_fd3();
    rig_fd_mark();
    int sv[2], p[2];
    make_pair(sv);
    ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
    ipc_proc_fd keep = {3, -1};
    ipc_proc *proc = NULL;
    ck_assert_int_eq(launch_with_fd3(p[1], sv[1], &keep, 1, &proc), 0);
    ck_assert_int_eq(ipc_proc_child_fd(proc, 0), IPC_CHILD_FIRST_FREE_FD);
    char report[2048], want[160];
    read_report(sv[0], report, sizeof report);
    snprintf(want, sizeof want, "open=0,1,2,3,6, fds=6, chan=3 type=test ppid=%d prefs=0\n",
             (int)getpid());
    ck_assert_str_eq(report, want);
    ck_assert_int_eq(peer_byte(p[0]), 'k'); /* the kept fd is the same pipe */
    expect_clean_exit(proc);
    close(p[0]);
    close(sv[0]);
    rig_assert_no_leaks();
    if (hold >= 0)
        close(hold);
}
END_TEST

START_TEST(proc_channel_and_keep_fd_swap_places)
{
    int hold = hold_fd3();
    rig_fd_mark();
    int sv[2], p[2];
    make_pair(sv);
    ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
    /* The channel's client end sits at n and must go to 3, while the fd on 3
     * must go to n. */
    int n = fcntl(sv[1], F_DUPFD_CLOEXEC, 10);
    ck_assert_int_ge(n, 10);
    close(sv[1]);
    ipc_proc_fd keep = {3, n};
    ipc_proc *proc = NULL;
    ck_assert_int_eq(launch_with_fd3(p[1], n, &keep, 1, &proc), 0);
    ck_assert_int_eq(ipc_proc_child_fd(proc, 0), n);
    char report[2048], want[160];
    read_report(sv[0], report, sizeof report);
    snprintf(want, sizeof want, "open=0,1,2,3,%d, fds=%d, chan=3 type=test ppid=%d prefs=0\n", n, n,
             (int)getpid());
    ck_assert_str_eq(report, want);
    ck_assert_int_eq(peer_byte(p[0]), 'k');
    expect_clean_exit(proc);
    close(p[0]);
    close(sv[0]);
    rig_assert_no_leaks();
    if (hold >= 0)
        close(hold);
}
END_TEST

START_TEST(proc_bad_options_refused_and_channel_taken)
{
    rig_fd_mark();
    int sv[2];
    make_pair(sv);
    rig_proc_launch l;
    ipc_proc *proc = NULL;
    rig_proc_prepare(&l, "fdcheck", NULL, "no-such-type", sv[1]);
    ck_assert_int_eq(ipc_proc_launch(&l.opts, &proc, NULL), -EINVAL);
    ck_assert_int_eq(fcntl(sv[1], F_GETFD), -1);
    ck_assert_ptr_null(proc);
    close(sv[0]);

    make_pair(sv);
    int keepfd = dup(0);
    ipc_proc_fd bad = {keepfd, IPC_CHILD_PREFS_FD}; /* reserved */
    rig_proc_prepare(&l, "fdcheck", NULL, "test", sv[1]);
    l.opts.fds = &bad;
    l.opts.nfds = 1;
    ck_assert_int_eq(ipc_proc_launch(&l.opts, &proc, NULL), -EINVAL);
    ck_assert_int_eq(fcntl(sv[1], F_GETFD), -1);
    ck_assert_int_ge(fcntl(keepfd, F_GETFD), 0); /* extra fds stay the caller's */
    close(keepfd);
    close(sv[0]);
    rig_assert_no_leaks();
}
END_TEST

/* ================= exec failures ================= */

static void exec_failure_case(const char *path, int want_errno)
{
    int sv[2];
    make_pair(sv);
    rig_proc_launch l;
    rig_proc_prepare(&l, "fdcheck", NULL, "test", sv[1]);
    l.opts.path = path;
    ipc_proc *proc = NULL;
    ipc_proc_launch_result res;
    ck_assert_int_eq(ipc_proc_launch(&l.opts, &proc, &res), IPC_E_EXEC);
    ck_assert_int_eq(res.err, IPC_E_EXEC);
    ck_assert_int_eq(res.exec_errno, want_errno);
    ck_assert_str_eq(res.step, "execve");
    ck_assert_ptr_null(proc);
    close(sv[0]);
}

START_TEST(proc_exec_enoent_reported)
{
    rig_fd_mark();
    exec_failure_case("/nonexistent/ipcrig-child", ENOENT);
    rig_assert_no_leaks();
}
END_TEST

START_TEST(proc_exec_eacces_reported)
{
    rig_fd_mark();
    char *dir = rig_tempdir();
    char path[600];
    snprintf(path, sizeof path, "%s/not-executable", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(rig_write_all(fd, "#!/bin/sh\n", 10), 0);
    close(fd);
    exec_failure_case(path, EACCES); /* no execute bit at all: EACCES even for root */
    exec_failure_case(dir, EACCES);  /* a directory */
    rig_rmdir_all(dir);
    rig_assert_no_leaks();
}
END_TEST

/* ================= build id ================= */

START_TEST(proc_build_id_mismatch_reported)
{
    rig_fd_mark();
    char *dir = rig_tempdir();
    int sv[2];
    make_pair(sv);
    rig_proc_launch l;
    rig_proc_prepare(&l, "fdcheck", NULL, "test", sv[1]);
    l.opts.build_id = "some-other-build";
    l.opts.crash_dir = dir;
    ipc_proc *proc;
    ck_assert_int_eq(ipc_proc_launch(&l.opts, &proc, NULL), 0); /* the exec itself works */
    ipc_crash_info info;
    ck_assert_int_eq(ipc_proc_wait(proc, T_MS, &info), 0);
    ck_assert(info.exited);
    ck_assert_int_eq(info.exit_status, IPC_CHILD_EXIT_BUILD_ID);
    ck_assert_int_eq(info.error, IPC_E_BUILD_ID);
    const char *path;
    ipc_proc_exit_info(proc, &path);
    char *text = rig_slurp(path, NULL);
    ck_assert_ptr_nonnull(text);
    ck_assert_ptr_nonnull(strstr(text, "\nerror: IPC_E_BUILD_ID\n"));
    free(text);
    char c;
    ck_assert_int_eq(rig_read_for(sv[0], &c, 1, T_MS), 0); /* it never got to report */
    ipc_proc_free(proc);
    close(sv[0]);
    rig_rmdir_all(dir);
    rig_assert_no_leaks();
}
END_TEST

START_TEST(proc_build_id_is_stable_and_printable)
{
    const char *id = ipc_build_id();
    ck_assert_ptr_eq(id, ipc_build_id());
    ck_assert_uint_gt(strlen(id), 0);
    for (const char *c = id; *c; c++)
        ck_assert(*c >= 0x20 && *c < 0x7f);
}
END_TEST

/* ================= prefs ================= */

START_TEST(proc_prefs_roundtrip_through_memfd)
{
    rig_fd_mark();
    ipc_prefs *prefs;
    ck_assert_int_eq(ipc_prefs_new(&prefs), 0);
    ck_assert_int_eq(ipc_prefs_set(prefs, "dom.ipc.processCount", "8"), 0);
    ck_assert_int_eq(ipc_prefs_set(prefs, "browser.tabs.remote", "true"), 0);
    ck_assert_int_eq(ipc_prefs_set(prefs, "a", "value with spaces = and \xc3\xa9"), 0);
    ck_assert_int_eq(ipc_prefs_set(prefs, "empty", ""), 0);
    ck_assert_int_eq(ipc_prefs_set(prefs, "a", "replaced"), 0);
    ck_assert_uint_eq(ipc_prefs_count(prefs), 4);
    ck_assert_str_eq(ipc_prefs_get(prefs, "a"), "replaced");
    uint8_t *mine;
    size_t mine_len;
    ck_assert_int_eq(ipc_prefs_encode(prefs, &mine, &mine_len), 0);

    int sv[2];
    make_pair(sv);
    rig_proc_launch l;
    rig_proc_prepare(&l, "prefs", NULL, "test", sv[1]);
    l.opts.prefs = prefs;
    ipc_proc *proc;
    ck_assert_int_eq(ipc_proc_launch(&l.opts, &proc, NULL), 0);
    uint8_t got[4096];
    ssize_t n = rig_read_for(sv[0], got, sizeof got, T_MS);
    ck_assert_int_eq(n, (ssize_t)mine_len);
    ck_assert(memcmp(got, mine, mine_len) == 0);
    expect_clean_exit(proc);
    free(mine);
    ipc_prefs_free(prefs);
    close(sv[0]);
    rig_assert_no_leaks();
}
END_TEST

START_TEST(prefs_set_rejects_bad_keys_and_values)
{
    ipc_prefs *p;
    ck_assert_int_eq(ipc_prefs_new(&p), 0);
    ck_assert_int_eq(ipc_prefs_set(p, "", "x"), -EINVAL);
    ck_assert_int_eq(ipc_prefs_set(p, "has space", "x"), -EINVAL);
    ck_assert_int_eq(ipc_prefs_set(p, "k=v", "x"), -EINVAL);
    ck_assert_int_eq(ipc_prefs_set(p, "tab\t", "x"), -EINVAL);
    char big[IPC_PREFS_MAX_KEY + 2];
    memset(big, 'k', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    ck_assert_int_eq(ipc_prefs_set(p, big, "x"), -EINVAL);
    big[IPC_PREFS_MAX_KEY] = '\0';
    ck_assert_int_eq(ipc_prefs_set(p, big, "x"), 0);
    char *val = malloc(IPC_PREFS_MAX_VALUE + 2);
    memset(val, 'v', IPC_PREFS_MAX_VALUE + 1);
    val[IPC_PREFS_MAX_VALUE + 1] = '\0';
    ck_assert_int_eq(ipc_prefs_set(p, "v", val), -EINVAL);
    val[IPC_PREFS_MAX_VALUE] = '\0';
    ck_assert_int_eq(ipc_prefs_set(p, "v", val), 0);
    free(val);
    const char *k, *v;
    ck_assert_int_eq(ipc_prefs_at(p, 0, &k, &v), 0);
    ck_assert_int_eq(ipc_prefs_at(p, 2, &k, &v), -ERANGE);
    ck_assert_ptr_null(ipc_prefs_get(p, "missing"));
    ipc_prefs_free(p);
}
END_TEST

/* Builds a blob by hand: magic, version, count, then pairs. */
static size_t blob(uint8_t *out, uint32_t magic, uint32_t version, uint32_t count,
                   const char *const *strs, size_t nstrs)
{
    ipc_pickle w;
    ipc_pickle_init(&w);
    ipc_pickle_write_u32(&w, magic);
    ipc_pickle_write_u32(&w, version);
    ipc_pickle_write_u32(&w, count);
    for (size_t i = 0; i < nstrs; i++)
        ipc_pickle_write_bytes(&w, strs[i], strlen(strs[i])); /* bytes: may carry a NUL */
    size_t n = ipc_pickle_size(&w);
    memcpy(out, ipc_pickle_data(&w), n);
    ipc_pickle_dispose(&w);
    return n;
}

static int decode(const uint8_t *b, size_t n)
{
    ipc_prefs *p = NULL;
    int rc = ipc_prefs_decode(&p, b, n);
    if (rc == 0)
        ipc_prefs_free(p);
    else
        ck_assert_ptr_null(p);
    return rc;
}

START_TEST(prefs_hostile_blobs_rejected)
{
    uint8_t b[4096];
    const char *good[] = {"a.b", "1", "c", "two"};
    size_t n = blob(b, IPC_PREFS_MAGIC, IPC_PREFS_VERSION, 2, good, 4);
    ck_assert_int_eq(decode(b, n), 0);
    /* Every truncation fails, none crashes. */
    for (size_t cut = 0; cut < n; cut++)
        ck_assert_int_lt(decode(b, cut), 0);
    /* Trailing bytes. */
    b[n] = b[n + 1] = b[n + 2] = b[n + 3] = 0;
    ck_assert_int_eq(decode(b, n + 4), IPC_E_TRAILING);
    ck_assert_int_eq(decode(b, blob(b, 0x12345678, IPC_PREFS_VERSION, 2, good, 4)), IPC_E_PARAM);
    ck_assert_int_eq(decode(b, blob(b, IPC_PREFS_MAGIC, 2, 2, good, 4)), IPC_E_PARAM);
    /* A count the bytes cannot hold, and one over the limit. */
    ck_assert_int_eq(decode(b, blob(b, IPC_PREFS_MAGIC, IPC_PREFS_VERSION, 3, good, 4)),
                     IPC_E_TRUNCATED);
    ck_assert_int_eq(decode(b, blob(b, IPC_PREFS_MAGIC, IPC_PREFS_VERSION, 0xffffffffu, good, 4)),
                     IPC_E_BAD_SIZE);
    const char *dup[] = {"k", "1", "k", "2"};
    ck_assert_int_eq(decode(b, blob(b, IPC_PREFS_MAGIC, IPC_PREFS_VERSION, 2, dup, 4)),
                     IPC_E_PARAM);
    const char *badkey[] = {"a key", "1"};
    ck_assert_int_eq(decode(b, blob(b, IPC_PREFS_MAGIC, IPC_PREFS_VERSION, 1, badkey, 2)),
                     IPC_E_PARAM);
    const char *emptykey[] = {"", "1"};
    ck_assert_int_eq(decode(b, blob(b, IPC_PREFS_MAGIC, IPC_PREFS_VERSION, 1, emptykey, 2)),
                     IPC_E_PARAM);
    /* A NUL inside a string. */
    n = blob(b, IPC_PREFS_MAGIC, IPC_PREFS_VERSION, 1, good, 2);
    b[16] = '\0'; /* "a.b" -> "a\0b" */
    ck_assert_int_eq(decode(b, n), IPC_E_BAD_STRING);
    /* A key over the limit. */
    char longkey[IPC_PREFS_MAX_KEY + 2];
    memset(longkey, 'k', sizeof longkey - 1);
    longkey[sizeof longkey - 1] = '\0';
    const char *lk[] = {longkey, "1"};
    ck_assert_int_eq(decode(b, blob(b, IPC_PREFS_MAGIC, IPC_PREFS_VERSION, 1, lk, 2)),
                     IPC_E_BAD_SIZE);
    /* A blob over the size limit is refused before it is read. */
    ck_assert_int_eq(ipc_prefs_decode(&(ipc_prefs *){NULL}, b, IPC_PREFS_MAX_BLOB + 1),
                     IPC_E_BAD_SIZE);
}
END_TEST

START_TEST(prefs_fd_must_be_sealed_and_sized)
{
    rig_fd_mark();
    ipc_prefs *p, *q = NULL;
    ck_assert_int_eq(ipc_prefs_new(&p), 0);
    ck_assert_int_eq(ipc_prefs_set(p, "x", "y"), 0);
    int fd;
    size_t len;
    ck_assert_int_eq(ipc_prefs_to_memfd(p, &fd, &len), 0);
    ck_assert_int_eq(write(fd, "z", 1), -1); /* sealed */
    ck_assert_int_eq(ipc_prefs_from_fd(&q, fd, len + 1), IPC_E_BAD_SIZE);
    ck_assert_int_eq(ipc_prefs_from_fd(&q, fd, len), 0);
    ck_assert_str_eq(ipc_prefs_get(q, "x"), "y");
    ipc_prefs_free(q);
    close(fd);
    /* The same bytes in an unsealed memfd, and in a pipe. */
    uint8_t *b;
    ck_assert_int_eq(ipc_prefs_encode(p, &b, &len), 0);
    fd = memfd_create("unsealed", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    ck_assert_int_eq(rig_write_all(fd, b, len), 0);
    ck_assert_int_eq(ipc_prefs_from_fd(&q, fd, len), -EPERM);
    ck_assert_int_eq(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE), 0); /* not enough: it may grow */
    ck_assert_int_eq(ipc_prefs_from_fd(&q, fd, len), -EPERM);
    close(fd);
    int pp[2];
    ck_assert_int_eq(pipe2(pp, O_CLOEXEC), 0);
    ck_assert_int_eq(ipc_prefs_from_fd(&q, pp[0], len), -EPERM);
    close(pp[0]);
    close(pp[1]);
    free(b);
    ipc_prefs_free(p);
    rig_assert_no_leaks();
}
END_TEST

/* ================= child arguments ================= */

static int parse(const char *const *v)
{
    int n = 0;
    while (v[n])
        n++;
    ipc_child_args a;
    return ipc_child_parse_args(n, (char *const *)v, &a);
}

START_TEST(proc_child_args_strict)
{
    const char *ok[] = {"prog",    "app-arg",        "-ipcChild", "-parentPid",
                        "42",      "-parentBuildId", "b 1",       "-processType",
                        "content", "-channelFd",     "3",         "-prefsHandle",
                        "4",       "-prefsLen",      "16",        "-crashInfoHandle",
                        "5",       "-fds",           "6,2,9",     NULL};
    ipc_child_args a;
    ck_assert_int_eq(ipc_child_parse_args(19, (char *const *)ok, &a), 0);
    ck_assert_int_eq(a.app_argc, 2);
    ck_assert_int_eq(a.parent_pid, 42);
    ck_assert_str_eq(a.build_id, "b 1");
    ck_assert_str_eq(a.process_type, "content");
    ck_assert_int_eq(a.channel_fd, 3);
    ck_assert_int_eq(a.prefs_fd, 4);
    ck_assert_uint_eq(a.prefs_len, 16);
    ck_assert_int_eq(a.crash_fd, 5);
    ck_assert_uint_eq(a.nfds, 3);
    ck_assert_int_eq(a.fds[2], 9);

#define BAD(...) ck_assert_int_eq(parse((const char *const[]){__VA_ARGS__, NULL}), IPC_E_PARAM)
#define HEAD     "p", "-ipcChild", "-parentBuildId", "b", "-processType", "test"
    BAD("p", "-parentPid", "1"); /* no marker */
    BAD(HEAD);                   /* no pid */
    BAD(HEAD, "-parentPid", "0");
    BAD(HEAD, "-parentPid", "-5");
    BAD(HEAD, "-parentPid", "12a");
    BAD(HEAD, "-parentPid", "012");
    BAD(HEAD, "-parentPid", "99999999999999999999");
    BAD(HEAD, "-parentPid", "1", "-parentPid", "1");   /* repeated */
    BAD(HEAD, "-parentPid", "1", "-bogus", "1");       /* unknown */
    BAD(HEAD, "-parentPid");                           /* no value */
    BAD(HEAD, "-parentPid", "1", "-channelFd", "4");   /* fixed fds only */
    BAD(HEAD, "-parentPid", "1", "-prefsHandle", "4"); /* no length */
    BAD(HEAD, "-parentPid", "1", "-prefsLen", "4");    /* no handle */
    BAD(HEAD, "-parentPid", "1", "-prefsHandle", "4", "-prefsLen", "99999999");
    BAD(HEAD, "-parentPid", "1", "-crashInfoHandle", "3");
    BAD(HEAD, "-parentPid", "1", "-fds", "");
    BAD(HEAD, "-parentPid", "1", "-fds", "1,,2");
    BAD(HEAD, "-parentPid", "1", "-fds", "1,");
    BAD(HEAD, "-parentPid", "1", "-fds", "x");
    BAD("p", "-ipcChild", "-parentPid", "1", "-parentBuildId", "b", "-processType", "Content");
    BAD("p", "-ipcChild", "-parentPid", "1", "-parentBuildId", "b", "-processType",
        "a-type-name-that-is-far-too-long-for-us");
    BAD("p", "-ipcChild", "-parentPid", "1", "-parentBuildId", "b\n", "-processType", "test");
    BAD("p", "-ipcChild", "-parentPid", "1", "-parentBuildId", "", "-processType", "test");
#undef BAD
#undef HEAD
    /* Too many fds. */
    char list[IPC_PROC_MAX_FDS * 4 + 8] = "";
    for (unsigned i = 0; i <= IPC_PROC_MAX_FDS; i++)
        strcat(list, i ? ",7" : "7");
    const char *many[] = {"p", "-ipcChild",    "-parentPid", "1",    "-parentBuildId",
                          "b", "-processType", "test",       "-fds", list,
                          NULL};
    ck_assert_int_eq(parse(many), IPC_E_PARAM);
}
END_TEST

START_TEST(proc_child_init_rejects_unknown_type)
{
    const char *v[] = {
        "p",     "-ipcChild", "-parentPid", "1", "-parentBuildId", ipc_build_id(), "-processType",
        "bogus", NULL};
    ipc_child_info info;
    ck_assert_int_eq(ipc_child_init(8, (char **)v, &info), IPC_E_PARAM);
    ck_assert_int_eq(info.exit_code, IPC_CHILD_EXIT_ARGS);
    ck_assert_ptr_null(info.prefs);
}
END_TEST

/* ================= debug pause ================= */

/* Launches a sleeper with `env` and stderr on a pipe; returns the handle and
 * checks the "debug me @ <pid>" line arrives before the child's 'R'. */
static ipc_proc *launch_paused(const char *const *extra_env, int *chan, int *err_r)
{
    int sv[2], ep[2];
    make_pair(sv);
    ck_assert_int_eq(pipe2(ep, O_CLOEXEC), 0);
    char **env = rig_env_with(extra_env);
    rig_proc_launch l;
    rig_proc_prepare(&l, "sleeper", NULL, "test", sv[1]);
    ipc_proc_fd err = {ep[1], STDERR_FILENO};
    l.opts.fds = &err;
    l.opts.nfds = 1;
    l.opts.envp = (const char *const *)env;
    ipc_proc *proc;
    ck_assert_int_eq(ipc_proc_launch(&l.opts, &proc, NULL), 0);
    rig_env_free(env);
    close(ep[1]);
    char text[512] = "";
    size_t at = 0;
    const char *line;
    while (!(line = strstr(text, "debug me @ ")) || !strchr(line, '\n')) {
        ssize_t n = rig_read_until(ep[0], text + at, sizeof text - 1 - at, '\n', T_MS);
        ck_assert_int_gt(n, 0);
        at += (size_t)n;
        text[at] = '\0';
    }
    ck_assert_ptr_nonnull(strstr(text, "CHILDCHILDCHILDCHILD (process type test)\n"));
    char want[64];
    snprintf(want, sizeof want, "debug me @ %d\n", (int)ipc_proc_pid(proc));
    ck_assert_str_eq(line, want);
    /* It paused: the line came first and the child is not ready yet. */
    struct pollfd pfd = {sv[0], POLLIN, 0};
    ck_assert_int_eq(poll(&pfd, 1, 0), 0);
    *chan = sv[0];
    *err_r = ep[0];
    return proc;
}

START_TEST(proc_debug_pause_prints_pid_then_sleeps)
{
    rig_fd_mark();
    int chan, err;
    const char *env[] = {"IPC_DEBUG_CHILD_PAUSE=2", "IPC_DEBUG_CHILD_PROCESS=", NULL};
    ipc_proc *proc = launch_paused(env, &chan, &err);
    char r = 0;
    ck_assert_int_eq(rig_read_for(chan, &r, 1, T_MS), 1); /* then it carries on */
    ck_assert_int_eq(r, 'R');
    ck_assert_int_eq(ipc_proc_kill(proc, SIGTERM), 0);
    ipc_crash_info info;
    ck_assert_int_eq(ipc_proc_wait(proc, T_MS, &info), 0);
    ck_assert_int_eq(info.signal, SIGTERM);
    ipc_proc_free(proc);
    close(chan);
    close(err);
    rig_assert_no_leaks();
}
END_TEST

START_TEST(proc_debug_child_process_pauses_by_default)
{
    rig_fd_mark();
    int chan, err;
    const char *env[] = {"IPC_DEBUG_CHILD_PROCESS=1", "IPC_DEBUG_CHILD_PAUSE=", NULL};
    ipc_proc *proc = launch_paused(env, &chan, &err);
    /* The default pause is 30 s; the child is asleep in it. Free kills it. */
    ipc_proc_free(proc);
    char r;
    ck_assert_int_eq(rig_read_for(chan, &r, 1, T_MS), 0); /* EOF: it never got ready */
    close(chan);
    close(err);
    rig_assert_no_leaks();
}
END_TEST

/* ================= lifetime ================= */

START_TEST(proc_parent_death_takes_the_grandchild)
{
    rig_fd_mark();
    /* Orphans come to us instead of init, so we can reap and inspect it. */
    ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    int sv[2];
    make_pair(sv);
    rig_proc_launch l;
    rig_proc_prepare(&l, "middle", NULL, "main", sv[1]);
    ipc_proc *middle;
    ck_assert_int_eq(ipc_proc_launch(&l.opts, &middle, NULL), 0);
    char line[32];
    ssize_t n = rig_read_until(sv[0], line, sizeof line - 1, '\n', T_MS);
    ck_assert_int_gt(n, 1);
    line[n] = '\0';
    pid_t gc = (pid_t)atoi(line);
    ck_assert_int_gt(gc, 0);
    ck_assert_int_eq(ipc_proc_kill(middle, SIGKILL), 0);
    ipc_crash_info info;
    ck_assert_int_eq(ipc_proc_wait(middle, T_MS, &info), 0);
    ck_assert_int_eq(info.signal, SIGKILL);
    /* The grandchild is ours now (subreaper); it must die without help. */
    int status = 0;
    pid_t r = 0;
    for (int i = 0; i < T_MS / 10 && r == 0; i++) {
        r = waitpid(gc, &status, WNOHANG);
        if (r == 0)
            usleep(10 * 1000);
    }
    if (r == 0) {
        kill(gc, SIGKILL);
        waitpid(gc, &status, 0);
    }
    ck_assert_msg(r == gc, "grandchild outlived its parent (waitpid %d)", (int)r);
    ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    ipc_proc_free(middle);
    close(sv[0]);
    prctl(PR_SET_CHILD_SUBREAPER, 0);
    rig_assert_no_leaks();
}
END_TEST

START_TEST(proc_free_kills_and_reaps_a_running_child)
{
    rig_fd_mark();
    char *dir = rig_tempdir();
    int sv[2];
    make_pair(sv);
    rig_proc_launch l;
    rig_proc_prepare(&l, "sleeper", NULL, "test", sv[1]);
    l.opts.crash_dir = dir;
    ipc_proc *proc;
    ck_assert_int_eq(ipc_proc_launch(&l.opts, &proc, NULL), 0);
    char r;
    ck_assert_int_eq(rig_read_for(sv[0], &r, 1, T_MS), 1);
    pid_t pid = ipc_proc_pid(proc);
    ipc_proc_free(proc);
    ck_assert_int_eq(kill(pid, 0), -1); /* gone, and reaped: no zombie to signal */
    ck_assert_int_eq(errno, ESRCH);
    close(sv[0]);
    ck_assert_int_eq(rmdir(dir), 0); /* a kill we asked for writes no report */
    free(dir);
    rig_assert_no_leaks();
}
END_TEST

START_TEST(proc_wait_times_out_then_reaps)
{
    rig_fd_mark();
    int sv[2];
    make_pair(sv);
    rig_proc_launch l;
    rig_proc_prepare(&l, "sleeper", NULL, "test", sv[1]);
    ipc_proc *proc;
    ck_assert_int_eq(ipc_proc_launch(&l.opts, &proc, NULL), 0);
    char r;
    ck_assert_int_eq(rig_read_for(sv[0], &r, 1, T_MS), 1);
    ipc_crash_info info;
    ck_assert_int_eq(ipc_proc_wait(proc, 0, &info), IPC_E_TIMEOUT);
    ck_assert(!ipc_proc_reaped(proc));
    ck_assert_ptr_null(ipc_proc_exit_info(proc, NULL));
    ck_assert_int_eq(ipc_proc_kill(proc, SIGKILL), 0);
    ck_assert_int_eq(ipc_proc_wait(proc, -1, &info), 0);
    ck_assert_int_eq(info.signal, SIGKILL);
    ck_assert_int_eq(ipc_proc_kill(proc, SIGKILL), -ESRCH);
    ck_assert_int_eq(ipc_proc_wait(proc, 0, &info), 0); /* reaped: answers at once */
    ipc_proc_free(proc);
    close(sv[0]);
    rig_assert_no_leaks();
}
END_TEST

START_TEST(proc_exit_status_without_pidfd)
{
    rig_fd_mark();
    ipc__proc_test_no_pidfd = 1;
    int sv[2];
    make_pair(sv);
    rig_proc_launch l;
    rig_proc_prepare(&l, "exit", "3", "test", sv[1]);
    ipc_proc *proc;
    ck_assert_int_eq(ipc_proc_launch(&l.opts, &proc, NULL), 0);
    ipc__proc_test_no_pidfd = 0;
    ipc_crash_info info;
    ck_assert_int_eq(ipc_proc_wait(proc, T_MS, &info), 0);
    ck_assert(info.exited);
    ck_assert_int_eq(info.exit_status, 3);
    ck_assert_int_eq(info.error, 0);
    ck_assert_int_eq(info.pid, ipc_proc_pid(proc));
    ck_assert_str_eq(info.process_type, "test");
    ipc_proc_free(proc);
    close(sv[0]);
    rig_assert_no_leaks();
}
END_TEST

START_TEST(proc_launch_without_channel)
{
    rig_fd_mark();
    rig_proc_launch l;
    rig_proc_prepare(&l, "exit", "0", "test", -1);
    ipc_proc *proc;
    ck_assert_int_eq(ipc_proc_launch(&l.opts, &proc, NULL), 0);
    expect_clean_exit(proc);
    rig_assert_no_leaks();
}
END_TEST

/* ================= asynchronous launch and watching (on a loop) ================= */

/* Runs `loop` on this thread until *flag is set or T_MS passes. */
static void run_until(ipc_loop *loop, const int *flag)
{
    for (int i = 0; i < T_MS / 50 && !*flag; i++)
        ck_assert_int_eq(ipc_loop_run_once(loop, 50), 0);
    ck_assert_msg(*flag, "the loop never called back");
}

struct launched {
    int done;
    ipc_proc_launch_result res;
    ipc_proc *proc;
    int on_loop_thread;
    pthread_t thread;
    ipc_loop *loop;
    int note[2]; /* written when done, for a waiter on another thread */
};

static void on_launched(void *ctx, const ipc_proc_launch_result *res, ipc_proc *proc)
{
    struct launched *l = ctx;
    l->res = *res;
    l->proc = proc;
    l->on_loop_thread = ipc_loop_on_thread(l->loop);
    l->thread = pthread_self();
    l->done = 1;
    if (l->note[1] >= 0)
        rig_write_all(l->note[1], "d", 1);
}

START_TEST(proc_async_launch_calls_back_on_the_loop_thread)
{
    rig_fd_mark();
    ipc_iothread *io;
    ck_assert_int_eq(ipc_iothread_start(&io), 0);
    struct launched l = {.loop = ipc_iothread_loop(io)};
    ck_assert_int_eq(pipe2(l.note, O_CLOEXEC), 0);
    int sv[2];
    make_pair(sv);
    rig_proc_launch rl;
    rig_proc_prepare(&rl, "fdcheck", NULL, "test", sv[1]);
    /* From this thread; the callback must come on the IO thread. */
    ck_assert_int_eq(ipc_proc_launch_async(l.loop, &rl.opts, on_launched, &l), 0);
    char d;
    ck_assert_int_eq(rig_read_for(l.note[0], &d, 1, T_MS), 1);
    ck_assert_int_eq(l.res.err, 0);
    ck_assert_ptr_nonnull(l.proc);
    ck_assert(l.on_loop_thread);
    ck_assert(!pthread_equal(l.thread, pthread_self()));
    char report[2048], want[128];
    read_report(sv[0], report, sizeof report);
    snprintf(want, sizeof want, "open=0,1,2,3, fds= chan=3 type=test ppid=%d prefs=0\n",
             (int)getpid());
    ck_assert_str_eq(report, want);
    expect_clean_exit(l.proc); /* not watched: this thread may wait and free */
    ipc_iothread_stop(io);
    close(l.note[0]);
    close(l.note[1]);
    close(sv[0]);
    rig_assert_no_leaks();
}
END_TEST

START_TEST(proc_async_launch_reports_exec_failure)
{
    rig_fd_mark();
    ipc_loop *loop;
    ck_assert_int_eq(ipc_loop_new(&loop), 0);
    struct launched l = {.loop = loop, .note = {-1, -1}};
    int sv[2];
    make_pair(sv);
    rig_proc_launch rl;
    rig_proc_prepare(&rl, "fdcheck", NULL, "test", sv[1]);
    rl.opts.path = "/nonexistent/ipcrig-child";
    ck_assert_int_eq(ipc_proc_launch_async(loop, &rl.opts, on_launched, &l), 0);
    ck_assert_int_eq(l.done, 0); /* never before the loop runs */
    run_until(loop, &l.done);
    ck_assert_int_eq(l.res.err, IPC_E_EXEC);
    ck_assert_int_eq(l.res.exec_errno, ENOENT);
    ck_assert_str_eq(l.res.step, "execve");
    ck_assert_ptr_null(l.proc);
    ck_assert(l.on_loop_thread);
    ipc_loop_free(loop);
    close(sv[0]);
    rig_assert_no_leaks();
}
END_TEST

START_TEST(proc_async_launch_bad_options_fail_at_once)
{
    rig_fd_mark();
    ipc_loop *loop;
    ck_assert_int_eq(ipc_loop_new(&loop), 0);
    struct launched l = {.loop = loop, .note = {-1, -1}};
    int sv[2];
    make_pair(sv);
    rig_proc_launch rl;
    rig_proc_prepare(&rl, "fdcheck", NULL, "nope", sv[1]);
    ck_assert_int_eq(ipc_proc_launch_async(loop, &rl.opts, on_launched, &l), -EINVAL);
    ck_assert_int_eq(fcntl(sv[1], F_GETFD), -1); /* taken anyway */
    ck_assert_int_eq(ipc_loop_run_once(loop, 0), 0);
    ck_assert_int_eq(l.done, 0); /* and no callback, ever */
    ipc_loop_free(loop);
    close(sv[0]);
    rig_assert_no_leaks();
}
END_TEST

struct exits {
    int n;
    ipc_crash_info info[2];
    char path[2][PATH_MAX];
    pid_t pid[2];
    ipc_proc *other; /* killed when the first one is reported */
};

static void on_exit_cb(void *ctx, ipc_proc *proc, const ipc_crash_info *info,
                       const char *report_path)
{
    struct exits *e = ctx;
    ck_assert_int_lt(e->n, 2);
    e->info[e->n] = *info;
    snprintf(e->path[e->n], sizeof e->path[0], "%s", report_path);
    e->pid[e->n] = ipc_proc_pid(proc);
    e->n++;
    if (e->other && e->other != proc) {
        ck_assert_int_eq(ipc_proc_kill(e->other, SIGKILL), 0);
        e->other = NULL;
    }
    ipc_proc_free(proc); /* allowed inside the callback */
}

static int both_reported(const struct exits *e)
{
    return e->n == 2;
}

/* Two children watched on one loop: one exits 4 (a crash report), and its
 * callback kills the other (no report). */
static void watch_two(int no_pidfd)
{
    rig_fd_mark();
    char *dir = rig_tempdir();
    ipc_loop *loop;
    ck_assert_int_eq(ipc_loop_new(&loop), 0);
    ipc__proc_test_no_pidfd = no_pidfd;
    int sa[2], sb[2];
    make_pair(sa);
    make_pair(sb);
    rig_proc_launch la, lb;
    rig_proc_prepare(&la, "sleeper", NULL, "test", sb[1]);
    la.opts.crash_dir = dir;
    rig_proc_prepare(&lb, "exit", "4", "demo", sa[1]);
    lb.opts.crash_dir = dir;
    ipc_proc *sleeper, *exiter;
    ck_assert_int_eq(ipc_proc_launch(&la.opts, &sleeper, NULL), 0);
    char r;
    ck_assert_int_eq(rig_read_for(sb[0], &r, 1, T_MS), 1);
    ck_assert_int_eq(ipc_proc_launch(&lb.opts, &exiter, NULL), 0);
    ipc__proc_test_no_pidfd = 0;
    pid_t exiter_pid = ipc_proc_pid(exiter), sleeper_pid = ipc_proc_pid(sleeper);
    struct exits e = {.other = sleeper};
    ck_assert_int_eq(ipc_proc_watch(sleeper, loop, on_exit_cb, &e), 0);
    ck_assert_int_eq(ipc_proc_watch(exiter, loop, on_exit_cb, &e), 0);
    ck_assert_int_eq(ipc_proc_watch(exiter, loop, on_exit_cb, &e), IPC_E_STATE);
    ck_assert_int_eq(ipc_proc_wait(exiter, 0, NULL), IPC_E_STATE);
    for (int i = 0; i < T_MS / 50 && !both_reported(&e); i++)
        ck_assert_int_eq(ipc_loop_run_once(loop, 50), 0);
    ck_assert_int_eq(e.n, 2);
    ck_assert_int_eq(e.pid[0], exiter_pid);
    ck_assert(e.info[0].exited);
    ck_assert_int_eq(e.info[0].exit_status, 4);
    ck_assert_str_eq(e.info[0].process_type, "demo");
    char want[PATH_MAX];
    snprintf(want, sizeof want, "%s/ipc-crash-demo-%d.txt", dir, (int)exiter_pid);
    ck_assert_str_eq(e.path[0], want);
    ck_assert_int_eq(e.pid[1], sleeper_pid);
    ck_assert(!e.info[1].exited);
    ck_assert_int_eq(e.info[1].signal, SIGKILL);
    ck_assert_str_eq(e.path[1], ""); /* our own kill */
    ipc_loop_free(loop);
    close(sa[0]);
    close(sb[0]);
    rig_rmdir_all(dir);
    rig_assert_no_leaks();
}

START_TEST(proc_watch_reports_deaths_via_pidfd)
{
    watch_two(0);
}
END_TEST

START_TEST(proc_watch_reports_deaths_via_sigchld)
{
    watch_two(1);
}
END_TEST

START_TEST(proc_free_while_watched_drops_the_watch)
{
    rig_fd_mark();
    ipc_loop *loop;
    ck_assert_int_eq(ipc_loop_new(&loop), 0);
    for (int no_pidfd = 0; no_pidfd < 2; no_pidfd++) {
        ipc__proc_test_no_pidfd = no_pidfd;
        int sv[2];
        make_pair(sv);
        rig_proc_launch l;
        rig_proc_prepare(&l, "sleeper", NULL, "test", sv[1]);
        ipc_proc *proc;
        ck_assert_int_eq(ipc_proc_launch(&l.opts, &proc, NULL), 0);
        ipc__proc_test_no_pidfd = 0;
        struct exits e = {0};
        ck_assert_int_eq(ipc_proc_watch(proc, loop, on_exit_cb, &e), 0);
        ipc_proc_free(proc); /* kills, reaps, drops the watch */
        for (int i = 0; i < 4; i++)
            ck_assert_int_eq(ipc_loop_run_once(loop, 10), 0);
        ck_assert_int_eq(e.n, 0);
        close(sv[0]);
    }
    ipc_loop_free(loop);
    rig_assert_no_leaks();
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("proc");
    RIG_TCASE(s, "fd3_nothing_else", proc_channel_on_fd3_and_nothing_else_open, 30);
    RIG_TCASE(s, "fallback_proc", proc_close_fallback_proc_self_fd, 30);
    RIG_TCASE(s, "fallback_brute", proc_close_fallback_every_number, 30);
    RIG_TCASE(s, "keep_list", proc_keep_list_fd_survives_at_its_number, 30);
    RIG_TCASE(s, "source_on_3", proc_channel_source_already_on_fd3, 30);
    RIG_TCASE(s, "keep_on_3", proc_keep_fd_sitting_on_3_is_moved, 30);
    RIG_TCASE(s, "swap", proc_channel_and_keep_fd_swap_places, 30);
    RIG_TCASE(s, "bad_options", proc_bad_options_refused_and_channel_taken, 30);
    RIG_TCASE(s, "enoent", proc_exec_enoent_reported, 30);
    RIG_TCASE(s, "eacces", proc_exec_eacces_reported, 30);
    RIG_TCASE(s, "build_id_mismatch", proc_build_id_mismatch_reported, 30);
    RIG_TCASE(s, "build_id", proc_build_id_is_stable_and_printable, 10);
    RIG_TCASE(s, "prefs_roundtrip", proc_prefs_roundtrip_through_memfd, 30);
    RIG_TCASE(s, "prefs_set", prefs_set_rejects_bad_keys_and_values, 10);
    RIG_TCASE(s, "prefs_hostile", prefs_hostile_blobs_rejected, 30);
    RIG_TCASE(s, "prefs_sealed", prefs_fd_must_be_sealed_and_sized, 10);
    RIG_TCASE(s, "child_args", proc_child_args_strict, 10);
    RIG_TCASE(s, "child_unknown_type", proc_child_init_rejects_unknown_type, 10);
    RIG_TCASE(s, "debug_pause", proc_debug_pause_prints_pid_then_sleeps, 30);
    RIG_TCASE(s, "debug_default", proc_debug_child_process_pauses_by_default, 30);
    RIG_TCASE(s, "parent_death", proc_parent_death_takes_the_grandchild, 30);
    RIG_TCASE(s, "free_kills", proc_free_kills_and_reaps_a_running_child, 30);
    RIG_TCASE(s, "wait_timeout", proc_wait_times_out_then_reaps, 30);
    RIG_TCASE(s, "no_pidfd", proc_exit_status_without_pidfd, 30);
    RIG_TCASE(s, "no_channel", proc_launch_without_channel, 30);
    RIG_TCASE(s, "async_launch", proc_async_launch_calls_back_on_the_loop_thread, 30);
    RIG_TCASE(s, "async_exec_failure", proc_async_launch_reports_exec_failure, 30);
    RIG_TCASE(s, "async_bad_options", proc_async_launch_bad_options_fail_at_once, 30);
    RIG_TCASE(s, "watch_pidfd", proc_watch_reports_deaths_via_pidfd, 30);
    RIG_TCASE(s, "watch_sigchld", proc_watch_reports_deaths_via_sigchld, 30);
    RIG_TCASE(s, "watch_free", proc_free_while_watched_drops_the_watch, 30);
    return s;
}

int main(int argc, char **argv)
{
    return rig_test_main(argc, argv, suite, helpers);
}
