/* The loop-driven half of the process layer: the asynchronous launch (Gecko's
 * WhenProcessHandleReady: the exec pipe watched on a loop) and watching for a
 * child's death (its pidfd on a loop, or SIGCHLD and waitpid where pidfds are
 * missing). The synchronous core is proc.c. */
#include "proc_internal.h"

#include "ipc/errors.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ================= the asynchronous launch ================= */

struct launch_op {
    ipc_proc *proc;
    ipc_loop *loop;
    struct event *ev;
    ipc_proc_launch_cb cb;
    void *ctx;
};

/* Hands the result to the caller and forgets the operation. */
static void launch_done(struct launch_op *op, int rc, const ipc_proc_launch_result *res)
{
    ipc_proc *proc = op->proc;
    ipc_proc_launch_cb cb = op->cb;
    void *ctx = op->ctx;
    if (op->ev)
        event_free(op->ev);
    free(op);
    if (rc < 0) {
        ipc_proc_free(proc); /* already reaped by ipc__proc_exec_result */
        proc = NULL;
    }
    cb(ctx, res, proc);
}

/* Waits for the exec right here (it takes milliseconds) when the loop
 * cannot watch the pipe. */
static int exec_result_blocking(ipc_proc *proc, ipc_proc_launch_result *res)
{
    int flags = fcntl(proc->exec_pipe, F_GETFL);
    if (flags >= 0)
        fcntl(proc->exec_pipe, F_SETFL, flags & ~O_NONBLOCK);
    return ipc__proc_exec_result(proc, res);
}

static void on_exec_pipe(evutil_socket_t fd, short what, void *arg)
{
    struct launch_op *op = arg;
    ipc_proc_launch_result res;
    (void)fd;
    (void)what;
    /* Off the loop before the read closes the pipe: its number may be
     * reused at once by another thread. */
    event_del(op->ev);
    int rc = ipc__proc_exec_result(op->proc, &res);
    if (rc == 1 && event_add(op->ev, NULL) == 0)
        return; /* woken without data: keep waiting */
    if (rc == 1)
        rc = exec_result_blocking(op->proc, &res);
    launch_done(op, rc, &res);
}

/* On the loop's thread: watch the exec pipe. */
static void launch_watch(void *arg)
{
    struct launch_op *op = arg;
    op->ev = event_new(ipc_loop_base(op->loop), op->proc->exec_pipe, EV_READ | EV_PERSIST,
                       on_exec_pipe, op);
    if (op->ev && event_add(op->ev, NULL) == 0)
        return;
    ipc_proc_launch_result res;
    int rc = exec_result_blocking(op->proc, &res);
    launch_done(op, rc, &res);
}

int ipc_proc_launch_async(ipc_loop *loop, const ipc_proc_opts *opts, ipc_proc_launch_cb cb,
                          void *ctx)
{
    struct launch_op *op = NULL;
    ipc_proc *proc = NULL;
    int rc;
    if (!loop || !cb) {
        if (opts->channel_fd >= 0)
            close(opts->channel_fd);
        return -EINVAL;
    }
    if ((rc = ipc__proc_spawn(opts, &proc)) < 0)
        return rc;
    int flags = fcntl(proc->exec_pipe, F_GETFL);
    if (flags < 0 || fcntl(proc->exec_pipe, F_SETFL, flags | O_NONBLOCK) < 0) {
        rc = -errno;
        goto fail;
    }
    if (!(op = calloc(1, sizeof *op))) {
        rc = -ENOMEM;
        goto fail;
    }
    op->proc = proc;
    op->loop = loop;
    op->cb = cb;
    op->ctx = ctx;
    if ((rc = ipc_loop_post(loop, launch_watch, op)) < 0)
        goto fail;
    return 0;
fail:
    free(op);
    ipc_proc_free(proc); /* kills and reaps the child: nobody will hear of it */
    return rc;
}

/* ================= watching for death ================= */

struct watch {
    ipc_proc *proc;
    ipc_loop *loop;
    struct event *ev; /* the pidfd's event; NULL on the SIGCHLD path */
    ipc_proc_exit_cb cb;
    void *ctx;
    struct sigchld_base *sb;
    struct watch *next; /* in sb->watches */
};

/* The SIGCHLD path: one signal event per event base, shared by the watches
 * of that base. The list of bases is shared between loops (a lock); each
 * base's watches are only touched on that base's loop thread. */
struct sigchld_base {
    struct event_base *base;
    struct event *ev;
    struct watch *watches;
    int dispatching; /* in on_sigchld: freeing waits until it ends */
    struct sigchld_base *next;
};

static pthread_mutex_t sigchld_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sigchld_base *sigchld_bases;

