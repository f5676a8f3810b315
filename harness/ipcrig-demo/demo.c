/* The Demo process (seed 001): DemoChild, its first top-level actor (PDemo,
 * parent in main), and DemoHelplineChild, bound to the endpoint the main
 * process sends in PDemo::CreateDemoHelplineChild. It says InitCrashReporter
 * at start (as the CrashReporterClient does), answers RequestAssistance with
 * GiveAssistance, closes PDemoHelpline once the answer is acknowledged, and
 * then DemoChild::Shutdown() closes PDemo behind the EmptyMessageQueue
 * sentinel (or, with --no-sentinel, right away: the seed's bug). */
#include "demo.h"

#include "ipc/errors.h"
#include "ipc/protocols/PDemo.h"
#include "ipc/protocols/PDemoHelpline.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct demo_state {
    rig_link *pdemo;    /* DemoChild */
    rig_link *helpline; /* DemoHelplineChild, once bound */
    pid_t parent_pid;
    int shutdown_started;
} demo_state;

static demo_state *state_of(const rig_link *l)
{
    return l->app->role;
}

/* ---- DemoChild::Shutdown ---- */

static void emq_resolved(void *ctx, ipc_msg *reply)
{
    rig_link *pdemo = ctx;
    ipc_PDemo_EmptyMessageQueue_reply r = {0};
    int rc = ipc_PDemo_EmptyMessageQueue_reply_read(reply, &r);
    rig_say(pdemo->app,
            "EmptyMessageQueue answered (%s): main has handled everything we sent; "
            "closing PDemo",
            rc == 0 && r.ok ? "ok" : "unreadable answer");
    /* Never Close from a response handler: dispatch it to the loop. */
    rig_link_close_later(pdemo);
}

static void emq_rejected(void *ctx, int reason)
{
    rig_link *pdemo = ctx;
    rig_say(pdemo->app, "EmptyMessageQueue rejected (%s); closing PDemo", ipc_errname(reason));
    rig_link_close_later(pdemo);
}

static void demo_child_shutdown(rig_app *app)
{
    demo_state *st = app->role;
    if (st->shutdown_started || !st->pdemo->actor || !ipc_actor_is_alive(st->pdemo->actor))
        return;
    st->shutdown_started = 1;
    if (app->opts.no_sentinel) {
        rig_say(app, "DemoChild::Shutdown: closing PDemo without the EmptyMessageQueue sentinel "
                     "(--no-sentinel)");
        rig_link_close_later(st->pdemo);
        return;
    }
    rig_say(app,
            "DemoChild::Shutdown: sending EmptyMessageQueue, closing PDemo when it is answered");
    ipc_msg *m = NULL;
    ipc_PDemo_EmptyMessageQueue in = {0};
    int rc = ipc_PDemo_EmptyMessageQueue_build(&m, IPC_ROUTING_CONTROL, &in);
    if (rc != 0) {
        rig_err(app, "cannot build EmptyMessageQueue: %s", ipc_strerror(rc));
        rig_link_close_later(st->pdemo);
        return;
    }
    /* On failure the reject callback runs (later) and closes. */
    ipc_actor_send_with_reply(st->pdemo->actor, m, emq_resolved, emq_rejected, st->pdemo);
}

/* ---- DemoHelplineChild ---- */

static void assistance_acked(void *ctx, ipc_msg *reply)
{
    rig_link *l = ctx;
    ipc_PDemoHelpline_GiveAssistance_reply r = {0};
    int rc = ipc_PDemoHelpline_GiveAssistance_reply_read(reply, &r);
    rig_say(l->app, "GiveAssistance acknowledged (%s); closing PDemoHelpline",
            rc == 0 ? (r.ok ? "true" : "false") : "unreadable answer");
    rig_link_close_later(l);
}

static void assistance_rejected(void *ctx, int reason)
{
    rig_link *l = ctx;
    rig_say(l->app, "GiveAssistance rejected (%s); closing PDemoHelpline", ipc_errname(reason));
    rig_link_close_later(l);
}

