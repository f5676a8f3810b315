/* Unit tests for the event loop and the IO thread: task order, delayed tasks,
 * quit, posting from other threads, and parking around fork(). */
#include "testutil.h"

#include "ipc/errors.h"
#include "ipc/loop.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if defined(__SANITIZE_THREAD__)
/* The fork test starts a thread in a child of a multi-threaded process, which
 * is what restart_after_fork is for; TSan would otherwise refuse it. */
const char *__tsan_default_options(void);
const char *__tsan_default_options(void)
{
    return "die_after_fork=0";
}
#endif

typedef struct rec {
    int seen[4096];
    int n;
    ipc_loop *loop;
    int quit_at; /* quit once this many tasks ran (0: never) */
} rec;

typedef struct rec_arg {
    rec *r;
    int v;
} rec_arg;

static void record_task(void *arg)
{
    rec_arg *a = arg;
    a->r->seen[a->r->n++] = a->v;
    if (a->r->quit_at && a->r->n == a->r->quit_at)
        ipc_loop_quit(a->r->loop);
}

START_TEST(loop_tasks_run_in_post_order)
{
    ipc_loop *loop;
    ck_assert_int_eq(ipc_loop_new(&loop), 0);
    static rec r;
    static rec_arg args[100];
    r.n = 0;
    r.loop = loop;
    r.quit_at = 100;
    for (int i = 0; i < 100; i++) {
        args[i] = (rec_arg){&r, i};
        ck_assert_int_eq(ipc_loop_post(loop, record_task, &args[i]), 0);
    }
    ck_assert_int_eq(ipc_loop_run(loop), 0);
    ck_assert_int_eq(r.n, 100);
    for (int i = 0; i < 100; i++)
        ck_assert_int_eq(r.seen[i], i);
    ck_assert_ptr_eq(ipc_loop_current(), loop);
    ck_assert(ipc_loop_on_thread(loop));
    ipc_loop_free(loop);
    ck_assert_ptr_null(ipc_loop_current());
}
END_TEST

START_TEST(loop_quit_stops_after_current_task)
{
    ipc_loop *loop;
    ck_assert_int_eq(ipc_loop_new(&loop), 0);
    static rec r;
    static rec_arg args[10];
    r.n = 0;
    r.loop = loop;
    r.quit_at = 3;
    for (int i = 0; i < 10; i++) {
        args[i] = (rec_arg){&r, i};
        ipc_loop_post(loop, record_task, &args[i]);
    }
    ck_assert_int_eq(ipc_loop_run(loop), 0);
    ck_assert_int_eq(r.n, 3);
    /* The rest is still queued and runs next time, in order. */
    r.quit_at = 10;
    ck_assert_int_eq(ipc_loop_run(loop), 0);
    ck_assert_int_eq(r.n, 10);
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(r.seen[i], i);
    ipc_loop_free(loop);
}
END_TEST

static void repost_task(void *arg)
{
    rec_arg *a = arg;
    a->r->seen[a->r->n++] = a->v;
    if (a->v < 50) {
        a->v++;
        ipc_loop_post(a->r->loop, repost_task, a);
    } else {
        ipc_loop_quit(a->r->loop);
    }
}

START_TEST(loop_task_posts_task)
{
    ipc_loop *loop;
    ck_assert_int_eq(ipc_loop_new(&loop), 0);
    static rec r;
    r.n = 0;
    r.loop = loop;
    static rec_arg a;
    a = (rec_arg){&r, 0};
    ipc_loop_post(loop, repost_task, &a);
    ck_assert_int_eq(ipc_loop_run(loop), 0);
    ck_assert_int_eq(r.n, 51);
    ipc_loop_free(loop);
}
END_TEST

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

typedef struct delay_rec {
    ipc_loop *loop;
    double fired_at;
    int order[3];
    int n;
} delay_rec;

static delay_rec dr;
static void delayed_a(void *arg)
{
    (void)arg;
    dr.order[dr.n++] = 1;
    dr.fired_at = now_ms();
    ipc_loop_quit(dr.loop);
}
static void immediate_b(void *arg)
{
    (void)arg;
    dr.order[dr.n++] = 2;
}

