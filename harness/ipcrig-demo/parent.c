/* The main process of the Demo sample (seed 001): DemoParent::LaunchDemoProcess
 * and its Host (launch with ipc_host_launch, bind DemoParent when the process
 * is ready, then MakeBridgeAndResolve: create the PDemoHelpline endpoints, send
 * the child end to the demo in CreateDemoHelplineChild and resolve the
 * requester's promise with the parent end), DemoParent itself, and, for
 * `--from content`, the content process and its ContentParent, which launches
 * the demo on the content's behalf (PContent::LaunchDemoProcess). Main waits
 * for every child to exit and reports how each one ended. */
#include "demo.h"

#include "ipc/errors.h"
#include "ipc/protocols/PContent.h"
#include "ipc/protocols/PDemo.h"
#include "ipc/protocols/PDemoHelpline.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* DemoParent::Host: one Demo process and who asked for it. */
typedef struct demo_host {
    ipc_host *host;
    rig_link *link; /* DemoParent */
    pid_t requester_pid;
    const char *requester_type;
    ipc_resolver *resolver; /* content's LaunchDemoProcess; NULL: main asked */
    int launched;
    int exited;
    /* --busy-main: the IO-thread filter that ends the stall. */
    atomic_int filter_installed;
    atomic_int sentinel_or_goodbye_seen;
} demo_host;

typedef struct content_host {
    ipc_host *host;
    rig_link *link; /* ContentParent */
    int launched;
    int exited;
} content_host;

typedef struct main_state {
    demo_host demo;
    content_host content;
} main_state;

static main_state *state_of(const rig_app *app)
{
    return app->role;
}

/* ---- exits ---- */

static void describe_exit(rig_app *app, const char *type, const ipc_crash_info *info,
                          const char *report_path)
{
    char sig[32];
    if (info->exited) {
        const char *what = info->exit_status == RIG_EXIT_CLEAN  ? "clean"
                           : info->exit_status == RIG_EXIT_LOST ? "it lost messages"
                                                                : "it did not end cleanly";
        rig_say(app, "%s %d exited with status %d (%s)", type, (int)info->pid, info->exit_status,
                what);
        rig_note_result(app, info->exit_status == RIG_EXIT_CLEAN  ? RIG_EXIT_CLEAN
                             : info->exit_status == RIG_EXIT_LOST ? RIG_EXIT_LOST
                                                                  : RIG_EXIT_ABNORMAL);
    } else {
        rig_say(app, "%s %d was killed by %s%s", type, (int)info->pid,
                ipc_signal_name(info->signal, sig, sizeof sig),
                info->syscall_nr >= 0 ? " (the sandbox refused a syscall)" : "");
        if (info->syscall_nr >= 0)
            rig_say(app, "%s %d: refused syscall %s", type, (int)info->pid, info->syscall_name);
        rig_note_result(app, RIG_EXIT_ABNORMAL);
    }
    if (report_path && *report_path)
        rig_say(app, "crash report for %s %d: %s", type, (int)info->pid, report_path);
}

/* ---- resolving the requester's promise ---- */

static void resolve_failure(rig_app *app, demo_host *d, const char *why)
{
    rig_err(app, "no PDemoHelpline for %s %d: %s", d->requester_type, (int)d->requester_pid, why);
    rig_note_result(app, RIG_EXIT_ABNORMAL);
    if (d->resolver) {
        ipc_resolver_reject(d->resolver);
        d->resolver = NULL;
    }
}

/* Hands the parent end to whoever asked: main binds it itself, a content
 * process gets it in the LaunchDemoProcess reply. Takes `parent`. */
static void resolve_with(rig_app *app, demo_host *d, ipc_endpoint *parent)
{
    if (!d->resolver) {
        rig_helpline_parent_start(app, parent);
        return;
    }
    ipc_PContent_LaunchDemoProcess_reply r = {.endpoint = -1};
    int rc = ipc_endpoint_to_params(parent, &r.endpoint, &r.info);
    if (rc == 0) {
        rig_say(app,
                "resolving content %d's LaunchDemoProcess with the PDemoHelpline parent "
                "endpoint",
                (int)d->requester_pid);
        rc = ipc_resolver_resolve(d->resolver, &r); /* dup()s the fd */
        d->resolver = NULL;
    }
    ipc_endpoint_info_free(r.info);
    ipc_endpoint_dispose(parent);
    if (rc != 0) {
        if (d->resolver)
            resolve_failure(app, d, ipc_strerror(rc));
        else
            rig_err(app, "could not answer content's LaunchDemoProcess: %s", ipc_strerror(rc));
        rig_note_result(app, RIG_EXIT_ABNORMAL);
    }
}

