/* A message: a fixed 24-byte header (payload size, type, routing id, flags, fd
 * count, transaction id), a Pickle payload, and attached file descriptors.
 * Byte layout: docs/wire-format.md ("Frame header"). */
#ifndef IPC_MSG_H
#define IPC_MSG_H

#include "ipc/pickle.h"

#include <stddef.h>
#include <stdint.h>

#define IPC_MSG_HEADER_SIZE 24

/* type = class << 16 | id, as in Chromium's ipc_message_start.h numbering. */
#define IPC_MSG_TYPE(cls, id) ((uint32_t)(cls) << 16 | (uint32_t)(id))
#define IPC_MSG_CLASS(type) ((uint16_t)((type) >> 16))
#define IPC_MSG_ID(type) ((uint16_t)((type)&0xffffu))

/* Routing ids. Control messages go to whoever created the channel. */
#define IPC_ROUTING_CONTROL INT32_MAX
#define IPC_ROUTING_NONE (-2)

/* libipc's own messages (class 0xFFFF, the "IPC" protocol): the hello each
 * side sends first (int32 pid), and the Goodbye that closes a channel. */
#define IPC_CLASS_INTERNAL 0xffffu
#define IPC_MSG_HELLO IPC_MSG_TYPE(IPC_CLASS_INTERNAL, 1)
#define IPC_MSG_GOODBYE IPC_MSG_TYPE(IPC_CLASS_INTERNAL, 2)

/* Header flags. Any bit outside IPC_MSG_FLAGS_KNOWN is a bad frame. */
enum ipc_msg_flags {
    IPC_MSG_PRIORITY_MASK = 0x3,  /* 0 normal, 1 high, 2 urgent; 3 is invalid */
    IPC_MSG_SYNC = 0x4,           /* synchronous request: the sender blocks */
    IPC_MSG_REPLY = 0x8,          /* answers the request with the same txn id */
    IPC_MSG_REPLY_ERROR = 0x10,   /* the reply carries no result: handler failed */
    IPC_MSG_WANTS_REPLY = 0x20,   /* async request with returns (resolve/reject) */
    IPC_MSG_FLAGS_KNOWN = 0x3f,
};

enum ipc_msg_priority { IPC_PRIORITY_NORMAL = 0, IPC_PRIORITY_HIGH = 1, IPC_PRIORITY_URGENT = 2 };

/* The decoded fixed header of a frame. */
typedef struct ipc_msg_header {
    uint32_t payload_size;
    uint32_t type;
    int32_t routing_id;
    uint32_t flags;
    uint32_t num_fds;
    uint32_t txn_id;
} ipc_msg_header;

typedef struct ipc_msg ipc_msg;

/* Creates an empty message. NULL when out of memory. The caller owns it until
 * it is handed to a send function, which takes it on success and on failure.
 * Any thread. */
ipc_msg *ipc_msg_new(int32_t routing_id, uint32_t type, uint32_t flags);
/* Creates the reply to `request` (same type, routing id and txn id, REPLY set).
 * The request is not changed. NULL when out of memory. */
ipc_msg *ipc_msg_new_reply(const ipc_msg *request);
/* Frees the message and closes every attached fd it still owns. NULL is a no-op. */
void ipc_msg_free(ipc_msg *msg);
/* A deep copy (payload, header fields, the writer's sticky error); attached
 * fds are dup()ed (F_DUPFD_CLOEXEC), slots already taken stay empty (-1).
 * NULL on failure, with nothing leaked. The source is not changed. */
ipc_msg *ipc_msg_clone(const ipc_msg *msg);

uint32_t ipc_msg_type(const ipc_msg *msg);
int32_t ipc_msg_routing_id(const ipc_msg *msg);
uint32_t ipc_msg_flags(const ipc_msg *msg);
uint32_t ipc_msg_txn_id(const ipc_msg *msg);
void ipc_msg_set_routing_id(ipc_msg *msg, int32_t routing_id);
void ipc_msg_set_flags(ipc_msg *msg, uint32_t flags);
void ipc_msg_set_txn_id(ipc_msg *msg, uint32_t txn_id);
int ipc_msg_is_sync(const ipc_msg *msg);
int ipc_msg_is_reply(const ipc_msg *msg);
int ipc_msg_is_reply_error(const ipc_msg *msg);
int ipc_msg_wants_reply(const ipc_msg *msg);

/* The payload writer. Write fields in order; errors are sticky (pickle.h). */
ipc_pickle *ipc_msg_writer(ipc_msg *msg);
/* The payload bytes, borrowed from the message. */
const uint8_t *ipc_msg_payload(const ipc_msg *msg, size_t *len);
/* An iterator over the payload; valid while the message is alive. */
void ipc_msg_iter(const ipc_msg *msg, ipc_pickle_iter *it);

/* Attaches `fd`; the message owns it from now on, also on failure (it is closed
 * then). Returns the fd's index (>= 0) or -ENOMEM / IPC_E_TOO_MANY_FDS, or
 * -EBADF for fd < 0 (nothing to close then). */
int ipc_msg_add_fd(ipc_msg *msg, int fd);
/* Attaches `fd` and writes its index as an fd parameter. fd < 0 writes
 * IPC_PICKLE_NO_FD and attaches nothing. Ownership as ipc_msg_add_fd; a
 * failure to attach becomes the writer's sticky error (the field is missing),
 * and on a writer already failed the fd is closed and that error returned. */
int ipc_msg_write_fd(ipc_msg *msg, int fd);
/* Reads an fd parameter and takes that fd from the message: *fd is then the
 * caller's (or -1 for IPC_PICKLE_NO_FD). IPC_E_BAD_FD_INDEX if the index names
 * no attached fd or one already taken. */
int ipc_msg_read_fd(ipc_msg *msg, ipc_pickle_iter *it, int *fd);
size_t ipc_msg_num_fds(const ipc_msg *msg);
/* Borrowed fd at `index`, or -1. */
int ipc_msg_fd(const ipc_msg *msg, size_t index);
/* Takes the fd at `index` (the caller owns it), or IPC_E_BAD_FD_INDEX. */
int ipc_msg_take_fd(ipc_msg *msg, size_t index);

/* Most fds one message may carry (the frame decoder's default limit too). */
#define IPC_MSG_MAX_FDS 1024u

/* Serialises the header for sending. The payload size is the writer's size. */
void ipc_msg_encode_header(const ipc_msg *msg, uint8_t out[IPC_MSG_HEADER_SIZE]);
/* Decodes and validates a header: known flags only, valid priority, REPLY_ERROR
 * only with REPLY, neither SYNC nor REPLY together with WANTS_REPLY, no SYNC
 * on a REPLY, a txn id exactly when one of SYNC/WANTS_REPLY/REPLY is set,
 * payload a multiple of four. Returns 0, IPC_E_BAD_FLAGS (checked first) or
 * IPC_E_BAD_SIZE. Does not apply size limits. *h is filled in from the bytes
 * even on failure, so a caller can name the type of a rejected frame. */
int ipc_msg_decode_header(const uint8_t in[IPC_MSG_HEADER_SIZE], ipc_msg_header *h);

#endif
