/* The benchmark harness: clocks, per-round statistics, peer processes (spawned
 * by re-executing this binary, always reaped), the run's temp dir, and a
 * watchdog that kills and reaps every peer and removes the temp dir if a
 * round hangs or the run is interrupted.
 *
 * The Makefile turns every bench/NAME.c into its own program, so the bench headers are
 * parts of the one translation unit ipcbench.c: each is included once and
 * defines static functions. */
#ifndef BENCH_HARNESS_H
#define BENCH_HARNESS_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BENCH_MAX_ROUNDS 64
#define BENCH_MAX_PEERS  16
#define BENCH_MAX_PATHS  16
/* A round (or a peer's exit) that takes longer than this is a hang. */
#define BENCH_WATCHDOG_S      60
#define BENCH_REAP_TIMEOUT_MS 5000
/* A blocking receive or send on a message library that cannot tell a dead
 * peer from a slow one gives up after this long. */
#define BENCH_IO_TIMEOUT_S 20

static uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void bench_sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

/* ---- statistics over the rounds of one measurement ---- */

typedef struct bench_series {
    double v[BENCH_MAX_ROUNDS];
    int n;
} bench_series;

static void bench_series_add(bench_series *s, double v)
{
    if (s->n < BENCH_MAX_ROUNDS)
        s->v[s->n++] = v;
}

static int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The q-quantile (0..1) with linear interpolation; 0 for an empty series. */
static double bench_series_quantile(const bench_series *s, double q)
{
    double sorted[BENCH_MAX_ROUNDS];
    if (s->n == 0)
        return 0;
    memcpy(sorted, s->v, sizeof(double) * (size_t)s->n);
    qsort(sorted, (size_t)s->n, sizeof(double), bench_cmp_double);
    double pos = q * (s->n - 1);
    int lo = (int)pos;
    if (lo >= s->n - 1)
        return sorted[s->n - 1];
    return sorted[lo] + (pos - lo) * (sorted[lo + 1] - sorted[lo]);
}

static double bench_series_median(const bench_series *s)
{
    return bench_series_quantile(s, 0.5);
}

/* Half the interquartile range relative to the median, in percent: the
 * "spread" printed beside every median. */
static double bench_series_spread_pct(const bench_series *s)
{
    double med = bench_series_median(s);
    if (s->n < 2 || med == 0)
        return 0;
    return 50.0 * (bench_series_quantile(s, 0.75) - bench_series_quantile(s, 0.25)) / med;
}

/* ---- peers and the temp dir, tracked so the watchdog can clean up ---- */

static volatile pid_t bench_peers[BENCH_MAX_PEERS];
static char bench_paths[BENCH_MAX_PATHS][128]; /* files in the temp dir */
static char bench_tmpdir[96];
static const char *bench_self_exe = "/proc/self/exe";
static char bench_self_path[4096];

/* Resolves our own path once, so peers re-execute this binary by name (also
 * under valgrind, where /proc/self/exe would name the tool). */
static void bench_resolve_self(void)
{
    ssize_t n = readlink("/proc/self/exe", bench_self_path, sizeof(bench_self_path) - 1);
    if (n > 0) {
        bench_self_path[n] = 0;
        bench_self_exe = bench_self_path;
    }
}

static void bench_track_peer(pid_t pid, int on)
{
    for (int i = 0; i < BENCH_MAX_PEERS; i++) {
        if (on ? bench_peers[i] == 0 : bench_peers[i] == pid) {
            bench_peers[i] = on ? pid : 0;
            return;
        }
    }
}

/* Async-signal-safe: used by the watchdog and on interrupt. */
static void bench_emergency_cleanup(void)
{
    for (int i = 0; i < BENCH_MAX_PEERS; i++) {
        pid_t pid = bench_peers[i];
        if (pid > 0) {
            kill(pid, SIGKILL);
            while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
            }
            bench_peers[i] = 0;
        }
    }
    for (int i = 0; i < BENCH_MAX_PATHS; i++)
        if (bench_paths[i][0])
            unlink(bench_paths[i]);
    if (bench_tmpdir[0])
        rmdir(bench_tmpdir);
}

static void bench_on_fatal_signal(int sig)
{
    static const char hang[] = "ipcbench: watchdog: a round hung; peers killed\n";
    static const char intr[] = "ipcbench: interrupted; peers killed\n";
    if (sig == SIGALRM)
        (void)!write(2, hang, sizeof(hang) - 1);
    else
        (void)!write(2, intr, sizeof(intr) - 1);
    bench_emergency_cleanup();
    _exit(sig == SIGALRM ? 2 : 128 + sig);
}

