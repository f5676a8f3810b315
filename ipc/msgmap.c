/* Message maps: find the handler for a message's type, decode its params
 * through the descriptor, call the typed handler through its trampoline and
 * build the reply of SYNC and ASYNC_RETURNS messages. */
#include "ipc/msgmap.h"

#include "ipc/errors.h"

#include <errno.h>
#include <stdlib.h>

const ipc_msgmap_entry *ipc_msgmap_find(const ipc_msgmap_entry *map, size_t n, uint32_t type)
{
    for (size_t i = 0; i < n; i++)
        if (map[i].desc->type == type)
            return &map[i];
    return NULL;
}

static bool wants_reply(const ipc_msg_desc *d)
{
    return d->sync != IPC_ASYNC;
}

/* A message's flags must match its declaration, or a peer could make an
 * async handler answer, or leave a sync caller blocked forever. */
static int check_flags(const ipc_msg_desc *d, const ipc_msg *msg)
{
    bool sync = ipc_msg_is_sync(msg) != 0, wants = ipc_msg_wants_reply(msg) != 0;
    if (sync != (d->sync == IPC_SYNC) || wants != (d->sync == IPC_ASYNC_RETURNS))
        return IPC_E_BAD_FLAGS;
    return 0;
}

static ipc_msg *error_reply(const ipc_msg *msg)
{
    ipc_msg *r = ipc_msg_new_reply(msg);
    if (r)
        ipc_msg_set_flags(r, ipc_msg_flags(r) | IPC_MSG_REPLY_ERROR);
    return r;
}

/* Builds the reply: the values when the handler succeeded and they encode,
 * an error reply otherwise. NULL only when out of memory. */
static ipc_msg *make_reply(const ipc_msg_desc *d, const ipc_msg *msg, int hrc, const void *out)
{
    ipc_msg *r = NULL;
    if (hrc >= 0 && ipc_msg_build_reply(&r, d, msg, out) == 0)
        return r;
    return error_reply(msg);
}

int ipc_msgmap_dispatch_ex(const ipc_msgmap_entry *map, size_t n, void *ctx, ipc_msg *msg,
                           ipc_msg **reply_out, int *cause, size_t *param)
{
    void *in = NULL, *out = NULL;
    int rc;
    if (reply_out)
        *reply_out = NULL;
    const ipc_msgmap_entry *e =
        ipc_msg_is_reply(msg) ? NULL : ipc_msgmap_find(map, n, ipc_msg_type(msg));
    if (!e)
        return IPC_E_UNHANDLED;
    const ipc_msg_desc *d = e->desc;
    if (wants_reply(d) && !reply_out)
        return -EINVAL;
    rc = check_flags(d, msg);
    if (rc)
        return rc;
    /* calloc: the generated structs are never empty (a hidden member). */
    in = calloc(1, d->params_size);
    out = calloc(1, d->replies_size);
    if (!in || !out) {
        rc = -ENOMEM;
        goto fail;
    }
    int perr = ipc_params_read_at(d, false, msg, in, param);
    if (perr) {
        if (cause)
            *cause = perr;
        rc = perr == -ENOMEM ? -ENOMEM : IPC_E_PARAM;
        goto fail;
    }
    /* The reply struct is cleared (FD members -1) before the handler fills it. */
    ipc_params_free(d, true, out);
    rc = e->call(e->fn, ctx, msg, in, out);
    if (wants_reply(d)) {
        *reply_out = make_reply(d, msg, rc, out);
        if (!*reply_out && rc >= 0)
            rc = -ENOMEM;
    }
    ipc_params_free(d, false, in);
    ipc_params_free(d, true, out);
fail:
    free(in);
    free(out);
    return rc;
}

int ipc_msgmap_dispatch(const ipc_msgmap_entry *map, size_t n, void *ctx, ipc_msg *msg,
                        ipc_msg **reply_out)
{
    return ipc_msgmap_dispatch_ex(map, n, ctx, msg, reply_out, NULL, NULL);
}
