/* libipc error codes: 0 or a negative code; system errors are -errno, protocol
 * errors have their own codes below IPC_E_BASE so the two never collide. */
#ifndef IPC_ERRORS_H
#define IPC_ERRORS_H

/* X(name, value, message). Values are stable: they appear in logs and reports. */
#define IPC_ERROR_TABLE(X)                                                                         \
    X(IPC_E_TRUNCATED, -1000, "read past the end of the data")                                     \
    X(IPC_E_BAD_SIZE, -1001, "frame payload size is invalid or over the limit")                    \
    X(IPC_E_FD_COUNT, -1002, "file descriptor count does not match the frame")                     \
    X(IPC_E_TOO_MANY_FDS, -1003, "frame carries more file descriptors than the limit")             \
    X(IPC_E_UNKNOWN_TYPE, -1004, "unknown message type")                                           \
    X(IPC_E_PARAM, -1005, "a message parameter could not be decoded")                              \
    X(IPC_E_BAD_FLAGS, -1006, "frame header has unknown or contradictory flags")                   \
    X(IPC_E_BAD_PADDING, -1007, "non-zero padding byte in a pickle field")                         \
    X(IPC_E_TRAILING, -1008, "unread bytes after the last parameter")                              \
    X(IPC_E_OVERFLOW, -1009, "length or size arithmetic would overflow")                           \
    X(IPC_E_BAD_BOOL, -1010, "boolean field is neither 0 nor 1")                                   \
    X(IPC_E_BAD_STRING, -1011, "string field contains a NUL byte")                                 \
    X(IPC_E_BAD_FD_INDEX, -1012, "fd parameter names no attached file descriptor")                 \
    X(IPC_E_BAD_PROTO, -1013, "struct parameter is not a valid protobuf message")                  \
    X(IPC_E_TOO_LARGE, -1014, "message would exceed the maximum size")                             \
    X(IPC_E_CTRUNC, -1015, "ancillary data was truncated by the kernel")                           \
    X(IPC_E_CLOSED, -1020, "channel is closed")                                                    \
    X(IPC_E_PEER_CLOSED, -1021, "peer closed the channel")                                         \
    X(IPC_E_TIMEOUT, -1022, "timed out")                                                           \
    X(IPC_E_SYNC_FROM_PARENT, -1023, "synchronous messages may only go from child to parent")      \
    X(IPC_E_UNHANDLED, -1024, "no route or handler for the message")                               \
    X(IPC_E_BAD_HELLO, -1025, "bad or missing hello message")                                      \
    X(IPC_E_REPLY_ERROR, -1026, "the peer answered with a reply error")                            \
    X(IPC_E_NOT_SYNC, -1027, "message is not a synchronous request")                               \
    X(IPC_E_BAD_REPLY, -1028, "reply matches no pending request")                                  \
    X(IPC_E_WRONG_THREAD, -1029, "called from a thread that may not call it")                      \
    X(IPC_E_CLOSING, -1030, "Channel closing: too late to send/recv, messages will be lost")       \
    X(IPC_E_ACTOR_DESTROYED, -1031, "actor destroyed")                                             \
    X(IPC_E_SEND_FAILED, -1032, "send error")                                                      \
    X(IPC_E_NOT_MAIN_PROCESS, -1033, "only the main process may do this")                          \
    X(IPC_E_BAD_SENDER, -1034, "message is not allowed from this sender")                          \
    X(IPC_E_BUILD_ID, -1035, "child build id does not match the parent's")                         \
    X(IPC_E_EXEC, -1036, "child could not be executed")                                            \
    X(IPC_E_NO_CHANNEL, -1037, "no channel registered under that id")                              \
    X(IPC_E_EXISTS, -1038, "already exists")                                                       \
    X(IPC_E_STATE, -1039, "not allowed in the current state")                                      \
    X(IPC_E_RESOLVER_DROPPED, -1040, "IPDL resolver dropped without being called")                 \
    X(IPC_E_WRONG_PROCESS, -1041, "endpoint belongs to another process")

enum ipc_error {
    IPC_E_BASE = -1000,
#define IPC__ERR_ENUM(name, value, msg) name = value,
    IPC_ERROR_TABLE(IPC__ERR_ENUM)
#undef IPC__ERR_ENUM
};

/* A sentence for any code: libipc's own or -errno. Never NULL; thread-safe. */
const char *ipc_strerror(int err);
/* The symbolic name ("IPC_E_TRUNCATED", "EAGAIN") or "UNKNOWN". Thread-safe. */
const char *ipc_errname(int err);

#endif
