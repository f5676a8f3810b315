/* ipcbench: measures libipc beside a raw blocking socketpair and the two
 * stacks a user would pick instead (ZeroMQ, nng), in the same run, between
 * two real processes, and prints each figure's ratio to the raw baseline and
 * whether libipc meets its target. Speed is reported, never asserted: the exit
 * status only says whether every measurement ran.
 *
 * Rounds of all transports are interleaved (and their order rotated) so that
 * load from other processes on the machine hits every transport alike; each
 * figure is the median of the rounds, with the spread beside it.
 *
 * Usage: ipcbench [--quick] [--rounds N] [--round-ms MS] [--only TRANSPORT,...]
 *                 [--size BYTES] [-v] [--list] [benchmark...]
 * Docs and a recorded run: docs/BENCHMARKS.md. */
#include "harness.h"
#include "tr_libipc.h"
#include "tr_nng.h"
#include "tr_raw.h"
#include "tr_zmq.h"
#include "transport.h"

#include "ipc/errors.h"

#include <sys/utsname.h>

/* Every transport, in table order; --peer finds its peer side by name. */
static const bench_transport *const bench_transports[] = {
    &bench_tr_raw, &bench_tr_zmq, &bench_tr_nng, &bench_tr_libipc, &bench_tr_libipc_filter,
};
#define BENCH_NTRANSPORTS (sizeof(bench_transports) / sizeof(bench_transports[0]))

typedef struct bench_opts {
    int rounds;       /* measured rounds per figure */
    int quick;        /* a smoke run: few, short rounds */
    int round_ms;     /* how long each measured round should take */
    const char *only; /* comma-separated transport names, or NULL for all */
    size_t size;      /* throughput: only this message size (0: all) */
} bench_opts;

static int bench_verbose; /* -v: print every round's figure */

/* A row whose transport --only left out: neither a figure nor a failure. */
#define BENCH_E_SKIPPED (-30000)

static int bench_selected(const bench_opts *o, const bench_transport *tr)
{
    size_t n = strlen(tr->name);
    for (const char *p = o->only; p && *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && !strncmp(p, tr->name, n))
            return 1;
        p = end ? end + 1 : p + len;
    }
    return o->only == NULL;
}

/* What libipc promises for a figure. Ratios compare medians. */
typedef enum bench_target_kind {
    BENCH_T_NONE,
    BENCH_T_MAX_VS_RAW, /* time figures: at most ratio x raw */
    BENCH_T_MIN_VS_RAW, /* rate figures: at least ratio x raw */
    BENCH_T_MIN_VS_ROW, /* rate figures: at least ratio x another row */
} bench_target_kind;

typedef struct bench_target {
    bench_target_kind kind;
    double ratio;
    const char *row; /* BENCH_T_MIN_VS_ROW: that row's transport name */
} bench_target;

/* One transport's figure in one table. */
typedef struct bench_row {
    const bench_transport *tr;
    bench_series s;
    bench_target target;
    uint64_t count;                 /* round trips or messages per round */
    double batch[BENCH_MAX_ROUNDS]; /* messages per write call, when known */
    int err;                        /* first error; the row prints it instead of figures */
} bench_row;

static int bench_targets_met, bench_targets_missed, bench_failures;

static const char *bench_strerror(int err)
{
    static char buf[96];
    if (err <= -BENCH_E_NNG_BASE && err > -BENCH_E_NNG_BASE - 1000)
        return nng_strerror(-err - BENCH_E_NNG_BASE);
    if (err >= 0 && err < 1000) {
        snprintf(buf, sizeof(buf), "peer exited with status %d", err);
        return buf;
    }
    return ipc_strerror(err);
}

static void bench_fill(uint8_t *buf, size_t len, uint64_t seed)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = (uint8_t)(seed * 131 + i * 7);
}

/* ---- connections ---- */

