/* Every protocol libipc declares, and IPC_ALL_PROTOCOLS(X) to iterate them. */
#ifndef IPC_PROTOCOLS_ALL_H
#define IPC_PROTOCOLS_ALL_H

#include "ipc/protocols/IPC.h"
#include "ipc/protocols/PBrowser.h"
#include "ipc/protocols/PContent.h"
#include "ipc/protocols/PDemo.h"
#include "ipc/protocols/PDemoHelpline.h"
#include "ipc/protocols/PTest.h"

/* In class order: the registry relies on it for its binary search. */
#define IPC_ALL_PROTOCOLS(X) X(PDemo) X(PDemoHelpline) X(PContent) X(PBrowser) X(PTest) X(IPC)

#endif
