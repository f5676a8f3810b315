/* Unit tests for the generic params codec: round trips of every kind and of
 * every declared message, descriptor consistency, hostile payloads for every
 * kind (each classified, nothing leaked), formatting, and fds crossing a real
 * process boundary. */
#include "testutil.h"

#include "ipc/errors.h"
#include "ipc/frame.h"
#include "ipc/protocols/all.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- helpers ---- */

static bool fd_is_open(int fd)
{
    return fcntl(fd, F_GETFD) != -1;
}

/* Two fds name the same open file (a dup travelled, not a copy). */
static bool same_file(int a, int b)
{
    struct stat sa, sb;
    return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

static size_t kind_size(ipc_param_kind k)
{
    switch (k) {
    case IPC_PK_BOOL:
        return sizeof(bool);
    case IPC_PK_INT32:
    case IPC_PK_UINT32:
        return 4;
    case IPC_PK_INT64:
    case IPC_PK_UINT64:
    case IPC_PK_DOUBLE:
        return 8;
    case IPC_PK_STRING:
        return sizeof(char *);
    case IPC_PK_BYTES:
        return sizeof(ipc_bytes);
    case IPC_PK_FD:
        return sizeof(int);
    case IPC_PK_PROTO:
        return sizeof(void *);
    }
    return 0;
}

/* A struct as a failed read or a free leaves it: zero, FD members -1. */
static void assert_cleared(const ipc_msg_desc *d, bool reply, const void *p)
{
    size_t n = reply ? d->nreplies : d->nparams;
    size_t size = reply ? d->replies_size : d->params_size;
    const ipc_param_desc *ps = reply ? d->replies : d->params;
    unsigned char *want = calloc(1, size);
    ck_assert_ptr_nonnull(want);
    for (size_t i = 0; i < n; i++)
        if (ps[i].kind == IPC_PK_FD) {
            int none = -1;
            memcpy(want + ps[i].offset, &none, sizeof none);
        }
    ck_assert_msg(memcmp(want, p, size) == 0, "%s: struct not cleared after failure", d->full_name);
    free(want);
}

static ipc_msg *new_msg(const ipc_msg_desc *d)
{
    ipc_msg *m = ipc_msg_new(IPC_ROUTING_CONTROL, d->type, 0);
    ck_assert_ptr_nonnull(m);
    return m;
}

static Ipcrig__TestRecord *make_record(void)
{
    Ipcrig__TestRecord *r = malloc(sizeof *r);
    Ipcrig__CrashReporterInit *n = malloc(sizeof *n);
    ck_assert(r && n);
    ipcrig__test_record__init(r);
    ipcrig__crash_reporter_init__init(n);
    n->pid = 1;
    r->name = "r";
    static uint32_t values[] = {1, 2, 3};
    r->n_values = 3;
    r->values = values;
    static uint8_t blob[] = {0xab, 0xcd};
    r->blob.len = 2;
    r->blob.data = blob;
    r->nested = n;
    r->flag = 1;
    r->ratio = 0.5;
    r->delta = -3;
    r->colour = IPCRIG__TEST_RECORD__COLOUR__COLOUR_BLUE;
    static char *tags[] = {"a", "b"};
    r->n_tags = 2;
    r->tags = tags;
    return r;
}

static void free_record(Ipcrig__TestRecord *r)
{
    free(r->nested);
    free(r);
}

/* ---- round trips ---- */

START_TEST(params_roundtrip_every_kind)
{
    rig_fd_mark();
    int pfd[2];
    ck_assert_int_eq(pipe2(pfd, O_CLOEXEC), 0);
    static const uint8_t raw[] = {0, 1, 2, 0, 255};
    Ipcrig__TestRecord *rec = make_record();
    ipc_PTest_AllKinds in = {
        .b = true,
        .i32 = INT32_MIN,
        .u32 = UINT32_MAX,
        .i64 = INT64_MIN,
        .u64 = UINT64_MAX,
        .d = -0.25,
        .s = "tab\there \"quoted\" \x01",
        .bytes = {(uint8_t *)raw, sizeof raw},
        .fd = pfd[0],
        .rec = rec,
    };
    ipc_msg *m;
    ck_assert_int_eq(ipc_PTest_AllKinds_build(&m, IPC_ROUTING_CONTROL, &in), 0);
    ck_assert_uint_eq(ipc_msg_type(m), IPC_MSGTYPE(PTest, AllKinds));
    ck_assert_uint_eq(ipc_msg_num_fds(m), 1);
    ck_assert(fd_is_open(pfd[0])); /* the writer dup()ed it */

    ipc_PTest_AllKinds out;
    ck_assert_int_eq(ipc_PTest_AllKinds_read(m, &out), 0);
    ck_assert(out.b);
    ck_assert_int_eq(out.i32, INT32_MIN);
    ck_assert_uint_eq(out.u32, UINT32_MAX);
    ck_assert(out.i64 == INT64_MIN);
    ck_assert(out.u64 == UINT64_MAX);
    ck_assert(out.d == -0.25);
    ck_assert_str_eq(out.s, in.s);
    ck_assert_uint_eq(out.bytes.len, sizeof raw);
    ck_assert(memcmp(out.bytes.data, raw, sizeof raw) == 0);
    ck_assert_int_gt(out.fd, 0);
    ck_assert_int_ne(out.fd, pfd[0]);
    ck_assert(same_file(out.fd, pfd[0]));
    ck_assert_int_eq(ipc_msg_fd(m, 0), -1); /* taken from the message */
    ck_assert_ptr_nonnull(out.rec);
    ck_assert_str_eq(out.rec->name, "r");
    ck_assert_uint_eq(out.rec->n_values, 3);
    ck_assert_uint_eq(out.rec->values[2], 3);
    ck_assert_uint_eq(out.rec->blob.len, 2);
    ck_assert_uint_eq(out.rec->blob.data[1], 0xcd);
    ck_assert_ptr_nonnull(out.rec->nested);
    ck_assert_int_eq(out.rec->nested->pid, 1);
    ck_assert_int_eq(out.rec->colour, IPCRIG__TEST_RECORD__COLOUR__COLOUR_BLUE);
    ck_assert_uint_eq(out.rec->n_tags, 2);
    ck_assert_str_eq(out.rec->tags[1], "b");
    ck_assert(out.rec->delta == -3);

    /* The fd still works end to end. */
    ck_assert_int_eq(write(pfd[1], "x", 1), 1);
    char c = 0;
    ck_assert_int_eq(read(out.fd, &c, 1), 1);
    ck_assert_int_eq(c, 'x');

    ipc_PTest_AllKinds_free(&out);
    assert_cleared(&ipc_PTest_AllKinds_desc, false, &out);
    ipc_PTest_AllKinds_free(&out); /* idempotent */
    ipc_msg_free(m);
    free_record(rec);
    close(pfd[0]);
    close(pfd[1]);
    rig_assert_no_leaks();
}
END_TEST

/* Fills every param of a list with a value of its kind; FDs are /dev/null. */
static void fill(const ipc_param_desc *ps, size_t n, void *p)
{
    char *base = p;
    for (size_t i = 0; i < n; i++) {
        void *f = base + ps[i].offset;
        switch (ps[i].kind) {
        case IPC_PK_BOOL:
            *(bool *)f = true;
            break;
        case IPC_PK_INT32:
            *(int32_t *)f = -(int32_t)i - 1;
            break;
        case IPC_PK_UINT32:
            *(uint32_t *)f = 0x80000000u + (uint32_t)i;
            break;
        case IPC_PK_INT64:
            *(int64_t *)f = -((int64_t)1 << 40);
            break;
        case IPC_PK_UINT64:
            *(uint64_t *)f = (uint64_t)1 << 63;
            break;
        case IPC_PK_DOUBLE:
            *(double *)f = 1e300;
            break;
        case IPC_PK_STRING:
            *(char **)f = strdup(ps[i].name);
            break;
        case IPC_PK_BYTES: {
            ipc_bytes *b = f;
            b->len = i + 1;
            b->data = malloc(b->len);
            memset(b->data, 0xa5, b->len);
            break;
        }
        case IPC_PK_FD:
            *(int *)f = open("/dev/null", O_RDONLY | O_CLOEXEC);
            ck_assert_int_gt(*(int *)f, 0);
            break;
        case IPC_PK_PROTO: {
            ProtobufCMessage *m = malloc(ps[i].proto->sizeof_message);
            ck_assert_ptr_nonnull(m);
            protobuf_c_message_init(ps[i].proto, m);
            memcpy(f, &m, sizeof m);
            break;
        }
        }
    }
}

/* The filled values compare equal to what a read produced. */
static void compare(const ipc_param_desc *ps, size_t n, const void *a, const void *b)
{
    for (size_t i = 0; i < n; i++) {
        const char *fa = (const char *)a + ps[i].offset, *fb = (const char *)b + ps[i].offset;
        switch (ps[i].kind) {
        case IPC_PK_STRING:
            ck_assert_str_eq(*(char *const *)fa, *(char *const *)fb);
            break;
        case IPC_PK_BYTES: {
            const ipc_bytes *x = (const void *)fa, *y = (const void *)fb;
            ck_assert_uint_eq(x->len, y->len);
            ck_assert(memcmp(x->data, y->data, x->len) == 0);
            break;
        }
        case IPC_PK_FD:
            ck_assert(same_file(*(const int *)fa, *(const int *)fb));
            break;
        case IPC_PK_PROTO: {
            const ProtobufCMessage *x, *y;
            memcpy(&x, fa, sizeof x);
            memcpy(&y, fb, sizeof y);
            ck_assert_ptr_eq(y->descriptor, ps[i].proto);
            ck_assert_uint_eq(protobuf_c_message_get_packed_size(x),
                              protobuf_c_message_get_packed_size(y));
            break;
        }
        default:
            ck_assert(memcmp(fa, fb, kind_size(ps[i].kind)) == 0);
        }
    }
}

/* The filled struct is freed like a read one: protos were malloc'd with the
 * default allocator's layout only at the top, so free those by hand. */
static void free_filled(const ipc_msg_desc *d, bool reply, void *p)
{
    size_t n = reply ? d->nreplies : d->nparams;
    const ipc_param_desc *ps = reply ? d->replies : d->params;
    for (size_t i = 0; i < n; i++)
        if (ps[i].kind == IPC_PK_PROTO) {
            void *m;
            memcpy(&m, (char *)p + ps[i].offset, sizeof m);
            free(m);
            memset((char *)p + ps[i].offset, 0, sizeof m);
        }
    ipc_params_free(d, reply, p);
}

static void roundtrip_list(const ipc_msg_desc *d, bool reply)
{
    size_t n = reply ? d->nreplies : d->nparams;
    size_t size = reply ? d->replies_size : d->params_size;
    const ipc_param_desc *ps = reply ? d->replies : d->params;
    void *in = calloc(1, size), *out = calloc(1, size);
    ck_assert(in && out);
    fill(ps, n, in);
    ipc_msg *m = NULL;
    if (reply) {
        ipc_msg *req = new_msg(d);
        ipc_msg_set_txn_id(req, 77);
        ck_assert_int_eq(ipc_msg_build_reply(&m, d, req, in), 0);
        ck_assert(ipc_msg_is_reply(m));
        ck_assert_uint_eq(ipc_msg_txn_id(m), 77);
        ipc_msg_free(req);
    } else {
        ck_assert_int_eq(ipc_msg_build(&m, d, 5, in), 0);
        ck_assert_int_eq(ipc_msg_routing_id(m), 5);
    }
    ck_assert_uint_eq(ipc_msg_type(m), d->type);
    size_t failed = 99;
    int rc = ipc_params_read_at(d, reply, m, out, &failed);
    ck_assert_msg(rc == 0, "%s%s: read failed %s at %zu", d->full_name, reply ? " reply" : "",
                  ipc_errname(rc), failed);
    compare(ps, n, in, out);
    ipc_params_free(d, reply, out);
    free_filled(d, reply, in);
    ipc_msg_free(m);
    free(in);
    free(out);
}

START_TEST(params_roundtrip_every_declared_message)
{
    rig_fd_mark();
    size_t lists = 0;
    for (const ipc_protocol_desc *const *pp = ipc_protocols(); *pp; pp++)
        for (size_t i = 0; i < (*pp)->nmsgs; i++) {
            roundtrip_list((*pp)->msgs[i], false);
            roundtrip_list((*pp)->msgs[i], true);
            lists += 2;
        }
    ck_assert_uint_eq(lists, 2 * 24);
    rig_assert_no_leaks();
}
END_TEST

static void check_list(const ipc_msg_desc *d, bool reply)
{
    size_t n = reply ? d->nreplies : d->nparams;
    size_t size = reply ? d->replies_size : d->params_size;
    const ipc_param_desc *ps = reply ? d->replies : d->params;
    size_t end = 0;
    ck_assert_ptr_nonnull(ps);
    ck_assert_ptr_null(ps[n].name); /* the sentinel */
    ck_assert_uint_ge(size, 1);
    for (size_t i = 0; i < n; i++) {
        ck_assert_ptr_nonnull(ps[i].name);
        ck_assert_uint_gt(strlen(ps[i].name), 0);
        ck_assert_int_le(ps[i].kind, IPC_PK_PROTO);
        /* Declaration order, no overlap, inside the struct. */
        ck_assert_uint_ge(ps[i].offset, end);
        end = ps[i].offset + kind_size(ps[i].kind);
        ck_assert_uint_le(end, size);
        ck_assert_uint_eq(ps[i].offset % (kind_size(ps[i].kind) < 8 ? kind_size(ps[i].kind) : 8),
                          0);
        if (ps[i].kind == IPC_PK_PROTO) {
            ck_assert_ptr_nonnull(ps[i].proto);
            ck_assert_uint_eq(ps[i].proto->magic, PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC);
        } else {
            ck_assert_ptr_null(ps[i].proto);
        }
        for (size_t k = 0; k < i; k++)
            ck_assert_str_ne(ps[k].name, ps[i].name);
    }
}

START_TEST(params_descriptors_are_consistent)
{
    for (const ipc_protocol_desc *const *pp = ipc_protocols(); *pp; pp++) {
        const ipc_protocol_desc *p = *pp;
        ck_assert_uint_gt(p->nmsgs, 0);
        for (size_t i = 0; i < p->nmsgs; i++) {
            const ipc_msg_desc *d = p->msgs[i];
            char full[IPC_MSG_NAME_MAX];
            snprintf(full, sizeof full, "%s::Msg_%s", p->name, d->name);
            ck_assert_str_eq(d->full_name, full);
            ck_assert_str_eq(d->protocol, p->name);
            ck_assert_uint_eq(d->cls, p->cls);
            ck_assert_uint_eq(d->type, IPC_MSG_TYPE(d->cls, d->id));
            ck_assert_uint_ge(d->id, 1);
            for (size_t k = 0; k < i; k++) {
                ck_assert_uint_ne(p->msgs[k]->id, d->id);
                ck_assert_str_ne(p->msgs[k]->name, d->name);
            }
            check_list(d, false);
            check_list(d, true);
            if (d->sync == IPC_ASYNC)
                ck_assert_uint_eq(d->nreplies, 0);
        }
    }
    /* Spot checks against the declarations. */
    ck_assert_uint_eq(ipc_PDemo_InitCrashReporter_desc.nparams, 2);
    ck_assert_int_eq(ipc_PDemo_InitCrashReporter_desc.params[1].kind, IPC_PK_PROTO);
    ck_assert_ptr_eq(ipc_PDemo_InitCrashReporter_desc.params[1].proto,
                     &ipcrig__crash_reporter_init__descriptor);
    ck_assert_uint_eq(ipc_PContent_LaunchDemoProcess_desc.nreplies, 2);
    ck_assert_int_eq(ipc_PContent_LaunchDemoProcess_desc.replies[0].kind, IPC_PK_FD);
    ck_assert_uint_eq(ipc_PTest_AllKinds_desc.nparams, 10);
    ck_assert_uint_eq(ipc_PTest_AllKinds_desc.params_size, sizeof(ipc_PTest_AllKinds));
    ck_assert_uint_eq(ipc_PTest_SyncEcho_desc.replies_size, sizeof(ipc_PTest_SyncEcho_reply));
}
END_TEST

START_TEST(params_build_sets_flags_from_the_declaration)
{
    ipc_msg *m;
    ipc_PTest_SyncEcho e = {.in = "x"};
    ck_assert_int_eq(ipc_PTest_SyncEcho_build(&m, IPC_ROUTING_CONTROL, &e), 0);
    ck_assert(ipc_msg_is_sync(m));
    ck_assert(!ipc_msg_wants_reply(m));
    ipc_msg_free(m);
    ipc_PDemo_EmptyMessageQueue q = {0};
    ck_assert_int_eq(ipc_PDemo_EmptyMessageQueue_build(&m, IPC_ROUTING_CONTROL, &q), 0);
    ck_assert(ipc_msg_wants_reply(m));
    ck_assert(!ipc_msg_is_sync(m));
    size_t len;
    ipc_msg_payload(m, &len);
    ck_assert_uint_eq(len, 0);
    ipc_msg_free(m);
    /* Async-returns ids are the caller's: never 0, never the proxy's sync bit
     * (refused before the proxy is touched). */
    ck_assert_int_eq(ipc_PDemo_EmptyMessageQueue_send(NULL, IPC_ROUTING_CONTROL, 0, &q),
                     IPC_E_BAD_FLAGS);
    ck_assert_int_eq(
        ipc_PDemo_EmptyMessageQueue_send(NULL, IPC_ROUTING_CONTROL, IPC_SYNC_TXN_BIT | 1, &q),
        IPC_E_BAD_FLAGS);
    ipc_PBrowser_LoadURL l = {.url = "https://example.org/"};
    ck_assert_int_eq(ipc_PBrowser_LoadURL_build(&m, 12, &l), 0);
    ck_assert_uint_eq(ipc_msg_flags(m), 0);
    ck_assert_int_eq(ipc_msg_routing_id(m), 12);
    ipc_msg_free(m);
}
END_TEST

START_TEST(params_null_members_write_defaults)
{
    ipc_PDemo_InitCrashReporter in = {.pid = 3, .info = NULL};
    ipc_msg *m;
    ck_assert_int_eq(ipc_PDemo_InitCrashReporter_build(&m, IPC_ROUTING_CONTROL, &in), 0);
    ipc_PDemo_InitCrashReporter out;
    ck_assert_int_eq(ipc_PDemo_InitCrashReporter_read(m, &out), 0);
    ck_assert_ptr_nonnull(out.info); /* a read always yields a message */
    ck_assert_str_eq(out.info->dump_dir, "");
    ipc_PDemo_InitCrashReporter_free(&out);
    ipc_msg_free(m);

    ipc_PTest_SyncEcho e = {.in = NULL};
    ck_assert_int_eq(ipc_PTest_SyncEcho_build(&m, IPC_ROUTING_CONTROL, &e), 0);
    ipc_PTest_SyncEcho eo;
    ck_assert_int_eq(ipc_PTest_SyncEcho_read(m, &eo), 0);
    ck_assert_str_eq(eo.in, "");
    ipc_PTest_SyncEcho_free(&eo);
    ipc_msg_free(m);
}
END_TEST

START_TEST(params_write_rejects_bad_values)
{
    rig_fd_mark();
    ipc_msg *m = (ipc_msg *)1;
    /* A proto of the wrong type. */
    Ipcrig__EndpointInfo wrong = IPCRIG__ENDPOINT_INFO__INIT;
    ipc_PDemo_InitCrashReporter in = {.pid = 1,
                                      .info = (Ipcrig__CrashReporterInit *)(void *)&wrong};
    ck_assert_int_eq(ipc_PDemo_InitCrashReporter_build(&m, IPC_ROUTING_CONTROL, &in), -EINVAL);
    ck_assert_ptr_null(m);
    /* Bytes with a length but no data. */
    ipc_PTest_Ping p = {.data = {NULL, 4}};
    ck_assert_int_eq(ipc_PTest_Ping_build(&m, IPC_ROUTING_CONTROL, &p), -EINVAL);
    /* An fd that is not open. */
    int fds[2];
    ck_assert_int_eq(pipe2(fds, O_CLOEXEC), 0);
    close(fds[0]);
    close(fds[1]);
    ipc_PContent_AddNewProcess a = {.pid = 1, .channel = fds[0]};
    ck_assert_int_eq(ipc_PContent_AddNewProcess_build(&m, IPC_ROUTING_CONTROL, &a), -EBADF);
    ck_assert_ptr_null(m);
    /* -1 is "no fd", not an error. */
    a.channel = -1;
    ck_assert_int_eq(ipc_PContent_AddNewProcess_build(&m, IPC_ROUTING_CONTROL, &a), 0);
    ck_assert_uint_eq(ipc_msg_num_fds(m), 0);
    ipc_PContent_AddNewProcess ao;
    ck_assert_int_eq(ipc_PContent_AddNewProcess_read(m, &ao), 0);
    ck_assert_int_eq(ao.channel, -1);
    ipc_msg_free(m);
    rig_assert_no_leaks();
}
END_TEST

/* ---- hostile payloads ---- */

enum { AK_B, AK_I32, AK_U32, AK_I64, AK_U64, AK_D, AK_S, AK_BYTES, AK_FD, AK_REC, AK_N };

/* Writes valid AllKinds values for params [0, k); the fd is a pipe end the
 * message owns, so a failure later must close it. */
static void write_prefix(ipc_msg *m, size_t k)
{
    ipc_pickle *w = ipc_msg_writer(m);
    for (size_t i = 0; i < k; i++) {
        switch (i) {
        case AK_B:
            ipc_pickle_write_bool(w, true);
            break;
        case AK_I32:
        case AK_U32:
            ipc_pickle_write_u32(w, 7);
            break;
        case AK_I64:
        case AK_U64:
        case AK_D:
            ipc_pickle_write_u64(w, 7);
            break;
        case AK_S:
            ipc_pickle_write_string(w, "ok", 2);
            break;
        case AK_BYTES:
            ipc_pickle_write_bytes(w, "\1\2\3", 3);
            break;
        case AK_FD: {
            int p[2];
            ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
            close(p[1]);
            ck_assert_int_eq(ipc_msg_write_fd(m, p[0]), 0);
            break;
        }
        case AK_REC:
            ipc_pickle_write_bytes(w, "", 0);
            break;
        }
    }
    ck_assert_int_eq(ipc_pickle_error(w), 0);
}

typedef struct hostile {
    const char *what;
    size_t at; /* the param the corruption replaces */
    const uint32_t *words;
    size_t nwords;
    int want;
} hostile;

#define W(...) (const uint32_t[]){__VA_ARGS__}, sizeof((const uint32_t[]){__VA_ARGS__}) / 4

static const hostile cases[] = {
    {"bool 2", AK_B, W(2), IPC_E_BAD_BOOL},
    {"bool all ones", AK_B, W(0xffffffffu), IPC_E_BAD_BOOL},
    {"int64 half", AK_I64, W(1), IPC_E_TRUNCATED},
    {"uint64 half", AK_U64, W(1), IPC_E_TRUNCATED},
    {"double half", AK_D, W(1), IPC_E_TRUNCATED},
    {"string lying length", AK_S, W(1000, 0x64636261), IPC_E_TRUNCATED},
    {"string length 2^32-1", AK_S, W(0xffffffffu), IPC_E_TRUNCATED},
    {"string length without its padding", AK_S, W(5, 0x64636261), IPC_E_TRUNCATED},
    {"string embedded NUL", AK_S, W(3, 0x00620061), IPC_E_BAD_STRING},
    {"string bad padding", AK_S, W(1, 0x00ff0041), IPC_E_BAD_PADDING},
    {"bytes lying length", AK_BYTES, W(9, 1, 2), IPC_E_TRUNCATED},
    {"bytes length 2^31", AK_BYTES, W(0x80000000u), IPC_E_TRUNCATED},
    {"bytes bad padding", AK_BYTES, W(2, 0x01000201), IPC_E_BAD_PADDING},
    {"fd index past the fds", AK_FD, W(3), IPC_E_BAD_FD_INDEX},
    {"fd index negative", AK_FD, W(0xfffffff0u), IPC_E_BAD_FD_INDEX},
    {"proto garbage", AK_REC, W(4, 0xffffffffu), IPC_E_BAD_PROTO},
    {"proto length beyond its field", AK_REC, W(2, 0x0000640a), IPC_E_BAD_PROTO},
    {"proto wrong wire type", AK_REC, W(4, 0x00000709u), IPC_E_BAD_PROTO},
    {"proto lying length", AK_REC, W(100, 0), IPC_E_TRUNCATED},
};

static void run_hostile(const hostile *h, size_t *failed_out)
{
    const ipc_msg_desc *d = &ipc_PTest_AllKinds_desc;
    ipc_msg *m = new_msg(d);
    write_prefix(m, h->at);
    for (size_t i = 0; i < h->nwords; i++)
        ipc_pickle_write_u32(ipc_msg_writer(m), h->words[i]);
    ipc_PTest_AllKinds out;
    memset(&out, 0x5a, sizeof out); /* the read must clear it */
    size_t failed = 99;
    int rc = ipc_params_read_at(d, false, m, &out, &failed);
    ck_assert_msg(rc == h->want, "%s: got %s, want %s", h->what, ipc_errname(rc),
                  ipc_errname(h->want));
    ck_assert_msg(failed == h->at, "%s: failed at %zu, want %zu", h->what, failed, h->at);
    assert_cleared(d, false, &out);
    ipc_msg_free(m);
    if (failed_out)
        *failed_out = failed;
}

START_TEST(params_hostile_payloads_are_classified)
{
    rig_fd_mark();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_hostile(&cases[i], NULL);
    rig_assert_no_leaks();
}
END_TEST

/* Each kind cut off where it starts. */
START_TEST(params_every_kind_truncated)
{
    rig_fd_mark();
    for (size_t k = 0; k < AK_N; k++) {
        hostile h = {"truncated", k, NULL, 0, IPC_E_TRUNCATED};
        run_hostile(&h, NULL);
    }
    rig_assert_no_leaks();
}
END_TEST

START_TEST(params_trailing_bytes_are_rejected)
{
    rig_fd_mark();
    const ipc_msg_desc *d = &ipc_PTest_AllKinds_desc;
    ipc_msg *m = new_msg(d);
    write_prefix(m, AK_N);
    ipc_pickle_write_u32(ipc_msg_writer(m), 0);
    ipc_PTest_AllKinds out;
    size_t failed = 0;
    ck_assert_int_eq(ipc_params_read_at(d, false, m, &out, &failed), IPC_E_TRAILING);
    ck_assert_uint_eq(failed, AK_N);
    assert_cleared(d, false, &out);
    ipc_msg_free(m);

    /* A message without params and one stray word. */
    m = new_msg(&ipc_IPC_Goodbye_desc);
    ipc_pickle_write_u32(ipc_msg_writer(m), 0);
    ipc_IPC_Goodbye g;
    ck_assert_int_eq(ipc_IPC_Goodbye_read(m, &g), IPC_E_TRAILING);
    ipc_msg_free(m);
    rig_assert_no_leaks();
}
END_TEST

START_TEST(params_fd_taken_twice_is_rejected)
{
    rig_fd_mark();
    int p[2];
    ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
    ipc_PContent_AddNewProcess in = {.pid = 9, .channel = p[0]};
    ipc_msg *m;
    ck_assert_int_eq(ipc_PContent_AddNewProcess_build(&m, IPC_ROUTING_CONTROL, &in), 0);
    ipc_PContent_AddNewProcess out;
    ck_assert_int_eq(ipc_PContent_AddNewProcess_read(m, &out), 0);
    ipc_PContent_AddNewProcess_free(&out);
    /* The fd left the message with the first read. */
    ck_assert_int_eq(ipc_PContent_AddNewProcess_read(m, &out), IPC_E_BAD_FD_INDEX);
    assert_cleared(&ipc_PContent_AddNewProcess_desc, false, &out);
    ipc_msg_free(m);
    close(p[0]);
    close(p[1]);
    rig_assert_no_leaks();
}
END_TEST

START_TEST(params_oversized_proto_is_refused_before_unpacking)
{
    const ipc_msg_desc *d = &ipc_PDemo_InitCrashReporter_desc;
    ipc_msg *m = new_msg(d);
    size_t n = IPC_PARAM_MAX_PROTO + 4;
    uint8_t *blob = calloc(1, n);
    ck_assert_ptr_nonnull(blob);
    ipc_pickle_write_i32(ipc_msg_writer(m), 1);
    ipc_pickle_write_bytes(ipc_msg_writer(m), blob, n);
    free(blob);
    ipc_PDemo_InitCrashReporter out;
    size_t failed = 0;
    ck_assert_int_eq(ipc_params_read_at(d, false, m, &out, &failed), IPC_E_TOO_LARGE);
    ck_assert_uint_eq(failed, 1);
    ipc_msg_free(m);
}
END_TEST

/* A zeroed struct holds fd 0; freeing it must not close stdin, and a read
 * never hands out fd 0. */
START_TEST(params_fd_zero_is_never_closed_nor_produced)
{
    int saved = fcntl(0, F_DUPFD_CLOEXEC, 3);
    ipc_PTest_AllKinds z;
    memset(&z, 0, sizeof z);
    if (!fd_is_open(0))
        ck_assert_int_eq(open("/dev/null", O_RDONLY), 0);
    ipc_PTest_AllKinds_free(&z);
    ck_assert(fd_is_open(0));
    ck_assert_int_eq(z.fd, -1);

    /* Make 0 the read end of a pipe and send it. */
    close(0);
    int p[2];
    ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
    ck_assert_int_eq(p[0], 0);
    ipc_msg *m = ipc_msg_new(IPC_ROUTING_CONTROL, IPC_MSGTYPE(PContent, AddNewProcess), 0);
    ipc_pickle_write_i32(ipc_msg_writer(m), 1);
    ck_assert_int_eq(ipc_msg_write_fd(m, p[0]), 0); /* the message owns fd 0 now */
    ipc_PContent_AddNewProcess out;
    ck_assert_int_eq(ipc_PContent_AddNewProcess_read(m, &out), 0);
    ck_assert_int_gt(out.channel, 0);
    ck_assert(!fd_is_open(0));
    ck_assert_int_eq(write(p[1], "y", 1), 1);
    char c;
    ck_assert_int_eq(read(out.channel, &c, 1), 1);
    ipc_PContent_AddNewProcess_free(&out);
    ipc_msg_free(m);
    close(p[1]);
    if (saved >= 0) {
        dup2(saved, 0);
        close(saved);
    }
}
END_TEST

/* ---- formatting ---- */

static const char *fmt(const ipc_msg_desc *d, bool reply, const void *p)
{
    static char buf[1024];
    int n = ipc_params_format(d, reply, p, buf, sizeof buf);
    ck_assert_int_eq(n, (int)strlen(buf));
    return buf;
}

START_TEST(params_format_matches_the_log_style)
{
    Ipcrig__CrashReporterInit info = IPCRIG__CRASH_REPORTER_INIT__INIT;
    info.pid = 7;
    info.process_type = "demo";
    info.dump_dir = "/tmp";
    ipc_PDemo_InitCrashReporter in = {.pid = 42, .info = &info};
    ck_assert_str_eq(fmt(&ipc_PDemo_InitCrashReporter_desc, false, &in),
                     "pid=42, info={pid: 7, process_type: \"demo\", dump_dir: \"/tmp\"}");
    in.info = NULL;
    ck_assert_str_eq(fmt(&ipc_PDemo_InitCrashReporter_desc, false, &in), "pid=42, info=null");

    ipc_PContent_AddNewProcess a = {.pid = -1, .channel = 5};
    ck_assert_str_eq(fmt(&ipc_PContent_AddNewProcess_desc, false, &a), "pid=-1, channel=#5");
    a.channel = -1;
    ck_assert_str_eq(fmt(&ipc_PContent_AddNewProcess_desc, false, &a), "pid=-1, channel=none");

    ipc_IPC_Goodbye g = {0};
    ck_assert_str_eq(fmt(&ipc_IPC_Goodbye_desc, false, &g), "");
    ipc_PDemoHelpline_GiveAssistance_reply r = {.ok = true};
    ck_assert_str_eq(fmt(&ipc_PDemoHelpline_GiveAssistance_desc, true, &r), "ok=true");
}
END_TEST

START_TEST(params_format_escapes_and_truncates)
{
    ipc_PTest_SyncEcho e = {.in = "a\"b\\c\n\t\r\x01\x7f\xc3\xa9"};
    ck_assert_str_eq(fmt(&ipc_PTest_SyncEcho_desc, false, &e),
                     "in=\"a\\\"b\\\\c\\n\\t\\r\\x01\\x7f\\xc3\\xa9\"");
    char long_s[101];
    memset(long_s, 'x', 100);
    long_s[100] = '\0';
    e.in = long_s;
    char want[200];
    snprintf(want, sizeof want, "in=\"%.64s\"...(100 bytes)", long_s);
    ck_assert_str_eq(fmt(&ipc_PTest_SyncEcho_desc, false, &e), want);

    uint8_t raw[40];
    for (size_t i = 0; i < sizeof raw; i++)
        raw[i] = (uint8_t)i;
    ipc_PTest_Ping p = {.data = {raw, 3}};
    ck_assert_str_eq(fmt(&ipc_PTest_Ping_desc, false, &p), "data=<3 bytes: 000102>");
    p.data.len = 0;
    ck_assert_str_eq(fmt(&ipc_PTest_Ping_desc, false, &p), "data=<0 bytes>");
    p.data.len = 40;
    ck_assert_str_eq(fmt(&ipc_PTest_Ping_desc, false, &p),
                     "data=<40 bytes: 000102030405060708090a0b0c0d0e0f"
                     "101112131415161718191a1b1c1d1e1f...>");
}
END_TEST

START_TEST(params_format_cuts_to_the_buffer_like_snprintf)
{
    ipc_PBrowser_LoadURL l = {.url = "https://example.org/"};
    char buf[10];
    int n = ipc_params_format(&ipc_PBrowser_LoadURL_desc, false, &l, buf, sizeof buf);
    ck_assert_int_eq(n, (int)strlen("url=\"https://example.org/\""));
    ck_assert_str_eq(buf, "url=\"http");
    ck_assert_int_eq(ipc_params_format(&ipc_PBrowser_LoadURL_desc, false, &l, NULL, 0), n);
}
END_TEST

START_TEST(params_format_walks_nested_repeated_and_enums)
{
    Ipcrig__TestRecord *rec = make_record();
    ipc_PTest_AllKinds in = {.b = false,
                             .i32 = 1,
                             .u32 = 2,
                             .i64 = -3,
                             .u64 = 4,
                             .d = 0.5,
                             .s = "s",
                             .bytes = {(uint8_t *)"\xff", 1},
                             .fd = -1,
                             .rec = rec};
    ck_assert_str_eq(
        fmt(&ipc_PTest_AllKinds_desc, false, &in),
        "b=false, i32=1, u32=2, i64=-3, u64=4, d=0.5, s=\"s\", "
        "bytes=<1 bytes: ff>, fd=none, rec={name: \"r\", values: [1, 2, 3], "
        "blob: <2 bytes: abcd>, nested: {pid: 1, process_type: \"\", dump_dir: \"\"}, "
        "flag: true, ratio: 0.5, delta: -3, colour: COLOUR_BLUE, tags: [\"a\", \"b\"]}");
    free_record(rec);
}
END_TEST

/* ---- across a real process boundary ---- */

/* Helper: builds AllKinds with a pipe whose write end it fills, and sends the
 * frame with its fds over the socket at fd 3. */
static int helper_send_allkinds(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0)
        return 10;
    if (write(p[1], "from child", 10) != 10)
        return 11;
    close(p[1]);
    Ipcrig__TestRecord rec = IPCRIG__TEST_RECORD__INIT;
    rec.name = "child";
    ipc_PTest_AllKinds in = {
        .b = true, .i32 = (int32_t)getpid(), .s = "hello parent", .fd = p[0], .rec = &rec};
    ipc_msg *m;
    if (ipc_PTest_AllKinds_build(&m, IPC_ROUTING_CONTROL, &in) != 0)
        return 12;
    close(p[0]);
    uint8_t hdr[IPC_MSG_HEADER_SIZE];
    ipc_msg_encode_header(m, hdr);
    size_t len;
    const uint8_t *payload = ipc_msg_payload(m, &len);
    struct iovec iov[2] = {{hdr, sizeof hdr}, {(void *)payload, len}};
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } cm;
    memset(&cm, 0, sizeof cm);
    struct msghdr mh = {
        .msg_iov = iov, .msg_iovlen = 2, .msg_control = cm.buf, .msg_controllen = sizeof cm.buf};
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    int fd = ipc_msg_fd(m, 0);
    memcpy(CMSG_DATA(c), &fd, sizeof fd);
    ssize_t k;
    do
        k = sendmsg(3, &mh, MSG_NOSIGNAL);
    while (k < 0 && errno == EINTR);
    ipc_msg_free(m);
    return k == (ssize_t)(sizeof hdr + len) ? 0 : 13;
}

