/* Start-up preferences for a child process (Gecko passes its prefs in shared
 * memory on the command line): a set of key/value strings that the parent
 * encodes into a sealed, read-only memfd and the child maps and decodes with
 * every length and count checked. Encoding: docs/process-model.md ("Prefs"). */
#ifndef IPC_PREFS_H
#define IPC_PREFS_H

#include <stddef.h>
#include <stdint.h>

/* Limits the decoder enforces before it allocates anything. */
#define IPC_PREFS_MAX_COUNT 4096u
#define IPC_PREFS_MAX_KEY   256u          /* bytes, excluding the NUL */
#define IPC_PREFS_MAX_VALUE (64u * 1024u) /* bytes, excluding the NUL */
#define IPC_PREFS_MAX_BLOB  (1024u * 1024u)
/* First two fields of an encoded blob. */
#define IPC_PREFS_MAGIC   0x50435049u /* "IPCP" read as a little-endian u32 */
#define IPC_PREFS_VERSION 1u

/* A set of prefs. Keys are unique, 1..IPC_PREFS_MAX_KEY bytes of printable
 * ASCII other than space and '='; values are any bytes but NUL, up to
 * IPC_PREFS_MAX_VALUE. Not thread-safe: one thread at a time. */
typedef struct ipc_prefs ipc_prefs;

/* Creates an empty set. 0 or -ENOMEM. */
int ipc_prefs_new(ipc_prefs **out);
void ipc_prefs_free(ipc_prefs *prefs);
/* Sets `key` to `value`, replacing an earlier value. Both are copied.
 * 0, -EINVAL (key or value breaks the rules above), IPC_E_TOO_LARGE (count
 * limit) or -ENOMEM. */
int ipc_prefs_set(ipc_prefs *prefs, const char *key, const char *value);
/* The value for `key`, borrowed from the set (valid until the key is set again
 * or the set is freed), or NULL. */
const char *ipc_prefs_get(const ipc_prefs *prefs, const char *key);
size_t ipc_prefs_count(const ipc_prefs *prefs);
/* The i-th pair in key order, borrowed. 0 or -ERANGE. */
int ipc_prefs_at(const ipc_prefs *prefs, size_t i, const char **key, const char **value);

/* Encodes the set. On success the caller owns *data (free()). */
int ipc_prefs_encode(const ipc_prefs *prefs, uint8_t **data, size_t *len);
/* Decodes a blob the caller keeps owning. Hostile input is expected: 0 with a
 * new set in *out (the caller frees it), or IPC_E_TRUNCATED, IPC_E_TRAILING,
 * IPC_E_BAD_SIZE (over a limit), IPC_E_PARAM (bad magic, version, key or a
 * duplicate key), IPC_E_BAD_STRING, IPC_E_BAD_PADDING, -ENOMEM. */
int ipc_prefs_decode(ipc_prefs **out, const uint8_t *data, size_t len);

/* Writes the encoded set into a new memfd (MFD_CLOEXEC) sealed against
 * writing, growing, shrinking and further sealing. On success the caller owns
 * *fd and *len is the blob's size. 0 or -errno. Any thread. */
int ipc_prefs_to_memfd(const ipc_prefs *prefs, int *fd, size_t *len);
/* Maps `fd` read-only and decodes it. Refuses an fd that is not sealed
 * against writing and resizing (-EPERM) or whose size is not `len`
 * (IPC_E_BAD_SIZE). The fd stays the caller's. Otherwise as ipc_prefs_decode. */
int ipc_prefs_from_fd(ipc_prefs **out, int fd, size_t len);

#endif
