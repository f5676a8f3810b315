/* Unit tests for the process host (host.h) with real children: this test
 * binary is launched through ipc_host_launch as a sandboxed "test" process
 * that calls ipc_child_init, ipc_host_child_conn and binds a PTest actor.
 * Covered: a clean launch and Close, messages kept until the parent binds, a
 * child crash (SIGSEGV, abort) turning into AbnormalShutdown plus a crash
 * report holding the last messages, a bad message (unhandled type,
 * undecodable params) killing the child, an exec failure reported as
 * IPC_E_EXEC, and freeing a host whose child still runs. Every case checks
 * that no fd leaked and no child was left unreaped. */
#include "proctest.h"
#include "testutil.h"

#include "ipc/errors.h"
#include "ipc/host.h"
#include "ipc/pickle.h"
#include "ipc/protocols/PTest.h"
#include "wire_util.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define T_MS 10000 /* an upper bound for anything a child should do, not a speed check */

/* Child exit codes. */
#define C_NORMAL     0 /* saw NormalShutdown */
#define C_ABNORMAL   2 /* saw AbnormalShutdown */
#define C_NOT_KILLED 9 /* expected to be killed, was not */
#define C_SETUP      10

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static int send_ping(ipc_actor *a, int32_t seq)
{
    uint8_t data[4];
    memcpy(data, &seq, 4);
    ipc_PTest_Ping p = {.data = {.data = data, .len = 4}};
    ipc_msg *m = NULL;
    int rc = ipc_PTest_Ping_build(&m, IPC_ROUTING_CONTROL, &p);
    return rc ? rc : ipc_actor_send(a, m);
}

static int send_pong(ipc_actor *a, const char *text)
{
    ipc_PTest_Pong p = {.data = {.data = (uint8_t *)text, .len = strlen(text)}};
    ipc_msg *m = NULL;
    int rc = ipc_PTest_Pong_build(&m, IPC_ROUTING_CONTROL, &p);
    return rc ? rc : ipc_actor_send(a, m);
}

/* ================= the child (a helper run through ipc_host_launch) ================= */

typedef struct kid {
    ipc_loop *loop;
    ipc_conn *conn;
    ipc_actor *top;
    int destroyed;
    ipc_destroy_reason why;
    const char *crash; /* "segv" or "abort": on the parent's Pong */
    int close_on_pong; /* Close, free the connection and exit on the Pong */
    int pong;
} kid;

static int kid_on_pong(void *ctx, ipc_msg *msg, ipc_PTest_Pong *in, ipc_PTest_Pong_reply *out)
{
    kid *k = ctx;
    (void)msg;
    (void)in;
    (void)out;
    k->pong = 1;
    if (k->crash && strcmp(k->crash, "segv") == 0)
        raise(SIGSEGV);
    if (k->crash)
        abort();
    return 0;
}

static const ipc_msgmap_entry kid_map[] = {
    IPC_HANDLER(PTest, Pong, kid_on_pong),
};

static void kid_destroy(void *ctx, ipc_actor *a, ipc_destroy_reason why)
{
    kid *k = ctx;
    (void)a;
    k->destroyed = 1;
    k->why = why;
}

/* ipc_child_init, then the libipc child side of the host: fd 3 bound to a
 * PTest child actor. */
static int kid_start(kid *k, int argc, char **argv)
{
    ipc_child_info info;
    rig_proc_child_init(argc, argv, &info);
    ipc_actor_ops ops = {
        .map = kid_map, .map_len = IPC_MSGMAP_LEN(kid_map), .actor_destroy = kid_destroy};
    int rc = ipc_loop_new(&k->loop);
    if (rc == 0)
        rc = ipc_host_child_conn(k->loop, info.channel_fd, "test", &k->conn);
    if (rc == 0)
        rc = ipc_actor_new(&k->top, &ipc_PTest_protocol, IPC_SIDE_CHILD, &ops, k);
    if (rc == 0)
        rc = ipc_conn_bind(k->conn, k->top);
    ipc_child_info_dispose(&info);
    if (rc != 0)
        fprintf(stderr, "test_host child: start-up: %s\n", ipc_strerror(rc));
    return rc;
}

