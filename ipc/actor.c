/* Gecko's actor model (actor.h): connections carrying a top-level actor pair
 * and managed actors, Goodbye and ActorDestroy, async replies and resolvers,
 * and the lost-message reports. Everything here runs on the connection's loop
 * thread, except the Goodbye filter, which runs on the IO thread. */
#include "ipc/actor.h"

#include "actor_internal.h"

#include "ipc/errors.h"
#include "ipc/log.h"
#include "ipc/protocols/IPC.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum actor_state { ACTOR_UNBOUND, ACTOR_ALIVE, ACTOR_DEAD };

struct ipc_actor {
    int refs;
    const ipc_protocol_desc *proto;
    ipc_side side;
    ipc_actor_ops ops;
    void *ctx;
    int32_t routing_id;
    ipc_conn *conn;
    ipc_actor *manager;
    ipc_actor *first_child;
    ipc_actor *next_sibling;
    enum actor_state state;
    int constructing; /* we constructed it; the peer may still refuse */
    char name[48];
};

struct pending_reply {
    uint32_t txn;
    ipc_actor *actor; /* referenced */
    ipc_resolve_fn resolve;
    ipc_reject_fn reject;
    void *ctx;
    struct pending_reply *next;
};

struct ipc_resolver {
    ipc_actor *actor;   /* referenced */
    ipc_msg *reply;     /* the reply frame, params not written yet */
    const ipc_msg_desc *desc;
};

struct ipc_conn {
    ipc_proxy *proxy;
    ipc_loop *loop;
    ipc_side side;
    char label[32];
    ipc_actor *top;
    ipc_actor **routes; /* managed actors, unsorted; few per connection */
    size_t nroutes, routes_cap;
    int32_t next_routing_id;
    ipc_msg **early; /* arrived before ipc_conn_bind */
    size_t nearly, early_cap;
    struct pending_reply *pending;
    uint32_t next_txn;
    atomic_int closing; /* set on the IO thread when Goodbye arrives */
    int goodbye_sent;
    int goodbye_received;
    int torn_down; /* the actor tree is destroyed */
    int dispatch_depth;
    int close_deferred;
    int proxy_closed;
    int early_error; /* the channel failed before an actor was bound */
    pid_t peer_pid;
    ipc_bad_message_fn bad_fn;
    void *bad_ctx;
    ipc_conn_observer_fn observer;
    void *observer_ctx;
    pthread_mutex_t counts_lock; /* counts are read from other threads */
    ipc_conn_counts counts;
};

/* The resolver offered to the handler that is running now, if any. */
static _Thread_local ipc_resolver *current_resolver;
static _Thread_local int current_resolver_taken;

const char *ipc_destroy_reason_name(ipc_destroy_reason why)
{
    switch (why) {
    case IPC_NORMAL_SHUTDOWN:
        return "NormalShutdown";
    case IPC_ABNORMAL_SHUTDOWN:
        return "AbnormalShutdown";
    case IPC_DELETION:
        return "Deletion";
    case IPC_FAILED_CONSTRUCTOR:
        return "FailedConstructor";
    }
    return "?";
}

static const char *side_word(ipc_side side)
{
    return side == IPC_SIDE_PARENT ? "Parent" : "Child";
}

static void observe(ipc_conn *c, ipc_conn_event ev, const ipc_msg *msg)
{
    if (c->observer)
        c->observer(c->observer_ctx, c, ev, msg);
}

static void count(ipc_conn *c, uint64_t *field)
{
    pthread_mutex_lock(&c->counts_lock);
    (*field)++;
    pthread_mutex_unlock(&c->counts_lock);
}

/* ---- actors ---- */

int ipc_actor_new(ipc_actor **out, const ipc_protocol_desc *proto, ipc_side side,
                  const ipc_actor_ops *ops, void *ctx)
{
    *out = NULL;
    if (!proto)
        return -EINVAL;
    ipc_actor *a = calloc(1, sizeof *a);
    if (!a)
        return -ENOMEM;
    a->refs = 1;
    a->proto = proto;
    a->side = side;
    if (ops)
        a->ops = *ops;
    a->ctx = ctx;
    a->routing_id = IPC_ROUTING_NONE;
    snprintf(a->name, sizeof a->name, "%s%s", proto->name, side_word(side));
    *out = a;
    return 0;
}

void ipc_actor_ref(ipc_actor *a)
{
    a->refs++;
}

void ipc_actor_unref(ipc_actor *a)
{
    if (a && --a->refs == 0)
        free(a);
}

void *ipc_actor_ctx(const ipc_actor *a)
{
    return a->ctx;
}

