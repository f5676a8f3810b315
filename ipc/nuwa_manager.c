/* B2G's PreallocatedProcessManager (nuwa.h), the main process's side of the
 * fork server: the delayed launch (ScheduleDelayedNuwaFork), spares kept at
 * N, the IsNuwaProcess check on AddNewProcess, adoption and publication
 * (PublishSpareProcess), TurnIntoApp / Ready, replacements, bad senders and
 * the clean shutdown. The fork server's side is nuwa.c. */
#include "ipc/nuwa.h"

#include "ipc/errors.h"
#include "ipc/host.h"
#include "ipc/log.h"
#include "ipc/protocols/PContent.h"
#include "nuwa_internal.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Spares that die before ever serving an app, in a row, before the manager
 * stops refilling (a fork server whose children cannot start would otherwise
 * fork forever). */
#define MAX_CONSECUTIVE_LOSSES 8

static int zero_timer(struct event *ev)
{
    struct timeval tv = {0, 0};
    return evtimer_add(ev, &tv);
}

enum pstate { P_NUWA, P_SPARE, P_TURNING, P_APP, P_CLOSING };

typedef struct nproc {
    ipc_nuwa_manager *m;
    ipc_host *host;
    ipc_actor *actor;
    pid_t pid;
    int is_nuwa; /* ContentParent::IsNuwaProcess: set only where main launched it */
    enum pstate state;
    int running;   /* the fork server's launch succeeded */
    int connected; /* a spare's hello arrived: it is set up and listening */
    int actor_dead;
    int gone; /* exited, or never started */
    uint64_t take_ns;
    char app[IPC_NUWA_APP_NAME_MAX + 1];
    struct nproc *next; /* spares and apps, oldest first */
} nproc;

struct ipc_nuwa_manager {
    ipc_loop *loop;
    ipc_nuwa_manager_opts opts;
    uint64_t launch_deadline;
    struct event *launch_ev, *sweep_ev, *grace_ev, *hello_ev, *refill_ev;
    uint64_t refill_at; /* replacements wait until then (ScheduleDelayedNuwaFork) */
    uint32_t replace_delay_ms;
    int grace_stage;
    nproc *nuwa;
    nproc *procs;
    unsigned owed_replacements;
    unsigned losses; /* spares lost in a row before serving */
    int shutting_down, nuwa_closed, done, freeing;
    ipc_nuwa_counts counts;
    const char **nuwa_env; /* the fork server's environment (strings borrowed) */
};

const char *ipc_nuwa_event_name(ipc_nuwa_event_kind kind)
{
    switch (kind) {
    case IPC_NUWA_EV_NUWA_LAUNCHING:
        return "NUWA_LAUNCHING";
    case IPC_NUWA_EV_NUWA_RUNNING:
        return "NUWA_RUNNING";
    case IPC_NUWA_EV_NUWA_FAILED:
        return "NUWA_FAILED";
    case IPC_NUWA_EV_FORK_REQUESTED:
        return "FORK_REQUESTED";
    case IPC_NUWA_EV_SPARE_PUBLISHED:
        return "SPARE_PUBLISHED";
    case IPC_NUWA_EV_SPARE_CONNECTED:
        return "SPARE_CONNECTED";
    case IPC_NUWA_EV_SPARE_TAKEN:
        return "SPARE_TAKEN";
    case IPC_NUWA_EV_APP_READY:
        return "APP_READY";
    case IPC_NUWA_EV_BAD_SENDER:
        return "BAD_SENDER";
    case IPC_NUWA_EV_EXITED:
        return "EXITED";
    case IPC_NUWA_EV_NUWA_EXITED:
        return "NUWA_EXITED";
    case IPC_NUWA_EV_SHUTDOWN_DONE:
        return "SHUTDOWN_DONE";
    }
    return "?";
}

static void emit(ipc_nuwa_manager *m, ipc_nuwa_event *ev)
{
    if (!ev->app_name)
        ev->app_name = "";
    if (m->opts.on_event && !m->freeing)
        m->opts.on_event(m->opts.ctx, m, ev);
}

static void emit_simple(ipc_nuwa_manager *m, ipc_nuwa_event_kind kind, const nproc *p)
{
    ipc_nuwa_event ev = {.kind = kind, .pid = p ? p->pid : 0, .app_name = p ? p->app : ""};
    emit(m, &ev);
}