static int kid_finish(kid *k, int expect_kill)
{
    long end = now_ms() + T_MS;
    while (!k->destroyed && now_ms() < end)
        ipc_loop_run_once(k->loop, 50);
    int code = expect_kill                     ? C_NOT_KILLED
               : !k->destroyed                 ? C_SETUP
               : k->why == IPC_NORMAL_SHUTDOWN ? C_NORMAL
                                               : C_ABNORMAL;
    ipc_conn_free(k->conn);
    ipc_actor_unref(k->top);
    ipc_loop_run_once(k->loop, 0);
    ipc_loop_free(k->loop);
    return code;
}

/* pinger N: sends Ping 0..N-1 at once, then waits for the parent's Close. */
static int h_pinger(int argc, char **argv)
{
    kid k = {0};
    if (kid_start(&k, argc, argv) != 0)
        return C_SETUP;
    int n = atoi(argv[1]);
    for (int i = 0; i < n; i++)
        if (send_ping(k.top, i) != 0)
            return C_SETUP;
    return kid_finish(&k, 0);
}

/* crasher segv|abort: three Pings, then dies when the parent answers Pong. */
static int h_crasher(int argc, char **argv)
{
    kid k = {.crash = argv[1]};
    if (kid_start(&k, argc, argv) != 0)
        return C_SETUP;
    for (int i = 0; i < 3; i++)
        send_ping(k.top, i);
    return kid_finish(&k, 1);
}

/* badmsg unhandled|undecodable: breaks the protocol, expects to be killed. */
static int h_badmsg(int argc, char **argv)
{
    kid k = {0};
    if (kid_start(&k, argc, argv) != 0)
        return C_SETUP;
    send_ping(k.top, 0); /* a good one first: the parent must run it */
    if (strcmp(argv[1], "unhandled") == 0) {
        send_pong(k.top, "the parent's map has no Pong");
    } else {
        /* A Ping whose bytes param claims 1000 bytes and has none. */
        ipc_msg *m = ipc_msg_new(IPC_ROUTING_CONTROL, IPC_MSGTYPE(PTest, Ping), 0);
        if (!m || ipc_pickle_write_u32(ipc_msg_writer(m), 1000) != 0)
            return C_SETUP;
        ipc_actor_send(k.top, m);
    }
    return kid_finish(&k, 1);
}

/* closer: on the parent's Pong, Close (Goodbye), free the connection (which
 * flushes the Goodbye) and exit at once, as the seed's DemoChild does. */
static int h_closer(int argc, char **argv)
{
    kid k = {.close_on_pong = 1};
    if (kid_start(&k, argc, argv) != 0)
        return C_SETUP;
    long end = now_ms() + T_MS;
    while (!k.pong && now_ms() < end)
        ipc_loop_run_once(k.loop, 50);
    if (!k.pong)
        return C_SETUP;
    ipc_actor_close(k.top);
    return kid_finish(&k, 0);
}

static const rig_helper helpers[] = {
    {"closer", h_closer}, {"pinger", h_pinger}, {"crasher", h_crasher},
    {"badmsg", h_badmsg}, {NULL, NULL},
};

/* ================= the parent ================= */

typedef struct par {
    ipc_loop *loop;
    ipc_host *host;
    ipc_actor *top;
    int bind_on_ready;
    int ready_calls, ready_err;
    pid_t peer_at_ready; /* what the connection said the peer was, at ready */
    int exited;
    ipc_crash_info info;
    char report[PATH_MAX];
    int destroyed;
    ipc_destroy_reason why;
    int pings;
    int32_t order[64];
    int pong_after; /* answer Pong after this many Pings (0: never) */
} par;

static int par_on_ping(void *ctx, ipc_msg *msg, ipc_PTest_Ping *in, ipc_PTest_Ping_reply *out)
{
    par *p = ctx;
    (void)msg;
    (void)out;
    int32_t seq = -1;
    if (in->data.len == 4)
        memcpy(&seq, in->data.data, 4);
    if (p->pings < 64)
        p->order[p->pings] = seq;
    p->pings++;
    if (p->pong_after && p->pings == p->pong_after)
        send_pong(p->top, "now crash");
    return 0;
}

