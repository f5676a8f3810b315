/* Unit tests for the actor layer (actor.h) across real processes: messages
 * kept until Bind, send after Close, Close with queued messages (with and
 * without the EmptyMessageQueue sentinel), Close inside a handler, a peer crash
 * during a sync call, an induced connection error, nested managed actors and
 * their destruction order, refused constructors, async replies and resolvers. */
#include "testutil.h"

#include "ipc/actor.h"
#include "ipc/errors.h"
#include "ipc/log.h"
#include "ipc/protocols/PBrowser.h"
#include "ipc/protocols/PDemo.h"
#include "ipc/protocols/PTest.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define EXIT_NORMAL   0 /* helper saw NormalShutdown */
#define EXIT_ABNORMAL 2 /* helper saw AbnormalShutdown */
#define EXIT_BAD      3 /* helper saw something else */

typedef struct side {
    ipc_loop *loop;
    ipc_conn *conn;
    ipc_actor *top;
    int destroyed;
    ipc_destroy_reason why;
    int pings;
    int32_t order[64];
    int close_in_handler;
    int alive_after_close;
    int fail_on_first_ping;
    int emq_mode; /* parent: 0 answer ok, 1 take and resolve later, 2 fail, 3 drop */
    ipc_resolver *held;
    int resolved, rejected, reject_reason;
    int bool_reply;
    const char *trace; /* file for destruction order (helpers) */
    int refuse_class;
    ipc_side which;
} side;

static ipc_actor *new_managee(side *s, const char *tag);

/* ---- small helpers ---- */

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Runs the loop until *flag becomes non-zero or ms pass. */
static int run_until(ipc_loop *loop, const int *flag, int ms)
{
    long end = now_ms() + ms;
    while (!*flag && now_ms() < end)
        ipc_loop_run_once(loop, 20);
    return *flag;
}

static void trace_line(const char *path, const char *line)
{
    if (!path)
        return;
    FILE *f = fopen(path, "a");
    if (f) {
        fprintf(f, "%s\n", line);
        fclose(f);
    }
}

static int send_ping(ipc_actor *a, int32_t seq)
{
    uint8_t data[4];
    memcpy(data, &seq, 4);
    ipc_PTest_Ping p = {.data = {.data = data, .len = 4}};
    ipc_msg *m = NULL;
    int rc = ipc_PTest_Ping_build(&m, 0, &p);
    return rc ? rc : ipc_actor_send(a, m);
}

/* ---- handlers ---- */

static int on_ping(void *ctx, ipc_msg *msg, ipc_PTest_Ping *in, ipc_PTest_Ping_reply *out)
{
    side *s = ctx;
    (void)msg;
    (void)out;
    int32_t seq = -1;
    if (in->data.len == 4)
        memcpy(&seq, in->data.data, 4);
    if (s->pings < 64)
        s->order[s->pings] = seq;
    s->pings++;
    if (s->close_in_handler) {
        ipc_actor_close(s->top);
        s->alive_after_close = ipc_actor_is_alive(s->top);
    }
    if (s->fail_on_first_ping && s->pings == 1)
        ipc_conn_fail(s->conn, IPC_E_SEND_FAILED);
    return 0;
}

static void resolve_held(void *arg)
{
    side *s = arg;
    ipc_PDemo_EmptyMessageQueue_reply r = {.ok = true};
    ipc_resolver_resolve(s->held, &r);
    s->held = NULL;
}

static int on_emq(void *ctx, ipc_msg *msg, ipc_PDemo_EmptyMessageQueue *in,
                  ipc_PDemo_EmptyMessageQueue_reply *out)
{
    side *s = ctx;
    (void)msg;
    (void)in;
    switch (s->emq_mode) {
    case 1:
        s->held = ipc_actor_take_resolver();
        ipc_loop_post(s->loop, resolve_held, s);
        return 0;
    case 2:
        return IPC_E_STATE;
    case 3:
        ipc_resolver_drop(ipc_actor_take_resolver());
        return 0;
    default:
        out->ok = true;
        return 0;
    }
}