static void bench_install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = bench_on_fatal_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* Arms (seconds > 0) or disarms (0) the hang watchdog. */
static void bench_watchdog(unsigned seconds)
{
    alarm(seconds);
}

/* Creates the run's temp dir under $TMPDIR (or /tmp). 0 or -errno. */
static int bench_tmpdir_create(void)
{
    const char *base = getenv("TMPDIR");
    if (!base || !*base)
        base = "/tmp";
    int n = snprintf(bench_tmpdir, sizeof(bench_tmpdir), "%s/ipcbench.XXXXXX", base);
    if (n < 0 || (size_t)n >= sizeof(bench_tmpdir)) {
        bench_tmpdir[0] = 0;
        return -ENAMETOOLONG;
    }
    if (!mkdtemp(bench_tmpdir)) {
        int err = -errno;
        bench_tmpdir[0] = 0;
        return err;
    }
    return 0;
}

/* A path `name` inside the temp dir, remembered for cleanup. 0 or -errno. */
static int bench_tmpdir_path(const char *name, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s/%s", bench_tmpdir, name);
    if (n < 0 || (size_t)n >= cap || (size_t)n >= sizeof(bench_paths[0]))
        return -ENAMETOOLONG;
    for (int i = 0; i < BENCH_MAX_PATHS; i++) {
        if (!bench_paths[i][0]) {
            memcpy(bench_paths[i], out, (size_t)n + 1);
            return 0;
        }
    }
    return -ENOSPC;
}

/* Removes everything in the temp dir and the dir itself. */
static void bench_tmpdir_remove(void)
{
    if (!bench_tmpdir[0])
        return;
    DIR *d = opendir(bench_tmpdir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
                unlinkat(dirfd(d), e->d_name, 0);
        }
        closedir(d);
    }
    if (rmdir(bench_tmpdir) < 0)
        fprintf(stderr, "ipcbench: cannot remove %s: %s\n", bench_tmpdir, strerror(errno));
    memset(bench_paths, 0, sizeof(bench_paths));
    bench_tmpdir[0] = 0;
}

/* Starts `self --peer args...` with `child_fd` (if >= 0) at fd 3. The peer
 * dies with us (PR_SET_PDEATHSIG). The caller keeps child_fd. Returns the pid
 * or -errno. */
static pid_t bench_spawn_peer(int child_fd, const char *const *args)
{
    const char *argv[16];
    int n = 0;
    argv[n++] = "ipcbench";
    argv[n++] = "--peer";
    for (int i = 0; args[i] && n < 15; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
        return -errno;
    if (pid == 0) {
        /* Only async-signal-safe calls between fork and exec. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        if (child_fd == 3) {
            if (fcntl(3, F_SETFD, 0) < 0)
                _exit(127);
        } else if (child_fd >= 0 && dup2(child_fd, 3) < 0) {
            _exit(127);
        }
        execv(bench_self_exe, (char *const *)argv);
        _exit(127);
    }
    bench_track_peer(pid, 1);
    return pid;
}

/* Waits up to timeout_ms for the peer, then kills it. Returns its exit code
 * (0-255), 128+signal, or -errno. The peer is reaped in every case. */
static int bench_reap(pid_t pid, int timeout_ms)
{
    int status = 0;
    uint64_t deadline = bench_now_ns() + (uint64_t)timeout_ms * 1000000u;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            break;
        if (r < 0 && errno != EINTR) {
            int err = -errno;
            bench_track_peer(pid, 0);
            return err;
        }
        if (bench_now_ns() > deadline) {
            kill(pid, SIGKILL);
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
            }
            break;
        }
        bench_sleep_ms(1);
    }
    bench_track_peer(pid, 0);
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return 128 + WTERMSIG(status);
}

static int bench_kill_and_reap(pid_t pid)
{
    if (pid > 0)
        kill(pid, SIGKILL);
    return bench_reap(pid, BENCH_REAP_TIMEOUT_MS);
}

/* ---- little-endian fields for the benchmark's own control messages ---- */

static void bench_put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t bench_get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void bench_put_u64(uint8_t *p, uint64_t v)
{
    bench_put_u32(p, (uint32_t)v);
    bench_put_u32(p + 4, (uint32_t)(v >> 32));
}

static uint64_t bench_get_u64(const uint8_t *p)
{
    return (uint64_t)bench_get_u32(p) | (uint64_t)bench_get_u32(p + 4) << 32;
}

#endif