/* Moves a process between states, keeping the counts of each. */
static void set_state(nproc *p, enum pstate to)
{
    ipc_nuwa_counts *c = &p->m->counts;
    if (p->state == P_SPARE)
        c->spares--;
    else if (p->state == P_TURNING || p->state == P_APP)
        c->apps--;
    p->state = to;
    if (to == P_SPARE)
        c->spares++;
    else if (to == P_TURNING || to == P_APP)
        c->apps++;
}

static void schedule_sweep(ipc_nuwa_manager *m)
{
    if (m->sweep_ev && !m->freeing)
        zero_timer(m->sweep_ev);
}

/* The pid's parent, from /proc/<pid>/stat; -1 when it is gone. */
static pid_t parent_of(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    char *rp = strrchr(buf, ')'); /* the command name may hold anything */
    char state;
    int ppid;
    if (!rp || sscanf(rp + 1, " %c %d", &state, &ppid) != 2 || state == 'Z')
        return -1;
    return (pid_t)ppid;
}

static int nuwa_usable(const ipc_nuwa_manager *m)
{
    return m->nuwa && m->nuwa->running && !m->nuwa->actor_dead && !m->nuwa->gone;
}

/* NuwaFork. `may_replace`: counts as a replacement when one is owed. */
static int send_fork(ipc_nuwa_manager *m, int may_replace)
{
    if (!nuwa_usable(m) || m->shutting_down)
        return IPC_E_STATE;
    ipc_msg *msg = NULL;
    ipc_PContent_NuwaFork f = {0};
    int rc = ipc_PContent_NuwaFork_build(&msg, IPC_ROUTING_CONTROL, &f);
    if (rc == 0)
        rc = ipc_actor_send(m->nuwa->actor, msg);
    if (rc)
        return rc;
    ipc_nuwa_event ev = {.kind = IPC_NUWA_EV_FORK_REQUESTED, .pid = m->nuwa->pid};
    m->counts.forks_requested++;
    m->counts.forks_pending++;
    if (may_replace && m->owed_replacements > 0) {
        m->owed_replacements--;
        m->counts.replacements++;
        ev.replacement = 1;
    }
    emit(m, &ev);
    return 0;
}

/* Keeps spares + forks on their way at the target, once the replacement
 * delay after the last take is over (an app starting up then has the CPU to
 * itself, as with B2G's delayed allocation). */
static void fill(ipc_nuwa_manager *m)
{
    if (m->losses >= MAX_CONSECUTIVE_LOSSES || m->freeing)
        return;
    uint64_t now = ipc__nuwa_now_ns();
    if (now < m->refill_at) {
        uint64_t left = m->refill_at - now;
        struct timeval tv = {(time_t)(left / 1000000000u),
                             (suseconds_t)(left % 1000000000u / 1000u + 1)};
        if (!evtimer_pending(m->refill_ev, NULL))
            evtimer_add(m->refill_ev, &tv);
        return;
    }
    while (m->counts.spares + m->counts.forks_pending < m->opts.spares)
        if (send_fork(m, 1) != 0)
            return;
}

static void bad_sender(nproc *p, int err)
{
    ipc_nuwa_manager *m = p->m;
    m->counts.bad_senders++;
    ipc_nuwa_event ev = {
        .kind = IPC_NUWA_EV_BAD_SENDER, .pid = p->pid, .app_name = p->app, .err = err};
    emit(m, &ev);
    ipc_log_warning("Parent", "bad message from %s %d (%s): killing it",
                    p->is_nuwa ? "fork server" : "process", (int)p->pid, ipc_errname(err));
    /* Chromium's OnBadMessageReceived, as the host's own handler does it. */
    ipc_host_kill(p->host);
    ipc_conn_fail(ipc_host_conn(p->host), IPC_E_BAD_SENDER);
}

static void check_shutdown(ipc_nuwa_manager *m);
static void watch_hellos(ipc_nuwa_manager *m);
static void on_proc_exited(void *ctx, ipc_host *host, const ipc_crash_info *info,
                           const char *report_path);
static int bind_actor(nproc *p);