static int on_sync_echo(void *ctx, ipc_msg *msg, ipc_PTest_SyncEcho *in,
                        ipc_PTest_SyncEcho_reply *out)
{
    (void)ctx;
    (void)msg;
    const char *mode = getenv("RIG_SYNC_MODE");
    if (mode && strcmp(mode, "crash") == 0)
        kill(getpid(), SIGKILL);
    if (mode && strcmp(mode, "slow") == 0)
        usleep(600 * 1000);
    size_t n = strlen(in->in) + 32;
    out->out = malloc(n);
    if (!out->out)
        return -1;
    snprintf(out->out, n, "%s is not available", in->in);
    return 0;
}

static const ipc_msgmap_entry test_map[] = {
    IPC_HANDLER(PTest, Ping, on_ping),
    IPC_HANDLER(PTest, SyncEcho, on_sync_echo),
    IPC_HANDLER(PDemo, EmptyMessageQueue, on_emq),
};

static void on_destroy(void *ctx, ipc_actor *a, ipc_destroy_reason why)
{
    side *s = ctx;
    char line[64];
    snprintf(line, sizeof line, "top:%s", ipc_destroy_reason_name(why));
    trace_line(s->trace, line);
    (void)a;
    s->destroyed = 1;
    s->why = why;
}

/* Managed actors: ctx is a tag string; their destruction is traced. */
typedef struct managee {
    side *s;
    char tag[16];
    int destroyed;
    ipc_destroy_reason why;
    char last_url[64];
    ipc_actor *actor;
} managee;

static int on_load_url(void *ctx, ipc_msg *msg, ipc_PBrowser_LoadURL *in,
                       ipc_PBrowser_LoadURL_reply *out)
{
    managee *m = ctx;
    (void)msg;
    (void)out;
    snprintf(m->last_url, sizeof m->last_url, "%s", in->url);
    return 0;
}

static int on_title(void *ctx, ipc_msg *msg, ipc_PBrowser_TitleChanged *in,
                    ipc_PBrowser_TitleChanged_reply *out)
{
    managee *m = ctx;
    (void)msg;
    (void)out;
    snprintf(m->last_url, sizeof m->last_url, "%s", in->title);
    return 0;
}

static const ipc_msgmap_entry browser_map[] = {
    IPC_HANDLER(PBrowser, LoadURL, on_load_url),
    IPC_HANDLER(PBrowser, TitleChanged, on_title),
};

static managee *child_managees[8];
static int nchild_managees;

static void on_managee_destroy(void *ctx, ipc_actor *a, ipc_destroy_reason why)
{
    managee *m = ctx;
    char line[64];
    (void)a;
    snprintf(line, sizeof line, "%s:%s", m->tag, ipc_destroy_reason_name(why));
    trace_line(m->s->trace, line);
    m->destroyed = 1;
    m->why = why;
}

static ipc_actor *alloc_managee(void *ctx, ipc_actor *manager, uint16_t cls)
{
    side *s = ctx;
    if (cls == s->refuse_class)
        return NULL;
    char tag[16];
    snprintf(tag, sizeof tag, "B%d", nchild_managees + 1);
    (void)manager;
    return new_managee(s, tag);
}

static ipc_actor *alloc_managee_of_managee(void *ctx, ipc_actor *manager, uint16_t cls)
{
    managee *m = ctx;
    return alloc_managee(m->s, manager, cls);
}

static ipc_actor *new_managee(side *s, const char *tag)
{
    managee *m = calloc(1, sizeof *m);
    m->s = s;
    snprintf(m->tag, sizeof m->tag, "%s", tag);
    if (nchild_managees < 8)
        child_managees[nchild_managees++] = m;
    ipc_actor_ops ops = {.map = browser_map,
                         .map_len = IPC_MSGMAP_LEN(browser_map),
                         .actor_destroy = on_managee_destroy,
                         .alloc_managee = alloc_managee_of_managee};
    ipc_actor *a = NULL;
    ipc_actor_new(&a, &ipc_PBrowser_protocol, s->which, &ops, m);
    m->actor = a;
    return a;
}

/* ---- fixtures ---- */

