/* The one generic params codec: writes, reads, frees and formats any declared
 * message's params struct by walking its reflection descriptor, so generated
 * code, logging, the scenario language and the fuzzers share one decoder. */
#include "ipc/errors.h"
#include "ipc/protocol.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <protobuf-c/protobuf-c.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Longest string / bytes shown in full by ipc_params_format. */
#define FMT_MAX_STRING   64u
#define FMT_MAX_BYTES    32u
#define FMT_MAX_REPEATED 16u
#define FMT_MAX_DEPTH    8

static const ipc_param_desc *param_list(const ipc_msg_desc *d, bool reply, size_t *n, size_t *size)
{
    *n = reply ? d->nreplies : d->nparams;
    if (size)
        *size = reply ? d->replies_size : d->params_size;
    return reply ? d->replies : d->params;
}

/* Field access by offset: the struct really has a member of exactly this type
 * there. PROTO members are pointers to protobuf-c structs that begin with a
 * ProtobufCMessage; every struct pointer has the same representation, so the
 * pointer is copied bytewise rather than read through a different type. */
#define FIELD(type, base, p)  ((type *)(void *)((char *)(base) + (p)->offset))
#define CFIELD(type, base, p) ((const type *)(const void *)((const char *)(base) + (p)->offset))

static ProtobufCMessage *get_proto(const void *base, const ipc_param_desc *p)
{
    ProtobufCMessage *m;
    memcpy(&m, (const char *)base + p->offset, sizeof m);
    return m;
}

static void set_proto(void *base, const ipc_param_desc *p, ProtobufCMessage *m)
{
    memcpy((char *)base + p->offset, &m, sizeof m);
}

/* ---- write ---- */

static int write_proto(ipc_pickle *w, const ipc_param_desc *p, const ProtobufCMessage *m)
{
    if (!m)
        return ipc_pickle_write_bytes(w, "", 0);
    if (m->descriptor != p->proto)
        return -EINVAL;
    size_t n = protobuf_c_message_get_packed_size(m);
    if (n > IPC_PARAM_MAX_PROTO)
        return IPC_E_TOO_LARGE;
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf)
        return -ENOMEM;
    protobuf_c_message_pack(m, buf);
    int rc = ipc_pickle_write_bytes(w, buf, n);
    free(buf);
    return rc;
}

static int write_fd(ipc_msg *msg, int fd)
{
    if (fd < 0)
        return ipc_msg_write_fd(msg, -1);
    int dup = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (dup < 0)
        return -errno;
    return ipc_msg_write_fd(msg, dup); /* takes dup, also on failure */
}

static int write_one(ipc_msg *msg, const ipc_param_desc *p, const void *src)
{
    ipc_pickle *w = ipc_msg_writer(msg);
    switch (p->kind) {
    case IPC_PK_BOOL:
        return ipc_pickle_write_bool(w, *CFIELD(bool, src, p));
    case IPC_PK_INT32:
        return ipc_pickle_write_i32(w, *CFIELD(int32_t, src, p));
    case IPC_PK_UINT32:
        return ipc_pickle_write_u32(w, *CFIELD(uint32_t, src, p));
    case IPC_PK_INT64:
        return ipc_pickle_write_i64(w, *CFIELD(int64_t, src, p));
    case IPC_PK_UINT64:
        return ipc_pickle_write_u64(w, *CFIELD(uint64_t, src, p));
    case IPC_PK_DOUBLE:
        return ipc_pickle_write_double(w, *CFIELD(double, src, p));
    case IPC_PK_STRING: {
        const char *s = *CFIELD(char *, src, p);
        if (!s)
            s = "";
        return ipc_pickle_write_string(w, s, strlen(s));
    }
    case IPC_PK_BYTES: {
        const ipc_bytes *b = CFIELD(ipc_bytes, src, p);
        if (!b->data && b->len)
            return -EINVAL;
        return ipc_pickle_write_bytes(w, b->data ? (const void *)b->data : "", b->len);
    }
    case IPC_PK_FD:
        return write_fd(msg, *CFIELD(int, src, p));
    case IPC_PK_PROTO:
        return write_proto(w, p, get_proto(src, p));
    }
    return -EINVAL;
}

int ipc_params_write(const ipc_msg_desc *d, bool reply, ipc_msg *msg, const void *src)
{
    size_t n;
    const ipc_param_desc *ps = param_list(d, reply, &n, NULL);
    for (size_t i = 0; i < n; i++) {
        int rc = write_one(msg, &ps[i], src);
        if (rc < 0)
            return rc;
    }
    return ipc_pickle_error(ipc_msg_writer(msg));
}

/* ---- read ---- */

