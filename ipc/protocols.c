/* Defines the descriptor of every declared message and protocol, generated
 * from the X-macro tables in ipc/include/ipc/protocols/. */
#include "ipc/protocols/all.h"

#define IPC__DEFINE_ONE(P) IPC_DEFINE_PROTOCOL(P)
IPC_ALL_PROTOCOLS(IPC__DEFINE_ONE)