static void bench_conns_open(const bench_opts *o, const bench_transport *const *trs,
                             bench_conn **conns, int *errs, int n)
{
    for (int i = 0; i < n; i++) {
        conns[i] = NULL;
        if (!bench_selected(o, trs[i])) {
            errs[i] = BENCH_E_SKIPPED;
            continue;
        }
        errs[i] = trs[i]->open(trs[i], &conns[i]);
        if (errs[i] < 0) {
            conns[i] = NULL;
            fprintf(stderr, "ipcbench: %s: cannot connect: %s\n", trs[i]->label,
                    bench_strerror(errs[i]));
        }
    }
}

/* Quits and reaps every peer; a peer that did not exit 0 fails its rows. */
static void bench_conns_close(bench_conn **conns, int *errs, int n)
{
    for (int i = 0; i < n; i++) {
        if (!conns[i])
            continue;
        int rc = conns[i]->tr->close(conns[i], errs[i] < 0);
        if (rc != 0 && errs[i] == 0)
            errs[i] = rc > 0 ? rc : -ECHILD;
        conns[i] = NULL;
    }
}

static void bench_conn_fail(bench_conn **conn, int *err, int rc)
{
    *err = rc;
    fprintf(stderr, "ipcbench: %s: %s\n", (*conn)->tr->label, bench_strerror(rc));
    (*conn)->tr->close(*conn, 1);
    *conn = NULL;
}

/* ---- reporting ---- */

static const bench_row *bench_find_row(const bench_row *rows, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(rows[i].tr->name, name))
            return &rows[i];
    return NULL;
}

/* Prints the target cell and counts it. `raw` and `rate` describe the table. */
static void bench_print_target(const bench_row *r, const bench_row *rows, int n,
                               const bench_row *raw)
{
    const bench_target *t = &r->target;
    const bench_row *ref = t->kind == BENCH_T_MIN_VS_ROW ? bench_find_row(rows, n, t->row) : raw;
    char cell[64];
    if (t->kind == BENCH_T_NONE) {
        printf("%s\n", r == raw ? "(baseline)" : "-");
        return;
    }
    if (t->kind == BENCH_T_MAX_VS_RAW)
        snprintf(cell, sizeof(cell), "<= %.2fx raw", t->ratio);
    else if (t->kind == BENCH_T_MIN_VS_RAW)
        snprintf(cell, sizeof(cell), ">= %.2fx raw", t->ratio);
    else
        snprintf(cell, sizeof(cell), ">= %s", ref ? ref->tr->label : t->row);
    if (ref && ref->err == BENCH_E_SKIPPED) {
        printf("%-30s n/a (%s not selected)\n", cell, ref->tr->name);
        return;
    }
    if (r->err || !ref || ref->err || ref->s.n == 0 || r->s.n == 0) {
        printf("%-30s n/a (no figure)\n", cell);
        bench_targets_missed++;
        return;
    }
    double ratio = bench_series_median(&r->s) / bench_series_median(&ref->s);
    int met = t->kind == BENCH_T_MAX_VS_RAW ? ratio <= t->ratio : ratio >= t->ratio;
    printf("%-30s %s\n", cell, met ? "met" : "MISSED");
    if (met)
        bench_targets_met++;
    else
        bench_targets_missed++;
}

/* One table row: median, spread and ratio to raw. `rate` rows also show
 * MB/s for messages of `size` bytes; time rows are in microseconds. */
static void bench_print_rounds(const bench_row *r)
{
    printf("  %24s rounds:", "");
    for (int i = 0; i < r->s.n; i++) {
        printf(" %.4g", r->s.v[i]);
        if (r->batch[i] > 0)
            printf("@%.1f", r->batch[i]);
    }
    printf("%s\n", r->tr->write_stats ? "  (figure@messages per write)" : "");
}

