/* The message router (Chromium's MessageRouter): control messages to the
 * control listener, routed ones to the listener registered for their routing
 * id; anything nobody takes is reported and counted, never a crash. */
#include "ipc/router.h"

#include "ipc/errors.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef struct route {
    int32_t id;
    ipc_listener l;
    void *ctx;
} route;

struct ipc_router {
    ipc_listener control;
    void *control_ctx;
    ipc_unhandled_fn on_unhandled;
    void *unhandled_ctx;
    route *routes;
    size_t n, cap;
    int32_t next_id;
    uint64_t unhandled;
};

int ipc_router_new(ipc_router **out, const ipc_listener *control, void *control_ctx,
                   ipc_unhandled_fn on_unhandled, void *unhandled_ctx)
{
    *out = NULL;
    ipc_router *r = calloc(1, sizeof *r);
    if (!r)
        return -ENOMEM;
    if (control)
        r->control = *control;
    r->control_ctx = control_ctx;
    r->on_unhandled = on_unhandled;
    r->unhandled_ctx = unhandled_ctx;
    r->next_id = 1;
    *out = r;
    return 0;
}

void ipc_router_free(ipc_router *r)
{
    if (!r)
        return;
    free(r->routes);
    free(r);
}

static route *find(const ipc_router *r, int32_t id)
{
    for (size_t i = 0; i < r->n; i++)
        if (r->routes[i].id == id)
            return &r->routes[i];
    return NULL;
}

static int usable_id(int32_t id)
{
    return id > 0 && id != IPC_ROUTING_CONTROL;
}

int32_t ipc_router_next_routing_id(ipc_router *r)
{
    /* At most n + 1 candidates can be taken before a free one turns up. */
    for (size_t tries = 0; tries <= r->n + 1; tries++) {
        int32_t id = r->next_id;
        r->next_id = id >= IPC_ROUTING_CONTROL - 1 ? 1 : id + 1;
        if (usable_id(id) && !find(r, id))
            return id;
    }
    return IPC_ROUTING_NONE; /* unreachable while fewer than 2^31-2 routes exist */
}

int ipc_router_add_route(ipc_router *r, int32_t routing_id, const ipc_listener *l, void *ctx)
{
    if (routing_id == IPC_ROUTING_CONTROL || routing_id == IPC_ROUTING_NONE || !l)
        return -EINVAL;
    if (find(r, routing_id))
        return IPC_E_EXISTS;
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 8;
        route *nr = realloc(r->routes, cap * sizeof *nr);
        if (!nr)
            return -ENOMEM;
        r->routes = nr;
        r->cap = cap;
    }
    r->routes[r->n++] = (route){routing_id, *l, ctx};
    return 0;
}

int ipc_router_remove_route(ipc_router *r, int32_t routing_id)
{
    route *rt = find(r, routing_id);
    if (!rt)
        return -ENOENT;
    *rt = r->routes[--r->n];
    return 0;
}

static int unhandled(ipc_router *r, ipc_msg *msg)
{
    r->unhandled++;
    if (r->on_unhandled)
        r->on_unhandled(r->unhandled_ctx, IPC_E_UNHANDLED, msg);
    ipc_msg_free(msg);
    return IPC_E_UNHANDLED;
}

int ipc_router_route(ipc_router *r, ipc_msg *msg)
{
    int32_t id = ipc_msg_routing_id(msg);
    if (id == IPC_ROUTING_CONTROL) {
        if (!r->control.on_message)
            return unhandled(r, msg);
        r->control.on_message(r->control_ctx, msg);
        return 0;
    }
    route *rt = find(r, id);
    if (!rt || !rt->l.on_message)
        return unhandled(r, msg);
    rt->l.on_message(rt->ctx, msg);
    return 0;
}

uint64_t ipc_router_unhandled_count(const ipc_router *r)
{
    return r->unhandled;
}

/* Calls fn for the control listener and every route. Routes may be added or
 * removed by the callbacks: each id is looked up again before its call. */
typedef void (*each_fn)(const ipc_listener *l, void *ctx, const void *arg);

static void for_each(ipc_router *r, each_fn fn, const void *arg)
{
    fn(&r->control, r->control_ctx, arg);
    size_t n = r->n;
    int32_t small[16];
    int32_t *ids = n <= 16 ? small : malloc(n * sizeof *ids);
    if (!ids)
        return;
    for (size_t i = 0; i < n; i++)
        ids[i] = r->routes[i].id;
    for (size_t i = 0; i < n; i++) {
        route *rt = find(r, ids[i]);
        if (rt) {
            route copy = *rt;
            fn(&copy.l, copy.ctx, arg);
        }
    }
    if (ids != small)
        free(ids);
}

static void each_connected(const ipc_listener *l, void *ctx, const void *arg)
{
    if (l->on_connected)
        l->on_connected(ctx, *(const pid_t *)arg);
}

static void each_error(const ipc_listener *l, void *ctx, const void *arg)
{
    if (l->on_error)
        l->on_error(ctx, *(const int *)arg);
}

typedef struct bad_args {
    int reason;
    uint32_t type;
    const char *name;
} bad_args;

static void each_bad(const ipc_listener *l, void *ctx, const void *arg)
{
    const bad_args *b = arg;
    if (l->on_bad_message)
        l->on_bad_message(ctx, b->reason, b->type, b->name);
}

static void rl_message(void *ctx, ipc_msg *msg)
{
    ipc_router_route(ctx, msg);
}

static void rl_connected(void *ctx, pid_t pid)
{
    for_each(ctx, each_connected, &pid);
}

static void rl_error(void *ctx, int err)
{
    for_each(ctx, each_error, &err);
}

static void rl_bad(void *ctx, int reason, uint32_t type, const char *name)
{
    bad_args b = {reason, type, name};
    for_each(ctx, each_bad, &b);
}

static const ipc_listener router_listener = {rl_message, rl_connected, rl_error, rl_bad};

const ipc_listener *ipc_router_listener(void)
{
    return &router_listener;
}
