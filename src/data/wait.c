/* Waiting primitives shared by the adapters.
 *
 * Database calls may come from a coroutine (which must park, so that its
 * scheduler keeps serving other connections) or from a plain thread (the
 * `migrate` command, a blocking-pool job), which may simply block. Each
 * primitive here does the right one of the two, so the adapters are written
 * once, top to bottom.
 *
 * The lock hands itself directly to the first waiter on release (FIFO), so a
 * stream of new arrivals cannot starve a parked writer. Waiter records live on
 * the waiting caller's stack. */
#include "data/data_int.h"

#include <poll.h>
#include <stdint.h>
#include <time.h>

struct kiln__waiter {
    kiln__waiter_t *next;
    kiln_coro_t *coro;
    const void *id;
    bool granted;
};

void kiln__lock_init(kiln__lock_t *l)
{
    *l = (kiln__lock_t){ 0 };
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
}

void kiln__lock_destroy(kiln__lock_t *l)
{
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv);
}

static _Thread_local char thread_id_anchor;

const void *kiln__self_id(void)
{
    kiln_coro_t *c = kiln_coro_current();
    return c ? (const void *)c : (const void *)&thread_id_anchor;
}

int kiln__lock_acquire(kiln__lock_t *l)
{
    const void *me = kiln__self_id();
    pthread_mutex_lock(&l->mu);
    if (!l->held) {
        l->held = true;
        l->owner = me;
        pthread_mutex_unlock(&l->mu);
        return 0;
    }
    if (l->owner == me) {
        pthread_mutex_unlock(&l->mu);
        return KILN_ESTATE;
    }
    kiln__waiter_t w = { .coro = kiln_coro_current(), .id = me };
    if (l->tail) l->tail->next = &w;
    else l->head = &w;
    l->tail = &w;
    if (w.coro) {
        /* The releaser sets granted and the owner before waking us. */
        pthread_mutex_unlock(&l->mu);
        kiln_coro_park();
        return 0;
    }
    while (!w.granted) pthread_cond_wait(&l->cv, &l->mu);
    pthread_mutex_unlock(&l->mu);
    return 0;
}

bool kiln__lock_mine(kiln__lock_t *l)
{
    const void *me = kiln__self_id();
    pthread_mutex_lock(&l->mu);
    bool mine = l->held && l->owner == me;
    pthread_mutex_unlock(&l->mu);
    return mine;
}

void kiln__lock_release(kiln__lock_t *l)
{
    pthread_mutex_lock(&l->mu);
    kiln__waiter_t *w = l->head;
    if (!w) {
        l->held = false;
        l->owner = NULL;
        pthread_mutex_unlock(&l->mu);
        return;
    }
    l->head = w->next;
    if (!l->head) l->tail = NULL;
    l->owner = w->id;
    w->granted = true;
    kiln_coro_t *coro = w->coro; /* w may vanish once the mutex is released */
    if (!coro) pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
    if (coro) kiln_coro_wake(coro, 0);
}

/* ---- fd waits ---- */

typedef struct fd_wait {
    kiln_io_t io;
    kiln_timer_t timer;
    kiln_coro_t *coro;
    bool done;
} fd_wait_t;

/* Both callbacks run on the waiter's scheduler thread, so `done` needs no lock. */
static void fd_ready(kiln_io_t *io, unsigned events)
{
    (void)events;
    fd_wait_t *w = kiln_container_of(io, fd_wait_t, io);
    if (w->done) return;
    w->done = true;
    kiln_coro_wake(w->coro, 0);
}

static void fd_timeout(kiln_timer_t *t)
{
    fd_wait_t *w = kiln_container_of(t, fd_wait_t, timer);
    if (w->done) return;
    w->done = true;
    kiln_coro_wake(w->coro, KILN_ETIMEDOUT);
}

static int poll_fd(int fd, unsigned events, int64_t timeout_ms)
{
    struct pollfd p = { .fd = fd, .events = (short)(((events & KILN_IO_READ) ? POLLIN : 0) |
                                                    ((events & KILN_IO_WRITE) ? POLLOUT : 0)) };
    int rc = poll(&p, 1, timeout_ms < 0 ? -1 : (int)timeout_ms);
    return rc > 0 ? 0 : rc == 0 ? KILN_ETIMEDOUT : KILN_EIO;
}

int kiln__wait_fd(int fd, unsigned events, int64_t timeout_ms)
{
    kiln_coro_t *c = kiln_coro_current();
    if (!c) return poll_fd(fd, events, timeout_ms);
    fd_wait_t w = { .coro = c };
    if (kiln_io_start(&w.io, fd, events, fd_ready) < 0) return KILN_EIO;
    if (timeout_ms >= 0) kiln_timer_start(&w.timer, (uint64_t)timeout_ms, fd_timeout);
    int rc = (int)kiln_coro_park();
    kiln_io_stop(&w.io);
    kiln_timer_stop(&w.timer);
    return rc;
}

void kiln__nap(int64_t ms)
{
    if (kiln_coro_current()) {
        kiln_sleep((uint64_t)ms);
        return;
    }
    struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}