static int read_string(ipc_pickle_iter *it, char **out)
{
    const char *s;
    size_t len;
    int rc = ipc_pickle_read_string(it, &s, &len);
    if (rc)
        return rc;
    char *copy = malloc(len + 1); /* len <= payload size, so no overflow */
    if (!copy)
        return -ENOMEM;
    memcpy(copy, s, len);
    copy[len] = '\0';
    *out = copy;
    return 0;
}

static int read_bytes(ipc_pickle_iter *it, ipc_bytes *out)
{
    const uint8_t *p;
    size_t len;
    int rc = ipc_pickle_read_bytes(it, &p, &len);
    if (rc)
        return rc;
    if (len == 0)
        return 0;
    out->data = malloc(len);
    if (!out->data)
        return -ENOMEM;
    memcpy(out->data, p, len);
    out->len = len;
    return 0;
}

/* Reads never produce fd 0, so that freeing a zeroed params struct is safe. */
static int read_fd(ipc_msg *msg, ipc_pickle_iter *it, int *out)
{
    int fd;
    int rc = ipc_msg_read_fd(msg, it, &fd);
    if (rc)
        return rc;
    if (fd == 0) {
        int moved = fcntl(fd, F_DUPFD_CLOEXEC, 1);
        int err = errno;
        close(fd);
        if (moved < 0)
            return -err;
        fd = moved;
    }
    *out = fd;
    return 0;
}

static int read_proto(ipc_pickle_iter *it, const ipc_param_desc *p, void *dst)
{
    const uint8_t *data;
    size_t len;
    int rc = ipc_pickle_read_bytes(it, &data, &len);
    if (rc)
        return rc;
    if (len > IPC_PARAM_MAX_PROTO)
        return IPC_E_TOO_LARGE;
    ProtobufCMessage *m = protobuf_c_message_unpack(p->proto, NULL, len, data);
    if (!m)
        return IPC_E_BAD_PROTO;
    set_proto(dst, p, m);
    return 0;
}

static int read_one(ipc_msg *msg, ipc_pickle_iter *it, const ipc_param_desc *p, void *dst)
{
    switch (p->kind) {
    case IPC_PK_BOOL:
        return ipc_pickle_read_bool(it, FIELD(bool, dst, p));
    case IPC_PK_INT32:
        return ipc_pickle_read_i32(it, FIELD(int32_t, dst, p));
    case IPC_PK_UINT32:
        return ipc_pickle_read_u32(it, FIELD(uint32_t, dst, p));
    case IPC_PK_INT64:
        return ipc_pickle_read_i64(it, FIELD(int64_t, dst, p));
    case IPC_PK_UINT64:
        return ipc_pickle_read_u64(it, FIELD(uint64_t, dst, p));
    case IPC_PK_DOUBLE:
        return ipc_pickle_read_double(it, FIELD(double, dst, p));
    case IPC_PK_STRING:
        return read_string(it, FIELD(char *, dst, p));
    case IPC_PK_BYTES:
        return read_bytes(it, FIELD(ipc_bytes, dst, p));
    case IPC_PK_FD:
        return read_fd(msg, it, FIELD(int, dst, p));
    case IPC_PK_PROTO:
        return read_proto(it, p, dst);
    }
    return -EINVAL;
}

/* Zero, with every FD member -1: the state after a failed read or a free. */
static void clear(const ipc_param_desc *ps, size_t n, size_t size, void *p)
{
    memset(p, 0, size);
    for (size_t i = 0; i < n; i++)
        if (ps[i].kind == IPC_PK_FD)
            *FIELD(int, p, &ps[i]) = -1;
}

int ipc_params_read_at(const ipc_msg_desc *d, bool reply, ipc_msg *msg, void *dst, size_t *failed)
{
    size_t n, size, i = 0;
    const ipc_param_desc *ps = param_list(d, reply, &n, &size);
    clear(ps, n, size, dst);
    ipc_pickle_iter it;
    ipc_msg_iter(msg, &it);
    int rc = 0;
    for (i = 0; i < n; i++) {
        rc = read_one(msg, &it, &ps[i], dst);
        if (rc)
            goto fail;
    }
    rc = ipc_pickle_iter_end(&it);
    if (rc)
        goto fail;
    return 0;
fail:
    if (failed)
        *failed = i;
    ipc_params_free(d, reply, dst);
    return rc;
}

int ipc_params_read(const ipc_msg_desc *d, bool reply, ipc_msg *msg, void *dst)
{
    return ipc_params_read_at(d, reply, msg, dst, NULL);
}

/* ---- free ---- */

