/* PDemoHelpline (class 0x42): a protocol between two non-main processes whose
 * endpoints the main process created (the seed's Endpoint example). */
#ifndef IPC_PROTOCOLS_PDEMOHELPLINE_H
#define IPC_PROTOCOLS_PDEMOHELPLINE_H

#include "ipc/protocols/decl.h"

#define IPC_PROTOCOL_PDemoHelpline(MSG)                                                            \
    MSG(PDemoHelpline, RequestAssistance, 1, CONTROL, ASYNC, PARENT_TO_CHILD)                      \
    MSG(PDemoHelpline, GiveAssistance, 2, CONTROL, ASYNC_RETURNS, CHILD_TO_PARENT)

#define IPC_PARAMS_PDemoHelpline_RequestAssistance(X, T)
#define IPC_PARAMS_PDemoHelpline_GiveAssistance(X, T) X(T, STRING, message, 0)
#define IPC_REPLY_PDemoHelpline_GiveAssistance(X, T)  X(T, BOOL, ok, 0)

IPC_DECLARE_PROTOCOL(PDemoHelpline, 0x42)

#endif