START_TEST(loop_delayed_never_early)
{
    ipc_loop *loop;
    ck_assert_int_eq(ipc_loop_new(&loop), 0);
    dr = (delay_rec){.loop = loop};
    double t0 = now_ms();
    ck_assert_int_eq(ipc_loop_post_delayed(loop, delayed_a, NULL, 40), 0);
    ck_assert_int_eq(ipc_loop_post(loop, immediate_b, NULL), 0);
    ck_assert_int_eq(ipc_loop_run(loop), 0);
    ck_assert_int_eq(dr.n, 2);
    ck_assert_int_eq(dr.order[0], 2);
    ck_assert_int_eq(dr.order[1], 1);
    ck_assert(dr.fired_at - t0 >= 39.0);
    ipc_loop_free(loop);
}
END_TEST

static void never_called(void *arg)
{
    (void)arg;
    ck_abort_msg("a dropped task ran");
}

START_TEST(loop_free_drops_pending_tasks)
{
    rig_fd_mark();
    ipc_loop *loop;
    ck_assert_int_eq(ipc_loop_new(&loop), 0);
    ipc_loop_post(loop, never_called, NULL);
    ipc_loop_post_delayed(loop, never_called, NULL, 10);
    ipc_loop_free(loop);
    rig_assert_no_leaks();
}
END_TEST

/* ---- cross-thread posting ---- */

#define POSTERS    4
#define PER_POSTER 5000

typedef struct xt {
    ipc_loop *loop;
    atomic_int done_posters;
    int last[POSTERS];
    int count;
    int order_ok;
} xt;

typedef struct xt_item {
    xt *x;
    int poster, seq;
} xt_item;

static void xt_task(void *arg)
{
    xt_item *it = arg;
    xt *x = it->x;
    if (it->seq != x->last[it->poster] + 1)
        x->order_ok = 0;
    x->last[it->poster] = it->seq;
    if (++x->count == POSTERS * PER_POSTER)
        ipc_loop_quit(x->loop);
}

typedef struct poster_arg {
    xt *x;
    int id;
    xt_item *items;
} poster_arg;

static void *poster_main(void *arg)
{
    poster_arg *p = arg;
    for (int i = 0; i < PER_POSTER; i++) {
        p->items[i] = (xt_item){p->x, p->id, i};
        while (ipc_loop_post(p->x->loop, xt_task, &p->items[i]) != 0)
            ;
    }
    return NULL;
}

START_TEST(loop_cross_thread_posting_keeps_order_per_thread)
{
    static xt x;
    ck_assert_int_eq(ipc_loop_new(&x.loop), 0);
    x.count = 0;
    x.order_ok = 1;
    for (int i = 0; i < POSTERS; i++)
        x.last[i] = -1;
    pthread_t th[POSTERS];
    poster_arg pa[POSTERS];
    for (int i = 0; i < POSTERS; i++) {
        pa[i] = (poster_arg){&x, i, calloc(PER_POSTER, sizeof(xt_item))};
        ck_assert_int_eq(pthread_create(&th[i], NULL, poster_main, &pa[i]), 0);
    }
    ck_assert_int_eq(ipc_loop_run(x.loop), 0);
    for (int i = 0; i < POSTERS; i++)
        pthread_join(th[i], NULL);
    ck_assert_int_eq(x.count, POSTERS * PER_POSTER);
    ck_assert(x.order_ok);
    for (int i = 0; i < POSTERS; i++)
        free(pa[i].items);
    ipc_loop_free(x.loop);
}
END_TEST

/* ---- the IO thread ---- */

typedef struct ping {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int hits;
    int on_io;
    ipc_loop *io_loop;
} ping;

static void ping_task(void *arg)
{
    ping *p = arg;
    pthread_mutex_lock(&p->mu);
    p->hits++;
    p->on_io = ipc_loop_on_thread(p->io_loop) && ipc_loop_current() == p->io_loop;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

static int ping_io(ping *p, ipc_loop *io_loop, int want)
{
    p->io_loop = io_loop;
    if (ipc_loop_post(io_loop, ping_task, p) != 0)
        return -1;
    pthread_mutex_lock(&p->mu);
    while (p->hits < want)
        pthread_cond_wait(&p->cv, &p->mu);
    int ok = p->on_io;
    pthread_mutex_unlock(&p->mu);
    return ok ? 0 : -1;
}

START_TEST(loop_iothread_runs_tasks_on_its_thread)
{
    ipc_iothread *io;
    ck_assert_int_eq(ipc_iothread_start(&io), 0);
    ck_assert(!ipc_loop_on_thread(ipc_iothread_loop(io)));
    static ping p = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, NULL};
    ck_assert_int_eq(ping_io(&p, ipc_iothread_loop(io), 1), 0);
    ck_assert_int_eq(ping_io(&p, ipc_iothread_loop(io), 2), 0);
    ipc_iothread_stop(io);
}
END_TEST

