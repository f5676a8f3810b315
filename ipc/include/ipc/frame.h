/* The one incremental frame decoder: bytes in any chunking plus the fds that
 * arrived with them in, whole messages out, with size and fd-count limits and
 * classified errors. The channel, the switchboard and every fuzz target use it.
 * Pure: no I/O, no threads, no globals. One thread at a time per decoder. */
#ifndef IPC_FRAME_H
#define IPC_FRAME_H

#include "ipc/msg.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define IPC_FRAME_DEFAULT_MAX_PAYLOAD (128u * 1024u * 1024u)
#define IPC_FRAME_DEFAULT_MAX_FDS IPC_MSG_MAX_FDS

typedef struct ipc_frame_limits {
    uint32_t max_payload; /* larger payload_size -> IPC_E_BAD_SIZE */
    uint32_t max_fds;     /* larger num_fds -> IPC_E_TOO_MANY_FDS */
    /* Optional: returns non-zero when `type` is a known message type; an
     * unknown one is IPC_E_UNKNOWN_TYPE. NULL accepts every type. */
    int (*type_known)(uint32_t type, void *ctx);
    void *type_ctx;
} ipc_frame_limits;

typedef struct ipc_frame_decoder ipc_frame_decoder;

/* Fills in the defaults: 128 MiB, IPC_MSG_MAX_FDS, every type accepted. */
void ipc_frame_limits_default(ipc_frame_limits *lim);

/* Creates a decoder; `lim` NULL means the defaults. 0 or -ENOMEM/-EINVAL. */
int ipc_frame_decoder_new(ipc_frame_decoder **out, const ipc_frame_limits *lim);
/* Frees the decoder, every undelivered message and every fd it holds. */
void ipc_frame_decoder_free(ipc_frame_decoder *dec);

/* Queues fds received with the next bytes. Push a recvmsg's fds before its
 * bytes. The decoder owns them from now on, also on failure (closed then).
 * More than 2 * max_fds queued is IPC_E_TOO_MANY_FDS; a negative value in
 * `fds` is -EBADF. Both are sticky. */
int ipc_frame_decoder_push_fds(ipc_frame_decoder *dec, const int *fds, size_t n);

/* Zero-copy input: where the next bytes should be written and how many fit
 * (always > 0). Then ipc_frame_decoder_commit() once, with the count actually
 * written (<= *len, 0 allowed); a commit larger than the last space() offered
 * (or a second commit) is a sticky -EINVAL. Large payloads are read straight
 * into their final buffer. The buffer is valid until the next call. */
int ipc_frame_decoder_space(ipc_frame_decoder *dec, uint8_t **buf, size_t *len);
/* The same as space(), as up to two regions filled in order (for readv or
 * recvmsg; `iov` has room for two): when the first is the end of a payload
 * read in place, the second takes what follows it, so one read gets the rest
 * of a large message and the next header. *n gets 1 or 2; commit() takes the
 * total written. */
int ipc_frame_decoder_space_iov(ipc_frame_decoder *dec, struct iovec *iov, int *n);
int ipc_frame_decoder_commit(ipc_frame_decoder *dec, size_t n);
/* Copying input: the same as space/commit in a loop. */
int ipc_frame_decoder_feed(ipc_frame_decoder *dec, const void *data, size_t len);

/* Takes the next complete message: 1 and *out (the caller owns it), 0 when none
 * is ready, or the decoder's error once the messages decoded before the error
 * have all been taken. Errors are sticky: the stream cannot be resynchronised. */
int ipc_frame_decoder_next(ipc_frame_decoder *dec, ipc_msg **out);
/* The message next() would return, left in the decoder (valid until the next
 * call that changes it): 1 and *out, or 0 when none is ready. */
int ipc_frame_decoder_peek(const ipc_frame_decoder *dec, const ipc_msg **out);
/* Call at end of stream: 0 when it ended between frames with no spare fds,
 * IPC_E_TRUNCATED inside a frame, IPC_E_FD_COUNT with fds left over. */
int ipc_frame_decoder_finish(ipc_frame_decoder *dec);

/* The sticky error (0 if none) and the type of the frame it concerned (0 when
 * no header had been read). */
int ipc_frame_decoder_error(const ipc_frame_decoder *dec);
uint32_t ipc_frame_decoder_error_type(const ipc_frame_decoder *dec);
/* Bytes of an incomplete frame held, and queued fds not yet claimed. */
size_t ipc_frame_decoder_pending_bytes(const ipc_frame_decoder *dec);
size_t ipc_frame_decoder_pending_fds(const ipc_frame_decoder *dec);

#endif
