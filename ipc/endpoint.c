/* Endpoints and bridges (endpoint.h), and the process role that limits who
 * may create them. */
#include "ipc/endpoint.h"

#include "actor_internal.h"
#include "ipc/chan.h"
#include "ipc/errors.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static atomic_int process_role = IPC_ROLE_MAIN;

void ipc_process_set_role(ipc_process_role role)
{
    atomic_store(&process_role, (int)role);
}

ipc_process_role ipc_process_role_get(void)
{
    return (ipc_process_role)atomic_load(&process_role);
}

static const ipc_protocol_desc *protocol_by_class(uint32_t cls)
{
    for (const ipc_protocol_desc *const *p = ipc_protocols(); *p; p++)
        if ((*p)->cls == cls)
            return *p;
    return NULL;
}

int ipc_endpoint_create_pair(const ipc_protocol_desc *proto, pid_t parent_pid, pid_t child_pid,
                             ipc_endpoint *parent, ipc_endpoint *child)
{
    parent->fd = child->fd = -1;
    if (ipc_process_role_get() != IPC_ROLE_MAIN)
        return IPC_E_NOT_MAIN_PROCESS;
    if (!proto || parent_pid <= 0 || child_pid <= 0)
        return -EINVAL;
    int fds[2];
    int rc = ipc_socketpair(proto->name, fds);
    if (rc != 0)
        return rc;
    *parent = (ipc_endpoint){.fd = fds[0],
                             .protocol_class = proto->cls,
                             .my_pid = parent_pid,
                             .other_pid = child_pid,
                             .side = IPC_SIDE_PARENT};
    *child = (ipc_endpoint){.fd = fds[1],
                            .protocol_class = proto->cls,
                            .my_pid = child_pid,
                            .other_pid = parent_pid,
                            .side = IPC_SIDE_CHILD};
    return 0;
}

void ipc_endpoint_dispose(ipc_endpoint *ep)
{
    if (ep->fd >= 0)
        close(ep->fd);
    ep->fd = -1;
}

int ipc_endpoint_to_params(const ipc_endpoint *ep, int *fd, IPC_STRUCT_EndpointInfo_T **info)
{
    *info = NULL;
    if (ep->fd < 0)
        return IPC_E_STATE;
    IPC_STRUCT_EndpointInfo_T *i = malloc(sizeof *i);
    if (!i)
        return -ENOMEM;
    ipcrig__endpoint_info__init(i);
    i->protocol_class = ep->protocol_class;
    i->my_pid = ep->my_pid;
    i->other_pid = ep->other_pid;
    i->parent_side = ep->side == IPC_SIDE_PARENT;
    *fd = ep->fd;
    *info = i;
    return 0;
}

void ipc_endpoint_info_free(IPC_STRUCT_EndpointInfo_T *info)
{
    free(info); /* built field by field above: no owned members */
}

int ipc_endpoint_from_params(int *fd, const IPC_STRUCT_EndpointInfo_T *info, ipc_endpoint *out)
{
    out->fd = *fd;
    *fd = -1;
    int rc = IPC_E_PARAM;
    if (out->fd < 0 || !info)
        goto fail;
    if (info->protocol_class > 0xffff || !protocol_by_class(info->protocol_class))
        goto fail;
    if (info->my_pid != (int32_t)getpid()) {
        rc = IPC_E_WRONG_PROCESS;
        goto fail;
    }
    if (info->other_pid <= 0)
        goto fail;
    out->protocol_class = (uint16_t)info->protocol_class;
    out->my_pid = info->my_pid;
    out->other_pid = info->other_pid;
    out->side = info->parent_side ? IPC_SIDE_PARENT : IPC_SIDE_CHILD;
    return 0;
fail:
    ipc_endpoint_dispose(out);
    return rc;
}

int ipc_endpoint_bind(ipc_endpoint *ep, ipc_loop *loop, ipc_actor *actor, const char *label,
                      ipc_conn **out)
{
    *out = NULL;
    int fd = ep->fd;
    ep->fd = -1;
    if (fd < 0)
        return IPC_E_STATE;
    if (ipc_actor_protocol(actor)->cls != ep->protocol_class || ipc_actor_side(actor) != ep->side) {
        close(fd);
        return -EINVAL; /* Endpoint<PFooParent> binds a PFooParent only */
    }
    ipc_conn_opts co = {.proxy = {.mode = IPC_CHAN_CLIENT,
                                  .fd = fd,
                                  .side = ep->side,
                                  .listener_loop = loop,
                                  .peer_pid = ep->other_pid},
                        .label = label};
    ipc_conn *c;
    int rc = ipc_conn_new(&c, &co); /* takes fd */
    if (rc != 0)
        return rc;
    ipc__conn_set_peer_pid(c, ep->other_pid);
    rc = ipc_conn_bind(c, actor);
    if (rc != 0) {
        ipc_conn_free(c);
        return rc;
    }
    *out = c;
    return 0;
}
