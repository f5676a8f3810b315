/* Unit tests for message maps: typed dispatch, unhandled messages, param
 * errors, flags that contradict the declaration, sync and async-returns
 * replies, reply errors, and fd ownership through a handler. */
#include "testutil.h"

#include "ipc/errors.h"
#include "ipc/loop.h"
#include "ipc/protocols/all.h"
#include "ipc/proxy.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct calls {
    int init, echo, emq, helpline, launch, assist;
    int32_t pid;
    char dump_dir[64];
    int kept_fd;
    int echo_result;
    int launch_fd;
} calls;

static int on_init(void *ctx, ipc_msg *msg, ipc_PDemo_InitCrashReporter *in,
                   ipc_PDemo_InitCrashReporter_reply *out)
{
    calls *c = ctx;
    (void)out;
    ck_assert_uint_eq(ipc_msg_type(msg), IPC_MSGTYPE(PDemo, InitCrashReporter));
    c->init++;
    c->pid = in->pid;
    snprintf(c->dump_dir, sizeof c->dump_dir, "%s", in->info->dump_dir);
    return 0;
}

static int on_echo(void *ctx, ipc_msg *msg, ipc_PTest_SyncEcho *in, ipc_PTest_SyncEcho_reply *out)
{
    calls *c = ctx;
    (void)msg;
    c->echo++;
    if (c->echo_result < 0)
        return c->echo_result;
    size_t n = strlen(in->in) + 7;
    out->out = malloc(n);
    snprintf(out->out, n, "echo: %s", in->in);
    return 0;
}

static int on_emq(void *ctx, ipc_msg *msg, ipc_PDemo_EmptyMessageQueue *in,
                  ipc_PDemo_EmptyMessageQueue_reply *out)
{
    (void)msg;
    (void)in;
    ((calls *)ctx)->emq++;
    out->ok = true;
    return 0;
}

/* Takes the endpoint: it must survive the dispatch. */
static int on_helpline(void *ctx, ipc_msg *msg, ipc_PDemo_CreateDemoHelplineChild *in,
                       ipc_PDemo_CreateDemoHelplineChild_reply *out)
{
    calls *c = ctx;
    (void)msg;
    (void)out;
    c->helpline++;
    c->kept_fd = in->endpoint;
    in->endpoint = -1;
    return 0;
}

/* Leaves the endpoint: the dispatcher closes it. */
static int on_helpline_ignore(void *ctx, ipc_msg *msg, ipc_PDemo_CreateDemoHelplineChild *in,
                              ipc_PDemo_CreateDemoHelplineChild_reply *out)
{
    (void)msg;
    (void)out;
    ((calls *)ctx)->kept_fd = in->endpoint; /* only remembered, not owned */
    return 0;
}

/* Answers with an fd and a proto, both handed to the dispatcher. */
static int on_launch(void *ctx, ipc_msg *msg, ipc_PContent_LaunchDemoProcess *in,
                     ipc_PContent_LaunchDemoProcess_reply *out)
{
    calls *c = ctx;
    (void)msg;
    (void)in;
    c->launch++;
    int p[2];
    ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
    close(p[1]);
    out->endpoint = p[0];
    c->launch_fd = p[0];
    Ipcrig__EndpointInfo *info = malloc(sizeof *info);
    ipcrig__endpoint_info__init(info);
    info->protocol_class = IPC_CLASS_PDemo;
    info->my_pid = 10;
    info->other_pid = 20;
    info->channel_id = strdup("chan-1");
    out->info = info;
    return 0;
}

static int on_assist(void *ctx, ipc_msg *msg, ipc_PDemoHelpline_GiveAssistance *in,
                     ipc_PDemoHelpline_GiveAssistance_reply *out)
{
    (void)msg;
    (void)in;
    (void)out;
    ((calls *)ctx)->assist++;
    return -EPERM;
}

static const ipc_msgmap_entry map[] = {
    IPC_HANDLER(PDemo, InitCrashReporter, on_init),
    IPC_HANDLER(PTest, SyncEcho, on_echo),
    IPC_HANDLER(PDemo, EmptyMessageQueue, on_emq),
    IPC_HANDLER(PDemo, CreateDemoHelplineChild, on_helpline),
    IPC_HANDLER(PContent, LaunchDemoProcess, on_launch),
    IPC_HANDLER(PDemoHelpline, GiveAssistance, on_assist),
};