/* DemoParent::Host::MakeBridgeAndResolve. */
static void make_bridge_and_resolve(rig_app *app, demo_host *d)
{
    pid_t demo_pid = ipc_host_pid(d->host);
    ipc_endpoint parent, child;
    /* Parent side is the requester (main or content), child side the demo. */
    int rc = ipc_endpoint_create_pair(&ipc_PDemoHelpline_protocol, d->requester_pid, demo_pid,
                                      &parent, &child);
    if (rc != 0) {
        resolve_failure(app, d, ipc_strerror(rc));
        return;
    }
    rig_say(app, "bridging PDemoHelpline: parent end for %s %d, child end for demo %d",
            d->requester_type, (int)d->requester_pid, (int)demo_pid);
    ipc_PDemo_CreateDemoHelplineChild p = {.endpoint = -1};
    ipc_msg *m = NULL;
    rc = ipc_endpoint_to_params(&child, &p.endpoint, &p.info);
    if (rc == 0)
        rc = ipc_PDemo_CreateDemoHelplineChild_build(&m, IPC_ROUTING_CONTROL, &p); /* dup()s */
    if (rc == 0)
        rc = ipc_actor_send(d->link->actor, m);
    ipc_endpoint_info_free(p.info);
    ipc_endpoint_dispose(&child);
    if (rc != 0) {
        ipc_endpoint_dispose(&parent);
        resolve_failure(app, d, "Failed to SendCreateDemoHelplineChild");
        return;
    }
    resolve_with(app, d, &parent);
}

/* ---- --busy-main: main's thread is busy elsewhere while the demo works ---- */

/* IO thread: sees the demo's last PDemo traffic before main's thread does. */
static int busy_filter(void *ctx, ipc_proxy *proxy, ipc_msg *msg)
{
    demo_host *d = ctx;
    (void)proxy;
    uint32_t t = ipc_msg_type(msg);
    if (!ipc_msg_is_reply(msg) &&
        (t == IPC_MSGTYPE(PDemo, EmptyMessageQueue) || t == IPC_MSG_GOODBYE))
        atomic_store(&d->sentinel_or_goodbye_seen, 1);
    return 0;
}

static void busy_filter_added(void *ctx, ipc_proxy *proxy)
{
    demo_host *d = ctx;
    (void)proxy;
    atomic_store(&d->filter_installed, 1);
}

/* Sleeps in small steps until *flag is set or limit_ms pass. Returns *flag. */
static int block_until(atomic_int *flag, long limit_ms)
{
    struct timespec step = {0, 1000 * 1000};
    for (long waited = 0; !atomic_load(flag) && waited < limit_ms; waited++)
        nanosleep(&step, NULL);
    return atomic_load(flag);
}

static void install_busy_filter(rig_app *app, demo_host *d)
{
    ipc_filter f = {.on_message = busy_filter, .on_added = busy_filter_added, .ctx = d};
    int rc = ipc_proxy_add_filter(ipc_conn_proxy(ipc_host_conn(d->host)), &f);
    if (rc != 0 || !block_until(&d->filter_installed, 5000))
        rig_err(app, "--busy-main: could not watch the PDemo channel (%s)", ipc_strerror(rc));
}

static void stay_busy(rig_app *app, demo_host *d)
{
    long limit_ms = (long)app->opts.timeout_s * 1000 / 2;
    rig_say(app, "main's thread is busy (--busy-main) until the demo sends EmptyMessageQueue or "
                 "Goodbye");
    if (block_until(&d->sentinel_or_goodbye_seen, limit_ms))
        rig_say(app, "main's thread is free again: %s arrived while it was busy",
                app->opts.no_sentinel ? "the Goodbye" : "EmptyMessageQueue");
    else
        rig_err(app, "--busy-main: nothing came from the demo in %ld ms", limit_ms);
}