static int on_request_assistance(void *ctx, ipc_msg *msg, ipc_PDemoHelpline_RequestAssistance *in,
                                 ipc_PDemoHelpline_RequestAssistance_reply *out)
{
    rig_link *l = ctx;
    rig_app *app = l->app;
    (void)msg;
    (void)in;
    (void)out;
    if (app->opts.crash_demo) {
        rig_say(app, "RequestAssistance received; crashing on purpose (--crash-demo)");
        abort();
    }
    char text[128];
    snprintf(text, sizeof text, "Here is some assistance from process %d (demo)", (int)app->pid);
    rig_say(app, "RequestAssistance received from %s %d; sending GiveAssistance", l->peer_type,
            (int)l->peer_pid);
    ipc_msg *m = NULL;
    ipc_PDemoHelpline_GiveAssistance give = {.message = text};
    int rc = ipc_PDemoHelpline_GiveAssistance_build(&m, IPC_ROUTING_CONTROL, &give);
    if (rc != 0)
        return rc;
    /* The close waits for the reply: it proves the string was received. */
    ipc_actor_send_with_reply(l->actor, m, assistance_acked, assistance_rejected, l);
    return 0;
}

static const ipc_msgmap_entry helpline_child_map[] = {
    IPC_HANDLER(PDemoHelpline, RequestAssistance, on_request_assistance),
};

static void helpline_child_destroy(void *ctx, ipc_actor *a, ipc_destroy_reason why)
{
    rig_link *l = ctx;
    (void)a;
    rig_say(l->app, "DemoHelplineChild destroyed: %s; calling DemoChild::Shutdown()",
            ipc_destroy_reason_name(why));
    rig_link_destroyed(l, why);
    demo_child_shutdown(l->app);
}

/* ---- DemoChild ---- */

static int bind_helpline(rig_link *pdemo, ipc_endpoint *ep)
{
    rig_app *app = pdemo->app;
    demo_state *st = state_of(pdemo);
    /* The requester is main or, when its pid is not our parent's, content:
     * the only two kinds this program bridges. */
    const char *peer = ep->other_pid == st->parent_pid ? "main" : "content";
    rig_link *l = rig_link_add(app, "PDemoHelpline", "DemoHelplineChild", peer, ep->other_pid);
    if (!l) {
        ipc_endpoint_dispose(ep);
        return -ENOMEM;
    }
    int rc = rig_link_new_actor(l, &ipc_PDemoHelpline_protocol, IPC_SIDE_CHILD, helpline_child_map,
                                IPC_MSGMAP_LEN(helpline_child_map), helpline_child_destroy);
    if (rc != 0) {
        ipc_endpoint_dispose(ep);
        return rc;
    }
    ipc_conn *conn = NULL;
    rc = ipc_endpoint_bind(ep, app->loop, l->actor, app->gecko_label, &conn);
    if (rc != 0)
        return rc;
    l->bound = 1;
    st->helpline = l;
    rc = rig_link_attach(l, conn, 0);
    if (rc != 0)
        rig_err(app, "cannot watch the PDemoHelpline channel: %s", ipc_strerror(rc));
    rig_say(app, "DemoHelplineChild bound (PDemoHelpline with %s %d)", peer, (int)ep->other_pid);
    return 0;
}

/* DemoChild::RecvCreateDemoHelplineChild. */
static int on_create_helpline_child(void *ctx, ipc_msg *msg, ipc_PDemo_CreateDemoHelplineChild *in,
                                    ipc_PDemo_CreateDemoHelplineChild_reply *out)
{
    rig_link *pdemo = ctx;
    rig_app *app = pdemo->app;
    (void)msg;
    (void)out;
    ipc_endpoint ep;
    int rc = state_of(pdemo)->helpline ? IPC_E_EXISTS
                                       : ipc_endpoint_from_params(&in->endpoint, in->info, &ep);
    if (rc == 0)
        rc = bind_helpline(pdemo, &ep);
    if (rc != 0) {
        /* IPC_FAIL: a protocol error closes the channel. */
        rig_err(app, "Unable to bind DemoHelplineChild: %s", ipc_strerror(rc));
        rig_note_result(app, RIG_EXIT_ABNORMAL);
        ipc_conn_fail(pdemo->conn, rc);
    }
    return rc;
}