static ipc_msg *init_msg(void)
{
    Ipcrig__CrashReporterInit info = IPCRIG__CRASH_REPORTER_INIT__INIT;
    info.dump_dir = "/var/crash";
    ipc_PDemo_InitCrashReporter in = {.pid = 4242, .info = &info};
    ipc_msg *m;
    ck_assert_int_eq(ipc_PDemo_InitCrashReporter_build(&m, IPC_ROUTING_CONTROL, &in), 0);
    return m;
}

START_TEST(msgmap_dispatch_calls_the_typed_handler)
{
    rig_fd_mark();
    calls c = {0};
    ipc_msg *m = init_msg();
    ipc_msg *reply = (ipc_msg *)1;
    ck_assert_int_eq(ipc_msgmap_dispatch(map, IPC_MSGMAP_LEN(map), &c, m, &reply), 0);
    ck_assert_ptr_null(reply); /* async: no reply */
    ck_assert_int_eq(c.init, 1);
    ck_assert_int_eq(c.pid, 4242);
    ck_assert_str_eq(c.dump_dir, "/var/crash");
    /* reply_out may be NULL for async messages. */
    ck_assert_int_eq(ipc_msgmap_dispatch(map, IPC_MSGMAP_LEN(map), &c, m, NULL), 0);
    ck_assert_int_eq(c.init, 2);
    ipc_msg_free(m);
    ck_assert_ptr_eq(ipc_msgmap_find(map, IPC_MSGMAP_LEN(map), IPC_MSGTYPE(PTest, SyncEcho)),
                     &map[1]);
    rig_assert_no_leaks();
}
END_TEST

START_TEST(msgmap_unhandled_messages_are_reported)
{
    calls c = {0};
    ipc_msg *reply = NULL;
    ipc_msg *m = ipc_msg_new(IPC_ROUTING_CONTROL, IPC_MSGTYPE(PTest, Ping), 0);
    ck_assert_int_eq(ipc_msgmap_dispatch(map, IPC_MSGMAP_LEN(map), &c, m, &reply), IPC_E_UNHANDLED);
    ck_assert_ptr_null(reply);
    ipc_msg_free(m);
    /* An undeclared type. */
    m = ipc_msg_new(IPC_ROUTING_CONTROL, 0x00410099, 0);
    ck_assert_int_eq(ipc_msgmap_dispatch(map, IPC_MSGMAP_LEN(map), &c, m, &reply), IPC_E_UNHANDLED);
    ipc_msg_free(m);
    /* A reply of a mapped type belongs to whoever waits for it. */
    ipc_msg *req = init_msg();
    m = ipc_msg_new_reply(req);
    ck_assert_int_eq(ipc_msgmap_dispatch(map, IPC_MSGMAP_LEN(map), &c, m, &reply), IPC_E_UNHANDLED);
    ipc_msg_free(m);
    ipc_msg_free(req);
    /* An empty map. */
    m = init_msg();
    ck_assert_int_eq(ipc_msgmap_dispatch(map, 0, &c, m, &reply), IPC_E_UNHANDLED);
    ipc_msg_free(m);
    ck_assert_int_eq(c.init, 0);
}
END_TEST

START_TEST(msgmap_param_errors_stop_before_the_handler)
{
    rig_fd_mark();
    calls c = {0};
    ipc_msg *reply = (ipc_msg *)1;
    /* pid present, the proto blob missing. */
    ipc_msg *m = ipc_msg_new(IPC_ROUTING_CONTROL, IPC_MSGTYPE(PDemo, InitCrashReporter), 0);
    ipc_pickle_write_i32(ipc_msg_writer(m), 1);
    int cause = 0;
    size_t param = 99;
    ck_assert_int_eq(
        ipc_msgmap_dispatch_ex(map, IPC_MSGMAP_LEN(map), &c, m, &reply, &cause, &param),
        IPC_E_PARAM);
    ck_assert_int_eq(cause, IPC_E_TRUNCATED);
    ck_assert_uint_eq(param, 1);
    ck_assert_ptr_null(reply);
    ck_assert_int_eq(c.init, 0);
    ipc_msg_free(m);

    /* A garbage proto after a valid fd: the fd must not leak. */
    int p[2];
    ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
    close(p[1]);
    m = ipc_msg_new(IPC_ROUTING_CONTROL, IPC_MSGTYPE(PDemo, CreateDemoHelplineChild), 0);
    ck_assert_int_eq(ipc_msg_write_fd(m, p[0]), 0);
    ipc_pickle_write_bytes(ipc_msg_writer(m), "\xff\xff\xff", 3);
    ck_assert_int_eq(
        ipc_msgmap_dispatch_ex(map, IPC_MSGMAP_LEN(map), &c, m, &reply, &cause, &param),
        IPC_E_PARAM);
    ck_assert_int_eq(cause, IPC_E_BAD_PROTO);
    ck_assert_uint_eq(param, 1);
    ck_assert_int_eq(c.helpline, 0);
    ipc_msg_free(m);

    /* Trailing bytes name the param count. */
    m = init_msg();
    ipc_pickle_write_u32(ipc_msg_writer(m), 0);
    ck_assert_int_eq(
        ipc_msgmap_dispatch_ex(map, IPC_MSGMAP_LEN(map), &c, m, &reply, &cause, &param),
        IPC_E_PARAM);
    ck_assert_int_eq(cause, IPC_E_TRAILING);
    ck_assert_uint_eq(param, 2);
    ipc_msg_free(m);
    rig_assert_no_leaks();
}
END_TEST

