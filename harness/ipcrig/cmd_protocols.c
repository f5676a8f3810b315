/* `ipcrig protocols`: lists every declared protocol and message from the
 * registry, with type, route, direction, sync kind and params. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

const char rig_usage_protocols[] =
    "usage: ipcrig protocols [PROTOCOL...]\n"
    "\n"
    "Lists every protocol libipc declares (or only those named) and each message:\n"
    "its type number, name, route (control/routed), direction, sync kind\n"
    "(async, sync, async-returns), params and reply values.\n"
    "\n"
    "exit status: 0 success, 1 a named protocol does not exist, 2 usage error\n";

static void print_protocol(const ipc_protocol_desc *p)
{
    char sig[512], rsig[512];
    printf("%s (class 0x%x, %zu messages)\n", p->name, (unsigned)p->cls, p->nmsgs);
    for (size_t i = 0; i < p->nmsgs; i++) {
        const ipc_msg_desc *d = p->msgs[i];
        rig_params_signature(d, false, sig, sizeof sig);
        printf("  0x%08x  %-26s %-7s %-13s %-13s (%s)", (unsigned)d->type, d->name,
               rig_route_name(d->route), rig_dir_name(d->dir), rig_sync_name(d->sync), sig);
        if (d->sync != IPC_ASYNC) {
            rig_params_signature(d, true, rsig, sizeof rsig);
            printf(" -> (%s)", rsig);
        }
        putchar('\n');
    }
}

int rig_cmd_protocols(int argc, char **argv)
{
    int status = RIG_EXIT_OK;
    for (int i = 1; i < argc; i++)
        if (argv[i][0] == '-')
            return rig_usage_error("protocols", "unknown option '%s'", argv[i]);
    if (argc < 2) {
        for (const ipc_protocol_desc *const *p = ipc_protocols(); *p; p++)
            print_protocol(*p);
        return status;
    }
    for (int i = 1; i < argc; i++) {
        const ipc_protocol_desc *p = ipc_protocol_find(argv[i]);
        if (p)
            print_protocol(p);
        else
            status = rig_fail("protocols", "no protocol named '%s'", argv[i]);
    }
    return status;
}