int32_t ipc_actor_routing_id(const ipc_actor *a)
{
    return a->routing_id;
}

ipc_conn *ipc_actor_conn(const ipc_actor *a)
{
    return a->conn;
}

ipc_actor *ipc_actor_manager(const ipc_actor *a)
{
    return a->manager;
}

int ipc_actor_is_alive(const ipc_actor *a)
{
    return a->state == ACTOR_ALIVE;
}

const ipc_protocol_desc *ipc_actor_protocol(const ipc_actor *a)
{
    return a->proto;
}

ipc_side ipc_actor_side(const ipc_actor *a)
{
    return a->side;
}

const char *ipc_actor_name(const ipc_actor *a)
{
    return a->name;
}

/* ---- routes ---- */

static ipc_actor *find_actor(ipc_conn *c, int32_t routing_id)
{
    if (routing_id == IPC_ROUTING_CONTROL)
        return c->top;
    for (size_t i = 0; i < c->nroutes; i++)
        if (c->routes[i]->routing_id == routing_id)
            return c->routes[i];
    return NULL;
}

static int add_route(ipc_conn *c, ipc_actor *a)
{
    if (c->nroutes == c->routes_cap) {
        size_t cap = c->routes_cap ? c->routes_cap * 2 : 8;
        ipc_actor **r = realloc(c->routes, cap * sizeof *r);
        if (!r)
            return -ENOMEM;
        c->routes = r;
        c->routes_cap = cap;
    }
    c->routes[c->nroutes++] = a;
    return 0;
}

static void remove_route(ipc_conn *c, ipc_actor *a)
{
    for (size_t i = 0; i < c->nroutes; i++)
        if (c->routes[i] == a) {
            c->routes[i] = c->routes[--c->nroutes];
            return;
        }
}

/* Parent-side ids are odd, child-side even, so both sides may construct
 * managed actors without colliding. */
static int32_t alloc_routing_id(ipc_conn *c)
{
    int32_t id;
    do {
        id = c->next_routing_id;
        c->next_routing_id += 2;
        if (c->next_routing_id <= 0 || c->next_routing_id >= IPC_ROUTING_CONTROL - 2)
            c->next_routing_id = c->side == IPC_SIDE_PARENT ? 1 : 2;
    } while (find_actor(c, id));
    return id;
}

static void link_child(ipc_actor *manager, ipc_actor *child)
{
    child->manager = manager;
    child->next_sibling = manager->first_child;
    manager->first_child = child;
}

static void unlink_child(ipc_actor *child)
{
    ipc_actor *m = child->manager;
    if (!m)
        return;
    for (ipc_actor **p = &m->first_child; *p; p = &(*p)->next_sibling)
        if (*p == child) {
            *p = child->next_sibling;
            break;
        }
    child->next_sibling = NULL;
}

/* ---- async replies ---- */

static void reject_pending_of(ipc_conn *c, ipc_actor *only, int reason)
{
    struct pending_reply **pp = &c->pending;
    while (*pp) {
        struct pending_reply *p = *pp;
        if (only && p->actor != only) {
            pp = &p->next;
            continue;
        }
        *pp = p->next;
        if (p->reject)
            p->reject(p->ctx, reason);
        ipc_actor_unref(p->actor);
        free(p);
    }
}

static struct pending_reply *take_pending(ipc_conn *c, uint32_t txn)
{
    for (struct pending_reply **pp = &c->pending; *pp; pp = &(*pp)->next)
        if ((*pp)->txn == txn) {
            struct pending_reply *p = *pp;
            *pp = p->next;
            return p;
        }
    return NULL;
}

/* ---- destruction ---- */

/* Managed actors first, then the actor itself (post-order), as IPDL does. */
static void destroy_subtree(ipc_conn *c, ipc_actor *a, ipc_destroy_reason why)
{
    if (a->state == ACTOR_DEAD)
        return;
    ipc_actor_ref(a);
    a->state = ACTOR_DEAD;
    while (a->first_child) {
        ipc_actor *child = a->first_child;
        ipc_destroy_reason child_why = why == IPC_FAILED_CONSTRUCTOR ? IPC_DELETION : why;
        unlink_child(child); /* before: destroying may drop the last reference */
        destroy_subtree(c, child, child_why);
    }
    reject_pending_of(c, a, IPC_E_ACTOR_DESTROYED);
    if (a->ops.actor_destroy)
        a->ops.actor_destroy(a->ctx, a, why);
    if (a != c->top) {
        remove_route(c, a);
        a->conn = NULL;
        ipc_actor_unref(a); /* the connection's reference */
    }
    ipc_actor_unref(a);
}

