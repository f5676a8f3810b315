/* `ipcrig decode`: runs a byte stream through the one frame decoder
 * (ipc/frame.c) and prints every message with its name and decoded params,
 * then the classified error, naming the byte offset and the frame's type. */
#include "cli.h"

#include "ipc/errors.h"
#include "ipc/frame.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char rig_usage_decode[] =
    "usage: ipcrig decode [OPTIONS] FILE|-\n"
    "\n"
    "Decodes a stream of frames (24-byte header + Pickle payload, as on a channel)\n"
    "read from FILE or standard input, and prints one line per message:\n"
    "  #N @OFFSET NAME routing=R flags=F txn=T fds=K size=S: PARAMS\n"
    "then either 'N messages, clean' or the classified error with the byte offset\n"
    "of the frame at fault and its type.\n"
    "\n"
    "  --allow-unknown     accept undeclared message types (default: an undeclared\n"
    "                      type is a malformed stream, IPC_E_UNKNOWN_TYPE)\n"
    "  --placeholder-fds   a byte stream carries no fds: give each frame that\n"
    "                      declares fds that many /dev/null descriptors (default:\n"
    "                      such a frame is IPC_E_FD_COUNT)\n"
    "  --max-payload N     payload size limit (default 128 MiB)\n"
    "  --max-fds N         fds per message limit (default 1024)\n"
    "\n"
    "exit status: 0 clean, 1 malformed stream or params (or unreadable input),\n"
    "2 usage error\n";

#define CHUNK (64u * 1024u)
/* More input than this is refused rather than buffered. */
#define MAX_INPUT (1024u * 1024u * 1024u)

typedef struct decode_opts {
    bool allow_unknown;
    bool placeholder_fds;
    ipc_frame_limits lim;
    const char *path;
} decode_opts;

typedef struct decode_state {
    ipc_frame_decoder *dec;
    const decode_opts *o;
    size_t nmsgs;
    uint64_t offset; /* where the next frame starts */
    size_t bad_params;
} decode_state;

static int read_all(const char *path, uint8_t **out, size_t *len)
{
    int fd = strcmp(path, "-") == 0 ? 0 : open(path, O_RDONLY | O_CLOEXEC);
    uint8_t *buf = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    if (fd < 0)
        return -errno;
    for (;;) {
        if (cap - n < CHUNK) {
            if (cap >= MAX_INPUT) {
                rc = -EFBIG;
                goto fail;
            }
            uint8_t *p = realloc(buf, cap + CHUNK);
            if (!p) {
                rc = -ENOMEM;
                goto fail;
            }
            buf = p;
            cap += CHUNK;
        }
        ssize_t k = read(fd, buf + n, cap - n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            rc = -errno;
            goto fail;
        }
        if (k == 0)
            break;
        n += (size_t)k;
    }
    if (fd > 0)
        close(fd);
    *out = buf;
    *len = n;
    return 0;
fail:
    if (fd > 0)
        close(fd);
    free(buf);
    return rc;
}

static void format_flags(uint32_t f, char *buf, size_t len)
{
    static const struct {
        uint32_t bit;
        const char *name;
    } names[] = {{IPC_MSG_SYNC, "sync"},
                 {IPC_MSG_REPLY, "reply"},
                 {IPC_MSG_REPLY_ERROR, "reply-error"},
                 {IPC_MSG_WANTS_REPLY, "wants-reply"}};
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (f & names[i].bit)
            used +=
                (size_t)snprintf(buf + used, len - used, "%s%s", used ? "|" : "", names[i].name);
    if (f & IPC_MSG_PRIORITY_MASK)
        used += (size_t)snprintf(buf + used, len - used, "%sprio=%u", used ? "|" : "",
                                 (unsigned)(f & IPC_MSG_PRIORITY_MASK));
    if (!used)
        snprintf(buf, len, "-");
}

static void format_routing(int32_t rid, char *buf, size_t len)
{
    if (rid == IPC_ROUTING_CONTROL)
        snprintf(buf, len, "control");
    else if (rid == IPC_ROUTING_NONE)
        snprintf(buf, len, "none");
    else
        snprintf(buf, len, "%d", (int)rid);
}