/* No Pong handler: a Pong from the child is a bad message. */
static const ipc_msgmap_entry par_map[] = {
    IPC_HANDLER(PTest, Ping, par_on_ping),
};

static void par_destroy(void *ctx, ipc_actor *a, ipc_destroy_reason why)
{
    par *p = ctx;
    (void)a;
    p->destroyed = 1;
    p->why = why;
}

static void par_ready(void *ctx, ipc_host *host, int err)
{
    par *p = ctx;
    p->ready_calls++;
    p->ready_err = err;
    if (err == 0)
        p->peer_at_ready = ipc_conn_peer_pid(ipc_host_conn(host));
    if (err == 0 && p->bind_on_ready)
        ck_assert_int_eq(ipc_conn_bind(ipc_host_conn(host), p->top), 0);
}

static void par_exited(void *ctx, ipc_host *host, const ipc_crash_info *info,
                       const char *report_path)
{
    par *p = ctx;
    (void)host;
    p->exited++;
    p->info = *info;
    snprintf(p->report, sizeof p->report, "%s", report_path);
}

static void setup(void)
{
    /* The IO thread and its fds live as long as the process: start it first. */
    ck_assert_ptr_nonnull(ipc_iothread_default());
    rig_fd_mark();
}

/* Launches `self --helper name arg` as a "test" child. */
static void par_launch(par *p, const char *name, const char *arg, const char *crash_dir,
                       char **envp)
{
    ck_assert_int_eq(ipc_loop_new(&p->loop), 0);
    ipc_actor_ops ops = {
        .map = par_map, .map_len = IPC_MSGMAP_LEN(par_map), .actor_destroy = par_destroy};
    ck_assert_int_eq(ipc_actor_new(&p->top, &ipc_PTest_protocol, IPC_SIDE_PARENT, &ops, p), 0);
    rig_proc_launch l;
    rig_proc_prepare(&l, name, arg, "test", -1);
    l.opts.crash_dir = crash_dir;
    l.opts.envp = (const char *const *)envp;
    ipc_host_opts o = {.loop = p->loop,
                       .proc = l.opts,
                       .label = "default",
                       .ready = par_ready,
                       .exited = par_exited,
                       .ctx = p};
    ck_assert_int_eq(ipc_host_launch(&o, &p->host), 0);
}

static void par_run_until(par *p, const int *flag, int want)
{
    long end = now_ms() + T_MS;
    while (*flag < want && now_ms() < end)
        ipc_loop_run_once(p->loop, 50);
    ck_assert_msg(*flag >= want, "gave up waiting");
}

static void par_free(par *p)
{
    ipc_host_free(p->host);
    ipc_actor_unref(p->top);
    ipc_loop_run_once(p->loop, 0);
    ipc_loop_free(p->loop);
}

static ipc_conn_counts par_counts(par *p)
{
    ipc_conn_counts c;
    ipc_conn_get_counts(ipc_host_conn(p->host), &c);
    return c;
}

/* ================= tests ================= */

START_TEST(host_launch_binds_and_closes_normally)
{
    setup();
    par p = {.bind_on_ready = 1};
    par_launch(&p, "pinger", "3", NULL, NULL);
    par_run_until(&p, &p.pings, 3);
    ck_assert_int_eq(p.ready_calls, 1);
    ck_assert_int_eq(p.ready_err, 0);
    ck_assert_int_gt(ipc_host_pid(p.host), 0);
    /* Known from the launch, before the child's hello: logs name it. */
    ck_assert_int_eq(p.peer_at_ready, ipc_host_pid(p.host));
    ck_assert_int_eq(ipc_conn_peer_pid(ipc_host_conn(p.host)), ipc_host_pid(p.host));
    ipc_actor_close(p.top);
    ck_assert(p.destroyed && p.why == IPC_NORMAL_SHUTDOWN);
    par_run_until(&p, &p.exited, 1);
    ck_assert_msg(p.info.exited && p.info.exit_status == C_NORMAL,
                  "child exited=%d status=%d "
                  "signal=%d",
                  p.info.exited, p.info.exit_status, p.info.signal);
    ck_assert_str_eq(p.report, "");
    ck_assert_str_eq(p.info.process_type, "test");
    ck_assert(ipc_host_exited(p.host));
    ipc_conn_counts c = par_counts(&p);
    ck_assert_uint_eq(c.dispatched, 3);
    ck_assert_uint_eq(c.lost, 0);
    par_free(&p);
    rig_assert_no_leaks();
}
END_TEST

