/* Helpers for the process-layer tests (test_proc, test_sandbox, test_crash):
 * launching this test binary as a libipc child helper, reading with a
 * deadline, environments and temporary crash directories. */
#ifndef RIG_PROCTEST_H
#define RIG_PROCTEST_H

#include "ipc/proc.h"

#include <stddef.h>
#include <sys/types.h>

/* Options that run `self --helper NAME [arg]` as a child of `type`, with the
 * channel client end `chan` (taken by the launch). The strings must outlive
 * the launch. */
typedef struct rig_proc_launch {
    ipc_proc_opts opts;
    const char *argv[6];
} rig_proc_launch;
void rig_proc_prepare(rig_proc_launch *l, const char *helper, const char *arg, const char *type,
                      int chan);

/* In a helper: ipc_child_init or _exit with its exit code. */
void rig_proc_child_init(int argc, char **argv, ipc_child_info *info);

/* Reads until `len` bytes, EOF or the deadline. Returns the bytes read
 * (>= 0) or -1 on error. */
ssize_t rig_read_for(int fd, void *buf, size_t len, int timeout_ms);
/* Reads until a byte `stop` has been read (included), EOF or deadline. */
ssize_t rig_read_until(int fd, char *buf, size_t len, char stop, int timeout_ms);
/* Writes all of buf or returns -1. */
int rig_write_all(int fd, const void *buf, size_t len);

/* A copy of environ plus `extra` ("K=V" strings, replacing same-name
 * entries), NULL-terminated; free with rig_env_free. */
char **rig_env_with(const char *const *extra);
void rig_env_free(char **env);
/* The environment that makes a child die of the signal itself instead of a
 * sanitizer report (handle_segv=0 in ASAN_OPTIONS / TSAN_OPTIONS). */
char **rig_env_raw_signals(void);

/* mkdtemp under $TMPDIR; rig_rmdir_all removes its files and itself. */
char *rig_tempdir(void);
void rig_rmdir_all(char *dir);
/* Reads a whole small file into a malloc'd NUL-terminated buffer. */
char *rig_slurp(const char *path, size_t *len);

#endif
