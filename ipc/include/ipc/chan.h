/* The channel: one end of a socketpair() driven by an IO thread's loop.
 * Server mode creates the pair and registers the client end under a channel id
 * (the seeds' PipeMap); client mode looks the id up (ChannelNameToClientFD) or
 * adopts a given fd. Frames go out with sendmsg/recvmsg and SCM_RIGHTS, from an
 * output queue that batches queued messages into one write.
 * A channel is not thread-safe: only its IO thread calls it, except where a
 * prototype says "any thread". Use ipc_proxy (proxy.h) from other threads. */
#ifndef IPC_CHAN_H
#define IPC_CHAN_H

#include "ipc/frame.h"
#include "ipc/loop.h"
#include "ipc/msg.h"

#include <stdint.h>
#include <sys/types.h>

/* The child's end of its channel to the parent is always this fd. */
#define IPC_CHILD_CHANNEL_FD 3

typedef enum ipc_chan_mode { IPC_CHAN_SERVER, IPC_CHAN_CLIENT } ipc_chan_mode;

/* What a channel (on its IO thread) or a proxy (on its listener's thread)
 * reports. Every member may be NULL. */
typedef struct ipc_listener {
    /* A message arrived. The callee owns `msg`. */
    void (*on_message)(void *ctx, ipc_msg *msg);
    /* The peer said hello: its pid (checked against SO_PEERCRED when that
     * names another process). */
    void (*on_connected)(void *ctx, pid_t peer_pid);
    /* The channel failed or the peer closed it (IPC_E_PEER_CLOSED). Reported
     * once, after every message that arrived before it. */
    void (*on_error)(void *ctx, int err);
    /* A malformed frame: `reason` is the decoder's IPC_E_* code, `name` the
     * message's name or a description of its type. The channel closes after
     * it (on_error follows with the same code). */
    void (*on_bad_message)(void *ctx, int reason, uint32_t type, const char *name);
} ipc_listener;

typedef struct ipc_chan_stats {
    uint64_t msgs_sent;     /* handed to the kernel */
    uint64_t msgs_received; /* decoded from the socket */
    uint64_t bytes_sent;
    uint64_t bytes_received;
    uint64_t fds_sent;
    uint64_t fds_received;
    uint64_t writes; /* sendmsg calls: msgs_sent / writes shows batching */
    uint64_t msgs_dropped_unsent; /* still queued when the channel closed */
    uint64_t replies_unmatched;   /* proxy only: sync replies no waiter wanted */
    uint64_t listener_reads;      /* proxy only: reads done by the listener's own
                                   * thread while idle (docs/channels.md) */
} ipc_chan_stats;

typedef struct ipc_chan ipc_chan;

typedef struct ipc_chan_opts {
    ipc_chan_mode mode;
    const char *channel_id;         /* see the header comment; may be NULL */
    int fd;                         /* client: adopt this fd (-1: look up channel_id) */
    const ipc_listener *listener;   /* copied */
    void *listener_ctx;
    const ipc_frame_limits *limits; /* NULL: defaults with ipc_msg_type_known */
    /* The peer's pid when the creator knows it (a bridge's other end, from
     * its endpoint): the hello must name exactly it, and SO_PEERCRED may then
     * name our parent, the main process that made the pair. 0: unknown. */
    pid_t peer_pid;
} ipc_chan_opts;

/* Creates a channel, not yet connected. Server mode calls ipc_socketpair().
 * Takes opts->fd on success and on failure. Any thread. 0, -errno or
 * IPC_E_NO_CHANNEL (client id not registered). */
int ipc_chan_create(ipc_chan **out, const ipc_chan_opts *opts);
/* Server mode: the client end, still owned by the channel (-1 once taken). */
int ipc_chan_client_fd(const ipc_chan *chan);
/* Server mode: hands the client end to the caller. -1 if already taken. */
int ipc_chan_take_client_fd(ipc_chan *chan);
/* Starts reading and writing on `io` and sends the hello. IO thread. */
int ipc_chan_connect(ipc_chan *chan, ipc_loop *io);
/* Queues `msg` (the channel owns it, also on failure) and writes what the
 * socket takes now. IO thread. 0, IPC_E_CLOSED. */
int ipc_chan_send(ipc_chan *chan, ipc_msg *msg);
/* Stops I/O and closes the socket; queued messages are counted as dropped.
 * No callback runs after it returns. IO thread. */
void ipc_chan_close(ipc_chan *chan);
/* Closes if needed and frees. IO thread (or any thread if never connected). */
void ipc_chan_free(ipc_chan *chan);
void ipc_chan_get_stats(const ipc_chan *chan, ipc_chan_stats *out);
pid_t ipc_chan_peer_pid(const ipc_chan *chan);

/* ---- channel ids (the seeds' PipeMap) ---- */

/* Registers `fd` under `id`; the map owns it until taken. Any thread. 0,
 * IPC_E_EXISTS, -ENOMEM. */
int ipc_chan_map_register(const char *id, int fd);
/* Removes and returns the fd registered under `id` (the caller owns it), or
 * IPC_E_NO_CHANNEL. Any thread. */
int ipc_chan_map_take(const char *id);
/* Closes every registered fd (at exit, or in a child after fork). */
void ipc_chan_map_clear(void);

/* ---- the switchboard hook ---- */

/* Makes a connected pair for channel `id` (may be NULL). 0 or -errno. */
typedef int (*ipc_pair_fn)(const char *id, int fds[2], void *ctx);
/* Every channel pair libipc creates goes through ipc_socketpair(), which calls
 * the installed factory, or socketpair(AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC)
 * when none is. Install before creating channels. */
void ipc_set_pair_factory(ipc_pair_fn fn, void *ctx);
int ipc_socketpair(const char *id, int fds[2]);

#endif
