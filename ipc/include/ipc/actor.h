/* Gecko's actor model on libipc: a connection (Gecko's MessageChannel) carries
 * one top-level actor pair and the managed actors under it, addressed by
 * routing ids. Close() sends Goodbye; ActorDestroy(reason) tells every actor
 * why it died; async messages with returns resolve or reject; messages that
 * arrive after closing began are reported lost, never silently dropped.
 * Every function here runs on the connection's loop thread (the listener
 * thread, usually the main thread) unless it says otherwise. */
#ifndef IPC_ACTOR_H
#define IPC_ACTOR_H

#include "ipc/loop.h"
#include "ipc/msgmap.h"
#include "ipc/protocol.h"
#include "ipc/proxy.h"

#include <stdint.h>
#include <sys/types.h>

typedef enum ipc_destroy_reason {
    IPC_NORMAL_SHUTDOWN,   /* Close() on either side: Goodbye was exchanged */
    IPC_ABNORMAL_SHUTDOWN, /* the channel failed: crash, error, bad message */
    IPC_DELETION,          /* a managed actor's __delete__ */
    IPC_FAILED_CONSTRUCTOR /* the peer refused to construct a managed actor */
} ipc_destroy_reason;

const char *ipc_destroy_reason_name(ipc_destroy_reason why);

typedef struct ipc_conn ipc_conn;
typedef struct ipc_actor ipc_actor;
typedef struct ipc_resolver ipc_resolver;

typedef struct ipc_actor_ops {
    /* Handlers for this actor's messages; ctx is the actor's ctx. */
    const ipc_msgmap_entry *map;
    size_t map_len;
    /* Called once when the actor dies, managed actors before their manager. */
    void (*actor_destroy)(void *ctx, ipc_actor *actor, ipc_destroy_reason why);
    /* Manager side: the peer constructed a managed actor of `protocol_class`.
     * Return a new actor (ipc_actor_new; the connection takes that reference)
     * or NULL to refuse, which destroys it with IPC_FAILED_CONSTRUCTOR on both
     * sides. May be NULL: every construction is refused. */
    ipc_actor *(*alloc_managee)(void *ctx, ipc_actor *manager, uint16_t protocol_class);
} ipc_actor_ops;

/* Counters per connection, readable by tests and by the harness. */
typedef struct ipc_conn_counts {
    uint64_t sent;       /* messages handed to the channel */
    uint64_t received;   /* messages that reached the connection */
    uint64_t early;      /* of those, kept because no actor was bound yet */
    uint64_t dispatched; /* messages a handler ran for (replies included) */
    uint64_t lost;       /* received after closing began, or sent too late */
    uint64_t unhandled;  /* no actor or no handler */
    uint64_t bad;        /* failed to decode */
    uint64_t dropped_resolvers;
} ipc_conn_counts;

/* ---- actors ---- */

/* Creates an unbound actor for `proto` on `side`; the caller holds one
 * reference. `ops` is copied. */
int ipc_actor_new(ipc_actor **out, const ipc_protocol_desc *proto, ipc_side side,
                  const ipc_actor_ops *ops, void *ctx);
void ipc_actor_ref(ipc_actor *a);
/* Drops a reference; the last one frees the actor (it must be dead or unbound). */
void ipc_actor_unref(ipc_actor *a);
void *ipc_actor_ctx(const ipc_actor *a);
int32_t ipc_actor_routing_id(const ipc_actor *a);
ipc_conn *ipc_actor_conn(const ipc_actor *a);
ipc_actor *ipc_actor_manager(const ipc_actor *a);
int ipc_actor_is_alive(const ipc_actor *a);
const ipc_protocol_desc *ipc_actor_protocol(const ipc_actor *a);
ipc_side ipc_actor_side(const ipc_actor *a);
/* "PDemoParent" / "PDemoChild": used in logs. */
const char *ipc_actor_name(const ipc_actor *a);

/* Sends a message built for this actor (its routing id is set here). Takes
 * `msg` always. IPC_E_CLOSING (and a "too late to send" report, counted lost)
 * once closing began; IPC_E_ACTOR_DESTROYED for a dead actor. */
int ipc_actor_send(ipc_actor *a, ipc_msg *msg);

/* Async message with returns: `resolve` gets the reply (borrowed; read it with
 * the descriptor's reply reader) or `reject` gets IPC_E_REPLY_ERROR,
 * IPC_E_ACTOR_DESTROYED, IPC_E_CLOSED or IPC_E_SEND_FAILED. Exactly one of them
 * runs, once, on the connection's loop. Takes `msg` always. */