static int make_top(side *s, ipc_side which)
{
    ipc_actor_ops ops = {.map = test_map,
                         .map_len = IPC_MSGMAP_LEN(test_map),
                         .actor_destroy = on_destroy,
                         .alloc_managee = alloc_managee};
    s->which = which;
    return ipc_actor_new(&s->top, &ipc_PTest_protocol, which, &ops, s);
}

/* This process's end of a channel to a helper process started with `args`. */
static pid_t start_peer(side *s, ipc_side which, int bind, const char *const *args)
{
    ck_assert_int_eq(ipc_loop_new(&s->loop), 0);
    ipc_conn_opts o = {
        .proxy = {.mode = IPC_CHAN_SERVER, .fd = -1, .side = which, .listener_loop = s->loop},
        .label = "test"};
    ck_assert_int_eq(ipc_conn_new(&s->conn, &o), 0);
    int fd = ipc_conn_take_client_fd(s->conn);
    ck_assert_int_ge(fd, 0);
    pid_t pid = rig_spawn_helper("peer", fd, args);
    close(fd);
    ck_assert_int_gt(pid, 0);
    ck_assert_int_eq(make_top(s, which), 0);
    if (bind)
        ck_assert_int_eq(ipc_conn_bind(s->conn, s->top), 0);
    return pid;
}

static void finish(side *s)
{
    ipc_conn_free(s->conn);
    ipc_actor_unref(s->top);
    ipc_loop_free(s->loop);
}

static void setup(void)
{
    /* The IO thread and its fds live as long as the process: start it first. */
    ck_assert_ptr_nonnull(ipc_iothread_default());
    rig_fd_mark();
}

/* ---- the helper process: one generic peer driven by a script name ---- */

static void close_task(void *arg)
{
    side *s = arg;
    ipc_actor_close(s->top);
}

static void emq_resolved(void *ctx, ipc_msg *reply)
{
    side *s = ctx;
    ipc_PDemo_EmptyMessageQueue_reply r = {0};
    if (ipc_PDemo_EmptyMessageQueue_reply_read(reply, &r) == 0 && r.ok)
        s->resolved = 1;
    ipc_loop_post(s->loop, close_task, s); /* never Close from a response handler */
}

static void emq_rejected(void *ctx, int reason)
{
    side *s = ctx;
    s->rejected = 1;
    s->reject_reason = reason;
    ipc_loop_post(s->loop, close_task, s);
}

static int send_emq(side *s, ipc_resolve_fn res, ipc_reject_fn rej)
{
    ipc_msg *m = NULL;
    ipc_PDemo_EmptyMessageQueue in = {0};
    int rc = ipc_PDemo_EmptyMessageQueue_build(&m, 0, &in);
    return rc ? rc : ipc_actor_send_with_reply(s->top, m, res, rej, s);
}

static int exit_for(const side *s)
{
    if (!s->destroyed)
        return EXIT_BAD;
    return s->why == IPC_NORMAL_SHUTDOWN     ? EXIT_NORMAL
           : s->why == IPC_ABNORMAL_SHUTDOWN ? EXIT_ABNORMAL
                                             : EXIT_BAD;
}

