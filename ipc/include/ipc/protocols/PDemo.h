/* PDemo (class 0x41): the main process (parent) and the Demo process (child),
 * as in the "Gecko Processes" seed. */
#ifndef IPC_PROTOCOLS_PDEMO_H
#define IPC_PROTOCOLS_PDEMO_H

#include "ipc/protocols/decl.h"

#define IPC_PROTOCOL_PDemo(MSG)                                                                    \
    MSG(PDemo, InitCrashReporter, 1, CONTROL, ASYNC, CHILD_TO_PARENT)                              \
    MSG(PDemo, CreateDemoHelplineChild, 2, CONTROL, ASYNC, PARENT_TO_CHILD)                        \
    MSG(PDemo, EmptyMessageQueue, 3, CONTROL, ASYNC_RETURNS, CHILD_TO_PARENT)

#define IPC_PARAMS_PDemo_InitCrashReporter(X, T)                                                   \
    X(T, INT32, pid, 0) X(T, PROTO, info, CrashReporterInit)
/* The child end of a new PDemoHelpline channel, bridged by the main process. */
#define IPC_PARAMS_PDemo_CreateDemoHelplineChild(X, T)                                             \
    X(T, FD, endpoint, 0) X(T, PROTO, info, EndpointInfo)
/* The shutdown sentinel: resolved once the parent has drained its queue. */
#define IPC_PARAMS_PDemo_EmptyMessageQueue(X, T)
#define IPC_REPLY_PDemo_EmptyMessageQueue(X, T) X(T, BOOL, ok, 0)

IPC_DECLARE_PROTOCOL(PDemo, 0x41)

#endif
