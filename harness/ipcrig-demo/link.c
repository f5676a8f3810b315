/* ipcrig-demo's plumbing shared by every role: progress lines, the outcome,
 * and rig_link, which ties a top-level actor to its connection and reports
 * that connection's message counts so that "sent = dispatched + lost" can be
 * checked across processes. */
#include "demo.h"

#include "ipc/errors.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void emit(int fd, const rig_app *app, const char *fmt, va_list ap)
{
    char line[1024];
    int n = snprintf(line, sizeof line, "[%s %d] ", app->type, (int)app->pid);
    if (n < 0)
        return;
    int m = vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    line[len++] = '\n';
    const char *p = line;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        p += w;
        len -= (size_t)w;
    }
}

void rig_say(const rig_app *app, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    emit(STDOUT_FILENO, app, fmt, ap);
    va_end(ap);
}

void rig_err(const rig_app *app, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    emit(STDERR_FILENO, app, fmt, ap);
    va_end(ap);
}

static int severity(int code)
{
    switch (code) {
    case RIG_EXIT_CLEAN:
        return 0;
    case RIG_EXIT_LOST:
        return 1;
    case RIG_EXIT_ABNORMAL:
        return 2;
    default: /* usage, timeout */
        return 3;
    }
}

void rig_note_result(rig_app *app, int code)
{
    if (severity(code) > severity(app->result))
        app->result = code;
}

/* ---- links ---- */

rig_link *rig_link_add(rig_app *app, const char *proto, const char *actor_name,
                       const char *peer_type, pid_t peer_pid)
{
    if (app->nlinks >= RIG_MAX_LINKS)
        return NULL;
    rig_link *l = &app->links[app->nlinks++];
    memset(l, 0, sizeof *l);
    l->app = app;
    l->proto = proto;
    l->actor_name = actor_name;
    l->peer_type = peer_type;
    l->peer_pid = peer_pid;
    atomic_init(&l->chan_closed, 0);
    return l;
}

int rig_link_new_actor(rig_link *l, const ipc_protocol_desc *proto, ipc_side side,
                       const ipc_msgmap_entry *map, size_t map_len, rig_destroy_fn destroy)
{
    ipc_actor_ops ops = {.map = map, .map_len = map_len, .actor_destroy = destroy};
    return ipc_actor_new(&l->actor, proto, side, &ops, l);
}

/* IO thread: the channel under the link closed (EOF after Goodbye, an error,
 * or our own free). The main thread re-checks completion. */
static void on_chan_removed(void *ctx)
{
    rig_link *l = ctx;
    atomic_store(&l->chan_closed, 1);
    rig_app_check_later(l->app);
}

int rig_link_attach(rig_link *l, ipc_conn *conn, int owned_by_host)
{
    l->conn = conn;
    l->owned_by_host = owned_by_host;
    if (!l->peer_pid)
        l->peer_pid = ipc_conn_peer_pid(conn);
    ipc_filter f = {.on_removed = on_chan_removed, .ctx = l};
    return ipc_proxy_add_filter(ipc_conn_proxy(conn), &f);
}

void rig_link_close(rig_link *l)
{
    if (!l->actor || !ipc_actor_is_alive(l->actor))
        return;
    ipc_conn_counts before, after;
    ipc_conn_get_counts(l->conn, &before);
    l->closed_by_us = 1;
    ipc_actor_close(l->actor);
    ipc_conn_get_counts(l->conn, &after);
    /* Close() sends a Goodbye unless the peer's came first. */
    l->goodbye_sent = (int)(after.sent - before.sent);
}

static void close_task(void *arg)
{
    rig_link_close(arg);
}

void rig_link_close_later(rig_link *l)
{
    if (ipc_loop_post(l->app->loop, close_task, l) != 0) {
        rig_err(l->app, "cannot schedule Close() of %s: out of memory", l->actor_name);
        rig_note_result(l->app, RIG_EXIT_ABNORMAL);
    }
}

void rig_link_destroyed(rig_link *l, ipc_destroy_reason why)
{
    l->destroyed = 1;
    l->why = why;
    if (why != IPC_NORMAL_SHUTDOWN)
        rig_note_result(l->app, RIG_EXIT_ABNORMAL);
    rig_app_check_later(l->app);
}

int rig_link_finished(const rig_link *l)
{
    if (!l->bound)
        return 1;
    return l->destroyed && atomic_load(&((rig_link *)l)->chan_closed);
}

unsigned long rig_link_report(rig_link *l)
{
    if (!l->conn)
        return 0;
    ipc_conn_counts c;
    ipc_conn_get_counts(l->conn, &c);
    /* A Goodbye is bookkeeping, not a message of the protocol: it is in
     * counts.sent when we closed, in counts.received when the peer did. */
    uint64_t gb_in = l->destroyed && l->why == IPC_NORMAL_SHUTDOWN && !l->closed_by_us ? 1 : 0;
    uint64_t sent = c.sent - (uint64_t)l->goodbye_sent;
    uint64_t received = c.received >= gb_in ? c.received - gb_in : 0;
    uint64_t handled = c.dispatched + c.unhandled + c.bad;
    uint64_t lost_run = received >= handled ? received - handled : 0;
    uint64_t lost_send = c.lost >= lost_run ? c.lost - lost_run : 0;
    /* "sent" counts every message this end tried to send: those refused as
     * too late are in "lost" too, so sent = dispatched + lost adds up over
     * the two ends of a channel. */
    rig_say(l->app,
            "counts %s %s<->%s %d<->%d: sent %llu, received %llu, dispatched %llu, lost %llu "
            "(%llu too late to send, %llu too late to run), unhandled %llu, bad %llu",
            l->proto, l->app->type, l->peer_type, (int)l->app->pid, (int)l->peer_pid,
            (unsigned long long)(sent + lost_send), (unsigned long long)received,
            (unsigned long long)c.dispatched, (unsigned long long)c.lost,
            (unsigned long long)lost_send, (unsigned long long)lost_run,
            (unsigned long long)c.unhandled, (unsigned long long)c.bad);
    if (c.unhandled || c.bad)
        rig_note_result(l->app, RIG_EXIT_ABNORMAL);
    return (unsigned long)c.lost;
}

void rig_link_dispose(rig_link *l)
{
    if (l->conn && !l->owned_by_host)
        ipc_conn_free(l->conn);
    l->conn = NULL;
    if (l->actor)
        ipc_actor_unref(l->actor);
    l->actor = NULL;
}

/* ---- the loop ---- */

void rig_app_check(rig_app *app)
{
    if (!app->done && app->is_done && app->is_done(app)) {
        app->done = 1;
        ipc_loop_quit(app->loop);
    }
}

static void check_task(void *arg)
{
    rig_app_check(arg);
}

void rig_app_check_later(rig_app *app)
{
    /* Failing to post only delays the check to the next event. */
    (void)ipc_loop_post(app->loop, check_task, app);
}

static void on_timeout(void *arg)
{
    rig_app *app = arg;
    if (app->done)
        return;
    app->timed_out = 1;
    ipc_loop_quit(app->loop);
}

void rig_app_run(rig_app *app, unsigned timeout_ms)
{
    if (timeout_ms)
        ipc_loop_post_delayed(app->loop, on_timeout, app, timeout_ms);
    rig_app_check(app);
    if (!app->done)
        ipc_loop_run(app->loop);
}
