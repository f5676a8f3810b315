/* Start-up prefs: a sorted key/value set, its Pickle encoding, and the sealed
 * memfd that carries it to a child (see prefs.h). */
#include "ipc/prefs.h"

#include "ipc/errors.h"
#include "ipc/pickle.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct pref {
    char *key;
    char *value;
};

struct ipc_prefs {
    struct pref *v; /* sorted by key (strcmp order), keys unique */
    size_t n;
    size_t cap;
};

int ipc_prefs_new(ipc_prefs **out)
{
    *out = calloc(1, sizeof **out);
    return *out ? 0 : -ENOMEM;
}

void ipc_prefs_free(ipc_prefs *prefs)
{
    if (!prefs)
        return;
    for (size_t i = 0; i < prefs->n; i++) {
        free(prefs->v[i].key);
        free(prefs->v[i].value);
    }
    free(prefs->v);
    free(prefs);
}

static int key_ok(const char *k, size_t len)
{
    if (len == 0 || len > IPC_PREFS_MAX_KEY)
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)k[i];
        if (c <= 0x20 || c >= 0x7f || c == '=')
            return 0;
    }
    return 1;
}

/* Index of `key`, or where it would be inserted (then *found is 0). */
static size_t find(const ipc_prefs *prefs, const char *key, int *found)
{
    size_t lo = 0, hi = prefs->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(prefs->v[mid].key, key);
        if (c == 0) {
            *found = 1;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = 0;
    return lo;
}

static int grow(ipc_prefs *prefs)
{
    if (prefs->n < prefs->cap)
        return 0;
    size_t cap = prefs->cap ? prefs->cap * 2 : 16;
    struct pref *v = realloc(prefs->v, cap * sizeof *v);
    if (!v)
        return -ENOMEM;
    prefs->v = v;
    prefs->cap = cap;
    return 0;
}

/* Inserts copies of key[0..klen) and value[0..vlen); the caller has checked
 * both. */
static int insert(ipc_prefs *prefs, const char *key, size_t klen, const char *value, size_t vlen)
{
    char *k = NULL, *v = NULL;
    int rc = -ENOMEM;
    k = strndup(key, klen);
    v = strndup(value, vlen);
    if (!k || !v)
        goto fail;
    int found;
    size_t at = find(prefs, k, &found);
    if (found) {
        free(prefs->v[at].value);
        prefs->v[at].value = v;
        free(k);
        return 0;
    }
    if (prefs->n >= IPC_PREFS_MAX_COUNT) {
        rc = IPC_E_TOO_LARGE;
        goto fail;
    }
    if ((rc = grow(prefs)) < 0)
        goto fail;
    memmove(&prefs->v[at + 1], &prefs->v[at], (prefs->n - at) * sizeof prefs->v[0]);
    prefs->v[at].key = k;
    prefs->v[at].value = v;
    prefs->n++;
    return 0;
fail:
    free(k);
    free(v);
    return rc;
}

int ipc_prefs_set(ipc_prefs *prefs, const char *key, const char *value)
{
    if (!key || !value)
        return -EINVAL;
    size_t klen = strnlen(key, IPC_PREFS_MAX_KEY + 1);
    size_t vlen = strnlen(value, IPC_PREFS_MAX_VALUE + 1);
    if (!key_ok(key, klen) || vlen > IPC_PREFS_MAX_VALUE)
        return -EINVAL;
    return insert(prefs, key, klen, value, vlen);
}

const char *ipc_prefs_get(const ipc_prefs *prefs, const char *key)
{
    int found;
    size_t at = find(prefs, key, &found);
    return found ? prefs->v[at].value : NULL;
}

size_t ipc_prefs_count(const ipc_prefs *prefs)
{
    return prefs->n;
}

int ipc_prefs_at(const ipc_prefs *prefs, size_t i, const char **key, const char **value)
{
    if (i >= prefs->n)
        return -ERANGE;
    *key = prefs->v[i].key;
    *value = prefs->v[i].value;
    return 0;
}

int ipc_prefs_encode(const ipc_prefs *prefs, uint8_t **data, size_t *len)
{
    ipc_pickle w;
    ipc_pickle_init(&w);
    ipc_pickle_write_u32(&w, IPC_PREFS_MAGIC);
    ipc_pickle_write_u32(&w, IPC_PREFS_VERSION);
    ipc_pickle_write_u32(&w, (uint32_t)prefs->n);
    for (size_t i = 0; i < prefs->n; i++) {
        ipc_pickle_write_string(&w, prefs->v[i].key, strlen(prefs->v[i].key));
        ipc_pickle_write_string(&w, prefs->v[i].value, strlen(prefs->v[i].value));
    }
    int rc = ipc_pickle_error(&w);
    if (rc == 0 && ipc_pickle_size(&w) > IPC_PREFS_MAX_BLOB)
        rc = IPC_E_TOO_LARGE;
    if (rc == 0)
        rc = ipc_pickle_release(&w, data, len);
    ipc_pickle_dispose(&w);
    return rc;
}

static int decode_header(ipc_pickle_iter *it, uint32_t *count)
{
    uint32_t magic, version;
    int rc;
    if ((rc = ipc_pickle_read_u32(it, &magic)) < 0 ||
        (rc = ipc_pickle_read_u32(it, &version)) < 0 || (rc = ipc_pickle_read_u32(it, count)) < 0)
        return rc;
    if (magic != IPC_PREFS_MAGIC || version != IPC_PREFS_VERSION)
        return IPC_E_PARAM;
    if (*count > IPC_PREFS_MAX_COUNT)
        return IPC_E_BAD_SIZE;
    /* Each pair takes at least 8 bytes (two empty strings' lengths): a count
     * the remaining bytes cannot hold is a lie, caught before any work. */
    if ((size_t)*count > ipc_pickle_iter_remaining(it) / 8)
        return IPC_E_TRUNCATED;
    return 0;
}

static int decode_pair(ipc_prefs *prefs, ipc_pickle_iter *it)
{
    const char *k, *v;
    size_t klen, vlen;
    int rc;
    if ((rc = ipc_pickle_read_string(it, &k, &klen)) < 0 ||
        (rc = ipc_pickle_read_string(it, &v, &vlen)) < 0)
        return rc;
    if (klen > IPC_PREFS_MAX_KEY || vlen > IPC_PREFS_MAX_VALUE)
        return IPC_E_BAD_SIZE;
    if (!key_ok(k, klen))
        return IPC_E_PARAM;
    size_t before = prefs->n;
    if ((rc = insert(prefs, k, klen, v, vlen)) < 0)
        return rc;
    /* insert() replaced instead of adding: a duplicate key, which the encoder
     * never writes. */
    return prefs->n == before + 1 ? 0 : IPC_E_PARAM;
}

int ipc_prefs_decode(ipc_prefs **out, const uint8_t *data, size_t len)
{
    ipc_prefs *prefs = NULL;
    ipc_pickle_iter it;
    uint32_t count;
    int rc;
    *out = NULL;
    if (len > IPC_PREFS_MAX_BLOB)
        return IPC_E_BAD_SIZE;
    ipc_pickle_iter_init(&it, data, len);
    if ((rc = decode_header(&it, &count)) < 0)
        goto fail;
    if ((rc = ipc_prefs_new(&prefs)) < 0)
        goto fail;
    for (uint32_t i = 0; i < count; i++)
        if ((rc = decode_pair(prefs, &it)) < 0)
            goto fail;
    if ((rc = ipc_pickle_iter_end(&it)) < 0)
        goto fail;
    *out = prefs;
    return 0;
fail:
    ipc_prefs_free(prefs);
    return rc;
}

static int write_all(int fd, const uint8_t *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int ipc_prefs_to_memfd(const ipc_prefs *prefs, int *fd_out, size_t *len_out)
{
    uint8_t *blob = NULL;
    size_t len = 0;
    int fd = -1;
    int rc = ipc_prefs_encode(prefs, &blob, &len);
    if (rc < 0)
        goto fail;
    fd = memfd_create("ipc-prefs", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0) {
        rc = -errno;
        goto fail;
    }
    if ((rc = write_all(fd, blob, len)) < 0)
        goto fail;
    if (fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) < 0) {
        rc = -errno;
        goto fail;
    }
    free(blob);
    *fd_out = fd;
    *len_out = len;
    return 0;
fail:
    free(blob);
    if (fd >= 0)
        close(fd);
    return rc;
}

int ipc_prefs_from_fd(ipc_prefs **out, int fd, size_t len)
{
    const int need = F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK;
    struct stat st;
    *out = NULL;
    int seals = fcntl(fd, F_GET_SEALS);
    if (seals < 0)
        return errno == EINVAL ? -EPERM : -errno; /* EINVAL: not a sealable file */
    if ((seals & need) != need)
        return -EPERM;
    if (fstat(fd, &st) < 0)
        return -errno;
    if (st.st_size < 0 || (uint64_t)st.st_size != (uint64_t)len || len > IPC_PREFS_MAX_BLOB)
        return IPC_E_BAD_SIZE;
    if (len == 0)
        return ipc_prefs_decode(out, NULL, 0);
    void *map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED)
        return -errno;
    int rc = ipc_prefs_decode(out, map, len);
    munmap(map, len);
    return rc;
}
