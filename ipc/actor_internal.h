/* Internal to libipc's actor layer and the modules that create connections
 * (host.c, endpoint.c): what they know about a connection before its first
 * message does. */
#ifndef IPC_ACTOR_INTERNAL_H
#define IPC_ACTOR_INTERNAL_H

#include "ipc/actor.h"

#include <sys/types.h>

/* The peer's pid as the creator knows it (the launched child, an endpoint's
 * other_pid, the parent), so that logs name the peer from the first message
 * on, as Gecko's OtherPid() does; the peer's hello replaces it. Loop thread. */
void ipc__conn_set_peer_pid(ipc_conn *c, pid_t pid);

#endif
