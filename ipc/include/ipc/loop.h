/* An event loop bound to one thread: a libevent event_base plus a queue of
 * tasks that other threads post to it, and timers. The IO thread runs one; so
 * does every thread that hosts listeners (usually the main thread). */
#ifndef IPC_LOOP_H
#define IPC_LOOP_H

#include <stdint.h>

struct event_base;

typedef struct ipc_loop ipc_loop;
typedef void (*ipc_task_fn)(void *arg);

/* Creates a loop. It belongs to the thread that first runs it. 0 or -errno. */
int ipc_loop_new(ipc_loop **out);
/* Frees the loop. Tasks never run are dropped without being called: post
 * nothing that owns resources to a loop that is being torn down, or drain it
 * first with ipc_loop_run_once(). Only when the loop is not running. */
void ipc_loop_free(ipc_loop *loop);
/* The libevent base, for registering events. Only on the loop's thread. */
struct event_base *ipc_loop_base(ipc_loop *loop);

/* Queues fn(arg) to run on the loop's thread, in posting order. Any thread.
 * 0 or -ENOMEM / IPC_E_CLOSED after ipc_loop_free started. */
int ipc_loop_post(ipc_loop *loop, ipc_task_fn fn, void *arg);
/* Queues fn(arg) to run after `ms` milliseconds. Any thread. */
int ipc_loop_post_delayed(ipc_loop *loop, ipc_task_fn fn, void *arg, uint32_t ms);

/* Runs until ipc_loop_quit(). Binds the loop to the calling thread. */
int ipc_loop_run(ipc_loop *loop);
/* Runs ready tasks and events, waiting at most `timeout_ms` (0: do not wait,
 * -1: wait for one batch of work). Returns 0 or -errno. */
int ipc_loop_run_once(ipc_loop *loop, int timeout_ms);
/* Before it sleeps, the loop spins for up to `usec` microseconds waiting for
 * a posted task, which saves a thread wakeup when the answer to something it
 * just sent comes soon (request/response between threads or processes). It
 * backs off while spins find nothing, so an idle loop stays idle, and does
 * not spin on the CPU its last poster ran on. Default 0 (off);
 * IPC_LOOP_SPIN_US in the environment sets it for new loops. The IO thread's
 * loop never spins. Any thread. */
void ipc_loop_set_spin(ipc_loop *loop, unsigned usec);
/* Makes ipc_loop_run() return after the current task. Any thread. */
void ipc_loop_quit(ipc_loop *loop);
/* Non-zero when called on the thread running (or bound to) the loop. */
int ipc_loop_on_thread(const ipc_loop *loop);
/* The loop bound to the calling thread, or NULL. */
ipc_loop *ipc_loop_current(void);

/* The IO thread: a thread that runs its own loop for channel I/O. */
typedef struct ipc_iothread ipc_iothread;

/* Starts an IO thread. 0 or -errno. */
int ipc_iothread_start(ipc_iothread **out);
/* Stops the loop, joins the thread and frees it. Not from the IO thread. */
void ipc_iothread_stop(ipc_iothread *io);
ipc_loop *ipc_iothread_loop(ipc_iothread *io);
/* The process's shared IO thread, started on first use. NULL on failure. */
ipc_iothread *ipc_iothread_default(void);

/* Fork support (B2G's Nuwa): park the IO thread at a point where it holds no
 * lock, fork, then resume it in the parent and build a fresh one in the child
 * (fork copies only the calling thread). */
int ipc_iothread_park(ipc_iothread *io);
void ipc_iothread_unpark(ipc_iothread *io);
/* In the child after fork: forget the dead thread and start a new one running
 * the same loop state. 0 or -errno. */
int ipc_iothread_restart_after_fork(ipc_iothread *io);

#endif
