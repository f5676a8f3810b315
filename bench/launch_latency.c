/* launch_latency: how long it takes until a new process talks to the main
 * process, three ways, measured in the same run and interleaved round by
 * round so that load from elsewhere on the machine hits all three alike:
 *
 *   fork+exec       ipc_host_launch() of a content child that sends Ready
 *                   right after connecting: launch call -> first message;
 *   on-demand fork  NuwaFork to the fork server -> AddNewProcess, and ->
 *                   the new process's first message (its hello, which it
 *                   sends once sandboxed, with its IO thread restarted and
 *                   its channel connected);
 *   spare           a preallocated spare, forked and connected beforehand:
 *                   TurnIntoApp -> Ready.
 *
 * Prints medians (with min and max) and each one's speed-up over fork+exec
 * against its target (on-demand fork >= 2x, spare >= 20x). Speed is reported,
 * never asserted: the exit status only says whether every measurement ran.
 * The binary is also its own children (the content child and the fork
 * server), told apart by libipc's child arguments.
 *
 * Usage: launch_latency [--rounds N] [--quick]. Docs and a recorded run:
 * docs/BENCHMARKS.md, "Launch latency". */
#include "ipc/errors.h"
#include "ipc/host.h"
#include "ipc/nuwa.h"
#include "ipc/protocols/PContent.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#if defined(__SANITIZE_THREAD__)
const char *__tsan_default_options(void);
const char *__tsan_default_options(void)
{
    return "die_after_fork=0";
}
#endif

#define MAX_ROUNDS    1000
#define WARMUP_ROUNDS 3
/* A spare counts as preallocated once it has said hello and then had this
 * long to finish setting up, as B2G's spares have long before an app starts. */
#define SPARE_SETTLE_MS 20
#define STEP_TIMEOUT_MS 20000

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static char self_exe[PATH_MAX];

/* ================= children ================= */

static ipc_loop *child_loop;

static void child_destroyed(void *ctx, ipc_actor *a, ipc_destroy_reason why)
{
    (void)ctx;
    (void)a;
    (void)why;
    ipc_loop_quit(child_loop);
}

/* The fork+exec child: connects, says Ready at once, waits for Goodbye. */
static int run_exec_child(const ipc_child_info *info)
{
    static const ipc_actor_ops ops = {.actor_destroy = child_destroyed};
    ipc_conn *conn = NULL;
    ipc_actor *actor = NULL;
    ipc_msg *m = NULL;
    ipc_PContent_Ready r = {.pid = (int32_t)getpid()};
    int rc = ipc_loop_new(&child_loop);
    if (rc == 0)
        rc = ipc_host_child_conn(child_loop, info->channel_fd, "content", &conn);
    if (rc == 0)
        rc = ipc_actor_new(&actor, &ipc_PContent_protocol, IPC_SIDE_CHILD, &ops, NULL);
    if (rc == 0)
        rc = ipc_conn_bind(conn, actor);
    if (rc == 0)
        rc = ipc_PContent_Ready_build(&m, IPC_ROUTING_CONTROL, &r);
    if (rc == 0)
        rc = ipc_actor_send(actor, m);
    if (rc == 0)
        ipc_loop_run(child_loop);
    ipc_conn_free(conn);
    ipc_actor_unref(actor);
    if (child_loop) {
        ipc_loop_run_once(child_loop, 0);
        ipc_loop_free(child_loop);
    }
    return rc ? 1 : 0;
}

static ipc_nuwa_spare *forked_spare;

static void on_forked(void *ctx, ipc_nuwa_spare *sp)
{
    (void)ctx;
    forked_spare = sp;
}

static void on_quit_spare(void *ctx, ipc_nuwa_spare *sp, ipc_destroy_reason why)
{
    (void)ctx;
    (void)sp;
    (void)why;
    ipc_loop_quit(child_loop);
}

static void on_quit_server(void *ctx, ipc_nuwa_server *srv, ipc_destroy_reason why)
{
    (void)ctx;
    (void)srv;
    (void)why;
    ipc_loop_quit(child_loop);
}

/* The fork server, and after each fork the spare it became. */
static int run_nuwa(const ipc_child_info *info)
{
    ipc_nuwa_server *srv = NULL;
    if (ipc_loop_new(&child_loop) != 0)
        return 1;
    ipc_nuwa_server_opts o = {.loop = child_loop,
                              .channel_fd = info->channel_fd,
                              .main_pid = info->parent_pid,
                              .closed = on_quit_server,
                              .spare = {.forked = on_forked, .closed = on_quit_spare}};
    int rc = ipc_nuwa_server_start(&o, &srv);
    if (rc == 0)
        ipc_loop_run(child_loop);
    ipc_nuwa_spare_free(forked_spare);
    ipc_nuwa_server_free(srv);
    ipc_loop_run_once(child_loop, 0);
    ipc_loop_free(child_loop);
    return rc ? 1 : 0;
}

