/* Unit tests for how a loop is woken (ipc/loop.c): posts that find the loop
 * awake write no eventfd and must still run, posts racing with the loop going
 * to sleep must never be lost, and the optional spin before sleeping must
 * stop for tasks and for quit. With and without spinning. */
#include "testutil.h"

#include "ipc/loop.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define CHECK(x) ck_assert(x)

static void count_task(void *arg)
{
    atomic_fetch_add((atomic_int *)arg, 1);
}

typedef struct poster {
    ipc_loop *loop;
    atomic_int *counter;
    atomic_int go;
    int n;
} poster;

static void *post_n(void *arg)
{
    poster *p = arg;
    while (!atomic_load(&p->go))
        ;
    for (int i = 0; i < p->n; i++)
        CHECK(ipc_loop_post(p->loop, count_task, p->counter) == 0);
    return NULL;
}

START_TEST(loopwake_post_while_awake_runs_on_next_run_once)
{
    /* After running a task the loop counts as awake: a post from another
     * thread then writes no eventfd, and the next run_once, blocking or not,
     * must still find it. */
    ipc_loop *loop;
    CHECK(ipc_loop_new(&loop) == 0);
    static atomic_int n;
    atomic_store(&n, 0);
    CHECK(ipc_loop_post(loop, count_task, &n) == 0);
    CHECK(ipc_loop_run_once(loop, 0) == 0);
    CHECK(atomic_load(&n) == 1);
    for (int round = 0; round < 200; round++) {
        poster p = {.loop = loop, .counter = &n, .n = 1};
        atomic_store(&p.go, 1);
        pthread_t th;
        CHECK(pthread_create(&th, NULL, post_n, &p) == 0);
        pthread_join(th, NULL);
        /* Blocking on odd rounds: it must not sleep past the posted task. */
        CHECK(ipc_loop_run_once(loop, round & 1 ? -1 : 0) == 0);
        CHECK(atomic_load(&n) == round + 2);
    }
    ipc_loop_free(loop);
}
END_TEST

typedef struct pinger {
    ipc_loop *mine, *other;
    struct pinger *peer;
} pinger;

static atomic_int remaining;

static void ping_task(void *arg)
{
    pinger *p = arg;
    if (atomic_fetch_sub(&remaining, 1) == 1) {
        ipc_loop_quit(p->mine);
        ipc_loop_quit(p->other);
        return;
    }
    CHECK(ipc_loop_post(p->other, ping_task, p->peer) == 0);
}

static void *run_loop(void *arg)
{
    CHECK(ipc_loop_run(arg) == 0);
    return NULL;
}

/* Two loops on two threads hand a token back and forth; every hand-off
 * races with the other loop going to sleep. A lost wakeup hangs the test. */
static void ping_pong(unsigned spin_us, int trips)
{
    ipc_loop *a, *b;
    CHECK(ipc_loop_new(&a) == 0);
    CHECK(ipc_loop_new(&b) == 0);
    ipc_loop_set_spin(a, spin_us);
    ipc_loop_set_spin(b, spin_us);
    static pinger pa, pb;
    pa = (pinger){.mine = a, .other = b, .peer = &pb};
    pb = (pinger){.mine = b, .other = a, .peer = &pa};
    atomic_store(&remaining, trips);
    pthread_t th;
    CHECK(pthread_create(&th, NULL, run_loop, b) == 0);
    CHECK(ipc_loop_post(a, ping_task, &pa) == 0);
    CHECK(ipc_loop_run(a) == 0);
    pthread_join(th, NULL);
    CHECK(atomic_load(&remaining) == 0);
    ipc_loop_free(a);
    ipc_loop_free(b);
}

START_TEST(loopwake_ping_pong_without_spin)
{
    ping_pong(0, 20000);
}
END_TEST

START_TEST(loopwake_ping_pong_with_spin)
{
    ping_pong(50, 20000);
}
END_TEST

START_TEST(loopwake_many_posters_none_lost)
{
    /* Four threads post while the loop runs, sleeps and spins: every task
     * runs exactly once. */
    for (unsigned spin = 0; spin <= 100; spin += 100) {
        ipc_loop *loop;
        CHECK(ipc_loop_new(&loop) == 0);
        ipc_loop_set_spin(loop, spin);
        static atomic_int n;
        atomic_store(&n, 0);
        enum { T = 4, PER = 5000 };
        poster p[T];
        pthread_t th[T];
        for (int i = 0; i < T; i++) {
            p[i] = (poster){.loop = loop, .counter = &n, .n = PER};
            atomic_store(&p[i].go, 1);
            CHECK(pthread_create(&th[i], NULL, post_n, &p[i]) == 0);
        }
        while (atomic_load(&n) < T * PER)
            CHECK(ipc_loop_run_once(loop, -1) == 0);
        for (int i = 0; i < T; i++)
            pthread_join(th[i], NULL);
        CHECK(ipc_loop_run_once(loop, 0) == 0);
        CHECK(atomic_load(&n) == T * PER);
        ipc_loop_free(loop);
    }
}
END_TEST

static void *quit_later(void *arg)
{
    usleep(20 * 1000);
    ipc_loop_quit(arg);
    return NULL;
}

START_TEST(loopwake_quit_stops_a_spinning_loop)
{
    /* A loop that spins a long time before sleeping still returns on quit,
     * and a timed run_once still returns with nothing to do. */
    ipc_loop *loop;
    CHECK(ipc_loop_new(&loop) == 0);
    ipc_loop_set_spin(loop, 1000 * 1000);
    for (int i = 0; i < 3; i++) {
        pthread_t th;
        CHECK(pthread_create(&th, NULL, quit_later, loop) == 0);
        CHECK(ipc_loop_run(loop) == 0);
        pthread_join(th, NULL);
    }
    CHECK(ipc_loop_run_once(loop, 5) == 0);
    ipc_loop_free(loop);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("loopwake");
    RIG_TCASE(s, "awake_post", loopwake_post_while_awake_runs_on_next_run_once, 20);
    RIG_TCASE(s, "ping_pong", loopwake_ping_pong_without_spin, 60);
    RIG_TCASE(s, "ping_pong_spin", loopwake_ping_pong_with_spin, 60);
    RIG_TCASE(s, "many_posters", loopwake_many_posters_none_lost, 60);
    RIG_TCASE(s, "quit_spinning", loopwake_quit_stops_a_spinning_loop, 20);
    return s;
}

int main(int argc, char **argv)
{
    return rig_test_main(argc, argv, suite, NULL);
}
