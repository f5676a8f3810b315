/* Internals of ipc_loop shared with the IO thread and the channel layer: the
 * park point used around fork(), fork hooks, and rebuilding after fork. */
#ifndef IPC_LOOP_INTERNAL_H
#define IPC_LOOP_INTERNAL_H

#include "ipc/loop.h"

/* Blocks the thread running `loop` (inside ipc_loop_run, between two libevent
 * iterations, holding no lock) and returns once it is parked. Not from the
 * loop's own thread. 0, -EINVAL when the loop is not running, IPC_E_STATE when
 * already parked. */
int ipc__loop_park(ipc_loop *loop);
/* Non-zero while a park is requested or in force. Any thread. */
int ipc__loop_parked(ipc_loop *loop);
/* Lets a parked loop go on. Any thread but the loop's. */
void ipc__loop_unpark(ipc_loop *loop);
/* In a child after fork(), with the loop parked in the parent: makes the loop
 * usable by a new thread (fresh locks, event_reinit, a new eventfd), then runs
 * every fork hook. Only thread of the child. 0 or -errno. */
int ipc__loop_reset_after_fork(ipc_loop *loop);

/* A hook run in the child by ipc__loop_reset_after_fork(), e.g. so a channel
 * inherited from the parent stops reading a socket the parent still uses. */
typedef struct ipc__fork_hook {
    void (*fn)(struct ipc__fork_hook *hook);
    struct ipc__fork_hook *prev, *next;
} ipc__fork_hook;
/* Loop thread only (or before the loop runs). */
void ipc__loop_add_fork_hook(ipc_loop *loop, ipc__fork_hook *hook);
void ipc__loop_remove_fork_hook(ipc_loop *loop, ipc__fork_hook *hook);

/* Told when the loop's thread starts waiting for work (idle = 1: it sleeps in
 * its loop and runs only libevent callbacks) and when it stops (idle = 0:
 * before it runs tasks, when it leaves the wait, or on ipc__loop_busy()). A
 * proxy uses it to let an idle listener thread read its socket itself. */
typedef struct ipc__idle_hook {
    void (*fn)(struct ipc__idle_hook *hook, int idle);
    struct ipc__idle_hook *prev, *next;
} ipc__idle_hook;
/* Loop thread only. A hook added while the loop waits first hears idle = 0
 * (or nothing, if the loop is busy). */
void ipc__loop_add_idle_hook(ipc_loop *loop, ipc__idle_hook *hook);
void ipc__loop_remove_idle_hook(ipc_loop *loop, ipc__idle_hook *hook);
/* The loop thread is about to run callbacks of its own inside the wait (a
 * libevent callback that dispatches to listeners): every hook hears idle = 0.
 * Loop thread only. */
void ipc__loop_busy(ipc_loop *loop);

/* Counts the loop as running (parkable) before ipc_loop_run() is entered, so
 * a park right after the IO thread starts waits for it instead of failing. */
void ipc__loop_mark_running(ipc_loop *loop);

/* Binds the loop to the calling thread without running it. */
void ipc__loop_bind(ipc_loop *loop);

#endif
