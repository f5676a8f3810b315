/* Unit tests for crash detection and crash reports: the ring of recent
 * messages, the report format (write, parse, hostile input), the crash-info
 * page, and real children dying of SIGSEGV, abort() and a non-zero exit. */
#include "proctest.h"
#include "testutil.h"

#include "ipc/crash.h"
#include "ipc/errors.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define T_MS 10000

/* ================= helpers (run in the child) ================= */

/* Dies as argv[1] says: "segv", "abort", "exit5", "wait-segv" (SIGSEGV once
 * a byte arrives on fd 3), or exits 0 for "exit0". */
static int h_die(int argc, char **argv)
{
    struct rlimit rl = {0, 0};
    setrlimit(RLIMIT_CORE, &rl); /* no core file in the test's directory */
    ipc_child_info info;
    rig_proc_child_init(argc, argv, &info);
    ipc_child_info_dispose(&info); /* the prefs are not needed */
    char go;
    if (strcmp(argv[1], "wait-segv") == 0 && read(IPC_CHILD_CHANNEL_FD, &go, 1) != 1)
        return 6;
    if (strcmp(argv[1], "segv") == 0 || strcmp(argv[1], "wait-segv") == 0) {
        /* A real fault on a page with no access (not a NULL store, which
         * UBSan would report instead of letting it fault). */
        volatile int *p = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if ((void *)p != MAP_FAILED)
            *p = 1;
    } else if (strcmp(argv[1], "abort") == 0) {
        abort();
    }
    return strcmp(argv[1], "exit0") == 0 ? 0 : 5;
}

static const rig_helper helpers[] = {{"die", h_die}, {NULL, NULL}};

/* ================= the ring ================= */

START_TEST(crash_ring_keeps_the_last_entries_in_order)
{
    ipc_crash_ring *r;
    ck_assert_int_eq(ipc_crash_ring_new(&r, 3), 0);
    ck_assert_uint_eq(ipc_crash_ring_count(r), 0);
    char buf[64];
    ipc_msg_dir dir;
    ck_assert_int_eq(ipc_crash_ring_get(r, 0, &dir, buf, sizeof buf), -ERANGE);
    for (int i = 0; i < 5; i++) {
        snprintf(buf, sizeof buf, "msg %d", i);
        ipc_crash_ring_push(r, i % 2 ? IPC_MSG_RECEIVED : IPC_MSG_SENT, buf);
    }
    ck_assert_uint_eq(ipc_crash_ring_count(r), 3);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(ipc_crash_ring_get(r, (size_t)i, &dir, buf, sizeof buf), 0);
        char want[16];
        snprintf(want, sizeof want, "msg %d", i + 2);
        ck_assert_str_eq(buf, want);
        ck_assert_int_eq(dir, (i + 2) % 2 ? IPC_MSG_RECEIVED : IPC_MSG_SENT);
    }
    ck_assert_int_eq(ipc_crash_ring_get(r, 3, &dir, buf, sizeof buf), -ERANGE);
    /* A second reference keeps it alive after the first is dropped. */
    ipc_crash_ring *r2 = ipc_crash_ring_ref(r);
    ipc_crash_ring_unref(r);
    ck_assert_uint_eq(ipc_crash_ring_count(r2), 3);
    ipc_crash_ring_unref(r2);
    ipc_crash_ring_unref(NULL);
    ck_assert_int_eq(ipc_crash_ring_new(&r, IPC_CRASH_RING_MAX + 1), -EINVAL);
}
END_TEST

