/* The event loop: a libevent event_base owned by one thread, plus a task queue
 * other threads post to. Posting appends under a mutex and writes an eventfd
 * only when the queue goes from idle to busy, so a burst of posts costs one
 * wakeup; the loop thread swaps the whole queue out and runs it without the
 * lock. Delayed tasks are libevent timers, armed on the loop thread. */
#include "ipc/loop.h"

#include "ipc/errors.h"
#include "loop_internal.h"

#include <errno.h>
#include <event2/event.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

typedef struct task {
    ipc_task_fn fn;
    void *arg;
} task;

typedef struct task_vec {
    task *v;
    size_t n, cap;
} task_vec;

/* A delayed task; lives on the loop's list from the moment its timer is armed. */
typedef struct delayed {
    ipc_loop *loop;
    struct event *ev;
    ipc_task_fn fn;
    void *arg;
    uint32_t ms;
    struct delayed *prev, *next;
} delayed;

struct ipc_loop {
    struct event_base *base;
    int efd;
    struct event *wake_ev;
    struct event *timeout_ev; /* bounds ipc_loop_run_once() */

    pthread_mutex_t mu; /* guards pending, signaled, closing */
    task_vec pending;
    int signaled; /* the eventfd has been written since the last drain */
    int closing;

    task_vec running; /* loop thread only: the batch being run */
    size_t run_pos;

    atomic_int quit;
    atomic_int bound;
    _Atomic(pthread_t) owner;

    delayed *timers; /* loop thread only */
    ipc__fork_hook *hooks;

    pthread_mutex_t park_mu;
    pthread_cond_t park_cv;
    int park_req, parked, running_loop; /* under park_mu */
};

static _Thread_local ipc_loop *tls_current;

static void wake_cb(evutil_socket_t fd, short what, void *arg);
static void delayed_arm_task(void *arg);

static void noop_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
}

static int add_wake_event(ipc_loop *loop)
{
    loop->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (loop->efd < 0)
        return -errno;
    loop->wake_ev = event_new(loop->base, loop->efd, EV_READ | EV_PERSIST, wake_cb, loop);
    if (!loop->wake_ev || event_add(loop->wake_ev, NULL) != 0)
        return -ENOMEM;
    return 0;
}

int ipc_loop_new(ipc_loop **out)
{
    *out = NULL;
    int rc = -ENOMEM;
    ipc_loop *loop = calloc(1, sizeof *loop);
    if (!loop)
        return -ENOMEM;
    loop->efd = -1;
    pthread_mutex_init(&loop->mu, NULL);
    pthread_mutex_init(&loop->park_mu, NULL);
    pthread_cond_init(&loop->park_cv, NULL);
    loop->base = event_base_new();
    if (!loop->base)
        goto fail;
    loop->timeout_ev = evtimer_new(loop->base, noop_cb, NULL);
    if (!loop->timeout_ev)
        goto fail;
    rc = add_wake_event(loop);
    if (rc)
        goto fail;
    *out = loop;
    return 0;
fail:
    ipc_loop_free(loop);
    return rc;
}

/* Tasks the loop posted to itself carry resources of their own. */
static void drop_task(task *t)
{
    if (t->fn == delayed_arm_task)
        free(t->arg);
}

void ipc_loop_free(ipc_loop *loop)
{
    if (!loop)
        return;
    pthread_mutex_lock(&loop->mu);
    loop->closing = 1;
    pthread_mutex_unlock(&loop->mu);
    for (size_t i = loop->run_pos; i < loop->running.n; i++)
        drop_task(&loop->running.v[i]);
    for (size_t i = 0; i < loop->pending.n; i++)
        drop_task(&loop->pending.v[i]);
    while (loop->timers) {
        delayed *d = loop->timers;
        loop->timers = d->next;
        event_free(d->ev);
        free(d);
    }
    if (loop->wake_ev)
        event_free(loop->wake_ev);
    if (loop->timeout_ev)
        event_free(loop->timeout_ev);
    if (loop->base)
        event_base_free(loop->base);
    if (loop->efd >= 0)
        close(loop->efd);
    if (tls_current == loop)
        tls_current = NULL;
    free(loop->pending.v);
    free(loop->running.v);
    pthread_mutex_destroy(&loop->mu);
    pthread_mutex_destroy(&loop->park_mu);
    pthread_cond_destroy(&loop->park_cv);
    free(loop);
}

struct event_base *ipc_loop_base(ipc_loop *loop)
{
    return loop->base;
}

static void write_wake(ipc_loop *loop)
{
    uint64_t one = 1;
    ssize_t n;
    do
        n = write(loop->efd, &one, sizeof one);
    while (n < 0 && errno == EINTR);
    /* EAGAIN means the counter is huge: the loop is already woken. */
}

static int vec_push(task_vec *q, ipc_task_fn fn, void *arg)
{
    if (q->n == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 64;
        task *v = realloc(q->v, cap * sizeof *v);
        if (!v)
            return -ENOMEM;
        q->v = v;
        q->cap = cap;
    }
    q->v[q->n].fn = fn;
    q->v[q->n].arg = arg;
    q->n++;
    return 0;
}

