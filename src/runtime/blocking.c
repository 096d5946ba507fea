/* The blocking pool: a bounded FIFO of jobs and N worker threads, for work
 * that would stall a scheduler (password hashing, file I/O, SQLite writes).
 *
 * kiln_blocking puts a job that lives on the caller's coroutine stack on the
 * queue and parks; a worker runs fn and wakes the coroutine with the result,
 * which posts it back to its own scheduler. So a job allocates nothing, and a
 * full queue is reported at once (KILN_EAGAIN) instead of queueing without
 * bound. A mutex and a condition variable are enough here: jobs cost
 * microseconds to milliseconds, far more than the lock. */
#include "runtime_int.h"

#include <stdlib.h>

typedef struct job {
    struct job *next;
    int (*fn)(void *arg);
    void *arg;
    kiln_coro_t *coro;
} job_t;

struct kiln__blocking {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    job_t *head, *tail;
    int queued, max_queued, n_threads;
    bool stopping;
    pthread_t *threads;
};

static void *worker(void *arg)
{
    struct kiln__blocking *b = arg;
    pthread_mutex_lock(&b->lock);
    for (;;) {
        while (!b->head && !b->stopping) pthread_cond_wait(&b->cond, &b->lock);
        if (!b->head) break; /* stopping, and nothing left */
        job_t *j = b->head;
        if (!(b->head = j->next)) b->tail = NULL;
        b->queued--;
        pthread_mutex_unlock(&b->lock);
        kiln_coro_wake(j->coro, j->fn(j->arg));
        pthread_mutex_lock(&b->lock);
    }
    pthread_mutex_unlock(&b->lock);
    return NULL;
}

int kiln__blocking_start(kiln_runtime_t *rt)
{
    struct kiln__blocking *b = kiln_xcalloc(1, sizeof *b);
    pthread_mutex_init(&b->lock, NULL);
    pthread_cond_init(&b->cond, NULL);
    b->max_queued = rt->conf.blocking_queue;
    b->threads = kiln_xcalloc((size_t)rt->conf.blocking_threads, sizeof *b->threads);
    rt->blocking = b;
    for (; b->n_threads < rt->conf.blocking_threads; b->n_threads++)
        if (pthread_create(&b->threads[b->n_threads], NULL, worker, b) != 0) {
            kiln__blocking_stop(rt);
            return KILN_EIO;
        }
    return 0;
}

/* Workers finish the queued jobs first: their coroutines' wakes then land in
 * the schedulers' queues and are dropped when the runtime is freed. */
void kiln__blocking_stop(kiln_runtime_t *rt)
{
    struct kiln__blocking *b = rt->blocking;
    if (!b) return;
    pthread_mutex_lock(&b->lock);
    b->stopping = true;
    pthread_cond_broadcast(&b->cond);
    pthread_mutex_unlock(&b->lock);
    for (int i = 0; i < b->n_threads; i++) pthread_join(b->threads[i], NULL);
    pthread_mutex_destroy(&b->lock);
    pthread_cond_destroy(&b->cond);
    free(b->threads);
    free(b);
    rt->blocking = NULL;
}

int kiln_blocking(int (*fn)(void *arg), void *arg)
{
    kiln_coro_t *c = kiln_coro_current();
    if (!c) return KILN_ESTATE;
    struct kiln__blocking *b = c->sched->rt->blocking;
    if (!b) return KILN_ESTATE;
    job_t j = { .fn = fn, .arg = arg, .coro = c };
    pthread_mutex_lock(&b->lock);
    if (b->queued >= b->max_queued || b->stopping) {
        pthread_mutex_unlock(&b->lock);
        return KILN_EAGAIN;
    }
    if (b->tail) b->tail->next = &j;
    else b->head = &j;
    b->tail = &j;
    b->queued++;
    pthread_cond_signal(&b->cond);
    pthread_mutex_unlock(&b->lock);
    return (int)kiln_coro_park();
}
