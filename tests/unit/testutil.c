/* Shared helpers for the Check unit tests (see testutil.h). */
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char self_exe[PATH_MAX];
static int fd_mark = -1;

const char *rig_self_exe(void)
{
    if (!self_exe[0]) {
        ssize_t n = readlink("/proc/self/exe", self_exe, sizeof self_exe - 1);
        if (n > 0)
            self_exe[n] = '\0';
    }
    return self_exe;
}

int rig_count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the directory stream's own fd */
}

void rig_fd_mark(void)
{
    fd_mark = rig_count_fds();
}

void rig_assert_no_leaks(void)
{
    int now = rig_count_fds();
    ck_assert_msg(fd_mark < 0 || now == fd_mark, "fd leak: %d open at mark, %d now", fd_mark, now);
    int status;
    pid_t p = waitpid(-1, &status, WNOHANG);
    ck_assert_msg(p <= 0, "unreaped child %d", (int)p);
}

pid_t rig_spawn_helper(const char *name, int child_fd, const char *const *args)
{
    const char *exe = rig_self_exe();
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    if (child_fd >= 0 && child_fd != 3) {
        if (dup2(child_fd, 3) < 0)
            _exit(126);
    } else if (child_fd == 3) {
        fcntl(3, F_SETFD, 0);
    }
    int maxfd = (int)sysconf(_SC_OPEN_MAX);
    for (int fd = child_fd >= 0 ? 4 : 3; fd < maxfd && fd < 4096; fd++)
        close(fd);
    char *argv[64];
    int argc = 0;
    argv[argc++] = (char *)exe;
    argv[argc++] = "--helper";
    argv[argc++] = (char *)name;
    for (int i = 0; args && args[i] && argc < 63; i++)
        argv[argc++] = (char *)args[i];
    argv[argc] = NULL;
    execv(exe, argv);
    _exit(127);
}

int rig_wait(pid_t pid)
{
    int status;
    pid_t r;
    do
        r = waitpid(pid, &status, 0);
    while (r < 0 && errno == EINTR);
    if (r < 0)
        return -1;
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return 128 + WTERMSIG(status);
}

int rig_test_main(int argc, char **argv, Suite *(*make_suite)(void), const rig_helper *helpers)
{
    if (argc >= 3 && strcmp(argv[1], "--helper") == 0) {
        for (const rig_helper *h = helpers; h && h->name; h++)
            if (strcmp(h->name, argv[2]) == 0)
                return h->main(argc - 2, argv + 2);
        fprintf(stderr, "unknown helper %s\n", argv[2]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    SRunner *sr = srunner_create(make_suite());
    /* Fork mode by default; CK_FORK=no (valgrind, gdb) runs the cases in
     * this process so the tool sees them. */
    srunner_set_fork_status(sr, getenv("CK_FORK") ? CK_FORK_GETENV : CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