/* argv: peer SCRIPT [N] [TRACE] [SIDE]. The channel is fd 3. */
static int peer_main(int argc, char **argv)
{
    const char *script = argc > 1 ? argv[1] : "wait";
    int n = argc > 2 ? atoi(argv[2]) : 0;
    side s = {0};
    s.trace = argc > 3 && strcmp(argv[3], "-") != 0 ? argv[3] : NULL;
    s.refuse_class = 0x7e;
    ipc_side which = argc > 4 && strcmp(argv[4], "parent") == 0 ? IPC_SIDE_PARENT : IPC_SIDE_CHILD;
    if (ipc_loop_new(&s.loop) != 0)
        return 10;
    ipc_conn_opts o = {.proxy = {.mode = IPC_CHAN_CLIENT,
                                 .fd = IPC_CHILD_CHANNEL_FD,
                                 .side = which,
                                 .listener_loop = s.loop},
                       .label = "peer"};
    if (ipc_conn_new(&s.conn, &o) != 0 || make_top(&s, which) != 0 ||
        ipc_conn_bind(s.conn, s.top) != 0)
        return 11;

    if (strcmp(script, "ping") == 0 || strcmp(script, "ping_close") == 0) {
        for (int i = 0; i < n; i++)
            send_ping(s.top, i);
        if (strcmp(script, "ping_close") == 0)
            ipc_actor_close(s.top);
    } else if (strcmp(script, "ping_sentinel") == 0) {
        for (int i = 0; i < n; i++)
            send_ping(s.top, i);
        send_emq(&s, emq_resolved, emq_rejected);
    } else if (strcmp(script, "emq") == 0) {
        send_emq(&s, emq_resolved, emq_rejected);
        run_until(s.loop, &s.destroyed, 5000);
        int ok = n == 0 ? s.resolved : (s.rejected && s.reject_reason == n);
        finish(&s);
        return ok ? 0 : 20;
    } else if (strcmp(script, "emq_then_close") == 0) {
        send_emq(&s, emq_resolved, emq_rejected);
        ipc_actor_close(s.top);
        run_until(s.loop, &s.rejected, 2000);
        int ok = s.rejected && s.reject_reason == IPC_E_ACTOR_DESTROYED && !s.resolved;
        finish(&s);
        return ok ? 0 : 21;
    } else if (strcmp(script, "browser_echo") == 0) {
        /* Wait for B2 to get a URL, answer on it with TitleChanged. */
        long end = now_ms() + 5000;
        while (now_ms() < end && !(nchild_managees >= 2 && child_managees[1]->last_url[0]))
            ipc_loop_run_once(s.loop, 20);
        if (nchild_managees < 2)
            return 30;
        ipc_PBrowser_TitleChanged t = {.title = child_managees[1]->last_url};
        ipc_msg *m = NULL;
        ipc_PBrowser_TitleChanged_build(&m, 0, &t);
        ipc_actor_send(child_managees[1]->actor, m);
    }
    run_until(s.loop, &s.destroyed, 10000);
    int code = exit_for(&s);
    finish(&s);
    return code;
}

static const rig_helper helpers[] = {{"peer", peer_main}, {NULL, NULL}};

/* ---- tests ---- */

START_TEST(actor_messages_before_bind_are_kept)
{
    setup();
    side s = {0};
    const char *args[] = {"ping", "5", NULL};
    pid_t pid = start_peer(&s, IPC_SIDE_PARENT, 0, args);
    ipc_conn_counts c;
    long end = now_ms() + 5000;
    do {
        ipc_loop_run_once(s.loop, 20);
        ipc_conn_get_counts(s.conn, &c);
    } while (c.received < 5 && now_ms() < end);
    ck_assert_uint_eq(c.early, 5);
    ck_assert_int_eq(s.pings, 0);
    ck_assert_int_eq(ipc_conn_bind(s.conn, s.top), 0);
    ck_assert_int_eq(s.pings, 5);
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(s.order[i], i);
    ipc_conn_get_counts(s.conn, &c);
    ck_assert_uint_eq(c.dispatched, 5);
    ck_assert_uint_eq(c.lost, 0);
    ipc_actor_close(s.top);
    ck_assert(s.destroyed && s.why == IPC_NORMAL_SHUTDOWN);
    ck_assert_int_eq(rig_wait(pid), EXIT_NORMAL);
    finish(&s);
    rig_assert_no_leaks();
}
END_TEST

START_TEST(actor_send_after_close_is_reported_lost)
{
    setup();
    char path[] = "/tmp/ipcrig-actor-log.XXXXXX";
    int lfd = mkstemp(path);
    ck_assert_int_ge(lfd, 0);
    close(lfd);
    ck_assert_int_eq(ipc_log_configure(NULL, path), 0);
    side s = {0};
    const char *args[] = {"wait", NULL};
    pid_t pid = start_peer(&s, IPC_SIDE_PARENT, 1, args);
    ipc_actor_close(s.top);
    ck_assert(s.destroyed && s.why == IPC_NORMAL_SHUTDOWN);
    ck_assert_int_eq(send_ping(s.top, 7), IPC_E_CLOSING);
    ipc_conn_counts c;
    ipc_conn_get_counts(s.conn, &c);
    ck_assert_uint_eq(c.lost, 1);
    ck_assert_int_eq(rig_wait(pid), EXIT_NORMAL);
    ipc_log_configure(NULL, NULL);
    char buf[1024] = {0};
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    size_t got = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    unlink(path);
    ck_assert_uint_gt(got, 0);
    ck_assert_ptr_nonnull(strstr(buf,
                                 "[Parent][Send] Error: (msgtype=0x7e0001,name=PTest::Msg_Ping) "
                                 "Channel closing: too late to send/recv, messages will be lost"));
    finish(&s);
    rig_assert_no_leaks();
}
END_TEST