void ipc_params_free(const ipc_msg_desc *d, bool reply, void *p)
{
    size_t n, size;
    const ipc_param_desc *ps = param_list(d, reply, &n, &size);
    for (size_t i = 0; i < n; i++) {
        const ipc_param_desc *pd = &ps[i];
        switch (pd->kind) {
        case IPC_PK_STRING:
            free(*FIELD(char *, p, pd));
            break;
        case IPC_PK_BYTES:
            free(FIELD(ipc_bytes, p, pd)->data);
            break;
        case IPC_PK_FD:
            /* 0 is what a zeroed struct holds, never what a read produced. */
            if (*FIELD(int, p, pd) > 0)
                close(*FIELD(int, p, pd));
            break;
        case IPC_PK_PROTO: {
            ProtobufCMessage *m = get_proto(p, pd);
            if (m)
                protobuf_c_message_free_unpacked(m, NULL);
            break;
        }
        default:
            break;
        }
    }
    clear(ps, n, size, p);
}

/* ---- build ---- */

static uint32_t request_flags(const ipc_msg_desc *d)
{
    switch (d->sync) {
    case IPC_SYNC:
        return IPC_MSG_SYNC;
    case IPC_ASYNC_RETURNS:
        return IPC_MSG_WANTS_REPLY;
    default:
        return 0;
    }
}

int ipc_msg_build(ipc_msg **out, const ipc_msg_desc *d, int32_t routing_id, const void *params)
{
    *out = NULL;
    ipc_msg *m = ipc_msg_new(routing_id, d->type, request_flags(d));
    if (!m)
        return -ENOMEM;
    int rc = ipc_params_write(d, false, m, params);
    if (rc)
        goto fail;
    *out = m;
    return 0;
fail:
    ipc_msg_free(m);
    return rc;
}

int ipc_msg_build_reply(ipc_msg **out, const ipc_msg_desc *d, const ipc_msg *request,
                        const void *reply)
{
    *out = NULL;
    ipc_msg *m = ipc_msg_new_reply(request);
    if (!m)
        return -ENOMEM;
    int rc = ipc_params_write(d, true, m, reply);
    if (rc)
        goto fail;
    *out = m;
    return 0;
fail:
    ipc_msg_free(m);
    return rc;
}

/* ---- format ---- */

/* An snprintf-like sink: writes what fits, counts everything. */
typedef struct sink {
    char *buf;
    size_t cap;
    size_t n;
} sink;

static void put(sink *s, const char *p, size_t k)
{
    if (s->n < s->cap) {
        size_t room = s->cap - s->n;
        memcpy(s->buf + s->n, p, k < room ? k : room);
    }
    s->n += k;
}

static void puts_(sink *s, const char *p)
{
    put(s, p, strlen(p));
}

__attribute__((format(printf, 2, 3))) static void putf(sink *s, const char *fmt, ...)
{
    char tmp[64];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (k > 0)
        put(s, tmp, (size_t)k < sizeof tmp ? (size_t)k : sizeof tmp - 1);
}

static void put_escaped(sink *s, const char *p, size_t len)
{
    size_t shown = len > FMT_MAX_STRING ? FMT_MAX_STRING : len;
    put(s, "\"", 1);
    for (size_t i = 0; i < shown; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            put(s, e, 2);
        } else if (c == '\n') {
            puts_(s, "\\n");
        } else if (c == '\t') {
            puts_(s, "\\t");
        } else if (c == '\r') {
            puts_(s, "\\r");
        } else if (c < 0x20 || c >= 0x7f) {
            putf(s, "\\x%02x", c);
        } else {
            put(s, (const char *)&c, 1);
        }
    }
    put(s, "\"", 1);
    if (shown < len)
        putf(s, "...(%zu bytes)", len);
}

static void put_hex(sink *s, const uint8_t *p, size_t len)
{
    size_t shown = len > FMT_MAX_BYTES ? FMT_MAX_BYTES : len;
    putf(s, "<%zu bytes", len);
    if (len)
        puts_(s, ": ");
    for (size_t i = 0; i < shown; i++)
        putf(s, "%02x", p[i]);
    if (shown < len)
        puts_(s, "...");
    puts_(s, ">");
}

static void put_proto(sink *s, const ProtobufCMessage *m, int depth);

static size_t pb_elem_size(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_ENUM:
        return 4;
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_STRING:
        return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(ProtobufCMessage *);
    default:
        return 8;
    }
}

/* One protobuf value of field `f` stored at `v`. */
static void put_pb_value(sink *s, const ProtobufCFieldDescriptor *f, const void *v, int depth)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        putf(s, "%" PRId32, *(const int32_t *)v);
        break;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        putf(s, "%" PRIu32, *(const uint32_t *)v);
        break;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        putf(s, "%" PRId64, *(const int64_t *)v);
        break;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        putf(s, "%" PRIu64, *(const uint64_t *)v);
        break;
    case PROTOBUF_C_TYPE_FLOAT:
        putf(s, "%.9g", (double)*(const float *)v);
        break;
    case PROTOBUF_C_TYPE_DOUBLE:
        putf(s, "%.17g", *(const double *)v);
        break;
    case PROTOBUF_C_TYPE_BOOL:
        puts_(s, *(const protobuf_c_boolean *)v ? "true" : "false");
        break;
    case PROTOBUF_C_TYPE_ENUM: {
        int e = *(const int *)v;
        const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(f->descriptor, e);
        if (ev)
            puts_(s, ev->name);
        else
            putf(s, "%d", e);
        break;
    }
    case PROTOBUF_C_TYPE_STRING: {
        const char *str = *(char *const *)v;
        if (str)
            put_escaped(s, str, strlen(str));
        else
            puts_(s, "null");
        break;
    }
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *b = v;
        put_hex(s, b->data, b->len);
        break;
    }
    case PROTOBUF_C_TYPE_MESSAGE:
        put_proto(s, *(ProtobufCMessage *const *)v, depth + 1);
        break;
    }
}

