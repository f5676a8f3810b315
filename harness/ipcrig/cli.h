/* The ipcrig command line: the subcommand table and helpers shared by the
 * subcommands. One file per subcommand (cmd_<name>.c); to add one, declare its
 * entry function here and add a row to the table in main.c. */
#ifndef RIG_CLI_H
#define RIG_CLI_H

#include "ipc/protocol.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Exit codes every subcommand uses. */
enum { RIG_EXIT_OK = 0, RIG_EXIT_FAIL = 1, RIG_EXIT_USAGE = 2 };

typedef struct rig_cmd {
    const char *name;
    const char *summary; /* one line for `ipcrig --help` */
    const char *usage;   /* full help for `ipcrig NAME --help` */
    /* argv[0] is the subcommand's name. Returns an exit code. */
    int (*run)(int argc, char **argv);
} rig_cmd;

int rig_cmd_msgname(int argc, char **argv);
int rig_cmd_protocols(int argc, char **argv);
int rig_cmd_decode(int argc, char **argv);

extern const char rig_usage_msgname[];
extern const char rig_usage_protocols[];
extern const char rig_usage_decode[];

/* Prints "ipcrig CMD: message" to stderr. Returns RIG_EXIT_USAGE. */
int rig_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints "ipcrig CMD: message" to stderr. Returns RIG_EXIT_FAIL. */
int rig_fail(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* True when argv has -h or --help. */
bool rig_wants_help(int argc, char **argv);

/* Parses "0x410001" (hex) or "4259841" (decimal) as a 32-bit value. */
int rig_parse_u32(const char *s, uint32_t *out);

const char *rig_kind_name(ipc_param_kind k);
const char *rig_route_name(ipc_route_kind r);
const char *rig_sync_name(ipc_sync_kind s);
const char *rig_dir_name(ipc_direction d);
/* "pid: int32, info: ipcrig.CrashReporterInit", or "" without params. */
void rig_params_signature(const ipc_msg_desc *d, bool reply, char *buf, size_t len);

#endif