/* Bounds how long closing waits for a Goodbye to reach the kernel. */
#define GOODBYE_FLUSH_MS 2000

static void close_proxy(ipc_conn *c)
{
    if (c->proxy_closed)
        return;
    c->proxy_closed = 1;
    /* A Goodbye still queued would be dropped by the close: the peer would
     * then see a crash where there was a clean shutdown. After the peer's
     * Goodbye, what we still had queued must reach it too: it reads until
     * our end and reports those messages lost, instead of their vanishing
     * here unreported. */
    if (c->goodbye_sent || c->goodbye_received)
        ipc_proxy_flush(c->proxy, GOODBYE_FLUSH_MS);
    ipc_proxy_close(c->proxy);
}

/* The whole tree dies once; the channel closes after. */
static void teardown(ipc_conn *c, ipc_destroy_reason why, int pending_reason)
{
    if (c->torn_down)
        return;
    c->torn_down = 1;
    atomic_store(&c->closing, 1);
    if (c->top)
        destroy_subtree(c, c->top, why);
    reject_pending_of(c, NULL, pending_reason);
}

/* ---- sending ---- */

static int conn_send(ipc_conn *c, ipc_actor *a, ipc_msg *msg, ipc_log_event ev)
{
    if (atomic_load(&c->closing) || c->proxy_closed) {
        ipc_log_lost(side_word(c->side), "Send", msg);
        count(c, &c->counts.lost);
        observe(c, IPC_CONN_LOST, msg);
        ipc_msg_free(msg);
        return IPC_E_CLOSING;
    }
    ipc_log_message(ev, getpid(), c->peer_pid, a ? a->name : NULL, msg);
    count(c, &c->counts.sent);
    observe(c, IPC_CONN_SENT, msg);
    return ipc_proxy_send(c->proxy, msg);
}

int ipc_actor_send(ipc_actor *a, ipc_msg *msg)
{
    if (a->conn && atomic_load(&a->conn->closing))
        return conn_send(a->conn, a, msg, IPC_LOG_SEND); /* reports it lost */
    if (a->state != ACTOR_ALIVE || !a->conn) {
        ipc_msg_free(msg);
        return IPC_E_ACTOR_DESTROYED;
    }
    ipc_msg_set_routing_id(msg, a->routing_id);
    return conn_send(a->conn, a, msg, IPC_LOG_SEND);
}

struct deferred_reject {
    ipc_reject_fn reject;
    void *ctx;
    int reason;
};

static void run_deferred_reject(void *arg)
{
    struct deferred_reject *d = arg;
    d->reject(d->ctx, d->reason);
    free(d);
}

/* Rejects on a later loop turn, so callers never see their callback re-enter. */
static void reject_later(ipc_loop *loop, ipc_reject_fn reject, void *ctx, int reason)
{
    if (!reject)
        return;
    struct deferred_reject *d = malloc(sizeof *d);
    if (d) {
        d->reject = reject;
        d->ctx = ctx;
        d->reason = reason;
        if (loop && ipc_loop_post(loop, run_deferred_reject, d) == 0)
            return;
        free(d);
    }
    reject(ctx, reason); /* no way to defer: still exactly once */
}

int ipc_actor_send_with_reply(ipc_actor *a, ipc_msg *msg, ipc_resolve_fn resolve,
                              ipc_reject_fn reject, void *ctx)
{
    ipc_conn *c = a->conn;
    if (a->state != ACTOR_ALIVE || !c) {
        ipc_msg_free(msg);
        reject_later(ipc_loop_current(), reject, ctx, IPC_E_ACTOR_DESTROYED);
        return IPC_E_ACTOR_DESTROYED;
    }
    struct pending_reply *p = calloc(1, sizeof *p);
    if (!p) {
        ipc_msg_free(msg);
        reject_later(c->loop, reject, ctx, IPC_E_SEND_FAILED);
        return -ENOMEM;
    }
    /* Async ids stay clear of the proxy's sync bit and of 0. */
    if (++c->next_txn == 0 || (c->next_txn & IPC_SYNC_TXN_BIT))
        c->next_txn = 1;
    p->txn = c->next_txn;
    p->actor = a;
    ipc_actor_ref(a);
    p->resolve = resolve;
    p->reject = reject;
    p->ctx = ctx;
    ipc_msg_set_flags(msg, (ipc_msg_flags(msg) & ~(uint32_t)IPC_MSG_SYNC) | IPC_MSG_WANTS_REPLY);
    ipc_msg_set_txn_id(msg, p->txn);
    p->next = c->pending;
    c->pending = p;
    int rc = ipc_actor_send(a, msg);
    if (rc != 0) {
        struct pending_reply *mine = take_pending(c, p->txn);
        if (mine) {
            reject_later(c->loop, mine->reject, mine->ctx,
                         rc == IPC_E_CLOSING ? IPC_E_CLOSED : IPC_E_SEND_FAILED);
            ipc_actor_unref(mine->actor);
            free(mine);
        }
    }
    return rc;
}