/* Prints the params of msg (which it consumes the fds of). 0, or -1 when they
 * do not decode. */
static int print_params(ipc_msg *msg, size_t payload)
{
    const ipc_msg_desc *d = ipc_msgdesc_lookup(ipc_msg_type(msg));
    bool reply = ipc_msg_is_reply(msg) != 0;
    if (!d) {
        printf("(undeclared type; %zu payload bytes not decoded)\n", payload);
        return 0;
    }
    if (ipc_msg_is_reply_error(msg)) {
        printf("reply error%s\n", payload ? " (with a payload)" : "");
        return 0;
    }
    size_t size = reply ? d->replies_size : d->params_size;
    size_t n = reply ? d->nreplies : d->nparams;
    const ipc_param_desc *ps = reply ? d->replies : d->params;
    void *p = calloc(1, size);
    if (!p) {
        printf("(out of memory)\n");
        return -1;
    }
    size_t failed = 0;
    int rc = ipc_params_read_at(d, reply, msg, p, &failed);
    if (rc) {
        printf("params malformed: %s (%s) ", ipc_errname(rc), ipc_strerror(rc));
        if (failed < n)
            printf("at param '%s' (#%zu, %s)\n", ps[failed].name, failed,
                   rig_kind_name(ps[failed].kind));
        else
            printf("after the last param\n");
    } else {
        int k = ipc_params_format(d, reply, p, NULL, 0);
        char *text = malloc((size_t)k + 1);
        if (text) {
            ipc_params_format(d, reply, p, text, (size_t)k + 1);
            printf("%s\n", text);
            free(text);
        } else {
            printf("(out of memory)\n");
        }
        ipc_params_free(d, reply, p);
    }
    free(p);
    return rc ? -1 : 0;
}

static void print_msg(decode_state *s, ipc_msg *msg)
{
    char name[IPC_MSG_NAME_MAX], flags[96], rid[24];
    size_t payload;
    ipc_msg_payload(msg, &payload);
    ipc_msg_type_name(ipc_msg_type(msg), ipc_msg_flags(msg), name, sizeof name);
    format_flags(ipc_msg_flags(msg), flags, sizeof flags);
    format_routing(ipc_msg_routing_id(msg), rid, sizeof rid);
    printf("#%zu @%llu %s routing=%s flags=%s txn=%u fds=%zu size=%zu: ", s->nmsgs,
           (unsigned long long)s->offset, name, rid, flags, (unsigned)ipc_msg_txn_id(msg),
           ipc_msg_num_fds(msg), payload);
    if (print_params(msg, payload) != 0)
        s->bad_params++;
    s->nmsgs++;
    s->offset += IPC_MSG_HEADER_SIZE + payload;
}

/* Takes and prints every complete message; returns the decoder's error. */
static int drain(decode_state *s)
{
    for (;;) {
        ipc_msg *msg;
        int rc = ipc_frame_decoder_next(s->dec, &msg);
        if (rc <= 0)
            return rc;
        print_msg(s, msg);
        ipc_msg_free(msg);
    }
}

static int push_placeholders(decode_state *s, const uint8_t *p, size_t avail)
{
    ipc_msg_header h;
    if (avail < IPC_MSG_HEADER_SIZE || ipc_msg_decode_header(p, &h) != 0)
        return 0; /* the decoder classifies it */
    uint32_t n = h.num_fds < s->o->lim.max_fds ? h.num_fds : s->o->lim.max_fds;
    for (uint32_t i = 0; i < n; i++) {
        int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return -errno;
        int rc = ipc_frame_decoder_push_fds(s->dec, &fd, 1);
        if (rc)
            return rc;
    }
    return 0;
}