/* Whether an optional / oneof field holds a value worth showing. */
static bool pb_present(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
    const char *base = (const char *)m;
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        return *(const uint32_t *)(const void *)(base + f->quantifier_offset) == f->id;
    if (f->label != PROTOBUF_C_LABEL_OPTIONAL)
        return true;
    if (f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_MESSAGE)
        return *(void *const *)(const void *)(base + f->offset) != NULL;
    return *(const protobuf_c_boolean *)(const void *)(base + f->quantifier_offset) != 0;
}

static void put_proto(sink *s, const ProtobufCMessage *m, int depth)
{
    if (!m) {
        puts_(s, "null");
        return;
    }
    if (depth >= FMT_MAX_DEPTH) {
        puts_(s, "{...}");
        return;
    }
    const ProtobufCMessageDescriptor *d = m->descriptor;
    const char *base = (const char *)m;
    bool first = true;
    puts_(s, "{");
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (!pb_present(m, f))
            continue;
        putf(s, "%s%s: ", first ? "" : ", ", f->name);
        first = false;
        const void *v = base + f->offset;
        if (f->label != PROTOBUF_C_LABEL_REPEATED) {
            put_pb_value(s, f, v, depth);
            continue;
        }
        size_t count = *(const size_t *)(const void *)(base + f->quantifier_offset);
        const char *arr = *(const char *const *)v;
        size_t esz = pb_elem_size(f->type);
        puts_(s, "[");
        for (size_t k = 0; k < count && k < FMT_MAX_REPEATED; k++) {
            if (k)
                puts_(s, ", ");
            put_pb_value(s, f, arr + k * esz, depth);
        }
        if (count > FMT_MAX_REPEATED)
            putf(s, ", ...(%zu items)", count);
        puts_(s, "]");
    }
    puts_(s, "}");
}

static void format_one(sink *s, const ipc_param_desc *p, const void *src)
{
    switch (p->kind) {
    case IPC_PK_BOOL:
        puts_(s, *CFIELD(bool, src, p) ? "true" : "false");
        break;
    case IPC_PK_INT32:
        putf(s, "%" PRId32, *CFIELD(int32_t, src, p));
        break;
    case IPC_PK_UINT32:
        putf(s, "%" PRIu32, *CFIELD(uint32_t, src, p));
        break;
    case IPC_PK_INT64:
        putf(s, "%" PRId64, *CFIELD(int64_t, src, p));
        break;
    case IPC_PK_UINT64:
        putf(s, "%" PRIu64, *CFIELD(uint64_t, src, p));
        break;
    case IPC_PK_DOUBLE:
        putf(s, "%.17g", *CFIELD(double, src, p));
        break;
    case IPC_PK_STRING: {
        const char *str = *CFIELD(char *, src, p);
        if (str)
            put_escaped(s, str, strlen(str));
        else
            puts_(s, "null");
        break;
    }
    case IPC_PK_BYTES: {
        const ipc_bytes *b = CFIELD(ipc_bytes, src, p);
        put_hex(s, b->data, b->data ? b->len : 0);
        break;
    }
    case IPC_PK_FD: {
        int fd = *CFIELD(int, src, p);
        if (fd >= 0)
            putf(s, "#%d", fd);
        else
            puts_(s, "none");
        break;
    }
    case IPC_PK_PROTO:
        put_proto(s, get_proto(src, p), 0);
        break;
    }
}

int ipc_params_format(const ipc_msg_desc *d, bool reply, const void *p, char *buf, size_t len)
{
    sink s = {buf, len ? len - 1 : 0, 0};
    size_t n;
    const ipc_param_desc *ps = param_list(d, reply, &n, NULL);
    for (size_t i = 0; i < n; i++) {
        if (i)
            puts_(&s, ", ");
        puts_(&s, ps[i].name);
        puts_(&s, "=");
        format_one(&s, &ps[i], p);
    }
    if (len)
        buf[s.n < s.cap ? s.n : s.cap] = '\0';
    return s.n > INT32_MAX ? INT32_MAX : (int)s.n;
}
