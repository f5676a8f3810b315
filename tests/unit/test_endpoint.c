/* Unit tests for endpoints and bridges (endpoint.h) across real processes:
 * the test process plays the main process, launches helper children with
 * ipc_host_launch, creates PDemoHelpline endpoint pairs and sends each end in
 * PDemo::CreateDemoHelplineChild; the children bind their ends and exchange
 * RequestAssistance / GiveAssistance directly. Also: a child may not create
 * endpoints, an endpoint sent to the wrong process is refused, a bridge's
 * hello must name the expected peer, and an endpoint binds only an actor of
 * its protocol and side. Every case checks fds and children. */
#include "proctest.h"
#include "testutil.h"
#include "wire_util.h"

#include "ipc/endpoint.h"
#include "ipc/errors.h"
#include "ipc/host.h"
#include "ipc/protocols/PDemo.h"
#include "ipc/protocols/PDemoHelpline.h"
#include "ipc/protocols/PTest.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define T_MS 10000 /* an upper bound for anything a child should do, not a speed check */

/* Exit codes of the bridge_end helper. */
#define B_OK                0
#define B_HELPLINE_ABNORMAL 2 /* the helpline died other than NormalShutdown */
#define B_NO_ENDPOINT       3 /* PDemo ended before an endpoint came */
#define B_SETUP             10
#define B_WRONG_PROCESS     41 /* ipc_endpoint_from_params said IPC_E_WRONG_PROCESS */
#define B_PARAM             42 /* ... IPC_E_PARAM */
#define B_FROM_PARAMS       43 /* ... something else */
#define B_BIND              44 /* ipc_endpoint_bind failed */
#define B_NO_ASSISTANCE     45 /* parent side: no (or a wrong) GiveAssistance */
#define B_NO_ACK            46 /* child side: GiveAssistance never acknowledged */

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void assistance_text(char *buf, size_t len, pid_t from)
{
    snprintf(buf, len, "Here is some assistance from process %d", (int)from);
}

/* ================= helper: one end of a bridge ================= */

typedef struct bend {
    ipc_loop *loop;
    ipc_conn *pconn;
    ipc_actor *pdemo;
    ipc_conn *hconn;
    ipc_actor *helpline;
    ipc_side hside;
    pid_t other_pid;
    int from_params_rc, bind_rc, got_endpoint;
    int pdemo_destroyed;
    int helpline_destroyed;
    ipc_destroy_reason hwhy;
    int got_assistance, acked;
} bend;

static void close_actor_task(void *arg)
{
    ipc_actor_close(arg);
}

static void bend_close_pdemo(bend *b)
{
    ipc_loop_post(b->loop, close_actor_task, b->pdemo);
}

static int b_on_give(void *ctx, ipc_msg *msg, ipc_PDemoHelpline_GiveAssistance *in,
                     ipc_PDemoHelpline_GiveAssistance_reply *out)
{
    bend *b = ctx;
    char want[128];
    (void)msg;
    assistance_text(want, sizeof want, b->other_pid);
    b->got_assistance = strcmp(in->message, want) == 0;
    out->ok = b->got_assistance;
    return 0;
}

static const ipc_msgmap_entry b_parent_map[] = {
    IPC_HANDLER(PDemoHelpline, GiveAssistance, b_on_give),
};

static void b_acked(void *ctx, ipc_msg *reply)
{
    bend *b = ctx;
    ipc_PDemoHelpline_GiveAssistance_reply r = {0};
    b->acked = ipc_PDemoHelpline_GiveAssistance_reply_read(reply, &r) == 0 && r.ok;
    ipc_loop_post(b->loop, close_actor_task, b->helpline); /* never Close from a reply */
}

static void b_not_acked(void *ctx, int reason)
{
    bend *b = ctx;
    (void)reason;
    ipc_loop_post(b->loop, close_actor_task, b->helpline);
}

