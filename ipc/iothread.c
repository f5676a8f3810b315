/* The IO thread: one thread running an ipc_loop for channel I/O, the process's
 * shared default one, and fork support (park the thread holding no lock, fork,
 * unpark in the parent, start a new thread on the same loop in the child). */
#include "ipc/loop.h"

#include "ipc/errors.h"
#include "loop_internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

struct ipc_iothread {
    ipc_loop *loop;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int ready; /* the thread has bound the loop */
};

static void *io_main(void *arg)
{
    ipc_iothread *io = arg;
    ipc__loop_bind(io->loop);
    ipc__loop_mark_running(io->loop);
    pthread_mutex_lock(&io->mu);
    io->ready = 1;
    pthread_cond_broadcast(&io->cv);
    pthread_mutex_unlock(&io->mu);
    ipc_loop_run(io->loop);
    return NULL;
}

/* Starts the thread and waits until it owns the loop, so that
 * ipc_loop_on_thread() is right from the moment this returns. */
static int spawn(ipc_iothread *io, size_t stack_size)
{
    io->ready = 0;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    if (stack_size)
        pthread_attr_setstacksize(&attr, stack_size);
    int rc = pthread_create(&io->th, &attr, io_main, io);
    pthread_attr_destroy(&attr);
    if (rc)
        return -rc;
    pthread_mutex_lock(&io->mu);
    while (!io->ready)
        pthread_cond_wait(&io->cv, &io->mu);
    pthread_mutex_unlock(&io->mu);
    return 0;
}

int ipc_iothread_start(ipc_iothread **out)
{
    *out = NULL;
    ipc_iothread *io = calloc(1, sizeof *io);
    if (!io)
        return -ENOMEM;
    pthread_mutex_init(&io->mu, NULL);
    pthread_cond_init(&io->cv, NULL);
    int rc = ipc_loop_new(&io->loop);
    if (rc)
        goto fail;
    /* The IO thread waits for sockets, not tasks: spinning would not help. */
    ipc_loop_set_spin(io->loop, 0);
    rc = spawn(io, 0);
    if (rc)
        goto fail;
    *out = io;
    return 0;
fail:
    ipc_loop_free(io->loop);
    pthread_mutex_destroy(&io->mu);
    pthread_cond_destroy(&io->cv);
    free(io);
    return rc;
}

void ipc_iothread_stop(ipc_iothread *io)
{
    if (!io)
        return;
    ipc_loop_quit(io->loop);
    pthread_join(io->th, NULL);
    ipc_loop_free(io->loop);
    pthread_mutex_destroy(&io->mu);
    pthread_cond_destroy(&io->cv);
    free(io);
}

ipc_loop *ipc_iothread_loop(ipc_iothread *io)
{
    return io->loop;
}

static pthread_once_t default_once = PTHREAD_ONCE_INIT;
static ipc_iothread *default_io;

static pid_t default_pid;

/* Joins the default IO thread at exit so nothing it allocated looks leaked.
 * Left alone when exit() runs on the IO thread itself, in a forked child that
 * did not restart it, or while it is parked. The loop is not freed: other
 * code may still hold pointers into it during exit. */
static void stop_default_at_exit(void)
{
    ipc_iothread *io = default_io;
    if (!io || getpid() != default_pid || ipc_loop_on_thread(io->loop) || ipc__loop_parked(io->loop))
        return;
    ipc_loop_quit(io->loop);
    pthread_join(io->th, NULL);
}

static void start_default(void)
{
    if (ipc_iothread_start(&default_io) != 0) {
        default_io = NULL;
        return;
    }
    default_pid = getpid();
    atexit(stop_default_at_exit);
}

ipc_iothread *ipc_iothread_default(void)
{
    pthread_once(&default_once, start_default);
    return default_io;
}

int ipc_iothread_park(ipc_iothread *io)
{
    return ipc__loop_park(io->loop);
}

void ipc_iothread_unpark(ipc_iothread *io)
{
    ipc__loop_unpark(io->loop);
}

int ipc_iothread_restart_after_fork(ipc_iothread *io)
{
    pthread_mutex_init(&io->mu, NULL);
    pthread_cond_init(&io->cv, NULL);
    int rc = ipc__loop_reset_after_fork(io->loop);
    if (rc)
        return rc;
    if (io == default_io)
        default_pid = getpid();
    /* glibc caches the dead parent thread's stack in the child; a new thread
     * built on it gets the same pthread_t, which confuses thread-aware tools
     * (TSan aborts). A stack size no cached stack fits avoids the reuse. */
    static unsigned generation;
    generation++;
    size_t size = (size_t)(8u << 20) + (size_t)generation * (256u << 10);
    return spawn(io, size);
}
