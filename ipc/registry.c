/* The registry of every declared protocol: lookups by type and by name, and
 * the names of message types for logs, crash reports and the msgname tool. */
#include "ipc/protocol.h"
#include "ipc/protocols/all.h"

#include <stdio.h>
#include <string.h>

#define IPC__PROTO_PTR(P) &ipc_##P##_protocol,
static const ipc_protocol_desc *const protocols[] = {IPC_ALL_PROTOCOLS(IPC__PROTO_PTR) NULL};
#define NPROTOCOLS (sizeof protocols / sizeof protocols[0] - 1)

const ipc_protocol_desc *const *ipc_protocols(void)
{
    return protocols;
}

const ipc_protocol_desc *ipc_protocol_find(const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < NPROTOCOLS; i++)
        if (strcmp(protocols[i]->name, name) == 0)
            return protocols[i];
    return NULL;
}

/* Binary search by class: IPC_ALL_PROTOCOLS lists them in class order (a unit
 * test checks it), and the frame decoder asks once per frame. */
static const ipc_protocol_desc *protocol_by_class(uint16_t cls)
{
    size_t lo = 0, hi = NPROTOCOLS;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (protocols[mid]->cls == cls)
            return protocols[mid];
        if (protocols[mid]->cls < cls)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const ipc_msg_desc *ipc_protocol_msg(const ipc_protocol_desc *proto, uint16_t id)
{
    if (!proto)
        return NULL;
    /* Ids are usually 1..n in order: try the direct slot before scanning. */
    if (id >= 1 && id <= proto->nmsgs && proto->msgs[id - 1]->id == id)
        return proto->msgs[id - 1];
    for (size_t i = 0; i < proto->nmsgs; i++)
        if (proto->msgs[i]->id == id)
            return proto->msgs[i];
    return NULL;
}

const ipc_msg_desc *ipc_msgdesc_lookup(uint32_t type)
{
    return ipc_protocol_msg(protocol_by_class(IPC_MSG_CLASS(type)), IPC_MSG_ID(type));
}

int ipc_msg_type_known(uint32_t type, void *ctx)
{
    (void)ctx;
    return ipc_msgdesc_lookup(type) != NULL;
}

static const ipc_msg_desc *find_in(const ipc_protocol_desc *p, const char *name, size_t len)
{
    for (size_t i = 0; i < p->nmsgs; i++)
        if (strlen(p->msgs[i]->name) == len && memcmp(p->msgs[i]->name, name, len) == 0)
            return p->msgs[i];
    return NULL;
}

const ipc_msg_desc *ipc_msgdesc_find(const char *name)
{
    if (!name)
        return NULL;
    const char *sep = strstr(name, "::");
    if (sep) {
        const ipc_protocol_desc *p = NULL;
        for (size_t i = 0; i < NPROTOCOLS && !p; i++)
            if (strlen(protocols[i]->name) == (size_t)(sep - name) &&
                memcmp(protocols[i]->name, name, (size_t)(sep - name)) == 0)
                p = protocols[i];
        if (!p)
            return NULL;
        const char *m = sep + 2;
        if (strncmp(m, "Msg_", 4) == 0)
            m += 4;
        return find_in(p, m, strlen(m));
    }
    /* A bare name must be unambiguous across protocols. */
    const ipc_msg_desc *found = NULL;
    for (size_t i = 0; i < NPROTOCOLS; i++) {
        const ipc_msg_desc *d = find_in(protocols[i], name, strlen(name));
        if (d && found)
            return NULL;
        if (d)
            found = d;
    }
    return found;
}

const char *ipc_msg_type_name(uint32_t type, uint32_t flags, char *buf, size_t len)
{
    if (!buf || len == 0)
        return buf;
    const ipc_msg_desc *d = ipc_msgdesc_lookup(type);
    if (d) {
        snprintf(buf, len, "%s::%s_%s", d->protocol, (flags & IPC_MSG_REPLY) ? "Reply" : "Msg",
                 d->name);
        return buf;
    }
    uint16_t cls = IPC_MSG_CLASS(type), id = IPC_MSG_ID(type);
    const ipc_protocol_desc *p = protocol_by_class(cls);
    const char *kind = (flags & IPC_MSG_REPLY) ? " reply" : "";
    if (p)
        snprintf(buf, len, "0x%08x (class 0x%x %s, id 0x%x: unknown%s)", (unsigned)type,
                 (unsigned)cls, p->name, (unsigned)id, kind);
    else
        snprintf(buf, len, "0x%08x (class 0x%x unknown, id 0x%x%s)", (unsigned)type, (unsigned)cls,
                 (unsigned)id, kind);
    return buf;
}
