/* The IPC message log: IPC_LOG=PDemo,PDemoHelpline (or `all`) writes one line
 * per send, receive, reply and Goodbye, in the style of Gecko's
 * MOZ_IPC_MESSAGE_LOG, with the params decoded through the descriptors:
 *   [time: 1627075553937959][63096->63085] [PDemoChild] Sending  PDemo::Msg_X(a=1)
 * Lines go to stderr, or to the file named by IPC_LOG_FILE (appended).
 * Errors such as lost messages are written whether or not logging is on.
 * Every function is thread-safe. */
#ifndef IPC_LOG_H
#define IPC_LOG_H

#include "ipc/msg.h"

#include <stddef.h>
#include <sys/types.h>

typedef enum ipc_log_event {
    IPC_LOG_SEND,       /* "Sending " */
    IPC_LOG_RECV,       /* "Received " */
    IPC_LOG_SEND_REPLY, /* "Sending reply " */
    IPC_LOG_RECV_REPLY, /* "Received " (as Gecko: the name says Reply_) */
} ipc_log_event;

/* Replaces the IPC_LOG / IPC_LOG_FILE settings (NULL spec: logging off; NULL
 * path: stderr). For tests and the harness. 0 or -errno opening the file. */
int ipc_log_configure(const char *spec, const char *path);
/* Non-zero when messages of `protocol` ("PDemo") are logged. */
int ipc_log_enabled(const char *protocol);
/* Non-zero when any protocol is logged. */
int ipc_log_any(void);

/* Formats one message line (no newline) into buf; returns buf. `self` is this
 * process, `peer` the other end; `actor` like "PDemoChild" (may be NULL). */
const char *ipc_log_format(char *buf, size_t len, ipc_log_event ev, pid_t self, pid_t peer,
                           const char *actor, const ipc_msg *msg);
/* Writes that line if the message's protocol is logged. */
void ipc_log_message(ipc_log_event ev, pid_t self, pid_t peer, const char *actor,
                     const ipc_msg *msg);
/* "[tab 63092] NOTE: parent actor received `Goodbye' message.  Closing channel." */
void ipc_log_goodbye(const char *label, const char *side);
/* Always written: "###!!! [Parent][RunMessage] Error: (msgtype=0x410001,
 * name=PDemo::Msg_InitCrashReporter) Channel closing: too late to send/recv,
 * messages will be lost". `where` is "RunMessage" or "Send". */
void ipc_log_lost(const char *side, const char *where, const ipc_msg *msg);
/* Always written: "[Parent 123, Main Thread] WARNING: <text>". */
void ipc_log_warning(const char *side, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
