/* Crash reports: the ring of recent messages, the report's text format (write
 * and parse), signal and syscall names, and the crash-info page (crash.h). */
#include "ipc/crash.h"

#include "ipc/errors.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <seccomp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- the ring ---- */

struct ring_entry {
    ipc_msg_dir dir;
    char desc[IPC_CRASH_DESC_MAX + 1];
};

struct ipc_crash_ring {
    atomic_int refs;
    pthread_mutex_t lock;
    size_t cap;
    size_t head;  /* next slot to write */
    size_t count; /* entries held */
    struct ring_entry *e;
};

int ipc_crash_ring_new(ipc_crash_ring **out, size_t cap)
{
    if (cap == 0)
        cap = IPC_CRASH_RING_DEFAULT;
    if (cap > IPC_CRASH_RING_MAX)
        return -EINVAL;
    ipc_crash_ring *r = calloc(1, sizeof *r);
    if (!r)
        return -ENOMEM;
    /* All entries up front: recording a message must never allocate. */
    r->e = calloc(cap, sizeof *r->e);
    if (!r->e) {
        free(r);
        return -ENOMEM;
    }
    atomic_init(&r->refs, 1);
    pthread_mutex_init(&r->lock, NULL);
    r->cap = cap;
    *out = r;
    return 0;
}

ipc_crash_ring *ipc_crash_ring_ref(ipc_crash_ring *ring)
{
    atomic_fetch_add(&ring->refs, 1);
    return ring;
}

void ipc_crash_ring_unref(ipc_crash_ring *ring)
{
    if (!ring || atomic_fetch_sub(&ring->refs, 1) != 1)
        return;
    pthread_mutex_destroy(&ring->lock);
    free(ring->e);
    free(ring);
}

/* Copies `src` into dst[IPC_CRASH_DESC_MAX + 1] so that it fits on one
 * report line. */
