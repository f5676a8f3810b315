/* `ipcrig msgname`: turns message type numbers into names (and names back into
 * numbers), as the Chromium seed does by hand for crash reports. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

const char rig_usage_msgname[] =
    "usage: ipcrig msgname [--verbose] [--reply] TYPE|NAME...\n"
    "\n"
    "Prints the name of each message type: `ipcrig msgname 0x410001` prints\n"
    "PDemo::Msg_InitCrashReporter. TYPE is hex (0x...) or decimal; its high 16 bits\n"
    "are the protocol class, the low 16 bits the message id. A NAME such as\n"
    "PDemo::InitCrashReporter prints its type number instead.\n"
    "\n"
    "  -v, --verbose  also print class, id, route, direction, sync kind and params\n"
    "  -r, --reply    name the reply (PDemoHelpline::Reply_GiveAssistance)\n"
    "\n"
    "exit status: 0 all known, 1 some type or name is not declared, 2 usage error\n";

static void print_verbose(const ipc_msg_desc *d)
{
    char sig[512];
    printf("  type       0x%08x (class 0x%x %s, id %u)\n", (unsigned)d->type, (unsigned)d->cls,
           d->protocol, (unsigned)d->id);
    printf("  route      %s\n", rig_route_name(d->route));
    printf("  direction  %s\n", rig_dir_name(d->dir));
    printf("  sync       %s\n", rig_sync_name(d->sync));
    rig_params_signature(d, false, sig, sizeof sig);
    printf("  params     (%s)\n", sig);
    if (d->sync != IPC_ASYNC) {
        rig_params_signature(d, true, sig, sizeof sig);
        printf("  reply      (%s)\n", sig);
    }
}

/* One argument; returns 0 when it names a declared message. */
static int one(const char *arg, bool verbose, bool reply)
{
    char name[IPC_MSG_NAME_MAX];
    uint32_t type;
    const ipc_msg_desc *d;
    if (rig_parse_u32(arg, &type) == 0) {
        d = ipc_msgdesc_lookup(type);
        printf("%s\n", ipc_msg_type_name(type, reply ? IPC_MSG_REPLY : 0, name, sizeof name));
    } else {
        d = ipc_msgdesc_find(arg);
        if (!d) {
            rig_fail("msgname",
                     "'%s' is neither a type number (0x410001, 4259841) nor a "
                     "declared message name",
                     arg);
            return -1;
        }
        printf("0x%08x\n", (unsigned)d->type);
    }
    if (d && verbose)
        print_verbose(d);
    return d ? 0 : -1;
}

int rig_cmd_msgname(int argc, char **argv)
{
    bool verbose = false, reply = false;
    int first = 1, status = RIG_EXIT_OK;
    for (; first < argc && argv[first][0] == '-' && argv[first][1] != '\0'; first++) {
        const char *a = argv[first];
        if (strcmp(a, "--") == 0) {
            first++;
            break;
        } else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
            verbose = true;
        } else if (strcmp(a, "-r") == 0 || strcmp(a, "--reply") == 0) {
            reply = true;
        } else {
            return rig_usage_error("msgname", "unknown option '%s'", a);
        }
    }
    if (first >= argc)
        return rig_usage_error("msgname", "no message type given");
    for (int i = first; i < argc; i++)
        if (one(argv[i], verbose, reply) != 0)
            status = RIG_EXIT_FAIL;
    return status;
}