static const ipc_msgmap_entry demo_child_map[] = {
    IPC_HANDLER(PDemo, CreateDemoHelplineChild, on_create_helpline_child),
};

static void demo_child_destroy(void *ctx, ipc_actor *a, ipc_destroy_reason why)
{
    rig_link *l = ctx;
    demo_state *st = state_of(l);
    (void)a;
    rig_say(l->app, "DemoChild destroyed: %s", ipc_destroy_reason_name(why));
    rig_link_destroyed(l, why);
    /* Without PDemo the process has no reason to stay: end the helpline. */
    if (st->helpline && st->helpline->actor && ipc_actor_is_alive(st->helpline->actor))
        rig_link_close_later(st->helpline);
}

static int send_init_crash_reporter(rig_link *pdemo)
{
    const char *dir = pdemo->app->opts.crash_dir;
    Ipcrig__CrashReporterInit ci = IPCRIG__CRASH_REPORTER_INIT__INIT;
    ci.pid = (int32_t)pdemo->app->pid;
    ci.process_type = (char *)"demo";
    ci.dump_dir = (char *)(dir ? dir : "");
    ipc_PDemo_InitCrashReporter p = {.pid = (int32_t)pdemo->app->pid, .info = &ci};
    ipc_msg *m = NULL;
    int rc = ipc_PDemo_InitCrashReporter_build(&m, IPC_ROUTING_CONTROL, &p);
    return rc ? rc : ipc_actor_send(pdemo->actor, m);
}

static int demo_is_done(rig_app *app)
{
    demo_state *st = app->role;
    return rig_link_finished(st->pdemo) && (!st->helpline || rig_link_finished(st->helpline));
}

int rig_demo_process(rig_app *app, const ipc_child_info *info)
{
    demo_state st = {.parent_pid = info->parent_pid};
    app->role = &st;
    app->gecko_label = "demo";
    app->is_done = demo_is_done;
    st.pdemo = rig_link_add(app, "PDemo", "DemoChild", "main", info->parent_pid);
    ipc_conn *conn = NULL;
    int rc = ipc_host_child_conn(app->loop, info->channel_fd, app->gecko_label, &conn);
    if (rc != 0) {
        rig_err(app, "no channel to the main process: %s", ipc_strerror(rc));
        return RIG_EXIT_USAGE;
    }
    rc = rig_link_new_actor(st.pdemo, &ipc_PDemo_protocol, IPC_SIDE_CHILD, demo_child_map,
                            IPC_MSGMAP_LEN(demo_child_map), demo_child_destroy);
    if (rc == 0)
        rc = ipc_conn_bind(conn, st.pdemo->actor);
    if (rc != 0) {
        rig_err(app, "Unable to bind DemoChild: %s", ipc_strerror(rc));
        ipc_conn_free(conn);
        rig_link_dispose(st.pdemo);
        return RIG_EXIT_USAGE;
    }
    st.pdemo->bound = 1;
    if ((rc = rig_link_attach(st.pdemo, conn, 0)) != 0)
        rig_err(app, "cannot watch the PDemo channel: %s", ipc_strerror(rc));
    rig_say(app,
            "Demo process started (parent: main %d); DemoChild bound; sending InitCrashReporter",
            (int)info->parent_pid);
    if ((rc = send_init_crash_reporter(st.pdemo)) != 0) {
        rig_err(app, "SendInitCrashReporter failed: %s", ipc_strerror(rc));
        rig_note_result(app, RIG_EXIT_ABNORMAL);
    }

    rig_app_run(app, 0);

    unsigned long lost = 0;
    for (size_t i = 0; i < app->nlinks; i++)
        lost += rig_link_report(&app->links[i]);
    if (lost)
        rig_note_result(app, RIG_EXIT_LOST);
    for (size_t i = 0; i < app->nlinks; i++)
        rig_link_dispose(&app->links[i]);
    rig_say(app, "exiting with status %d", app->result);
    return app->result;
}