static void sanitize_desc(char *dst, const char *src)
{
    size_t i = 0;
    for (; src && src[i] && i < IPC_CRASH_DESC_MAX; i++) {
        unsigned char c = (unsigned char)src[i];
        dst[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    dst[i] = '\0';
}

void ipc_crash_ring_push(ipc_crash_ring *ring, ipc_msg_dir dir, const char *desc)
{
    pthread_mutex_lock((pthread_mutex_t *)&ring->lock);
    struct ring_entry *e = &ring->e[ring->head];
    e->dir = dir == IPC_MSG_RECEIVED ? IPC_MSG_RECEIVED : IPC_MSG_SENT;
    sanitize_desc(e->desc, desc);
    ring->head = (ring->head + 1) % ring->cap;
    if (ring->count < ring->cap)
        ring->count++;
    pthread_mutex_unlock((pthread_mutex_t *)&ring->lock);
}

size_t ipc_crash_ring_count(const ipc_crash_ring *ring)
{
    pthread_mutex_t *lock = (pthread_mutex_t *)&ring->lock;
    pthread_mutex_lock(lock);
    size_t n = ring->count;
    pthread_mutex_unlock(lock);
    return n;
}

int ipc_crash_ring_get(const ipc_crash_ring *ring, size_t i, ipc_msg_dir *dir, char *buf,
                       size_t buflen)
{
    pthread_mutex_t *lock = (pthread_mutex_t *)&ring->lock;
    int rc = -ERANGE;
    pthread_mutex_lock(lock);
    if (i < ring->count) {
        size_t oldest = (ring->head + ring->cap - ring->count) % ring->cap;
        const struct ring_entry *e = &ring->e[(oldest + i) % ring->cap];
        *dir = e->dir;
        if (buflen > 0)
            snprintf(buf, buflen, "%s", e->desc);
        rc = 0;
    }
    pthread_mutex_unlock(lock);
    return rc;
}

/* ---- names ---- */

const char *ipc_signal_name(int sig, char *buf, size_t buflen)
{
    const char *abbrev = (sig > 0 && sig < NSIG) ? sigabbrev_np(sig) : NULL;
    if (abbrev)
        snprintf(buf, buflen, "SIG%s", abbrev);
    else
        snprintf(buf, buflen, "SIG%d", sig);
    return buf;
}

void ipc_syscall_name(int nr, uint32_t arch, char *buf, size_t buflen)
{
    char *name = seccomp_syscall_resolve_num_arch(arch ? arch : SCMP_ARCH_NATIVE, nr);
    if (name)
        snprintf(buf, buflen, "%s", name);
    else
        snprintf(buf, buflen, "syscall_%d", nr);
    free(name);
}

/* ---- the crash-info page ---- */

/* Layout, little endian: u32 magic at 0 (written last), u32 syscall number
 * at 4, u32 audit arch at 8. */
#define CRASHINFO_MAGIC 0x53595343u /* "CSYS" */
/* Larger than any syscall number of any arch; rejects garbage. */
#define CRASHINFO_MAX_NR 0x100000

static void put_u32(volatile uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void ipc_crashinfo_record(void *page, int nr, uint32_t arch)
{
    volatile uint8_t *p = page;
    if (!page)
        return;
    put_u32(p + 4, (uint32_t)nr);
    put_u32(p + 8, arch);
    atomic_signal_fence(memory_order_seq_cst);
    put_u32(p, CRASHINFO_MAGIC);
}

int ipc_crashinfo_read(const void *page, size_t len, int *nr, uint32_t *arch)
{
    const uint8_t *p = page;
    if (!page || len < 12 || get_u32(p) != CRASHINFO_MAGIC)
        return 0;
    uint32_t n = get_u32(p + 4);
    if (n >= CRASHINFO_MAX_NR)
        return 0;
    *nr = (int)n;
    *arch = get_u32(p + 8);
    return 1;
}

/* ---- the report text ---- */

/* A growing text buffer; errors are sticky. */
struct text {
    char *s;
    size_t len, cap;
    int err;
};

static void text_add(struct text *t, const char *fmt, ...)
{
    if (t->err)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->s ? t->s + t->len : NULL, t->s ? t->cap - t->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->err = -EINVAL;
            return;
        }
        if (t->s && (size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = (t->cap ? t->cap * 2 : 1024) + (size_t)n;
        char *s = realloc(t->s, cap);
        if (!s) {
            t->err = -ENOMEM;
            return;
        }
        t->s = s;
        t->cap = cap;
    }
}

static const char *yesno(int v)
{
    return v ? "yes" : "no";
}

int ipc_crash_report_format(const ipc_crash_info *info, const ipc_crash_ring *ring, char **text,
                            size_t *len)
{
    struct text t = {0};
    char sig[32];
    text_add(&t, "ipc-crash-report: 1\n");
    text_add(&t, "pid: %d\n", (int)info->pid);
    text_add(&t, "parent_pid: %d\n", (int)info->parent_pid);
    text_add(&t, "process_type: %s\n", info->process_type[0] ? info->process_type : "-");
    text_add(&t, "time: %" PRId64 "\n", info->time);
    text_add(&t, "exited: %s\n", yesno(info->exited));
    if (info->exited)
        text_add(&t, "exit_status: %d\nsignal: -\nsignal_number: -\n", info->exit_status);
    else
        text_add(&t, "exit_status: -\nsignal: %s\nsignal_number: %d\n",
                 ipc_signal_name(info->signal, sig, sizeof sig), info->signal);
    text_add(&t, "core_dumped: %s\n", yesno(info->core_dumped));
    text_add(&t, "error: %s\n", info->error ? ipc_errname(info->error) : "-");
    if (info->syscall_nr >= 0)
        text_add(&t, "syscall: %s\nsyscall_number: %d\n",
                 info->syscall_name[0] ? info->syscall_name : "-", info->syscall_nr);
    else
        text_add(&t, "syscall: -\nsyscall_number: -\n");
    size_t n = ring ? ipc_crash_ring_count(ring) : 0;
    text_add(&t, "messages: %zu\n", n);
    for (size_t i = 0; i < n; i++) {
        char desc[IPC_CRASH_DESC_MAX + 1];
        ipc_msg_dir dir;
        if (ipc_crash_ring_get(ring, i, &dir, desc, sizeof desc) < 0)
            snprintf(desc, sizeof desc, "?"); /* pushed past while we read: keep the count */
        text_add(&t, "%s %s\n", dir == IPC_MSG_RECEIVED ? "recv" : "sent", desc);
    }
    if (t.err) {
        free(t.s);
        return t.err;
    }
    *text = t.s;
    *len = t.len;
    return 0;
}

static int write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Links the finished temp file under the first free report name. */
static int publish(const char *dir, const char *tmp, const ipc_crash_info *info, char *path,
                   size_t pathlen)
{
    char name[PATH_MAX];
    const char *type = info->process_type[0] ? info->process_type : "unknown";
    for (int n = 0; n < 1000; n++) {
        int w = n == 0 ? snprintf(name, sizeof name, "%s/ipc-crash-%s-%d.txt", dir, type,
                                  (int)info->pid)
                       : snprintf(name, sizeof name, "%s/ipc-crash-%s-%d-%d.txt", dir, type,
                                  (int)info->pid, n);
        if (w < 0 || (size_t)w >= sizeof name)
            return -ENAMETOOLONG;
        if (link(tmp, name) == 0) {
            if (path && pathlen)
                snprintf(path, pathlen, "%s", name);
            return 0;
        }
        if (errno != EEXIST)
            return -errno;
    }
    return -EEXIST;
}

int ipc_crash_report_write(const char *dir, const ipc_crash_info *info, const ipc_crash_ring *ring,
                           char *path, size_t pathlen)
{
    char tmp[PATH_MAX];
    char *text = NULL;
    size_t len = 0;
    int fd = -1, created = 0;
    int rc;
    /* The type is part of a file name: only take it when it is a plain word. */
    for (const char *c = info->process_type; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-' || *c == '_'))
            return -EINVAL;
    int w =
        snprintf(tmp, sizeof tmp, "%s/.ipc-crash-%d-%d.tmp", dir, (int)getpid(), (int)info->pid);
    if (w < 0 || (size_t)w >= sizeof tmp)
        return -ENAMETOOLONG;
    if ((rc = ipc_crash_report_format(info, ring, &text, &len)) < 0)
        goto fail;
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = -errno;
        goto fail;
    }
    created = 1;
    if ((rc = write_all(fd, text, len)) < 0)
        goto fail;
    if (close(fd) < 0) {
        fd = -1;
        rc = -errno;
        goto fail;
    }
    fd = -1;
    rc = publish(dir, tmp, info, path, pathlen);
fail:
    if (fd >= 0)
        close(fd);
    if (created) /* published or not, the aside name goes */
        unlink(tmp);
    free(text);
    return rc;
}

/* ---- parsing ---- */

struct cursor {
    const char *p, *end;
};

/* The next line (without its '\n'); every line must end with '\n'. */
static int next_line(struct cursor *c, const char **line, size_t *len)
{
    const char *nl = memchr(c->p, '\n', (size_t)(c->end - c->p));
    if (!nl)
        return IPC_E_PARAM;
    *line = c->p;
    *len = (size_t)(nl - c->p);
    c->p = nl + 1;
    return 0;
}

/* Reads "key: value" and copies value into val[vallen] (NUL-terminated). */
static int expect_kv(struct cursor *c, const char *key, char *val, size_t vallen)
{
    const char *line;
    size_t len, klen = strlen(key);
    int rc = next_line(c, &line, &len);
    if (rc < 0)
        return rc;
    if (len < klen + 2 || memcmp(line, key, klen) != 0 || line[klen] != ':' ||
        line[klen + 1] != ' ')
        return IPC_E_PARAM;
    size_t n = len - klen - 2;
    if (n == 0)
        return IPC_E_PARAM;
    if (n >= vallen)
        return IPC_E_BAD_SIZE;
    memcpy(val, line + klen + 2, n);
    val[n] = '\0';
    if (memchr(val, '\0', n))
        return IPC_E_PARAM;
    return 0;
}

static int parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
    int neg = 0;
    uint64_t v = 0;
    if (*s == '-') {
        neg = 1;
        s++;
    }
    if (!*s)
        return IPC_E_PARAM;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10)
            return IPC_E_PARAM;
        v = v * 10 + (uint64_t)(*s - '0');
        if (v > (uint64_t)INT64_MAX)
            return IPC_E_PARAM;
    }
    int64_t r = neg ? -(int64_t)v : (int64_t)v;
    if (r < min || r > max)
        return IPC_E_PARAM;
    *out = r;
    return 0;
}

