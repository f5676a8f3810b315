/* Raw wire helpers shared by the unit tests (see wire_util.h). */
#include "wire_util.h"

#include "ipc/errors.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define RIG_CMSG_MAX_FDS 253

void rig_rng_seed(rig_rng *r, uint64_t seed)
{
    r->s = seed;
}

uint64_t rig_rng_next(rig_rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

uint64_t rig_rng_below(rig_rng *r, uint64_t n)
{
    return n ? rig_rng_next(r) % n : 0; /* the bias is irrelevant for tests */
}

uint64_t rig_rng_range(rig_rng *r, uint64_t lo, uint64_t hi)
{
    return lo + rig_rng_below(r, hi - lo + 1);
}

void rig_rng_fill(rig_rng *r, void *buf, size_t len)
{
    uint8_t *p = buf;
    while (len >= 8) {
        uint64_t v = rig_rng_next(r);
        memcpy(p, &v, 8);
        p += 8;
        len -= 8;
    }
    if (len) {
        uint64_t v = rig_rng_next(r);
        memcpy(p, &v, len);
    }
}

void rig_buf_init(rig_buf *b)
{
    b->data = NULL;
    b->len = b->cap = 0;
}

void rig_buf_free(rig_buf *b)
{
    free(b->data);
    rig_buf_init(b);
}

void rig_buf_put(rig_buf *b, const void *p, size_t len)
{
    if (len == 0)
        return;
    if (b->len + len > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + len)
            cap *= 2;
        uint8_t *n = realloc(b->data, cap);
        if (!n) {
            fprintf(stderr, "rig_buf_put: out of memory\n");
            abort();
        }
        b->data = n;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, len);
    b->len += len;
}

void rig_wire_le32(uint8_t *out, uint32_t v)
{
    out[0] = (uint8_t)v;
    out[1] = (uint8_t)(v >> 8);
    out[2] = (uint8_t)(v >> 16);
    out[3] = (uint8_t)(v >> 24);
}

uint32_t rig_wire_get_le32(const uint8_t *in)
{
    return (uint32_t)in[0] | (uint32_t)in[1] << 8 | (uint32_t)in[2] << 16 | (uint32_t)in[3] << 24;
}

void rig_buf_put_le32(rig_buf *b, uint32_t v)
{
    uint8_t w[4];
    rig_wire_le32(w, v);
    rig_buf_put(b, w, 4);
}

void rig_wire_header(uint8_t out[IPC_MSG_HEADER_SIZE], uint32_t payload_size, uint32_t type,
                     int32_t routing_id, uint32_t flags, uint32_t num_fds, uint32_t txn_id)
{
    rig_wire_le32(out + 0, payload_size);
    rig_wire_le32(out + 4, type);
    rig_wire_le32(out + 8, (uint32_t)routing_id);
    rig_wire_le32(out + 12, flags);
    rig_wire_le32(out + 16, num_fds);
    rig_wire_le32(out + 20, txn_id);
}

void rig_wire_frame(rig_buf *b, uint32_t type, int32_t routing_id, uint32_t flags, uint32_t num_fds,
                    uint32_t txn_id, const void *payload, size_t len)
{
    uint8_t h[IPC_MSG_HEADER_SIZE];
    rig_wire_header(h, (uint32_t)len, type, routing_id, flags, num_fds, txn_id);
    rig_buf_put(b, h, sizeof h);
    rig_buf_put(b, payload, len);
}

void rig_wire_msg(rig_buf *b, const ipc_msg *msg)
{
    uint8_t h[IPC_MSG_HEADER_SIZE];
    size_t len;
    const uint8_t *p = ipc_msg_payload(msg, &len);
    ipc_msg_encode_header(msg, h);
    rig_buf_put(b, h, sizeof h);
    rig_buf_put(b, p, len);
}

int rig_send_with_fds(int sock, const void *buf, size_t len, const int *fds, size_t nfds)
{
    union {
        struct cmsghdr h;
        char space[CMSG_SPACE(sizeof(int) * RIG_CMSG_MAX_FDS)];
    } ctl;
    const uint8_t *p = buf;
    if (nfds > RIG_CMSG_MAX_FDS || (nfds > 0 && len == 0))
        return -EINVAL;
    while (len > 0) {
        struct iovec iov = {.iov_base = (void *)p, .iov_len = len};
        struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
        if (nfds > 0) {
            memset(&ctl, 0, sizeof ctl);
            mh.msg_control = ctl.space;
            mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
            struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
            c->cmsg_level = SOL_SOCKET;
            c->cmsg_type = SCM_RIGHTS;
            c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
            memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
        }
        ssize_t n = sendmsg(sock, &mh, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        nfds = 0; /* the kernel took them with the first byte sent */
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

long rig_recv_into_decoder(int sock, ipc_frame_decoder *dec, size_t max)
{
    union {
        struct cmsghdr h;
        char space[CMSG_SPACE(sizeof(int) * RIG_CMSG_MAX_FDS)];
    } ctl;
    uint8_t *buf;
    size_t room;
    int rc = ipc_frame_decoder_space(dec, &buf, &room);
    if (rc)
        return rc;
    if (max && room > max)
        room = max;
    struct iovec iov = {.iov_base = buf, .iov_len = room};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    mh.msg_control = ctl.space;
    mh.msg_controllen = sizeof ctl.space;
    ssize_t n;
    do
        n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return -errno;
    int truncated = (mh.msg_flags & MSG_CTRUNC) != 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        int fds[RIG_CMSG_MAX_FDS];
        memcpy(fds, CMSG_DATA(c), k * sizeof(int));
        rc = ipc_frame_decoder_push_fds(dec, fds, k); /* before the bytes */
        if (rc)
            return rc;
    }
    rc = ipc_frame_decoder_commit(dec, (size_t)n);
    if (rc)
        return rc;
    if (truncated)
        return IPC_E_CTRUNC;
    return (long)n;
}

int rig_pipe_with_id(uint32_t id)
{
    int p[2];
    uint8_t b[4];
    if (pipe2(p, O_CLOEXEC) < 0)
        return -errno;
    rig_wire_le32(b, id);
    ssize_t n = write(p[1], b, sizeof b);
    int err = errno;
    close(p[1]);
    if (n != (ssize_t)sizeof b) {
        close(p[0]);
        return n < 0 ? -err : -EIO;
    }
    return p[0];
}

int64_t rig_pipe_id(int fd)
{
    uint8_t b[5];
    size_t got = 0;
    for (;;) {
        ssize_t n = read(fd, b + got, sizeof b - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        got += (size_t)n;
        if (got == sizeof b)
            return -1; /* more than the id: not our pipe */
    }
    return got == 4 ? (int64_t)rig_wire_get_le32(b) : -1;
}

long rig_vm_size_kib(void)
{
    FILE *f = fopen("/proc/self/status", "re");
    if (!f)
        return -1;
    char line[256];
    long kib = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmSize: %ld kB", &kib) == 1)
            break;
    fclose(f);
    return kib;
}