static int b_on_request(void *ctx, ipc_msg *msg, ipc_PDemoHelpline_RequestAssistance *in,
                        ipc_PDemoHelpline_RequestAssistance_reply *out)
{
    bend *b = ctx;
    char text[128];
    (void)msg;
    (void)in;
    (void)out;
    assistance_text(text, sizeof text, getpid());
    ipc_PDemoHelpline_GiveAssistance g = {.message = text};
    ipc_msg *m = NULL;
    int rc = ipc_PDemoHelpline_GiveAssistance_build(&m, IPC_ROUTING_CONTROL, &g);
    return rc ? rc : ipc_actor_send_with_reply(b->helpline, m, b_acked, b_not_acked, b);
}

static const ipc_msgmap_entry b_child_map[] = {
    IPC_HANDLER(PDemoHelpline, RequestAssistance, b_on_request),
};

static void b_helpline_destroy(void *ctx, ipc_actor *a, ipc_destroy_reason why)
{
    bend *b = ctx;
    (void)a;
    b->helpline_destroyed = 1;
    b->hwhy = why;
    bend_close_pdemo(b);
}

/* Binds the end it was sent, as the side the endpoint says. */
static int b_on_endpoint(void *ctx, ipc_msg *msg, ipc_PDemo_CreateDemoHelplineChild *in,
                         ipc_PDemo_CreateDemoHelplineChild_reply *out)
{
    bend *b = ctx;
    ipc_endpoint ep;
    (void)msg;
    (void)out;
    b->got_endpoint = 1;
    b->from_params_rc = ipc_endpoint_from_params(&in->endpoint, in->info, &ep);
    if (b->from_params_rc != 0) {
        bend_close_pdemo(b);
        return 0;
    }
    b->hside = ep.side;
    b->other_pid = ep.other_pid;
    ipc_actor_ops ops = {.actor_destroy = b_helpline_destroy};
    ops.map = ep.side == IPC_SIDE_PARENT ? b_parent_map : b_child_map;
    ops.map_len =
        ep.side == IPC_SIDE_PARENT ? IPC_MSGMAP_LEN(b_parent_map) : IPC_MSGMAP_LEN(b_child_map);
    b->bind_rc = ipc_actor_new(&b->helpline, &ipc_PDemoHelpline_protocol, ep.side, &ops, b);
    if (b->bind_rc == 0)
        b->bind_rc = ipc_endpoint_bind(&ep, b->loop, b->helpline, "test", &b->hconn);
    else
        ipc_endpoint_dispose(&ep);
    if (b->bind_rc != 0) {
        bend_close_pdemo(b);
        return 0;
    }
    if (ep.side == IPC_SIDE_PARENT) {
        ipc_PDemoHelpline_RequestAssistance req = {0};
        ipc_msg *m = NULL;
        if (ipc_PDemoHelpline_RequestAssistance_build(&m, IPC_ROUTING_CONTROL, &req) == 0)
            ipc_actor_send(b->helpline, m);
    }
    return 0;
}

static const ipc_msgmap_entry b_pdemo_map[] = {
    IPC_HANDLER(PDemo, CreateDemoHelplineChild, b_on_endpoint),
};

static void b_pdemo_destroy(void *ctx, ipc_actor *a, ipc_destroy_reason why)
{
    bend *b = ctx;
    (void)a;
    (void)why;
    b->pdemo_destroyed = 1;
    if (b->helpline && ipc_actor_is_alive(b->helpline))
        ipc_loop_post(b->loop, close_actor_task, b->helpline);
}

static int bend_code(const bend *b)
{
    if (!b->got_endpoint)
        return B_NO_ENDPOINT;
    if (b->from_params_rc == IPC_E_WRONG_PROCESS)
        return B_WRONG_PROCESS;
    if (b->from_params_rc == IPC_E_PARAM)
        return B_PARAM;
    if (b->from_params_rc != 0)
        return B_FROM_PARAMS;
    if (b->bind_rc != 0)
        return B_BIND;
    if (!b->helpline_destroyed || b->hwhy != IPC_NORMAL_SHUTDOWN)
        return B_HELPLINE_ABNORMAL;
    if (b->hside == IPC_SIDE_PARENT)
        return b->got_assistance ? B_OK : B_NO_ASSISTANCE;
    return b->acked ? B_OK : B_NO_ACK;
}