static int run_child(int argc, char **argv)
{
    ipc_child_info info;
    int rc = ipc_child_init(argc, argv, &info);
    if (rc < 0)
        return info.exit_code;
    rc = strcmp(info.process_type, "nuwa") == 0 ? run_nuwa(&info) : run_exec_child(&info);
    ipc_child_info_dispose(&info);
    return rc;
}

/* ================= main: measurements ================= */

typedef struct bench {
    ipc_loop *loop;
    ipc_nuwa_manager *m;
    int nuwa_running;
    int published, connected, ready, exited; /* events seen */
    pid_t last_pid;                          /* of the last SPARE_PUBLISHED */
    uint64_t t_published;                    /* when it came */
    uint64_t t_ready;                        /* when the last APP_READY came */
    int failed;
} bench;

typedef struct series {
    const char *name;
    uint64_t v[MAX_ROUNDS];
    int n;
} series;

static void on_event(void *ctx, ipc_nuwa_manager *m, const ipc_nuwa_event *ev)
{
    bench *b = ctx;
    (void)m;
    uint64_t t = now_ns();
    switch (ev->kind) {
    case IPC_NUWA_EV_NUWA_RUNNING:
        b->nuwa_running = 1;
        break;
    case IPC_NUWA_EV_SPARE_PUBLISHED:
        b->published++;
        b->last_pid = ev->pid;
        b->t_published = t;
        break;
    case IPC_NUWA_EV_SPARE_CONNECTED:
        b->connected++;
        break;
    case IPC_NUWA_EV_APP_READY:
        b->ready++;
        b->t_ready = t;
        break;
    case IPC_NUWA_EV_EXITED:
        b->exited++;
        break;
    case IPC_NUWA_EV_NUWA_FAILED:
    case IPC_NUWA_EV_NUWA_EXITED:
    case IPC_NUWA_EV_BAD_SENDER:
        b->failed = 1;
        break;
    default:
        break;
    }
}

/* Runs the loop until *counter reaches want; 0 or IPC_E_TIMEOUT. */
static int pump(bench *b, const int *counter, int want)
{
    uint64_t end = now_ns() + (uint64_t)STEP_TIMEOUT_MS * 1000000u;
    while (*counter < want && !b->failed && now_ns() < end)
        ipc_loop_run_once(b->loop, 5);
    return *counter >= want ? 0 : IPC_E_TIMEOUT;
}

static void idle(bench *b, int ms)
{
    uint64_t end = now_ns() + (uint64_t)ms * 1000000u;
    while (now_ns() < end)
        ipc_loop_run_once(b->loop, 1);
}

/* Closes a spare or an app and waits until it has exited, so rounds do not
 * overlap. */
static int close_app(bench *b, pid_t pid)
{
    int want = b->exited + 1;
    int rc = ipc_nuwa_manager_close_process(b->m, pid);
    return rc ? rc : pump(b, &b->exited, want);
}

/* ---- fork+exec ---- */

typedef struct exec_run {
    uint64_t t_first;
    int got_ready, exited, launch_err;
} exec_run;

static int on_exec_ready(void *ctx, ipc_msg *msg, ipc_PContent_Ready *in,
                         ipc_PContent_Ready_reply *out)
{
    exec_run *x = ctx;
    (void)msg;
    (void)in;
    (void)out;
    x->t_first = now_ns();
    x->got_ready = 1;
    return 0;
}

static const ipc_msgmap_entry exec_map[] = {IPC_HANDLER(PContent, Ready, on_exec_ready)};

static void on_exec_launched(void *ctx, ipc_host *h, int err)
{
    exec_run *x = ctx;
    (void)h;
    if (err) {
        x->launch_err = err;
        x->exited = 1;
    }
}

static void on_exec_exited(void *ctx, ipc_host *h, const ipc_crash_info *info, const char *path)
{
    exec_run *x = ctx;
    (void)h;
    (void)info;
    (void)path;
    x->exited = 1;
}

