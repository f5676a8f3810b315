/* PBrowser (class 0x44): a managed protocol under PContent; its messages are
 * routed by the actor's routing id (Chromium's routed View messages). */
#ifndef IPC_PROTOCOLS_PBROWSER_H
#define IPC_PROTOCOLS_PBROWSER_H

#include "ipc/protocols/decl.h"

#define IPC_PROTOCOL_PBrowser(MSG)                                                                 \
    MSG(PBrowser, LoadURL, 1, ROUTED, ASYNC, PARENT_TO_CHILD)                                      \
    MSG(PBrowser, TitleChanged, 2, ROUTED, ASYNC, CHILD_TO_PARENT)

#define IPC_PARAMS_PBrowser_LoadURL(X, T)      X(T, STRING, url, 0)
#define IPC_PARAMS_PBrowser_TitleChanged(X, T) X(T, STRING, title, 0)

IPC_DECLARE_PROTOCOL(PBrowser, 0x44)

#endif
