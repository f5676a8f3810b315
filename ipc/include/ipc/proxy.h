/* ChannelProxy: a channel used from other threads. Sends from any thread go
 * through the channel's output queue on the IO thread; received messages run
 * through the filters on the IO thread, and those no filter consumes reach the
 * listener on its own loop's thread, in order. Synchronous sends block the
 * caller until the matching reply arrives, queueing what arrives meanwhile. */
#ifndef IPC_PROXY_H
#define IPC_PROXY_H

#include "ipc/chan.h"
#include "ipc/loop.h"
#include "ipc/msg.h"

#include <sys/types.h>

/* Which end of the parent/child relation this proxy is. Sync sends from the
 * parent side are refused (IPC_E_SYNC_FROM_PARENT), as both seeds rule. */
typedef enum ipc_side { IPC_SIDE_PARENT, IPC_SIDE_CHILD } ipc_side;

typedef struct ipc_proxy ipc_proxy;

/* A filter runs on the IO thread (the seeds' MessageFilter). */
typedef struct ipc_filter {
    /* Return 1 to consume `msg` (the filter then owns it), 0 to pass it on.
     * It may reply with ipc_proxy_send(). */
    int (*on_message)(void *ctx, ipc_proxy *proxy, ipc_msg *msg);
    void (*on_added)(void *ctx, ipc_proxy *proxy); /* may be NULL */
    void (*on_removed)(void *ctx);                 /* may be NULL; last call */
    void (*on_error)(void *ctx, int err);          /* may be NULL */
    void *ctx;
} ipc_filter;

typedef struct ipc_proxy_opts {
    ipc_chan_mode mode;
    const char *channel_id;
    int fd; /* client: adopt this fd; -1: use channel_id */
    ipc_side side;
    const ipc_listener *listener; /* copied */
    void *listener_ctx;
    ipc_loop *listener_loop; /* the listener's thread; required */
    ipc_iothread *io;        /* NULL: ipc_iothread_default() */
    const ipc_frame_limits *limits;
    /* Filters (copied) installed before the channel reads anything, so they
     * see every message; ipc_proxy_add_filter() may miss the first ones. */
    const ipc_filter *filters;
    size_t nfilters;
    pid_t peer_pid; /* see ipc_chan_opts.peer_pid; 0: unknown */
} ipc_proxy_opts;

/* Creates the channel and connects it on the IO thread. Takes opts->fd on
 * success and on failure. Any thread. */
int ipc_proxy_create(ipc_proxy **out, const ipc_proxy_opts *opts);
/* Sends `msg`; the proxy owns it from now on, also on failure. Any thread.
 * Flow control: a thread other than the IO thread waits here while more than
 * 8 MiB is queued on the channel, until it drains below 4 MiB or the channel
 * closes (docs/channels.md). 0 or IPC_E_CLOSED. */
int ipc_proxy_send(ipc_proxy *proxy, ipc_msg *msg);
/* Transaction ids of synchronous requests have this bit set; ids chosen by
 * others (async requests with returns) must keep it clear. A REPLY whose txn
 * id has it goes to the waiting sender, never to filters or the listener; one
 * no sender waits for is dropped and counted (stats.replies_unmatched). */
#define IPC_SYNC_TXN_BIT 0x80000000u

/* Sends a synchronous request and waits up to timeout_ms (-1: forever) for its
 * reply. Sets the SYNC flag and a fresh txn id. On 0, *reply is the caller's.
 * Takes `request` always. Any thread but the IO thread. Errors:
 * IPC_E_SYNC_FROM_PARENT, IPC_E_TIMEOUT, IPC_E_CLOSED / IPC_E_PEER_CLOSED (the
 * channel died while waiting), IPC_E_REPLY_ERROR (*reply is still set). */
int ipc_proxy_send_sync(ipc_proxy *proxy, ipc_msg *request, ipc_msg **reply, int timeout_ms);
/* Waits until every message sent so far has been written to the socket, so
 * that closing now loses none of them (a Goodbye, say). Any thread but the IO
 * thread. 0, IPC_E_TIMEOUT, IPC_E_CLOSED (closed or the socket failed first),
 * IPC_E_WRONG_THREAD. */
int ipc_proxy_flush(ipc_proxy *proxy, int timeout_ms);
/* Installs a filter (copied) on the IO thread. Any thread. */
int ipc_proxy_add_filter(ipc_proxy *proxy, const ipc_filter *filter);
/* Server mode: hand the client end to the caller (see ipc_chan_take_client_fd).
 * Any thread, before the client end is needed elsewhere. */
int ipc_proxy_take_client_fd(ipc_proxy *proxy);
pid_t ipc_proxy_peer_pid(const ipc_proxy *proxy);
void ipc_proxy_get_stats(const ipc_proxy *proxy, ipc_chan_stats *out);
/* Closes the channel and waits until the IO thread has let go of it. No
 * listener callback runs after it returns. Listener thread. */
void ipc_proxy_close(ipc_proxy *proxy);
/* Closes if needed and frees. Listener thread. */
void ipc_proxy_free(ipc_proxy *proxy);

#endif