/* ---- DemoParent ---- */

static int on_init_crash_reporter(void *ctx, ipc_msg *msg, ipc_PDemo_InitCrashReporter *in,
                                  ipc_PDemo_InitCrashReporter_reply *out)
{
    rig_link *l = ctx;
    (void)msg;
    (void)out;
    rig_say(l->app, "DemoParent: InitCrashReporter from demo %d (dump dir \"%s\")", (int)in->pid,
            in->info->dump_dir);
    return 0;
}

static int on_empty_message_queue(void *ctx, ipc_msg *msg, ipc_PDemo_EmptyMessageQueue *in,
                                  ipc_PDemo_EmptyMessageQueue_reply *out)
{
    rig_link *l = ctx;
    (void)msg;
    (void)in;
    rig_say(l->app, "DemoParent: EmptyMessageQueue: everything the demo sent before it has been "
                    "handled; answering");
    out->ok = true;
    return 0;
}

static const ipc_msgmap_entry demo_parent_map[] = {
    IPC_HANDLER(PDemo, InitCrashReporter, on_init_crash_reporter),
    IPC_HANDLER(PDemo, EmptyMessageQueue, on_empty_message_queue),
};

static void demo_parent_destroy(void *ctx, ipc_actor *a, ipc_destroy_reason why)
{
    rig_link *l = ctx;
    (void)a;
    rig_say(l->app, "DemoParent destroyed: %s%s", ipc_destroy_reason_name(why),
            why == IPC_ABNORMAL_SHUTDOWN ? " (GenerateCrashReport: see the demo's exit)" : "");
    rig_link_destroyed(l, why);
}

/* WhenProcessHandleReady: bind DemoParent, then bridge. */
static void demo_ready(void *ctx, ipc_host *host, int err)
{
    rig_app *app = ctx;
    demo_host *d = &state_of(app)->demo;
    if (err != 0) {
        rig_err(app, "Failed to launch Demo process: %s (%s)", ipc_errname(err), ipc_strerror(err));
        d->exited = 1; /* nothing runs; the host is dead */
        resolve_failure(app, d, "the Demo process did not start");
        rig_app_check_later(app);
        return;
    }
    pid_t pid = ipc_host_pid(host);
    rig_link *l = rig_link_add(app, "PDemo", "DemoParent", "demo", pid);
    d->link = l;
    int rc = l ? rig_link_new_actor(l, &ipc_PDemo_protocol, IPC_SIDE_PARENT, demo_parent_map,
                                    IPC_MSGMAP_LEN(demo_parent_map), demo_parent_destroy)
               : -ENOMEM;
    if (rc == 0 && app->opts.busy_main)
        install_busy_filter(app, d);
    if (rc == 0)
        rc = ipc_conn_bind(ipc_host_conn(host), l->actor);
    if (rc != 0) {
        rig_err(app, "Unable to bind DemoParent: %s", ipc_strerror(rc));
        resolve_failure(app, d, "DemoParent is not bound");
        ipc_host_kill(host);
        return;
    }
    l->bound = 1;
    if ((rc = rig_link_attach(l, ipc_host_conn(host), 1)) != 0)
        rig_err(app, "cannot watch the PDemo channel: %s", ipc_strerror(rc));
    rig_say(app, "Demo process %d is running; DemoParent bound (PDemo)", (int)pid);
    make_bridge_and_resolve(app, d);
    if (app->opts.busy_main)
        stay_busy(app, d);
}

static void demo_exited(void *ctx, ipc_host *host, const ipc_crash_info *info,
                        const char *report_path)
{
    rig_app *app = ctx;
    demo_host *d = &state_of(app)->demo;
    (void)host;
    d->exited = 1;
    describe_exit(app, "demo", info, report_path);
    if (d->resolver)
        resolve_failure(app, d, "the Demo process died first");
    rig_app_check_later(app);
}

/* DemoParent::LaunchDemoProcess. `resolver` (may be NULL: main asks for
 * itself) is taken: answered later, or rejected here on failure. */
