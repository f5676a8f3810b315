/* ipcrig-b2g as a child: the fork server (process type "nuwa") and, after
 * each fork, the app process it became (spare until TurnIntoApp). */
#include "b2g.h"

#include "ipc/errors.h"
#include "ipc/nuwa.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

typedef struct child_state {
    ipc_loop *loop;
    ipc_nuwa_server *srv;
    ipc_nuwa_spare *spare; /* set in a forked process */
    char who[IPC_NUWA_APP_NAME_MAX + 16];
} child_state;

static void on_forked(void *ctx, ipc_nuwa_spare *spare)
{
    child_state *s = ctx;
    s->spare = spare;
    snprintf(s->who, sizeof s->who, "spare");
    rig_b2g_say(s->who, "forked from nuwa %d: IO thread restarted, channel to main connected",
                (int)getppid());
}

static int on_become_app(void *ctx, ipc_nuwa_spare *spare, const char *app_name)
{
    child_state *s = ctx;
    (void)spare;
    snprintf(s->who, sizeof s->who, "%s", app_name);
    rig_b2g_say(s->who, "TurnIntoApp: now %s, answering Ready", app_name);
    return 0;
}

static void on_spare_closed(void *ctx, ipc_nuwa_spare *spare, ipc_destroy_reason why)
{
    child_state *s = ctx;
    (void)spare;
    rig_b2g_say(s->who, "channel to main closed (%s): exiting", ipc_destroy_reason_name(why));
    ipc_loop_quit(s->loop);
}

static void on_server_closed(void *ctx, ipc_nuwa_server *srv, ipc_destroy_reason why)
{
    child_state *s = ctx;
    ipc_nuwa_server_stats st;
    ipc_nuwa_server_get_stats(srv, &st);
    rig_b2g_say("nuwa", "channel to main closed (%s): %zu child(ren) left to reap, exiting",
                ipc_destroy_reason_name(why), st.children);
    ipc_loop_quit(s->loop);
}

static int run_nuwa(ipc_child_info *info)
{
    static child_state s;
    int rc = ipc_loop_new(&s.loop);
    if (rc)
        return RIG_B2G_EXIT_FAIL;
    ipc_nuwa_server_opts o = {.loop = s.loop,
                              .channel_fd = info->channel_fd,
                              .main_pid = info->parent_pid,
                              .closed = on_server_closed,
                              .ctx = &s,
                              .spare = {.forked = on_forked,
                                        .become_app = on_become_app,
                                        .closed = on_spare_closed,
                                        .ctx = &s}};
    rc = ipc_nuwa_server_start(&o, &s.srv);
    if (rc) {
        fprintf(stderr, "ipcrig-b2g nuwa: %s\n", ipc_strerror(rc));
        ipc_loop_free(s.loop);
        return RIG_B2G_EXIT_FAIL;
    }
    rig_b2g_say("nuwa", "fork server ready (parent %d, sandbox nuwa)", (int)info->parent_pid);
    ipc_loop_run(s.loop);
    /* The loop returns in the fork server and in every process it forked. */
    int forked = !ipc_nuwa_server_is_fork_server(s.srv);
    ipc_nuwa_spare_free(s.spare);
    ipc_nuwa_server_stats st;
    ipc_nuwa_server_get_stats(s.srv, &st);
    size_t left = st.children;
    ipc_nuwa_server_stop(s.srv); /* the fork server reaps what is left here */
    ipc_nuwa_server_get_stats(s.srv, &st);
    ipc_nuwa_server_free(s.srv);
    ipc_loop_run_once(s.loop, 0);
    ipc_loop_free(s.loop);
    if (forked)
        return RIG_B2G_EXIT_OK;
    rig_b2g_say("nuwa",
                "forked %llu, reaped %llu (%zu at exit), abnormal exits %llu, fork "
                "failures %llu",
                (unsigned long long)st.forks, (unsigned long long)st.reaped, left,
                (unsigned long long)st.abnormal_exits, (unsigned long long)st.fork_failures);
    return st.abnormal_exits || st.fork_failures ? RIG_B2G_EXIT_FAIL : RIG_B2G_EXIT_OK;
}

int rig_b2g_child(int argc, char **argv)
{
    ipc_child_info info;
    int rc = ipc_child_init(argc, argv, &info);
    if (rc < 0) {
        fprintf(stderr, "ipcrig-b2g child: %s\n", ipc_strerror(rc));
        return info.exit_code;
    }
    for (int i = 1; i < info.app_argc; i++)
        if (strcmp(argv[i], "--quiet") == 0)
            rig_b2g_quiet = 1;
    if (strcmp(info.process_type, "nuwa") != 0) {
        fprintf(stderr, "ipcrig-b2g: unexpected process type %s\n", info.process_type);
        ipc_child_info_dispose(&info);
        return RIG_B2G_EXIT_FAIL;
    }
    rc = run_nuwa(&info);
    ipc_child_info_dispose(&info);
    return rc;
}
