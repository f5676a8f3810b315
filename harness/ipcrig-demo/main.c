/* ipcrig-demo's entry point: parses the command line, and plays the main
 * process, or, when started by libipc as a child (-ipcChild ...), the role
 * its process type names: "demo" or "content". */
#include "demo.h"

#include "ipc/errors.h"
#include "ipc/log.h"
#include "ipc/proc.h"

#include <dirent.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage_text[] =
    "usage: ipcrig-demo [--from main|content] [--no-sentinel] [--busy-main] [--crash-demo]\n"
    "                   [--crash-dir DIR] [--timeout SECONDS]\n"
    "\n"
    "Runs the Gecko Demo sample: main launches a Demo process (PDemo), bridges a\n"
    "PDemoHelpline channel between the requester and the demo, the requester asks\n"
    "for assistance, and everything shuts down cleanly.\n"
    "\n"
    "  --from main      main asks for assistance itself (default)\n"
    "  --from content   a content process asks main to launch the demo\n"
    "                   (PContent::LaunchDemoProcess) and talks to it directly\n"
    "  --no-sentinel    the demo closes PDemo without EmptyMessageQueue (the\n"
    "                   seed's bug: InitCrashReporter may be lost)\n"
    "  --busy-main      with --from content: main's thread stays busy until the\n"
    "                   demo sends EmptyMessageQueue or Goodbye, which makes the\n"
    "                   --no-sentinel loss certain\n"
    "  --crash-demo     the demo aborts when asked for assistance\n"
    "  --crash-dir DIR  where crash reports go (default: $IPC_CRASH_DIR)\n"
    "  --timeout S      main's watchdog (default 30 s)\n"
    "\n"
    "IPC_LOG=PDemo,PDemoHelpline logs every message (IPC_LOG_FILE: to a file).\n"
    "Exit status: 0 every process ended with NormalShutdown and no message was\n"
    "lost; 1 usage or setup error; 2 a process crashed or ended abnormally;\n"
    "3 clean shutdown but messages were lost; 4 timeout.\n";

static int parse_timeout(const char *s, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < 1 || v > 3600)
        return -1;
    *out = (int)v;
    return 0;
}

/* Main's command line. 0, or -1 after printing what is wrong. */
static int parse_main_args(int argc, char **argv, rig_opts *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--from") == 0 && next) {
            if (strcmp(next, "main") != 0 && strcmp(next, "content") != 0) {
                fprintf(stderr, "ipcrig-demo: --from takes main or content, not \"%s\"\n", next);
                return -1;
            }
            o->from_content = strcmp(next, "content") == 0;
            i++;
        } else if (strcmp(a, "--no-sentinel") == 0) {
            o->no_sentinel = 1;
        } else if (strcmp(a, "--busy-main") == 0) {
            o->busy_main = 1;
        } else if (strcmp(a, "--crash-demo") == 0) {
            o->crash_demo = 1;
        } else if (strcmp(a, "--crash-dir") == 0 && next) {
            o->crash_dir = next;
            i++;
        } else if (strcmp(a, "--timeout") == 0 && next) {
            if (parse_timeout(next, &o->timeout_s) != 0) {
                fprintf(stderr, "ipcrig-demo: --timeout takes 1..3600 seconds, not \"%s\"\n", next);
                return -1;
            }
            i++;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage_text, stdout);
            exit(0);
        } else {
            fprintf(stderr, "ipcrig-demo: unknown or incomplete option \"%s\"\n\n%s", a,
                    usage_text);
            return -1;
        }
    }
    if (o->busy_main && !o->from_content) {
        fprintf(stderr, "ipcrig-demo: --busy-main needs --from content (with --from main, main "
                        "itself must answer the demo)\n");
        return -1;
    }
    return 0;
}

