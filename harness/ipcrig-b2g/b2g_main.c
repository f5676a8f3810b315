/* ipcrig-b2g's main process (b2g): the preallocated-process manager
 * launches the fork server after the delay and keeps the spares; apps are
 * started one after the other, each from a spare, with the latency from
 * TurnIntoApp to Ready printed; then everything is shut down and reaped. */
#include "b2g.h"

#include "ipc/errors.h"
#include "ipc/nuwa.h"

#include <event2/event.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct main_state {
    const rig_b2g_opts *opts;
    ipc_loop *loop;
    ipc_nuwa_manager *m;
    unsigned started, ready;
    unsigned connected_events; /* SPARE_CONNECTED events printed so far */
    int turning; /* an app is on its way to Ready */
    int failed;
    int shutting_down;
    pid_t nuwa_pid;
    uint64_t latency_ns[1000];
    struct event *timeout_ev;
} main_state;

static void shutdown_all(main_state *s, const char *why)
{
    if (s->shutting_down)
        return;
    s->shutting_down = 1;
    ipc_nuwa_counts c;
    ipc_nuwa_manager_get_counts(s->m, &c);
    rig_b2g_say("main", "%s: shutting down (Close to %u app(s) and %u spare(s), then nuwa)", why,
                c.apps, c.spares);
    ipc_nuwa_manager_shutdown(s->m);
}

static void start_next_app(main_state *s)
{
    if (s->turning || s->shutting_down || s->started >= s->opts->apps)
        return;
    /* A spare still setting itself up after its fork would answer late:
     * preallocation is about taking one that is ready. */
    if (ipc_nuwa_manager_connected_spares(s->m) == 0)
        return;
    char name[32];
    snprintf(name, sizeof name, "app-%u", s->started + 1);
    pid_t pid;
    int rc = ipc_nuwa_manager_take_spare(s->m, name, &pid);
    if (rc == -EAGAIN)
        return; /* the next published spare starts it */
    if (rc) {
        rig_b2g_say("main", "taking a spare for %s failed: %s", name, ipc_strerror(rc));
        s->failed = 1;
        shutdown_all(s, "error");
        return;
    }
    s->started++;
    s->turning = 1;
}

static void on_app_ready(main_state *s, const ipc_nuwa_event *ev)
{
    pid_t ppid = rig_b2g_parent_of(ev->pid);
    rig_b2g_say("main", "Ready from %s: pid %d (parent %d%s), launch latency %.1f us", ev->app_name,
                (int)ev->pid, (int)ppid, ppid == s->nuwa_pid ? " = nuwa" : "",
                (double)ev->latency_ns / 1e3);
    if (ppid != s->nuwa_pid) {
        rig_b2g_say("main", "error: %s is not a child of nuwa", ev->app_name);
        s->failed = 1;
    }
    if (s->ready < sizeof s->latency_ns / sizeof s->latency_ns[0])
        s->latency_ns[s->ready] = ev->latency_ns;
    s->ready++;
    s->turning = 0;
    if (s->ready == s->opts->apps)
        shutdown_all(s, "all apps ready");
    else
        start_next_app(s);
}

static void on_exited(main_state *s, const ipc_nuwa_event *ev)
{
    rig_b2g_say("main", "%s %d exited", ev->app_name[0] ? ev->app_name : "spare", (int)ev->pid);
    if (!s->shutting_down) {
        rig_b2g_say("main", "error: %d died before shutdown", (int)ev->pid);
        s->failed = 1;
        if (ev->app_name[0])
            shutdown_all(s, "an app died");
    }
}