START_TEST(actor_close_with_queued_messages_accounts_for_every_one)
{
    setup();
    side s = {0};
    const char *args[] = {"ping_close", "50", NULL};
    pid_t pid = start_peer(&s, IPC_SIDE_PARENT, 1, args);
    run_until(s.loop, &s.destroyed, 5000);
    ck_assert(s.destroyed && s.why == IPC_NORMAL_SHUTDOWN);
    ipc_conn_counts c;
    ipc_conn_get_counts(s.conn, &c);
    /* Without the sentinel some or all may be lost, but never silently. */
    ck_assert_uint_eq((uint64_t)s.pings + c.lost, 50);
    ck_assert_uint_eq(c.dispatched, (uint64_t)s.pings);
    ck_assert_int_eq(rig_wait(pid), EXIT_NORMAL);
    finish(&s);
    rig_assert_no_leaks();
}
END_TEST

START_TEST(actor_sentinel_guarantees_delivery_before_close)
{
    setup();
    side s = {0};
    const char *args[] = {"ping_sentinel", "50", NULL};
    pid_t pid = start_peer(&s, IPC_SIDE_PARENT, 1, args);
    run_until(s.loop, &s.destroyed, 5000);
    ck_assert(s.destroyed && s.why == IPC_NORMAL_SHUTDOWN);
    ipc_conn_counts c;
    ipc_conn_get_counts(s.conn, &c);
    ck_assert_int_eq(s.pings, 50);
    for (int i = 0; i < 50 && i < 64; i++)
        ck_assert_int_eq(s.order[i], i);
    ck_assert_uint_eq(c.lost, 0);
    ck_assert_int_eq(rig_wait(pid), EXIT_NORMAL);
    finish(&s);
    rig_assert_no_leaks();
}
END_TEST

START_TEST(actor_close_inside_handler_is_deferred)
{
    setup();
    side s = {0};
    s.close_in_handler = 1;
    const char *args[] = {"ping", "1", NULL};
    pid_t pid = start_peer(&s, IPC_SIDE_PARENT, 1, args);
    run_until(s.loop, &s.destroyed, 5000);
    ck_assert_int_eq(s.pings, 1);
    ck_assert_int_eq(s.alive_after_close, 1); /* still alive inside the handler */
    ck_assert(s.destroyed && s.why == IPC_NORMAL_SHUTDOWN);
    ck_assert_int_eq(rig_wait(pid), EXIT_NORMAL);
    finish(&s);
    rig_assert_no_leaks();
}
END_TEST

START_TEST(actor_sync_call_returns_the_reply)
{
    setup();
    side s = {0};
    const char *args[] = {"wait", "0", "-", "parent", NULL};
    pid_t pid = start_peer(&s, IPC_SIDE_CHILD, 1, args);
    ipc_PTest_SyncEcho in = {.in = "http://www.google.com/"};
    ipc_msg *m = NULL, *reply = NULL;
    ck_assert_int_eq(ipc_PTest_SyncEcho_build(&m, 0, &in), 0);
    ck_assert_int_eq(ipc_actor_send_sync(s.top, m, &reply, 5000), 0);
    ipc_PTest_SyncEcho_reply out = {0};
    ck_assert_int_eq(ipc_PTest_SyncEcho_reply_read(reply, &out), 0);
    ck_assert_str_eq(out.out, "http://www.google.com/ is not available");
    ipc_PTest_SyncEcho_reply_free(&out);
    ipc_msg_free(reply);
    ipc_actor_close(s.top);
    ck_assert_int_eq(rig_wait(pid), EXIT_NORMAL);
    finish(&s);
    rig_assert_no_leaks();
}
END_TEST

