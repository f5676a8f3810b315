/* ipcrig: the command line of the IPC test harness. Dispatches to one
 * subcommand per file through the table below. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

static const rig_cmd commands[] = {
    {"msgname", "name a message type number (0x410001 -> PDemo::Msg_InitCrashReporter)",
     rig_usage_msgname, rig_cmd_msgname},
    {"protocols", "list every protocol and message with type, direction, sync kind, params",
     rig_usage_protocols, rig_cmd_protocols},
    {"decode", "decode a byte stream of frames and print each message", rig_usage_decode,
     rig_cmd_decode},
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *f)
{
    fprintf(f, "usage: ipcrig COMMAND [ARGS...]\n"
               "       ipcrig COMMAND --help\n\n"
               "commands:\n");
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\nexit status: 0 success, 1 failure or malformed input, 2 usage error\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return RIG_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return RIG_EXIT_OK;
    }
    for (size_t i = 0; i < NCOMMANDS; i++) {
        if (strcmp(argv[1], commands[i].name) != 0)
            continue;
        if (rig_wants_help(argc - 1, argv + 1)) {
            fputs(commands[i].usage, stdout);
            return RIG_EXIT_OK;
        }
        return commands[i].run(argc - 1, argv + 1);
    }
    fprintf(stderr, "ipcrig: unknown command '%s' (try 'ipcrig --help')\n", argv[1]);
    return RIG_EXIT_USAGE;
}