static ipc_msg *echo_request(const char *s, uint32_t txn)
{
    ipc_PTest_SyncEcho in = {.in = (char *)s};
    ipc_msg *m;
    ck_assert_int_eq(ipc_PTest_SyncEcho_build(&m, IPC_ROUTING_CONTROL, &in), 0);
    ipc_msg_set_txn_id(m, txn);
    return m;
}

START_TEST(msgmap_sync_reply_is_built)
{
    rig_fd_mark();
    calls c = {0};
    ipc_msg *m = echo_request("hi", 9), *reply = NULL;
    ck_assert_int_eq(ipc_msgmap_dispatch(map, IPC_MSGMAP_LEN(map), &c, m, &reply), 0);
    ck_assert_int_eq(c.echo, 1);
    ck_assert_ptr_nonnull(reply);
    ck_assert(ipc_msg_is_reply(reply));
    ck_assert(!ipc_msg_is_reply_error(reply));
    ck_assert_uint_eq(ipc_msg_txn_id(reply), 9);
    ck_assert_uint_eq(ipc_msg_type(reply), IPC_MSGTYPE(PTest, SyncEcho));
    ipc_PTest_SyncEcho_reply out;
    ck_assert_int_eq(ipc_PTest_SyncEcho_reply_read(reply, &out), 0);
    ck_assert_str_eq(out.out, "echo: hi");
    ipc_PTest_SyncEcho_reply_free(&out);
    /* The reply's header is one a peer's frame decoder accepts. */
    uint8_t hdr[IPC_MSG_HEADER_SIZE];
    ipc_msg_header h;
    ipc_msg_encode_header(reply, hdr);
    ck_assert_int_eq(ipc_msg_decode_header(hdr, &h), 0);
    ipc_msg_free(reply);
    ipc_msg_free(m);
    rig_assert_no_leaks();
}
END_TEST

START_TEST(msgmap_handler_failure_builds_a_reply_error)
{
    calls c = {.echo_result = -ENOENT};
    ipc_msg *m = echo_request("hi", 3), *reply = NULL;
    ck_assert_int_eq(ipc_msgmap_dispatch(map, IPC_MSGMAP_LEN(map), &c, m, &reply), -ENOENT);
    ck_assert_ptr_nonnull(reply);
    ck_assert(ipc_msg_is_reply(reply));
    ck_assert(ipc_msg_is_reply_error(reply));
    ck_assert_uint_eq(ipc_msg_txn_id(reply), 3);
    size_t len;
    ipc_msg_payload(reply, &len);
    ck_assert_uint_eq(len, 0);
    uint8_t hdr[IPC_MSG_HEADER_SIZE];
    ipc_msg_header h;
    ipc_msg_encode_header(reply, hdr);
    ck_assert_int_eq(ipc_msg_decode_header(hdr, &h), 0);
    ipc_msg_free(reply);
    ipc_msg_free(m);

    /* An async-returns handler rejecting. */
    ipc_PDemoHelpline_GiveAssistance in = {.message = "help"};
    ck_assert_int_eq(ipc_PDemoHelpline_GiveAssistance_build(&m, IPC_ROUTING_CONTROL, &in), 0);
    ipc_msg_set_txn_id(m, 4);
    ck_assert_int_eq(ipc_msgmap_dispatch(map, IPC_MSGMAP_LEN(map), &c, m, &reply), -EPERM);
    ck_assert_int_eq(c.assist, 1);
    ck_assert(ipc_msg_is_reply_error(reply));
    ipc_msg_free(reply);
    ipc_msg_free(m);
}
END_TEST

