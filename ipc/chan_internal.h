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

/* The map entry under `id` if it still holds `fd`: removed and returned. */
int ipc__chan_map_take_if(const char *id, int fd);

#endif