/* bridge_end: a PDemo child that binds whatever endpoint main sends it. */
static int h_bridge_end(int argc, char **argv)
{
    ipc_child_info info;
    rig_proc_child_init(argc, argv, &info);
    bend b = {0};
    ipc_actor_ops ops = {.map = b_pdemo_map,
                         .map_len = IPC_MSGMAP_LEN(b_pdemo_map),
                         .actor_destroy = b_pdemo_destroy};
    int rc = ipc_loop_new(&b.loop);
    if (rc == 0)
        rc = ipc_host_child_conn(b.loop, info.channel_fd, "test", &b.pconn);
    if (rc == 0)
        rc = ipc_actor_new(&b.pdemo, &ipc_PDemo_protocol, IPC_SIDE_CHILD, &ops, &b);
    if (rc == 0)
        rc = ipc_conn_bind(b.pconn, b.pdemo);
    ipc_child_info_dispose(&info);
    if (rc != 0)
        return B_SETUP;
    long end = now_ms() + T_MS;
    while (!b.pdemo_destroyed && now_ms() < end)
        ipc_loop_run_once(b.loop, 50);
    int code = bend_code(&b);
    if (code != B_OK)
        fprintf(stderr, "bridge_end %d: exit %d (from_params %s, bind %s)\n", (int)getpid(), code,
                ipc_errname(b.from_params_rc), ipc_errname(b.bind_rc));
    ipc_conn_free(b.hconn);
    ipc_conn_free(b.pconn); /* flushes our Goodbye */
    ipc_actor_unref(b.helpline);
    ipc_actor_unref(b.pdemo);
    ipc_loop_run_once(b.loop, 0);
    ipc_loop_free(b.loop);
    return code;
}

/* create_pair: a child may not create endpoints. */
static int h_create_pair(int argc, char **argv)
{
    ipc_child_info info;
    rig_proc_child_init(argc, argv, &info);
    ipc_child_info_dispose(&info);
    ipc_endpoint p = {.fd = 99}, c = {.fd = 99};
    int rc = ipc_endpoint_create_pair(&ipc_PDemoHelpline_protocol, getppid(), getpid(), &p, &c);
    return rc == IPC_E_NOT_MAIN_PROCESS && p.fd == -1 && c.fd == -1 ? 0 : 1;
}

static const rig_helper helpers[] = {
    {"bridge_end", h_bridge_end},
    {"create_pair", h_create_pair},
    {NULL, NULL},
};

/* ================= main's side ================= */

typedef struct kid {
    ipc_host *host;
    ipc_actor *pdemo;
    int ready, err, exited;
    ipc_crash_info info;
    int destroyed;
    ipc_destroy_reason why;
} kid;

typedef struct mainp {
    ipc_loop *loop;
    kid k[2];
    int nkids;
} mainp;

static void m_pdemo_destroy(void *ctx, ipc_actor *a, ipc_destroy_reason why)
{
    kid *k = ctx;
    (void)a;
    k->destroyed = 1;
    k->why = why;
}

static void m_ready(void *ctx, ipc_host *host, int err)
{
    kid *k = ctx;
    k->ready = 1;
    k->err = err;
    if (err == 0)
        ck_assert_int_eq(ipc_conn_bind(ipc_host_conn(host), k->pdemo), 0);
}

static void m_exited(void *ctx, ipc_host *host, const ipc_crash_info *info, const char *path)
{
    kid *k = ctx;
    (void)host;
    (void)path;
    k->exited = 1;
    k->info = *info;
}

static void setup(void)
{
    ck_assert_ptr_nonnull(ipc_iothread_default());
    rig_fd_mark();
}

/* Launches `helper` as a "test" child; `stderr_fd` (>= 0) becomes its fd 2
 * and `envp` its environment. */