static int measure_exec(bench *b, uint64_t *out)
{
    static const ipc_actor_ops ops = {.map = exec_map, .map_len = IPC_MSGMAP_LEN(exec_map)};
    const char *argv[] = {self_exe, NULL};
    exec_run x = {0};
    ipc_host_opts ho = {.loop = b->loop,
                        .label = "content",
                        .ready = on_exec_launched,
                        .exited = on_exec_exited,
                        .ctx = &x};
    ipc_proc_opts_init(&ho.proc);
    ho.proc.path = self_exe;
    ho.proc.argv = argv;
    ho.proc.process_type = "content";
    ipc_host *h = NULL;
    ipc_actor *a = NULL;
    uint64_t t0 = now_ns();
    int rc = ipc_host_launch(&ho, &h);
    if (rc == 0)
        rc = ipc_actor_new(&a, &ipc_PContent_protocol, IPC_SIDE_PARENT, &ops, &x);
    if (rc == 0)
        rc = ipc_conn_bind(ipc_host_conn(h), a);
    if (rc == 0)
        rc = pump(b, &x.got_ready, 1);
    if (rc == 0) {
        *out = x.t_first - t0;
        ipc_actor_close(a);
        rc = pump(b, &x.exited, 1);
    }
    if (x.launch_err)
        rc = x.launch_err;
    ipc_host_free(h); /* kills and reaps it if it still runs */
    ipc_actor_unref(a);
    return rc;
}

/* ---- the fork server ---- */

/* Runs the loop until a spare's hello has arrived; the loop returns as soon
 * as it has run what woke it, so the time is taken within microseconds. */
static int pump_hello(bench *b, uint64_t *t)
{
    uint64_t end = now_ns() + (uint64_t)STEP_TIMEOUT_MS * 1000000u;
    while (ipc_nuwa_manager_connected_spares(b->m) == 0 && !b->failed && now_ns() < end)
        ipc_loop_run_once(b->loop, 1);
    *t = now_ns();
    return ipc_nuwa_manager_connected_spares(b->m) ? 0 : IPC_E_TIMEOUT;
}

/* NuwaFork -> AddNewProcess, and -> the new process's first message (its
 * hello, sent once it is set up: sandboxed, IO thread restarted, channel
 * connected). */
static int measure_on_demand(bench *b, uint64_t *to_add, uint64_t *to_first)
{
    int pub = b->published + 1;
    uint64_t t0 = now_ns(), t_hello;
    int rc = ipc_nuwa_manager_request_fork(b->m);
    if (rc == 0)
        rc = pump(b, &b->published, pub);
    if (rc == 0)
        rc = pump_hello(b, &t_hello);
    if (rc)
        return rc;
    *to_add = b->t_published - t0;
    *to_first = t_hello - t0;
    return close_app(b, b->last_pid);
}

/* Forks the next spare and lets it settle before it is measured. */
static int prepare_spare(bench *b)
{
    int conn = b->connected + 1;
    int rc = ipc_nuwa_manager_request_fork(b->m);
    if (rc == 0)
        rc = pump(b, &b->connected, conn);
    if (rc == 0)
        idle(b, SPARE_SETTLE_MS);
    return rc;
}

static int measure_spare(bench *b, uint64_t *out)
{
    int ready = b->ready + 1;
    pid_t pid = 0;
    uint64_t t0 = now_ns();
    int rc = ipc_nuwa_manager_take_spare(b->m, "spare", &pid);
    if (rc == 0)
        rc = pump(b, &b->ready, ready);
    if (rc)
        return rc;
    *out = b->t_ready - t0;
    return close_app(b, pid);
}

/* ---- the run ---- */

static int start_manager(bench *b)
{
    static const char *argv[] = {self_exe, NULL};
    ipc_nuwa_manager_opts o;
    ipc_nuwa_manager_opts_init(&o);
    o.loop = b->loop;
    o.nuwa.path = self_exe;
    o.nuwa.argv = argv;
    o.spares = 0; /* forks on demand only: each figure controls its own */
    o.delay_ms = 0;
    o.replace_delay_ms = 0;
    o.on_event = on_event;
    o.ctx = b;
    int rc = ipc_nuwa_manager_start(&o, &b->m);
    return rc ? rc : pump(b, &b->nuwa_running, 1);
}

static void add(series *s, uint64_t v, int warm)
{
    if (warm && s->n < MAX_ROUNDS)
        s->v[s->n++] = v;
}

/* One round: the spare prepared last round, fork+exec, on-demand, and the
 * next spare (prepared last so that no other spare exists during the
 * on-demand figure). */