START_TEST(host_messages_before_bind_are_kept)
{
    setup();
    par p = {.bind_on_ready = 0};
    par_launch(&p, "pinger", "5", NULL, NULL);
    par_run_until(&p, &p.ready_calls, 1);
    ck_assert_int_eq(p.ready_err, 0);
    long end = now_ms() + T_MS;
    ipc_conn_counts c = par_counts(&p);
    while (c.received < 5 && now_ms() < end) {
        ipc_loop_run_once(p.loop, 50);
        c = par_counts(&p);
    }
    ck_assert_uint_eq(c.received, 5);
    ck_assert_uint_eq(c.early, 5);
    ck_assert_int_eq(p.pings, 0);
    ck_assert_int_eq(ipc_conn_bind(ipc_host_conn(p.host), p.top), 0);
    ck_assert_int_eq(p.pings, 5); /* replayed at Bind, in order */
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(p.order[i], i);
    c = par_counts(&p);
    ck_assert_uint_eq(c.dispatched, 5);
    ck_assert_uint_eq(c.lost, 0);
    ipc_actor_close(p.top);
    par_run_until(&p, &p.exited, 1);
    ck_assert(p.info.exited && p.info.exit_status == C_NORMAL);
    par_free(&p);
    rig_assert_no_leaks();
}
END_TEST

/* Reads the report and checks it names the child and its last messages. */
static void check_report(const par *p, int sig)
{
    ck_assert_msg(p->report[0] != '\0', "no crash report");
    size_t len;
    char *text = rig_slurp(p->report, &len);
    ck_assert_ptr_nonnull(text);
    ipc_crash_report rep;
    ck_assert_int_eq(ipc_crash_report_parse(text, len, &rep), 0);
    ck_assert_int_eq(rep.info.pid, p->info.pid);
    ck_assert_int_eq(rep.info.parent_pid, getpid());
    ck_assert_str_eq(rep.info.process_type, "test");
    ck_assert_int_eq(rep.info.exited, 0);
    ck_assert_int_eq(rep.info.signal, sig);
    /* The ring holds the channel's last messages: three Pings in, the Pong
     * that made the child crash out, last. */
    int pings = 0, pongs = 0;
    for (size_t i = 0; i < rep.nmsgs; i++) {
        if (rep.msgs[i].dir == IPC_MSG_RECEIVED && strstr(rep.msgs[i].desc, "PTest::Msg_Ping"))
            pings++;
        if (rep.msgs[i].dir == IPC_MSG_SENT && strstr(rep.msgs[i].desc, "PTest::Msg_Pong"))
            pongs++;
    }
    ck_assert_int_eq(pings, 3);
    ck_assert_int_eq(pongs, 1);
    ck_assert_uint_gt(rep.nmsgs, 0);
    ck_assert_int_eq(rep.msgs[rep.nmsgs - 1].dir, IPC_MSG_SENT);
    ck_assert_ptr_nonnull(strstr(rep.msgs[rep.nmsgs - 1].desc, "PTest::Msg_Pong"));
    ipc_crash_report_dispose(&rep);
    free(text);
}

static void run_crash_case(const char *how, int sig)
{
    setup();
    char *dir = rig_tempdir();
    ck_assert_ptr_nonnull(dir);
    char **env = rig_env_raw_signals(); /* die of the signal, not of a sanitizer report */
    par p = {.bind_on_ready = 1, .pong_after = 3};
    par_launch(&p, "crasher", how, dir, env);
    rig_env_free(env);
    par_run_until(&p, &p.exited, 1);
    par_run_until(&p, &p.destroyed, 1);
    ck_assert_int_eq(p.why, IPC_ABNORMAL_SHUTDOWN);
    ck_assert_int_eq(p.info.exited, 0);
    ck_assert_int_eq(p.info.signal, sig);
    ck_assert_int_eq(p.pings, 3);
    check_report(&p, sig);
    ck_assert_int_eq(strncmp(p.report, dir, strlen(dir)), 0);
    par_free(&p);
    rig_rmdir_all(dir);
    rig_assert_no_leaks();
}

