/* PContent (class 0x43): the main process (parent) and a content process or
 * the Nuwa fork server (child), as in the B2G seed. */
#ifndef IPC_PROTOCOLS_PCONTENT_H
#define IPC_PROTOCOLS_PCONTENT_H

#include "ipc/protocols/decl.h"

#define IPC_PROTOCOL_PContent(MSG)                                                                 \
    MSG(PContent, LaunchDemoProcess, 1, CONTROL, ASYNC_RETURNS, CHILD_TO_PARENT)                   \
    MSG(PContent, NuwaFork, 2, CONTROL, ASYNC, PARENT_TO_CHILD)                                    \
    MSG(PContent, AddNewProcess, 3, CONTROL, ASYNC, CHILD_TO_PARENT)                               \
    MSG(PContent, TurnIntoApp, 4, CONTROL, ASYNC, PARENT_TO_CHILD)                                 \
    MSG(PContent, Ready, 5, CONTROL, ASYNC, CHILD_TO_PARENT)                                       \
    MSG(PContent, CreateBrowser, 6, CONTROL, ASYNC, PARENT_TO_CHILD)

/* Resolved with the content side's endpoint of a new PDemo channel. */
#define IPC_PARAMS_PContent_LaunchDemoProcess(X, T)
#define IPC_REPLY_PContent_LaunchDemoProcess(X, T)                                                 \
    X(T, FD, endpoint, 0) X(T, PROTO, info, EndpointInfo)
#define IPC_PARAMS_PContent_NuwaFork(X, T)
/* From the fork server: the new spare's pid and its channel fd. */
#define IPC_PARAMS_PContent_AddNewProcess(X, T) X(T, INT32, pid, 0) X(T, FD, channel, 0)
#define IPC_PARAMS_PContent_TurnIntoApp(X, T)   X(T, STRING, app_name, 0)
#define IPC_PARAMS_PContent_Ready(X, T)         X(T, INT32, pid, 0)
/* Creates a managed PBrowser actor under this routing id. */
#define IPC_PARAMS_PContent_CreateBrowser(X, T) X(T, INT32, routing_id, 0)

IPC_DECLARE_PROTOCOL(PContent, 0x43)

#endif
