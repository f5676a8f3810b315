/* Unit tests for the seccomp sandbox: the policies, a forbidden syscall
 * reported as a crash naming it, forks refused outside the fork server, a
 * sandboxed child still doing what libipc needs (threads, epoll and eventfd
 * through libevent, socketpair I/O with fd passing both ways), and programs
 * compiled ahead of time (as the fork server does): the same BPF as compiled
 * in place, and the same verdicts in a process forked after compiling. */
#include "proctest.h"
#include "testutil.h"

#include "../../ipc/sandbox_internal.h"
#include "ipc/crash.h"
#include "ipc/errors.h"
#include "ipc/sandbox.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <fcntl.h>
#include <pthread.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define T_MS 10000

static const char *const all_types[] = {"content", "demo", "nuwa", "test"};

/* ================= fd passing ================= */

static int send_fd(int sock, int fd, char tag)
{
    char cbuf[CMSG_SPACE(sizeof(int))];
    memset(cbuf, 0, sizeof cbuf);
    struct iovec iov = {&tag, 1};
    struct msghdr m = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof fd);
    ssize_t n;
    do
        n = sendmsg(sock, &m, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    return n == 1 ? 0 : -1;
}

/* Returns the received fd (CLOEXEC) or -1; *tag is the byte it came with. */
static int recv_fd(int sock, char *tag)
{
    char cbuf[CMSG_SPACE(sizeof(int))];
    struct iovec iov = {tag, 1};
    struct msghdr m = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
    ssize_t n;
    do
        n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    if (n != 1 || !c || c->cmsg_type != SCM_RIGHTS || c->cmsg_len != CMSG_LEN(sizeof(int)))
        return -1;
    int fd;
    memcpy(&fd, CMSG_DATA(c), sizeof fd);
    return fd;
}

/* ================= helpers (run in the child) ================= */

static void no_core_files(void)
{
    struct rlimit rl = {0, 0};
    setrlimit(RLIMIT_CORE, &rl); /* before the sandbox: it refuses setting limits */
}

/* Makes a forbidden syscall: mount(2). */
static int h_forbidden(int argc, char **argv)
{
    no_core_files();
    ipc_child_info info;
    rig_proc_child_init(argc, argv, &info);
    ipc_child_info_dispose(&info); /* the prefs are not needed */
    syscall(SYS_mount, "none", "/nonexistent", "tmpfs", 0ul, NULL);
    return 0; /* not reached: the sandbox kills us */
}

/* Forks a child that exits 7 and reaps it: 0 when that worked. */
static int h_fork(int argc, char **argv)
{
    no_core_files();
    ipc_child_info info;
    rig_proc_child_init(argc, argv, &info);
    ipc_child_info_dispose(&info); /* the prefs are not needed */
    pid_t pid = fork();
    if (pid == 0)
        _exit(7);
    int status;
    if (pid < 0 || waitpid(pid, &status, 0) != pid)
        return 1;
    return WIFEXITED(status) && WEXITSTATUS(status) == 7 ? 0 : 2;
}

static int h_startup(int argc, char **argv)
{
    ipc_child_info info;
    rig_proc_child_init(argc, argv, &info);
    ipc_child_info_dispose(&info);
    return 0;
}

/* open(2) on a path: exits 10 when refused with EACCES, 11 when it opened. */
static int h_paths(int argc, char **argv)
{
    ipc_child_info info;
    rig_proc_child_init(argc, argv, &info);
    ipc_child_info_dispose(&info); /* the prefs are not needed */
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        close(fd);
        return 11;
    }
    return errno == EACCES ? 10 : 12;
}

/* A thread that exists before the sandbox is applied makes a forbidden
 * syscall after it: TSYNC must have put the filter on it too. */
static int go_pipe[2];
static void *late_offender(void *arg)
{
    (void)arg;
    char c;
    if (read(go_pipe[0], &c, 1) == 1)
        syscall(SYS_mount, "none", "/nonexistent", "tmpfs", 0ul, NULL);
    return NULL;
}

