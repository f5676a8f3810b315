/* B2G's Nuwa fork server (nuwa.h), the child side: NuwaFork (socketpair,
 * park, fork, AddNewProcess), reaping, the new process's set-up after the
 * fork, and the spare's TurnIntoApp / Ready. The main process's side is
 * nuwa_manager.c. */
#include "ipc/nuwa.h"

#include "ipc/errors.h"
#include "ipc/log.h"
#include "ipc/protocols/PContent.h"
#include "ipc/sandbox.h"
#include "loop_internal.h"
#include "nuwa_internal.h"

#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void sleep_ms(long ms)
{
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&t, &t) < 0 && errno == EINTR)
        ;
}

/* ======================= in a forked process: the spare ================== */

struct ipc_nuwa_spare {
    ipc_conn *conn;
    ipc_actor *actor;
    ipc_nuwa_spare_ops ops;
    char app[IPC_NUWA_APP_NAME_MAX + 1];
    int owes_ready; /* TurnIntoApp arrived, Ready not sent yet */
    int freeing;
};

ipc_conn *ipc_nuwa_spare_conn(const ipc_nuwa_spare *sp)
{
    return sp->conn;
}

ipc_actor *ipc_nuwa_spare_actor(const ipc_nuwa_spare *sp)
{
    return sp->actor;
}

const char *ipc_nuwa_spare_app_name(const ipc_nuwa_spare *sp)
{
    return sp->app;
}

int ipc_nuwa_spare_ready(ipc_nuwa_spare *sp)
{
    if (!sp->owes_ready)
        return IPC_E_STATE;
    sp->owes_ready = 0;
    ipc_PContent_Ready r = {.pid = (int32_t)getpid()};
    ipc_msg *m = NULL;
    int rc = ipc_PContent_Ready_build(&m, IPC_ROUTING_CONTROL, &r);
    return rc ? rc : ipc_actor_send(sp->actor, m);
}

static int on_turn_into_app(void *ctx, ipc_msg *msg, ipc_PContent_TurnIntoApp *in,
                            ipc_PContent_TurnIntoApp_reply *out)
{
    ipc_nuwa_spare *sp = ctx;
    (void)msg;
    (void)out;
    if (sp->app[0] || !ipc__nuwa_app_name_ok(in->app_name)) {
        /* Main never does this; a spare cannot punish it, only say so. */
        ipc_log_warning("Child", "spare %d: TurnIntoApp refused (%s)", (int)getpid(),
                        sp->app[0] ? "already an app" : "bad app name");
        return 0;
    }
    snprintf(sp->app, sizeof sp->app, "%s", in->app_name);
    sp->owes_ready = 1;
    int rc = sp->ops.become_app ? sp->ops.become_app(sp->ops.ctx, sp, sp->app) : 0;
    if (rc == 0)
        ipc_nuwa_spare_ready(sp);
    else if (rc < 0)
        ipc_actor_close(sp->actor); /* deferred until this handler returns */
    return 0;
}

static const ipc_msgmap_entry spare_map[] = {
    IPC_HANDLER(PContent, TurnIntoApp, on_turn_into_app),
};

static void on_spare_destroy(void *ctx, ipc_actor *a, ipc_destroy_reason why)
{
    ipc_nuwa_spare *sp = ctx;
    (void)a;
    if (!sp->freeing && sp->ops.closed)
        sp->ops.closed(sp->ops.ctx, sp, why);
}

static const ipc_actor_ops spare_actor_ops = {
    .map = spare_map,
    .map_len = IPC_MSGMAP_LEN(spare_map),
    .actor_destroy = on_spare_destroy,
};

/* The new process's PContent child connection over its end of the pair;
 * the fork server made the pair, so the hello is checked against main's pid. */
static int spare_new(ipc_nuwa_spare **out, ipc_loop *loop, ipc_iothread *io, int fd, pid_t main_pid,
                     const ipc_nuwa_spare_ops *ops)
{
    *out = NULL;
    ipc_nuwa_spare *sp = calloc(1, sizeof *sp);
    if (!sp) {
        close(fd);
        return -ENOMEM;
    }
    sp->ops = *ops;
    ipc_conn_opts co = {.proxy = {.mode = IPC_CHAN_CLIENT,
                                  .fd = fd,
                                  .side = IPC_SIDE_CHILD,
                                  .listener_loop = loop,
                                  .io = io,
                                  .peer_pid = main_pid},
                        .label = "spare"};
    int rc = ipc_conn_new(&sp->conn, &co); /* takes fd */
    if (rc == 0)
        rc =
            ipc_actor_new(&sp->actor, &ipc_PContent_protocol, IPC_SIDE_CHILD, &spare_actor_ops, sp);
    if (rc == 0)
        rc = ipc_conn_bind(sp->conn, sp->actor);
    if (rc != 0) {
        ipc_nuwa_spare_free(sp);
        return rc;
    }
    *out = sp;
    return 0;
}