typedef void (*ipc_resolve_fn)(void *ctx, ipc_msg *reply);
typedef void (*ipc_reject_fn)(void *ctx, int reason);
int ipc_actor_send_with_reply(ipc_actor *a, ipc_msg *msg, ipc_resolve_fn resolve,
                              ipc_reject_fn reject, void *ctx);

/* A synchronous request (child side only; the proxy refuses it on the parent
 * side). Blocks this thread up to timeout_ms; on 0 *reply is the caller's. */
int ipc_actor_send_sync(ipc_actor *a, ipc_msg *msg, ipc_msg **reply, int timeout_ms);

/* Inside a handler for an ASYNC_RETURNS message: take the resolver to answer
 * later instead of from the handler's reply struct. The taker owns it and must
 * call ipc_resolver_resolve or _reject exactly once, or ipc_resolver_drop,
 * which reports "IPDL resolver dropped without being called!" and rejects. */
ipc_resolver *ipc_actor_take_resolver(void);
/* Sends the reply with `reply_params` (the message's reply struct). Frees r. */
int ipc_resolver_resolve(ipc_resolver *r, const void *reply_params);
int ipc_resolver_reject(ipc_resolver *r);
void ipc_resolver_drop(ipc_resolver *r);

/* Close(): sends Goodbye and destroys the actor tree with IPC_NORMAL_SHUTDOWN.
 * From inside a handler it is deferred until the handler has returned (the
 * seeds forbid closing from a Recv method). Top-level actors close the
 * connection; managed actors use ipc_actor_delete. */
void ipc_actor_close(ipc_actor *a);
/* A managed actor's __delete__: tells the peer, destroys both sides with
 * IPC_DELETION. */
int ipc_actor_delete(ipc_actor *a);
/* Constructs a managed actor under `manager` (the peer's alloc_managee runs
 * there). `managee` is from ipc_actor_new; the connection takes a reference. */
int ipc_actor_construct(ipc_actor *manager, ipc_actor *managee);

/* ---- connections ---- */

typedef struct ipc_conn_opts {
    ipc_proxy_opts proxy; /* listener fields are ignored: the connection listens */
    const char *label;    /* for logs: "tab", "default", "demo"; may be NULL */
} ipc_conn_opts;

/* Creates the channel now; messages that arrive before an actor is bound are
 * kept and delivered after ipc_conn_bind, none lost. Takes opts->proxy.fd. */
int ipc_conn_new(ipc_conn **out, const ipc_conn_opts *opts);
/* Open/Bind: makes `top` the connection's top-level actor and replays what
 * arrived before. The connection takes a reference to `top`. */
int ipc_conn_bind(ipc_conn *c, ipc_actor *top);
/* Server mode: the client end for the child (see ipc_proxy_take_client_fd). */
int ipc_conn_take_client_fd(ipc_conn *c);
void ipc_conn_get_counts(const ipc_conn *c, ipc_conn_counts *out);
pid_t ipc_conn_peer_pid(const ipc_conn *c);
/* Non-zero once closing began (Goodbye sent or received, or an error). */
int ipc_conn_is_closing(const ipc_conn *c);
/* The channel under the connection (for filters and stats). */
ipc_proxy *ipc_conn_proxy(const ipc_conn *c);
/* Marks the channel as failed (as on a crash): actors get ABNORMAL_SHUTDOWN. */
void ipc_conn_fail(ipc_conn *c, int err);
/* Called when a peer sends a message it must not (Chromium's
 * OnBadMessageReceived). The default kills nothing; the process host installs
 * one that kills the child. */
typedef void (*ipc_bad_message_fn)(void *ctx, ipc_conn *c, const ipc_msg *msg, int err);
void ipc_conn_set_bad_message_handler(ipc_conn *c, ipc_bad_message_fn fn, void *ctx);
/* What a connection observer hears, on the connection's loop thread. */
typedef enum ipc_conn_event {
    IPC_CONN_SENT,       /* handed to the channel */
    IPC_CONN_RECEIVED,   /* reached the connection (also before Bind) */
    IPC_CONN_DISPATCHED, /* a handler or a reply callback ran for it */
    IPC_CONN_LOST,       /* reported lost: closing, dead actor, or too late */
} ipc_conn_event;
/* `msg` is borrowed for the call. */
typedef void (*ipc_conn_observer_fn)(void *ctx, ipc_conn *c, ipc_conn_event ev, const ipc_msg *msg);
/* One observer per connection (NULL removes it): crash-report rings and the
 * harness's event stream use it. */
void ipc_conn_set_observer(ipc_conn *c, ipc_conn_observer_fn fn, void *ctx);
const char *ipc_conn_label(const ipc_conn *c);

/* Frees a connection whose actors are dead (after ActorDestroy). */
void ipc_conn_free(ipc_conn *c);

#endif