static int h_tsync(int argc, char **argv)
{
    no_core_files();
    pthread_t t;
    if (pipe2(go_pipe, O_CLOEXEC) < 0 || pthread_create(&t, NULL, late_offender, NULL) != 0)
        return 1;
    ipc_child_info info;
    rig_proc_child_init(argc, argv, &info);
    ipc_child_info_dispose(&info); /* the prefs are not needed */
    if (write(go_pipe[1], "g", 1) != 1)
        return 2;
    pthread_join(t, NULL);
    return 0; /* not reached */
}

struct io_state {
    int fd;
    char tag;
};

static void *io_sender(void *arg)
{
    struct io_state *s = arg;
    s->tag = send_fd(IPC_CHILD_CHANNEL_FD, s->fd, 'P') == 0 ? 'y' : 'n';
    return NULL;
}

static void on_channel_readable(evutil_socket_t fd, short what, void *arg)
{
    struct io_state *s = arg;
    (void)what;
    s->fd = recv_fd(fd, &s->tag);
}

/* libipc's needs under the content policy: a thread sends a pipe's read end
 * over fd 3, a libevent (epoll + eventfd) loop receives an fd from the
 * parent, plus socketpair and memfd. Exits 0 after saying "ok". */
static int h_io(int argc, char **argv)
{
    ipc_child_info info;
    rig_proc_child_init(argc, argv, &info);
    ipc_child_info_dispose(&info); /* the prefs are not needed */
    int rc = 1, p[2] = {-1, -1};
    struct event_base *base = NULL;
    struct event *ev = NULL;
    if (evthread_use_pthreads() < 0 || !(base = event_base_new()))
        goto out;
    rc = 2;
    if (strcmp(event_base_get_method(base), "epoll") != 0 ||
        evthread_make_base_notifiable(base) < 0)
        goto out;
    rc = 3;
    if (pipe2(p, O_CLOEXEC) < 0 || rig_write_all(p[1], "via-pipe", 8) < 0)
        goto out;
    close(p[1]);
    p[1] = -1;
    struct io_state out_state = {p[0], 0};
    pthread_t t;
    rc = 4;
    if (pthread_create(&t, NULL, io_sender, &out_state) != 0)
        goto out;
    pthread_join(t, NULL);
    if (out_state.tag != 'y')
        goto out;
    struct io_state in_state = {-1, 0};
    rc = 5;
    ev = event_new(base, IPC_CHILD_CHANNEL_FD, EV_READ, on_channel_readable, &in_state);
    if (!ev || event_add(ev, NULL) < 0 || event_base_dispatch(base) < 0 || in_state.fd < 0)
        goto out;
    char buf[16] = "";
    rc = 6;
    if (in_state.tag != 'F' || rig_read_for(in_state.fd, buf, 11, T_MS) != 11 ||
        memcmp(buf, "from-parent", 11) != 0)
        goto out;
    close(in_state.fd);
    int sp[2];
    rc = 7;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
        goto out;
    close(sp[0]);
    close(sp[1]);
    rc = 8;
    int mfd = memfd_create("ipc-shm", MFD_CLOEXEC);
    if (mfd < 0 || ftruncate(mfd, 4096) < 0)
        goto out;
    close(mfd);
    rc = rig_write_all(IPC_CHILD_CHANNEL_FD, "ok", 2) == 0 ? 0 : 9;
out:
    if (ev)
        event_free(ev);
    if (base)
        event_base_free(base);
    if (p[0] >= 0)
        close(p[0]);
    if (p[1] >= 0)
        close(p[1]);
    return rc;
}

static int h_precompiled(int argc, char **argv); /* with its test, below */

static const rig_helper helpers[] = {
    {"forbidden", h_forbidden},
    {"fork", h_fork},
    {"startup", h_startup},
    {"paths", h_paths},
    {"tsync", h_tsync},
    {"io", h_io},
    {"precompiled", h_precompiled},
    {NULL, NULL},
};

