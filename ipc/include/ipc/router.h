/* Routing of control vs routed messages (Chromium's MessageRouter). Control
 * messages (IPC_ROUTING_CONTROL) go to the control listener; routed ones to
 * the route registered under their routing id. A routed message nobody is
 * registered for is a reported error, never a crash. Listener thread only. */
#ifndef IPC_ROUTER_H
#define IPC_ROUTER_H

#include "ipc/chan.h"
#include "ipc/msg.h"

#include <stdint.h>

typedef struct ipc_router ipc_router;

/* `control` may be NULL; `on_unhandled` (may be NULL) hears every message no
 * one took, with IPC_E_UNHANDLED, before the router frees it. */
typedef void (*ipc_unhandled_fn)(void *ctx, int err, const ipc_msg *msg);
int ipc_router_new(ipc_router **out, const ipc_listener *control, void *control_ctx,
                   ipc_unhandled_fn on_unhandled, void *unhandled_ctx);
void ipc_router_free(ipc_router *r);
/* A routing id not in use on this router, from 1 upwards (GetNextRoutingID). */
int32_t ipc_router_next_routing_id(ipc_router *r);
/* Registers `l` (copied) for routing_id. 0, IPC_E_EXISTS, -EINVAL for the
 * control or none id. */
int ipc_router_add_route(ipc_router *r, int32_t routing_id, const ipc_listener *l, void *ctx);
/* 0 or -ENOENT. */
int ipc_router_remove_route(ipc_router *r, int32_t routing_id);
/* Delivers (the router owns msg): 0 or IPC_E_UNHANDLED. */
int ipc_router_route(ipc_router *r, ipc_msg *msg);
/* A listener that routes: pass it, with `r` as ctx, to a proxy. Connect and
 * error callbacks go to the control listener and every route. */
const ipc_listener *ipc_router_listener(void);
uint64_t ipc_router_unhandled_count(const ipc_router *r);

#endif