START_TEST(msgmap_async_returns_reply_is_built)
{
    calls c = {0};
    ipc_PDemo_EmptyMessageQueue in = {0};
    ipc_msg *m, *reply = NULL;
    ck_assert_int_eq(ipc_PDemo_EmptyMessageQueue_build(&m, IPC_ROUTING_CONTROL, &in), 0);
    ipc_msg_set_txn_id(m, 17);
    ck_assert_int_eq(ipc_msgmap_dispatch(map, IPC_MSGMAP_LEN(map), &c, m, &reply), 0);
    ck_assert_int_eq(c.emq, 1);
    ipc_PDemo_EmptyMessageQueue_reply out;
    ck_assert_int_eq(ipc_PDemo_EmptyMessageQueue_reply_read(reply, &out), 0);
    ck_assert(out.ok);
    ck_assert_uint_eq(ipc_msg_txn_id(reply), 17);
    ipc_msg_free(reply);
    /* The reply needs somewhere to go. */
    ck_assert_int_eq(ipc_msgmap_dispatch(map, IPC_MSGMAP_LEN(map), &c, m, NULL), -EINVAL);
    ck_assert_int_eq(c.emq, 1);
    ipc_msg_free(m);
}
END_TEST

START_TEST(msgmap_flags_must_match_the_declaration)
{
    calls c = {0};
    ipc_msg *reply = NULL;
    /* A sync message sent without the SYNC flag would leave nobody waiting. */
    ipc_msg *m = echo_request("x", 0);
    ipc_msg_set_flags(m, 0);
    ck_assert_int_eq(ipc_msgmap_dispatch(map, IPC_MSGMAP_LEN(map), &c, m, &reply), IPC_E_BAD_FLAGS);
    ipc_msg_free(m);
    /* An async message claiming to be sync. */
    m = init_msg();
    ipc_msg_set_flags(m, IPC_MSG_SYNC);
    ipc_msg_set_txn_id(m, 1);
    ck_assert_int_eq(ipc_msgmap_dispatch(map, IPC_MSGMAP_LEN(map), &c, m, &reply), IPC_E_BAD_FLAGS);
    ipc_msg_free(m);
    /* Async-returns declared, WANTS_REPLY missing. */
    m = ipc_msg_new(IPC_ROUTING_CONTROL, IPC_MSGTYPE(PDemo, EmptyMessageQueue), 0);
    ck_assert_int_eq(ipc_msgmap_dispatch(map, IPC_MSGMAP_LEN(map), &c, m, &reply), IPC_E_BAD_FLAGS);
    ipc_msg_free(m);
    ck_assert_int_eq(c.echo + c.init + c.emq, 0);
    ck_assert_ptr_null(reply);
}
END_TEST

static ipc_msg *helpline_msg(int *pipe_w)
{
    int p[2];
    ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
    Ipcrig__EndpointInfo info = IPCRIG__ENDPOINT_INFO__INIT;
    info.channel_id = "helpline";
    ipc_PDemo_CreateDemoHelplineChild in = {.endpoint = p[0], .info = &info};
    ipc_msg *m;
    ck_assert_int_eq(ipc_PDemo_CreateDemoHelplineChild_build(&m, IPC_ROUTING_CONTROL, &in), 0);
    close(p[0]);
    *pipe_w = p[1];
    return m;
}

START_TEST(msgmap_handler_may_keep_an_fd)
{
    rig_fd_mark();
    calls c = {0};
    int w;
    ipc_msg *m = helpline_msg(&w);
    ck_assert_int_eq(ipc_msgmap_dispatch(map, IPC_MSGMAP_LEN(map), &c, m, NULL), 0);
    ipc_msg_free(m);
    ck_assert_int_eq(c.helpline, 1);
    ck_assert_int_ge(c.kept_fd, 0);
    ck_assert_int_eq(write(w, "z", 1), 1);
    char ch;
    ck_assert_int_eq(read(c.kept_fd, &ch, 1), 1);
    close(c.kept_fd);
    close(w);
    rig_assert_no_leaks();
}
END_TEST