START_TEST(host_child_segv_is_abnormal_shutdown_with_report)
{
    run_crash_case("segv", SIGSEGV);
}
END_TEST

START_TEST(host_child_abort_is_abnormal_shutdown_with_report)
{
    run_crash_case("abort", SIGABRT);
}
END_TEST

/* The child breaks the protocol: the host kills it (no crash report: the
 * parent caused that death) and the parent actor dies abnormally. */
static void run_bad_message_case(const char *kind, uint64_t want_unhandled, uint64_t want_bad)
{
    setup();
    char *dir = rig_tempdir();
    ck_assert_ptr_nonnull(dir);
    par p = {.bind_on_ready = 1};
    par_launch(&p, "badmsg", kind, dir, NULL);
    par_run_until(&p, &p.exited, 1);
    ck_assert(p.destroyed);
    ck_assert_int_eq(p.why, IPC_ABNORMAL_SHUTDOWN);
    ck_assert_msg(!p.info.exited && p.info.signal == SIGKILL, "child exited=%d status=%d signal=%d",
                  p.info.exited, p.info.exit_status, p.info.signal);
    ck_assert_str_eq(p.report, "");
    ck_assert_int_eq(p.pings, 1); /* the good message before the bad one ran */
    ipc_conn_counts c = par_counts(&p);
    ck_assert_uint_eq(c.dispatched, 1);
    /* One bad message is counted once, under the right heading. */
    ck_assert_uint_eq(c.unhandled, want_unhandled);
    ck_assert_uint_eq(c.bad, want_bad);
    par_free(&p);
    rig_rmdir_all(dir);
    rig_assert_no_leaks();
}

START_TEST(host_unhandled_message_kills_the_child)
{
    run_bad_message_case("unhandled", 1, 0);
}
END_TEST

START_TEST(host_undecodable_message_kills_the_child)
{
    run_bad_message_case("undecodable", 0, 1);
}
END_TEST

START_TEST(host_exec_failure_is_reported_as_ipc_e_exec)
{
    setup();
    par p = {.bind_on_ready = 1};
    ck_assert_int_eq(ipc_loop_new(&p.loop), 0);
    ipc_actor_ops ops = {.actor_destroy = par_destroy};
    ck_assert_int_eq(ipc_actor_new(&p.top, &ipc_PTest_protocol, IPC_SIDE_PARENT, &ops, &p), 0);
    ipc_host_opts o = {
        .loop = p.loop, .label = "default", .ready = par_ready, .exited = par_exited, .ctx = &p};
    ipc_proc_opts_init(&o.proc);
    o.proc.path = "/nonexistent/ipcrig-no-such-program";
    o.proc.process_type = "test";
    ck_assert_int_eq(ipc_host_launch(&o, &p.host), 0); /* the exec fails in the child */
    par_run_until(&p, &p.ready_calls, 1);
    ck_assert_int_eq(p.ready_calls, 1);
    ck_assert_int_eq(p.ready_err, IPC_E_EXEC);
    ck_assert_int_eq(p.destroyed, 0); /* never bound */
    par_free(&p);
    ck_assert_int_eq(p.ready_calls, 1);
    ck_assert_int_eq(p.exited, 0); /* a failed launch is not a death */
    rig_assert_no_leaks();
}
END_TEST

START_TEST(host_launch_with_bad_options_fails_at_once)
{
    setup();
    ipc_loop *loop;
    ck_assert_int_eq(ipc_loop_new(&loop), 0);
    ipc_host *h = NULL;
    ipc_host_opts o = {.loop = loop};
    ipc_proc_opts_init(&o.proc);
    o.proc.path = rig_self_exe();
    o.proc.process_type = "no-such-type";
    ck_assert_int_eq(ipc_host_launch(&o, &h), -EINVAL);
    ck_assert_ptr_null(h);
    o.loop = NULL;
    o.proc.process_type = "test";
    ck_assert_int_eq(ipc_host_launch(&o, &h), -EINVAL);
    ipc_loop_free(loop);
    rig_assert_no_leaks();
}
END_TEST

