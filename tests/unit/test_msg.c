/* Unit tests for messages: the 24-byte header (layout and every flag rule of
 * ipc_msg_decode_header), fd ownership (add/take/read/clone/free, with fd
 * counts checked) and replies. */
#include "testutil.h"
#include "wire_util.h"

#include "ipc/errors.h"
#include "ipc/msg.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int fd_is_open(int fd)
{
    return fcntl(fd, F_GETFD) >= 0;
}

static int same_file(int a, int b)
{
    struct stat sa, sb;
    return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

/* Decodes a header with exactly these fields. */
static int decode(uint32_t size, uint32_t flags, uint32_t txn, ipc_msg_header *h)
{
    uint8_t b[IPC_MSG_HEADER_SIZE];
    rig_wire_header(b, size, IPC_MSG_TYPE(0x41, 7), 12, flags, 0, txn);
    return ipc_msg_decode_header(b, h);
}

/* The rules of docs/wire-format.md 2.1, written independently of msg.c. */
static int flags_valid(uint32_t f, uint32_t txn)
{
    int sync = (f & 0x4) != 0, reply = (f & 0x8) != 0, rerr = (f & 0x10) != 0;
    int wants = (f & 0x20) != 0;
    if (f >> 6)
        return 0;
    if ((f & 3) == 3)
        return 0;
    if (rerr && !reply)
        return 0;
    if (sync && wants)
        return 0;
    if (reply && wants)
        return 0;
    if (reply && sync) /* "a reply never carries SYNC" */
        return 0;
    return (sync || wants || reply) == (txn != 0);
}

START_TEST(msg_header_roundtrip)
{
    ipc_msg *m = ipc_msg_new(-2, IPC_MSG_TYPE(0x41, 3), IPC_MSG_SYNC | IPC_PRIORITY_URGENT);
    ck_assert_ptr_nonnull(m);
    ipc_msg_set_txn_id(m, 0x01020304u);
    ck_assert_int_eq(ipc_pickle_write_u32(ipc_msg_writer(m), 0xaabbccddu), 0);
    ck_assert_int_eq(ipc_pickle_write_string(ipc_msg_writer(m), "hey", 3), 0);
    int p[2];
    ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
    ck_assert_int_eq(ipc_msg_add_fd(m, p[0]), 0);
    ck_assert_int_eq(ipc_msg_add_fd(m, p[1]), 1);

    uint8_t h[IPC_MSG_HEADER_SIZE];
    ipc_msg_encode_header(m, h);
    /* The layout is pinned: u32 size, type, routing, flags, num_fds, txn (LE). */
    const uint8_t want[IPC_MSG_HEADER_SIZE] = {
        12,   0,    0,    0,    /* payload_size: u32 + string "hey" (4 + 3 + 1 pad) */
        0x03, 0x00, 0x41, 0x00, /* type 0x00410003 */
        0xfe, 0xff, 0xff, 0xff, /* routing -2 */
        0x06, 0,    0,    0,    /* SYNC | urgent */
        2,    0,    0,    0,    /* num_fds */
        0x04, 0x03, 0x02, 0x01, /* txn */
    };
    ck_assert_mem_eq(h, want, sizeof want);

    ipc_msg_header d;
    ck_assert_int_eq(ipc_msg_decode_header(h, &d), 0);
    ck_assert_uint_eq(d.payload_size, 12);
    ck_assert_uint_eq(d.type, IPC_MSG_TYPE(0x41, 3));
    ck_assert_int_eq(d.routing_id, -2);
    ck_assert_uint_eq(d.flags, IPC_MSG_SYNC | IPC_PRIORITY_URGENT);
    ck_assert_uint_eq(d.num_fds, 2);
    ck_assert_uint_eq(d.txn_id, 0x01020304u);
    ck_assert_uint_eq(IPC_MSG_CLASS(d.type), 0x41);
    ck_assert_uint_eq(IPC_MSG_ID(d.type), 3);
    ipc_msg_free(m);

    /* Extremes survive too. */
    m = ipc_msg_new(IPC_ROUTING_CONTROL, 0xffffffffu, IPC_MSG_REPLY | IPC_MSG_REPLY_ERROR);
    ipc_msg_set_txn_id(m, 0xffffffffu);
    ipc_msg_encode_header(m, h);
    ck_assert_int_eq(ipc_msg_decode_header(h, &d), 0);
    ck_assert_int_eq(d.routing_id, INT32_MAX);
    ck_assert_uint_eq(d.type, 0xffffffffu);
    ck_assert_uint_eq(d.txn_id, 0xffffffffu);
    ck_assert_uint_eq(d.payload_size, 0);
    ck_assert_uint_eq(d.num_fds, 0);
    ipc_msg_free(m);
}
END_TEST

START_TEST(msg_decode_rejects_unknown_flag_bits)
{
    ipc_msg_header h;
    for (int bit = 6; bit < 32; bit++)
        ck_assert_int_eq(decode(0, 1u << bit, 0, &h), IPC_E_BAD_FLAGS);
    ck_assert_int_eq(decode(0, 0xffffffc0u, 0, &h), IPC_E_BAD_FLAGS);
    ck_assert_int_eq(decode(0, 0, 0, &h), 0);
}
END_TEST

START_TEST(msg_decode_rejects_priority_3)
{
    ipc_msg_header h;
    ck_assert_int_eq(decode(0, 3, 0, &h), IPC_E_BAD_FLAGS);
    ck_assert_int_eq(decode(0, 3 | IPC_MSG_SYNC, 9, &h), IPC_E_BAD_FLAGS);
    for (uint32_t p = 0; p < 3; p++) {
        ck_assert_int_eq(decode(0, p, 0, &h), 0);
        ck_assert_uint_eq(h.flags & IPC_MSG_PRIORITY_MASK, p);
    }
}
END_TEST

START_TEST(msg_decode_rejects_reply_error_without_reply)
{
    ipc_msg_header h;
    ck_assert_int_eq(decode(0, IPC_MSG_REPLY_ERROR, 0, &h), IPC_E_BAD_FLAGS);
    ck_assert_int_eq(decode(0, IPC_MSG_REPLY_ERROR, 5, &h), IPC_E_BAD_FLAGS);
    ck_assert_int_eq(decode(0, IPC_MSG_REPLY_ERROR | IPC_MSG_SYNC, 5, &h), IPC_E_BAD_FLAGS);
    ck_assert_int_eq(decode(0, IPC_MSG_REPLY_ERROR | IPC_MSG_REPLY, 5, &h), 0);
}
END_TEST

START_TEST(msg_decode_rejects_sync_with_wants_reply)
{
    ipc_msg_header h;
    ck_assert_int_eq(decode(0, IPC_MSG_SYNC | IPC_MSG_WANTS_REPLY, 1, &h), IPC_E_BAD_FLAGS);
    ck_assert_int_eq(decode(0, IPC_MSG_SYNC, 1, &h), 0);
    ck_assert_int_eq(decode(0, IPC_MSG_WANTS_REPLY, 1, &h), 0);
}
END_TEST

START_TEST(msg_decode_rejects_reply_with_wants_reply)
{
    ipc_msg_header h;
    ck_assert_int_eq(decode(0, IPC_MSG_REPLY | IPC_MSG_WANTS_REPLY, 1, &h), IPC_E_BAD_FLAGS);
    ck_assert_int_eq(decode(0, IPC_MSG_REPLY | IPC_MSG_REPLY_ERROR | IPC_MSG_WANTS_REPLY, 1, &h),
                     IPC_E_BAD_FLAGS);
    ck_assert_int_eq(decode(0, IPC_MSG_REPLY, 1, &h), 0);
}
END_TEST

START_TEST(msg_decode_rejects_sync_reply)
{
    /* A frame that is both a blocking request and a reply would be matched as
     * a reply and dispatched as a request; the spec says a reply never
     * carries SYNC. */
    ipc_msg_header h;
    ck_assert_int_eq(decode(0, IPC_MSG_SYNC | IPC_MSG_REPLY, 1, &h), IPC_E_BAD_FLAGS);
    ck_assert_int_eq(decode(0, IPC_MSG_SYNC | IPC_MSG_REPLY | IPC_MSG_REPLY_ERROR, 1, &h),
                     IPC_E_BAD_FLAGS);
}
END_TEST

START_TEST(msg_decode_txn_iff_request_or_reply)
{
    ipc_msg_header h;
    ck_assert_int_eq(decode(0, 0, 1, &h), IPC_E_BAD_FLAGS);
    ck_assert_int_eq(decode(0, IPC_PRIORITY_HIGH, 7, &h), IPC_E_BAD_FLAGS);
    ck_assert_int_eq(decode(0, IPC_MSG_SYNC, 0, &h), IPC_E_BAD_FLAGS);
    ck_assert_int_eq(decode(0, IPC_MSG_WANTS_REPLY, 0, &h), IPC_E_BAD_FLAGS);
    ck_assert_int_eq(decode(0, IPC_MSG_REPLY, 0, &h), IPC_E_BAD_FLAGS);
    /* Every combination of the six known bits, each txn kind, against the
     * rules written out independently above. */
    const uint32_t txns[] = {0, 1, 0x80000000u, 0xffffffffu};
    int accepted = 0;
    for (uint32_t f = 0; f < 64; f++) {
        for (size_t t = 0; t < 4; t++) {
            int rc = decode(0, f, txns[t], &h);
            ck_assert_msg(rc == (flags_valid(f, txns[t]) ? 0 : IPC_E_BAD_FLAGS),
                          "flags 0x%x txn 0x%x: rc %d", f, txns[t], rc);
            accepted += rc == 0;
        }
    }
    /* 3 priorities x {plain, SYNC, WANTS_REPLY, REPLY, REPLY|ERROR}, requests
     * and replies with each of the 3 non-zero txns. */
    ck_assert_int_eq(accepted, 3 * (1 + 4 * 3));
}
END_TEST

START_TEST(msg_decode_rejects_misaligned_payload)
{
    ipc_msg_header h;
    const uint32_t bad[] = {1, 2, 3, 5, 6, 7, 4097, 0x7fffffffu, 0xffffffffu};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_int_eq(decode(bad[i], 0, 0, &h), IPC_E_BAD_SIZE);
    /* No size limit here: that is the frame decoder's job. */
    const uint32_t good[] = {0, 4, 8, 0x7ffffffcu, 0xfffffffcu};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        ck_assert_int_eq(decode(good[i], 0, 0, &h), 0);
        ck_assert_uint_eq(h.payload_size, good[i]);
    }
    /* Flags are judged before size. */
    ck_assert_int_eq(decode(3, 0x40, 0, &h), IPC_E_BAD_FLAGS);
}
END_TEST

