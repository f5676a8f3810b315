/* Message maps (Chromium's IPC_BEGIN_MESSAGE_MAP): a table of typed handlers,
 * one per message type, and the dispatcher that decodes a message's params
 * through its descriptor, calls the handler and builds the reply.
 *
 *   static int on_init(void *ctx, ipc_msg *msg, ipc_PDemo_InitCrashReporter *in,
 *                      ipc_PDemo_InitCrashReporter_reply *out);
 *   static const ipc_msgmap_entry map[] = {
 *       IPC_HANDLER(PDemo, InitCrashReporter, on_init),
 *   };
 *   rc = ipc_msgmap_dispatch(map, IPC_MSGMAP_LEN(map), ctx, msg, &reply);
 *
 * IPC_HANDLER refuses to compile when the handler's type is not exactly the
 * message's ipc_<P>_<M>_handler type. */
#ifndef IPC_MSGMAP_H
#define IPC_MSGMAP_H

#include "ipc/msg.h"
#include "ipc/protocol.h"

#include <stddef.h>

/* A handler stored untyped; only the message's own trampoline calls it, after
 * converting it back to the exact type it had (C11 6.3.2.3p8). */
typedef void (*ipc_msgmap_fn)(void);
typedef int (*ipc_msgmap_trampoline)(ipc_msgmap_fn fn, void *ctx, ipc_msg *msg, void *in,
                                     void *out);

typedef struct ipc_msgmap_entry {
    const ipc_msg_desc *desc;
    ipc_msgmap_trampoline call;
    ipc_msgmap_fn fn;
} ipc_msgmap_entry;

/* One entry: protocol, message and a handler of type ipc_<P>_<M>_handler:
 *   int fn(void *ctx, ipc_msg *msg, ipc_P_M *in, ipc_P_M_reply *out)
 * `in` holds the decoded params; the handler may take an owned member (set the
 * field to NULL / -1 after taking it). `out` is zeroed; for SYNC and
 * ASYNC_RETURNS messages it is written into the reply when the handler returns
 * >= 0, and freed with the reply's params_free afterwards, so strings, bytes
 * and protos put there must be malloc'd (protos: protobuf-c default allocator)
 * and fds must be the handler's to give (they are dup()ed into the reply and
 * then closed). A handler returns 0 or a negative code. */
#define IPC_HANDLER(P, M, fn)                                                                      \
    {                                                                                              \
        &ipc_##P##_##M##_desc, ipc__##P##_##M##_call,                                              \
            _Generic((fn), ipc_##P##_##M##_handler *                                               \
                     : (ipc_msgmap_fn)(fn))                                                        \
    }

#define IPC_MSGMAP_LEN(map) (sizeof(map) / sizeof((map)[0]))

/* Dispatches `msg` through `map`. The message stays the caller's (borrowed),
 * except that the fds its params name are taken out of it while decoding and
 * closed after the handler unless the handler took them. Listener thread of
 * whoever owns the map; the map itself is read-only and may be shared.
 *
 * Returns:
 *   the handler's result (0 or negative) once it ran;
 *   IPC_E_UNHANDLED when no entry has the message's type, or msg is a reply
 *     (replies belong to whoever waits for them, never to a message map);
 *   IPC_E_BAD_FLAGS when the message's SYNC / WANTS_REPLY flags contradict its
 *     declaration (a SYNC message must carry IPC_MSG_SYNC, an ASYNC_RETURNS one
 *     IPC_MSG_WANTS_REPLY, an ASYNC one neither); the handler does not run;
 *   IPC_E_PARAM when the params did not decode; the handler does not run;
 *   -ENOMEM.
 * For SYNC and ASYNC_RETURNS messages whose handler ran, *reply_out is the
 * reply (the caller's, to send): the reply struct written as the payload, or,
 * when the handler failed or the reply could not be written, an empty reply
 * flagged IPC_MSG_REPLY_ERROR. Otherwise *reply_out is NULL. `reply_out` may
 * be NULL only for maps without SYNC / ASYNC_RETURNS messages (-EINVAL then). */
int ipc_msgmap_dispatch(const ipc_msgmap_entry *map, size_t n, void *ctx, ipc_msg *msg,
                        ipc_msg **reply_out);
/* The same; `cause` (may be NULL) receives the underlying decode error behind
 * IPC_E_PARAM (IPC_E_TRUNCATED, IPC_E_BAD_BOOL, ...) and `param` (may be NULL)
 * the index of the param at fault (nparams for trailing bytes); both are
 * untouched otherwise. */
int ipc_msgmap_dispatch_ex(const ipc_msgmap_entry *map, size_t n, void *ctx, ipc_msg *msg,
                           ipc_msg **reply_out, int *cause, size_t *param);
/* The entry for `type`, or NULL. */
const ipc_msgmap_entry *ipc_msgmap_find(const ipc_msgmap_entry *map, size_t n, uint32_t type);

#endif
