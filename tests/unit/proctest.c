/* Helpers for the process-layer tests (see proctest.h). */
#include "proctest.h"

#include "testutil.h"

#include "ipc/errors.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

void rig_proc_prepare(rig_proc_launch *l, const char *helper, const char *arg, const char *type,
                      int chan)
{
    ipc_proc_opts_init(&l->opts);
    l->argv[0] = rig_self_exe();
    l->argv[1] = "--helper";
    l->argv[2] = helper;
    l->argv[3] = arg;
    l->argv[4] = NULL;
    l->opts.path = rig_self_exe();
    l->opts.argv = l->argv;
    l->opts.process_type = type;
    l->opts.channel_fd = chan;
}

void rig_proc_child_init(int argc, char **argv, ipc_child_info *info)
{
    int rc = ipc_child_init(argc, argv, info);
    if (rc < 0) {
        fprintf(stderr, "helper %s: ipc_child_init: %s\n", argv[0], ipc_strerror(rc));
        _exit(info->exit_code);
    }
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int wait_readable(int fd, long long deadline)
{
    struct pollfd p = {fd, POLLIN, 0};
    for (;;) {
        long long left = deadline - now_ms();
        int r = poll(&p, 1, left > 0 ? (int)left : 0);
        if (r < 0 && errno == EINTR)
            continue;
        return r;
    }
}

ssize_t rig_read_for(int fd, void *buf, size_t len, int timeout_ms)
{
    long long deadline = now_ms() + timeout_ms;
    size_t got = 0;
    while (got < len) {
        int r = wait_readable(fd, deadline);
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        ssize_t n = read(fd, (char *)buf + got, len - got);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        got += (size_t)n;
    }
    return (ssize_t)got;
}

ssize_t rig_read_until(int fd, char *buf, size_t len, char stop, int timeout_ms)
{
    long long deadline = now_ms() + timeout_ms;
    size_t got = 0;
    while (got < len) {
        int r = wait_readable(fd, deadline);
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        ssize_t n = read(fd, buf + got, 1);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0)
            return n < 0 ? -1 : (ssize_t)got;
        if (buf[got++] == stop)
            break;
    }
    return (ssize_t)got;
}

int rig_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int same_name(const char *a, const char *b)
{
    size_t n = strcspn(b, "=");
    return strncmp(a, b, n) == 0 && a[n] == '=';
}

char **rig_env_with(const char *const *extra)
{
    size_t n = 0, m = 0;
    while (environ[n])
        n++;
    while (extra && extra[m])
        m++;
    char **env = calloc(n + m + 1, sizeof *env);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int replaced = 0;
        for (size_t j = 0; j < m; j++)
            replaced |= same_name(environ[i], extra[j]);
        if (!replaced)
            env[k++] = strdup(environ[i]);
    }
    for (size_t j = 0; j < m; j++)
        env[k++] = strdup(extra[j]);
    env[k] = NULL;
    return env;
}

void rig_env_free(char **env)
{
    for (size_t i = 0; env && env[i]; i++)
        free(env[i]);
    free(env);
}

char **rig_env_raw_signals(void)
{
    char asan[512], tsan[512];
    const char *a = getenv("ASAN_OPTIONS"), *t = getenv("TSAN_OPTIONS");
    snprintf(asan, sizeof asan, "ASAN_OPTIONS=%s%shandle_segv=0:handle_abort=0", a ? a : "",
             a && *a ? ":" : "");
    snprintf(tsan, sizeof tsan, "TSAN_OPTIONS=%s%shandle_segv=0:handle_abort=0", t ? t : "",
             t && *t ? ":" : "");
    const char *extra[] = {asan, tsan, NULL};
    return rig_env_with(extra);
}

char *rig_tempdir(void)
{
    const char *tmp = getenv("TMPDIR");
    char buf[512];
    snprintf(buf, sizeof buf, "%s/ipcrig-proc.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    char *d = mkdtemp(buf);
    return d ? strdup(d) : NULL;
}

void rig_rmdir_all(char *dir)
{
    if (!dir)
        return;
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char path[1024];
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            unlink(path);
        }
        closedir(d);
    }
    rmdir(dir);
    free(dir);
}

char *rig_slurp(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    size_t cap = 65536;
    char *buf = malloc(cap + 1);
    ssize_t n = buf ? rig_read_for(fd, buf, cap, 1000) : -1;
    close(fd);
    if (n < 0) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    if (len)
        *len = (size_t)n;
    return buf;
}
