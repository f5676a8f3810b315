/* The process host (host.h): one child process and the parent side of its
 * top-level connection, glued together so that launch, death, crash reports
 * and bad messages each have one place to happen. */
#include "ipc/host.h"

#include "actor_internal.h"
#include "ipc/errors.h"

#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

struct ipc_host {
    ipc_loop *loop;
    ipc_host_ready_fn ready;
    ipc_host_exit_fn exited_fn;
    void *ctx;
    ipc_conn *conn;
    ipc_proc *proc;
    ipc_crash_ring *ring;
    pid_t pid;
    int launching;  /* the async launch has not called back yet */
    int abandoned;  /* freed while launching: the callback frees */
    int exited;
    int killed;     /* we killed it: not a crash */
    int pidfd;      /* adopted processes */
    struct event *pidev;
    struct event *grace; /* after the death: waits for the channel's end */
    char process_type[IPC_CRASH_TYPE_MAX];
};

/* Crash reports keep the last messages of the channel: name, size, fds. The
 * params are not decoded here (that costs a copy per message); IPC_LOG has
 * them when wanted. */
static void note_message(void *ctx, ipc_conn *c, ipc_conn_event ev, const ipc_msg *msg)
{
    ipc_host *h = ctx;
    (void)c;
    if (ev != IPC_CONN_SENT && ev != IPC_CONN_RECEIVED)
        return;
    char name[IPC_MSG_NAME_MAX];
    char desc[IPC_CRASH_DESC_MAX];
    size_t len;
    ipc_msg_payload(msg, &len);
    ipc_msg_type_name(ipc_msg_type(msg), ipc_msg_flags(msg), name, sizeof name);
    snprintf(desc, sizeof desc, "%s routing=%d txn=%u payload=%zu fds=%zu", name,
             (int)ipc_msg_routing_id(msg), (unsigned)ipc_msg_txn_id(msg), len,
             ipc_msg_num_fds(msg));
    ipc_crash_ring_push(h->ring, ev == IPC_CONN_SENT ? IPC_MSG_SENT : IPC_MSG_RECEIVED, desc);
}

/* Chromium's OnBadMessageReceived: a child that breaks the protocol dies. */
static void on_bad_message(void *ctx, ipc_conn *c, const ipc_msg *msg, int err)
{
    ipc_host *h = ctx;
    (void)msg;
    (void)err;
    ipc_host_kill(h);
    ipc_conn_fail(c, IPC_E_BAD_SENDER);
}

/* How long a dead child's channel may stay open before the host stops
 * waiting for its end of stream (its fd lives on in another process). */
#define EXIT_GRACE_MS 2000

static void on_grace(evutil_socket_t fd, short what, void *arg)
{
    ipc_host *h = arg;
    (void)fd;
    (void)what;
    if (h->conn && !ipc_conn_is_closing(h->conn))
        ipc_conn_fail(h->conn, IPC_E_PEER_CLOSED);
}

static void mark_exited(ipc_host *h, const ipc_crash_info *info, const char *path)
{
    if (h->exited)
        return;
    h->exited = 1;
    /* The death may be seen before the IO thread has read what the child
     * wrote last (its Goodbye: a clean shutdown, not a crash). The channel's
     * end of stream comes after those bytes and decides how the actors end;
     * the death decides only if that end never comes. */
    if (h->conn && !ipc_conn_is_closing(h->conn)) {
        struct timeval tv = {EXIT_GRACE_MS / 1000, (EXIT_GRACE_MS % 1000) * 1000};
        h->grace = evtimer_new(ipc_loop_base(h->loop), on_grace, h);
        if (!h->grace || evtimer_add(h->grace, &tv) != 0)
            ipc_conn_fail(h->conn, IPC_E_PEER_CLOSED);
    }
    if (h->exited_fn)
        h->exited_fn(h->ctx, h, info, path ? path : "");
}

static void on_proc_exit(void *ctx, ipc_proc *proc, const ipc_crash_info *info,
                         const char *report_path)
{
    (void)proc;
    mark_exited(ctx, info, report_path);
}

static int new_host(const ipc_host_opts *opts, ipc_host **out)
{
    *out = NULL;
    if (!opts->loop)
        return -EINVAL;
    ipc_host *h = calloc(1, sizeof *h);
    if (!h)
        return -ENOMEM;
    h->loop = opts->loop;
    h->ready = opts->ready;
    h->exited_fn = opts->exited;
    h->ctx = opts->ctx;
    h->pidfd = -1;
    snprintf(h->process_type, sizeof h->process_type, "%s",
             opts->proc.process_type ? opts->proc.process_type : "child");
    int rc = ipc_crash_ring_new(&h->ring, IPC_CRASH_RING_DEFAULT);
    if (rc != 0) {
        free(h);
        return rc;
    }
    *out = h;
    return 0;
}

static int make_conn(ipc_host *h, const char *label, ipc_chan_mode mode, int fd, pid_t expect)
{
    ipc_conn_opts co = {.proxy = {.mode = mode,
                                  .fd = fd,
                                  .side = IPC_SIDE_PARENT,
                                  .listener_loop = h->loop,
                                  .peer_pid = expect},
                        .label = label};
    int rc = ipc_conn_new(&h->conn, &co);
    if (rc != 0)
        return rc;
    ipc_conn_set_observer(h->conn, note_message, h);
    ipc_conn_set_bad_message_handler(h->conn, on_bad_message, h);
    return 0;
}