static kid *m_launch(mainp *m, const char *helper, int stderr_fd, char **envp)
{
    if (!m->loop)
        ck_assert_int_eq(ipc_loop_new(&m->loop), 0);
    kid *k = &m->k[m->nkids++];
    memset(k, 0, sizeof *k);
    ipc_actor_ops ops = {.actor_destroy = m_pdemo_destroy};
    ck_assert_int_eq(ipc_actor_new(&k->pdemo, &ipc_PDemo_protocol, IPC_SIDE_PARENT, &ops, k), 0);
    rig_proc_launch l;
    rig_proc_prepare(&l, helper, NULL, "test", -1);
    ipc_proc_fd fd2 = {stderr_fd, 2};
    if (stderr_fd >= 0) {
        l.opts.fds = &fd2;
        l.opts.nfds = 1;
    }
    l.opts.envp = (const char *const *)envp;
    ipc_host_opts o = {.loop = m->loop,
                       .proc = l.opts,
                       .label = "default",
                       .ready = m_ready,
                       .exited = m_exited,
                       .ctx = k};
    ck_assert_int_eq(ipc_host_launch(&o, &k->host), 0);
    return k;
}

static void m_wait(mainp *m, const int *flag)
{
    long end = now_ms() + T_MS;
    while (!*flag && now_ms() < end)
        ipc_loop_run_once(m->loop, 50);
    ck_assert_msg(*flag, "gave up waiting");
}

static void m_wait_ready(mainp *m, kid *k)
{
    m_wait(m, &k->ready);
    ck_assert_int_eq(k->err, 0);
}

/* Main's CreateDemoHelplineChild carrying `ep` (disposed here). */
static void m_send_endpoint(kid *k, ipc_endpoint *ep)
{
    ipc_PDemo_CreateDemoHelplineChild p = {.endpoint = -1};
    ipc_msg *m = NULL;
    ck_assert_int_eq(ipc_endpoint_to_params(ep, &p.endpoint, &p.info), 0);
    ck_assert_int_eq(ipc_PDemo_CreateDemoHelplineChild_build(&m, IPC_ROUTING_CONTROL, &p), 0);
    ck_assert_int_eq(ipc_actor_send(k->pdemo, m), 0);
    ipc_endpoint_info_free(p.info);
    ipc_endpoint_dispose(ep);
}

/* Waits for the child's exit and returns its status (-signal if killed). */
static int m_exit_status(mainp *m, kid *k)
{
    m_wait(m, &k->exited);
    return k->info.exited ? k->info.exit_status : -k->info.signal;
}

static void m_free(mainp *m)
{
    for (int i = 0; i < m->nkids; i++) {
        ipc_host_free(m->k[i].host);
        ipc_actor_unref(m->k[i].pdemo);
    }
    ipc_loop_run_once(m->loop, 0);
    ipc_loop_free(m->loop);
}

/* Two children, one bridge: A gets the parent end, B the child end. */
static void run_bridge(int stderr_fd, char **envp, pid_t *pid_a, pid_t *pid_b)
{
    mainp m = {0};
    kid *a = m_launch(&m, "bridge_end", stderr_fd, envp);
    kid *b = m_launch(&m, "bridge_end", stderr_fd, envp);
    m_wait_ready(&m, a);
    m_wait_ready(&m, b);
    *pid_a = ipc_host_pid(a->host);
    *pid_b = ipc_host_pid(b->host);
    ipc_endpoint pe, ce;
    ck_assert_int_eq(
        ipc_endpoint_create_pair(&ipc_PDemoHelpline_protocol, *pid_a, *pid_b, &pe, &ce), 0);
    ck_assert_int_ge(pe.fd, 0);
    ck_assert_int_ge(ce.fd, 0);
    m_send_endpoint(a, &pe);
    m_send_endpoint(b, &ce);
    ck_assert_int_eq(m_exit_status(&m, a), B_OK);
    ck_assert_int_eq(m_exit_status(&m, b), B_OK);
    /* Both closed PDemo after their helpline ended: main saw clean Goodbyes
     * (read after the death, maybe: the channel's end decides). */
    m_wait(&m, &a->destroyed);
    m_wait(&m, &b->destroyed);
    ck_assert(a->destroyed && a->why == IPC_NORMAL_SHUTDOWN);
    ck_assert(b->destroyed && b->why == IPC_NORMAL_SHUTDOWN);
    m_free(&m);
}

/* ================= tests ================= */