START_TEST(msg_decode_fills_header_on_failure)
{
    /* The frame decoder names the failing frame's type from it. */
    uint8_t b[IPC_MSG_HEADER_SIZE];
    ipc_msg_header h;
    rig_wire_header(b, 5, 0x00420009u, 77, 0x80, 3, 0);
    ck_assert_int_eq(ipc_msg_decode_header(b, &h), IPC_E_BAD_FLAGS);
    ck_assert_uint_eq(h.type, 0x00420009u);
    ck_assert_int_eq(h.routing_id, 77);
    ck_assert_uint_eq(h.num_fds, 3);
}
END_TEST

START_TEST(msg_fd_add_take_read)
{
    rig_fd_mark();
    ipc_msg *m = ipc_msg_new(1, 2, 0);
    int p[2], q[2];
    ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
    ck_assert_int_eq(pipe2(q, O_CLOEXEC), 0);
    ck_assert_int_eq(ipc_msg_write_fd(m, p[0]), 0);
    ck_assert_int_eq(ipc_msg_write_fd(m, -1), 0); /* NO_FD, attaches nothing */
    ck_assert_int_eq(ipc_msg_write_fd(m, p[1]), 0);
    ck_assert_int_eq(ipc_msg_add_fd(m, q[0]), 2);
    ck_assert_uint_eq(ipc_msg_num_fds(m), 3);
    ck_assert_int_eq(ipc_msg_fd(m, 0), p[0]);
    ck_assert_int_eq(ipc_msg_fd(m, 2), q[0]);
    ck_assert_int_eq(ipc_msg_fd(m, 3), -1);
    ck_assert_int_eq(ipc_msg_fd(m, (size_t)-1), -1);

    /* Bad indices. */
    ck_assert_int_eq(ipc_msg_take_fd(m, 3), IPC_E_BAD_FD_INDEX);
    ck_assert_int_eq(ipc_msg_take_fd(m, SIZE_MAX), IPC_E_BAD_FD_INDEX);

    ipc_pickle_iter it;
    ipc_msg_iter(m, &it);
    int fd = -2;
    ck_assert_int_eq(ipc_msg_read_fd(m, &it, &fd), 0);
    ck_assert_int_eq(fd, p[0]);
    ck_assert_int_eq(ipc_msg_fd(m, 0), -1); /* taken */
    ck_assert_int_eq(ipc_msg_read_fd(m, &it, &fd), 0);
    ck_assert_int_eq(fd, -1);
    ck_assert_int_eq(ipc_msg_read_fd(m, &it, &fd), 0);
    ck_assert_int_eq(fd, p[1]);
    ck_assert_int_eq(ipc_pickle_iter_end(&it), 0);

    /* Reading index 0 again: already taken, and the iterator does not move. */
    ipc_msg_iter(m, &it);
    fd = -2;
    ck_assert_int_eq(ipc_msg_read_fd(m, &it, &fd), IPC_E_BAD_FD_INDEX);
    ck_assert_uint_eq(it.pos, 0);
    ck_assert_int_eq(fd, -2);
    ck_assert_int_eq(ipc_msg_take_fd(m, 1), IPC_E_BAD_FD_INDEX); /* taken by read_fd */

    /* A payload naming an index past the fds, and one below -1. */
    ipc_msg *m2 = ipc_msg_new(1, 2, 0);
    ipc_pickle_write_i32(ipc_msg_writer(m2), 5);
    ipc_pickle_write_i32(ipc_msg_writer(m2), -2);
    ipc_msg_iter(m2, &it);
    ck_assert_int_eq(ipc_msg_read_fd(m2, &it, &fd), IPC_E_BAD_FD_INDEX);
    ck_assert_uint_eq(it.pos, 0);
    it.pos = 4;
    ck_assert_int_eq(ipc_msg_read_fd(m2, &it, &fd), IPC_E_BAD_FD_INDEX);
    ck_assert_uint_eq(it.pos, 4);
    ipc_msg_free(m2);

    /* Take the last one twice. */
    ck_assert_int_eq(ipc_msg_take_fd(m, 2), q[0]);
    ck_assert_int_eq(ipc_msg_take_fd(m, 2), IPC_E_BAD_FD_INDEX);

    /* Freeing closes nothing the caller took. */
    ipc_msg_free(m);
    ck_assert(fd_is_open(p[0]) && fd_is_open(p[1]) && fd_is_open(q[0]));
    close(p[0]);
    close(p[1]);
    close(q[0]);
    close(q[1]);
    rig_assert_no_leaks();
}
END_TEST