int ipc_actor_send_sync(ipc_actor *a, ipc_msg *msg, ipc_msg **reply, int timeout_ms)
{
    *reply = NULL;
    ipc_conn *c = a->conn;
    if (a->state != ACTOR_ALIVE || !c) {
        ipc_msg_free(msg);
        return IPC_E_ACTOR_DESTROYED;
    }
    if (atomic_load(&c->closing)) {
        ipc_log_lost(side_word(c->side), "Send", msg);
        count(c, &c->counts.lost);
        observe(c, IPC_CONN_LOST, msg);
        ipc_msg_free(msg);
        return IPC_E_CLOSING;
    }
    ipc_msg_set_routing_id(msg, a->routing_id);
    ipc_log_message(IPC_LOG_SEND, getpid(), c->peer_pid, a->name, msg);
    count(c, &c->counts.sent);
    observe(c, IPC_CONN_SENT, msg);
    int rc = ipc_proxy_send_sync(c->proxy, msg, reply, timeout_ms);
    if (*reply)
        ipc_log_message(IPC_LOG_RECV_REPLY, getpid(), c->peer_pid, a->name, *reply);
    return rc;
}

/* ---- resolvers ---- */

ipc_resolver *ipc_actor_take_resolver(void)
{
    if (!current_resolver || current_resolver_taken)
        return NULL;
    current_resolver_taken = 1;
    return current_resolver;
}

static void resolver_free(ipc_resolver *r)
{
    ipc_msg_free(r->reply);
    ipc_actor_unref(r->actor);
    free(r);
}

static int resolver_send(ipc_resolver *r, int error)
{
    ipc_actor *a = r->actor;
    if (a->state != ACTOR_ALIVE || !a->conn) {
        ipc_log_warning(side_word(a->side), "Not resolving response because actor is dead.");
        resolver_free(r);
        return IPC_E_ACTOR_DESTROYED;
    }
    ipc_msg *m = r->reply;
    r->reply = NULL;
    if (error)
        ipc_msg_set_flags(m, ipc_msg_flags(m) | IPC_MSG_REPLY_ERROR);
    int rc = conn_send(a->conn, a, m, IPC_LOG_SEND_REPLY);
    resolver_free(r);
    return rc;
}

int ipc_resolver_resolve(ipc_resolver *r, const void *reply_params)
{
    int rc = ipc_params_write(r->desc, true, r->reply, reply_params);
    if (rc != 0) {
        resolver_send(r, 1);
        return rc;
    }
    return resolver_send(r, 0);
}

int ipc_resolver_reject(ipc_resolver *r)
{
    return resolver_send(r, 1);
}

void ipc_resolver_drop(ipc_resolver *r)
{
    ipc_log_warning(side_word(r->actor->side), "IPDL resolver dropped without being called!");
    if (r->actor->conn)
        count(r->actor->conn, &r->actor->conn->counts.dropped_resolvers);
    resolver_send(r, 1);
}

/* ---- receiving ---- */

/* The caller has counted the message (unhandled or bad): once only. */
static void report_bad(ipc_conn *c, const ipc_msg *msg, int err)
{
    char name[IPC_MSG_NAME_MAX];
    ipc_msg_type_name(ipc_msg_type(msg), ipc_msg_flags(msg), name, sizeof name);
    ipc_log_warning(side_word(c->side), "bad message %s: %s (%s)", name, ipc_errname(err),
                    ipc_strerror(err));
    if (c->bad_fn)
        c->bad_fn(c->bad_ctx, c, msg, err);
    else
        ipc_conn_fail(c, err);
}

static void handle_reply(ipc_conn *c, ipc_msg *msg)
{
    struct pending_reply *p = take_pending(c, ipc_msg_txn_id(msg));
    if (!p) {
        count(c, &c->counts.unhandled);
        ipc_msg_free(msg);
        return;
    }
    ipc_log_message(IPC_LOG_RECV_REPLY, getpid(), c->peer_pid, p->actor->name, msg);
    count(c, &c->counts.dispatched);
    observe(c, IPC_CONN_DISPATCHED, msg);
    if (ipc_msg_is_reply_error(msg)) {
        if (p->reject)
            p->reject(p->ctx, IPC_E_REPLY_ERROR);
    } else if (p->resolve) {
        p->resolve(p->ctx, msg);
    }
    ipc_actor_unref(p->actor);
    free(p);
    ipc_msg_free(msg);
}