static void destroy(ipc_host *h)
{
    if (h->grace)
        event_free(h->grace);
    if (h->pidev)
        event_free(h->pidev);
    if (h->pidfd >= 0)
        close(h->pidfd);
    ipc_proc_free(h->proc); /* kills and reaps a child still running */
    ipc_conn_free(h->conn);
    ipc_crash_ring_unref(h->ring);
    free(h);
}

static void on_launched(void *ctx, const ipc_proc_launch_result *res, ipc_proc *proc)
{
    ipc_host *h = ctx;
    h->launching = 0;
    h->proc = proc;
    if (h->abandoned) {
        destroy(h);
        return;
    }
    int err = res->err;
    if (err == 0) {
        h->pid = ipc_proc_pid(proc);
        if (h->conn)
            ipc__conn_set_peer_pid(h->conn, h->pid);
        err = ipc_proc_watch(proc, h->loop, on_proc_exit, h);
    }
    if (err != 0 && h->conn && !ipc_conn_is_closing(h->conn))
        ipc_conn_fail(h->conn, err);
    if (h->ready)
        h->ready(h->ctx, h, err);
}

int ipc_host_launch(const ipc_host_opts *opts, ipc_host **out)
{
    ipc_host *h;
    int rc = new_host(opts, &h);
    if (rc != 0)
        return rc;
    rc = make_conn(h, opts->label, IPC_CHAN_SERVER, -1, 0);
    if (rc != 0)
        goto fail;
    ipc_proc_opts po = opts->proc;
    po.channel_fd = ipc_conn_take_client_fd(h->conn);
    if (po.channel_fd < 0) {
        rc = IPC_E_STATE;
        goto fail;
    }
    po.ring = h->ring;
    h->launching = 1;
    rc = ipc_proc_launch_async(h->loop, &po, on_launched, h); /* takes channel_fd */
    if (rc != 0) {
        h->launching = 0;
        goto fail;
    }
    *out = h;
    return 0;
fail:
    destroy(h);
    *out = NULL;
    return rc;
}

static void on_pidfd(evutil_socket_t fd, short what, void *arg)
{
    ipc_host *h = arg;
    (void)fd;
    (void)what;
    event_del(h->pidev);
    /* Not our child: the exit status belongs to its real parent. */
    ipc_crash_info info = {.pid = h->pid, .exited = 1, .exit_status = -1, .syscall_nr = -1};
    snprintf(info.process_type, sizeof info.process_type, "%s", h->process_type);
    mark_exited(h, &info, "");
}

int ipc_host_adopt(const ipc_host_opts *opts, pid_t pid, int fd, ipc_host **out)
{
    ipc_host *h;
    int rc = new_host(opts, &h);
    if (rc != 0) {
        close(fd);
        return rc;
    }
    h->pid = pid;
    /* Someone else made the pair (the fork server): the hello must name the
     * process we were told about. */
    rc = make_conn(h, opts->label, IPC_CHAN_CLIENT, fd, pid); /* takes fd */
    if (rc != 0)
        goto fail;
    ipc__conn_set_peer_pid(h->conn, pid);
    h->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (h->pidfd < 0) {
        rc = -errno;
        goto fail;
    }
    h->pidev = event_new(ipc_loop_base(h->loop), h->pidfd, EV_READ, on_pidfd, h);
    if (!h->pidev || event_add(h->pidev, NULL) != 0) {
        rc = -ENOMEM;
        goto fail;
    }
    *out = h;
    return 0;
fail:
    destroy(h);
    *out = NULL;
    return rc;
}

ipc_conn *ipc_host_conn(const ipc_host *h)
{
    return h->conn;
}

pid_t ipc_host_pid(const ipc_host *h)
{
    return h->pid;
}

ipc_proc *ipc_host_proc(const ipc_host *h)
{
    return h->proc;
}

int ipc_host_exited(const ipc_host *h)
{
    return h->exited;
}

int ipc_host_kill(ipc_host *h)
{
    if (h->exited || h->pid <= 0)
        return -ESRCH;
    h->killed = 1;
    if (h->proc)
        return ipc_proc_kill(h->proc, SIGKILL);
    if (h->pidfd >= 0 && syscall(SYS_pidfd_send_signal, h->pidfd, SIGKILL, NULL, 0) == 0)
        return 0;
    return kill(h->pid, SIGKILL) == 0 ? 0 : -errno;
}

void ipc_host_free(ipc_host *h)
{
    if (!h)
        return;
    if (h->launching) {
        /* The launch callback is still to come: it frees the host. */
        h->abandoned = 1;
        ipc_conn_free(h->conn);
        h->conn = NULL;
        return;
    }
    destroy(h);
}

int ipc_host_child_conn(ipc_loop *loop, int channel_fd, const char *label, ipc_conn **out)
{
    ipc_conn_opts co = {.proxy = {.mode = IPC_CHAN_CLIENT,
                                  .fd = channel_fd,
                                  .side = IPC_SIDE_CHILD,
                                  .listener_loop = loop},
                        .label = label};
    int rc = ipc_conn_new(out, &co);
    if (rc == 0)
        ipc__conn_set_peer_pid(*out, getppid()); /* the parent launched us */
    return rc;
}