START_TEST(endpoint_bridge_between_two_children_talks_directly)
{
    setup();
    pid_t a, b;
    run_bridge(-1, NULL, &a, &b);
    ck_assert_int_ne(a, b);
    rig_assert_no_leaks();
}
END_TEST

/* What the children log for a bridge looks like the seed's excerpt: both
 * pids on every line (known from the endpoint before any hello), replies
 * received logged as "Received", and the parent's Goodbye note. */
START_TEST(endpoint_bridge_log_names_both_ends)
{
    setup();
    char *dir = rig_tempdir();
    ck_assert_ptr_nonnull(dir);
    char path[600];
    snprintf(path, sizeof path, "%s/children.log", dir);
    int logfd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    ck_assert_int_ge(logfd, 0);
    const char *extra[] = {"IPC_LOG=PDemoHelpline", "IPC_LOG_FILE=", NULL};
    char **env = rig_env_with(extra);
    pid_t a, b;
    run_bridge(logfd, env, &a, &b);
    rig_env_free(env);
    close(logfd);
    char *log = rig_slurp(path, NULL);
    ck_assert_ptr_nonnull(log);
    char want[8][200];
    snprintf(want[0], 200,
             "][%d->%d] [PDemoHelplineParent] Sending  PDemoHelpline::Msg_RequestAssistance()", a,
             b);
    snprintf(want[1], 200,
             "][%d<-%d] [PDemoHelplineChild] Received  PDemoHelpline::Msg_RequestAssistance()", b,
             a);
    snprintf(
        want[2], 200,
        "][%d->%d] [PDemoHelplineChild] Sending  PDemoHelpline::Msg_GiveAssistance(message=", b, a);
    snprintf(want[3], 200,
             "][%d<-%d] [PDemoHelplineParent] Received  PDemoHelpline::Msg_GiveAssistance(message=",
             a, b);
    snprintf(want[4], 200,
             "][%d->%d] [PDemoHelplineParent] Sending reply  "
             "PDemoHelpline::Reply_GiveAssistance(ok=true)",
             a, b);
    snprintf(
        want[5], 200,
        "][%d<-%d] [PDemoHelplineChild] Received  PDemoHelpline::Reply_GiveAssistance(ok=true)", b,
        a);
    snprintf(want[6], 200,
             "[test %d] NOTE: parent actor received `Goodbye' message.  Closing channel.", a);
    for (int i = 0; i < 7; i++)
        ck_assert_msg(strstr(log, want[i]), "log lacks \"%s\":\n%s", want[i], log);
    ck_assert_msg(!strstr(log, "->0]") && !strstr(log, "<-0]"), "a line without the peer:\n%s",
                  log);
    ck_assert_msg(!strstr(log, "Received reply"), "Gecko logs a received reply as Received:\n%s",
                  log);
    free(log);
    rig_rmdir_all(dir);
    rig_assert_no_leaks();
}
END_TEST

/* --from main: main binds the parent end itself and asks a child. */
typedef struct asker {
    ipc_actor *actor;
    pid_t demo;
    int got, destroyed;
    ipc_destroy_reason why;
} asker;

static int asker_on_give(void *ctx, ipc_msg *msg, ipc_PDemoHelpline_GiveAssistance *in,
                         ipc_PDemoHelpline_GiveAssistance_reply *out)
{
    asker *s = ctx;
    char want[128];
    (void)msg;
    assistance_text(want, sizeof want, s->demo);
    s->got = strcmp(in->message, want) == 0;
    out->ok = true;
    return 0;
}

static const ipc_msgmap_entry asker_map[] = {
    IPC_HANDLER(PDemoHelpline, GiveAssistance, asker_on_give),
};

static void asker_destroy(void *ctx, ipc_actor *a, ipc_destroy_reason why)
{
    asker *s = ctx;
    (void)a;
    s->destroyed = 1;
    s->why = why;
}