static void handle_goodbye(ipc_conn *c, ipc_msg *msg)
{
    ipc_msg_free(msg);
    c->goodbye_received = 1;
    ipc_log_goodbye(c->label, c->side == IPC_SIDE_PARENT ? "parent" : "child");
    teardown(c, IPC_NORMAL_SHUTDOWN, IPC_E_CLOSED);
    close_proxy(c);
}

static void send_internal(ipc_conn *c, int32_t routing_id, ipc_msg *msg)
{
    if (!msg)
        return;
    ipc_msg_set_routing_id(msg, routing_id);
    conn_send(c, NULL, msg, IPC_LOG_SEND);
}

static void handle_constructor(ipc_conn *c, ipc_msg *msg)
{
    ipc_IPC_Constructor in = {0};
    int rc = ipc_IPC_Constructor_read(msg, &in);
    if (rc != 0) {
        count(c, &c->counts.bad);
        report_bad(c, msg, IPC_E_PARAM);
        ipc_msg_free(msg);
        return;
    }
    ipc_actor *manager = find_actor(c, in.manager_id);
    ipc_actor *child = NULL;
    if (!manager || find_actor(c, in.routing_id) || in.routing_id == IPC_ROUTING_CONTROL ||
        in.routing_id == IPC_ROUTING_NONE) {
        count(c, &c->counts.bad);
        report_bad(c, msg, IPC_E_BAD_SENDER);
        ipc_msg_free(msg);
        return;
    }
    count(c, &c->counts.dispatched);
    if (manager->state == ACTOR_ALIVE && manager->ops.alloc_managee)
        child = manager->ops.alloc_managee(manager->ctx, manager, (uint16_t)in.protocol_class);
    if (!child || add_route(c, child) != 0) {
        ipc_actor_unref(child);
        ipc_IPC_ConstructorRefused no = {.routing_id = in.routing_id};
        ipc_msg *m = NULL;
        if (ipc_IPC_ConstructorRefused_build(&m, in.manager_id, &no) == 0)
            send_internal(c, in.manager_id, m);
        ipc_msg_free(msg);
        return;
    }
    child->routing_id = in.routing_id;
    child->conn = c;
    child->state = ACTOR_ALIVE;
    link_child(manager, child);
    ipc_msg_free(msg);
}

static void handle_refused(ipc_conn *c, ipc_msg *msg)
{
    ipc_IPC_ConstructorRefused in = {0};
    if (ipc_IPC_ConstructorRefused_read(msg, &in) != 0) {
        count(c, &c->counts.bad);
        report_bad(c, msg, IPC_E_PARAM);
        ipc_msg_free(msg);
        return;
    }
    ipc_actor *a = find_actor(c, in.routing_id);
    ipc_msg_free(msg);
    count(c, &c->counts.dispatched);
    if (a && a != c->top && a->constructing) {
        unlink_child(a);
        destroy_subtree(c, a, IPC_FAILED_CONSTRUCTOR);
    }
}

static void handle_delete(ipc_conn *c, ipc_msg *msg)
{
    ipc_actor *a = find_actor(c, ipc_msg_routing_id(msg));
    if (!a || a == c->top) {
        count(c, &c->counts.unhandled);
        report_bad(c, msg, IPC_E_UNHANDLED);
        ipc_msg_free(msg);
        return;
    }
    ipc_log_message(IPC_LOG_RECV, getpid(), c->peer_pid, a->name, msg);
    ipc_msg_free(msg);
    count(c, &c->counts.dispatched);
    unlink_child(a);
    destroy_subtree(c, a, IPC_DELETION);
}

static void do_close(ipc_conn *c);

static void run_deferred_close(void *arg)
{
    ipc_conn *c = arg;
    c->close_deferred = 0;
    do_close(c);
}