START_TEST(crash_ring_sanitizes_and_cuts)
{
    ipc_crash_ring *r;
    ck_assert_int_eq(ipc_crash_ring_new(&r, 0), 0);
    ipc_crash_ring_push(r, IPC_MSG_SENT, "two\nlines\tand\x7f");
    char longdesc[IPC_CRASH_DESC_MAX + 50];
    memset(longdesc, 'x', sizeof longdesc - 1);
    longdesc[sizeof longdesc - 1] = '\0';
    ipc_crash_ring_push(r, IPC_MSG_RECEIVED, longdesc);
    ipc_crash_ring_push(r, IPC_MSG_SENT, NULL);
    char buf[IPC_CRASH_DESC_MAX + 50];
    ipc_msg_dir dir;
    ck_assert_int_eq(ipc_crash_ring_get(r, 0, &dir, buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "two?lines?and?");
    ck_assert_int_eq(ipc_crash_ring_get(r, 1, &dir, buf, sizeof buf), 0);
    ck_assert_uint_eq(strlen(buf), IPC_CRASH_DESC_MAX);
    ck_assert_int_eq(ipc_crash_ring_get(r, 2, &dir, buf, sizeof buf), 0);
    ck_assert_str_eq(buf, "");
    ipc_crash_ring_unref(r);
}
END_TEST

/* ================= the report format ================= */

static void sample(ipc_crash_info *in, int signaled)
{
    memset(in, 0, sizeof *in);
    in->pid = 4242;
    in->parent_pid = 4200;
    snprintf(in->process_type, sizeof in->process_type, "content");
    in->time = 1700000000;
    in->syscall_nr = -1;
    if (signaled) {
        in->signal = SIGSYS;
        in->core_dumped = 1;
        in->syscall_nr = 165;
        snprintf(in->syscall_name, sizeof in->syscall_name, "mount");
    } else {
        in->exited = 1;
        in->exit_status = 90;
        in->error = IPC_E_BUILD_ID;
    }
}

START_TEST(crash_report_format_is_exact_and_parses_back)
{
    ipc_crash_info in;
    sample(&in, 1);
    ipc_crash_ring *r;
    ck_assert_int_eq(ipc_crash_ring_new(&r, 4), 0);
    ipc_crash_ring_push(r, IPC_MSG_SENT, "PDemo::Msg_InitCrashReporter");
    ipc_crash_ring_push(r, IPC_MSG_RECEIVED, "PDemo::Msg_CreateDemoHelplineChild route=7");
    char *text;
    size_t len;
    ck_assert_int_eq(ipc_crash_report_format(&in, r, &text, &len), 0);
    ck_assert_str_eq(text, "ipc-crash-report: 1\n"
                           "pid: 4242\n"
                           "parent_pid: 4200\n"
                           "process_type: content\n"
                           "time: 1700000000\n"
                           "exited: no\n"
                           "exit_status: -\n"
                           "signal: SIGSYS\n"
                           "signal_number: 31\n"
                           "core_dumped: yes\n"
                           "error: -\n"
                           "syscall: mount\n"
                           "syscall_number: 165\n"
                           "messages: 2\n"
                           "sent PDemo::Msg_InitCrashReporter\n"
                           "recv PDemo::Msg_CreateDemoHelplineChild route=7\n");
    ipc_crash_report rep;
    ck_assert_int_eq(ipc_crash_report_parse(text, len, &rep), 0);
    ck_assert_int_eq(rep.info.pid, 4242);
    ck_assert_int_eq(rep.info.parent_pid, 4200);
    ck_assert_str_eq(rep.info.process_type, "content");
    ck_assert(rep.info.time == 1700000000);
    ck_assert(!rep.info.exited);
    ck_assert_int_eq(rep.info.signal, SIGSYS);
    ck_assert(rep.info.core_dumped);
    ck_assert_int_eq(rep.info.syscall_nr, 165);
    ck_assert_str_eq(rep.info.syscall_name, "mount");
    ck_assert_uint_eq(rep.nmsgs, 2);
    ck_assert_int_eq(rep.msgs[1].dir, IPC_MSG_RECEIVED);
    ck_assert_str_eq(rep.msgs[1].desc, "PDemo::Msg_CreateDemoHelplineChild route=7");
    ipc_crash_report_dispose(&rep);
    free(text);

    sample(&in, 0);
    ck_assert_int_eq(ipc_crash_report_format(&in, NULL, &text, &len), 0);
    ck_assert_ptr_nonnull(strstr(text, "\nexited: yes\nexit_status: 90\nsignal: -\n"
                                       "signal_number: -\ncore_dumped: no\nerror: IPC_E_BUILD_ID\n"
                                       "syscall: -\nsyscall_number: -\nmessages: 0\n"));
    ck_assert_int_eq(ipc_crash_report_parse(text, len, &rep), 0);
    ck_assert(rep.info.exited);
    ck_assert_int_eq(rep.info.exit_status, 90);
    ck_assert_int_eq(rep.info.error, IPC_E_BUILD_ID);
    ck_assert_int_eq(rep.info.syscall_nr, -1);
    ck_assert_uint_eq(rep.nmsgs, 0);
    ipc_crash_report_dispose(&rep);
    free(text);
    ipc_crash_ring_unref(r);
}
END_TEST

static int parse_str(const char *s)
{
    ipc_crash_report rep;
    int rc = ipc_crash_report_parse(s, strlen(s), &rep);
    if (rc == 0)
        ipc_crash_report_dispose(&rep);
    else
        ck_assert_ptr_null(rep.msgs);
    return rc;
}

/* Replaces the first `from` in `text` with `to` into out. */
static const char *edit(const char *text, const char *from, const char *to, char *out, size_t len)
{
    const char *at = strstr(text, from);
    ck_assert_ptr_nonnull(at);
    snprintf(out, len, "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
    return out;
}

START_TEST(crash_report_parse_rejects_hostile_text)
{
    ipc_crash_info in;
    sample(&in, 1);
    ipc_crash_ring *r;
    ck_assert_int_eq(ipc_crash_ring_new(&r, 4), 0);
    ipc_crash_ring_push(r, IPC_MSG_SENT, "A");
    ipc_crash_ring_push(r, IPC_MSG_SENT, "B");
    char *text;
    size_t len;
    ck_assert_int_eq(ipc_crash_report_format(&in, r, &text, &len), 0);
    ipc_crash_ring_unref(r);
    ck_assert_int_eq(parse_str(text), 0);
    /* Every truncation is refused. */
    for (size_t cut = 0; cut < len; cut++) {
        ipc_crash_report rep;
        ck_assert_int_lt(ipc_crash_report_parse(text, cut, &rep), 0);
    }
    char buf[2048];
    ck_assert_int_eq(parse_str(edit(text, "pid: 4242", "pid: 0", buf, sizeof buf)), IPC_E_PARAM);
    ck_assert_int_eq(parse_str(edit(text, "pid: 4242", "pid: 99999999999", buf, sizeof buf)),
                     IPC_E_PARAM);
    ck_assert_int_eq(parse_str(edit(text, "pid: 4242", "pid:4242", buf, sizeof buf)), IPC_E_PARAM);
    ck_assert_int_eq(parse_str(edit(text, "signal: SIGSYS", "signal: SIGSEGV", buf, sizeof buf)),
                     IPC_E_PARAM);
    ck_assert_int_eq(
        parse_str(edit(text, "signal_number: 31", "signal_number: 99", buf, sizeof buf)),
        IPC_E_PARAM);
    ck_assert_int_eq(parse_str(edit(text, "exit_status: -", "exit_status: 3", buf, sizeof buf)),
                     IPC_E_PARAM);
    ck_assert_int_eq(
        parse_str(edit(text, "core_dumped: yes", "core_dumped: maybe", buf, sizeof buf)),
        IPC_E_PARAM);
    ck_assert_int_eq(parse_str(edit(text, "error: -", "error: IPC_E_NOPE", buf, sizeof buf)),
                     IPC_E_PARAM);
    ck_assert_int_eq(
        parse_str(edit(text, "syscall_number: 165", "syscall_number: -", buf, sizeof buf)),
        IPC_E_PARAM);
    ck_assert_int_eq(parse_str(edit(text, "messages: 2", "messages: 3", buf, sizeof buf)),
                     IPC_E_PARAM);
    ck_assert_int_eq(parse_str(edit(text, "messages: 2", "messages: 1", buf, sizeof buf)),
                     IPC_E_TRAILING);
    ck_assert_int_eq(parse_str(edit(text, "messages: 2", "messages: 4000000000", buf, sizeof buf)),
                     IPC_E_PARAM);
    ck_assert_int_eq(parse_str(edit(text, "sent A", "xmit A", buf, sizeof buf)), IPC_E_PARAM);
    ck_assert_int_eq(
        parse_str(edit(text, "ipc-crash-report: 1", "ipc-crash-report: 2", buf, sizeof buf)),
        IPC_E_PARAM);
    ck_assert_int_eq(
        parse_str(edit(text, "process_type: content",
                       "process_type: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", buf, sizeof buf)),
        IPC_E_BAD_SIZE);
    /* An embedded NUL ends nothing early: the length rules. */
    memcpy(buf, text, len);
    buf[5] = '\0';
    ipc_crash_report rep;
    ck_assert_int_lt(ipc_crash_report_parse(buf, len, &rep), 0);
    free(text);
}
END_TEST

START_TEST(crash_report_files_are_named_and_never_clobbered)
{
    rig_fd_mark();
    char *dir = rig_tempdir();
    ipc_crash_info in;
    sample(&in, 1);
    char p1[PATH_MAX], p2[PATH_MAX], want[PATH_MAX];
    ck_assert_int_eq(ipc_crash_report_write(dir, &in, NULL, p1, sizeof p1), 0);
    snprintf(want, sizeof want, "%s/ipc-crash-content-4242.txt", dir);
    ck_assert_str_eq(p1, want);
    ck_assert_int_eq(ipc_crash_report_write(dir, &in, NULL, p2, sizeof p2), 0);
    snprintf(want, sizeof want, "%s/ipc-crash-content-4242-1.txt", dir);
    ck_assert_str_eq(p2, want);
    struct stat st;
    ck_assert_int_eq(stat(p1, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0600);
    size_t len;
    char *text = rig_slurp(p1, &len);
    ipc_crash_report rep;
    ck_assert_int_eq(ipc_crash_report_parse(text, len, &rep), 0);
    ipc_crash_report_dispose(&rep);
    free(text);
    /* A type that is not a plain word never becomes part of a path. */
    snprintf(in.process_type, sizeof in.process_type, "../x");
    ck_assert_int_eq(ipc_crash_report_write(dir, &in, NULL, NULL, 0), -EINVAL);
    ck_assert_int_eq(ipc_crash_report_write("/nonexistent/dir", &in, NULL, NULL, 0), -EINVAL);
    snprintf(in.process_type, sizeof in.process_type, "test");
    ck_assert_int_eq(ipc_crash_report_write("/nonexistent/dir", &in, NULL, NULL, 0), -ENOENT);
    rig_rmdir_all(dir); /* fails the next check if stray temp files were left */
    rig_assert_no_leaks();
}
END_TEST

START_TEST(crash_info_page_and_names)
{
    uint8_t page[IPC_CRASHINFO_SIZE] = {0};
    int nr;
    uint32_t arch;
    ck_assert_int_eq(ipc_crashinfo_read(page, sizeof page, &nr, &arch), 0);
    ipc_crashinfo_record(page, SYS_ptrace, 0xc000003eu);
    ck_assert_int_eq(ipc_crashinfo_read(page, sizeof page, &nr, &arch), 1);
    ck_assert_int_eq(nr, SYS_ptrace);
    ck_assert_uint_eq(arch, 0xc000003eu);
    ck_assert_int_eq(ipc_crashinfo_read(page, 8, &nr, &arch), 0); /* too short */
    ck_assert_int_eq(ipc_crashinfo_read(NULL, 0, &nr, &arch), 0);
    memset(page + 4, 0xff, 4); /* a garbage number */
    ck_assert_int_eq(ipc_crashinfo_read(page, sizeof page, &nr, &arch), 0);

    char buf[64];
    ck_assert_str_eq(ipc_signal_name(SIGSEGV, buf, sizeof buf), "SIGSEGV");
    ck_assert_str_eq(ipc_signal_name(SIGABRT, buf, sizeof buf), "SIGABRT");
    ck_assert_str_eq(ipc_signal_name(0, buf, sizeof buf), "SIG0");
    ck_assert_str_eq(ipc_signal_name(200, buf, sizeof buf), "SIG200");
    ipc_syscall_name(SYS_ptrace, 0, buf, sizeof buf);
    ck_assert_str_eq(buf, "ptrace");
    ipc_syscall_name(SYS_mount, 0xc000003eu, buf, sizeof buf);
    ck_assert_str_eq(buf, "mount");
    ipc_syscall_name(99999, 0, buf, sizeof buf);
    ck_assert_str_eq(buf, "syscall_99999");
}
END_TEST

/* ================= real crashes ================= */

/* Runs helper die(how) with a crash dir and messages noted; returns its info
 * and the parsed report. */
static void crash_child(const char *how, const char *dir, ipc_crash_info *info,
                        ipc_crash_report *rep)
{
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    char **env = rig_env_raw_signals();
    rig_proc_launch l;
    rig_proc_prepare(&l, "die", how, "content", sv[1]);
    l.opts.crash_dir = dir;
    l.opts.envp = (const char *const *)env;
    ipc_proc *proc;
    ck_assert_int_eq(ipc_proc_launch(&l.opts, &proc, NULL), 0);
    rig_env_free(env);
    ipc_proc_note_message(proc, IPC_MSG_SENT, "PContent::Msg_LoadURL");
    ipc_proc_note_message(proc, IPC_MSG_RECEIVED, "PContent::Msg_Ack");
    ck_assert_int_eq(ipc_proc_wait(proc, T_MS, info), 0);
    ck_assert_int_eq(info->pid, ipc_proc_pid(proc));
    const char *path;
    ck_assert_ptr_eq(ipc_proc_exit_info(proc, &path), ipc_proc_exit_info(proc, NULL));
    ck_assert_str_ne(path, "");
    size_t len;
    char *text = rig_slurp(path, &len);
    ck_assert_ptr_nonnull(text);
    ck_assert_int_eq(ipc_crash_report_parse(text, len, rep), 0);
    free(text);
    ck_assert_int_eq(rep->info.pid, ipc_proc_pid(proc));
    ck_assert_int_eq(rep->info.parent_pid, getpid());
    ck_assert_str_eq(rep->info.process_type, "content");
    ck_assert_uint_eq(rep->nmsgs, 2);
    ck_assert_int_eq(rep->msgs[0].dir, IPC_MSG_SENT);
    ck_assert_str_eq(rep->msgs[0].desc, "PContent::Msg_LoadURL");
    ck_assert_int_eq(rep->msgs[1].dir, IPC_MSG_RECEIVED);
    ck_assert_str_eq(rep->msgs[1].desc, "PContent::Msg_Ack");
    ipc_proc_free(proc);
    close(sv[0]);
}

START_TEST(crash_sigsegv_detected_and_reported)
{
    rig_fd_mark();
    char *dir = rig_tempdir();
    ipc_crash_info info;
    ipc_crash_report rep;
    crash_child("segv", dir, &info, &rep);
    ck_assert(!info.exited);
    ck_assert_int_eq(info.signal, SIGSEGV);
    ck_assert_int_eq(info.syscall_nr, -1);
    ck_assert(!rep.info.exited);
    ck_assert_int_eq(rep.info.signal, SIGSEGV);
    ck_assert_int_eq(rep.info.syscall_nr, -1);
    ipc_crash_report_dispose(&rep);
    rig_rmdir_all(dir);
    rig_assert_no_leaks();
}
END_TEST

START_TEST(crash_abort_detected_and_reported)
{
    rig_fd_mark();
    char *dir = rig_tempdir();
    ipc_crash_info info;
    ipc_crash_report rep;
    crash_child("abort", dir, &info, &rep);
    ck_assert_int_eq(info.signal, SIGABRT);
    ck_assert_int_eq(rep.info.signal, SIGABRT);
    ipc_crash_report_dispose(&rep);
    rig_rmdir_all(dir);
    rig_assert_no_leaks();
}
END_TEST

START_TEST(crash_nonzero_exit_reported_via_env_dir)
{
    rig_fd_mark();
    char *dir = rig_tempdir();
    setenv("IPC_CRASH_DIR", dir, 1); /* read at launch when opts name no dir */
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    rig_proc_launch l;
    rig_proc_prepare(&l, "die", "exit5", "demo", sv[1]);
    ipc_proc *proc;
    ck_assert_int_eq(ipc_proc_launch(&l.opts, &proc, NULL), 0);
    unsetenv("IPC_CRASH_DIR");
    ipc_crash_info info;
    ck_assert_int_eq(ipc_proc_wait(proc, T_MS, &info), 0);
    ck_assert(info.exited);
    ck_assert_int_eq(info.exit_status, 5);
    const char *path;
    ipc_proc_exit_info(proc, &path);
    char want[PATH_MAX];
    snprintf(want, sizeof want, "%s/ipc-crash-demo-%d.txt", dir, (int)ipc_proc_pid(proc));
    ck_assert_str_eq(path, want);
    char *text = rig_slurp(path, NULL);
    ck_assert_ptr_nonnull(strstr(text, "\nexited: yes\nexit_status: 5\n"));
    free(text);
    ipc_proc_free(proc);
    close(sv[0]);
    rig_rmdir_all(dir);
    rig_assert_no_leaks();
}
END_TEST

START_TEST(crash_clean_exit_and_requested_kill_write_nothing)
{
    rig_fd_mark();
    char *dir = rig_tempdir();
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    rig_proc_launch l;
    rig_proc_prepare(&l, "die", "exit0", "test", sv[1]);
    l.opts.crash_dir = dir;
    ipc_proc *proc;
    ck_assert_int_eq(ipc_proc_launch(&l.opts, &proc, NULL), 0);
    ipc_crash_info info;
    ck_assert_int_eq(ipc_proc_wait(proc, T_MS, &info), 0);
    ck_assert(info.exited);
    ck_assert_int_eq(info.exit_status, 0);
    ipc_proc_free(proc);
    close(sv[0]);
    /* It would crash once told to; we SIGKILL it first: ours is not a crash. */
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    rig_proc_prepare(&l, "die", "wait-segv", "test", sv[1]);
    l.opts.crash_dir = dir;
    ck_assert_int_eq(ipc_proc_launch(&l.opts, &proc, NULL), 0);
    ck_assert_int_eq(ipc_proc_kill(proc, SIGKILL), 0);
    ck_assert_int_eq(ipc_proc_wait(proc, T_MS, &info), 0);
    ck_assert_int_eq(info.signal, SIGKILL);
    const char *path;
    ipc_proc_exit_info(proc, &path);
    ck_assert_str_eq(path, "");
    ipc_proc_free(proc);
    close(sv[0]);
    ck_assert_int_eq(rmdir(dir), 0); /* empty */
    free(dir);
    rig_assert_no_leaks();
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("crash");
    RIG_TCASE(s, "ring_order", crash_ring_keeps_the_last_entries_in_order, 10);
    RIG_TCASE(s, "ring_sanitize", crash_ring_sanitizes_and_cuts, 10);
    RIG_TCASE(s, "format", crash_report_format_is_exact_and_parses_back, 10);
    RIG_TCASE(s, "parse_hostile", crash_report_parse_rejects_hostile_text, 10);
    RIG_TCASE(s, "files", crash_report_files_are_named_and_never_clobbered, 10);
    RIG_TCASE(s, "page_names", crash_info_page_and_names, 10);
    RIG_TCASE(s, "sigsegv", crash_sigsegv_detected_and_reported, 30);
    RIG_TCASE(s, "abort", crash_abort_detected_and_reported, 30);
    RIG_TCASE(s, "exit_env_dir", crash_nonzero_exit_reported_via_env_dir, 30);
    RIG_TCASE(s, "no_report", crash_clean_exit_and_requested_kill_write_nothing, 30);
    return s;
}

int main(int argc, char **argv)
{
    return rig_test_main(argc, argv, suite, helpers);
}
