/* Channel internals used by the proxy (proxy.c, sync.c) and the channel map:
 * sending from any thread, a reference count so tasks posted to the IO thread
 * keep a channel alive, and a hook that runs after each read. */
#ifndef IPC_CHAN_INTERNAL_H
#define IPC_CHAN_INTERNAL_H

#include "ipc/chan.h"

/* Queues `msg` (taken always) from any thread. The sender writes to the
 * socket itself when nothing is being written and the channel is not busy
 * streaming; otherwise the IO thread flushes the queue in batches.
 * 0 or IPC_E_CLOSED. */
int ipc__chan_send_any(ipc_chan *chan, ipc_msg *msg);

/* Blocks until everything queued so far has been handed to the kernel. Any
 * thread but the IO thread. 0, IPC_E_TIMEOUT (timeout_ms < 0: none) or
 * IPC_E_CLOSED (the channel closed or its socket failed first). */
int ipc__chan_wait_flushed(ipc_chan *chan, int timeout_ms);

void ipc__chan_ref(ipc_chan *chan);
/* Drops a reference; the last one frees the memory (any thread, once closed
 * or never connected). */
void ipc__chan_unref(ipc_chan *chan);

/* Called on the IO thread after each read event, once every message it
 * decoded has gone to the listener (the proxy posts its batch there). */
void ipc__chan_set_read_done(ipc_chan *chan, void (*fn)(void *ctx), void *ctx);

/* Direct mode: a listener thread that sleeps in its loop may read the socket
 * itself, which saves the IO thread's wakeup and its hand-off to that thread.
 * The IO thread still reads whenever the listener is not idle, and everything
 * but plain messages (the hello, end of stream, errors) is left to it.
 *
 * IO thread: allows it (only for a listener that runs no filters, whose
 * callbacks may run on any thread) or stops it for good. */
void ipc__chan_set_direct(ipc_chan *chan, int on);
/* A duplicate of the socket (CLOEXEC) for the listener's own epoll set; the
 * caller closes it. Any thread. -errno when closed. */
int ipc__chan_dup_fd(ipc_chan *chan);
/* Listener thread: it starts (1) or stops (0) sleeping in its loop, where its
 * epoll set watches that duplicate. */
void ipc__chan_listener_idle(ipc_chan *chan, int idle);
/* Listener thread, when that duplicate is readable: reads and delivers plain
 * messages through the channel's listener (the proxy gathers them; read_done
 * then runs on this thread). 1 when messages were delivered, 0 when none, -1
 * when direct mode is over (closed or stopped): stop watching. */
int ipc__chan_listener_read(ipc_chan *chan);

/* The map entry under `id` if it still holds `fd`: removed and returned. */
int ipc__chan_map_take_if(const char *id, int fd);

#endif
