/* PTest (class 0x7E): messages for unit tests, benchmarks and fuzzers. */
#ifndef IPC_PROTOCOLS_PTEST_H
#define IPC_PROTOCOLS_PTEST_H

#include "ipc/protocols/decl.h"

#define IPC_PROTOCOL_PTest(MSG)                                                                    \
    MSG(PTest, Ping, 1, CONTROL, ASYNC, BOTH)                                                      \
    MSG(PTest, Pong, 2, CONTROL, ASYNC, BOTH)                                                      \
    MSG(PTest, SyncEcho, 3, CONTROL, SYNC, CHILD_TO_PARENT)                                        \
    MSG(PTest, RoutedPing, 4, ROUTED, ASYNC, BOTH)                                                 \
    MSG(PTest, AllKinds, 5, CONTROL, ASYNC, BOTH)                                                  \
    MSG(PTest, Fds, 6, CONTROL, ASYNC, BOTH)

#define IPC_PARAMS_PTest_Ping(X, T)       X(T, BYTES, data, 0)
#define IPC_PARAMS_PTest_Pong(X, T)       X(T, BYTES, data, 0)
#define IPC_PARAMS_PTest_SyncEcho(X, T)   X(T, STRING, in, 0)
#define IPC_REPLY_PTest_SyncEcho(X, T)    X(T, STRING, out, 0)
#define IPC_PARAMS_PTest_RoutedPing(X, T) X(T, INT32, n, 0)
#define IPC_PARAMS_PTest_AllKinds(X, T)                                                            \
    X(T, BOOL, b, 0)                                                                               \
    X(T, INT32, i32, 0)                                                                            \
    X(T, UINT32, u32, 0)                                                                           \
    X(T, INT64, i64, 0)                                                                            \
    X(T, UINT64, u64, 0)                                                                           \
    X(T, DOUBLE, d, 0)                                                                             \
    X(T, STRING, s, 0)                                                                             \
    X(T, BYTES, bytes, 0)                                                                          \
    X(T, FD, fd, 0)                                                                                \
    X(T, PROTO, rec, TestRecord)
/* `count` fds travel attached to the message without fd params: the raw
 * attachment path (ipc_msg_add_fd / ipc_msg_take_fd). */
#define IPC_PARAMS_PTest_Fds(X, T) X(T, UINT32, count, 0) X(T, BYTES, note, 0)

IPC_DECLARE_PROTOCOL(PTest, 0x7E)

#endif