START_TEST(msgmap_fds_a_handler_leaves_are_closed)
{
    rig_fd_mark();
    static const ipc_msgmap_entry ignore[] = {
        IPC_HANDLER(PDemo, CreateDemoHelplineChild, on_helpline_ignore),
    };
    calls c = {0};
    int w;
    ipc_msg *m = helpline_msg(&w);
    ck_assert_int_eq(ipc_msgmap_dispatch(ignore, IPC_MSGMAP_LEN(ignore), &c, m, NULL), 0);
    ipc_msg_free(m);
    ck_assert_int_eq(fcntl(c.kept_fd, F_GETFD), -1);
    close(w);
    rig_assert_no_leaks();
}
END_TEST

START_TEST(msgmap_reply_carries_fds_and_protos)
{
    rig_fd_mark();
    calls c = {0};
    ipc_PContent_LaunchDemoProcess in = {0};
    ipc_msg *m, *reply = NULL;
    ck_assert_int_eq(ipc_PContent_LaunchDemoProcess_build(&m, IPC_ROUTING_CONTROL, &in), 0);
    ipc_msg_set_txn_id(m, 5);
    ck_assert_int_eq(ipc_msgmap_dispatch(map, IPC_MSGMAP_LEN(map), &c, m, &reply), 0);
    ck_assert_int_eq(c.launch, 1);
    /* The handler's fd went into the reply as a dup and was closed. */
    ck_assert_int_eq(fcntl(c.launch_fd, F_GETFD), -1);
    ck_assert_uint_eq(ipc_msg_num_fds(reply), 1);
    ipc_PContent_LaunchDemoProcess_reply out;
    ck_assert_int_eq(ipc_PContent_LaunchDemoProcess_reply_read(reply, &out), 0);
    ck_assert_int_ge(out.endpoint, 0);
    ck_assert_str_eq(out.info->channel_id, "chan-1");
    ck_assert_uint_eq(out.info->protocol_class, 0x41);
    ipc_PContent_LaunchDemoProcess_reply_free(&out);
    ipc_msg_free(reply);
    ipc_msg_free(m);
    rig_assert_no_leaks();
}
END_TEST

/* ---- the generated send helpers over a real proxy, between processes ---- */

typedef struct srv {
    ipc_loop *loop;
    ipc_proxy *proxy;
    int echoes, pings, failed_dispatch, err;
    char ping[16];
} srv;

static int srv_echo(void *ctx, ipc_msg *msg, ipc_PTest_SyncEcho *in, ipc_PTest_SyncEcho_reply *out)
{
    (void)msg;
    srv *s = ctx;
    s->echoes++;
    if (strcmp(in->in, "fail") == 0)
        return -EIO;
    out->out = strdup(in->in);
    return 0;
}

static int srv_ping(void *ctx, ipc_msg *msg, ipc_PTest_Ping *in, ipc_PTest_Ping_reply *out)
{
    (void)msg;
    (void)out;
    srv *s = ctx;
    s->pings++;
    snprintf(s->ping, sizeof s->ping, "%.*s", (int)in->data.len, (const char *)in->data.data);
    return 0;
}

static const ipc_msgmap_entry srv_map[] = {
    IPC_HANDLER(PTest, SyncEcho, srv_echo),
    IPC_HANDLER(PTest, Ping, srv_ping),
};

static void srv_msg(void *ctx, ipc_msg *msg)
{
    srv *s = ctx;
    ipc_msg *reply = NULL;
    int rc = ipc_msgmap_dispatch(srv_map, IPC_MSGMAP_LEN(srv_map), s, msg, &reply);
    if (rc < 0 && rc != -EIO)
        s->failed_dispatch++;
    if (reply)
        ipc_proxy_send(s->proxy, reply);
    ipc_msg_free(msg);
}

static void srv_err(void *ctx, int err)
{
    srv *s = ctx;
    s->err = err;
    ipc_loop_quit(s->loop);
}

/* Helper (the child): sync echoes, a reply error, an async ping, then a last
 * echo whose reply proves the ping was dispatched before the child leaves. */