static int round_once(bench *b, series *s, int warm)
{
    uint64_t v, w;
    int rc = measure_spare(b, &v);
    if (rc)
        return fprintf(stderr, "spare: %s\n", ipc_strerror(rc)), rc;
    add(&s[3], v, warm);
    if ((rc = measure_exec(b, &v)) != 0)
        return fprintf(stderr, "fork+exec: %s\n", ipc_strerror(rc)), rc;
    add(&s[0], v, warm);
    if ((rc = measure_on_demand(b, &v, &w)) != 0)
        return fprintf(stderr, "on-demand fork: %s\n", ipc_strerror(rc)), rc;
    add(&s[1], v, warm);
    add(&s[2], w, warm);
    if ((rc = prepare_spare(b)) != 0)
        return fprintf(stderr, "preparing a spare: %s\n", ipc_strerror(rc)), rc;
    return 0;
}

static int cmp_u64(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, c = *(const uint64_t *)y;
    return a < c ? -1 : a > c;
}

static double median_us(series *s)
{
    qsort(s->v, (size_t)s->n, sizeof s->v[0], cmp_u64);
    return s->n ? (double)s->v[s->n / 2] / 1e3 : 0;
}

static void report(series *s, int rounds)
{
    struct utsname u;
    uname(&u);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    double load[1] = {-1};
    if (getloadavg(load, 1) != 1)
        load[0] = -1;
    printf("launch latency: median of %d rounds (after %d warm-up), %s %s, %ld cpu(s), load "
           "average %.2f\n",
           rounds, WARMUP_ROUNDS, u.sysname, u.machine, cpus, load[0]);
    double base = 0;
    static const double target[] = {0, 0, 2, 20};
    for (int i = 0; i < 4; i++) {
        double med = median_us(&s[i]);
        double lo = s[i].n ? (double)s[i].v[0] / 1e3 : 0;
        double hi = s[i].n ? (double)s[i].v[s[i].n - 1] / 1e3 : 0;
        if (i == 0)
            base = med;
        printf("  %-46s %9.1f us  (min %8.1f, max %8.1f)", s[i].name, med, lo, hi);
        if (i > 0 && med > 0) {
            printf("  %5.1fx", base / med);
            if (target[i] > 0)
                printf(" (target >= %.0fx: %s)", target[i],
                       base / med >= target[i] ? "met" : "MISSED");
        }
        printf("\n");
    }
}

static int parse(int argc, char **argv, int *rounds)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            *rounds = 5;
        } else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
            *rounds = atoi(argv[++i]);
            if (*rounds < 1 || *rounds > MAX_ROUNDS)
                return -1;
        } else {
            return -1;
        }
    }
    return 0;
}

static int run(int rounds)
{
    static bench b;
    static series s[4] = {{"fork+exec (launch -> first message)", {0}, 0},
                          {"on-demand fork (NuwaFork -> AddNewProcess)", {0}, 0},
                          {"on-demand fork (NuwaFork -> first message)", {0}, 0},
                          {"preallocated spare (TurnIntoApp -> Ready)", {0}, 0}};
    int rc = ipc_loop_new(&b.loop);
    if (rc == 0)
        rc = start_manager(&b);
    if (rc == 0)
        rc = prepare_spare(&b);
    for (int i = 0; rc == 0 && i < WARMUP_ROUNDS + rounds; i++)
        rc = round_once(&b, s, i >= WARMUP_ROUNDS);
    if (rc == 0)
        report(s, rounds);
    else
        fprintf(stderr, "launch_latency: a measurement failed: %s\n", ipc_strerror(rc));
    if (b.m) {
        ipc_nuwa_manager_shutdown(b.m);
        uint64_t end = now_ns() + (uint64_t)STEP_TIMEOUT_MS * 1000000u;
        while (!ipc_nuwa_manager_done(b.m) && now_ns() < end)
            ipc_loop_run_once(b.loop, 5);
        ipc_nuwa_manager_free(b.m);
    }
    if (b.loop) {
        ipc_loop_run_once(b.loop, 0);
        ipc_loop_free(b.loop);
    }
    return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "-ipcChild") == 0)
            return run_child(argc, argv);
    int rounds = 30;
    if (parse(argc, argv, &rounds) != 0) {
        fprintf(stderr, "usage: launch_latency [--rounds N] [--quick]\n");
        return 2;
    }
    ssize_t n = readlink("/proc/self/exe", self_exe, sizeof self_exe - 1);
    if (n <= 0)
        return 1;
    self_exe[n] = '\0';
    setvbuf(stdout, NULL, _IOLBF, 0);
    return run(rounds);
}