START_TEST(actor_sync_call_from_parent_is_refused)
{
    setup();
    side s = {0};
    const char *args[] = {"wait", NULL};
    pid_t pid = start_peer(&s, IPC_SIDE_PARENT, 1, args);
    ipc_PTest_SyncEcho in = {.in = "x"};
    ipc_msg *m = NULL, *reply = NULL;
    ck_assert_int_eq(ipc_PTest_SyncEcho_build(&m, 0, &in), 0);
    ck_assert_int_eq(ipc_actor_send_sync(s.top, m, &reply, 1000), IPC_E_SYNC_FROM_PARENT);
    ck_assert_ptr_null(reply);
    ipc_actor_close(s.top);
    ck_assert_int_eq(rig_wait(pid), EXIT_NORMAL);
    finish(&s);
    rig_assert_no_leaks();
}
END_TEST

START_TEST(actor_peer_crash_during_sync_call_fails_it)
{
    setup();
    setenv("RIG_SYNC_MODE", "crash", 1);
    side s = {0};
    const char *args[] = {"wait", "0", "-", "parent", NULL};
    pid_t pid = start_peer(&s, IPC_SIDE_CHILD, 1, args);
    ipc_PTest_SyncEcho in = {.in = "boom"};
    ipc_msg *m = NULL, *reply = NULL;
    ck_assert_int_eq(ipc_PTest_SyncEcho_build(&m, 0, &in), 0);
    int rc = ipc_actor_send_sync(s.top, m, &reply, 5000);
    ck_assert_msg(rc == IPC_E_PEER_CLOSED || rc == IPC_E_CLOSED, "sync call gave %s",
                  ipc_errname(rc));
    ck_assert_ptr_null(reply);
    run_until(s.loop, &s.destroyed, 5000);
    ck_assert(s.destroyed && s.why == IPC_ABNORMAL_SHUTDOWN);
    ck_assert_int_eq(rig_wait(pid), 128 + SIGKILL);
    unsetenv("RIG_SYNC_MODE");
    finish(&s);
    rig_assert_no_leaks();
}
END_TEST

START_TEST(actor_sync_call_times_out)
{
    setup();
    setenv("RIG_SYNC_MODE", "slow", 1);
    side s = {0};
    const char *args[] = {"wait", "0", "-", "parent", NULL};
    pid_t pid = start_peer(&s, IPC_SIDE_CHILD, 1, args);
    unsetenv("RIG_SYNC_MODE");
    ipc_PTest_SyncEcho in = {.in = "slow"};
    ipc_msg *m = NULL, *reply = NULL;
    ck_assert_int_eq(ipc_PTest_SyncEcho_build(&m, 0, &in), 0);
    ck_assert_int_eq(ipc_actor_send_sync(s.top, m, &reply, 100), IPC_E_TIMEOUT);
    ck_assert_ptr_null(reply);
    ipc_actor_close(s.top);
    ck_assert_int_eq(rig_wait(pid), EXIT_NORMAL);
    finish(&s);
    rig_assert_no_leaks();
}
END_TEST

START_TEST(actor_induced_connection_error_drops_the_follow_up)
{
    setup();
    side s = {0};
    s.fail_on_first_ping = 1;
    const char *args[] = {"ping", "2", NULL};
    pid_t pid = start_peer(&s, IPC_SIDE_PARENT, 1, args);
    run_until(s.loop, &s.destroyed, 5000);
    ck_assert(s.destroyed && s.why == IPC_ABNORMAL_SHUTDOWN);
    /* Let the follow-up arrive if it were going to. */
    for (int i = 0; i < 10; i++)
        ipc_loop_run_once(s.loop, 10);
    ck_assert_int_eq(s.pings, 1);
    ck_assert_int_eq(rig_wait(pid), EXIT_ABNORMAL);
    finish(&s);
    rig_assert_no_leaks();
}
END_TEST

