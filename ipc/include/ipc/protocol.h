/* Message declarations and their reflection descriptors. One declaration per
 * message (an X-macro table per protocol, see ipc/protocols/) generates its
 * params struct, writer, reader, send helper, message-map entry and the
 * descriptor below, which logging, the scenario language and the
 * structure-aware fuzzers read. This header holds the descriptor types, the
 * registry of every protocol, and the generic codec the generated code uses. */
#ifndef IPC_PROTOCOL_H
#define IPC_PROTOCOL_H

#include "ipc/msg.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ProtobufCMessageDescriptor;

/* Param kinds and their C types in a params struct:
 *   BOOL bool | INT32 int32_t | UINT32 uint32_t | INT64 int64_t | UINT64 uint64_t
 *   DOUBLE double | STRING char * (NUL-terminated, no inner NUL; NULL writes "")
 *   BYTES ipc_bytes | FD int (-1: none)
 *   PROTO a pointer to the protobuf-c generated struct (e.g. Ipcrig__EndpointInfo *),
 *         which begins with a ProtobufCMessage; NULL writes an empty message and
 *         a read always yields a non-NULL message (a struct param).
 * After a read the params struct owns strings, bytes, fds and protos; free them
 * with the message's params_free. Writing only borrows them. */
typedef enum ipc_param_kind {
    IPC_PK_BOOL,
    IPC_PK_INT32,
    IPC_PK_UINT32,
    IPC_PK_INT64,
    IPC_PK_UINT64,
    IPC_PK_DOUBLE,
    IPC_PK_STRING,
    IPC_PK_BYTES,
    IPC_PK_FD,
    IPC_PK_PROTO,
} ipc_param_kind;

typedef struct ipc_bytes {
    uint8_t *data;
    size_t len;
} ipc_bytes;

typedef enum ipc_route_kind { IPC_ROUTE_CONTROL, IPC_ROUTE_ROUTED } ipc_route_kind;
typedef enum ipc_sync_kind {
    IPC_ASYNC,         /* fire and forget */
    IPC_SYNC,          /* the sender blocks for the reply (child to parent only) */
    IPC_ASYNC_RETURNS, /* async with a reply resolved or rejected later (Gecko) */
} ipc_sync_kind;
typedef enum ipc_direction {
    IPC_DIR_PARENT_TO_CHILD, /* Chromium's "View" messages */
    IPC_DIR_CHILD_TO_PARENT, /* Chromium's "ViewHost" messages */
    IPC_DIR_BOTH,
} ipc_direction;

typedef struct ipc_param_desc {
    const char *name;
    ipc_param_kind kind;
    size_t offset; /* offsetof the field in the params (or reply) struct */
    const struct ProtobufCMessageDescriptor *proto; /* IPC_PK_PROTO only */
} ipc_param_desc;

typedef struct ipc_msg_desc {
    const char *protocol;  /* "PDemo" */
    const char *name;      /* "InitCrashReporter" */
    const char *full_name; /* "PDemo::Msg_InitCrashReporter" */
    uint16_t cls;
    uint16_t id;
    uint32_t type; /* cls << 16 | id */
    ipc_route_kind route;
    ipc_sync_kind sync;
    ipc_direction dir;
    size_t nparams;
    const ipc_param_desc *params;
    size_t params_size; /* sizeof the params struct */
    size_t nreplies;
    const ipc_param_desc *replies;
    size_t replies_size; /* sizeof the reply struct */
} ipc_msg_desc;

typedef struct ipc_protocol_desc {
    const char *name; /* "PDemo" */
    uint16_t cls;
    size_t nmsgs;
    const ipc_msg_desc *const *msgs;
} ipc_protocol_desc;

/* ---- registry: every declared protocol, fixed at build time ---- */

