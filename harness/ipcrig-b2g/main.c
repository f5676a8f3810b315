/* ipcrig-b2g: command line and process-type dispatch. Without libipc's child
 * arguments it is the main process; with them it is the fork server "nuwa"
 * (and, after each fork, an app process). */
#include "b2g.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__SANITIZE_THREAD__)
/* The fork server starts its IO thread again in every forked child. */
const char *__tsan_default_options(void);
const char *__tsan_default_options(void)
{
    return "die_after_fork=0";
}
#endif

static void usage(FILE *f)
{
    fprintf(f, "usage: ipcrig-b2g [--spares N] [--delay-ms MS] [--replace-delay-ms MS] [--apps K]\n"
               "                  [--timeout-ms MS] [--quiet]\n"
               "\n"
               "B2G's process model on libipc: the main process launches the fork server\n"
               "(nuwa) after a delay, keeps N preallocated spares forked from it, turns K\n"
               "spares into apps one after the other (TurnIntoApp -> Ready, latency\n"
               "printed), then shuts everything down (Close/Goodbye) and reaps it all.\n"
               "\n"
               "  --spares N       spares kept ready (default 1)\n"
               "  --delay-ms MS    before launching the fork server (default 1000)\n"
               "  --replace-delay-ms MS\n"
               "                   after a spare is taken, before its replacement is forked\n"
               "                   (default: the same as --delay-ms)\n"
               "  --apps K         apps to start (default 3)\n"
               "  --timeout-ms MS  give up after this long (default 30000)\n"
               "  --quiet          print only the summary\n"
               "\n"
               "exit status: 0 success, 1 failure, 2 usage error\n");
}

static int parse_num(const char *s, long max, long *out)
{
    char *end;
    errno = 0;
    long v = s ? strtol(s, &end, 10) : -1;
    if (!s || !*s || *end || errno || v < 0 || v > max)
        return -1;
    *out = v;
    return 0;
}

static int parse_args(int argc, char **argv, rig_b2g_opts *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        long v;
        if (strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0) {
            o->quiet = 1;
            continue;
        }
        if (i + 1 >= argc || parse_num(argv[i + 1], 1000000, &v) != 0) {
            fprintf(stderr, "ipcrig-b2g: %s needs a number\n", a);
            return -1;
        }
        i++;
        if (strcmp(a, "--spares") == 0 && v <= 64)
            o->spares = (unsigned)v;
        else if (strcmp(a, "--delay-ms") == 0 && v <= 600000)
            o->delay_ms = (int)v;
        else if (strcmp(a, "--replace-delay-ms") == 0 && v <= 600000)
            o->replace_delay_ms = (int)v;
        else if (strcmp(a, "--apps") == 0 && v <= 1000)
            o->apps = (unsigned)v;
        else if (strcmp(a, "--timeout-ms") == 0 && v > 0)
            o->timeout_ms = (int)v;
        else {
            fprintf(stderr, "ipcrig-b2g: bad option %s %s\n", a, argv[i]);
            return -1;
        }
    }
    if (o->apps > 0 && o->spares == 0) {
        fprintf(stderr, "ipcrig-b2g: apps start from spares: --spares must be at least 1\n");
        return -1;
    }
    return 0;
}

int rig_b2g_quiet;

void rig_b2g_say(const char *who, const char *fmt, ...)
{
    if (rig_b2g_quiet)
        return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    printf("[%s %d] %s\n", who, (int)getpid(), line);
}

pid_t rig_b2g_parent_of(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *rp = strrchr(buf, ')');
    char state;
    int ppid;
    if (!rp || sscanf(rp + 1, " %c %d", &state, &ppid) != 2)
        return -1;
    return (pid_t)ppid;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "-ipcChild") == 0)
            return rig_b2g_child(argc, argv);
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return RIG_B2G_EXIT_OK;
        }
    rig_b2g_opts o = {
        .spares = 1, .delay_ms = 1000, .replace_delay_ms = -1, .apps = 3, .timeout_ms = 30000};
    if (parse_args(argc, argv, &o) != 0) {
        usage(stderr);
        return RIG_B2G_EXIT_USAGE;
    }
    rig_b2g_quiet = o.quiet;
    return rig_b2g_main(&o);
}
