/* Synchronous messages: the sender blocks (never on the IO thread) until the
 * reply with its txn id arrives; the IO thread hands replies straight to their
 * waiters. Child to parent only, as the seeds rule. Messages that arrive
 * meanwhile wait in the listener loop's queue and are dispatched afterwards. */
#include "ipc/errors.h"
#include "proxy_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

static void unlink_waiter(ipc_proxy *p, ipc__sync_waiter *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else if (p->waiters == w)
        p->waiters = w->next;
    if (w->next)
        w->next->prev = w->prev;
    w->prev = w->next = NULL;
}

void ipc__sync_take_reply(ipc_proxy *p, ipc_msg *reply)
{
    uint32_t txn = ipc_msg_txn_id(reply);
    pthread_mutex_lock(&p->mu);
    ipc__sync_waiter *w = p->waiters;
    while (w && w->txn != txn)
        w = w->next;
    if (w) {
        unlink_waiter(p, w);
        w->reply = reply;
        w->done = 1;
        pthread_cond_signal(&w->cv);
        reply = NULL;
    } else {
        p->replies_unmatched++;
    }
    pthread_mutex_unlock(&p->mu);
    ipc_msg_free(reply); /* late (timed out) or forged */
}

void ipc__sync_fail_all(ipc_proxy *p, int err)
{
    pthread_mutex_lock(&p->mu);
    if (!p->dead_err)
        p->dead_err = err;
    while (p->waiters) {
        ipc__sync_waiter *w = p->waiters;
        unlink_waiter(p, w);
        w->err = err;
        w->done = 1;
        pthread_cond_signal(&w->cv);
    }
    pthread_mutex_unlock(&p->mu);
}

static void deadline_after(struct timespec *ts, int ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* Waits (under p->mu) until w is done or the deadline passes. */
static int wait_reply(ipc_proxy *p, ipc__sync_waiter *w, int timeout_ms)
{
    struct timespec deadline;
    if (timeout_ms >= 0)
        deadline_after(&deadline, timeout_ms);
    while (!w->done) {
        if (timeout_ms < 0) {
            pthread_cond_wait(&w->cv, &p->mu);
        } else if (pthread_cond_timedwait(&w->cv, &p->mu, &deadline) == ETIMEDOUT && !w->done) {
            unlink_waiter(p, w);
            return IPC_E_TIMEOUT;
        }
    }
    return 0;
}

int ipc_proxy_send_sync(ipc_proxy *p, ipc_msg *request, ipc_msg **reply, int timeout_ms)
{
    *reply = NULL;
    int rc;
    if (p->side == IPC_SIDE_PARENT) {
        rc = IPC_E_SYNC_FROM_PARENT;
        goto fail;
    }
    if (ipc_loop_on_thread(p->ioloop)) {
        rc = IPC_E_WRONG_THREAD;
        goto fail;
    }
    ipc__sync_waiter w = {0};
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w.cv, &ca);
    pthread_condattr_destroy(&ca);
    unsigned n = atomic_fetch_add(&p->next_txn, 1) + 1;
    w.txn = IPC_SYNC_TXN_BIT | (n & ~IPC_SYNC_TXN_BIT);
    uint32_t flags = ipc_msg_flags(request) & ~(uint32_t)(IPC_MSG_WANTS_REPLY | IPC_MSG_REPLY |
                                                          IPC_MSG_REPLY_ERROR);
    ipc_msg_set_flags(request, flags | IPC_MSG_SYNC);
    ipc_msg_set_txn_id(request, w.txn);

    pthread_mutex_lock(&p->mu);
    rc = p->dead_err;
    if (!rc) {
        w.next = p->waiters;
        if (p->waiters)
            p->waiters->prev = &w;
        p->waiters = &w;
    }
    pthread_mutex_unlock(&p->mu);
    if (rc) {
        pthread_cond_destroy(&w.cv);
        goto fail;
    }
    rc = ipc_proxy_send(p, request); /* takes it */
    request = NULL;
    pthread_mutex_lock(&p->mu);
    if (rc && !w.done)
        unlink_waiter(p, &w);
    else
        rc = wait_reply(p, &w, timeout_ms);
    if (!rc)
        rc = w.err;
    pthread_mutex_unlock(&p->mu);
    pthread_cond_destroy(&w.cv);
    if (w.reply) {
        *reply = w.reply;
        if (ipc_msg_is_reply_error(w.reply))
            rc = IPC_E_REPLY_ERROR;
    }
    return rc;
fail:
    ipc_msg_free(request);
    return rc;
}