START_TEST(host_free_kills_and_reaps_a_running_child)
{
    setup();
    par p = {.bind_on_ready = 1};
    par_launch(&p, "pinger", "1", NULL, NULL);
    par_run_until(&p, &p.pings, 1);
    pid_t pid = ipc_host_pid(p.host);
    par_free(&p); /* the child is still waiting for our Close */
    ck_assert(p.destroyed && p.why == IPC_ABNORMAL_SHUTDOWN);
    ck_assert_int_eq(kill(pid, 0), -1); /* reaped: the pid is gone */
    rig_assert_no_leaks();
}
END_TEST

/* The child sends Goodbye and exits at once; the parent sees the death before
 * its IO thread has read the Goodbye (parked here to make that certain). The
 * Goodbye still decides: NormalShutdown, not a crash. */
START_TEST(host_goodbye_read_after_the_death_is_still_normal_shutdown)
{
    setup();
    par p = {.bind_on_ready = 1};
    par_launch(&p, "closer", NULL, NULL, NULL);
    par_run_until(&p, &p.ready_calls, 1);
    ck_assert_int_eq(p.ready_err, 0);
    ipc_iothread *io = ipc_iothread_default();
    ck_assert_int_eq(ipc_iothread_park(io), 0);
    ck_assert_int_eq(send_pong(p.top, "close now"), 0); /* written directly, not by the IO thread */
    par_run_until(&p, &p.exited, 1);
    int destroyed_at_death = p.destroyed;
    ipc_iothread_unpark(io);
    ck_assert_int_eq(destroyed_at_death, 0); /* the unread Goodbye decides, not the death */
    par_run_until(&p, &p.destroyed, 1);
    ck_assert_str_eq(ipc_destroy_reason_name(p.why), "NormalShutdown");
    ck_assert_msg(p.info.exited && p.info.exit_status == C_NORMAL, "child exited=%d status=%d",
                  p.info.exited, p.info.exit_status);
    ipc_conn_counts c = par_counts(&p);
    ck_assert_uint_eq(c.lost, 0);
    par_free(&p);
    rig_assert_no_leaks();
}
END_TEST

/* ---- Close accounting on the receiving side of a Goodbye ---- */

#define BURST_MSGS  64
#define BURST_BYTES (64 * 1024)

typedef struct raw_peer {
    int fd;
    atomic_int go; /* set when our actor died: start reading */
    int pings;     /* PTest::Ping frames read before end of stream */
} raw_peer;

static int read_all(int fd, void *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, (char *)buf + got, len - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        got += (size_t)n;
    }
    return 0;
}

/* Reads frames until end of stream, counting the Pings. */
static void *raw_reader(void *arg)
{
    raw_peer *r = arg;
    struct timespec step = {0, 1000 * 1000};
    while (!atomic_load(&r->go))
        nanosleep(&step, NULL);
    static uint8_t payload[BURST_BYTES + 64];
    uint8_t h[IPC_MSG_HEADER_SIZE];
    while (read_all(r->fd, h, sizeof h) == 0) {
        uint32_t size = rig_wire_get_le32(h), type = rig_wire_get_le32(h + 4);
        if (size > sizeof payload || read_all(r->fd, payload, size) != 0)
            break;
        r->pings += type == IPC_MSGTYPE(PTest, Ping);
    }
    return NULL;
}

static void burst_destroy(void *ctx, ipc_actor *a, ipc_destroy_reason why)
{
    raw_peer *r = ctx;
    (void)a;
    (void)why;
    atomic_store(&r->go, 1);
}

/* We queue more than the socket holds, then the peer's Goodbye arrives. What
 * we had queued must still reach the peer (which reads until end of stream
 * and would count it lost), not vanish with the socket: sent messages are
 * dispatched or reported lost, never neither. */