static void bench_print_row(const bench_row *r, const bench_row *rows, int n, const bench_row *raw,
                            int rate, size_t size)
{
    printf("  %-24s", r->tr->label);
    if (r->err == BENCH_E_SKIPPED) {
        printf(" (not selected)\n");
        return;
    }
    if (r->err) {
        printf(" ERROR: %s\n", bench_strerror(r->err));
        bench_failures++;
        if (r->target.kind != BENCH_T_NONE)
            bench_targets_missed++;
        return;
    }
    double med = bench_series_median(&r->s);
    if (rate)
        printf(" %12.0f %9.1f", med, med * (double)size / 1e6);
    else
        printf(" %9.2f", med);
    printf("  +-%4.1f%% %8llu", bench_series_spread_pct(&r->s), (unsigned long long)r->count);
    if (raw && !raw->err && raw->s.n)
        printf(" %7.2fx  ", med / bench_series_median(&raw->s));
    else
        printf(" %7s   ", "n/a");
    bench_print_target(r, rows, n, raw);
    if (bench_verbose)
        bench_print_rounds(r);
}

/* Sizes each transport's rounds from its two warm-up rounds (the second one
 * already sized by the first) so that every round lasts about o->round_ms:
 * slow peers (nng) do not stretch the run and fast ones are still measured
 * over many messages, in steady state. */
static uint64_t bench_calibrate(const bench_opts *o, uint64_t n, uint64_t elapsed_ns, uint64_t lo,
                                uint64_t hi)
{
    double want = (double)n * (double)o->round_ms * 1e6 / (double)(elapsed_ns ? elapsed_ns : 1);
    return want < (double)lo ? lo : want > (double)hi ? hi : (uint64_t)want;
}

/* Messages per write call since `before` (0 when the transport cannot say). */
static double bench_batching(bench_conn *c, const uint64_t before[2])
{
    uint64_t now[2];
    if (!c->tr->write_stats)
        return 0;
    c->tr->write_stats(c, &now[0], &now[1]);
    return now[1] > before[1] ? (double)(now[0] - before[0]) / (double)(now[1] - before[1]) : 0;
}

static void bench_batching_mark(bench_conn *c, uint64_t before[2])
{
    before[0] = before[1] = 0;
    if (c->tr->write_stats)
        c->tr->write_stats(c, &before[0], &before[1]);
}

/* ---- benchmark 1: ping-pong round trip ---- */

#define PP_SIZE 64

static int pp_round(bench_conn *c, uint64_t n, uint64_t seed, uint64_t *elapsed_ns)
{
    uint8_t out[PP_SIZE], in[PP_SIZE];
    bench_ctl echo = {.op = BENCH_OP_ECHO, .size = PP_SIZE, .count = n};
    int rc = c->tr->send_ctl(c, &echo);
    if (rc < 0)
        return rc;
    bench_fill(out, sizeof(out), seed);
    uint64_t t0 = bench_now_ns();
    for (uint64_t i = 0; i < n; i++) {
        bench_put_u64(out, seed + i); /* every reply must be this message's */
        if ((rc = c->tr->send(c, out, sizeof(out))) < 0 ||
            (rc = c->tr->recv(c, in, sizeof(in))) < 0)
            return rc;
        if (memcmp(in, out, sizeof(in)) != 0)
            return -EPROTO;
    }
    *elapsed_ns = bench_now_ns() - t0;
    return 0;
}

