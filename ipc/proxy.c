/* ChannelProxy: a channel used from any thread. Sends go straight into the
 * channel's output queue; what the channel receives runs through the filters
 * on the IO thread, and what they leave is gathered per read and posted to the
 * listener's loop as one batch, where it is dispatched in order. A proxy with
 * no filters also lets its listener's thread read the socket itself while it
 * sleeps in its loop (direct mode, chan_internal.h): a message then costs one
 * thread wakeup instead of two. */
#include "ipc/proxy.h"

#include "chan_internal.h"
#include "ipc/errors.h"
#include "proxy_internal.h"

#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void ipc__proxy_ref(ipc_proxy *p)
{
    atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);
}

static void free_events(ipc__ev_vec *v)
{
    for (size_t i = 0; i < v->n; i++)
        ipc_msg_free(v->v[i].msg);
    free(v->v);
    v->v = NULL;
    v->n = v->cap = 0;
}

void ipc__proxy_unref(ipc_proxy *p)
{
    if (atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) != 1)
        return;
    if (p->chan)
        ipc__chan_unref(p->chan);
    free_events(&p->batch);
    free_events(&p->inq);
    free_events(&p->spare);
    free(p->filters);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p);
}

static int ev_push(ipc__ev_vec *v, const ipc__ev *e)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 32;
        ipc__ev *nv = realloc(v->v, cap * sizeof *nv);
        if (!nv)
            return -ENOMEM;
        v->v = nv;
        v->cap = cap;
    }
    v->v[v->n++] = *e;
    return 0;
}

/* ---- the listener's side ---- */

static void dispatch(ipc_proxy *p, ipc__ev *e)
{
    const ipc_listener *l = &p->listener;
    switch (e->kind) {
    case EV_MSG:
        if (l->on_message) {
            l->on_message(p->lctx, e->msg);
            e->msg = NULL;
        }
        break;
    case EV_CONNECTED:
        if (l->on_connected)
            l->on_connected(p->lctx, e->pid);
        break;
    case EV_ERROR:
        if (l->on_error)
            l->on_error(p->lctx, e->err);
        break;
    case EV_BAD:
        if (l->on_bad_message)
            l->on_bad_message(p->lctx, e->err, e->type, p->bad_name);
        break;
    }
    ipc_msg_free(e->msg);
    e->msg = NULL;
}

/* Runs everything queued for the listener, in order. */
static void deliver_queued(ipc_proxy *p, int from_task)
{
    pthread_mutex_lock(&p->mu);
    ipc__ev_vec run = p->inq;
    p->inq = p->spare;
    p->spare = (ipc__ev_vec){0};
    if (from_task)
        p->posted = 0;
    pthread_mutex_unlock(&p->mu);
    for (size_t i = 0; i < run.n; i++) {
        if (atomic_load_explicit(&p->closing, memory_order_acquire)) {
            ipc_msg_free(run.v[i].msg);
            continue;
        }
        dispatch(p, &run.v[i]);
    }
    run.n = 0;
    pthread_mutex_lock(&p->mu);
    if (!p->spare.v)
        p->spare = run;
    else
        free(run.v);
    pthread_mutex_unlock(&p->mu);
}

static void deliver_task(void *arg)
{
    ipc_proxy *p = arg;
    deliver_queued(p, 1);
    ipc__proxy_unref(p);
}

/* ---- the IO thread's side ---- */

/* Posts what this read gathered, as one task for the whole batch. */
static void post_batch(void *arg)
{
    ipc_proxy *p = arg;
    if (p->batch.n == 0)
        return;
    int need_post = 0;
    pthread_mutex_lock(&p->mu);
    if (p->inq.n == 0) {
        ipc__ev_vec t = p->inq;
        p->inq = p->batch;
        p->batch = t;
    } else {
        for (size_t i = 0; i < p->batch.n; i++) {
            if (ev_push(&p->inq, &p->batch.v[i]) != 0)
                ipc_msg_free(p->batch.v[i].msg); /* out of memory: lost */
        }
        p->batch.n = 0;
    }
    /* The listener's own read delivers right after this (direct mode). */
    if (!p->posted && !(p->lloop != p->ioloop && ipc_loop_on_thread(p->lloop))) {
        p->posted = 1;
        need_post = 1;
    }
    pthread_mutex_unlock(&p->mu);
    if (need_post) {
        ipc__proxy_ref(p);
        if (ipc_loop_post(p->lloop, deliver_task, p) != 0) {
            pthread_mutex_lock(&p->mu);
            p->posted = 0;
            pthread_mutex_unlock(&p->mu);
            ipc__proxy_unref(p);
        }
    }
}