/* A child's own arguments, before libipc's: the flags main passed on. */
static void parse_child_args(int app_argc, char **argv, rig_opts *o)
{
    for (int i = 1; i < app_argc; i++) {
        if (strcmp(argv[i], "--no-sentinel") == 0)
            o->no_sentinel = 1;
        else if (strcmp(argv[i], "--crash-demo") == 0)
            o->crash_demo = 1;
        else if (strcmp(argv[i], "--crash-dir") == 0 && i + 1 < app_argc)
            o->crash_dir = argv[++i];
    }
}

/* Open fds of this process (main only: the sandbox hides /proc from
 * children), or -1. */
static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n - 1; /* the directory's own */
}

static int is_child(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "-ipcChild") == 0)
            return 1;
    return 0;
}

static int run_child(rig_app *app, int argc, char **argv)
{
    ipc_child_info info;
    /* The sandbox refuses open(): IPC_LOG_FILE must be opened before it. */
    ipc_log_any();
    int rc = ipc_child_init(argc, argv, &info); /* sandbox applied from here on */
    if (rc < 0) {
        fprintf(stderr, "ipcrig-demo child %d: start-up failed: %s\n", (int)getpid(),
                ipc_strerror(rc));
        _exit(info.exit_code);
    }
    parse_child_args(info.app_argc, argv, &app->opts);
    app->type = strcmp(info.process_type, "demo") == 0      ? "demo"
                : strcmp(info.process_type, "content") == 0 ? "content"
                                                            : NULL;
    int code = RIG_EXIT_USAGE;
    if (!app->type)
        fprintf(stderr, "ipcrig-demo child %d: no role for process type \"%s\"\n", (int)getpid(),
                info.process_type);
    else if (ipc_loop_new(&app->loop) != 0)
        fprintf(stderr, "ipcrig-demo child %d: no event loop\n", (int)getpid());
    else
        code = strcmp(app->type, "demo") == 0 ? rig_demo_process(app, &info)
                                              : rig_content_process(app, &info);
    ipc_child_info_dispose(&info);
    return code;
}

int main(int argc, char **argv)
{
    static char self[PATH_MAX];
    rig_app app;
    memset(&app, 0, sizeof app);
    app.pid = getpid();
    app.opts.timeout_s = 30;
    /* Writes to a closed stdout must not kill a process mid-shutdown. */
    signal(SIGPIPE, SIG_IGN);
    int code;
    if (is_child(argc, argv)) {
        code = run_child(&app, argc, argv);
    } else {
        app.type = "main";
        if (parse_main_args(argc, argv, &app.opts) != 0)
            return RIG_EXIT_USAGE;
        if (!app.opts.crash_dir)
            app.opts.crash_dir = getenv("IPC_CRASH_DIR");
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
        if (n <= 0) {
            perror("ipcrig-demo: readlink /proc/self/exe");
            return RIG_EXIT_USAGE;
        }
        self[n] = '\0';
        app.self_exe = self;
        /* What lives as long as the process (the IO thread, the log file)
         * is there before the count; everything else must be gone after. */
        ipc_iothread_default();
        ipc_log_any();
        int fds_before = count_fds();
        if (ipc_loop_new(&app.loop) != 0) {
            fprintf(stderr, "ipcrig-demo: no event loop\n");
            return RIG_EXIT_USAGE;
        }
        code = rig_main_process(&app);
        ipc_loop_run_once(app.loop, 0); /* lets freed proxies release themselves */
        ipc_loop_free(app.loop);
        int fds_after = count_fds();
        rig_say(&app, "open fds: %d before the run, %d after", fds_before, fds_after);
        if (fds_after != fds_before) {
            rig_err(&app, "fd leak: %d fds open before the run, %d after", fds_before, fds_after);
            if (code == RIG_EXIT_CLEAN || code == RIG_EXIT_LOST)
                code = RIG_EXIT_ABNORMAL;
        }
        rig_say(&app, "result: %s; exit status %d", rig_result_text(code), code);
        return code;
    }
    if (app.loop) {
        ipc_loop_run_once(app.loop, 0);
        ipc_loop_free(app.loop);
    }
    return code;
}
