/* One table turning libipc's error codes (and -errno) into names and sentences. */
#include "ipc/errors.h"

#include <errno.h>
#include <string.h>

struct err_entry {
    int code;
    const char *name;
    const char *msg;
};

static const struct err_entry ipc_errors[] = {
#define IPC__ERR_ROW(name, value, msg) {value, #name, msg},
    IPC_ERROR_TABLE(IPC__ERR_ROW)
#undef IPC__ERR_ROW
};

static const struct err_entry *find(int err)
{
    for (size_t i = 0; i < sizeof ipc_errors / sizeof ipc_errors[0]; i++)
        if (ipc_errors[i].code == err)
            return &ipc_errors[i];
    return NULL;
}

const char *ipc_strerror(int err)
{
    if (err == 0)
        return "success";
    const struct err_entry *e = find(err);
    if (e)
        return e->msg;
    if (err < 0 && err > IPC_E_BASE) {
        /* Not strerror(): for an unknown errno glibc formats into a per-thread
         * buffer that the next call frees, so an earlier result would dangle. */
        const char *d = strerrordesc_np(-err);
        if (d)
            return d;
    }
    return "unknown error";
}

const char *ipc_errname(int err)
{
    if (err == 0)
        return "OK";
    const struct err_entry *e = find(err);
    if (e)
        return e->name;
    if (err < 0 && err > IPC_E_BASE) {
        const char *n = strerrorname_np(-err);
        if (n)
            return n;
    }
    return "UNKNOWN";
}