/* Runs last: with CK_FORK=no (valgrind) a default IO thread left running would
 * be inherited, dead, by the fork test's child. */
START_TEST(loop_iothread_default_is_shared)
{
    ipc_iothread *d = ipc_iothread_default();
    ck_assert_ptr_nonnull(d);
    ck_assert_ptr_eq(ipc_iothread_default(), d);
    static ping p = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, NULL};
    ck_assert_int_eq(ping_io(&p, ipc_iothread_loop(d), 1), 0);
}
END_TEST

static void set_flag(void *arg)
{
    atomic_store((atomic_int *)arg, 1);
}

START_TEST(loop_iothread_park_fork_restart)
{
    rig_fd_mark();
    ipc_iothread *io;
    ck_assert_int_eq(ipc_iothread_start(&io), 0);
    ck_assert_int_eq(ipc_iothread_park(io), 0);
    ck_assert_int_eq(ipc_iothread_park(io), IPC_E_STATE);
    /* Posted while parked: must not run until unparked (parent) or restarted
     * (child), and must then run in both. */
    static atomic_int flag;
    atomic_store(&flag, 0);
    ipc_loop_post(ipc_iothread_loop(io), set_flag, &flag);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        if (ipc_iothread_restart_after_fork(io) != 0)
            _exit(10);
        static ping p = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, NULL};
        if (ping_io(&p, ipc_iothread_loop(io), 1) != 0)
            _exit(11);
        if (!atomic_load(&flag))
            _exit(12);
        ipc_iothread_stop(io);
        _exit(0);
    }
    ck_assert_int_eq(atomic_load(&flag), 0);
    ipc_iothread_unpark(io);
    static ping p = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, NULL};
    ck_assert_int_eq(ping_io(&p, ipc_iothread_loop(io), 1), 0);
    ck_assert_int_eq(atomic_load(&flag), 1);
    ck_assert_int_eq(rig_wait(pid), 0);
    ipc_iothread_stop(io);
    rig_assert_no_leaks();
}
END_TEST

START_TEST(loop_run_once_returns)
{
    ipc_loop *loop;
    ck_assert_int_eq(ipc_loop_new(&loop), 0);
    static rec r;
    static rec_arg a;
    r.n = 0;
    a = (rec_arg){&r, 7};
    ck_assert_int_eq(ipc_loop_run_once(loop, 0), 0);
    ck_assert_int_eq(ipc_loop_run_once(loop, 5), 0);
    ipc_loop_post(loop, record_task, &a);
    ck_assert_int_eq(ipc_loop_run_once(loop, -1), 0);
    ck_assert_int_eq(r.n, 1);
    ipc_loop_free(loop);
}
END_TEST

static Suite *loop_suite(void)
{
    Suite *s = suite_create("loop");
    RIG_TCASE(s, "loop_tasks_run_in_post_order", loop_tasks_run_in_post_order, 10);
    RIG_TCASE(s, "loop_quit_stops_after_current_task", loop_quit_stops_after_current_task, 10);
    RIG_TCASE(s, "loop_task_posts_task", loop_task_posts_task, 10);
    RIG_TCASE(s, "loop_delayed_never_early", loop_delayed_never_early, 10);
    RIG_TCASE(s, "loop_free_drops_pending_tasks", loop_free_drops_pending_tasks, 10);
    RIG_TCASE(s, "loop_cross_thread_posting_keeps_order_per_thread",
              loop_cross_thread_posting_keeps_order_per_thread, 30);
    RIG_TCASE(s, "loop_iothread_runs_tasks_on_its_thread", loop_iothread_runs_tasks_on_its_thread,
              10);
    RIG_TCASE(s, "loop_iothread_park_fork_restart", loop_iothread_park_fork_restart, 20);
    RIG_TCASE(s, "loop_run_once_returns", loop_run_once_returns, 10);
    RIG_TCASE(s, "loop_iothread_default_is_shared", loop_iothread_default_is_shared, 10);
    return s;
}

int main(int argc, char **argv)
{
    return rig_test_main(argc, argv, loop_suite, NULL);
}