static int launch_demo_process(rig_app *app, pid_t requester_pid, const char *requester_type,
                               ipc_resolver *resolver)
{
    demo_host *d = &state_of(app)->demo;
    if (d->launched) {
        if (resolver)
            ipc_resolver_reject(resolver);
        rig_err(app, "%s %d asked for a second Demo process: one per run", requester_type,
                (int)requester_pid);
        return IPC_E_EXISTS;
    }
    d->launched = 1;
    d->requester_pid = requester_pid;
    d->requester_type = requester_type;
    d->resolver = resolver;
    const char *argv[7];
    int argc = 0;
    argv[argc++] = app->self_exe;
    if (app->opts.no_sentinel)
        argv[argc++] = "--no-sentinel";
    if (app->opts.crash_demo)
        argv[argc++] = "--crash-demo";
    if (app->opts.crash_dir) {
        argv[argc++] = "--crash-dir";
        argv[argc++] = app->opts.crash_dir;
    }
    argv[argc] = NULL;
    ipc_host_opts o = {.loop = app->loop,
                       .label = app->gecko_label,
                       .ready = demo_ready,
                       .exited = demo_exited,
                       .ctx = app};
    ipc_proc_opts_init(&o.proc);
    o.proc.path = app->self_exe;
    o.proc.argv = argv;
    o.proc.process_type = "demo";
    o.proc.crash_dir = app->opts.crash_dir;
    rig_say(app, "launching a Demo process for %s %d", requester_type, (int)requester_pid);
    int rc = ipc_host_launch(&o, &d->host);
    if (rc != 0) {
        d->exited = 1;
        rig_err(app, "Failed to launch Demo process: %s (%s)", ipc_errname(rc), ipc_strerror(rc));
        resolve_failure(app, d, "the launch failed");
    }
    return rc;
}

/* ---- the content process ---- */

/* ContentParent::RecvLaunchDemoProcess. */
static int on_launch_demo_process(void *ctx, ipc_msg *msg, ipc_PContent_LaunchDemoProcess *in,
                                  ipc_PContent_LaunchDemoProcess_reply *out)
{
    rig_link *l = ctx;
    (void)msg;
    (void)in;
    (void)out;
    ipc_resolver *r = ipc_actor_take_resolver();
    rig_say(l->app, "ContentParent: content %d asks for a Demo process (LaunchDemoProcess)",
            (int)l->peer_pid);
    if (launch_demo_process(l->app, l->peer_pid, "content", r) != 0)
        rig_err(l->app, "Failed to launch Demo process for content %d", (int)l->peer_pid);
    return 0;
}

static const ipc_msgmap_entry content_parent_map[] = {
    IPC_HANDLER(PContent, LaunchDemoProcess, on_launch_demo_process),
};

static void content_parent_destroy(void *ctx, ipc_actor *a, ipc_destroy_reason why)
{
    rig_link *l = ctx;
    (void)a;
    rig_say(l->app, "ContentParent destroyed: %s", ipc_destroy_reason_name(why));
    rig_link_destroyed(l, why);
}

static void content_ready(void *ctx, ipc_host *host, int err)
{
    rig_app *app = ctx;
    content_host *c = &state_of(app)->content;
    if (err != 0) {
        rig_err(app, "Failed to launch the content process: %s (%s)", ipc_errname(err),
                ipc_strerror(err));
        c->exited = 1;
        rig_note_result(app, RIG_EXIT_ABNORMAL);
        rig_app_check_later(app);
        return;
    }
    pid_t pid = ipc_host_pid(host);
    rig_link *l = rig_link_add(app, "PContent", "ContentParent", "content", pid);
    c->link = l;
    int rc = l ? rig_link_new_actor(l, &ipc_PContent_protocol, IPC_SIDE_PARENT, content_parent_map,
                                    IPC_MSGMAP_LEN(content_parent_map), content_parent_destroy)
               : -ENOMEM;
    if (rc == 0)
        rc = ipc_conn_bind(ipc_host_conn(host), l->actor);
    if (rc != 0) {
        rig_err(app, "Unable to bind ContentParent: %s", ipc_strerror(rc));
        rig_note_result(app, RIG_EXIT_ABNORMAL);
        ipc_host_kill(host);
        return;
    }
    l->bound = 1;
    if ((rc = rig_link_attach(l, ipc_host_conn(host), 1)) != 0)
        rig_err(app, "cannot watch the PContent channel: %s", ipc_strerror(rc));
    rig_say(app, "content process %d is running; ContentParent bound (PContent)", (int)pid);
}