START_TEST(endpoint_main_binds_the_parent_end_itself)
{
    setup();
    mainp m = {0};
    kid *k = m_launch(&m, "bridge_end", -1, NULL);
    m_wait_ready(&m, k);
    asker s = {.demo = ipc_host_pid(k->host)};
    ipc_endpoint pe, ce;
    ck_assert_int_eq(
        ipc_endpoint_create_pair(&ipc_PDemoHelpline_protocol, getpid(), s.demo, &pe, &ce), 0);
    m_send_endpoint(k, &ce);
    ipc_actor_ops ops = {
        .map = asker_map, .map_len = IPC_MSGMAP_LEN(asker_map), .actor_destroy = asker_destroy};
    ck_assert_int_eq(
        ipc_actor_new(&s.actor, &ipc_PDemoHelpline_protocol, IPC_SIDE_PARENT, &ops, &s), 0);
    ipc_conn *hc = NULL;
    ck_assert_int_eq(ipc_endpoint_bind(&pe, m.loop, s.actor, "default", &hc), 0);
    ck_assert_int_eq(pe.fd, -1);
    ck_assert_int_eq(ipc_conn_peer_pid(hc), s.demo); /* known from the endpoint, before hello */
    ipc_PDemoHelpline_RequestAssistance req = {0};
    ipc_msg *msg = NULL;
    ck_assert_int_eq(ipc_PDemoHelpline_RequestAssistance_build(&msg, IPC_ROUTING_CONTROL, &req), 0);
    ck_assert_int_eq(ipc_actor_send(s.actor, msg), 0);
    m_wait(&m, &s.destroyed);
    ck_assert_int_eq(s.got, 1);
    ck_assert_int_eq(s.why, IPC_NORMAL_SHUTDOWN); /* the child closed after our answer */
    ck_assert_int_eq(m_exit_status(&m, k), B_OK);
    ipc_conn_counts c;
    ipc_conn_get_counts(hc, &c);
    ck_assert_uint_eq(c.dispatched, 1);
    ck_assert_uint_eq(c.lost, 0);
    ipc_conn_free(hc);
    ipc_actor_unref(s.actor);
    m_free(&m);
    rig_assert_no_leaks();
}
END_TEST

/* A bridge's peer is known: a hello naming anybody else is refused, even
 * though SO_PEERCRED names our parent (who made the pair). Main holds the
 * other end raw and lies. */
START_TEST(endpoint_bridge_hello_must_name_the_expected_peer)
{
    setup();
    mainp m = {0};
    kid *k = m_launch(&m, "bridge_end", -1, NULL);
    m_wait_ready(&m, k);
    ipc_endpoint pe, ce;
    ck_assert_int_eq(ipc_endpoint_create_pair(&ipc_PDemoHelpline_protocol, getpid(),
                                              ipc_host_pid(k->host), &pe, &ce),
                     0);
    m_send_endpoint(k, &ce);
    rig_buf b;
    rig_buf_init(&b);
    uint8_t pid_le[4];
    rig_wire_le32(pid_le, 1); /* not us */
    rig_wire_frame(&b, IPC_MSG_HELLO, IPC_ROUTING_NONE, 0, 0, 0, pid_le, 4);
    ck_assert_int_eq(rig_send_with_fds(pe.fd, b.data, b.len, NULL, 0), 0);
    rig_buf_free(&b);
    /* The child's helpline dies abnormally; it then closes PDemo. */
    ck_assert_int_eq(m_exit_status(&m, k), B_HELPLINE_ABNORMAL);
    ipc_endpoint_dispose(&pe);
    m_free(&m);
    rig_assert_no_leaks();
}
END_TEST

START_TEST(endpoint_create_pair_in_a_child_is_refused)
{
    setup();
    mainp m = {0};
    kid *k = m_launch(&m, "create_pair", -1, NULL);
    ck_assert_int_eq(m_exit_status(&m, k), 0);
    m_free(&m);
    /* And in this process, once it says it is a child. */
    ipc_process_set_role(IPC_ROLE_CHILD);
    ipc_endpoint p = {.fd = 99}, c = {.fd = 99};
    int rc = ipc_endpoint_create_pair(&ipc_PDemoHelpline_protocol, getpid(), getpid(), &p, &c);
    ipc_process_set_role(IPC_ROLE_MAIN);
    ck_assert_int_eq(rc, IPC_E_NOT_MAIN_PROCESS);
    ck_assert_int_eq(p.fd, -1);
    ck_assert_int_eq(c.fd, -1);
    rig_assert_no_leaks();
}
END_TEST