void ipc_nuwa_spare_free(ipc_nuwa_spare *sp)
{
    if (!sp)
        return;
    sp->freeing = 1;
    ipc_conn_free(sp->conn);
    ipc_actor_unref(sp->actor);
    free(sp);
}

/* ======================= the fork server ======================= */

/* A process the fork server forked, watched through a pidfd until reaped. */
typedef struct child_watch {
    ipc_nuwa_server *srv;
    pid_t pid;
    int pidfd;
    struct event *ev;
    struct child_watch *next;
} child_watch;

struct ipc_nuwa_server {
    ipc_loop *loop;
    ipc_iothread *io;
    ipc_conn *conn;
    ipc_actor *actor;
    pid_t self_pid;
    pid_t main_pid;
    char sandbox[32]; /* "" when none is stacked */
    /* The spare sandbox compiled once, before any fork: a forked process
     * only loads it (NULL: none, or a build that cannot precompile, where
     * each process compiles its own). */
    ipc_sandbox_prog *prog;
    int forked_child; /* this process was forked: the handle is inert */
    int freeing;
    void (*closed)(void *ctx, ipc_nuwa_server *srv, ipc_destroy_reason why);
    void *ctx;
    ipc_nuwa_spare_ops spare_ops;
    child_watch *children;
    ipc_nuwa_server_stats stats; /* .children counts the list */
    struct event *poll_ev;       /* reaps children that have no pidfd */
    /* Forked child: the task that frees the inherited connection (its
     * `srv` is cleared when the handle stops first). */
    struct drop_token *drop;
};

int ipc_nuwa_server_is_fork_server(const ipc_nuwa_server *srv)
{
    return !srv->forked_child;
}

void ipc_nuwa_server_get_stats(const ipc_nuwa_server *srv, ipc_nuwa_server_stats *out)
{
    if (srv->forked_child)
        memset(out, 0, sizeof *out);
    else
        *out = srv->stats;
}

static void unlink_child(ipc_nuwa_server *srv, child_watch *w)
{
    for (child_watch **pp = &srv->children; *pp; pp = &(*pp)->next)
        if (*pp == w) {
            *pp = w->next;
            srv->stats.children--;
            break;
        }
    if (w->ev)
        event_free(w->ev);
    if (w->pidfd >= 0)
        close(w->pidfd);
    free(w);
}