/* PublishSpareProcess: a host for the fork server's new child. Takes fd. */
static void publish(ipc_nuwa_manager *m, pid_t pid, int fd)
{
    nproc *q = calloc(1, sizeof *q);
    int rc = -ENOMEM;
    if (!q) {
        close(fd);
        goto lost;
    }
    q->m = m;
    q->pid = pid;
    ipc_host_opts ho = {.loop = m->loop, .label = "spare", .exited = on_proc_exited, .ctx = q};
    ipc_proc_opts_init(&ho.proc);
    ho.proc.process_type = "content";
    rc = ipc_host_adopt(&ho, pid, fd, &q->host); /* takes fd */
    if (rc == 0)
        rc = bind_actor(q);
    if (rc != 0)
        goto lost;
    nproc **pp = &m->procs;
    while (*pp)
        pp = &(*pp)->next;
    *pp = q;
    q->state = P_CLOSING;
    set_state(q, P_SPARE);
    m->counts.spares_published++;
    ipc_nuwa_event ev = {
        .kind = IPC_NUWA_EV_SPARE_PUBLISHED, .pid = pid, .parent_pid = m->nuwa->pid};
    emit(m, &ev);
    watch_hellos(m);
    fill(m);
    return;
lost:
    ipc_log_warning("Parent", "spare %d could not be adopted: %s", (int)pid, ipc_strerror(rc));
    if (q) {
        ipc_host_free(q->host);
        ipc_actor_unref(q->actor);
        free(q);
    }
    m->owed_replacements++;
    m->losses++;
    fill(m);
}

static int on_add_new_process(void *ctx, ipc_msg *msg, ipc_PContent_AddNewProcess *in,
                              ipc_PContent_AddNewProcess_reply *out)
{
    nproc *p = ctx;
    ipc_nuwa_manager *m = p->m;
    (void)msg;
    (void)out;
    if (!p->is_nuwa) {
        bad_sender(p, IPC_E_BAD_SENDER);
        return 0;
    }
    if (m->counts.forks_pending > 0)
        m->counts.forks_pending--;
    pid_t pid = (pid_t)in->pid;
    if (pid <= 0 || pid == p->pid || pid == getpid()) {
        bad_sender(p, IPC_E_PARAM);
        return 0;
    }
    if (m->shutting_down) {
        /* The fd closes with the params: the new process sees its channel
         * end and exits; the fork server reaps it. */
        check_shutdown(m);
        return 0;
    }
    pid_t ppid = parent_of(pid);
    if (ppid != p->pid) {
        if (ppid >= 0) { /* a live process that is not the fork server's */
            bad_sender(p, IPC_E_BAD_SENDER);
            return 0;
        }
        m->owed_replacements++; /* died already */
        m->losses++;
        fill(m);
        return 0;
    }
    int fd = in->channel;
    in->channel = -1;
    publish(m, pid, fd);
    return 0;
}

static int on_ready(void *ctx, ipc_msg *msg, ipc_PContent_Ready *in, ipc_PContent_Ready_reply *out)
{
    nproc *p = ctx;
    ipc_nuwa_manager *m = p->m;
    (void)msg;
    (void)out;
    if (p->state != P_TURNING || (pid_t)in->pid != p->pid) {
        bad_sender(p, IPC_E_BAD_SENDER);
        return 0;
    }
    uint64_t t = ipc__nuwa_now_ns();
    set_state(p, P_APP);
    m->counts.apps_ready++;
    m->losses = 0;
    ipc_nuwa_event ev = {.kind = IPC_NUWA_EV_APP_READY,
                         .pid = p->pid,
                         .app_name = p->app,
                         .latency_ns = t - p->take_ns};
    emit(m, &ev);
    return 0;
}

static const ipc_msgmap_entry parent_map[] = {
    IPC_HANDLER(PContent, AddNewProcess, on_add_new_process),
    IPC_HANDLER(PContent, Ready, on_ready),
};

static void on_parent_destroy(void *ctx, ipc_actor *a, ipc_destroy_reason why)
{
    nproc *p = ctx;
    ipc_nuwa_manager *m = p->m;
    (void)a;
    p->actor_dead = 1;
    if (p->is_nuwa) {
        m->counts.forks_pending = 0; /* what was on its way is lost with it */
    } else if (p->state != P_CLOSING) {
        if (p->state == P_SPARE && why != IPC_NORMAL_SHUTDOWN && !m->shutting_down) {
            m->owed_replacements++;
            m->losses++;
        }
        set_state(p, P_CLOSING);
    }
    if (!m->freeing) {
        fill(m);
        schedule_sweep(m);
        check_shutdown(m);
    }
}