static int kv_int(struct cursor *c, const char *key, int64_t min, int64_t max, int dash_ok,
                  int64_t *out)
{
    char v[32];
    int rc = expect_kv(c, key, v, sizeof v);
    if (rc < 0)
        return rc;
    if (dash_ok && strcmp(v, "-") == 0) {
        *out = INT64_MIN;
        return 0;
    }
    return parse_i64(v, min, max, out);
}

static int kv_bool(struct cursor *c, const char *key, int *out)
{
    char v[8];
    int rc = expect_kv(c, key, v, sizeof v);
    if (rc < 0)
        return rc;
    if (strcmp(v, "yes") && strcmp(v, "no"))
        return IPC_E_PARAM;
    *out = strcmp(v, "yes") == 0;
    return 0;
}

static int error_by_name(const char *name, int *err)
{
    if (strcmp(name, "-") == 0) {
        *err = 0;
        return 0;
    }
    for (int code = IPC_E_BASE; code > IPC_E_BASE - 200; code--) {
        if (strcmp(ipc_errname(code), name) == 0) {
            *err = code;
            return 0;
        }
    }
    return IPC_E_PARAM;
}

static int parse_head(struct cursor *c, ipc_crash_info *in)
{
    char v[IPC_CRASH_SYSCALL_MAX + 16];
    int64_t x, sig;
    int rc;
    if ((rc = expect_kv(c, "ipc-crash-report", v, sizeof v)) < 0)
        return rc;
    if (strcmp(v, "1") != 0)
        return IPC_E_PARAM;
    if ((rc = kv_int(c, "pid", 1, INT32_MAX, 0, &x)) < 0)
        return rc;
    in->pid = (pid_t)x;
    if ((rc = kv_int(c, "parent_pid", 0, INT32_MAX, 0, &x)) < 0)
        return rc;
    in->parent_pid = (pid_t)x;
    if ((rc = expect_kv(c, "process_type", in->process_type, sizeof in->process_type)) < 0)
        return rc;
    if (strcmp(in->process_type, "-") == 0)
        in->process_type[0] = '\0';
    if ((rc = kv_int(c, "time", 0, INT64_MAX, 0, &in->time)) < 0 ||
        (rc = kv_bool(c, "exited", &in->exited)) < 0 ||
        (rc = kv_int(c, "exit_status", 0, 255, !in->exited, &x)) < 0)
        return rc;
    in->exit_status = in->exited ? (int)x : 0;
    if ((rc = expect_kv(c, "signal", v, sizeof v)) < 0 ||
        (rc = kv_int(c, "signal_number", 1, NSIG - 1, in->exited, &sig)) < 0)
        return rc;
    /* Exactly one of exit status and signal, and the name must match. */
    if (in->exited ? (x == INT64_MIN || sig != INT64_MIN || strcmp(v, "-"))
                   : (x != INT64_MIN || sig == INT64_MIN))
        return IPC_E_PARAM;
    in->signal = in->exited ? 0 : (int)sig;
    char name[32];
    if (!in->exited && strcmp(v, ipc_signal_name(in->signal, name, sizeof name)) != 0)
        return IPC_E_PARAM;
    if ((rc = kv_bool(c, "core_dumped", &in->core_dumped)) < 0 ||
        (rc = expect_kv(c, "error", v, sizeof v)) < 0 || (rc = error_by_name(v, &in->error)) < 0)
        return rc;
    if ((rc = expect_kv(c, "syscall", in->syscall_name, sizeof in->syscall_name)) < 0 ||
        (rc = kv_int(c, "syscall_number", 0, CRASHINFO_MAX_NR - 1, 1, &x)) < 0)
        return rc;
    if ((x == INT64_MIN) != (strcmp(in->syscall_name, "-") == 0))
        return IPC_E_PARAM;
    in->syscall_nr = x == INT64_MIN ? -1 : (int)x;
    if (in->syscall_nr < 0)
        in->syscall_name[0] = '\0';
    return 0;
}