static int bench_pingpong(const bench_opts *o)
{
    const bench_transport *trs[] = {&bench_tr_raw, &bench_tr_zmq, &bench_tr_nng, &bench_tr_libipc,
                                    &bench_tr_libipc_filter};
    enum { N = sizeof(trs) / sizeof(trs[0]) };
    bench_row rows[N];
    bench_conn *conns[N];
    int errs[N];
    uint64_t warm = o->quick ? 100 : 500, dt;

    memset(rows, 0, sizeof(rows));
    rows[3].target = (bench_target){BENCH_T_MAX_VS_RAW, 1.6, NULL};
    rows[4].target = (bench_target){BENCH_T_MAX_VS_RAW, 1.2, NULL};
    bench_conns_open(o, trs, conns, errs, N);
    for (int i = 0; i < N; i++) {
        rows[i].count = warm;
        for (int pass = 0; pass < 2 && conns[i]; pass++) {
            bench_watchdog(BENCH_WATCHDOG_S);
            int rc = pp_round(conns[i], rows[i].count, 1, &dt);
            uint64_t c = rc < 0 ? 0 : bench_calibrate(o, rows[i].count, dt, 50, 1000000);
            if (rc < 0)
                bench_conn_fail(&conns[i], &errs[i], rc);
            else /* a load spike during one pass must not shrink the rounds */
                rows[i].count = pass == 0 || c > rows[i].count ? c : rows[i].count;
        }
    }
    for (int r = 0; r < o->rounds; r++) {
        for (int k = 0; k < N; k++) {
            int i = (r + k) % N;
            bench_watchdog(BENCH_WATCHDOG_S);
            if (!conns[i])
                continue;
            uint64_t mark[2];
            bench_batching_mark(conns[i], mark);
            int rc = pp_round(conns[i], rows[i].count, (uint64_t)(r + 2) << 32, &dt);
            if (rc < 0) {
                bench_conn_fail(&conns[i], &errs[i], rc);
                continue;
            }
            rows[i].batch[rows[i].s.n] = bench_batching(conns[i], mark);
            bench_series_add(&rows[i].s, (double)dt / 1e3 / (double)rows[i].count);
        }
    }
    bench_watchdog(BENCH_WATCHDOG_S);
    bench_conns_close(conns, errs, N);
    bench_watchdog(0);

    printf("\nping-pong: round trip of a %d B message between two processes\n", PP_SIZE);
    printf("  median of %d rounds of ~%d ms each (after two warm-up rounds, from %llu trips, that "
           "size them);\n  spread = half the IQR\n",
           o->rounds, o->round_ms, (unsigned long long)warm);
    printf("  %-24s %9s  %7s %8s %8s  %-30s %s\n", "transport", "RTT us", "spread", "trips/rd",
           "vs raw", "target (libipc)", "");
    for (int i = 0; i < N; i++) {
        rows[i].tr = trs[i];
        rows[i].err = errs[i];
    }
    for (int i = 0; i < N; i++)
        bench_print_row(&rows[i], rows, N, &rows[0], 0, 0);
    return 0;
}

/* ---- benchmark 2: one-way throughput ---- */

typedef struct tp_size {
    size_t size;
    uint64_t warm; /* messages in the warm-up round that sizes the others */
    bench_target target;
} tp_size;

static int tp_round(bench_conn *c, size_t size, uint64_t n, uint64_t *elapsed_ns)
{
    static uint8_t buf[BENCH_MAX_MSG];
    bench_ctl sink = {.op = BENCH_OP_SINK, .size = (uint32_t)size, .count = n}, ack;
    int rc = c->tr->send_ctl(c, &sink);
    if (rc < 0)
        return rc;
    bench_fill(buf, size, n);
    uint64_t t0 = bench_now_ns();
    for (uint64_t i = 0; i < n; i++) {
        if ((rc = c->tr->send(c, buf, size)) < 0)
            return rc;
    }
    if ((rc = c->tr->recv_ctl(c, &ack)) < 0)
        return rc;
    *elapsed_ns = bench_now_ns() - t0;
    if (ack.op != BENCH_OP_ACK || ack.count != n || ack.size != size)
        return -EPROTO;
    return 0;
}

