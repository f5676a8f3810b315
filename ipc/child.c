/* The child's start-up (Gecko's XRE_InitChildProcess and ProcessChild::Init):
 * parse libipc's arguments, pause for a debugger when asked, check the build
 * id, read the prefs, map the crash-info page and apply the sandbox. */
#include "ipc/proc.h"

#include "ipc/endpoint.h"
#include "ipc/errors.h"
#include "ipc/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_BUILD_ID    128u
#define MAX_FD_NUMBER   (1 << 20)
#define DEFAULT_PAUSE_S 30u
#define MAX_PAUSE_S     86400u

/* ---- argument parsing (pure) ---- */

static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
    unsigned long v = 0;
    if (!s || !*s || (s[0] == '0' && s[1]))
        return IPC_E_PARAM; /* empty or a leading zero */
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return IPC_E_PARAM;
        v = v * 10 + (unsigned long)(*s - '0');
        if (v > max)
            return IPC_E_PARAM;
    }
    *out = v;
    return 0;
}

static int parse_fixed_fd(const char *s, int want, int *out)
{
    unsigned long v;
    if (parse_uint(s, MAX_FD_NUMBER, &v) < 0 || v != (unsigned long)want)
        return IPC_E_PARAM;
    *out = want;
    return 0;
}

static int parse_fd_list(const char *s, ipc_child_args *a)
{
    char num[16];
    a->nfds = 0;
    while (*s) {
        size_t n = strcspn(s, ",");
        unsigned long v;
        if (n == 0 || n >= sizeof num || a->nfds >= IPC_PROC_MAX_FDS)
            return IPC_E_PARAM;
        memcpy(num, s, n);
        num[n] = '\0';
        if (parse_uint(num, MAX_FD_NUMBER, &v) < 0)
            return IPC_E_PARAM;
        a->fds[a->nfds++] = (int)v;
        s += n;
        if (*s == ',' && !*++s)
            return IPC_E_PARAM; /* trailing comma */
    }
    return a->nfds ? 0 : IPC_E_PARAM;
}

static int check_build_id(const char *s)
{
    size_t n = strnlen(s, MAX_BUILD_ID + 1);
    if (n == 0 || n > MAX_BUILD_ID)
        return IPC_E_PARAM;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
            return IPC_E_PARAM;
    return 0;
}

static int check_type(const char *s)
{
    size_t n = strnlen(s, IPC_CRASH_TYPE_MAX);
    if (n == 0 || n >= IPC_CRASH_TYPE_MAX)
        return IPC_E_PARAM;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-' ||
              s[i] == '_'))
            return IPC_E_PARAM;
    return 0;
}

enum {
    K_PID = 1 << 0,
    K_BUILD = 1 << 1,
    K_TYPE = 1 << 2,
    K_CHAN = 1 << 3,
    K_PREFS = 1 << 4,
    K_PREFSLEN = 1 << 5,
    K_CRASH = 1 << 6,
    K_FDS = 1 << 7,
};

static int parse_one(ipc_child_args *a, const char *key, const char *val, unsigned *seen)
{
    static const struct {
        const char *name;
        unsigned bit;
    } keys[] = {{"-parentPid", K_PID},         {"-parentBuildId", K_BUILD},
                {"-processType", K_TYPE},      {"-channelFd", K_CHAN},
                {"-prefsHandle", K_PREFS},     {"-prefsLen", K_PREFSLEN},
                {"-crashInfoHandle", K_CRASH}, {"-fds", K_FDS}};
    unsigned bit = 0;
    unsigned long v;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0] && !bit; i++)
        if (strcmp(key, keys[i].name) == 0)
            bit = keys[i].bit;
    if (!bit || (*seen & bit))
        return IPC_E_PARAM;
    *seen |= bit;
    switch (bit) {
    case K_PID:
        if (parse_uint(val, 0x7fffffff, &v) < 0 || v == 0)
            return IPC_E_PARAM;
        a->parent_pid = (pid_t)v;
        return 0;
    case K_BUILD:
        a->build_id = val;
        return check_build_id(val);
    case K_TYPE:
        a->process_type = val;
        return check_type(val);
    case K_CHAN:
        return parse_fixed_fd(val, IPC_CHILD_CHANNEL_FD, &a->channel_fd);
    case K_PREFS:
        return parse_fixed_fd(val, IPC_CHILD_PREFS_FD, &a->prefs_fd);
    case K_PREFSLEN:
        if (parse_uint(val, IPC_PREFS_MAX_BLOB, &v) < 0)
            return IPC_E_PARAM;
        a->prefs_len = v;
        return 0;
    case K_CRASH:
        return parse_fixed_fd(val, IPC_CHILD_CRASHINFO_FD, &a->crash_fd);
    default:
        return parse_fd_list(val, a);
    }
}

int ipc_child_parse_args(int argc, char *const *argv, ipc_child_args *a)
{
    unsigned seen = 0;
    int i;
    memset(a, 0, sizeof *a);
    a->channel_fd = a->prefs_fd = a->crash_fd = -1;
    for (i = 0; i < argc && argv[i]; i++)
        if (strcmp(argv[i], "-ipcChild") == 0)
            break;
    if (i >= argc || !argv[i])
        return IPC_E_PARAM;
    a->app_argc = i;
    for (i++; i < argc; i += 2) {
        if (!argv[i] || i + 1 >= argc || !argv[i + 1])
            return IPC_E_PARAM;
        int rc = parse_one(a, argv[i], argv[i + 1], &seen);
        if (rc < 0)
            return rc;
    }
    const unsigned required = K_PID | K_BUILD | K_TYPE;
    if ((seen & required) != required || !!(seen & K_PREFS) != !!(seen & K_PREFSLEN))
        return IPC_E_PARAM;
    return 0;
}