static int parse_msg(struct cursor *c, struct ipc_crash_report_msg *m)
{
    const char *line;
    size_t len;
    int rc = next_line(c, &line, &len);
    if (rc < 0)
        return rc;
    if (len < 5 || line[4] != ' ')
        return IPC_E_PARAM;
    if (memcmp(line, "sent", 4) == 0)
        m->dir = IPC_MSG_SENT;
    else if (memcmp(line, "recv", 4) == 0)
        m->dir = IPC_MSG_RECEIVED;
    else
        return IPC_E_PARAM;
    size_t n = len - 5;
    if (n > IPC_CRASH_DESC_MAX)
        return IPC_E_BAD_SIZE;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)line[5 + i] < 0x20 || line[5 + i] == 0x7f)
            return IPC_E_PARAM;
    memcpy(m->desc, line + 5, n);
    m->desc[n] = '\0';
    return 0;
}

int ipc_crash_report_parse(const char *text, size_t len, ipc_crash_report *out)
{
    struct cursor c = {text, text + len};
    int64_t n;
    int rc;
    memset(out, 0, sizeof *out);
    if ((rc = parse_head(&c, &out->info)) < 0)
        goto fail;
    if ((rc = kv_int(&c, "messages", 0, IPC_CRASH_RING_MAX, 0, &n)) < 0)
        goto fail;
    /* Each message line takes at least 6 bytes: check before allocating. */
    if ((size_t)n > (size_t)(c.end - c.p) / 6) {
        rc = IPC_E_PARAM;
        goto fail;
    }
    if (n > 0 && !(out->msgs = calloc((size_t)n, sizeof *out->msgs))) {
        rc = -ENOMEM;
        goto fail;
    }
    for (out->nmsgs = 0; out->nmsgs < (size_t)n; out->nmsgs++)
        if ((rc = parse_msg(&c, &out->msgs[out->nmsgs])) < 0)
            goto fail;
    if (c.p != c.end) {
        rc = IPC_E_TRAILING;
        goto fail;
    }
    return 0;
fail:
    ipc_crash_report_dispose(out);
    return rc;
}

void ipc_crash_report_dispose(ipc_crash_report *report)
{
    free(report->msgs);
    report->msgs = NULL;
    report->nmsgs = 0;
}
