/* Internals of ipc_msg shared by msg.c and the frame decoder; not installed. */
#ifndef IPC_MSG_INTERNAL_H
#define IPC_MSG_INTERNAL_H

#include "ipc/msg.h"

struct ipc_msg {
    uint32_t type;
    int32_t routing_id;
    uint32_t flags;
    uint32_t txn_id;
    ipc_pickle payload; /* writer while building; holds the received bytes too */
    int *fds;           /* owned; -1 marks a slot already taken */
    uint32_t nfds;
    uint32_t fds_cap;
};

/* Builds a received message from a validated header. Takes `payload` (from
 * ipc__buf_get or malloc, `cap` >= h->payload_size bytes, may be NULL when the
 * size is 0) and the `fds` values (copied into the message, which then owns
 * them), also on failure. NULL on ENOMEM. */
ipc_msg *ipc__msg_from_frame(const ipc_msg_header *h, uint8_t *payload, size_t cap,
                             const int *fds);

#endif
