/* The process-wide channel-id to client-fd map (the seeds' PipeMap), and
 * ipc_socketpair(), through which every channel pair is made so that the
 * switchboard can interpose its own pairs. */
#include "ipc/chan.h"

#include "chan_internal.h"
#include "ipc/errors.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct map_entry {
    char *id;
    int fd;
    struct map_entry *next;
} map_entry;

static pthread_mutex_t map_mu = PTHREAD_MUTEX_INITIALIZER;
static map_entry *map_head;

static map_entry **find(const char *id)
{
    map_entry **pp = &map_head;
    while (*pp && strcmp((*pp)->id, id) != 0)
        pp = &(*pp)->next;
    return pp;
}

int ipc_chan_map_register(const char *id, int fd)
{
    if (!id || fd < 0)
        return -EINVAL;
    pthread_mutex_lock(&map_mu);
    int rc = 0;
    map_entry **pp = find(id);
    if (*pp) {
        rc = IPC_E_EXISTS;
        goto out;
    }
    map_entry *e = calloc(1, sizeof *e);
    char *copy = strdup(id);
    if (!e || !copy) {
        free(e);
        free(copy);
        rc = -ENOMEM;
        goto out;
    }
    e->id = copy;
    e->fd = fd;
    *pp = e;
out:
    pthread_mutex_unlock(&map_mu);
    return rc;
}

/* Removes the entry under `id` if `fd` is -1 or the entry's fd; returns its fd. */
static int take(const char *id, int fd)
{
    if (!id)
        return IPC_E_NO_CHANNEL;
    pthread_mutex_lock(&map_mu);
    int rc = IPC_E_NO_CHANNEL;
    map_entry **pp = find(id);
    map_entry *e = *pp;
    if (e && (fd < 0 || e->fd == fd)) {
        *pp = e->next;
        rc = e->fd;
        free(e->id);
        free(e);
    }
    pthread_mutex_unlock(&map_mu);
    return rc;
}

int ipc_chan_map_take(const char *id)
{
    return take(id, -1);
}

int ipc__chan_map_take_if(const char *id, int fd)
{
    return take(id, fd);
}

void ipc_chan_map_clear(void)
{
    pthread_mutex_lock(&map_mu);
    map_entry *e = map_head;
    map_head = NULL;
    pthread_mutex_unlock(&map_mu);
    while (e) {
        map_entry *next = e->next;
        close(e->fd);
        free(e->id);
        free(e);
        e = next;
    }
}

static pthread_mutex_t pair_mu = PTHREAD_MUTEX_INITIALIZER;
static ipc_pair_fn pair_fn;
static void *pair_ctx;

void ipc_set_pair_factory(ipc_pair_fn fn, void *ctx)
{
    pthread_mutex_lock(&pair_mu);
    pair_fn = fn;
    pair_ctx = ctx;
    pthread_mutex_unlock(&pair_mu);
}

int ipc_socketpair(const char *id, int fds[2])
{
    fds[0] = fds[1] = -1;
    pthread_mutex_lock(&pair_mu);
    ipc_pair_fn fn = pair_fn;
    void *ctx = pair_ctx;
    pthread_mutex_unlock(&pair_mu);
    if (fn) {
        int rc = fn(id, fds, ctx);
        if (rc == 0 && (fds[0] < 0 || fds[1] < 0))
            rc = -EINVAL;
        return rc < 0 ? rc : (rc > 0 ? -rc : 0);
    }
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
        return -errno;
    return 0;
}