START_TEST(msg_free_closes_fds)
{
    rig_fd_mark();
    ipc_msg *m = ipc_msg_new(1, 2, 0);
    int p[2];
    ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
    int a = p[0], b = p[1];
    ck_assert_int_eq(ipc_msg_add_fd(m, a), 0);
    ck_assert_int_eq(ipc_msg_write_fd(m, b), 0);
    ipc_msg_free(m);
    ck_assert(!fd_is_open(a));
    ck_assert(!fd_is_open(b));
    ipc_msg_free(NULL);
    rig_assert_no_leaks();
}
END_TEST

START_TEST(msg_add_negative_fd_is_rejected)
{
    ipc_msg *m = ipc_msg_new(1, 2, 0);
    ck_assert_int_eq(ipc_msg_add_fd(m, -1), -EBADF);
    ck_assert_int_eq(ipc_msg_add_fd(m, -77), -EBADF);
    ck_assert_uint_eq(ipc_msg_num_fds(m), 0);
    ck_assert_int_eq(ipc_pickle_error(ipc_msg_writer(m)), 0);
    ipc_msg_free(m);
}
END_TEST

START_TEST(msg_fd_limit_closes_fd)
{
    rig_fd_mark();
    int base = open("/dev/null", O_RDONLY | O_CLOEXEC);
    ck_assert_int_ge(base, 0);
    ipc_msg *m = ipc_msg_new(1, 2, 0);
    for (unsigned i = 0; i < IPC_MSG_MAX_FDS; i++) {
        int fd = fcntl(base, F_DUPFD_CLOEXEC, 0);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(ipc_msg_add_fd(m, fd), (int)i);
    }
    ck_assert_uint_eq(ipc_msg_num_fds(m), IPC_MSG_MAX_FDS);
    int extra = fcntl(base, F_DUPFD_CLOEXEC, 0);
    ck_assert_int_eq(ipc_msg_add_fd(m, extra), IPC_E_TOO_MANY_FDS);
    ck_assert(!fd_is_open(extra)); /* the message owned it: closed */
    ck_assert_uint_eq(ipc_msg_num_fds(m), IPC_MSG_MAX_FDS);
    ck_assert_int_eq(ipc_pickle_error(ipc_msg_writer(m)), 0); /* add_fd writes no field */

    /* write_fd: the failure becomes the writer's sticky error (the payload
     * lacks the field), and the fd is closed. */
    size_t before = ipc_pickle_size(ipc_msg_writer(m));
    extra = fcntl(base, F_DUPFD_CLOEXEC, 0);
    ck_assert_int_eq(ipc_msg_write_fd(m, extra), IPC_E_TOO_MANY_FDS);
    ck_assert(!fd_is_open(extra));
    ck_assert_int_eq(ipc_pickle_error(ipc_msg_writer(m)), IPC_E_TOO_MANY_FDS);
    ck_assert_uint_eq(ipc_pickle_size(ipc_msg_writer(m)), before);
    /* After that, write_fd still takes and closes what it is given. */
    extra = fcntl(base, F_DUPFD_CLOEXEC, 0);
    ck_assert_int_eq(ipc_msg_write_fd(m, extra), IPC_E_TOO_MANY_FDS);
    ck_assert(!fd_is_open(extra));
    ipc_msg_free(m);
    close(base);
    rig_assert_no_leaks();
}
END_TEST

