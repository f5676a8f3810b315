/* The event loop: a libevent event_base owned by one thread, plus a task queue
 * other threads post to. Posting appends under a mutex and writes an eventfd
 * only when the queue goes from idle to busy and the loop thread is asleep
 * (or about to be), so a burst of posts costs at most one wakeup and posts to
 * a busy loop cost none; the loop thread swaps the whole queue out and runs
 * it without the lock. A loop may spin briefly for tasks before sleeping
 * (ipc_loop_set_spin, adaptive: see spin_for_tasks), because on a virtual
 * machine a thread wakeup costs far more than a short spin. Delayed tasks are
 * libevent timers, armed on the loop thread. */
#include "ipc/loop.h"

#include "ipc/errors.h"
#include "loop_internal.h"

#include <errno.h>
#include <event2/event.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

/* Microseconds a loop spins for tasks before sleeping, unless set. */
#define DEFAULT_SPIN_US 0
/* After a spin that found nothing, the next `backoff` sleeps do not spin;
 * the backoff doubles up to this, so an idle loop wastes little. */
#define SPIN_BACKOFF_MAX 64

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

    pthread_mutex_t mu; /* guards pending, signaled, awake, closing */
    task_vec pending;
    atomic_size_t npending; /* pending.n, for spinning without the lock */
    int signaled; /* the eventfd has been written since the last drain */
    int awake;    /* the loop thread looks at pending before it sleeps again */
    int closing;

    atomic_uint spin_us;   /* 0: never spin */
    atomic_int post_cpu;   /* the CPU the last post came from */
    unsigned spin_backoff; /* loop thread only */
    unsigned spin_skip;
    task_vec running; /* loop thread only: the batch being run */
    size_t run_pos;

    atomic_int quit;
    atomic_int bound;
    _Atomic(pthread_t) owner;

    delayed *timers; /* loop thread only */
    ipc__fork_hook *hooks;
    ipc__idle_hook *idle_hooks; /* loop thread only */
    int idle;                   /* loop thread only: hooks were told idle = 1 */

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
    /* Edge-triggered: every write is one wakeup, and the counter is never
     * read back (it cannot overflow: one write per drain at most). */
    loop->wake_ev = event_new(loop->base, loop->efd, EV_READ | EV_PERSIST | EV_ET, wake_cb, loop);
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
    atomic_init(&loop->npending, 0);
    atomic_init(&loop->spin_us, DEFAULT_SPIN_US);
    atomic_init(&loop->post_cpu, -1);
    const char *env = getenv("IPC_LOOP_SPIN_US");
    if (env && *env)
        atomic_store(&loop->spin_us, (unsigned)strtoul(env, NULL, 10));
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
    if (rc == 0)
        atomic_store_explicit(&loop->npending, loop->pending.n, memory_order_release);
    atomic_store_explicit(&loop->post_cpu, sched_getcpu(), memory_order_relaxed);
    int need_wake = rc == 0 && !loop->signaled && !loop->awake;
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
    /* libevent times with CLOCK_MONOTONIC_COARSE (a jiffy of resolution),
     * which could fire a few ms early; add one tick so delays are never
     * shorter than asked. (Precise timers would need timerfd, which the
     * children's sandbox refuses.) */
    struct timespec res = {0, 4000000};
    clock_getres(CLOCK_MONOTONIC_COARSE, &res);
    long long us = (long long)d->ms * 1000 + res.tv_sec * 1000000LL + res.tv_nsec / 1000 + 1;
    struct timeval tv = {.tv_sec = (time_t)(us / 1000000), .tv_usec = (suseconds_t)(us % 1000000)};
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

static void tell_idle(ipc_loop *loop, int idle)
{
    if (loop->idle == idle)
        return;
    loop->idle = idle;
    for (ipc__idle_hook *h = loop->idle_hooks, *next; h; h = next) {
        next = h->next;
        h->fn(h, idle);
    }
}

void ipc__loop_busy(ipc_loop *loop)
{
    tell_idle(loop, 0);
}

void ipc__loop_add_idle_hook(ipc_loop *loop, ipc__idle_hook *hook)
{
    hook->prev = NULL;
    hook->next = loop->idle_hooks;
    if (loop->idle_hooks)
        loop->idle_hooks->prev = hook;
    loop->idle_hooks = hook;
    if (loop->idle)
        hook->fn(hook, 0); /* it may not count as idle before the next wait */
}

void ipc__loop_remove_idle_hook(ipc_loop *loop, ipc__idle_hook *hook)
{
    if (hook->prev)
        hook->prev->next = hook->next;
    else if (loop->idle_hooks == hook)
        loop->idle_hooks = hook->next;
    if (hook->next)
        hook->next->prev = hook->prev;
    hook->prev = hook->next = NULL;
}

/* Runs the queued tasks in order. A quit stops after the current task; what
 * is left runs on the next iteration, in order. From here until the loop
 * next decides to sleep (prepare_sleep) posts need not wake it. */