/* ================= parent side ================= */

/* Launches helper `name` as `type` with a channel and (optional) crash dir,
 * waits for it and returns what became of it. */
static void run_child(const char *name, const char *type, const char *crash_dir,
                      ipc_crash_info *info, char *report, size_t report_len)
{
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    rig_proc_launch l;
    rig_proc_prepare(&l, name, NULL, type, sv[1]);
    l.opts.crash_dir = crash_dir;
    ipc_proc *proc;
    ck_assert_int_eq(ipc_proc_launch(&l.opts, &proc, NULL), 0);
    ipc_proc_note_message(proc, IPC_MSG_SENT, "PTest::Msg_Start");
    ck_assert_int_eq(ipc_proc_wait(proc, T_MS, info), 0);
    const char *path = NULL;
    ipc_proc_exit_info(proc, &path);
    if (report)
        snprintf(report, report_len, "%s", path ? path : "");
    ipc_proc_free(proc);
    close(sv[0]);
}

START_TEST(sandbox_types_and_rules)
{
    for (size_t i = 0; i < 4; i++) {
        ck_assert(ipc_sandbox_known(all_types[i]));
        ck_assert(ipc_sandbox_enforced(all_types[i]));
        ipc_sandbox_rule rules[256];
        size_t n = ipc_sandbox_rules(all_types[i], rules, 256);
        ck_assert_uint_gt(n, 40);
        ck_assert_uint_le(n, 256);
        for (size_t j = 0; j < n; j++) {
            /* Every rule names a real syscall, and none lets these through. */
            ck_assert_msg(seccomp_syscall_resolve_name(rules[j].syscall) >= 0, "%s",
                          rules[j].syscall);
            ck_assert_str_ne(rules[j].syscall, "mount");
            ck_assert_str_ne(rules[j].syscall, "execve");
            ck_assert_str_ne(rules[j].syscall, "socket");
            ck_assert_str_ne(rules[j].syscall, "connect");
            ck_assert_str_ne(rules[j].syscall, "unshare");
        }
    }
    ck_assert(ipc_sandbox_known("main"));
    ck_assert(!ipc_sandbox_enforced("main"));
    ck_assert_uint_eq(ipc_sandbox_rules("main", NULL, 0), 0);
    ck_assert(!ipc_sandbox_known("bogus"));
    ck_assert(!ipc_sandbox_known(NULL));
    ck_assert_int_eq(ipc_sandbox_apply("bogus", NULL), -EINVAL);
    ck_assert_int_eq(ipc_sandbox_apply("main", NULL), 0); /* no filter: safe in-process */
}
END_TEST

START_TEST(sandbox_forbidden_syscall_named_in_crash_report)
{
    rig_fd_mark();
    char *dir = rig_tempdir();
    ipc_crash_info info;
    char path[1024];
    run_child("forbidden", "test", dir, &info, path, sizeof path);
    ck_assert(!info.exited);
    ck_assert_int_eq(info.signal, SIGSYS);
    ck_assert_int_eq(info.syscall_nr, SYS_mount);
    ck_assert_str_eq(info.syscall_name, "mount");
    char *text = rig_slurp(path, NULL);
    ck_assert_ptr_nonnull(text);
    ck_assert_ptr_nonnull(strstr(text, "\nsignal: SIGSYS\n"));
    ck_assert_ptr_nonnull(strstr(text, "\nsyscall: mount\n"));
    ck_assert_ptr_nonnull(strstr(text, "\nprocess_type: test\n"));
    ck_assert_ptr_nonnull(strstr(text, "\nsent PTest::Msg_Start\n"));
    free(text);
    rig_rmdir_all(dir);
    rig_assert_no_leaks();
}
END_TEST