static void content_exited(void *ctx, ipc_host *host, const ipc_crash_info *info,
                           const char *report_path)
{
    rig_app *app = ctx;
    (void)host;
    state_of(app)->content.exited = 1;
    describe_exit(app, "content", info, report_path);
    rig_app_check_later(app);
}

static int launch_content_process(rig_app *app)
{
    content_host *c = &state_of(app)->content;
    const char *argv[] = {app->self_exe, NULL};
    ipc_host_opts o = {.loop = app->loop,
                       .label = app->gecko_label,
                       .ready = content_ready,
                       .exited = content_exited,
                       .ctx = app};
    ipc_proc_opts_init(&o.proc);
    o.proc.path = app->self_exe;
    o.proc.argv = argv;
    o.proc.process_type = "content";
    o.proc.crash_dir = app->opts.crash_dir;
    c->launched = 1;
    rig_say(app, "launching a content process (PContent)");
    int rc = ipc_host_launch(&o, &c->host);
    if (rc != 0) {
        c->exited = 1;
        rig_err(app, "Failed to launch the content process: %s (%s)", ipc_errname(rc),
                ipc_strerror(rc));
    }
    return rc;
}

/* ---- the main process ---- */

static int main_is_done(rig_app *app)
{
    main_state *st = app->role;
    if (st->demo.launched && !st->demo.exited)
        return 0;
    if (st->content.launched && !st->content.exited)
        return 0;
    for (size_t i = 0; i < app->nlinks; i++)
        if (!rig_link_finished(&app->links[i]))
            return 0;
    return 1;
}

const char *rig_result_text(int code)
{
    switch (code) {
    case RIG_EXIT_CLEAN:
        return "every process ended with NormalShutdown and no message was lost";
    case RIG_EXIT_LOST:
        return "clean shutdown, but messages were lost (see the counts and \"too late\" lines)";
    case RIG_EXIT_ABNORMAL:
        return "a process did not end cleanly";
    case RIG_EXIT_TIMEOUT:
        return "timed out";
    default:
        return "setup failed";
    }
}

int rig_main_process(rig_app *app)
{
    main_state st;
    memset(&st, 0, sizeof st);
    atomic_init(&st.demo.filter_installed, 0);
    atomic_init(&st.demo.sentinel_or_goodbye_seen, 0);
    app->role = &st;
    app->gecko_label = "default";
    app->is_done = main_is_done;
    rig_say(app, "main process; the request comes from %s%s",
            app->opts.from_content ? "content" : "main",
            app->opts.no_sentinel ? "; the demo will close PDemo without the sentinel" : "");
    int rc = app->opts.from_content ? launch_content_process(app)
                                    : launch_demo_process(app, app->pid, "main", NULL);
    if (rc != 0)
        rig_note_result(app, RIG_EXIT_USAGE);

    rig_app_run(app, (unsigned)app->opts.timeout_s * 1000u);

    if (app->timed_out) {
        rig_err(app, "timed out after %d s; killing what is left", app->opts.timeout_s);
        rig_note_result(app, RIG_EXIT_TIMEOUT);
        if (st.content.host && !st.content.exited)
            rig_say(app, "killing content %d: still running at the timeout",
                    (int)ipc_host_pid(st.content.host));
        if (st.demo.host && !st.demo.exited)
            rig_say(app, "killing demo %d: still running at the timeout",
                    (int)ipc_host_pid(st.demo.host));
    }
    if (!rig_helpline_parent_answered(app) && !app->opts.from_content)
        rig_note_result(app, RIG_EXIT_ABNORMAL);
    unsigned long lost = 0;
    for (size_t i = 0; i < app->nlinks; i++)
        lost += rig_link_report(&app->links[i]);
    if (lost)
        rig_note_result(app, RIG_EXIT_LOST);
    for (size_t i = 0; i < app->nlinks; i++)
        rig_link_dispose(&app->links[i]);
    /* Kills and reaps a child still running (after a timeout). */
    ipc_host_free(st.demo.host);
    ipc_host_free(st.content.host);
    return app->result;
}