/* Runs the actor's message map; ASYNC_RETURNS handlers are offered a resolver. */
static void dispatch(ipc_conn *c, ipc_actor *a, ipc_msg *msg)
{
    ipc_log_message(IPC_LOG_RECV, getpid(), c->peer_pid, a->name, msg);
    ipc_resolver *r = NULL;
    const ipc_msgmap_entry *e = ipc_msgmap_find(a->ops.map, a->ops.map_len, ipc_msg_type(msg));
    if (e && e->desc->sync == IPC_ASYNC_RETURNS && ipc_msg_wants_reply(msg)) {
        r = calloc(1, sizeof *r);
        if (r) {
            r->reply = ipc_msg_new_reply(msg);
            r->actor = a;
            r->desc = e->desc;
            ipc_actor_ref(a);
        }
    }
    ipc_resolver *saved = current_resolver;
    int saved_taken = current_resolver_taken;
    current_resolver = r;
    current_resolver_taken = 0;
    ipc_actor_ref(a);
    c->dispatch_depth++;

    ipc_msg *reply = NULL;
    int cause = 0;
    int rc = ipc_msgmap_dispatch_ex(a->ops.map, a->ops.map_len, a->ctx, msg, &reply, &cause, NULL);

    c->dispatch_depth--;
    int taken = current_resolver_taken;
    current_resolver = saved;
    current_resolver_taken = saved_taken;

    if (rc == IPC_E_UNHANDLED || rc == IPC_E_PARAM || rc == IPC_E_BAD_FLAGS) {
        count(c, rc == IPC_E_UNHANDLED ? &c->counts.unhandled : &c->counts.bad);
        report_bad(c, msg, rc == IPC_E_PARAM && cause ? cause : rc);
    } else {
        count(c, &c->counts.dispatched);
        observe(c, IPC_CONN_DISPATCHED, msg);
    }
    if (r && !taken) {
        resolver_free(r);
        r = NULL;
    }
    if (reply) {
        if (taken || a->state != ACTOR_ALIVE)
            ipc_msg_free(reply); /* answered later by the resolver, or too late */
        else
            conn_send(c, a, reply, IPC_LOG_SEND_REPLY);
    }
    ipc_actor_unref(a);
    ipc_msg_free(msg);
    if (c->close_deferred && c->dispatch_depth == 0)
        ipc_loop_post(c->loop, run_deferred_close, c);
}

static void handle_message(ipc_conn *c, ipc_msg *msg)
{
    uint32_t type = ipc_msg_type(msg);
    if (type == IPC_MSG_GOODBYE && !ipc_msg_is_reply(msg)) {
        handle_goodbye(c, msg);
        return;
    }
    if (atomic_load(&c->closing)) {
        /* Gecko's MessageChannel::RunMessage on a channel no longer connected. */
        ipc_log_lost(side_word(c->side), "RunMessage", msg);
        count(c, &c->counts.lost);
        observe(c, IPC_CONN_LOST, msg);
        ipc_msg_free(msg);
        return;
    }
    if (ipc_msg_is_reply(msg)) {
        handle_reply(c, msg);
        return;
    }
    if (type == (uint32_t)IPC_MSG_IPC_Constructor) {
        handle_constructor(c, msg);
        return;
    }
    if (type == (uint32_t)IPC_MSG_IPC_ConstructorRefused) {
        handle_refused(c, msg);
        return;
    }
    if (type == (uint32_t)IPC_MSG_IPC_Delete) {
        handle_delete(c, msg);
        return;
    }
    ipc_actor *a = find_actor(c, ipc_msg_routing_id(msg));
    if (!a || a->state != ACTOR_ALIVE) {
        /* A routed message for an actor deleted meanwhile is a lost message;
         * for a route that never existed it is the sender's error. */
        if (a) {
            ipc_log_lost(side_word(c->side), "RunMessage", msg);
            count(c, &c->counts.lost);
            observe(c, IPC_CONN_LOST, msg);
        } else {
            count(c, &c->counts.unhandled);
            report_bad(c, msg, IPC_E_UNHANDLED);
        }
        ipc_msg_free(msg);
        return;
    }
    dispatch(c, a, msg);
}

/* ---- proxy callbacks (the connection's loop thread) ---- */

static void on_message(void *ctx, ipc_msg *msg)
{
    ipc_conn *c = ctx;
    count(c, &c->counts.received);
    observe(c, IPC_CONN_RECEIVED, msg);
    if (!c->top) {
        count(c, &c->counts.early);
        ipc_msg **e = c->early;
        if (c->nearly == c->early_cap) {
            size_t cap = c->early_cap ? c->early_cap * 2 : 16;
            e = realloc(c->early, cap * sizeof *e);
            if (!e) {
                ipc_log_lost(side_word(c->side), "Bind", msg);
                count(c, &c->counts.lost);
                ipc_msg_free(msg);
                return;
            }
            c->early = e;
            c->early_cap = cap;
        }
        c->early[c->nearly++] = msg;
        return;
    }
    handle_message(c, msg);
}

static void on_connected(void *ctx, pid_t pid)
{
    ((ipc_conn *)ctx)->peer_pid = pid;
}