START_TEST(msg_write_fd_on_failed_writer_closes_fd)
{
    rig_fd_mark();
    ipc_msg *m = ipc_msg_new(1, 2, 0);
    ck_assert_int_eq(ipc_pickle_write_string(ipc_msg_writer(m), "a\0", 2), IPC_E_BAD_STRING);
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    ck_assert_int_eq(ipc_msg_write_fd(m, fd), IPC_E_BAD_STRING);
    ck_assert(!fd_is_open(fd));
    ck_assert_uint_eq(ipc_msg_num_fds(m), 0);
    ipc_msg_free(m);
    rig_assert_no_leaks();
}
END_TEST

START_TEST(msg_clone_dups_fds)
{
    rig_fd_mark();
    ipc_msg *m = ipc_msg_new(42, IPC_MSG_TYPE(9, 9), IPC_MSG_WANTS_REPLY | IPC_PRIORITY_HIGH);
    ipc_msg_set_txn_id(m, 77);
    ipc_pickle_write_u64(ipc_msg_writer(m), 0x1122334455667788ull);
    int p[2], q[2];
    ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
    ck_assert_int_eq(pipe2(q, O_CLOEXEC), 0);
    ck_assert_int_eq(ipc_msg_write_fd(m, p[1]), 0);
    ck_assert_int_eq(ipc_msg_write_fd(m, q[1]), 0);
    ck_assert_int_eq(ipc_msg_write_fd(m, q[0]), 0);
    int taken = ipc_msg_take_fd(m, 1); /* a hole that must stay a hole */
    ck_assert_int_eq(taken, q[1]);

    ipc_msg *c = ipc_msg_clone(m);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(ipc_msg_routing_id(c), 42);
    ck_assert_uint_eq(ipc_msg_type(c), IPC_MSG_TYPE(9, 9));
    ck_assert_uint_eq(ipc_msg_flags(c), IPC_MSG_WANTS_REPLY | IPC_PRIORITY_HIGH);
    ck_assert_uint_eq(ipc_msg_txn_id(c), 77);
    size_t la, lb;
    const uint8_t *pa = ipc_msg_payload(m, &la), *pb = ipc_msg_payload(c, &lb);
    ck_assert_uint_eq(la, lb);
    ck_assert_ptr_ne(pa, pb);
    ck_assert_mem_eq(pa, pb, la);

    ck_assert_uint_eq(ipc_msg_num_fds(c), 3);
    ck_assert_int_eq(ipc_msg_fd(c, 1), -1);
    for (size_t i = 0; i < 3; i += 2) {
        int a = ipc_msg_fd(m, i), b = ipc_msg_fd(c, i);
        ck_assert_int_ge(b, 0);
        ck_assert_int_ne(a, b);
        ck_assert(same_file(a, b));
        ck_assert_int_eq(fcntl(b, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    }
    /* The clone's write end really is the pipe: a byte written through it
     * comes out of the original's read end. */
    ck_assert_int_eq(write(ipc_msg_fd(c, 0), "z", 1), 1);
    char ch = 0;
    ck_assert_int_eq(read(p[0], &ch, 1), 1);
    ck_assert_int_eq(ch, 'z');

    /* Each owns its own: freeing the original leaves the clone's fds open. */
    int cfd0 = ipc_msg_fd(c, 0), cfd2 = ipc_msg_fd(c, 2);
    ipc_msg_free(m);
    ck_assert(fd_is_open(cfd0) && fd_is_open(cfd2));
    ipc_msg_free(c);
    ck_assert(!fd_is_open(cfd0) && !fd_is_open(cfd2));
    close(taken);
    close(p[0]);
    rig_assert_no_leaks();
}
END_TEST

START_TEST(msg_clone_keeps_writer_error)
{
    ipc_msg *m = ipc_msg_new(1, 2, 0);
    ipc_pickle_write_u32(ipc_msg_writer(m), 5);
    ipc_pickle_write_fd_index(ipc_msg_writer(m), -5);
    ck_assert_int_eq(ipc_pickle_error(ipc_msg_writer(m)), IPC_E_BAD_FD_INDEX);
    ipc_msg *c = ipc_msg_clone(m);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(ipc_pickle_error(ipc_msg_writer(c)), IPC_E_BAD_FD_INDEX);
    ipc_msg_free(c);
    ipc_msg_free(m);

    /* An empty message clones to an empty message. */
    m = ipc_msg_new(1, 2, 0);
    c = ipc_msg_clone(m);
    size_t len = 99;
    ipc_msg_payload(c, &len);
    ck_assert_uint_eq(len, 0);
    ck_assert_uint_eq(ipc_msg_num_fds(c), 0);
    ipc_msg_free(c);
    ipc_msg_free(m);
}
END_TEST

START_TEST(msg_new_reply_copies_routing_and_txn)
{
    ipc_msg *req = ipc_msg_new(1234, IPC_MSG_TYPE(0x41, 5), IPC_MSG_SYNC | IPC_PRIORITY_HIGH);
    ipc_msg_set_txn_id(req, 99);
    ipc_pickle_write_u32(ipc_msg_writer(req), 1);
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    ipc_msg_add_fd(req, fd);

    ipc_msg *rep = ipc_msg_new_reply(req);
    ck_assert_ptr_nonnull(rep);
    ck_assert_int_eq(ipc_msg_routing_id(rep), 1234);
    ck_assert_uint_eq(ipc_msg_type(rep), IPC_MSG_TYPE(0x41, 5));
    ck_assert_uint_eq(ipc_msg_txn_id(rep), 99);
    ck_assert_uint_eq(ipc_msg_flags(rep), IPC_MSG_REPLY | IPC_PRIORITY_HIGH);
    ck_assert(ipc_msg_is_reply(rep));
    ck_assert(!ipc_msg_is_sync(rep));
    ck_assert(!ipc_msg_wants_reply(rep));
    ck_assert(!ipc_msg_is_reply_error(rep));
    ck_assert_uint_eq(ipc_msg_num_fds(rep), 0);
    size_t len;
    ipc_msg_payload(rep, &len);
    ck_assert_uint_eq(len, 0);
    /* The reply is a valid header on the wire. */
    uint8_t h[IPC_MSG_HEADER_SIZE];
    ipc_msg_header d;
    ipc_msg_encode_header(rep, h);
    ck_assert_int_eq(ipc_msg_decode_header(h, &d), 0);
    /* The request is not changed. */
    ck_assert_uint_eq(ipc_msg_flags(req), IPC_MSG_SYNC | IPC_PRIORITY_HIGH);
    ck_assert_uint_eq(ipc_msg_txn_id(req), 99);
    ck_assert_uint_eq(ipc_msg_num_fds(req), 1);
    ck_assert_int_eq(ipc_msg_fd(req, 0), fd);
    ipc_msg_free(rep);

    /* A reply to a WANTS_REPLY request; setters and an error reply. */
    ipc_msg_set_flags(req, IPC_MSG_WANTS_REPLY | IPC_PRIORITY_URGENT);
    ipc_msg_set_routing_id(req, -7);
    ipc_msg_set_txn_id(req, 0xfffffffeu);
    rep = ipc_msg_new_reply(req);
    ck_assert_uint_eq(ipc_msg_flags(rep), IPC_MSG_REPLY | IPC_PRIORITY_URGENT);
    ck_assert_int_eq(ipc_msg_routing_id(rep), -7);
    ck_assert_uint_eq(ipc_msg_txn_id(rep), 0xfffffffeu);
    ipc_msg_set_flags(rep, ipc_msg_flags(rep) | IPC_MSG_REPLY_ERROR);
    ck_assert(ipc_msg_is_reply_error(rep));
    ipc_msg_encode_header(rep, h);
    ck_assert_int_eq(ipc_msg_decode_header(h, &d), 0);
    ipc_msg_free(rep);
    ipc_msg_free(req);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("msg");
    RIG_TCASE(s, "header_roundtrip", msg_header_roundtrip, 10);
    RIG_TCASE(s, "unknown_bits", msg_decode_rejects_unknown_flag_bits, 10);
    RIG_TCASE(s, "priority_3", msg_decode_rejects_priority_3, 10);
    RIG_TCASE(s, "reply_error", msg_decode_rejects_reply_error_without_reply, 10);
    RIG_TCASE(s, "sync_wants_reply", msg_decode_rejects_sync_with_wants_reply, 10);
    RIG_TCASE(s, "reply_wants_reply", msg_decode_rejects_reply_with_wants_reply, 10);
    RIG_TCASE(s, "sync_reply", msg_decode_rejects_sync_reply, 10);
    RIG_TCASE(s, "txn_iff", msg_decode_txn_iff_request_or_reply, 10);
    RIG_TCASE(s, "misaligned", msg_decode_rejects_misaligned_payload, 10);
    RIG_TCASE(s, "fills_header", msg_decode_fills_header_on_failure, 10);
    RIG_TCASE(s, "fd_add_take_read", msg_fd_add_take_read, 10);
    RIG_TCASE(s, "free_closes", msg_free_closes_fds, 10);
    RIG_TCASE(s, "negative_fd", msg_add_negative_fd_is_rejected, 10);
    RIG_TCASE(s, "fd_limit", msg_fd_limit_closes_fd, 20);
    RIG_TCASE(s, "write_fd_failed_writer", msg_write_fd_on_failed_writer_closes_fd, 10);
    RIG_TCASE(s, "clone_dups_fds", msg_clone_dups_fds, 10);
    RIG_TCASE(s, "clone_error", msg_clone_keeps_writer_error, 10);
    RIG_TCASE(s, "new_reply", msg_new_reply_copies_routing_and_txn, 10);
    return s;
}

int main(int argc, char **argv)
{
    return rig_test_main(argc, argv, suite, NULL);
}