static void on_event(void *ctx, ipc_nuwa_manager *m, const ipc_nuwa_event *ev)
{
    main_state *s = ctx;
    ipc_nuwa_counts c;
    ipc_nuwa_manager_get_counts(m, &c);
    switch (ev->kind) {
    case IPC_NUWA_EV_NUWA_LAUNCHING:
        rig_b2g_say("main", "delay over: launching the fork server (nuwa)");
        break;
    case IPC_NUWA_EV_NUWA_RUNNING:
        s->nuwa_pid = ev->pid;
        rig_b2g_say("main", "nuwa running as pid %d", (int)ev->pid);
        break;
    case IPC_NUWA_EV_NUWA_FAILED:
        rig_b2g_say("main", "error: nuwa could not be launched: %s", ipc_strerror(ev->err));
        s->failed = 1;
        shutdown_all(s, "no fork server");
        break;
    case IPC_NUWA_EV_FORK_REQUESTED:
        rig_b2g_say("main", "NuwaFork -> nuwa%s (forks requested: %llu)",
                    ev->replacement ? " to replace a taken spare" : "",
                    (unsigned long long)c.forks_requested);
        break;
    case IPC_NUWA_EV_SPARE_PUBLISHED:
        rig_b2g_say("main", "AddNewProcess from nuwa: spare %d (parent %d) published, %u spare(s)",
                    (int)ev->pid, (int)ev->parent_pid, c.spares);
        break;
    case IPC_NUWA_EV_SPARE_CONNECTED:
        rig_b2g_say("main", "spare %d connected (hello received): ready to become an app",
                    (int)ev->pid);
        /* Count the events, not the manager's view: the manager may already
         * see a hello whose event is still on its way. */
        s->connected_events++;
        if (s->opts->apps == 0 && s->connected_events >= s->opts->spares)
            shutdown_all(s, "spares ready, no apps to start");
        start_next_app(s);
        break;
    case IPC_NUWA_EV_SPARE_TAKEN:
        rig_b2g_say("main", "TurnIntoApp(\"%s\") -> spare %d (spares taken: %llu)", ev->app_name,
                    (int)ev->pid, (unsigned long long)c.spares_taken);
        break;
    case IPC_NUWA_EV_APP_READY:
        on_app_ready(s, ev);
        break;
    case IPC_NUWA_EV_BAD_SENDER:
        rig_b2g_say("main", "bad message from %d (%s): killed", (int)ev->pid, ipc_errname(ev->err));
        s->failed = 1;
        break;
    case IPC_NUWA_EV_EXITED:
        on_exited(s, ev);
        break;
    case IPC_NUWA_EV_NUWA_EXITED:
        rig_b2g_say("main", "nuwa %d exited with status %d", (int)ev->pid, ev->exit_status);
        if (ev->exit_status != 0)
            s->failed = 1;
        if (!s->shutting_down) {
            s->failed = 1;
            shutdown_all(s, "nuwa died");
        }
        break;
    case IPC_NUWA_EV_SHUTDOWN_DONE:
        rig_b2g_say("main", "every process exited and was reaped");
        ipc_loop_quit(s->loop);
        break;
    }
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
    main_state *s = arg;
    (void)fd;
    (void)what;
    rig_b2g_say("main", "error: timed out after %d ms", s->opts->timeout_ms);
    s->failed = 1;
    if (s->shutting_down) {
        ipc_loop_quit(s->loop); /* the manager kills what is left when freed */
        return;
    }
    shutdown_all(s, "timeout");
    struct timeval tv = {IPC_NUWA_EXIT_GRACE_MS / 500, 0};
    evtimer_add(s->timeout_ev, &tv);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void summary(main_state *s)
{
    ipc_nuwa_counts c;
    ipc_nuwa_manager_get_counts(s->m, &c);
    printf("ipcrig-b2g: %u/%u app(s) ready; forks requested %llu (replacements %llu), spares "
           "published %llu, spares taken %llu, bad senders %llu, exited %llu\n",
           s->ready, s->opts->apps, (unsigned long long)c.forks_requested,
           (unsigned long long)c.replacements, (unsigned long long)c.spares_published,
           (unsigned long long)c.spares_taken, (unsigned long long)c.bad_senders,
           (unsigned long long)c.exited);
    size_t n = s->ready < 1000 ? s->ready : 1000;
    if (n) {
        qsort(s->latency_ns, n, sizeof s->latency_ns[0], cmp_u64);
        printf("ipcrig-b2g: spare to app latency (TurnIntoApp -> Ready): median %.1f us, min %.1f "
               "us, max %.1f us\n",
               (double)s->latency_ns[n / 2] / 1e3, (double)s->latency_ns[0] / 1e3,
               (double)s->latency_ns[n - 1] / 1e3);
    }
    printf("ipcrig-b2g: %s\n", s->failed ? "FAILED" : "ok");
}

static int self_exe(char *buf, size_t len)
{
    ssize_t n = readlink("/proc/self/exe", buf, len - 1);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    return 0;
}

int rig_b2g_main(const rig_b2g_opts *opts)
{
    static main_state s;
    static char exe[PATH_MAX];
    s.opts = opts;
    if (self_exe(exe, sizeof exe) != 0 || ipc_loop_new(&s.loop) != 0)
        return RIG_B2G_EXIT_FAIL;
    const char *argv[] = {exe, opts->quiet ? "--quiet" : NULL, NULL};
    ipc_nuwa_manager_opts mo;
    ipc_nuwa_manager_opts_init(&mo);
    mo.loop = s.loop;
    mo.nuwa.path = exe;
    mo.nuwa.argv = argv;
    mo.spares = opts->spares;
    mo.delay_ms = opts->delay_ms;
    mo.replace_delay_ms = opts->replace_delay_ms;
    mo.on_event = on_event;
    mo.ctx = &s;
    rig_b2g_say("main",
                "b2g started: %u spare(s), fork server in %d ms, replacements after %d ms, "
                "%u app(s)",
                opts->spares, opts->delay_ms,
                opts->replace_delay_ms < 0 ? opts->delay_ms : opts->replace_delay_ms, opts->apps);
    int rc = ipc_nuwa_manager_start(&mo, &s.m);
    if (rc) {
        fprintf(stderr, "ipcrig-b2g: %s\n", ipc_strerror(rc));
        ipc_loop_free(s.loop);
        return RIG_B2G_EXIT_FAIL;
    }
    s.timeout_ev = evtimer_new(ipc_loop_base(s.loop), on_timeout, &s);
    struct timeval tv = {opts->timeout_ms / 1000, (opts->timeout_ms % 1000) * 1000};
    if (!s.timeout_ev || evtimer_add(s.timeout_ev, &tv) != 0)
        s.failed = 1;
    ipc_loop_run(s.loop);
    if (!ipc_nuwa_manager_done(s.m))
        s.failed = 1;
    summary(&s);
    if (s.timeout_ev)
        event_free(s.timeout_ev);
    ipc_nuwa_manager_free(s.m);
    ipc_loop_run_once(s.loop, 0);
    ipc_loop_free(s.loop);
    return s.failed ? RIG_B2G_EXIT_FAIL : RIG_B2G_EXIT_OK;
}