static char *read_file(const char *path)
{
    static char buf[4096];
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

START_TEST(actor_nested_managed_actors_die_children_first)
{
    setup();
    char trace[] = "/tmp/ipcrig-actor-trace.XXXXXX";
    int tfd = mkstemp(trace);
    close(tfd);
    side s = {0};
    const char *args[] = {"browser_echo", "0", trace, NULL};
    pid_t pid = start_peer(&s, IPC_SIDE_PARENT, 1, args);
    ipc_actor *b1 = new_managee(&s, "P1");
    ipc_actor *b2 = new_managee(&s, "P2");
    ck_assert_int_eq(ipc_actor_construct(s.top, b1), 0);
    ck_assert_int_eq(ipc_actor_construct(b1, b2), 0);
    ck_assert_int_eq(ipc_actor_routing_id(b1), 1);
    ck_assert_int_eq(ipc_actor_routing_id(b2), 3);
    ipc_PBrowser_LoadURL u = {.url = "about:blank"};
    ipc_msg *m = NULL;
    ck_assert_int_eq(ipc_PBrowser_LoadURL_build(&m, 0, &u), 0);
    ck_assert_int_eq(ipc_actor_send(b2, m), 0);
    managee *p2 = ipc_actor_ctx(b2);
    long end = now_ms() + 5000;
    while (!p2->last_url[0] && now_ms() < end)
        ipc_loop_run_once(s.loop, 20);
    ck_assert_str_eq(p2->last_url, "about:blank"); /* the child answered on B2's route */
    ipc_actor_close(s.top);
    ck_assert_int_eq(rig_wait(pid), EXIT_NORMAL);
    const char *t = read_file(trace);
    ck_assert_ptr_nonnull(t);
    ck_assert_str_eq(t, "B2:NormalShutdown\nB1:NormalShutdown\ntop:NormalShutdown\n");
    managee *p1 = ipc_actor_ctx(b1);
    ck_assert(p1->destroyed && p1->why == IPC_NORMAL_SHUTDOWN);
    ck_assert(p2->destroyed && p2->why == IPC_NORMAL_SHUTDOWN);
    unlink(trace);
    ipc_actor_unref(b1);
    ipc_actor_unref(b2);
    finish(&s);
    rig_assert_no_leaks();
}
END_TEST

START_TEST(actor_delete_and_refused_constructor)
{
    setup();
    char trace[] = "/tmp/ipcrig-actor-trace.XXXXXX";
    int tfd = mkstemp(trace);
    close(tfd);
    side s = {0};
    const char *args[] = {"wait", "0", trace, NULL};
    pid_t pid = start_peer(&s, IPC_SIDE_PARENT, 1, args);
    ipc_actor *b1 = new_managee(&s, "P1");
    ipc_actor *b2 = new_managee(&s, "P2");
    ck_assert_int_eq(ipc_actor_construct(s.top, b1), 0);
    ck_assert_int_eq(ipc_actor_construct(b1, b2), 0);
    /* A PTest managee: the child's alloc_managee refuses that class. */
    ipc_actor *refused = NULL;
    ipc_actor_ops ops = {.actor_destroy = on_managee_destroy};
    managee rm = {.s = &s, .tag = "R"};
    ck_assert_int_eq(ipc_actor_new(&refused, &ipc_PTest_protocol, IPC_SIDE_PARENT, &ops, &rm), 0);
    ck_assert_int_eq(ipc_actor_delete(b1), 0);
    managee *p1 = ipc_actor_ctx(b1), *p2 = ipc_actor_ctx(b2);
    ck_assert(p2->destroyed && p2->why == IPC_DELETION);
    ck_assert(p1->destroyed && p1->why == IPC_DELETION);
    /* The refusal comes back only after the child ran the Delete sent before
     * it: without that round trip our Goodbye could overtake the Delete. */
    ck_assert_int_eq(ipc_actor_construct(s.top, refused), 0);
    run_until(s.loop, &rm.destroyed, 5000);
    ck_assert(rm.destroyed && rm.why == IPC_FAILED_CONSTRUCTOR);
    ck_assert(ipc_actor_is_alive(s.top));
    ipc_actor_close(s.top);
    ck_assert_int_eq(rig_wait(pid), EXIT_NORMAL);
    const char *t = read_file(trace);
    ck_assert_ptr_nonnull(t);
    ck_assert_str_eq(t, "B2:Deletion\nB1:Deletion\ntop:NormalShutdown\n");
    unlink(trace);
    ipc_actor_unref(b1);
    ipc_actor_unref(b2);
    ipc_actor_unref(refused);
    finish(&s);
    rig_assert_no_leaks();
}
END_TEST

/* The child sends EmptyMessageQueue; the parent answers per emq_mode; the
 * child's exit code says whether its resolve/reject saw what was expected. */
static void run_emq_case(int mode, const char *expect)
{
    setup();
    side s = {0};
    s.emq_mode = mode;
    const char *args[] = {"emq", expect, NULL};
    pid_t pid = start_peer(&s, IPC_SIDE_PARENT, 1, args);
    run_until(s.loop, &s.destroyed, 5000);
    ck_assert(s.destroyed && s.why == IPC_NORMAL_SHUTDOWN);
    ipc_conn_counts c;
    ipc_conn_get_counts(s.conn, &c);
    ck_assert_uint_eq(c.dropped_resolvers, mode == 3 ? 1 : 0);
    ck_assert_int_eq(rig_wait(pid), 0);
    finish(&s);
    rig_assert_no_leaks();
}

START_TEST(actor_async_reply_resolves)
{
    run_emq_case(0, "0");
}
END_TEST

START_TEST(actor_async_reply_from_a_taken_resolver)
{
    run_emq_case(1, "0");
}
END_TEST

START_TEST(actor_async_reply_error_rejects)
{
    char reason[16];
    snprintf(reason, sizeof reason, "%d", IPC_E_REPLY_ERROR);
    run_emq_case(2, reason);
}
END_TEST

START_TEST(actor_dropped_resolver_is_reported_and_rejects)
{
    char reason[16];
    snprintf(reason, sizeof reason, "%d", IPC_E_REPLY_ERROR);
    run_emq_case(3, reason);
}
END_TEST

START_TEST(actor_close_before_reply_rejects_with_actor_destroyed)
{
    setup();
    side s = {0};
    const char *args[] = {"emq_then_close", NULL};
    pid_t pid = start_peer(&s, IPC_SIDE_PARENT, 1, args);
    run_until(s.loop, &s.destroyed, 5000);
    ck_assert_int_eq(rig_wait(pid), 0);
    finish(&s);
    rig_assert_no_leaks();
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("actor");
    RIG_TCASE(s, "before_bind", actor_messages_before_bind_are_kept, 20);
    RIG_TCASE(s, "send_after_close", actor_send_after_close_is_reported_lost, 20);
    RIG_TCASE(s, "close_queued", actor_close_with_queued_messages_accounts_for_every_one, 20);
    RIG_TCASE(s, "sentinel", actor_sentinel_guarantees_delivery_before_close, 20);
    RIG_TCASE(s, "close_in_handler", actor_close_inside_handler_is_deferred, 20);
    RIG_TCASE(s, "sync_reply", actor_sync_call_returns_the_reply, 20);
    RIG_TCASE(s, "sync_parent", actor_sync_call_from_parent_is_refused, 20);
    RIG_TCASE(s, "sync_crash", actor_peer_crash_during_sync_call_fails_it, 20);
    RIG_TCASE(s, "sync_timeout", actor_sync_call_times_out, 20);
    RIG_TCASE(s, "conn_error", actor_induced_connection_error_drops_the_follow_up, 20);
    RIG_TCASE(s, "nested", actor_nested_managed_actors_die_children_first, 20);
    RIG_TCASE(s, "delete_refuse", actor_delete_and_refused_constructor, 20);
    RIG_TCASE(s, "async_resolve", actor_async_reply_resolves, 20);
    RIG_TCASE(s, "async_taken", actor_async_reply_from_a_taken_resolver, 20);
    RIG_TCASE(s, "async_error", actor_async_reply_error_rejects, 20);
    RIG_TCASE(s, "async_dropped", actor_dropped_resolver_is_reported_and_rejects, 20);
    RIG_TCASE(s, "async_destroyed", actor_close_before_reply_rejects_with_actor_destroyed, 20);
    return s;
}

int main(int argc, char **argv)
{
    return rig_test_main(argc, argv, suite, helpers);
}