static void drain(ipc_loop *loop)
{
    tell_idle(loop, 0);
    if (loop->run_pos == loop->running.n) {
        loop->running.n = 0;
        loop->run_pos = 0;
        pthread_mutex_lock(&loop->mu);
        loop->signaled = 0;
        loop->awake = 1;
        task_vec t = loop->running;
        loop->running = loop->pending;
        loop->pending = t;
        atomic_store_explicit(&loop->npending, 0, memory_order_relaxed);
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
    (void)fd;
    (void)what;
    ipc_loop *loop = arg;
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

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* Before sleeping: waits up to spin_us (never more than timeout_ms) for a
 * task, with the loop marked awake so that posters do not write the eventfd.
 * A spin that finds nothing makes the next few sleeps skip spinning (doubling
 * up to SPIN_BACKOFF_MAX), so a loop that is idle for long burns almost
 * nothing; one that finds work keeps spinning. Yields the CPU between checks:
 * with two cores, the thread that will post to us may be waiting for ours. */
static void spin_for_tasks(ipc_loop *loop, int timeout_ms)
{
    unsigned us = atomic_load_explicit(&loop->spin_us, memory_order_relaxed);
    if (us == 0 || timeout_ms == 0)
        return;
    if (loop->spin_skip > 0) {
        loop->spin_skip--;
        return;
    }
    /* Spinning on the CPU where our poster last ran would keep it from
     * running: the scheduler may not preempt a spinner for a thread that
     * only just slept (seen as 50-100 us stalls with two spinners on two
     * vCPUs). */
    if (sched_getcpu() == atomic_load_explicit(&loop->post_cpu, memory_order_relaxed))
        return;
    if (timeout_ms > 0 && (unsigned)timeout_ms * 1000u < us)
        us = (unsigned)timeout_ms * 1000u;
    pthread_mutex_lock(&loop->mu);
    loop->awake = 1;
    pthread_mutex_unlock(&loop->mu);
    uint64_t deadline = now_ns() + (uint64_t)us * 1000u;
    int found = 0;
    for (;;) {
        for (int i = 0; i < 32 && !found; i++) {
            found = atomic_load_explicit(&loop->npending, memory_order_acquire) != 0 ||
                    atomic_load_explicit(&loop->quit, memory_order_relaxed);
            cpu_relax();
        }
        if (found || now_ns() >= deadline)
            break;
        sched_yield();
    }
    if (found) {
        loop->spin_backoff = 0;
    } else {
        loop->spin_backoff = loop->spin_backoff ? loop->spin_backoff * 2 : 1;
        if (loop->spin_backoff > SPIN_BACKOFF_MAX)
            loop->spin_backoff = SPIN_BACKOFF_MAX;
        loop->spin_skip = loop->spin_backoff;
    }
}

/* Events other than our own wakeup are registered (channels, timers). */
static int has_other_events(ipc_loop *loop)
{
    return event_base_get_num_events(loop->base, EVENT_BASE_COUNT_ADDED) > 1;
}

/* Runs tasks posted while the loop was awake (they wrote no eventfd), then
 * gives other events a non-blocking turn so a stream of tasks cannot starve
 * them. */
static int run_posted(ipc_loop *loop)
{
    drain(loop);
    if (atomic_load_explicit(&loop->quit, memory_order_relaxed) || !has_other_events(loop))
        return 0;
    return event_base_loop(loop->base, EVLOOP_NONBLOCK) < 0 ? -EIO : 0;
}

/* Decides to sleep: 1 when the queue is empty (from now on posts wake us),
 * 0 when tasks are waiting and should run first. */
static int prepare_sleep(ipc_loop *loop)
{
    pthread_mutex_lock(&loop->mu);
    int empty = loop->pending.n == 0 && loop->run_pos == loop->running.n;
    if (empty)
        loop->awake = 0;
    pthread_mutex_unlock(&loop->mu);
    return empty;
}

/* One iteration: run what is queued, or wait (spinning first) for work. */
static int iterate(ipc_loop *loop, int timeout_ms)
{
    spin_for_tasks(loop, timeout_ms);
    if (!prepare_sleep(loop))
        return run_posted(loop);
    if (atomic_load_explicit(&loop->quit, memory_order_relaxed))
        return 0;
    if (timeout_ms > 0) {
        struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
        if (evtimer_add(loop->timeout_ev, &tv) != 0)
            return -ENOMEM;
    }
    if (timeout_ms != 0)
        tell_idle(loop, 1);
    int rc = event_base_loop(loop->base, timeout_ms == 0 ? EVLOOP_NONBLOCK : EVLOOP_ONCE);
    tell_idle(loop, 0);
    if (timeout_ms > 0)
        evtimer_del(loop->timeout_ev);
    return rc < 0 ? -EIO : 0;
}

int ipc_loop_run(ipc_loop *loop)
{
    ipc__loop_bind(loop);
    ipc__loop_mark_running(loop);
    int rc = 0;
    while (!atomic_load(&loop->quit)) {
        maybe_park(loop);
        rc = iterate(loop, -1);
        if (rc)
            break;
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
    int rc;
    if (timeout_ms == 0) {
        /* Whatever is ready, tasks and events, without waiting. */
        drain(loop);
        rc = event_base_loop(loop->base, EVLOOP_NONBLOCK) < 0 ? -EIO : 0;
    } else {
        rc = iterate(loop, timeout_ms);
    }
    atomic_store(&loop->quit, 0);
    return rc;
}

void ipc_loop_set_spin(ipc_loop *loop, unsigned usec)
{
    atomic_store(&loop->spin_us, usec);
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
    loop->awake = 0;
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