/* ---- start-up ---- */

static unsigned pause_seconds(const char *s)
{
    unsigned long v;
    if (s && *s && parse_uint(s, MAX_PAUSE_S, &v) == 0)
        return (unsigned)v;
    return DEFAULT_PAUSE_S;
}

/* MOZ_DEBUG_CHILD_PROCESS / MOZ_DEBUG_CHILD_PAUSE: say who we are, then give
 * a debugger time to attach. */
static void debug_pause(const char *type)
{
    const char *on = getenv("IPC_DEBUG_CHILD_PROCESS");
    const char *secs = getenv("IPC_DEBUG_CHILD_PAUSE");
    int want = (on && *on && strcmp(on, "0") != 0) || (secs && *secs);
    if (!want)
        return;
    unsigned n = pause_seconds(secs);
#ifdef PR_SET_PTRACER
    prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY, 0, 0, 0); /* Yama: let any debugger in */
#endif
    char line[160];
    int len = snprintf(line, sizeof line,
                       "\n\nCHILDCHILDCHILDCHILD (process type %s)\n  debug me @ %d\n\n", type,
                       (int)getpid());
    if (len > 0) {
        ssize_t w =
            write(STDERR_FILENO, line, (size_t)len < sizeof line ? (size_t)len : sizeof line - 1);
        (void)w;
    }
    struct timespec left = {(time_t)n, 0};
    while (nanosleep(&left, &left) < 0 && errno == EINTR)
        ;
}

static int adopt_fd(int fd)
{
    int flags = fcntl(fd, F_GETFD);
    if (flags < 0)
        return IPC_E_PARAM; /* announced but not there */
    /* libipc keeps every fd CLOEXEC: a program this child runs gets none. */
    return fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0 ? -errno : 0;
}

static int map_crash_page(int fd, void **page)
{
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) < 0)
        rc = -errno;
    else if (st.st_size != (off_t)IPC_CRASHINFO_SIZE)
        rc = IPC_E_PARAM; /* mapping past the end would SIGBUS in the handler */
    else if ((*page = mmap(NULL, IPC_CRASHINFO_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) ==
             MAP_FAILED)
        rc = -errno;
    close(fd);
    if (rc < 0)
        *page = NULL;
    return rc;
}

static int fail_with(ipc_child_info *info, int code, int rc)
{
    info->exit_code = code;
    return rc;
}

int ipc_child_init(int argc, char **argv, ipc_child_info *info)
{
    ipc_child_args a;
    int rc;
    memset(info, 0, sizeof *info);
    info->channel_fd = -1;
    if ((rc = ipc_child_parse_args(argc, argv, &a)) < 0)
        return fail_with(info, IPC_CHILD_EXIT_ARGS, rc);
    if (!ipc_sandbox_known(a.process_type))
        return fail_with(info, IPC_CHILD_EXIT_ARGS, IPC_E_PARAM);
    /* Only the main process may create endpoints (endpoint.h). */
    ipc_process_set_role(IPC_ROLE_CHILD);
    debug_pause(a.process_type);
    if (strcmp(a.build_id, ipc_build_id()) != 0) {
        fprintf(stderr, "ipc child %d: parent build id \"%s\" is not ours (\"%s\")\n",
                (int)getpid(), a.build_id, ipc_build_id());
        return fail_with(info, IPC_CHILD_EXIT_BUILD_ID, IPC_E_BUILD_ID);
    }
    info->parent_pid = a.parent_pid;
    snprintf(info->process_type, sizeof info->process_type, "%s", a.process_type);
    info->app_argc = a.app_argc;
    if (a.channel_fd >= 0 && (rc = adopt_fd(a.channel_fd)) < 0)
        return fail_with(info, IPC_CHILD_EXIT_ARGS, rc);
    for (size_t i = 0; i < a.nfds; i++) {
        if (a.fds[i] > 2 && (rc = adopt_fd(a.fds[i])) < 0)
            return fail_with(info, IPC_CHILD_EXIT_ARGS, rc);
        info->fds[i] = a.fds[i];
    }
    info->nfds = a.nfds;
    if (a.prefs_fd >= 0) {
        rc = ipc_prefs_from_fd(&info->prefs, a.prefs_fd, a.prefs_len);
        close(a.prefs_fd);
    } else {
        rc = ipc_prefs_new(&info->prefs);
    }
    if (rc < 0)
        return fail_with(info, IPC_CHILD_EXIT_PREFS, rc);
    if (a.crash_fd >= 0 && (rc = map_crash_page(a.crash_fd, &info->crash_page)) < 0)
        goto fail;
    if ((rc = ipc_sandbox_apply(a.process_type, info->crash_page)) < 0) {
        fprintf(stderr, "ipc child %d: sandbox for %s failed: %s\n", (int)getpid(), a.process_type,
                ipc_strerror(rc));
        info->exit_code = IPC_CHILD_EXIT_SANDBOX;
        goto fail;
    }
    info->channel_fd = a.channel_fd;
    return 0;
fail:
    if (!info->exit_code)
        info->exit_code = IPC_CHILD_EXIT_INIT;
    ipc_prefs_free(info->prefs);
    info->prefs = NULL;
    return rc;
}

void ipc_child_info_dispose(ipc_child_info *info)
{
    ipc_prefs_free(info->prefs);
    info->prefs = NULL;
}