static void gather(ipc_proxy *p, const ipc__ev *e)
{
    if (ev_push(&p->batch, e) != 0)
        ipc_msg_free(e->msg);
}

static void io_on_message(void *ctx, ipc_msg *m)
{
    ipc_proxy *p = ctx;
    if (ipc_msg_is_reply(m) && (ipc_msg_txn_id(m) & IPC_SYNC_TXN_BIT)) {
        ipc__sync_take_reply(p, m);
        return;
    }
    for (size_t i = 0; i < p->nfilters; i++) {
        ipc_filter *f = &p->filters[i];
        if (f->on_message && f->on_message(f->ctx, p, m))
            return;
    }
    gather(p, &(ipc__ev){.kind = EV_MSG, .msg = m});
}

/* ---- direct mode: the listener's thread reads while it sleeps ---- */

/* Listener thread: stops watching the socket. The watch held a reference. */
static void end_watch(ipc_proxy *p)
{
    if (!p->lrev)
        return;
    event_free(p->lrev);
    p->lrev = NULL;
    close(p->lfd);
    p->lfd = -1;
    ipc__loop_remove_idle_hook(p->lloop, &p->idle_hook);
    ipc__chan_listener_idle(p->chan, 0);
    ipc__proxy_unref(p);
}

static void listener_read_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    ipc_proxy *p = arg;
    ipc__proxy_ref(p);
    int rc = ipc__chan_listener_read(p->chan);
    /* Other channels of this loop must not count on us while we dispatch
     * (after our read, which settles our own channel's state). */
    ipc__loop_busy(p->lloop);
    if (rc < 0)
        end_watch(p);
    if (!atomic_load_explicit(&p->closing, memory_order_acquire))
        deliver_queued(p, 0);
    ipc__proxy_unref(p);
}

static void on_idle(ipc__idle_hook *h, int idle)
{
    ipc_proxy *p = (ipc_proxy *)((char *)h - offsetof(ipc_proxy, idle_hook));
    ipc__chan_listener_idle(p->chan, idle);
}

/* Listener thread: starts watching the socket (through a duplicate). */
static void start_watch(void *arg)
{
    ipc_proxy *p = arg;
    int fd = atomic_load(&p->closing) || p->lrev ? -1 : ipc__chan_dup_fd(p->chan);
    if (fd < 0) {
        /* Never idle as far as the channel knows: the IO thread reads all. */
        ipc__proxy_unref(p);
        return;
    }
    p->lrev = event_new(ipc_loop_base(p->lloop), fd, EV_READ | EV_PERSIST, listener_read_cb, p);
    if (!p->lrev || event_add(p->lrev, NULL) != 0) {
        if (p->lrev)
            event_free(p->lrev);
        p->lrev = NULL;
        close(fd);
        ipc__proxy_unref(p);
        return;
    }
    p->lfd = fd;
    p->idle_hook.fn = on_idle;
    ipc__loop_add_idle_hook(p->lloop, &p->idle_hook); /* keeps the reference */
}

/* IO thread, once the peer said hello: a proxy without filters lets its
 * listener's thread read too. Nothing changes if that fails. */
static void begin_direct(ipc_proxy *p)
{
    if (!p->direct_ok || atomic_load(&p->closing))
        return;
    ipc__chan_set_direct(p->chan, 1);
    ipc__proxy_ref(p);
    atomic_store(&p->watch_posted, 1);
    if (ipc_loop_post(p->lloop, start_watch, p) != 0) {
        ipc__chan_set_direct(p->chan, 0);
        ipc__proxy_unref(p);
    }
}

static void io_on_connected(void *ctx, pid_t pid)
{
    ipc_proxy *p = ctx;
    gather(p, &(ipc__ev){.kind = EV_CONNECTED, .pid = pid});
    begin_direct(p);
}


static void io_on_error(void *ctx, int err)
{
    ipc_proxy *p = ctx;
    ipc__sync_fail_all(p, err);
    for (size_t i = 0; i < p->nfilters; i++)
        if (p->filters[i].on_error)
            p->filters[i].on_error(p->filters[i].ctx, err);
    gather(p, &(ipc__ev){.kind = EV_ERROR, .err = err});
    post_batch(p); /* not always inside a read */
}