/* NULL-terminated list of every protocol. */
const ipc_protocol_desc *const *ipc_protocols(void);
const ipc_protocol_desc *ipc_protocol_find(const char *name);
/* The descriptor for a message type, or NULL. Thread-safe. */
const ipc_msg_desc *ipc_msgdesc_lookup(uint32_t type);
/* By "PDemo::Msg_InitCrashReporter", "PDemo::InitCrashReporter" or "InitCrashReporter"
 * (the last only when unambiguous). NULL if none. */
const ipc_msg_desc *ipc_msgdesc_find(const char *name);
/* The descriptor of message `id` inside protocol `proto`, or NULL. Thread-safe. */
const ipc_msg_desc *ipc_protocol_msg(const ipc_protocol_desc *proto, uint16_t id);
/* Non-zero when `type` is declared: a frame decoder type_known callback. */
int ipc_msg_type_known(uint32_t type, void *ctx);
/* Writes the name of a message type to buf and returns buf:
 * "PDemo::Msg_InitCrashReporter", "PDemo::Reply_GiveAssistance" when `flags`
 * has IPC_MSG_REPLY, and for an undeclared type "0x00410099 (class 0x41
 * PDemo, id 0x99: unknown)" or "(class 0x7f unknown, id 0x1)". */
const char *ipc_msg_type_name(uint32_t type, uint32_t flags, char *buf, size_t len);
#define IPC_MSG_NAME_MAX 128

/* ---- generic codec used by the generated functions ---- */

/* Largest PROTO blob a reader accepts before unpacking it (IPC_E_TOO_LARGE). */
#define IPC_PARAM_MAX_PROTO (16u * 1024u * 1024u)

/* Writes params (reply=false) or reply values (reply=true) into msg's payload,
 * attaching dup()s of FD params (the caller keeps its fds). 0 or an IPC_E_* code. */
int ipc_params_write(const ipc_msg_desc *d, bool reply, ipc_msg *msg, const void *src);
/* Reads them into `dst` (zeroed first); FD params are taken from msg. The
 * whole payload must be consumed (IPC_E_TRAILING otherwise). On failure dst is
 * left freed and zeroed. */
int ipc_params_read(const ipc_msg_desc *d, bool reply, ipc_msg *msg, void *dst);
/* The same, and on failure *failed is the index of the param at fault, or the
 * param count when the fault is trailing bytes. `failed` may be NULL. */
int ipc_params_read_at(const ipc_msg_desc *d, bool reply, ipc_msg *msg, void *dst, size_t *failed);
/* Frees what a read produced (closes fds). Idempotent on a zeroed struct. */
void ipc_params_free(const ipc_msg_desc *d, bool reply, void *p);
/* Formats params for logs: `pid=42, path="/tmp/x", fd=#5, info={dump_dir: "/tmp"}`
 * (an FD shows its descriptor number, or `none`). Control characters are
 * escaped, long strings and bytes truncated with their full length shown.
 * Always NUL-terminates when len > 0; returns the length the whole text has
 * (as snprintf), so a result >= len means it was cut. Any thread. */
int ipc_params_format(const ipc_msg_desc *d, bool reply, const void *p, char *buf, size_t len);
/* Builds a complete message from params: type from the descriptor, flags
 * IPC_MSG_SYNC for SYNC and IPC_MSG_WANTS_REPLY for ASYNC_RETURNS messages,
 * txn id 0 (the sending layer assigns one before the message leaves: the
 * proxy's send_sync does for SYNC). FD params are dup()ed: the caller keeps
 * its fds. On 0 *out is the caller's; on failure *out is NULL. Any thread. */
int ipc_msg_build(ipc_msg **out, const ipc_msg_desc *d, int32_t routing_id, const void *params);
/* Builds the reply to `request` (ipc_msg_new_reply: same type, routing id and
 * txn id, IPC_MSG_REPLY) with the reply values of `d`. Ownership as
 * ipc_msg_build; the request is not changed. */
int ipc_msg_build_reply(ipc_msg **out, const ipc_msg_desc *d, const ipc_msg *request,
                        const void *reply);

#endif