static void on_error(void *ctx, int err)
{
    ipc_conn *c = ctx;
    if (c->goodbye_sent || c->goodbye_received) {
        close_proxy(c); /* the peer closing after Goodbye is the normal end */
        return;
    }
    if (!c->top) {
        c->early_error = err; /* the actor learns it when it binds */
        return;
    }
    ipc_log_warning(side_word(c->side), "channel error on %s: %s", c->label, ipc_errname(err));
    teardown(c, IPC_ABNORMAL_SHUTDOWN, IPC_E_CLOSED);
    close_proxy(c);
}

static void on_bad_message(void *ctx, int reason, uint32_t type, const char *name)
{
    ipc_conn *c = ctx;
    (void)type;
    count(c, &c->counts.bad);
    ipc_log_warning(side_word(c->side), "malformed frame (%s) on %s: %s", name, c->label,
                    ipc_errname(reason));
}

static const ipc_listener conn_listener = {
    .on_message = on_message,
    .on_connected = on_connected,
    .on_error = on_error,
    .on_bad_message = on_bad_message,
};

/* IO thread: Goodbye marks the channel closing at once, so messages queued
 * for the main thread but not yet run are reported lost — Gecko's behaviour,
 * and the race the EmptyMessageQueue sentinel exists to avoid. */
static int goodbye_filter(void *ctx, ipc_proxy *proxy, ipc_msg *msg)
{
    ipc_conn *c = ctx;
    (void)proxy;
    if (ipc_msg_type(msg) == IPC_MSG_GOODBYE && !ipc_msg_is_reply(msg))
        atomic_store(&c->closing, 1);
    return 0;
}

/* ---- connections ---- */

int ipc_conn_new(ipc_conn **out, const ipc_conn_opts *opts)
{
    *out = NULL;
    ipc_conn *c = calloc(1, sizeof *c);
    if (!c) {
        if (opts->proxy.fd >= 0)
            close(opts->proxy.fd);
        return -ENOMEM;
    }
    pthread_mutex_init(&c->counts_lock, NULL);
    c->side = opts->proxy.side;
    c->loop = opts->proxy.listener_loop;
    c->next_routing_id = c->side == IPC_SIDE_PARENT ? 1 : 2;
    snprintf(c->label, sizeof c->label, "%s", opts->label ? opts->label : "default");
    /* The Goodbye filter goes first and is installed before the first read,
     * so no Goodbye can slip past it; the caller's filters follow. */
    ipc_proxy_opts po = opts->proxy;
    size_t nf = po.nfilters + 1;
    ipc_filter *filters = calloc(nf, sizeof *filters);
    int rc = -ENOMEM;
    if (!filters) {
        if (po.fd >= 0)
            close(po.fd);
        goto fail;
    }
    filters[0] = (ipc_filter){.on_message = goodbye_filter, .ctx = c};
    for (size_t i = 0; i < po.nfilters; i++)
        filters[i + 1] = po.filters[i];
    po.filters = filters;
    po.nfilters = nf;
    po.listener = &conn_listener;
    po.listener_ctx = c;
    rc = ipc_proxy_create(&c->proxy, &po);
    free(filters);
    if (rc != 0)
        goto fail;
    *out = c;
    return 0;
fail:
    if (c->proxy)
        ipc_proxy_free(c->proxy);
    pthread_mutex_destroy(&c->counts_lock);
    free(c);
    return rc;
}

int ipc_conn_bind(ipc_conn *c, ipc_actor *top)
{
    if (c->top || top->state != ACTOR_UNBOUND)
        return IPC_E_STATE;
    ipc_actor_ref(top);
    c->top = top;
    top->conn = c;
    top->routing_id = IPC_ROUTING_CONTROL;
    top->state = ACTOR_ALIVE;
    /* Replay, in order, what arrived before Bind (the seed's listener swap
     * from GeckoChildProcessHost to the actor). */
    size_t n = c->nearly;
    ipc_msg **early = c->early;
    c->early = NULL;
    c->nearly = c->early_cap = 0;
    for (size_t i = 0; i < n; i++)
        handle_message(c, early[i]);
    free(early);
    if (c->early_error)
        on_error(c, c->early_error);
    return 0;
}

int ipc_conn_take_client_fd(ipc_conn *c)
{
    return ipc_proxy_take_client_fd(c->proxy);
}

void ipc_conn_get_counts(const ipc_conn *c, ipc_conn_counts *out)
{
    pthread_mutex_lock((pthread_mutex_t *)&c->counts_lock);
    *out = c->counts;
    pthread_mutex_unlock((pthread_mutex_t *)&c->counts_lock);
}

pid_t ipc_conn_peer_pid(const ipc_conn *c)
{
    return c->peer_pid;
}

void ipc__conn_set_peer_pid(ipc_conn *c, pid_t pid)
{
    if (pid > 0)
        c->peer_pid = pid;
}