static void io_on_bad(void *ctx, int reason, uint32_t type, const char *name)
{
    ipc_proxy *p = ctx;
    snprintf(p->bad_name, sizeof p->bad_name, "%s", name);
    gather(p, &(ipc__ev){.kind = EV_BAD, .err = reason, .type = type});
}

static const ipc_listener io_listener = {io_on_message, io_on_connected, io_on_error, io_on_bad};

static void connect_task(void *arg)
{
    ipc_proxy *p = arg;
    for (size_t i = 0; i < p->nfilters; i++)
        if (p->filters[i].on_added)
            p->filters[i].on_added(p->filters[i].ctx, p);
    if (!atomic_load(&p->closing)) {
        int rc = ipc_chan_connect(p->chan, p->ioloop);
        if (rc)
            io_on_error(p, rc);
    }
    ipc__proxy_unref(p);
}

/* Runs fn(p) on the IO thread: now when already there, else as a task. */
static int on_io(ipc_proxy *p, ipc_task_fn fn)
{
    ipc__proxy_ref(p);
    if (ipc_loop_on_thread(p->ioloop)) {
        fn(p);
        return 0;
    }
    int rc = ipc_loop_post(p->ioloop, fn, p);
    if (rc)
        ipc__proxy_unref(p);
    return rc;
}

int ipc_proxy_create(ipc_proxy **out, const ipc_proxy_opts *opts)
{
    *out = NULL;
    int rc = -ENOMEM;
    int fd = opts->mode == IPC_CHAN_CLIENT ? opts->fd : -1;
    ipc_iothread *io = opts->io ? opts->io : ipc_iothread_default();
    ipc_proxy *p = NULL;
    if (!opts->listener_loop || !io) {
        rc = !io ? -ENOMEM : -EINVAL;
        goto fail;
    }
    p = calloc(1, sizeof *p);
    if (!p)
        goto fail;
    atomic_init(&p->refs, 1);
    atomic_init(&p->next_txn, 0);
    atomic_init(&p->watch_posted, 0);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->ioloop = ipc_iothread_loop(io);
    p->lloop = opts->listener_loop;
    if (opts->listener)
        p->listener = *opts->listener;
    p->lctx = opts->listener_ctx;
    p->side = opts->side;
    p->lfd = -1;
    const char *env = getenv("IPC_DIRECT_READ");
    p->direct_ok = opts->nfilters == 0 && p->lloop != p->ioloop && !(env && *env == '0');
    if (opts->nfilters) {
        p->filters = malloc(opts->nfilters * sizeof *p->filters);
        if (!p->filters)
            goto fail;
        memcpy(p->filters, opts->filters, opts->nfilters * sizeof *p->filters);
        p->nfilters = p->filters_cap = opts->nfilters;
    }
    ipc_chan_opts co = {opts->mode, opts->channel_id, fd,           &io_listener,
                        p,          opts->limits,     opts->peer_pid};
    fd = -1; /* ipc_chan_create takes it either way */
    rc = ipc_chan_create(&p->chan, &co);
    if (rc)
        goto fail;
    ipc__chan_set_read_done(p->chan, post_batch, p);
    rc = on_io(p, connect_task);
    if (rc)
        goto fail;
    *out = p;
    return 0;
fail:
    if (fd >= 0)
        close(fd);
    if (p)
        ipc__proxy_unref(p);
    return rc;
}

int ipc_proxy_send(ipc_proxy *p, ipc_msg *msg)
{
    return ipc__chan_send_any(p->chan, msg);
}

int ipc_proxy_flush(ipc_proxy *p, int timeout_ms)
{
    if (p->ioloop && ipc_loop_on_thread(p->ioloop))
        return IPC_E_WRONG_THREAD;
    return ipc__chan_wait_flushed(p->chan, timeout_ms);
}

typedef struct add_filter_task {
    ipc_proxy *p;
    ipc_filter f;
} add_filter_task;