static int helper_sync_client(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    static const ipc_listener none = {NULL, NULL, NULL, NULL};
    ipc_loop *loop;
    ipc_proxy *p;
    if (ipc_loop_new(&loop) != 0)
        return 10;
    ipc_proxy_opts o = {
        IPC_CHAN_CLIENT, NULL, IPC_CHILD_CHANNEL_FD, IPC_SIDE_CHILD, &none, NULL, loop, NULL, NULL};
    if (ipc_proxy_create(&p, &o) != 0)
        return 11;
    int status = 0;
    ipc_PTest_SyncEcho in = {.in = "hi"};
    ipc_PTest_SyncEcho_reply out;
    if (ipc_PTest_SyncEcho_send(p, IPC_ROUTING_CONTROL, &in, &out, 10000) != 0)
        status = 20;
    else if (strcmp(out.out, "hi") != 0)
        status = 21;
    ipc_PTest_SyncEcho_reply_free(&out);
    in.in = "fail";
    if (!status &&
        ipc_PTest_SyncEcho_send(p, IPC_ROUTING_CONTROL, &in, &out, 10000) != IPC_E_REPLY_ERROR)
        status = 22;
    ipc_PTest_Ping ping = {.data = {(uint8_t *)"bye", 3}};
    if (!status && ipc_PTest_Ping_send(p, IPC_ROUTING_CONTROL, &ping) != 0)
        status = 23;
    in.in = "last";
    if (!status && ipc_PTest_SyncEcho_send(p, IPC_ROUTING_CONTROL, &in, &out, 10000) != 0)
        status = 24;
    ipc_PTest_SyncEcho_reply_free(&out);
    ipc_proxy_free(p);
    ipc_loop_free(loop);
    return status;
}

START_TEST(msgmap_send_helpers_cross_processes)
{
    ck_assert_ptr_nonnull(ipc_iothread_default()); /* its fds stay open */
    rig_fd_mark();
    static const ipc_listener l = {srv_msg, NULL, srv_err, NULL};
    static srv s;
    memset(&s, 0, sizeof s);
    ck_assert_int_eq(ipc_loop_new(&s.loop), 0);
    ipc_proxy_opts o = {IPC_CHAN_SERVER, NULL, -1, IPC_SIDE_PARENT, &l, &s, s.loop, NULL, NULL};
    ck_assert_int_eq(ipc_proxy_create(&s.proxy, &o), 0);
    int cfd = ipc_proxy_take_client_fd(s.proxy);
    ck_assert_int_ge(cfd, 0);
    pid_t pid = rig_spawn_helper("sync_client", cfd, NULL);
    close(cfd);
    ck_assert_int_gt(pid, 0);
    ipc_loop_run(s.loop); /* until the child has gone */
    ck_assert_int_eq(rig_wait(pid), 0);
    ck_assert_int_eq(s.err, IPC_E_PEER_CLOSED);
    ck_assert_int_eq(s.echoes, 3);
    ck_assert_int_eq(s.pings, 1);
    ck_assert_str_eq(s.ping, "bye");
    ck_assert_int_eq(s.failed_dispatch, 0);
    ipc_proxy_free(s.proxy);
    ipc_loop_free(s.loop);
    rig_assert_no_leaks();
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("msgmap");
    RIG_TCASE(s, "dispatch", msgmap_dispatch_calls_the_typed_handler, 10);
    RIG_TCASE(s, "unhandled", msgmap_unhandled_messages_are_reported, 10);
    RIG_TCASE(s, "param_error", msgmap_param_errors_stop_before_the_handler, 10);
    RIG_TCASE(s, "sync_reply", msgmap_sync_reply_is_built, 10);
    RIG_TCASE(s, "reply_error", msgmap_handler_failure_builds_a_reply_error, 10);
    RIG_TCASE(s, "async_returns", msgmap_async_returns_reply_is_built, 10);
    RIG_TCASE(s, "bad_flags", msgmap_flags_must_match_the_declaration, 10);
    RIG_TCASE(s, "keep_fd", msgmap_handler_may_keep_an_fd, 10);
    RIG_TCASE(s, "close_fd", msgmap_fds_a_handler_leaves_are_closed, 10);
    RIG_TCASE(s, "reply_fds", msgmap_reply_carries_fds_and_protos, 10);
    RIG_TCASE(s, "send_helpers", msgmap_send_helpers_cross_processes, 30);
    return s;
}

static const rig_helper helpers[] = {{"sync_client", helper_sync_client}, {NULL, NULL}};

int main(int argc, char **argv)
{
    return rig_test_main(argc, argv, suite, helpers);
}
