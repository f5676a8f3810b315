/* Helpers shared by ipcrig's subcommands: error messages, number parsing and
 * the names of descriptor fields. */
#include "cli.h"

#include <errno.h>
#include <protobuf-c/protobuf-c.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void vreport(const char *cmd, const char *fmt, va_list ap)
{
    fprintf(stderr, "ipcrig %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

int rig_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(cmd, fmt, ap);
    va_end(ap);
    fprintf(stderr, "(try 'ipcrig %s --help')\n", cmd);
    return RIG_EXIT_USAGE;
}

int rig_fail(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(cmd, fmt, ap);
    va_end(ap);
    return RIG_EXIT_FAIL;
}

bool rig_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            return false;
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            return true;
    }
    return false;
}

int rig_parse_u32(const char *s, uint32_t *out)
{
    int base = 10;
    const char *digits = s;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        digits = s + 2;
    }
    /* strtoul would accept signs and spaces; a type number has neither. */
    if (!*digits ||
        strspn(digits, base == 16 ? "0123456789abcdefABCDEF" : "0123456789") != strlen(digits))
        return -EINVAL;
    errno = 0;
    unsigned long long v = strtoull(digits, NULL, base);
    if (errno || v > UINT32_MAX)
        return -ERANGE;
    *out = (uint32_t)v;
    return 0;
}

const char *rig_kind_name(ipc_param_kind k)
{
    static const char *const names[] = {"bool",   "int32",  "uint32", "int64", "uint64",
                                        "double", "string", "bytes",  "fd",    "proto"};
    return (size_t)k < sizeof names / sizeof names[0] ? names[k] : "?";
}

const char *rig_route_name(ipc_route_kind r)
{
    return r == IPC_ROUTE_ROUTED ? "routed" : "control";
}

const char *rig_sync_name(ipc_sync_kind s)
{
    switch (s) {
    case IPC_SYNC:
        return "sync";
    case IPC_ASYNC_RETURNS:
        return "async-returns";
    default:
        return "async";
    }
}

const char *rig_dir_name(ipc_direction d)
{
    switch (d) {
    case IPC_DIR_PARENT_TO_CHILD:
        return "parent->child";
    case IPC_DIR_CHILD_TO_PARENT:
        return "child->parent";
    default:
        return "both";
    }
}

void rig_params_signature(const ipc_msg_desc *d, bool reply, char *buf, size_t len)
{
    size_t n = reply ? d->nreplies : d->nparams, used = 0;
    const ipc_param_desc *ps = reply ? d->replies : d->params;
    buf[0] = '\0';
    for (size_t i = 0; i < n && used < len; i++) {
        const char *type =
            ps[i].kind == IPC_PK_PROTO ? ps[i].proto->name : rig_kind_name(ps[i].kind);
        int k = snprintf(buf + used, len - used, "%s%s: %s", i ? ", " : "", ps[i].name, type);
        if (k < 0)
            break;
        used += (size_t)k;
    }
}