int ipc_loop_post(ipc_loop *loop, ipc_task_fn fn, void *arg)
{
    pthread_mutex_lock(&loop->mu);
    int rc = loop->closing ? IPC_E_CLOSED : vec_push(&loop->pending, fn, arg);
    int need_wake = rc == 0 && !loop->signaled;
    if (need_wake)
        loop->signaled = 1;
    pthread_mutex_unlock(&loop->mu);
    if (need_wake)
        write_wake(loop);
    return rc;
}

static void delayed_fire(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    delayed *d = arg;
    ipc_loop *loop = d->loop;
    if (d->prev)
        d->prev->next = d->next;
    else
        loop->timers = d->next;
    if (d->next)
        d->next->prev = d->prev;
    ipc_task_fn fn = d->fn;
    void *farg = d->arg;
    event_free(d->ev);
    free(d);
    fn(farg);
}

static void delayed_arm_task(void *arg)
{
    delayed *d = arg;
    ipc_loop *loop = d->loop;
    d->ev = evtimer_new(loop->base, delayed_fire, d);
    struct timeval tv = {.tv_sec = d->ms / 1000, .tv_usec = (d->ms % 1000) * 1000};
    if (!d->ev || evtimer_add(d->ev, &tv) != 0) {
        /* Out of memory on the loop thread: run late rather than never. */
        if (d->ev)
            event_free(d->ev);
        ipc_task_fn fn = d->fn;
        void *farg = d->arg;
        free(d);
        fn(farg);
        return;
    }
    d->prev = NULL;
    d->next = loop->timers;
    if (loop->timers)
        loop->timers->prev = d;
    loop->timers = d;
}

int ipc_loop_post_delayed(ipc_loop *loop, ipc_task_fn fn, void *arg, uint32_t ms)
{
    delayed *d = calloc(1, sizeof *d);
    if (!d)
        return -ENOMEM;
    d->loop = loop;
    d->fn = fn;
    d->arg = arg;
    d->ms = ms;
    if (ipc_loop_on_thread(loop)) {
        delayed_arm_task(d);
        return 0;
    }
    int rc = ipc_loop_post(loop, delayed_arm_task, d);
    if (rc)
        free(d);
    return rc;
}

/* Runs the queued tasks in order. A quit stops after the current task; what
 * is left runs on the next iteration, in order. */
static void drain(ipc_loop *loop)
{
    if (loop->run_pos == loop->running.n) {
        loop->running.n = 0;
        loop->run_pos = 0;
        pthread_mutex_lock(&loop->mu);
        loop->signaled = 0;
        task_vec t = loop->running;
        loop->running = loop->pending;
        loop->pending = t;
        pthread_mutex_unlock(&loop->mu);
    }
    while (loop->run_pos < loop->running.n) {
        task t = loop->running.v[loop->run_pos++];
        t.fn(t.arg);
        if (atomic_load_explicit(&loop->quit, memory_order_relaxed))
            break;
    }
    if (loop->run_pos < loop->running.n) {
        pthread_mutex_lock(&loop->mu);
        int need_wake = !loop->signaled;
        loop->signaled = 1;
        pthread_mutex_unlock(&loop->mu);
        if (need_wake)
            write_wake(loop);
    }
}

static void wake_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    ipc_loop *loop = arg;
    uint64_t v;
    ssize_t n;
    do
        n = read(fd, &v, sizeof v);
    while (n < 0 && errno == EINTR);
    drain(loop);
    if (atomic_load_explicit(&loop->quit, memory_order_relaxed))
        event_base_loopbreak(loop->base);
}

void ipc__loop_bind(ipc_loop *loop)
{
    atomic_store(&loop->owner, pthread_self());
    atomic_store(&loop->bound, 1);
    tls_current = loop;
}

/* The park point: between two libevent iterations, holding no lock. */
static void maybe_park(ipc_loop *loop)
{
    pthread_mutex_lock(&loop->park_mu);
    if (loop->park_req) {
        loop->parked = 1;
        pthread_cond_broadcast(&loop->park_cv);
        while (loop->park_req)
            pthread_cond_wait(&loop->park_cv, &loop->park_mu);
        loop->parked = 0;
    }
    pthread_mutex_unlock(&loop->park_mu);
}

void ipc__loop_mark_running(ipc_loop *loop)
{
    pthread_mutex_lock(&loop->park_mu);
    loop->running_loop = 1;
    pthread_mutex_unlock(&loop->park_mu);
}

int ipc_loop_run(ipc_loop *loop)
{
    ipc__loop_bind(loop);
    ipc__loop_mark_running(loop);
    int rc = 0;
    while (!atomic_load(&loop->quit)) {
        maybe_park(loop);
        if (event_base_loop(loop->base, EVLOOP_ONCE) < 0) {
            rc = -EIO;
            break;
        }
    }
    atomic_store(&loop->quit, 0);
    pthread_mutex_lock(&loop->park_mu);
    loop->running_loop = 0;
    pthread_cond_broadcast(&loop->park_cv);
    pthread_mutex_unlock(&loop->park_mu);
    return rc;
}