static void sigchld_base_free(struct sigchld_base *sb)
{
    pthread_mutex_lock(&sigchld_lock);
    struct sigchld_base **q = &sigchld_bases;
    while (*q && *q != sb)
        q = &(*q)->next;
    if (*q)
        *q = sb->next;
    pthread_mutex_unlock(&sigchld_lock);
    event_free(sb->ev); /* libevent restores the previous SIGCHLD handler */
    free(sb);
}

static void detach(struct watch *w)
{
    if (w->ev)
        event_free(w->ev); /* before the pidfd closes: its number may be reused */
    if (w->sb) {
        struct watch **p = &w->sb->watches;
        while (*p && *p != w)
            p = &(*p)->next;
        if (*p)
            *p = w->next;
        if (!w->sb->watches && !w->sb->dispatching)
            sigchld_base_free(w->sb);
    }
    w->proc->watch = NULL;
    w->proc->watch_drop = NULL;
    if (w->proc->reaped)
        ipc__proc_close_pidfd(w->proc);
    free(w);
}

static void watch_drop(ipc_proc *proc)
{
    detach(proc->watch);
}

/* The child is gone (rc 1) or cannot be waited for (rc < 0, e.g. ECHILD when
 * SIGCHLD is ignored and the kernel reaped it): tell the caller once. */
static void report(struct watch *w, int rc)
{
    ipc_proc *proc = w->proc;
    ipc_proc_exit_cb cb = w->cb;
    void *ctx = w->ctx;
    if (rc < 0)
        ipc__proc_mark_lost(proc, rc);
    detach(w);
    cb(ctx, proc, &proc->info, proc->report_path); /* may free proc */
}

static void on_pidfd(evutil_socket_t fd, short what, void *arg)
{
    struct watch *w = arg;
    (void)fd;
    (void)what;
    int rc = ipc__proc_try_reap(w->proc, 0);
    if (rc != 0)
        report(w, rc);
}

/* One SIGCHLD may stand for several children: check every watch of this
 * base, starting over after each callback (it may free other handles). */
static void on_sigchld(evutil_socket_t sig, short what, void *arg)
{
    struct sigchld_base *sb = arg;
    (void)sig;
    (void)what;
    sb->dispatching = 1;
    for (;;) {
        struct watch *w = sb->watches, *hit = NULL;
        int rc = 0;
        for (; w && !hit; w = w->next)
            if ((rc = ipc__proc_try_reap(w->proc, 0)) != 0)
                hit = w;
        if (!hit)
            break;
        report(hit, rc);
    }
    sb->dispatching = 0;
    if (!sb->watches)
        sigchld_base_free(sb);
}

static int sigchld_attach(struct watch *w)
{
    struct event_base *base = ipc_loop_base(w->loop);
    pthread_mutex_lock(&sigchld_lock);
    struct sigchld_base *sb = sigchld_bases;
    while (sb && sb->base != base)
        sb = sb->next;
    pthread_mutex_unlock(&sigchld_lock);
    if (!sb) {
        if (!(sb = calloc(1, sizeof *sb)))
            return -ENOMEM;
        sb->base = base;
        sb->ev = evsignal_new(base, SIGCHLD, on_sigchld, sb);
        if (!sb->ev || event_add(sb->ev, NULL) < 0) {
            if (sb->ev)
                event_free(sb->ev);
            free(sb);
            return -ENOMEM;
        }
        pthread_mutex_lock(&sigchld_lock);
        sb->next = sigchld_bases;
        sigchld_bases = sb;
        pthread_mutex_unlock(&sigchld_lock);
    }
    w->sb = sb;
    w->next = sb->watches;
    sb->watches = w;
    /* The child may have died before the handler existed: look once now. */
    event_active(sb->ev, EV_SIGNAL, 1);
    return 0;
}

int ipc_proc_watch(ipc_proc *proc, ipc_loop *loop, ipc_proc_exit_cb cb, void *ctx)
{
    if (!loop || !cb)
        return -EINVAL;
    if (proc->reaped || proc->watch || proc->exec_pipe >= 0)
        return IPC_E_STATE;
    struct watch *w = calloc(1, sizeof *w);
    if (!w)
        return -ENOMEM;
    w->proc = proc;
    w->loop = loop;
    w->cb = cb;
    w->ctx = ctx;
    int rc = 0;
    if (proc->pidfd >= 0) {
        w->ev = event_new(ipc_loop_base(loop), proc->pidfd, EV_READ | EV_PERSIST, on_pidfd, w);
        if (!w->ev || event_add(w->ev, NULL) < 0)
            rc = -ENOMEM;
    } else {
        rc = sigchld_attach(w);
    }
    if (rc < 0) {
        if (w->ev)
            event_free(w->ev);
        free(w);
        return rc;
    }
    proc->watch = w;
    proc->watch_drop = watch_drop;
    return 0;
}