START_TEST(endpoint_sent_to_the_wrong_process_is_refused)
{
    setup();
    mainp m = {0};
    kid *k = m_launch(&m, "bridge_end", -1, NULL);
    m_wait_ready(&m, k);
    /* Both ends are meant for main; the child gets one anyway. */
    ipc_endpoint pe, ce;
    ck_assert_int_eq(
        ipc_endpoint_create_pair(&ipc_PDemoHelpline_protocol, getpid(), getpid(), &pe, &ce), 0);
    m_send_endpoint(k, &ce);
    ck_assert_int_eq(m_exit_status(&m, k), B_WRONG_PROCESS);
    m_wait(&m, &k->destroyed);
    ck_assert_int_eq(k->why, IPC_NORMAL_SHUTDOWN);
    ipc_endpoint_dispose(&pe);
    m_free(&m);
    rig_assert_no_leaks();
}
END_TEST

/* ipc_endpoint_from_params in this process: the checks, and the fd taken. */
START_TEST(endpoint_from_params_checks_and_always_takes_the_fd)
{
    setup();
    struct {
        uint32_t cls;
        int32_t my, other;
        int want;
    } cases[] = {
        {IPC_CLASS_PDemoHelpline, (int32_t)getpid(), 1, 0},
        {IPC_CLASS_PDemoHelpline, (int32_t)getpid() + 1, 1, IPC_E_WRONG_PROCESS},
        {IPC_CLASS_PDemoHelpline, 0, 1, IPC_E_WRONG_PROCESS},
        {0x7777, (int32_t)getpid(), 1, IPC_E_PARAM},  /* no such protocol */
        {0x10041, (int32_t)getpid(), 1, IPC_E_PARAM}, /* class over 16 bits */
        {IPC_CLASS_PDemoHelpline, (int32_t)getpid(), 0, IPC_E_PARAM},
        {IPC_CLASS_PDemoHelpline, (int32_t)getpid(), -5, IPC_E_PARAM},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        ck_assert_int_ge(fd, 0);
        Ipcrig__EndpointInfo info = IPCRIG__ENDPOINT_INFO__INIT;
        info.protocol_class = cases[i].cls;
        info.my_pid = cases[i].my;
        info.other_pid = cases[i].other;
        info.parent_side = 1;
        ipc_endpoint ep;
        int rc = ipc_endpoint_from_params(&fd, &info, &ep);
        ck_assert_msg(rc == cases[i].want, "case %zu: %s", i, ipc_errname(rc));
        ck_assert_int_eq(fd, -1);
        if (rc == 0) {
            ck_assert_int_ge(ep.fd, 0);
            ck_assert_int_eq(ep.side, IPC_SIDE_PARENT);
            ck_assert_int_eq(ep.other_pid, 1);
            ipc_endpoint_dispose(&ep);
        } else {
            ck_assert_int_eq(ep.fd, -1);
        }
    }
    int none = -1;
    ipc_endpoint ep;
    ck_assert_int_eq(ipc_endpoint_from_params(&none, NULL, &ep), IPC_E_PARAM);
    rig_assert_no_leaks();
}
END_TEST

START_TEST(endpoint_to_params_round_trips)
{
    setup();
    ipc_endpoint pe, ce, back;
    ck_assert_int_eq(
        ipc_endpoint_create_pair(&ipc_PDemoHelpline_protocol, getpid(), getpid() + 1, &pe, &ce), 0);
    int fd;
    Ipcrig__EndpointInfo *info;
    ck_assert_int_eq(ipc_endpoint_to_params(&pe, &fd, &info), 0);
    ck_assert_int_eq(fd, pe.fd); /* borrowed */
    int dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    ck_assert_int_eq(ipc_endpoint_from_params(&dup_fd, info, &back), 0);
    ck_assert_int_eq(back.protocol_class, IPC_CLASS_PDemoHelpline);
    ck_assert_int_eq(back.my_pid, getpid());
    ck_assert_int_eq(back.other_pid, getpid() + 1);
    ck_assert_int_eq(back.side, IPC_SIDE_PARENT);
    ipc_endpoint_info_free(info);
    ipc_endpoint_dispose(&back);
    ipc_endpoint_dispose(&pe);
    ipc_endpoint_dispose(&ce);
    ck_assert_int_eq(ipc_endpoint_to_params(&pe, &fd, &info), IPC_E_STATE); /* fd gone */
    ck_assert_ptr_null(info);
    rig_assert_no_leaks();
}
END_TEST

