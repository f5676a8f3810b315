/* The content process of `--from content` (seed 001, "Connecting With Other
 * Processes"): it may not launch processes itself (its sandbox forbids fork),
 * so it asks the main process with PContent::LaunchDemoProcess, whose reply
 * carries the parent endpoint of a new PDemoHelpline channel; it binds
 * DemoHelplineParent there and talks to the demo process directly. When the
 * helpline is over it closes PContent. */
#include "demo.h"

#include "ipc/errors.h"
#include "ipc/protocols/PContent.h"

#include <stdio.h>
#include <string.h>

typedef struct content_state {
    rig_link *pcontent; /* ContentChild */
} content_state;

static void close_pcontent(rig_app *app)
{
    content_state *st = app->role;
    rig_say(app, "closing PContent");
    rig_link_close_later(st->pcontent);
}

/* The resolved LaunchDemoProcess promise: Maybe<Endpoint<PDemoHelplineParent>>. */
static void on_endpoint(void *ctx, ipc_msg *reply)
{
    rig_app *app = ctx;
    ipc_PContent_LaunchDemoProcess_reply r = {0};
    ipc_endpoint ep = {.fd = -1};
    int rc = ipc_PContent_LaunchDemoProcess_reply_read(reply, &r);
    if (rc == 0)
        rc = ipc_endpoint_from_params(&r.endpoint, r.info, &ep);
    ipc_PContent_LaunchDemoProcess_reply_free(&r);
    if (rc != 0) {
        rig_err(app, "LaunchDemoProcess resolved with an unusable endpoint: %s", ipc_strerror(rc));
        rig_note_result(app, RIG_EXIT_ABNORMAL);
        close_pcontent(app);
        return;
    }
    rig_say(app, "LaunchDemoProcess resolved: PDemoHelpline parent endpoint for us, demo is %d",
            (int)ep.other_pid);
    if (rig_helpline_parent_start(app, &ep) != 0)
        close_pcontent(app);
}

static void on_launch_rejected(void *ctx, int reason)
{
    rig_app *app = ctx;
    rig_err(app, "LaunchDemoProcess rejected: %s (%s)", ipc_errname(reason), ipc_strerror(reason));
    rig_note_result(app, RIG_EXIT_ABNORMAL);
    close_pcontent(app);
}

static void content_child_destroy(void *ctx, ipc_actor *a, ipc_destroy_reason why)
{
    rig_link *l = ctx;
    (void)a;
    rig_say(l->app, "ContentChild destroyed: %s", ipc_destroy_reason_name(why));
    rig_link_destroyed(l, why);
}

static void helpline_parent_destroyed(rig_app *app)
{
    close_pcontent(app);
}

static int content_is_done(rig_app *app)
{
    for (size_t i = 0; i < app->nlinks; i++)
        if (!rig_link_finished(&app->links[i]))
            return 0;
    return 1;
}

int rig_content_process(rig_app *app, const ipc_child_info *info)
{
    content_state st = {0};
    app->role = &st;
    app->gecko_label = "tab";
    app->is_done = content_is_done;
    app->on_helpline_parent_destroyed = helpline_parent_destroyed;
    st.pcontent = rig_link_add(app, "PContent", "ContentChild", "main", info->parent_pid);
    ipc_conn *conn = NULL;
    int rc = ipc_host_child_conn(app->loop, info->channel_fd, app->gecko_label, &conn);
    if (rc != 0) {
        rig_err(app, "no channel to the main process: %s", ipc_strerror(rc));
        return RIG_EXIT_USAGE;
    }
    /* ContentChild handles none of PContent's parent-to-child messages here:
     * any of them is a protocol error. */
    rc = rig_link_new_actor(st.pcontent, &ipc_PContent_protocol, IPC_SIDE_CHILD, NULL, 0,
                            content_child_destroy);
    if (rc == 0)
        rc = ipc_conn_bind(conn, st.pcontent->actor);
    if (rc != 0) {
        rig_err(app, "Unable to bind ContentChild: %s", ipc_strerror(rc));
        ipc_conn_free(conn);
        rig_link_dispose(st.pcontent);
        return RIG_EXIT_USAGE;
    }
    st.pcontent->bound = 1;
    if ((rc = rig_link_attach(st.pcontent, conn, 0)) != 0)
        rig_err(app, "cannot watch the PContent channel: %s", ipc_strerror(rc));
    rig_say(app,
            "content process started (parent: main %d); ContentChild bound; "
            "asking main for a Demo process (PContent::LaunchDemoProcess)",
            (int)info->parent_pid);
    ipc_msg *m = NULL;
    ipc_PContent_LaunchDemoProcess in = {0};
    rc = ipc_PContent_LaunchDemoProcess_build(&m, IPC_ROUTING_CONTROL, &in);
    if (rc == 0)
        rc = ipc_actor_send_with_reply(st.pcontent->actor, m, on_endpoint, on_launch_rejected, app);
    else
        on_launch_rejected(app, rc);
    /* A failed send_with_reply rejects (later) through on_launch_rejected. */

    rig_app_run(app, 0);

    unsigned long lost = 0;
    for (size_t i = 0; i < app->nlinks; i++)
        lost += rig_link_report(&app->links[i]);
    if (lost)
        rig_note_result(app, RIG_EXIT_LOST);
    if (!rig_helpline_parent_answered(app))
        rig_note_result(app, RIG_EXIT_ABNORMAL);
    for (size_t i = 0; i < app->nlinks; i++)
        rig_link_dispose(&app->links[i]);
    rig_say(app, "exiting with status %d", app->result);
    return app->result;
}