static void do_add_filter(void *arg)
{
    add_filter_task *t = arg;
    ipc_proxy *p = t->p;
    int io_closed;
    /* Filters run on the IO thread: the listener stops reading for good
     * (what it has not read the IO thread reads now, through the filter). */
    p->direct_ok = 0;
    ipc__chan_set_direct(p->chan, 0);
    pthread_mutex_lock(&p->mu);
    io_closed = p->io_closed;
    pthread_mutex_unlock(&p->mu);
    if (io_closed) {
        if (t->f.on_removed)
            t->f.on_removed(t->f.ctx);
    } else if (p->nfilters == p->filters_cap) {
        size_t cap = p->filters_cap ? p->filters_cap * 2 : 4;
        ipc_filter *nf = realloc(p->filters, cap * sizeof *nf);
        if (nf) {
            p->filters = nf;
            p->filters_cap = cap;
        }
    }
    if (!io_closed && p->nfilters < p->filters_cap) {
        p->filters[p->nfilters++] = t->f;
        if (t->f.on_added)
            t->f.on_added(t->f.ctx, p);
    } else if (!io_closed && t->f.on_removed) {
        t->f.on_removed(t->f.ctx); /* out of memory: never installed */
    }
    free(t);
    ipc__proxy_unref(p);
}

int ipc_proxy_add_filter(ipc_proxy *p, const ipc_filter *filter)
{
    add_filter_task *t = malloc(sizeof *t);
    if (!t)
        return -ENOMEM;
    t->p = p;
    t->f = *filter;
    ipc__proxy_ref(p);
    if (ipc_loop_on_thread(p->ioloop)) {
        do_add_filter(t);
        return 0;
    }
    int rc = ipc_loop_post(p->ioloop, do_add_filter, t);
    if (rc) {
        free(t);
        ipc__proxy_unref(p);
    }
    return rc;
}

int ipc_proxy_take_client_fd(ipc_proxy *p)
{
    return ipc_chan_take_client_fd(p->chan);
}

pid_t ipc_proxy_peer_pid(const ipc_proxy *p)
{
    return ipc_chan_peer_pid(p->chan);
}

void ipc_proxy_get_stats(const ipc_proxy *p, ipc_chan_stats *out)
{
    ipc_proxy *m = (ipc_proxy *)p;
    ipc_chan_get_stats(m->chan, out);
    pthread_mutex_lock(&m->mu);
    out->replies_unmatched = m->replies_unmatched;
    pthread_mutex_unlock(&m->mu);
}

/* On the IO thread: the channel stops, filters are told, waiters woken. */
static void close_task(void *arg)
{
    ipc_proxy *p = arg;
    ipc_chan_close(p->chan);
    ipc__sync_fail_all(p, IPC_E_CLOSED);
    for (size_t i = 0; i < p->nfilters; i++)
        if (p->filters[i].on_removed)
            p->filters[i].on_removed(p->filters[i].ctx);
    p->nfilters = 0;
    free_events(&p->batch);
    pthread_mutex_lock(&p->mu);
    p->io_closed = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    ipc__proxy_unref(p);
}

/* Ends the listener's watch (after the channel closed or direct mode
 * stopped), on the listener's thread or in a task there. */
static void end_watch_task(void *arg)
{
    ipc_proxy *p = arg;
    end_watch(p);
    ipc__proxy_unref(p);
}

static void end_watch_soon(ipc_proxy *p)
{
    /* Read after the IO thread let go of the channel: no watch can start
     * from here on, and a proxy that never had one posts nothing. */
    if (!atomic_load(&p->watch_posted))
        return;
    if (ipc_loop_on_thread(p->lloop)) {
        end_watch(p);
        return;
    }
    ipc__proxy_ref(p);
    if (ipc_loop_post(p->lloop, end_watch_task, p) != 0)
        ipc__proxy_unref(p); /* the loop is gone: so is its epoll set */
}

void ipc_proxy_close(ipc_proxy *p)
{
    if (atomic_exchange(&p->closing, 1))
        return;
    if (on_io(p, close_task) != 0) {
        /* The IO thread is gone: nothing runs there any more. */
        pthread_mutex_lock(&p->mu);
        p->io_closed = 1;
        pthread_mutex_unlock(&p->mu);
        end_watch_soon(p);
        return;
    }
    pthread_mutex_lock(&p->mu);
    while (!p->io_closed)
        pthread_cond_wait(&p->cv, &p->mu);
    pthread_mutex_unlock(&p->mu);
    end_watch_soon(p);
}

void ipc_proxy_free(ipc_proxy *p)
{
    if (!p)
        return;
    ipc_proxy_close(p);
    ipc__proxy_unref(p);
}
