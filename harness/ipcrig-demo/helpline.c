/* DemoHelplineParent: the requesting end of PDemoHelpline, bound in the main
 * process (--from main) or in a content process (--from content) to the
 * endpoint the main process created (seed 001, "Connecting With Other
 * Processes" and "Completing the Sample"). It asks for assistance and prints
 * the answer; the demo process closes the channel afterwards. */
#include "demo.h"

#include "ipc/errors.h"
#include "ipc/protocols/PDemoHelpline.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One requester per process. */
static struct {
    rig_link *link;
    int answered;
} hp;

/* DemoHelplineParent::RecvGiveAssistance: resolves the promise (prints the
 * string) and answers true, which tells the demo it may close. */
static int on_give_assistance(void *ctx, ipc_msg *msg, ipc_PDemoHelpline_GiveAssistance *in,
                              ipc_PDemoHelpline_GiveAssistance_reply *out)
{
    rig_link *l = ctx;
    (void)msg;
    hp.answered = 1;
    rig_say(l->app, "DemoHelplineParent (in the %s process) got: \"%s\"", l->app->type,
            in->message);
    out->ok = true;
    return 0;
}

static const ipc_msgmap_entry helpline_parent_map[] = {
    IPC_HANDLER(PDemoHelpline, GiveAssistance, on_give_assistance),
};

static void helpline_parent_destroy(void *ctx, ipc_actor *a, ipc_destroy_reason why)
{
    rig_link *l = ctx;
    (void)a;
    rig_say(l->app, "DemoHelplineParent destroyed: %s%s", ipc_destroy_reason_name(why),
            hp.answered ? "" : " (the promise is rejected: no assistance came)");
    if (!hp.answered)
        rig_note_result(l->app, RIG_EXIT_ABNORMAL);
    rig_link_destroyed(l, why);
    if (l->app->on_helpline_parent_destroyed)
        l->app->on_helpline_parent_destroyed(l->app);
}

int rig_helpline_parent_start(rig_app *app, ipc_endpoint *ep)
{
    int rc = -ENOMEM;
    rig_link *l = rig_link_add(app, "PDemoHelpline", "DemoHelplineParent", "demo", ep->other_pid);
    if (!l)
        goto fail;
    hp.link = l;
    rc = rig_link_new_actor(l, &ipc_PDemoHelpline_protocol, IPC_SIDE_PARENT, helpline_parent_map,
                            IPC_MSGMAP_LEN(helpline_parent_map), helpline_parent_destroy);
    if (rc != 0)
        goto fail;
    ipc_conn *conn = NULL;
    rc = ipc_endpoint_bind(ep, app->loop, l->actor, app->gecko_label, &conn); /* takes ep->fd */
    if (rc != 0) {
        rig_err(app, "Unable to bind DemoHelplineParent: %s", ipc_strerror(rc));
        goto fail;
    }
    l->bound = 1;
    rc = rig_link_attach(l, conn, 0);
    if (rc != 0)
        rig_err(app, "cannot watch the PDemoHelpline channel: %s", ipc_strerror(rc));
    rig_say(app, "DemoHelplineParent bound (PDemoHelpline with demo %d); sending RequestAssistance",
            (int)ep->other_pid);
    ipc_msg *m = NULL;
    ipc_PDemoHelpline_RequestAssistance req = {0};
    rc = ipc_PDemoHelpline_RequestAssistance_build(&m, IPC_ROUTING_CONTROL, &req);
    if (rc == 0)
        rc = ipc_actor_send(l->actor, m);
    if (rc != 0) {
        rig_err(app, "DemoHelplineParent::SendRequestAssistance failed: %s", ipc_strerror(rc));
        rig_note_result(app, RIG_EXIT_ABNORMAL);
    }
    return 0; /* the actor lives on; its ActorDestroy reports the outcome */
fail:
    ipc_endpoint_dispose(ep);
    rig_note_result(app, RIG_EXIT_ABNORMAL);
    return rc;
}

int rig_helpline_parent_answered(const rig_app *app)
{
    (void)app;
    return hp.answered;
}