START_TEST(sandbox_content_may_not_fork)
{
    rig_fd_mark();
    ipc_crash_info info;
    run_child("fork", "content", NULL, &info, NULL, 0);
    ck_assert_int_eq(info.signal, SIGSYS);
    ck_assert_str_eq(info.syscall_name, "clone");
    rig_assert_no_leaks();
}
END_TEST

START_TEST(sandbox_nuwa_may_fork)
{
    rig_fd_mark();
    ipc_crash_info info;
    run_child("fork", "nuwa", NULL, &info, NULL, 0);
    ck_assert_msg(info.exited && info.exit_status == 0, "exited %d status %d signal %d (%s)",
                  info.exited, info.exit_status, info.signal, info.syscall_name);
    rig_assert_no_leaks();
}
END_TEST

START_TEST(sandbox_filter_covers_earlier_threads)
{
    rig_fd_mark();
    ipc_crash_info info;
    run_child("tsync", "demo", NULL, &info, NULL, 0);
    ck_assert_int_eq(info.signal, SIGSYS);
    ck_assert_str_eq(info.syscall_name, "mount");
    rig_assert_no_leaks();
}
END_TEST

START_TEST(sandbox_every_type_starts_and_exits_cleanly)
{
    rig_fd_mark();
    for (size_t i = 0; i < 4; i++) {
        ipc_crash_info info;
        run_child("startup", all_types[i], NULL, &info, NULL, 0);
        ck_assert_msg(info.exited && info.exit_status == 0, "%s: exited %d status %d signal %d %s",
                      all_types[i], info.exited, info.exit_status, info.signal, info.syscall_name);
    }
    rig_assert_no_leaks();
}
END_TEST

START_TEST(sandbox_path_calls_follow_policy)
{
    rig_fd_mark();
    ipc_sandbox_rule rules[256];
    size_t n = ipc_sandbox_rules("content", rules, 256);
    const char *action = NULL;
    for (size_t i = 0; i < n; i++)
        if (strcmp(rules[i].syscall, "openat") == 0)
            action = rules[i].action;
    ck_assert_ptr_nonnull(action);
    ipc_crash_info info;
    run_child("paths", "content", NULL, &info, NULL, 0);
    ck_assert(info.exited);
    /* Plain builds refuse politely; sanitizer builds let their runtime open
     * files. Either way the rule table says which, and the child agrees. */
    ck_assert_int_eq(info.exit_status, strcmp(action, "errno EACCES") == 0 ? 10 : 11);
    rig_assert_no_leaks();
}
END_TEST

START_TEST(sandbox_child_does_real_io_and_threads)
{
    rig_fd_mark();
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    rig_proc_launch l;
    rig_proc_prepare(&l, "io", NULL, "content", sv[1]);
    ipc_proc *proc;
    ck_assert_int_eq(ipc_proc_launch(&l.opts, &proc, NULL), 0);
    char tag = 0;
    int fd = recv_fd(sv[0], &tag);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(tag, 'P');
    char buf[16] = "";
    ck_assert_int_eq(rig_read_for(fd, buf, 8, T_MS), 8);
    ck_assert(memcmp(buf, "via-pipe", 8) == 0);
    close(fd);
    int p[2];
    ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
    ck_assert_int_eq(rig_write_all(p[1], "from-parent", 11), 0);
    close(p[1]);
    ck_assert_int_eq(send_fd(sv[0], p[0], 'F'), 0);
    close(p[0]);
    ck_assert_int_eq(rig_read_for(sv[0], buf, 2, T_MS), 2);
    ck_assert(memcmp(buf, "ok", 2) == 0);
    ipc_crash_info info;
    ck_assert_int_eq(ipc_proc_wait(proc, T_MS, &info), 0);
    ck_assert_msg(info.exited && info.exit_status == 0, "exited %d status %d signal %d (%s)",
                  info.exited, info.exit_status, info.signal, info.syscall_name);
    ipc_proc_free(proc);
    close(sv[0]);
    rig_assert_no_leaks();
}
END_TEST

/* ================= programs compiled ahead of time ================= */