static const ipc_actor_ops parent_actor_ops = {
    .map = parent_map,
    .map_len = IPC_MSGMAP_LEN(parent_map),
    .actor_destroy = on_parent_destroy,
};

/* The actor layer's bad messages (undecodable, unhandled) from this process:
 * counted and reported like the ones the handlers find, with the same end. */
static void on_bad_message(void *ctx, ipc_conn *c, const ipc_msg *msg, int err)
{
    nproc *p = ctx;
    (void)c;
    (void)msg;
    bad_sender(p, err);
}

static int bind_actor(nproc *p)
{
    int rc =
        ipc_actor_new(&p->actor, &ipc_PContent_protocol, IPC_SIDE_PARENT, &parent_actor_ops, p);
    if (rc)
        return rc;
    ipc_conn_set_bad_message_handler(ipc_host_conn(p->host), on_bad_message, p);
    return ipc_conn_bind(ipc_host_conn(p->host), p->actor);
}

static void on_proc_exited(void *ctx, ipc_host *host, const ipc_crash_info *info,
                           const char *report_path)
{
    nproc *p = ctx;
    ipc_nuwa_manager *m = p->m;
    (void)host;
    (void)report_path;
    p->gone = 1;
    if (!p->is_nuwa && p->state != P_CLOSING) {
        /* Its actor may live on until the channel's end is read. */
        if (p->state == P_SPARE && !m->shutting_down) {
            m->owed_replacements++;
            m->losses++;
        }
        set_state(p, P_CLOSING);
        fill(m);
    }
    ipc_nuwa_event ev = {
        .kind = IPC_NUWA_EV_EXITED, .pid = p->pid, .app_name = p->app, .exit_status = -1};
    if (p->is_nuwa) {
        ev.kind = IPC_NUWA_EV_NUWA_EXITED;
        ev.exit_status = info->exited ? info->exit_status : 128 + info->signal;
    } else {
        m->counts.exited++;
    }
    emit(m, &ev);
    schedule_sweep(m);
    check_shutdown(m);
}

static void on_nuwa_ready(void *ctx, ipc_host *host, int err)
{
    nproc *p = ctx;
    ipc_nuwa_manager *m = p->m;
    if (err) {
        p->gone = 1;
        ipc_nuwa_event ev = {.kind = IPC_NUWA_EV_NUWA_FAILED, .err = err};
        emit(m, &ev);
        schedule_sweep(m);
        check_shutdown(m);
        return;
    }
    p->pid = ipc_host_pid(host);
    p->running = 1;
    emit_simple(m, IPC_NUWA_EV_NUWA_RUNNING, p);
    fill(m);
}

extern char **environ;

/* The fork server's environment: the caller's (or ours) with LD_BIND_NOW=1
 * unless it sets LD_BIND_NOW itself. The dynamic loader then binds every
 * symbol when the fork server starts, once, instead of every forked process
 * resolving each function it calls first (a lookup through every library's
 * symbol tables, pages the new process would otherwise touch). The strings
 * are borrowed, as the caller's envp is for the launch. */
static int make_nuwa_env(ipc_nuwa_manager *m)
{
    const char *const *src = m->opts.nuwa.envp ? m->opts.nuwa.envp : (const char *const *)environ;
    size_t n = 0;
    int has = 0;
    for (; src && src[n]; n++)
        has |= strncmp(src[n], "LD_BIND_NOW=", 12) == 0;
    const char **env = calloc(n + 2, sizeof *env);
    if (!env)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        env[i] = src[i];
    if (!has)
        env[n] = "LD_BIND_NOW=1";
    m->nuwa_env = env;
    return 0;
}

