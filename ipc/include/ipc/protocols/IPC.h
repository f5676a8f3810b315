/* The "IPC" protocol (class 0xFFFF): libipc's own messages on every channel.
 * Hello opens a channel in each direction, Goodbye closes it, Constructor
 * creates a managed actor (ConstructorRefused answers a refusal) and Delete
 * is that actor's __delete__. */
#ifndef IPC_PROTOCOLS_IPC_H
#define IPC_PROTOCOLS_IPC_H

#include "ipc/protocols/decl.h"

#define IPC_PROTOCOL_IPC(MSG)                                                                      \
    MSG(IPC, Hello, 1, CONTROL, ASYNC, BOTH)                                                       \
    MSG(IPC, Goodbye, 2, CONTROL, ASYNC, BOTH)                                                     \
    MSG(IPC, Constructor, 3, CONTROL, ASYNC, BOTH)                                                 \
    MSG(IPC, Delete, 4, ROUTED, ASYNC, BOTH)                                                       \
    MSG(IPC, ConstructorRefused, 5, ROUTED, ASYNC, BOTH)

/* The sender's pid: the receiver learns its peer from it. */
#define IPC_PARAMS_IPC_Hello(X, T) X(T, INT32, pid, 0)
#define IPC_PARAMS_IPC_Goodbye(X, T)
/* The manager's routing id, the new managed actor's and its protocol's class. */
#define IPC_PARAMS_IPC_Constructor(X, T)                                                           \
    X(T, INT32, manager_id, 0) X(T, INT32, routing_id, 0) X(T, UINT32, protocol_class, 0)
/* Sent on the managed actor's own routing id. */
#define IPC_PARAMS_IPC_Delete(X, T)
/* Sent on the manager's routing id: the peer's alloc_managee refused the actor
 * constructed under routing_id, which dies with FailedConstructor. */
#define IPC_PARAMS_IPC_ConstructorRefused(X, T) X(T, INT32, routing_id, 0)

IPC_DECLARE_PROTOCOL(IPC, 0xFFFF)

_Static_assert((uint32_t)IPC_MSG_IPC_Hello == IPC_MSG_HELLO, "msg.h and IPC.h disagree on Hello");
_Static_assert((uint32_t)IPC_MSG_IPC_Goodbye == IPC_MSG_GOODBYE,
               "msg.h and IPC.h disagree on Goodbye");
_Static_assert(IPC_CLASS_IPC == IPC_CLASS_INTERNAL, "msg.h and IPC.h disagree on the class");

#endif