START_TEST(sandbox_precompiled_program_is_the_one_compiled_in_place)
{
    /* The rules that name the caller's pid are patched with it: byte for
     * byte what ipc_sandbox_apply() would load in that process. (Not for
     * pid 1, which no forked process has: kill's test "first argument == 1"
     * is then socketpair's (AF_UNIX), and libseccomp shares the two blocks,
     * the same verdicts in fewer instructions.) */
    const pid_t pids[] = {getpid(), 2, 100, 31337, 4194304, 0x7ffffff1};
    for (size_t i = 0; i < 4; i++) {
        ipc_sandbox_prog *prog = NULL;
        ck_assert_int_eq(ipc_sandbox_prog_new(all_types[i], &prog), 0);
        ck_assert_str_eq(ipc_sandbox_prog_type(prog), all_types[i]);
        /* kill(2) to the caller's own pid only, except in the fork server. */
        ck_assert_uint_eq(ipc__sandbox_prog_pid_slots(prog),
                          strcmp(all_types[i], "nuwa") == 0 ? 0 : 1);
        for (size_t j = 0; j < sizeof pids / sizeof pids[0]; j++) {
            void *pre = NULL, *direct = NULL;
            size_t pre_len = 0, direct_len = 0;
            ck_assert_int_eq(ipc__sandbox_prog_bpf(prog, pids[j], &pre, &pre_len), 0);
            ck_assert_int_eq(ipc__sandbox_bpf_for_pid(all_types[i], pids[j], &direct, &direct_len),
                             0);
            ck_assert_uint_gt(pre_len, 0);
            ck_assert_uint_eq(pre_len, direct_len);
            ck_assert_msg(memcmp(pre, direct, pre_len) == 0, "%s, pid %d", all_types[i],
                          (int)pids[j]);
            free(pre);
            free(direct);
        }
        ipc_sandbox_prog_free(prog);
    }
    ipc_sandbox_prog *prog = (ipc_sandbox_prog *)1;
    ck_assert_int_eq(ipc_sandbox_prog_new("main", &prog), -EINVAL); /* nothing to load */
    ck_assert_ptr_null(prog);
    ck_assert_int_eq(ipc_sandbox_prog_new("bogus", &prog), -EINVAL);
    ck_assert_int_eq(ipc_sandbox_prog_new(NULL, &prog), -EINVAL);
    ck_assert_int_eq(ipc_sandbox_prog_apply(NULL, NULL), -EINVAL);
    ipc_sandbox_prog_free(NULL);
}
END_TEST

/* ---- in helper "precompiled": compiles, forks, reports (run natively even
 * when the test runs under valgrind, which would otherwise also run the
 * forked child and take the filter for itself) ---- */

/* A shared page for the SIGSYS reporter, as the parent gives a launched
 * child one; NULL on failure. */