static int bench_throughput(const bench_opts *o)
{
    const bench_transport *trs[] = {&bench_tr_raw, &bench_tr_zmq, &bench_tr_nng, &bench_tr_libipc};
    enum { N = sizeof(trs) / sizeof(trs[0]) };
    const tp_size sizes[] = {
        {64, 5000, {BENCH_T_MIN_VS_ROW, 1.0, "zmq"}},
        {4096, 2000, {BENCH_T_MIN_VS_RAW, 0.9, NULL}},
        {65536, 300, {BENCH_T_MIN_VS_RAW, 0.8, NULL}},
    };
    enum { S = sizeof(sizes) / sizeof(sizes[0]) };
    bench_row rows[S][N];
    bench_conn *conns[N];
    int errs[N];
    uint64_t dt;

    memset(rows, 0, sizeof(rows));
    bench_conns_open(o, trs, conns, errs, N);
    for (int s = 0; s < S; s++) {
        uint64_t warm = o->quick ? sizes[s].warm / 10 : sizes[s].warm;
        for (int i = 0; i < N && (!o->size || o->size == sizes[s].size); i++) {
            rows[s][i].count = warm;
            for (int pass = 0; pass < 2 && conns[i]; pass++) {
                bench_watchdog(BENCH_WATCHDOG_S);
                int rc = tp_round(conns[i], sizes[s].size, rows[s][i].count, &dt);
                uint64_t c = rc < 0 ? 0 : bench_calibrate(o, rows[s][i].count, dt, 20, 2000000);
                if (rc < 0)
                    bench_conn_fail(&conns[i], &errs[i], rc);
                else
                    rows[s][i].count = pass == 0 || c > rows[s][i].count ? c : rows[s][i].count;
            }
        }
    }
    for (int r = 0; r < o->rounds; r++) {
        for (int s = 0; s < S; s++) {
            for (int k = 0; k < N && (!o->size || o->size == sizes[s].size); k++) {
                int i = (r + k) % N;
                bench_watchdog(BENCH_WATCHDOG_S);
                if (!conns[i])
                    continue;
                uint64_t n = rows[s][i].count, mark[2];
                bench_batching_mark(conns[i], mark);
                int rc = tp_round(conns[i], sizes[s].size, n, &dt);
                if (rc < 0) {
                    bench_conn_fail(&conns[i], &errs[i], rc);
                    continue;
                }
                rows[s][i].batch[rows[s][i].s.n] = bench_batching(conns[i], mark);
                bench_series_add(&rows[s][i].s, (double)n * 1e9 / (double)dt);
            }
        }
    }
    bench_watchdog(BENCH_WATCHDOG_S);
    bench_conns_close(conns, errs, N);
    bench_watchdog(0);

    printf("\nthroughput: one-way stream between two processes; the receiver counts and "
           "acknowledges the end\n");
    printf("  median of %d rounds of ~%d ms each (after two warm-up rounds that size them); "
           "MB/s = 10^6 payload B/s;\n  spread = half the IQR\n",
           o->rounds, o->round_ms);
    for (int s = 0; s < S; s++) {
        if (o->size && o->size != sizes[s].size)
            continue;
        printf("  -- %zu B messages\n", sizes[s].size);
        printf("  %-24s %12s %9s  %7s %8s %8s  %-30s %s\n", "transport", "msgs/s", "MB/s", "spread",
               "msgs/rd", "vs raw", "target (libipc)", "");
        for (int i = 0; i < N; i++) {
            rows[s][i].tr = trs[i];
            rows[s][i].err = errs[i];
            if (trs[i] == &bench_tr_libipc)
                rows[s][i].target = sizes[s].target;
        }
        for (int i = 0; i < N; i++)
            bench_print_row(&rows[s][i], rows[s], N, &rows[s][0], 1, sizes[s].size);
    }
    return 0;
}

/* ---- the benchmark table ----
 * Add a benchmark here: a name for the command line, a line for --list, and
 * a function that measures, prints its table and counts its targets through
 * bench_print_row(). Launch latency belongs here next: fork+exec vs a
 * fork-server fork (Nuwa) vs handing out a preallocated spare, each timed
 * from the request until the new child's channel says hello. */
typedef struct bench_def {
    const char *name;
    const char *what;
    int (*run)(const bench_opts *o);
} bench_def;

static const bench_def bench_table[] = {
    {"pingpong", "64 B round trip: raw, ZeroMQ, nng, libipc listener and filter", bench_pingpong},
    {"throughput", "one-way 64 B / 4 KiB / 64 KiB: raw, ZeroMQ, nng, libipc", bench_throughput},
    /* Launch latency (fork+exec vs fork-server fork vs preallocated spare)
     * is its own program, bench/launch_latency.c; `make bench` runs both. */
};
#define BENCH_NTABLE (sizeof(bench_table) / sizeof(bench_table[0]))

/* ---- main ---- */

static int bench_peer_main(int argc, char **argv)
{
    if (argc < 1)
        return 2;
    for (size_t i = 0; i < BENCH_NTRANSPORTS; i++)
        if (!strcmp(bench_transports[i]->name, argv[0]))
            return bench_transports[i]->peer_main(bench_transports[i], argc, argv);
    fprintf(stderr, "ipcbench: unknown peer %s\n", argv[0]);
    return 2;
}

