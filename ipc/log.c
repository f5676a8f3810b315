/* The IPC message log (see log.h): parses IPC_LOG once, formats Gecko-style
 * lines with decoded params, writes them under a lock so lines never mix. */
#include "ipc/log.h"

#include "ipc/protocol.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#define MAX_PROTOCOLS 32
#define LINE_MAX_LEN 4096

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t log_once = PTHREAD_ONCE_INIT;
static int log_all;
static int log_count;
static char log_names[MAX_PROTOCOLS][32];
static int log_fd = STDERR_FILENO;

/* Parses "PDemo,PDemoHelpline" or "all"; caller holds log_lock. */
static void parse_spec(const char *spec)
{
    log_all = 0;
    log_count = 0;
    if (!spec)
        return;
    const char *p = spec;
    while (*p) {
        size_t n = strcspn(p, ", ");
        if (n == 3 && strncmp(p, "all", 3) == 0)
            log_all = 1;
        else if (n > 0 && n < sizeof log_names[0] && log_count < MAX_PROTOCOLS) {
            memcpy(log_names[log_count], p, n);
            log_names[log_count][n] = '\0';
            log_count++;
        }
        p += n;
        p += strspn(p, ", ");
    }
}

static int open_sink(const char *path)
{
    if (!path || !*path)
        return STDERR_FILENO;
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    return fd < 0 ? -errno : fd;
}

static void init_from_env(void)
{
    pthread_mutex_lock(&log_lock);
    parse_spec(getenv("IPC_LOG"));
    int fd = open_sink(getenv("IPC_LOG_FILE"));
    log_fd = fd < 0 ? STDERR_FILENO : fd;
    pthread_mutex_unlock(&log_lock);
}

int ipc_log_configure(const char *spec, const char *path)
{
    pthread_once(&log_once, init_from_env);
    int fd = open_sink(path);
    if (fd < 0)
        return fd;
    pthread_mutex_lock(&log_lock);
    parse_spec(spec);
    if (log_fd != STDERR_FILENO)
        close(log_fd);
    log_fd = fd;
    pthread_mutex_unlock(&log_lock);
    return 0;
}

int ipc_log_enabled(const char *protocol)
{
    pthread_once(&log_once, init_from_env);
    pthread_mutex_lock(&log_lock);
    int on = log_all;
    for (int i = 0; !on && i < log_count; i++)
        on = protocol && strcmp(log_names[i], protocol) == 0;
    pthread_mutex_unlock(&log_lock);
    return on;
}

int ipc_log_any(void)
{
    pthread_once(&log_once, init_from_env);
    pthread_mutex_lock(&log_lock);
    int on = log_all || log_count > 0;
    pthread_mutex_unlock(&log_lock);
    return on;
}

/* One write() per line so concurrent processes sharing the sink do not mix. */
static void emit(const char *line)
{
    char buf[LINE_MAX_LEN + 2];
    size_t n = strnlen(line, LINE_MAX_LEN);
    memcpy(buf, line, n);
    buf[n++] = '\n';
    pthread_mutex_lock(&log_lock);
    ssize_t w;
    do
        w = write(log_fd, buf, n);
    while (w < 0 && errno == EINTR);
    pthread_mutex_unlock(&log_lock);
}

static long long now_us(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (long long)tv.tv_sec * 1000000LL + tv.tv_usec;
}

/* Decodes the params of a copy (reading takes fds, and the message is const). */
static void format_params(char *buf, size_t len, const ipc_msg *msg)
{
    buf[0] = '\0';
    const ipc_msg_desc *d = ipc_msgdesc_lookup(ipc_msg_type(msg));
    if (!d)
        return;
    int reply = ipc_msg_is_reply(msg);
    if (ipc_msg_is_reply_error(msg)) {
        snprintf(buf, len, "(reply error)");
        return;
    }
    ipc_msg *copy = ipc_msg_clone(msg);
    size_t size = reply ? d->replies_size : d->params_size;
    void *p = copy ? calloc(1, size ? size : 1) : NULL;
    if (!p) {
        snprintf(buf, len, "(out of memory)");
    } else if (ipc_params_read(d, reply, copy, p) != 0) {
        snprintf(buf, len, "(undecodable params)");
    } else {
        char inner[LINE_MAX_LEN / 4];
        ipc_params_format(d, reply, p, inner, sizeof inner);
        snprintf(buf, len, "(%s)", inner);
        ipc_params_free(d, reply, p);
    }
    free(p);
    ipc_msg_free(copy);
}

static const char *event_word(ipc_log_event ev)
{
    switch (ev) {
    case IPC_LOG_SEND:
        return "Sending ";
    case IPC_LOG_RECV:
        return "Received ";
    case IPC_LOG_SEND_REPLY:
        return "Sending reply ";
    case IPC_LOG_RECV_REPLY:
        return "Received "; /* Gecko logs a reply it receives as "Received " */
    }
    return "?";
}

const char *ipc_log_format(char *buf, size_t len, ipc_log_event ev, pid_t self, pid_t peer,
                           const char *actor, const ipc_msg *msg)
{
    char name[IPC_MSG_NAME_MAX];
    char params[LINE_MAX_LEN / 2];
    ipc_msg_type_name(ipc_msg_type(msg), ipc_msg_flags(msg), name, sizeof name);
    format_params(params, sizeof params, msg);
    int outgoing = ev == IPC_LOG_SEND || ev == IPC_LOG_SEND_REPLY;
    snprintf(buf, len, "[time: %lld][%d%s%d] [%s] %s %s%s", now_us(), (int)self,
             outgoing ? "->" : "<-", (int)peer, actor ? actor : "?", event_word(ev), name,
             params);
    return buf;
}

void ipc_log_message(ipc_log_event ev, pid_t self, pid_t peer, const char *actor,
                     const ipc_msg *msg)
{
    const ipc_msg_desc *d = ipc_msgdesc_lookup(ipc_msg_type(msg));
    if (!ipc_log_enabled(d ? d->protocol : NULL))
        return;
    char line[LINE_MAX_LEN];
    emit(ipc_log_format(line, sizeof line, ev, self, peer, actor, msg));
}

void ipc_log_goodbye(const char *label, const char *side)
{
    if (!ipc_log_any())
        return;
    char line[256];
    snprintf(line, sizeof line, "[%s %d] NOTE: %s actor received `Goodbye' message.  Closing channel.",
             label ? label : "default", (int)getpid(), side ? side : "parent");
    emit(line);
}

void ipc_log_lost(const char *side, const char *where, const ipc_msg *msg)
{
    char name[IPC_MSG_NAME_MAX];
    char line[512];
    ipc_msg_type_name(ipc_msg_type(msg), ipc_msg_flags(msg), name, sizeof name);
    snprintf(line, sizeof line,
             "###!!! [%s][%s] Error: (msgtype=0x%x,name=%s) Channel closing: too late to "
             "send/recv, messages will be lost",
             side, where, (unsigned)ipc_msg_type(msg), name);
    pthread_once(&log_once, init_from_env);
    emit(line);
}

void ipc_log_warning(const char *side, const char *fmt, ...)
{
    char text[LINE_MAX_LEN / 2];
    char line[LINE_MAX_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    snprintf(line, sizeof line, "[%s %d, Main Thread] WARNING: %s", side, (int)getpid(), text);
    pthread_once(&log_once, init_from_env);
    emit(line);
}