/* Feeds everything, a chunk or (with placeholder fds) a frame at a time. */
static int feed(decode_state *s, const uint8_t *data, size_t len)
{
    size_t pos = 0;
    int rc = 0;
    while (pos < len && rc == 0) {
        size_t k = len - pos < CHUNK ? len - pos : CHUNK;
        if (s->o->placeholder_fds) {
            ipc_msg_header h;
            rc = push_placeholders(s, data + pos, len - pos);
            if (rc)
                return rc;
            if (len - pos >= IPC_MSG_HEADER_SIZE && ipc_msg_decode_header(data + pos, &h) == 0 &&
                (uint64_t)IPC_MSG_HEADER_SIZE + h.payload_size <= len - pos)
                k = IPC_MSG_HEADER_SIZE + h.payload_size;
            else
                k = len - pos;
        }
        rc = ipc_frame_decoder_feed(s->dec, data + pos, k);
        pos += k;
        int drc = drain(s);
        if (drc < 0)
            return drc;
    }
    return rc;
}

static void print_error(decode_state *s, int err, size_t total)
{
    char name[IPC_MSG_NAME_MAX];
    uint32_t type = ipc_frame_decoder_error_type(s->dec);
    printf("error: %s (%s) in frame #%zu at byte offset %llu, ", ipc_errname(err),
           ipc_strerror(err), s->nmsgs, (unsigned long long)s->offset);
    if (type)
        printf("type %s\n", ipc_msg_type_name(type, 0, name, sizeof name));
    else if (err == IPC_E_TRUNCATED)
        printf("the stream ends %llu bytes into its %d-byte header\n",
               (unsigned long long)(total - s->offset), IPC_MSG_HEADER_SIZE);
    else
        printf("between frames\n");
}

static int parse_opts(int argc, char **argv, decode_opts *o)
{
    ipc_frame_limits_default(&o->lim);
    o->path = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        uint32_t v;
        if (strcmp(a, "--allow-unknown") == 0) {
            o->allow_unknown = true;
        } else if (strcmp(a, "--placeholder-fds") == 0) {
            o->placeholder_fds = true;
        } else if (strcmp(a, "--max-payload") == 0 || strcmp(a, "--max-fds") == 0) {
            if (i + 1 >= argc || rig_parse_u32(argv[i + 1], &v) != 0)
                return rig_usage_error("decode", "%s needs a number", a);
            if (strcmp(a, "--max-payload") == 0)
                o->lim.max_payload = v;
            else
                o->lim.max_fds = v;
            i++;
        } else if (a[0] == '-' && a[1] != '\0') {
            return rig_usage_error("decode", "unknown option '%s'", a);
        } else if (o->path) {
            return rig_usage_error("decode", "more than one input ('%s' and '%s')", o->path, a);
        } else {
            o->path = a;
        }
    }
    if (!o->path)
        return rig_usage_error("decode", "no input given (a FILE, or - for standard input)");
    if (!o->allow_unknown)
        o->lim.type_known = ipc_msg_type_known;
    return 0;
}

int rig_cmd_decode(int argc, char **argv)
{
    decode_opts o = {0};
    decode_state s = {0};
    uint8_t *data = NULL;
    size_t len = 0;
    int status = parse_opts(argc, argv, &o);
    if (status)
        return status;
    s.o = &o;
    int rc = read_all(o.path, &data, &len);
    if (rc)
        return rig_fail("decode", "cannot read '%s': %s", o.path, ipc_strerror(rc));
    rc = ipc_frame_decoder_new(&s.dec, &o.lim);
    if (rc) {
        free(data);
        return rig_fail("decode", "cannot create the frame decoder: %s", ipc_strerror(rc));
    }
    rc = feed(&s, data, len);
    if (rc == 0)
        rc = ipc_frame_decoder_finish(s.dec);
    if (rc == 0)
        rc = drain(&s);
    if (rc < 0) {
        print_error(&s, rc, len);
        status = RIG_EXIT_FAIL;
    } else if (s.bad_params) {
        printf("%zu messages, %zu with malformed params\n", s.nmsgs, s.bad_params);
        status = RIG_EXIT_FAIL;
    } else {
        printf("%zu messages, clean\n", s.nmsgs);
    }
    ipc_frame_decoder_free(s.dec);
    free(data);
    return status;
}
