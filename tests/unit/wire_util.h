/* Test helpers for raw wire bytes: a deterministic PRNG, a growable byte
 * buffer, hand-built frame headers (independent of ipc_msg_encode_header, so
 * tests can forge any header), SCM_RIGHTS send/receive that follow the rules
 * of docs/wire-format.md section 4, and fd identity probes. */
#ifndef RIG_WIRE_UTIL_H
#define RIG_WIRE_UTIL_H

#include "ipc/frame.h"
#include "ipc/msg.h"

#include <stddef.h>
#include <stdint.h>

/* splitmix64: the same seed gives the same sequence on every machine. */
typedef struct rig_rng {
    uint64_t s;
} rig_rng;

void rig_rng_seed(rig_rng *r, uint64_t seed);
uint64_t rig_rng_next(rig_rng *r);
/* Uniform in [0, n); n == 0 gives 0. */
uint64_t rig_rng_below(rig_rng *r, uint64_t n);
/* Uniform in [lo, hi] (inclusive). */
uint64_t rig_rng_range(rig_rng *r, uint64_t lo, uint64_t hi);
void rig_rng_fill(rig_rng *r, void *buf, size_t len);

/* Growable byte buffer; aborts on out-of-memory (tests only). */
typedef struct rig_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
} rig_buf;

void rig_buf_init(rig_buf *b);
void rig_buf_free(rig_buf *b);
void rig_buf_put(rig_buf *b, const void *p, size_t len);
void rig_buf_put_le32(rig_buf *b, uint32_t v);

void rig_wire_le32(uint8_t *out, uint32_t v);
uint32_t rig_wire_get_le32(const uint8_t *in);
/* A 24-byte header with exactly these field values, valid or not. */
void rig_wire_header(uint8_t out[IPC_MSG_HEADER_SIZE], uint32_t payload_size, uint32_t type,
                     int32_t routing_id, uint32_t flags, uint32_t num_fds, uint32_t txn_id);
/* Appends a header (payload_size = len) followed by `len` payload bytes. */
void rig_wire_frame(rig_buf *b, uint32_t type, int32_t routing_id, uint32_t flags, uint32_t num_fds,
                    uint32_t txn_id, const void *payload, size_t len);
/* Appends msg's header and payload as the sender puts them on the wire. */
void rig_wire_msg(rig_buf *b, const ipc_msg *msg);

/* One sendmsg loop: sends all of buf, with `nfds` fds (<= 253) as SCM_RIGHTS
 * on the first sendmsg. MSG_NOSIGNAL, retries EINTR and short writes. The fds
 * stay the caller's. 0 or -errno. */
int rig_send_with_fds(int sock, const void *buf, size_t len, const int *fds, size_t nfds);

/* One recvmsg straight into the decoder: space(), recvmsg with room for 253
 * fds (MSG_CMSG_CLOEXEC), push_fds() of what came, then commit(). Returns the
 * byte count (> 0), 0 at end of stream, -errno, IPC_E_CTRUNC, or the
 * decoder's error. Received fds are the decoder's in every case. `max` > 0
 * caps the bytes asked for (to force many small reads). */
long rig_recv_into_decoder(int sock, ipc_frame_decoder *dec, size_t max);

/* A pipe whose write end received `id` (4 bytes, LE) and was closed: the read
 * end (O_CLOEXEC) is returned, or -errno. rig_pipe_id() reads the id back and
 * checks that EOF follows; it returns the id or -1 when the fd is not such a
 * pipe. */
int rig_pipe_with_id(uint32_t id);
int64_t rig_pipe_id(int fd);

/* Virtual size of this process in KiB (VmSize), or -1. */
long rig_vm_size_kib(void);

#endif