/* The 1-minute load average: other work on the machine skews every figure. */
static double bench_loadavg(void)
{
    double l = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &l) != 1)
            l = -1;
        fclose(f);
    }
    return l;
}

static void bench_print_machine(const bench_opts *o)
{
    struct utsname u;
    int zmaj, zmin, zpat;
    uname(&u);
    zmq_version(&zmaj, &zmin, &zpat);
    printf("ipcbench: %ld cpus online, %s %s %s; ZeroMQ %d.%d.%d, nng %s; %d rounds%s; "
           "load average %.2f\n",
           sysconf(_SC_NPROCESSORS_ONLN), u.sysname, u.release, u.machine, zmaj, zmin, zpat,
           nng_version(), o->rounds, o->quick ? " (--quick: figures are not representative)" : "",
           bench_loadavg());
    if (bench_loadavg() > 0.5 * (double)sysconf(_SC_NPROCESSORS_ONLN))
        printf("note: the machine is busy; figures and ratios will scatter more than usual\n");
}

static int bench_usage(void)
{
    fprintf(stderr,
            "usage: ipcbench [--quick] [--rounds N] [--only raw,zmq,nng,libipc,libipc-filter] "
            "[--size 64|4096|65536] [--round-ms MS] [-v] [--list] [benchmark...]\n");
    return 2;
}

int main(int argc, char **argv)
{
    bench_opts o = {.rounds = 21, .round_ms = 100};
    int selected[BENCH_NTABLE] = {0}, any = 0;

    if (argc >= 2 && !strcmp(argv[1], "--peer"))
        return bench_peer_main(argc - 2, argv + 2);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick")) {
            o.quick = 1;
            o.rounds = 3;
            o.round_ms = 10;
        } else if (!strcmp(argv[i], "--rounds") && i + 1 < argc) {
            o.rounds = atoi(argv[++i]);
            if (o.rounds < 1 || o.rounds > BENCH_MAX_ROUNDS)
                return bench_usage();
        } else if (!strcmp(argv[i], "--only") && i + 1 < argc) {
            o.only = argv[++i];
        } else if (!strcmp(argv[i], "--round-ms") && i + 1 < argc) {
            o.round_ms = atoi(argv[++i]);
            if (o.round_ms < 1 || o.round_ms > 5000)
                return bench_usage();
        } else if (!strcmp(argv[i], "--size") && i + 1 < argc) {
            o.size = (size_t)strtoul(argv[++i], NULL, 10);
        } else if (!strcmp(argv[i], "-v")) {
            bench_verbose = 1;
        } else if (!strcmp(argv[i], "--list")) {
            for (size_t k = 0; k < BENCH_NTABLE; k++)
                printf("%-12s %s\n", bench_table[k].name, bench_table[k].what);
            return 0;
        } else {
            size_t k = 0;
            while (k < BENCH_NTABLE && strcmp(argv[i], bench_table[k].name))
                k++;
            if (k == BENCH_NTABLE)
                return bench_usage();
            selected[k] = any = 1;
        }
    }

    bench_install_signals();
    bench_resolve_self();
    int rc = bench_tmpdir_create();
    if (rc < 0) {
        fprintf(stderr, "ipcbench: temp dir: %s\n", strerror(-rc));
        return 1;
    }
    bench_print_machine(&o);
    fflush(stdout);
    uint64_t t0 = bench_now_ns();
    for (size_t k = 0; k < BENCH_NTABLE; k++) {
        if (any && !selected[k])
            continue;
        bench_table[k].run(&o);
        fflush(stdout);
    }
    bench_libipc_shutdown();
    bench_tmpdir_remove();
    printf("\ntargets: %d met, %d MISSED; %d figures failed; %.1f s; load average %.2f\n",
           bench_targets_met, bench_targets_missed, bench_failures,
           (double)(bench_now_ns() - t0) / 1e9, bench_loadavg());
    return bench_failures ? 1 : 0;
}
