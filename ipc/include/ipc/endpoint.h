/* Endpoints and bridges (Gecko's Endpoint<PFooParent/Child>): the main
 * process, and only it, makes a channel pair for two other processes, sends
 * each its end in a message (an FD param plus an EndpointInfo struct param),
 * and each binds its end to a top-level actor; the two then talk directly.
 * Also the process's role, which decides who may create endpoints. */
#ifndef IPC_ENDPOINT_H
#define IPC_ENDPOINT_H

#include "ipc/actor.h"
#include "ipc/protocols/structs.h"

#include <stdint.h>
#include <sys/types.h>

typedef enum ipc_process_role { IPC_ROLE_MAIN, IPC_ROLE_CHILD } ipc_process_role;

/* A process is the main process until ipc_child_init() (or this) says it is a
 * child. Any thread; set it before threads start. */
void ipc_process_set_role(ipc_process_role role);
ipc_process_role ipc_process_role_get(void);

typedef struct ipc_endpoint {
    int fd; /* owned; -1 once taken */
    uint16_t protocol_class;
    pid_t my_pid;    /* the process meant to bind this end */
    pid_t other_pid; /* the process at the other end */
    ipc_side side;   /* which side of the protocol this end plays */
} ipc_endpoint;

/* Creates both ends of a new channel for `proto`, through ipc_socketpair()
 * (so the switchboard sees bridges too). Main process only:
 * IPC_E_NOT_MAIN_PROCESS elsewhere. On success both ends are the caller's. */
int ipc_endpoint_create_pair(const ipc_protocol_desc *proto, pid_t parent_pid, pid_t child_pid,
                             ipc_endpoint *parent, ipc_endpoint *child);
/* Closes the fd if still owned. */
void ipc_endpoint_dispose(ipc_endpoint *ep);

/* Fills the params to send an endpoint: *fd is the endpoint's fd (borrowed:
 * the message writer dup()s it) and *info a struct the caller frees with
 * ipc_endpoint_info_free. */
int ipc_endpoint_to_params(const ipc_endpoint *ep, int *fd, IPC_STRUCT_EndpointInfo_T **info);
void ipc_endpoint_info_free(IPC_STRUCT_EndpointInfo_T *info);
/* Rebuilds an endpoint from received params; takes *fd (sets it to -1), also
 * on failure. Checks the protocol is declared and that the endpoint is meant
 * for this process (IPC_E_WRONG_PROCESS), then IPC_E_PARAM for the rest. */
int ipc_endpoint_from_params(int *fd, const IPC_STRUCT_EndpointInfo_T *info, ipc_endpoint *out);

/* Endpoint::Bind: makes a connection on `loop` over the endpoint's fd (taken,
 * also on failure) and binds `actor` (of the endpoint's protocol and side) as
 * its top-level actor. */
int ipc_endpoint_bind(ipc_endpoint *ep, ipc_loop *loop, ipc_actor *actor, const char *label,
                      ipc_conn **out);

#endif