/* DelayedNuwaFork -> RunNuwaProcess. */
static void launch_nuwa(ipc_nuwa_manager *m)
{
    emit_simple(m, IPC_NUWA_EV_NUWA_LAUNCHING, NULL);
    nproc *p = calloc(1, sizeof *p);
    int rc = -ENOMEM;
    if (!p)
        goto fail;
    p->m = m;
    p->is_nuwa = 1;
    p->state = P_NUWA;
    if (!m->nuwa_env && (rc = make_nuwa_env(m)) != 0)
        goto fail;
    ipc_host_opts ho = {.loop = m->loop,
                        .proc = m->opts.nuwa,
                        .label = "nuwa",
                        .ready = on_nuwa_ready,
                        .exited = on_proc_exited,
                        .ctx = p};
    ho.proc.process_type = "nuwa";
    ho.proc.channel_fd = -1;
    ho.proc.envp = m->nuwa_env;
    rc = ipc_host_launch(&ho, &p->host);
    if (rc)
        goto fail;
    m->nuwa = p;
    rc = bind_actor(p); /* messages are kept until now, none lost */
    if (rc) {
        ipc_host_kill(p->host);
        ipc_conn_fail(ipc_host_conn(p->host), rc);
    }
    return;
fail:
    free(p);
    ipc_nuwa_event ev = {.kind = IPC_NUWA_EV_NUWA_FAILED, .err = rc};
    emit(m, &ev);
    check_shutdown(m);
}

static void on_launch_timer(evutil_socket_t fd, short what, void *arg)
{
    ipc_nuwa_manager *m = arg;
    (void)fd;
    (void)what;
    uint64_t now = ipc__nuwa_now_ns();
    if (now < m->launch_deadline) {
        /* libevent's cached clock may fire a hair early: never launch before
         * the configured delay. */
        uint64_t left = m->launch_deadline - now;
        struct timeval tv = {(time_t)(left / 1000000000u),
                             (suseconds_t)(left % 1000000000u / 1000u + 1)};
        evtimer_add(m->launch_ev, &tv);
        return;
    }
    launch_nuwa(m);
}

static void free_proc(nproc *p)
{
    ipc_host_free(p->host);
    ipc_actor_unref(p->actor);
    free(p);
}

/* Frees the records of processes that are gone and whose actors are dead,
 * outside of any of their callbacks. */
static void on_sweep(evutil_socket_t fd, short what, void *arg)
{
    ipc_nuwa_manager *m = arg;
    (void)fd;
    (void)what;
    for (nproc **pp = &m->procs; *pp;) {
        nproc *p = *pp;
        if (p->gone && (p->actor_dead || !p->actor)) {
            *pp = p->next;
            free_proc(p);
        } else {
            pp = &p->next;
        }
    }
    nproc *n = m->nuwa;
    if (n && n->gone && (n->actor_dead || !n->actor)) {
        m->nuwa = NULL;
        free_proc(n);
    }
}

/* 1 once the spare's hello arrived (its channel is connected and the
 * process is past its set-up after the fork). */
static int spare_connected(nproc *p)
{
    /* The channel learns the peer's pid from the hello itself (the
     * connection was told it at adoption). */
    if (!p->connected && !p->actor_dead &&
        ipc_proxy_peer_pid(ipc_conn_proxy(ipc_host_conn(p->host))) > 0)
        p->connected = 1;
    return p->connected;
}

/* The connection reports the hello to nobody but itself, so new spares are
 * looked at every millisecond until each has said it. */
static void watch_hellos(ipc_nuwa_manager *m)
{
    int waiting = 0;
    for (nproc *p = m->procs; p; p = p->next) {
        if (p->state != P_SPARE || p->connected || p->actor_dead)
            continue;
        if (spare_connected(p))
            emit_simple(m, IPC_NUWA_EV_SPARE_CONNECTED, p);
        else
            waiting = 1;
    }
    struct timeval tv = {0, 1000};
    if (waiting && !m->freeing && !evtimer_pending(m->hello_ev, NULL))
        evtimer_add(m->hello_ev, &tv);
}

static void on_refill(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    fill(arg);
}

static void on_hello_poll(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    watch_hellos(arg);
}

static int procs_left(const ipc_nuwa_manager *m)
{
    for (const nproc *p = m->procs; p; p = p->next)
        if (!p->gone)
            return 1;
    return 0;
}