static void *new_crash_page(void)
{
    int fd = memfd_create("crash-page", MFD_CLOEXEC);
    if (fd < 0)
        return NULL;
    void *page = ftruncate(fd, IPC_CRASHINFO_SIZE) == 0
                     ? mmap(NULL, IPC_CRASHINFO_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
                     : MAP_FAILED;
    close(fd);
    return page == MAP_FAILED ? NULL : page;
}

enum { STEP_SELF_KILL = 1, STEP_SOCKETPAIR = 2, STEP_PATH = 4 };
enum { LAST_MOUNT, LAST_KILL_OTHER, LAST_FORK };

/* The forked child: loads `prog` (compiled before the fork), says on `out`
 * which of `steps` went as the policy says, then makes the forbidden call
 * `last`. */
static void run_forked(ipc_sandbox_prog *prog, void *page, unsigned steps, int last, pid_t other,
                       int expect_path_errno, int out)
{
    no_core_files();
    if (ipc_sandbox_prog_apply(prog, page) != 0)
        _exit(90);
    if ((steps & STEP_SELF_KILL) && kill(getpid(), 0) == 0 && write(out, "k", 1) != 1)
        _exit(91);
    int sv[2];
    if ((steps & STEP_SOCKETPAIR) && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0) {
        close(sv[0]);
        close(sv[1]);
        if (write(out, "s", 1) != 1)
            _exit(92);
    }
    if (steps & STEP_PATH) {
        int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        int err = fd < 0 ? errno : 0;
        if (fd >= 0)
            close(fd);
        if (err == expect_path_errno && write(out, "o", 1) != 1)
            _exit(93);
    }
    if (last == LAST_MOUNT)
        syscall(SYS_mount, "none", "/nonexistent", "tmpfs", 0ul, NULL);
    else if (last == LAST_KILL_OTHER)
        kill(other, 0);
    else if (fork() == 0)
        _exit(0);
    _exit(0); /* not reached: the sandbox kills us */
}

/* Forks run_forked, waits for it and writes to fd 3
 * "<what it said> <signal or -exit status> <syscall in the report>\n". */
static int report_forked(ipc_sandbox_prog *prog, unsigned steps, int last, pid_t other,
                         int expect_path_errno)
{
    void *page = new_crash_page();
    int p[2];
    if (!page || pipe2(p, O_CLOEXEC) != 0)
        return 2;
    pid_t pid = fork();
    if (pid < 0)
        return 3;
    if (pid == 0) {
        close(p[0]);
        run_forked(prog, page, steps, last, other, expect_path_errno, p[1]);
    }
    close(p[1]);
    char said[8];
    ssize_t n = rig_read_for(p[0], said, sizeof said - 1, T_MS);
    said[n > 0 ? n : 0] = '\0';
    close(p[0]);
    int status = 0;
    if (waitpid(pid, &status, 0) != pid)
        return 4;
    /* What a parent makes of the page after a SIGSYS death: a report that
     * names the syscall. */
    int nr = -1;
    uint32_t arch = 0;
    ipc_crash_info info = {.pid = pid, .syscall_nr = -1};
    snprintf(info.process_type, sizeof info.process_type, "content");
    info.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    info.exited = !WIFSIGNALED(status);
    info.exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : 0;
    if (info.signal == SIGSYS && ipc_crashinfo_read(page, IPC_CRASHINFO_SIZE, &nr, &arch)) {
        info.syscall_nr = nr;
        ipc_syscall_name(nr, arch, info.syscall_name, sizeof info.syscall_name);
    }
    munmap(page, IPC_CRASHINFO_SIZE);
    char *text = NULL;
    size_t len = 0;
    if (ipc_crash_report_format(&info, NULL, &text, &len) != 0)
        return 5;
    const char *sc = strstr(text, "\nsyscall: ");
    char name[IPC_CRASH_SYSCALL_MAX] = "-";
    if (sc)
        sscanf(sc + 10, "%47s", name);
    char line[128];
    int k = snprintf(line, sizeof line, "%s %d %s\n", said[0] ? said : "-",
                     info.exited ? -info.exit_status : info.signal, name);
    free(text);
    return rig_write_all(3, line, (size_t)k) == 0 ? 0 : 6;
}

/* argv[1]: process type; argv[2]: "mount", "kill-other" or "fork";
 * argv[3]: the errno a path open should fail with (0: it opens). */
static int h_precompiled(int argc, char **argv)
{
    if (argc < 4)
        return 1;
    ipc_sandbox_prog *prog = NULL;
    if (ipc_sandbox_prog_new(argv[1], &prog) != 0)
        return 7;
    int last = strcmp(argv[2], "mount") == 0        ? LAST_MOUNT
               : strcmp(argv[2], "kill-other") == 0 ? LAST_KILL_OTHER
                                                    : LAST_FORK;
    unsigned steps = last == LAST_KILL_OTHER ? STEP_SELF_KILL | STEP_SOCKETPAIR | STEP_PATH : 0;
    /* The other pid is ours: the one the program was compiled in. */
    int rc = report_forked(prog, steps, last, getpid(), atoi(argv[3]));
    ipc_sandbox_prog_free(prog);
    return rc;
}

/* ---- the test side ---- */

/* Runs helper "precompiled" and parses its line. */
static void run_precompiled(const char *type, const char *last, int path_errno, char *said,
                            int *sig, char *syscall_name)
{
    int p[2];
    ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
    char err[16];
    snprintf(err, sizeof err, "%d", path_errno);
    const char *args[] = {type, last, err, NULL};
    pid_t pid = rig_spawn_helper("precompiled", p[1], args);
    ck_assert_int_gt(pid, 0);
    close(p[1]);
    char line[128];
    ssize_t n = rig_read_until(p[0], line, sizeof line - 1, '\n', T_MS);
    close(p[0]);
    ck_assert_int_eq(rig_wait(pid), 0);
    ck_assert_int_gt(n, 0);
    line[n] = '\0';
    ck_assert_int_eq(sscanf(line, "%7s %d %47s", said, sig, syscall_name), 3);
}

START_TEST(sandbox_precompiled_forbidden_syscall_named_in_crash_report)
{
    rig_fd_mark();
    char said[8], name[48];
    int sig = 0;
    run_precompiled("test", "mount", 0, said, &sig, name);
    ck_assert_int_eq(sig, SIGSYS);
    ck_assert_str_eq(name, "mount");
    rig_assert_no_leaks();
}
END_TEST

START_TEST(sandbox_precompiled_policy_follows_the_forked_process)
{
    /* Compiled in the helper, loaded by its child, which has another pid:
     * kill(2) to its own pid is allowed, to the helper's (the pid when
     * compiling) refused; a path open as the rule table says; and a content
     * process may not fork. */
    rig_fd_mark();
    ipc_sandbox_rule rules[256];
    size_t n = ipc_sandbox_rules("content", rules, 256);
    int path_errno = -1;
    for (size_t i = 0; i < n; i++)
        if (strcmp(rules[i].syscall, "openat") == 0)
            path_errno = strcmp(rules[i].action, "errno EACCES") == 0 ? EACCES : 0;
    ck_assert_int_ge(path_errno, 0);
    char said[8], name[48];
    int sig = 0;
    run_precompiled("content", "kill-other", path_errno, said, &sig, name);
    ck_assert_str_eq(said, "kso");
    ck_assert_int_eq(sig, SIGSYS);
    ck_assert_str_eq(name, "kill");
    run_precompiled("content", "fork", path_errno, said, &sig, name);
    ck_assert_int_eq(sig, SIGSYS);
    ck_assert_str_eq(name, "clone");
    rig_assert_no_leaks();
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("sandbox");
    RIG_TCASE(s, "rules", sandbox_types_and_rules, 10);
    RIG_TCASE(s, "forbidden", sandbox_forbidden_syscall_named_in_crash_report, 30);
    RIG_TCASE(s, "content_fork", sandbox_content_may_not_fork, 30);
    RIG_TCASE(s, "nuwa_fork", sandbox_nuwa_may_fork, 30);
    RIG_TCASE(s, "tsync", sandbox_filter_covers_earlier_threads, 30);
    RIG_TCASE(s, "every_type", sandbox_every_type_starts_and_exits_cleanly, 60);
    RIG_TCASE(s, "paths", sandbox_path_calls_follow_policy, 30);
    RIG_TCASE(s, "real_io", sandbox_child_does_real_io_and_threads, 30);
    RIG_TCASE(s, "precompiled", sandbox_precompiled_program_is_the_one_compiled_in_place, 30);
    RIG_TCASE(s, "precompiled_forbidden",
              sandbox_precompiled_forbidden_syscall_named_in_crash_report, 30);
    RIG_TCASE(s, "precompiled_forked", sandbox_precompiled_policy_follows_the_forked_process, 30);
    return s;
}

int main(int argc, char **argv)
{
    return rig_test_main(argc, argv, suite, helpers);
}