START_TEST(actor_goodbye_received_still_flushes_what_we_queued)
{
    setup();
    ipc_loop *loop;
    ck_assert_int_eq(ipc_loop_new(&loop), 0);
    ipc_conn *c;
    ipc_conn_opts o = {.proxy = {.mode = IPC_CHAN_SERVER,
                                 .fd = -1,
                                 .side = IPC_SIDE_PARENT,
                                 .listener_loop = loop},
                       .label = "test"};
    ck_assert_int_eq(ipc_conn_new(&c, &o), 0);
    raw_peer r = {.fd = ipc_conn_take_client_fd(c)};
    ck_assert_int_ge(r.fd, 0);
    ipc_actor *a;
    ipc_actor_ops ops = {.actor_destroy = burst_destroy};
    ck_assert_int_eq(ipc_actor_new(&a, &ipc_PTest_protocol, IPC_SIDE_PARENT, &ops, &r), 0);
    ck_assert_int_eq(ipc_conn_bind(c, a), 0);
    rig_buf b;
    rig_buf_init(&b);
    uint8_t pid_le[4];
    rig_wire_le32(pid_le, (uint32_t)getpid());
    rig_wire_frame(&b, IPC_MSG_HELLO, IPC_ROUTING_NONE, 0, 0, 0, pid_le, 4);
    ck_assert_int_eq(rig_send_with_fds(r.fd, b.data, b.len, NULL, 0), 0);
    static uint8_t data[BURST_BYTES];
    for (int i = 0; i < BURST_MSGS; i++) {
        ipc_PTest_Ping p = {.data = {.data = data, .len = sizeof data}};
        ipc_msg *m = NULL;
        ck_assert_int_eq(ipc_PTest_Ping_build(&m, IPC_ROUTING_CONTROL, &p), 0);
        ck_assert_int_eq(ipc_actor_send(a, m), 0);
    }
    b.len = 0;
    rig_wire_frame(&b, IPC_MSG_GOODBYE, IPC_ROUTING_CONTROL, 0, 0, 0, NULL, 0);
    ck_assert_int_eq(rig_send_with_fds(r.fd, b.data, b.len, NULL, 0), 0);
    rig_buf_free(&b);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, raw_reader, &r), 0);
    long end = now_ms() + T_MS;
    while (!atomic_load(&r.go) && now_ms() < end)
        ipc_loop_run_once(loop, 50);
    ck_assert(atomic_load(&r.go));
    ipc_conn_free(c); /* closes: the reader then sees the end of stream */
    pthread_join(t, NULL);
    ck_assert_int_eq(r.pings, BURST_MSGS);
    close(r.fd);
    ipc_actor_unref(a);
    ipc_loop_run_once(loop, 0);
    ipc_loop_free(loop);
    rig_assert_no_leaks();
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("host");
    RIG_TCASE(s, "launch", host_launch_binds_and_closes_normally, 30);
    RIG_TCASE(s, "before_bind", host_messages_before_bind_are_kept, 30);
    RIG_TCASE(s, "segv", host_child_segv_is_abnormal_shutdown_with_report, 30);
    RIG_TCASE(s, "abort", host_child_abort_is_abnormal_shutdown_with_report, 30);
    RIG_TCASE(s, "unhandled", host_unhandled_message_kills_the_child, 30);
    RIG_TCASE(s, "undecodable", host_undecodable_message_kills_the_child, 30);
    RIG_TCASE(s, "exec_failure", host_exec_failure_is_reported_as_ipc_e_exec, 30);
    RIG_TCASE(s, "bad_options", host_launch_with_bad_options_fails_at_once, 30);
    RIG_TCASE(s, "free_running", host_free_kills_and_reaps_a_running_child, 30);
    RIG_TCASE(s, "goodbye_flushes", actor_goodbye_received_still_flushes_what_we_queued, 30);
    RIG_TCASE(s, "goodbye_after_death", host_goodbye_read_after_the_death_is_still_normal_shutdown,
              30);
    return s;
}

int main(int argc, char **argv)
{
    return rig_test_main(argc, argv, suite, helpers);
}