static void check_shutdown(ipc_nuwa_manager *m)
{
    if (!m->shutting_down || m->done || m->freeing)
        return;
    if (procs_left(m))
        return;
    nproc *n = m->nuwa;
    if (n && !n->gone) {
        /* AddNewProcess on its way would be reported lost: wait for it. */
        if (m->counts.forks_pending > 0 && nuwa_usable(m) && m->grace_stage == 0)
            return;
        if (!m->nuwa_closed) {
            m->nuwa_closed = 1;
            if (n->actor && !n->actor_dead)
                ipc_actor_close(n->actor); /* Goodbye: it reaps its children and exits */
            else
                ipc_host_kill(n->host);
        }
        return;
    }
    m->done = 1;
    if (m->grace_ev)
        evtimer_del(m->grace_ev);
    emit_simple(m, IPC_NUWA_EV_SHUTDOWN_DONE, NULL);
}

static void arm_grace(ipc_nuwa_manager *m)
{
    struct timeval tv = {IPC_NUWA_EXIT_GRACE_MS / 1000, (IPC_NUWA_EXIT_GRACE_MS % 1000) * 1000};
    evtimer_add(m->grace_ev, &tv);
}

/* Stragglers: first the spares and apps, one grace period later the fork
 * server. */
static void on_grace(evutil_socket_t fd, short what, void *arg)
{
    ipc_nuwa_manager *m = arg;
    (void)fd;
    (void)what;
    m->grace_stage++;
    if (m->grace_stage == 1) {
        for (nproc *p = m->procs; p; p = p->next)
            if (!p->gone) {
                ipc_log_warning("Parent", "process %d did not exit after Close: killing it",
                                (int)p->pid);
                ipc_host_kill(p->host);
            }
        arm_grace(m);
    } else if (m->nuwa && !m->nuwa->gone) {
        ipc_log_warning("Parent", "fork server %d did not exit: killing it", (int)m->nuwa->pid);
        ipc_host_kill(m->nuwa->host);
    }
    check_shutdown(m);
}

void ipc_nuwa_manager_opts_init(ipc_nuwa_manager_opts *opts)
{
    memset(opts, 0, sizeof *opts);
    ipc_proc_opts_init(&opts->nuwa);
    opts->spares = IPC_NUWA_DEFAULT_SPARES;
    opts->delay_ms = IPC_NUWA_DEFAULT_DELAY_MS;
    opts->replace_delay_ms = -1;
}

int ipc_nuwa_manager_start(const ipc_nuwa_manager_opts *opts, ipc_nuwa_manager **out)
{
    *out = NULL;
    if (!opts->loop || !opts->nuwa.path)
        return -EINVAL;
    ipc_nuwa_manager *m = calloc(1, sizeof *m);
    if (!m)
        return -ENOMEM;
    m->loop = opts->loop;
    m->opts = *opts;
    int delay = opts->delay_ms < 0 ? IPC_NUWA_DEFAULT_DELAY_MS : opts->delay_ms;
    struct event_base *base = ipc_loop_base(opts->loop);
    m->launch_ev = evtimer_new(base, on_launch_timer, m);
    m->sweep_ev = evtimer_new(base, on_sweep, m);
    m->grace_ev = evtimer_new(base, on_grace, m);
    m->hello_ev = evtimer_new(base, on_hello_poll, m);
    m->refill_ev = evtimer_new(base, on_refill, m);
    m->replace_delay_ms =
        opts->replace_delay_ms < 0 ? (uint32_t)delay : (uint32_t)opts->replace_delay_ms;
    m->launch_deadline = ipc__nuwa_now_ns() + (uint64_t)delay * 1000000u;
    struct timeval tv = {delay / 1000, (delay % 1000) * 1000};
    if (!m->launch_ev || !m->sweep_ev || !m->grace_ev || !m->hello_ev || !m->refill_ev ||
        evtimer_add(m->launch_ev, &tv) != 0) {
        ipc_nuwa_manager_free(m);
        return -ENOMEM;
    }
    *out = m;
    return 0;
}

int ipc_nuwa_manager_request_fork(ipc_nuwa_manager *m)
{
    return send_fork(m, 0);
}