static void noop_destroy(void *ctx, ipc_actor *a, ipc_destroy_reason why)
{
    (void)ctx;
    (void)a;
    (void)why;
}

/* Endpoint<PFooParent> binds a PFooParent only; the fd is taken anyway. */
START_TEST(endpoint_bind_refuses_an_actor_of_the_wrong_protocol_or_side)
{
    setup();
    ipc_loop *loop;
    ck_assert_int_eq(ipc_loop_new(&loop), 0);
    ipc_actor_ops ops = {.actor_destroy = noop_destroy};
    ipc_actor *wrong_side, *wrong_proto;
    ck_assert_int_eq(
        ipc_actor_new(&wrong_side, &ipc_PDemoHelpline_protocol, IPC_SIDE_CHILD, &ops, NULL), 0);
    ck_assert_int_eq(ipc_actor_new(&wrong_proto, &ipc_PTest_protocol, IPC_SIDE_PARENT, &ops, NULL),
                     0);
    ipc_endpoint pe, ce;
    ck_assert_int_eq(
        ipc_endpoint_create_pair(&ipc_PDemoHelpline_protocol, getpid(), getpid(), &pe, &ce), 0);
    ipc_endpoint pe2 = pe;
    pe2.fd = fcntl(pe.fd, F_DUPFD_CLOEXEC, 0);
    ipc_conn *c = (ipc_conn *)1;
    ck_assert_int_eq(ipc_endpoint_bind(&pe, loop, wrong_side, "x", &c), -EINVAL);
    ck_assert_ptr_null(c);
    ck_assert_int_eq(pe.fd, -1);
    ck_assert_int_eq(ipc_endpoint_bind(&pe2, loop, wrong_proto, "x", &c), -EINVAL);
    ck_assert_int_eq(pe2.fd, -1);
    ck_assert_int_eq(ipc_endpoint_bind(&pe2, loop, wrong_proto, "x", &c), IPC_E_STATE); /* spent */
    ck_assert(!ipc_actor_is_alive(wrong_side));
    ck_assert(!ipc_actor_is_alive(wrong_proto));
    ipc_endpoint_dispose(&ce);
    ipc_actor_unref(wrong_side);
    ipc_actor_unref(wrong_proto);
    ipc_loop_free(loop);
    rig_assert_no_leaks();
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("endpoint");
    RIG_TCASE(s, "bridge", endpoint_bridge_between_two_children_talks_directly, 30);
    RIG_TCASE(s, "bridge_log", endpoint_bridge_log_names_both_ends, 30);
    RIG_TCASE(s, "main_binds", endpoint_main_binds_the_parent_end_itself, 30);
    RIG_TCASE(s, "bridge_hello", endpoint_bridge_hello_must_name_the_expected_peer, 30);
    RIG_TCASE(s, "child_create", endpoint_create_pair_in_a_child_is_refused, 30);
    RIG_TCASE(s, "wrong_process", endpoint_sent_to_the_wrong_process_is_refused, 30);
    RIG_TCASE(s, "from_params", endpoint_from_params_checks_and_always_takes_the_fd, 30);
    RIG_TCASE(s, "round_trip", endpoint_to_params_round_trips, 30);
    RIG_TCASE(s, "bind_wrong_actor", endpoint_bind_refuses_an_actor_of_the_wrong_protocol_or_side,
              30);
    return s;
}

int main(int argc, char **argv)
{
    return rig_test_main(argc, argv, suite, helpers);
}