int ipc_conn_is_closing(const ipc_conn *c)
{
    return atomic_load(&((ipc_conn *)c)->closing);
}

ipc_proxy *ipc_conn_proxy(const ipc_conn *c)
{
    return c->proxy;
}

void ipc_conn_fail(ipc_conn *c, int err)
{
    if (c->torn_down)
        return;
    ipc_log_warning(side_word(c->side), "closing %s on error: %s", c->label, ipc_errname(err));
    close_proxy(c);
    teardown(c, IPC_ABNORMAL_SHUTDOWN, IPC_E_CLOSED);
}

void ipc_conn_set_observer(ipc_conn *c, ipc_conn_observer_fn fn, void *ctx)
{
    c->observer = fn;
    c->observer_ctx = ctx;
}

const char *ipc_conn_label(const ipc_conn *c)
{
    return c->label;
}

void ipc_conn_set_bad_message_handler(ipc_conn *c, ipc_bad_message_fn fn, void *ctx)
{
    c->bad_fn = fn;
    c->bad_ctx = ctx;
}

/* Close(): Goodbye goes out behind everything already queued, then the tree
 * dies with NormalShutdown. The socket stays open until the peer, having read
 * the Goodbye, closes its end (or until ipc_conn_free). */
static void do_close(ipc_conn *c)
{
    if (c->torn_down || atomic_load(&c->closing))
        return;
    ipc_msg *bye = ipc_msg_new(IPC_ROUTING_CONTROL, IPC_MSG_GOODBYE, 0);
    if (bye) {
        ipc_log_message(IPC_LOG_SEND, getpid(), c->peer_pid, c->top ? c->top->name : NULL, bye);
        count(c, &c->counts.sent);
        observe(c, IPC_CONN_SENT, bye);
        ipc_proxy_send(c->proxy, bye);
        c->goodbye_sent = 1;
    }
    teardown(c, IPC_NORMAL_SHUTDOWN, IPC_E_ACTOR_DESTROYED);
}

void ipc_actor_close(ipc_actor *a)
{
    ipc_conn *c = a->conn;
    if (!c || a->state != ACTOR_ALIVE)
        return;
    if (a != c->top) {
        ipc_actor_delete(a);
        return;
    }
    if (c->dispatch_depth > 0) {
        c->close_deferred = 1; /* never from inside a handler */
        return;
    }
    do_close(c);
}

int ipc_actor_delete(ipc_actor *a)
{
    ipc_conn *c = a->conn;
    if (!c || a->state != ACTOR_ALIVE || a == c->top)
        return IPC_E_STATE;
    ipc_msg *m = ipc_msg_new(a->routing_id, (uint32_t)IPC_MSG_IPC_Delete, 0);
    int rc = m ? conn_send(c, a, m, IPC_LOG_SEND) : -ENOMEM;
    unlink_child(a);
    destroy_subtree(c, a, IPC_DELETION);
    return rc;
}

int ipc_actor_construct(ipc_actor *manager, ipc_actor *managee)
{
    ipc_conn *c = manager->conn;
    if (!c || manager->state != ACTOR_ALIVE || managee->state != ACTOR_UNBOUND)
        return IPC_E_STATE;
    if (atomic_load(&c->closing))
        return IPC_E_CLOSING;
    int rc = add_route(c, managee);
    if (rc != 0)
        return rc;
    ipc_actor_ref(managee); /* the connection's reference */
    managee->routing_id = alloc_routing_id(c);
    managee->conn = c;
    managee->state = ACTOR_ALIVE;
    managee->constructing = 1;
    link_child(manager, managee);
    ipc_IPC_Constructor in = {.manager_id = manager->routing_id,
                              .routing_id = managee->routing_id,
                              .protocol_class = managee->proto->cls};
    ipc_msg *m = NULL;
    rc = ipc_IPC_Constructor_build(&m, manager->routing_id, &in);
    if (rc != 0)
        return rc;
    return conn_send(c, manager, m, IPC_LOG_SEND);
}

void ipc_conn_free(ipc_conn *c)
{
    if (!c)
        return;
    close_proxy(c);
    teardown(c, IPC_ABNORMAL_SHUTDOWN, IPC_E_CLOSED);
    ipc_proxy_free(c->proxy);
    for (size_t i = 0; i < c->nearly; i++)
        ipc_msg_free(c->early[i]);
    free(c->early);
    if (c->top) {
        c->top->conn = NULL;
        ipc_actor_unref(c->top);
    }
    free(c->routes);
    pthread_mutex_destroy(&c->counts_lock);
    free(c);
}