int ipc_nuwa_manager_take_spare(ipc_nuwa_manager *m, const char *app_name, pid_t *pid)
{
    if (m->shutting_down)
        return IPC_E_STATE;
    if (!ipc__nuwa_app_name_ok(app_name))
        return -EINVAL;
    /* The oldest spare that is set up, else the oldest one at all (its
     * TurnIntoApp waits in the socket until it is). */
    nproc *p = NULL, *any = NULL;
    for (nproc *q = m->procs; q && !p; q = q->next) {
        if (q->state != P_SPARE || q->actor_dead || q->gone)
            continue;
        if (!any)
            any = q;
        if (spare_connected(q))
            p = q;
    }
    if (!p)
        p = any;
    if (!p)
        return -EAGAIN;
    uint64_t t = ipc__nuwa_now_ns();
    ipc_PContent_TurnIntoApp in = {.app_name = (char *)app_name};
    ipc_msg *msg = NULL;
    int rc = ipc_PContent_TurnIntoApp_build(&msg, IPC_ROUTING_CONTROL, &in);
    if (rc == 0)
        rc = ipc_actor_send(p->actor, msg);
    if (rc)
        return rc;
    p->take_ns = t;
    snprintf(p->app, sizeof p->app, "%s", app_name);
    set_state(p, P_TURNING);
    m->counts.spares_taken++;
    m->owed_replacements++;
    m->refill_at = ipc__nuwa_now_ns() + (uint64_t)m->replace_delay_ms * 1000000u;
    if (pid)
        *pid = p->pid;
    emit_simple(m, IPC_NUWA_EV_SPARE_TAKEN, p);
    fill(m);
    return 0;
}

int ipc_nuwa_manager_close_process(ipc_nuwa_manager *m, pid_t pid)
{
    for (nproc *p = m->procs; p; p = p->next) {
        if (p->pid != pid || p->state == P_CLOSING || p->actor_dead)
            continue;
        set_state(p, P_CLOSING);
        ipc_actor_close(p->actor);
        return 0;
    }
    return -ESRCH;
}

void ipc_nuwa_manager_get_counts(const ipc_nuwa_manager *m, ipc_nuwa_counts *out)
{
    *out = m->counts;
}

pid_t ipc_nuwa_manager_nuwa_pid(const ipc_nuwa_manager *m)
{
    return m->nuwa && m->nuwa->running && !m->nuwa->gone ? m->nuwa->pid : 0;
}

size_t ipc_nuwa_manager_spare_pids(const ipc_nuwa_manager *m, pid_t *out, size_t max)
{
    size_t n = 0;
    for (const nproc *p = m->procs; p; p = p->next) {
        if (p->state != P_SPARE)
            continue;
        if (n < max)
            out[n] = p->pid;
        n++;
    }
    return n;
}

void ipc_nuwa_manager_shutdown(ipc_nuwa_manager *m)
{
    if (m->shutting_down)
        return;
    m->shutting_down = 1;
    evtimer_del(m->launch_ev); /* the fork server may never have been launched */
    for (nproc *p = m->procs; p; p = p->next) {
        if (p->state == P_CLOSING || p->actor_dead)
            continue;
        set_state(p, P_CLOSING);
        ipc_actor_close(p->actor);
    }
    arm_grace(m);
    check_shutdown(m);
}

int ipc_nuwa_manager_done(const ipc_nuwa_manager *m)
{
    return m->done;
}

void ipc_nuwa_manager_free(ipc_nuwa_manager *m)
{
    if (!m)
        return;
    m->freeing = 1;
    if (m->launch_ev)
        event_free(m->launch_ev);
    if (m->sweep_ev)
        event_free(m->sweep_ev);
    if (m->grace_ev)
        event_free(m->grace_ev);
    if (m->hello_ev)
        event_free(m->hello_ev);
    if (m->refill_ev)
        event_free(m->refill_ev);
    while (m->procs) {
        nproc *p = m->procs;
        m->procs = p->next;
        if (!p->gone)
            ipc_host_kill(p->host); /* adopted: the fork server reaps it */
        free_proc(p);
    }
    if (m->nuwa)
        free_proc(m->nuwa); /* kills and reaps the fork server if it still runs */
    free(m->nuwa_env);
    free(m);
}

unsigned ipc_nuwa_manager_connected_spares(const ipc_nuwa_manager *m)
{
    unsigned n = 0;
    for (const nproc *p = m->procs; p; p = p->next)
        n += p->state == P_SPARE && !p->actor_dead &&
             (p->connected || ipc_proxy_peer_pid(ipc_conn_proxy(ipc_host_conn(p->host))) > 0);
    return n;
}