START_TEST(params_fd_and_proto_cross_processes)
{
    rig_fd_mark();
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    pid_t pid = rig_spawn_helper("send_allkinds", sv[1], NULL);
    ck_assert_int_gt(pid, 0);
    close(sv[1]);

    ipc_frame_limits lim;
    ipc_frame_limits_default(&lim);
    lim.type_known = ipc_msg_type_known;
    ipc_frame_decoder *dec;
    ck_assert_int_eq(ipc_frame_decoder_new(&dec, &lim), 0);
    ipc_msg *m = NULL;
    int rc = 0;
    while (rc == 0) {
        uint8_t buf[4096];
        union {
            struct cmsghdr h;
            char b[CMSG_SPACE(sizeof(int) * 4)];
        } cm;
        struct iovec iov = {buf, sizeof buf};
        struct msghdr mh = {
            .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.b, .msg_controllen = sizeof cm.b};
        ssize_t k = recvmsg(sv[0], &mh, MSG_CMSG_CLOEXEC);
        if (k < 0 && errno == EINTR)
            continue;
        ck_assert_int_gt(k, 0);
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
                size_t nfds = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                int fds[4];
                memcpy(fds, CMSG_DATA(c), nfds * sizeof(int));
                ck_assert_int_eq(ipc_frame_decoder_push_fds(dec, fds, nfds), 0);
            }
        ck_assert_int_eq(ipc_frame_decoder_feed(dec, buf, (size_t)k), 0);
        rc = ipc_frame_decoder_next(dec, &m);
        ck_assert_int_ge(rc, 0);
    }
    ck_assert_int_eq(rig_wait(pid), 0);

    ipc_PTest_AllKinds out;
    ck_assert_int_eq(ipc_PTest_AllKinds_read(m, &out), 0);
    ck_assert_int_eq(out.i32, (int32_t)pid);
    ck_assert_str_eq(out.s, "hello parent");
    ck_assert_str_eq(out.rec->name, "child");
    char got[16] = {0};
    ck_assert_int_eq(read(out.fd, got, sizeof got), 10);
    ck_assert_str_eq(got, "from child");
    ipc_PTest_AllKinds_free(&out);
    ipc_msg_free(m);
    ck_assert_int_eq(ipc_frame_decoder_finish(dec), 0);
    ipc_frame_decoder_free(dec);
    close(sv[0]);
    rig_assert_no_leaks();
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("params");
    RIG_TCASE(s, "roundtrip_kinds", params_roundtrip_every_kind, 10);
    RIG_TCASE(s, "roundtrip_messages", params_roundtrip_every_declared_message, 10);
    RIG_TCASE(s, "descriptors", params_descriptors_are_consistent, 10);
    RIG_TCASE(s, "build_flags", params_build_sets_flags_from_the_declaration, 10);
    RIG_TCASE(s, "null_members", params_null_members_write_defaults, 10);
    RIG_TCASE(s, "write_errors", params_write_rejects_bad_values, 10);
    RIG_TCASE(s, "hostile", params_hostile_payloads_are_classified, 10);
    RIG_TCASE(s, "truncated", params_every_kind_truncated, 10);
    RIG_TCASE(s, "trailing", params_trailing_bytes_are_rejected, 10);
    RIG_TCASE(s, "fd_twice", params_fd_taken_twice_is_rejected, 10);
    RIG_TCASE(s, "proto_limit", params_oversized_proto_is_refused_before_unpacking, 30);
    RIG_TCASE(s, "fd_zero", params_fd_zero_is_never_closed_nor_produced, 10);
    RIG_TCASE(s, "format", params_format_matches_the_log_style, 10);
    RIG_TCASE(s, "format_escape", params_format_escapes_and_truncates, 10);
    RIG_TCASE(s, "format_cut", params_format_cuts_to_the_buffer_like_snprintf, 10);
    RIG_TCASE(s, "format_proto", params_format_walks_nested_repeated_and_enums, 10);
    RIG_TCASE(s, "cross_process", params_fd_and_proto_cross_processes, 20);
    return s;
}

static const rig_helper helpers[] = {{"send_allkinds", helper_send_allkinds}, {NULL, NULL}};

int main(int argc, char **argv)
{
    return rig_test_main(argc, argv, suite, helpers);
}
