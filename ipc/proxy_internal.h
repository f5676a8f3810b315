/* ChannelProxy internals shared by proxy.c (delivery, filters, close) and
 * sync.c (synchronous sends and the IO-thread side of reply matching). */
#ifndef IPC_PROXY_INTERNAL_H
#define IPC_PROXY_INTERNAL_H

#include "ipc/proxy.h"
#include "loop_internal.h"

#include <pthread.h>
#include <stdatomic.h>

/* One thing for the listener, in arrival order. */
typedef enum { EV_MSG, EV_CONNECTED, EV_ERROR, EV_BAD } ipc__ev_kind;

typedef struct ipc__ev {
    ipc__ev_kind kind;
    int err;
    uint32_t type;
    pid_t pid;
    ipc_msg *msg;
} ipc__ev;

typedef struct ipc__ev_vec {
    ipc__ev *v;
    size_t n, cap;
} ipc__ev_vec;

/* A thread blocked in ipc_proxy_send_sync(). Lives on that thread's stack. */
typedef struct ipc__sync_waiter {
    uint32_t txn;
    int done;
    int err;
    ipc_msg *reply;
    pthread_cond_t cv;
    struct ipc__sync_waiter *prev, *next;
} ipc__sync_waiter;

struct ipc_proxy {
    atomic_int refs;
    ipc_chan *chan;
    ipc_loop *ioloop;
    ipc_loop *lloop;
    ipc_listener listener;
    void *lctx;
    ipc_side side;

    /* IO thread only (and the listener's thread in a read of its own). */
    ipc_filter *filters;
    size_t nfilters, filters_cap;
    ipc__ev_vec batch; /* gathered during one read, posted at its end */
    char bad_name[128];
    int direct_ok; /* IO thread: no filter: the listener may read itself */

    /* Listener thread only: its own watch of the socket (direct mode). */
    struct event *lrev;
    int lfd; /* a duplicate of the socket, for the listener's epoll set */
    ipc__idle_hook idle_hook;

    pthread_mutex_t mu;
    pthread_cond_t cv;
    ipc__ev_vec inq;   /* posted to the listener, not yet taken */
    ipc__ev_vec spare; /* a drained buffer kept for reuse */
    int posted;        /* a delivery task is queued on the listener loop */
    int io_closed;     /* the IO thread has let go of the channel */
    ipc__sync_waiter *waiters;
    int dead_err;      /* the channel died: every later sync send fails so */
    uint64_t replies_unmatched;

    atomic_int closing; /* ipc_proxy_close started: deliver nothing more */
    atomic_int watch_posted; /* direct mode: a watch was (to be) started */
    atomic_uint next_txn;
};

void ipc__proxy_ref(ipc_proxy *p);
void ipc__proxy_unref(ipc_proxy *p);

/* IO thread: takes a reply whose txn id has IPC_SYNC_TXN_BIT. */
void ipc__sync_take_reply(ipc_proxy *p, ipc_msg *reply);
/* IO thread (or close): wakes every waiter with `err`; later sends fail so. */
void ipc__sync_fail_all(ipc_proxy *p, int err);

#endif