static void note_exit(ipc_nuwa_server *srv, pid_t pid, int status)
{
    srv->stats.reaped++;
    int clean = (WIFEXITED(status) && WEXITSTATUS(status) == 0) ||
                (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    if (clean)
        return;
    srv->stats.abnormal_exits++;
    ipc_log_warning("Child", "fork server: child %d %s %d", (int)pid,
                    WIFEXITED(status) ? "exited with status" : "died of signal",
                    WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
}

/* Reaps without blocking (or blocking, after a SIGKILL); 1 when the child
 * is gone. */
static int reap(ipc_nuwa_server *srv, pid_t pid, int flags)
{
    int status = 0;
    pid_t r;
    do
        r = waitpid(pid, &status, flags);
    while (r < 0 && errno == EINTR);
    if (r == pid)
        note_exit(srv, pid, status);
    return r == pid || (r < 0 && errno == ECHILD);
}

static void on_child_pidfd(evutil_socket_t fd, short what, void *arg)
{
    child_watch *w = arg;
    (void)fd;
    (void)what;
    if (reap(w->srv, w->pid, WNOHANG))
        unlink_child(w->srv, w);
    else
        event_add(w->ev, NULL); /* readable before waitable: look again */
}

/* Where pidfds are missing (kernels before 5.3, valgrind 3.19), children are
 * looked at every POLL_MS instead. */
#define POLL_MS 20

/* Tests set this to take the polling path where pidfds exist. */
int ipc__nuwa_test_no_pidfd;

static void arm_poll(ipc_nuwa_server *srv)
{
    struct timeval tv = {0, POLL_MS * 1000};
    if (!evtimer_pending(srv->poll_ev, NULL))
        evtimer_add(srv->poll_ev, &tv);
}

static void on_poll(evutil_socket_t fd, short what, void *arg)
{
    ipc_nuwa_server *srv = arg;
    (void)fd;
    (void)what;
    int waiting = 0;
    for (child_watch *w = srv->children, *next; w; w = next) {
        next = w->next;
        if (w->pidfd >= 0)
            continue;
        if (reap(srv, w->pid, WNOHANG))
            unlink_child(srv, w);
        else
            waiting = 1;
    }
    if (waiting)
        arm_poll(srv);
}

/* Watches a new child so that the fork server reaps it as soon as it dies. */
static int watch_child(ipc_nuwa_server *srv, child_watch *w, pid_t pid)
{
    w->srv = srv;
    w->pid = pid;
    w->pidfd = ipc__nuwa_test_no_pidfd ? -1 : (int)syscall(SYS_pidfd_open, pid, 0);
    if (ipc__nuwa_test_no_pidfd)
        errno = ENOSYS;
    if (w->pidfd < 0 && errno == ENOSYS) {
        w->next = srv->children;
        srv->children = w;
        srv->stats.children++;
        arm_poll(srv);
        return 0;
    }
    if (w->pidfd < 0)
        return -errno;
    w->ev = event_new(ipc_loop_base(srv->loop), w->pidfd, EV_READ, on_child_pidfd, w);
    if (!w->ev || event_add(w->ev, NULL) != 0) {
        if (w->ev)
            event_free(w->ev);
        close(w->pidfd);
        return -ENOMEM;
    }
    w->next = srv->children;
    srv->children = w;
    srv->stats.children++;
    return 0;
}

/* Gives the children IPC_NUWA_EXIT_GRACE_MS to exit, then kills and reaps the
 * rest: the fork server never leaves a zombie or an orphan behind. */
static void reap_all(ipc_nuwa_server *srv)
{
    uint64_t deadline = ipc__nuwa_now_ns() + (uint64_t)IPC_NUWA_EXIT_GRACE_MS * 1000000u;
    while (srv->children) {
        for (child_watch *w = srv->children, *next; w; w = next) {
            next = w->next;
            if (reap(srv, w->pid, WNOHANG))
                unlink_child(srv, w);
        }
        if (!srv->children)
            break;
        if (ipc__nuwa_now_ns() >= deadline) {
            while (srv->children) {
                child_watch *w = srv->children;
                kill(w->pid, SIGKILL);
                reap(srv, w->pid, 0);
                unlink_child(srv, w);
            }
            break;
        }
        sleep_ms(5);
    }
}

/* In a forked process: the connection to main that came with the fork. Its
 * channel was stopped by the fork hook and its proxy closed; here it and its
 * fd go away, once the NuwaFork handler that forked has fully returned. A
 * loop task, posted before the new connection exists, runs before anything
 * that connection delivers. */
struct drop_token {
    ipc_nuwa_server *srv;
};

static void drop_inherited_conn(ipc_nuwa_server *srv)
{
    ipc_conn_free(srv->conn);
    srv->conn = NULL;
    ipc_actor_unref(srv->actor);
    srv->actor = NULL;
}

static void drop_inherited(void *arg)
{
    struct drop_token *t = arg;
    if (t->srv) {
        t->srv->drop = NULL;
        drop_inherited_conn(t->srv);
    }
    free(t);
}

/* In the new process: nothing of the fork server's may act here. The main
 * loop shares its epoll instance and eventfd with the fork server's until it
 * is reset; then the siblings' pidfd watches can be dropped without touching
 * the fork server's epoll set. */
static int forget_fork_server(ipc_nuwa_server *srv)
{
    srv->forked_child = 1;
    int rc = ipc__loop_reset_after_fork(srv->loop);
    ipc__loop_bind(srv->loop); /* we are inside its run, on this thread */
    if (rc)
        return rc;
    while (srv->children)
        unlink_child(srv, srv->children);
    evtimer_del(srv->poll_ev);
    rc = ipc_iothread_restart_after_fork(srv->io); /* runs the channels' fork hooks */
    if (rc)
        return rc;
    /* Whatever else this batch held for the fork server is not ours. Closed
     * this early (before the new connection exists), the IO thread has let go
     * of it long before the drop task below frees it and its fd. */
    ipc_proxy_close(ipc_conn_proxy(srv->conn));
    srv->drop = calloc(1, sizeof *srv->drop);
    if (!srv->drop)
        return -ENOMEM;
    srv->drop->srv = srv;
    if (ipc_loop_post(srv->loop, drop_inherited, srv->drop) != 0) {
        free(srv->drop);
        srv->drop = NULL;
        return -ENOMEM;
    }
    return 0;
}

/* The child side of the fork: never returns on failure (the process exits;
 * the fork server reaps it and main sees its channel close). */
static void become_spare(ipc_nuwa_server *srv, int fd, int other)
{
    close(other);
    /* Die with the fork server; if it already died, our parent is someone
     * else and we must not live on. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() != srv->self_pid)
        _exit(IPC_CHILD_EXIT_INIT);
    /* The spare sandbox, compiled before the fork: only loaded here. */
    if (srv->prog ? ipc_sandbox_prog_apply(srv->prog, NULL) < 0
                  : srv->sandbox[0] && ipc_sandbox_apply(srv->sandbox, NULL) < 0)
        _exit(IPC_CHILD_EXIT_SANDBOX);
    pid_t main_pid =
        ipc_conn_peer_pid(srv->conn) > 0 ? ipc_conn_peer_pid(srv->conn) : srv->main_pid;
    int rc = forget_fork_server(srv);
    ipc_nuwa_spare *sp = NULL;
    if (rc == 0)
        rc = spare_new(&sp, srv->loop, srv->io, fd, main_pid, &srv->spare_ops);
    else
        close(fd);
    if (rc != 0) {
        fprintf(stderr, "nuwa: forked process %d could not start: %s\n", (int)getpid(),
                ipc_strerror(rc));
        _exit(IPC_CHILD_EXIT_INIT);
    }
    if (srv->spare_ops.forked)
        srv->spare_ops.forked(srv->spare_ops.ctx, sp);
}

static int send_add_new_process(ipc_nuwa_server *srv, pid_t pid, int fd)
{
    ipc_PContent_AddNewProcess a = {.pid = (int32_t)pid, .channel = fd}; /* fd is dup()ed */
    ipc_msg *m = NULL;
    int rc = ipc_PContent_AddNewProcess_build(&m, IPC_ROUTING_CONTROL, &a);
    return rc ? rc : ipc_actor_send(srv->actor, m);
}

/* After the fork, in the fork server: watch the child, then tell main.
 * Unsent, the child finds its channel closed and exits; it is reaped. */
static int announce_child(ipc_nuwa_server *srv, pid_t pid, int fd)
{
    child_watch *w = calloc(1, sizeof *w);
    int rc = w ? watch_child(srv, w, pid) : -ENOMEM;
    if (rc) {
        free(w);
        kill(pid, SIGKILL);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
        return rc;
    }
    return send_add_new_process(srv, pid, fd);
}

/* ForkIPCProcess: PrepareProtoSockets, fork, AddNewIPCProcess. The IO thread
 * stays parked until AddNewProcess is out (the main thread writes it to the
 * socket itself): every page the fork server writes after fork() is a
 * copy-on-write fault (~54 us each on the benchmark VM), and AddNewProcess
 * then goes before the IO thread's own faults, on one thread of the fork
 * server only (~0.2 ms less CPU per fork there, docs/BENCHMARKS.md). */
static int fork_spare(ipc_nuwa_server *srv)
{
    int sv[2];
    int rc = ipc_socketpair("PContent", sv);
    if (rc)
        return rc;
    rc = ipc_iothread_park(srv->io);
    if (rc)
        goto fail;
    fflush(NULL); /* or the child would write what is buffered a second time */
    pid_t pid = fork();
    if (pid == 0) {
        become_spare(srv, sv[1], sv[0]);
        return 0;
    }
    rc = pid < 0 ? -errno : 0;
    close(sv[1]);
    sv[1] = -1;
    if (rc == 0) {
        srv->stats.forks++;
        rc = announce_child(srv, pid, sv[0]);
    }
    ipc_iothread_unpark(srv->io);
fail:
    if (sv[1] >= 0)
        close(sv[1]);
    close(sv[0]);
    return rc;
}

static int on_nuwa_fork(void *ctx, ipc_msg *msg, ipc_PContent_NuwaFork *in,
                        ipc_PContent_NuwaFork_reply *out)
{
    ipc_nuwa_server *srv = ctx;
    (void)msg;
    (void)in;
    (void)out;
    if (srv->forked_child || srv->freeing)
        return 0; /* queued for the fork server, not for a process it forked */
    int rc = fork_spare(srv);
    if (rc < 0 && !srv->forked_child) {
        srv->stats.fork_failures++;
        ipc_log_warning("Child", "fork server: NuwaFork failed: %s", ipc_strerror(rc));
    }
    return 0;
}

static const ipc_msgmap_entry server_map[] = {
    IPC_HANDLER(PContent, NuwaFork, on_nuwa_fork),
};

static void on_server_destroy(void *ctx, ipc_actor *a, ipc_destroy_reason why)
{
    ipc_nuwa_server *srv = ctx;
    (void)a;
    if (!srv->forked_child && !srv->freeing && srv->closed)
        srv->closed(srv->ctx, srv, why);
}

static const ipc_actor_ops server_actor_ops = {
    .map = server_map,
    .map_len = IPC_MSGMAP_LEN(server_map),
    .actor_destroy = on_server_destroy,
};

int ipc_nuwa_server_start(const ipc_nuwa_server_opts *opts, ipc_nuwa_server **out)
{
    *out = NULL;
    int rc = -EINVAL;
    const char *sandbox = opts->spare_sandbox ? opts->spare_sandbox : "content";
    ipc_nuwa_server *srv = NULL;
    if (!opts->loop || opts->channel_fd < 0 || strlen(sandbox) >= sizeof srv->sandbox ||
        (sandbox[0] && !ipc_sandbox_known(sandbox)))
        goto fail;
    rc = -ENOMEM;
    srv = calloc(1, sizeof *srv);
    if (!srv)
        goto fail;
    srv->loop = opts->loop;
    srv->io = opts->io ? opts->io : ipc_iothread_default();
    if (!srv->io)
        goto fail;
    srv->self_pid = getpid();
    srv->main_pid = opts->main_pid > 0 ? opts->main_pid : getppid();
    snprintf(srv->sandbox, sizeof srv->sandbox, "%s", sandbox);
    /* Without a precompiled program (a listing build, or libseccomp made a
     * program we cannot patch), each process compiles its own. */
    if (ipc_sandbox_enforced(sandbox) && (rc = ipc_sandbox_prog_new(sandbox, &srv->prog)) < 0 &&
        rc != -EOPNOTSUPP)
        ipc_log_warning("Child", "fork server: sandbox %s not precompiled: %s", sandbox,
                        ipc_strerror(rc));
    rc = -ENOMEM;
    srv->closed = opts->closed;
    srv->ctx = opts->ctx;
    srv->spare_ops = opts->spare;
    srv->poll_ev = evtimer_new(ipc_loop_base(opts->loop), on_poll, srv);
    if (!srv->poll_ev)
        goto fail;
    ipc_conn_opts co = {.proxy = {.mode = IPC_CHAN_CLIENT,
                                  .fd = opts->channel_fd,
                                  .side = IPC_SIDE_CHILD,
                                  .listener_loop = opts->loop,
                                  .io = srv->io},
                        .label = "nuwa"};
    rc = ipc_conn_new(&srv->conn, &co); /* takes the fd */
    if (rc)
        goto fail_fd_taken;
    rc = ipc_actor_new(&srv->actor, &ipc_PContent_protocol, IPC_SIDE_CHILD, &server_actor_ops, srv);
    if (rc == 0)
        rc = ipc_conn_bind(srv->conn, srv->actor);
    if (rc)
        goto fail_fd_taken;
    *out = srv;
    return 0;
fail:
    if (opts->channel_fd >= 0)
        close(opts->channel_fd);
fail_fd_taken:
    if (srv)
        ipc_nuwa_server_free(srv);
    return rc;
}

void ipc_nuwa_server_stop(ipc_nuwa_server *srv)
{
    srv->freeing = 1;
    if (srv->drop) { /* the task frees its token when it runs */
        srv->drop->srv = NULL;
        srv->drop = NULL;
    }
    /* Main learns at once that the fork server is gone; its children follow. */
    ipc_conn_free(srv->conn);
    srv->conn = NULL;
    ipc_actor_unref(srv->actor);
    srv->actor = NULL;
    if (!srv->forked_child)
        reap_all(srv);
    while (srv->children) /* forked child: siblings are not ours */
        unlink_child(srv, srv->children);
    if (srv->poll_ev) {
        event_free(srv->poll_ev);
        srv->poll_ev = NULL;
    }
    ipc_sandbox_prog_free(srv->prog);
    srv->prog = NULL;
}

void ipc_nuwa_server_free(ipc_nuwa_server *srv)
{
    if (!srv)
        return;
    ipc_nuwa_server_stop(srv);
    free(srv);
}