int ipc_loop_run_once(ipc_loop *loop, int timeout_ms)
{
    ipc__loop_bind(loop);
    int flags = EVLOOP_ONCE;
    if (timeout_ms == 0) {
        flags = EVLOOP_NONBLOCK;
    } else if (timeout_ms > 0) {
        struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
        if (evtimer_add(loop->timeout_ev, &tv) != 0)
            return -ENOMEM;
    }
    int rc = event_base_loop(loop->base, flags);
    if (timeout_ms > 0)
        evtimer_del(loop->timeout_ev);
    atomic_store(&loop->quit, 0);
    return rc < 0 ? -EIO : 0;
}

void ipc_loop_quit(ipc_loop *loop)
{
    atomic_store(&loop->quit, 1);
    pthread_mutex_lock(&loop->mu);
    int need_wake = !loop->signaled;
    loop->signaled = 1;
    pthread_mutex_unlock(&loop->mu);
    if (need_wake)
        write_wake(loop);
}

int ipc_loop_on_thread(const ipc_loop *loop)
{
    ipc_loop *l = (ipc_loop *)loop;
    return atomic_load(&l->bound) && pthread_equal(atomic_load(&l->owner), pthread_self());
}

ipc_loop *ipc_loop_current(void)
{
    return tls_current;
}

int ipc__loop_park(ipc_loop *loop)
{
    if (ipc_loop_on_thread(loop))
        return IPC_E_WRONG_THREAD;
    pthread_mutex_lock(&loop->park_mu);
    int rc = 0;
    if (!loop->running_loop)
        rc = -EINVAL;
    else if (loop->park_req)
        rc = IPC_E_STATE;
    if (rc) {
        pthread_mutex_unlock(&loop->park_mu);
        return rc;
    }
    loop->park_req = 1;
    pthread_mutex_unlock(&loop->park_mu);
    /* Make event_base_loop() return so the thread reaches the park point. */
    pthread_mutex_lock(&loop->mu);
    int need_wake = !loop->signaled;
    loop->signaled = 1;
    pthread_mutex_unlock(&loop->mu);
    if (need_wake)
        write_wake(loop);
    pthread_mutex_lock(&loop->park_mu);
    while (!loop->parked && loop->running_loop)
        pthread_cond_wait(&loop->park_cv, &loop->park_mu);
    rc = loop->parked ? 0 : -EINVAL;
    if (rc)
        loop->park_req = 0;
    pthread_mutex_unlock(&loop->park_mu);
    return rc;
}

int ipc__loop_parked(ipc_loop *loop)
{
    pthread_mutex_lock(&loop->park_mu);
    int r = loop->park_req;
    pthread_mutex_unlock(&loop->park_mu);
    return r;
}

void ipc__loop_unpark(ipc_loop *loop)
{
    pthread_mutex_lock(&loop->park_mu);
    loop->park_req = 0;
    pthread_cond_broadcast(&loop->park_cv);
    pthread_mutex_unlock(&loop->park_mu);
}

int ipc__loop_reset_after_fork(ipc_loop *loop)
{
    /* Only this thread survived the fork: whatever the others held is void. */
    pthread_mutex_init(&loop->mu, NULL);
    pthread_mutex_init(&loop->park_mu, NULL);
    pthread_cond_init(&loop->park_cv, NULL);
    loop->park_req = loop->parked = loop->running_loop = 0;
    atomic_store(&loop->bound, 0);
    atomic_store(&loop->quit, 0);
    if (event_reinit(loop->base) != 0)
        return -EIO;
    /* The eventfd is shared with the parent: a new one, or each would wake
     * (and steal wakeups from) the other. */
    event_free(loop->wake_ev);
    loop->wake_ev = NULL;
    close(loop->efd);
    int rc = add_wake_event(loop);
    if (rc)
        return rc;
    loop->signaled = 0;
    if (loop->pending.n || loop->run_pos < loop->running.n) {
        loop->signaled = 1;
        write_wake(loop);
    }
    for (ipc__fork_hook *h = loop->hooks, *next; h; h = next) {
        next = h->next;
        h->fn(h);
    }
    return 0;
}

void ipc__loop_add_fork_hook(ipc_loop *loop, ipc__fork_hook *hook)
{
    hook->prev = NULL;
    hook->next = loop->hooks;
    if (loop->hooks)
        loop->hooks->prev = hook;
    loop->hooks = hook;
}

void ipc__loop_remove_fork_hook(ipc_loop *loop, ipc__fork_hook *hook)
{
    if (hook->prev)
        hook->prev->next = hook->next;
    else if (loop->hooks == hook)
        loop->hooks = hook->next;
    if (hook->next)
        hook->next->prev = hook->prev;
    hook->prev = hook->next = NULL;
}
