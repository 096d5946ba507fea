/* Schedulers and their event loops: one thread per scheduler, each with its
 * own poller, posted-task queue, timer wheel, coroutine run list and process
 * run queue. Nothing here is shared between schedulers except the posted-task
 * queue (an intrusive Vyukov MPSC queue: producers do one atomic exchange) and
 * the "notified" flag that makes at most one poller wakeup per drain.
 *
 * One loop iteration: refresh the cached clock, drain posted tasks, fire due
 * timers, resume ready coroutines, run runnable processes, then poll for I/O
 * with a timeout of 0 if work is left, else up to the next timer tick.
 *
 * The timer wheel is hierarchical (4 levels x 64 slots of 1 ms, 6 bits each,
 * as in the classic Linux wheel): start and stop are O(1) list operations;
 * timers further out than 2^24 ms are parked in the last slot and re-inserted
 * when they come round. kiln_runtime_run turns the calling thread into
 * scheduler 0, so a 1-scheduler runtime uses one thread. */
#define KILN_POLL_BACKEND 1
#include "runtime_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "poll_epoll.c"

static _Thread_local kiln_sched_t *tl_sched;

/* ---- MPSC queue ---------------------------------------------------------- */

static void mpsc_init(kiln__mpsc_t *q)
{
    atomic_store_explicit(&q->stub.next, NULL, memory_order_relaxed);
    atomic_store_explicit(&q->head, &q->stub, memory_order_relaxed);
    q->tail = &q->stub;
}

static void mpsc_push(kiln__mpsc_t *q, kiln__task_t *t)
{
    atomic_store_explicit(&t->next, NULL, memory_order_relaxed);
    kiln__task_t *prev = atomic_exchange_explicit(&q->head, t, memory_order_acq_rel);
    atomic_store_explicit(&prev->next, t, memory_order_release);
}

/* Returns the oldest task or NULL when empty, or when a producer is between
 * its exchange and its link (the loop then polls with a zero timeout). */
static kiln__task_t *mpsc_pop(kiln__mpsc_t *q)
{
    kiln__task_t *tail = q->tail, *next = atomic_load_explicit(&tail->next, memory_order_acquire);
    if (tail == &q->stub) {
        if (!next) return NULL;
        q->tail = tail = next;
        next = atomic_load_explicit(&tail->next, memory_order_acquire);
    }
    if (next) {
        q->tail = next;
        return tail;
    }
    if (tail != atomic_load_explicit(&q->head, memory_order_acquire)) return NULL;
    mpsc_push(q, &q->stub);
    next = atomic_load_explicit(&tail->next, memory_order_acquire);
    if (!next) return NULL;
    q->tail = next;
    return tail;
}

static bool mpsc_empty(kiln__mpsc_t *q)
{
    return q->tail == &q->stub && atomic_load_explicit(&q->head, memory_order_acquire) == &q->stub;
}

/* ---- Posting ------------------------------------------------------------- */

static void sched_wake(kiln_sched_t *s)
{
    if (tl_sched == s) return; /* the loop drains its queue before it sleeps */
    if (!atomic_exchange(&s->notified, 1)) poll_notify(s->poll);
}

int kiln_sched_post(kiln_sched_t *s, void (*fn)(void *arg), void *arg)
{
    if (!s || !fn) return KILN_EINVAL;
    kiln__task_t *t = malloc(sizeof *t);
    if (!t) return KILN_ENOMEM;
    t->fn = fn;
    t->arg = arg;
    mpsc_push(&s->posted, t);
    sched_wake(s);
    return 0;
}

static void run_posted(kiln_sched_t *s)
{
    /* Bounded so a producer that posts as fast as we drain cannot starve I/O. */
    for (int i = 0; i < 4096; i++) {
        kiln__task_t *t = mpsc_pop(&s->posted);
        if (!t) return;
        void (*fn)(void *) = t->fn;
        void *arg = t->arg;
        free(t);
        fn(arg);
    }
}

/* ---- Timers -------------------------------------------------------------- */

static void tlist_init(kiln_timer_t *head)
{
    head->next = head->prev = head;
}

static void tlist_append(kiln_timer_t *head, kiln_timer_t *t)
{
    t->prev = head->prev;
    t->next = head;
    head->prev->next = t;
    head->prev = t;
}

static void tlist_unlink(kiln_timer_t *t)
{
    t->prev->next = t->next;
    t->next->prev = t->prev;
    t->next = t->prev = NULL;
}

static void wheel_insert(kiln_sched_t *s, kiln_timer_t *t)
{
    uint64_t cur = s->wheel_cur;
    uint64_t due = t->due_ms < (int64_t)cur ? cur : (uint64_t)t->due_ms;
    uint64_t delta = due - cur;
    kiln_timer_t *slot;
    if (delta < 64) slot = &s->wheel[0][due & 63];
    else if (delta < (1u << 12)) slot = &s->wheel[1][(due >> 6) & 63];
    else if (delta < (1u << 18)) slot = &s->wheel[2][(due >> 12) & 63];
    else {
        if (delta >= (1u << 24)) due = cur + (1u << 24) - 1; /* re-inserted when it comes round */
        slot = &s->wheel[3][(due >> 18) & 63];
    }
    tlist_append(slot, t);
}

static void cascade(kiln_sched_t *s, int level, unsigned idx)
{
    kiln_timer_t *head = &s->wheel[level][idx];
    while (head->next != head) {
        kiln_timer_t *t = head->next;
        tlist_unlink(t);
        wheel_insert(s, t);
    }
}

static void wheel_tick(kiln_sched_t *s)
{
    uint64_t cur = s->wheel_cur;
    unsigned idx = cur & 63;
    if (idx == 0) {
        unsigned i1 = (cur >> 6) & 63, i2 = (cur >> 12) & 63, i3 = (cur >> 18) & 63;
        if (i1 == 0) {
            if (i2 == 0) cascade(s, 3, i3);
            cascade(s, 2, i2);
        }
        cascade(s, 1, i1);
    }
    /* Advance first: a callback that restarts a timer for "now" lands in the
     * next tick's slot instead of the one being emptied. */
    s->wheel_cur = cur + 1;
    kiln_timer_t work;
    tlist_init(&work);
    kiln_timer_t *head = &s->wheel[0][idx];
    if (head->next == head) return;
    work.next = head->next;
    work.prev = head->prev;
    work.next->prev = work.prev->next = &work;
    tlist_init(head);
    while (work.next != &work) {
        kiln_timer_t *t = work.next;
        tlist_unlink(t);
        if (t->due_ms > (int64_t)cur) { /* parked far-future timer: not yet */
            wheel_insert(s, t);
            continue;
        }
        s->n_timers--;
        t->cb(t);
    }
}

static void run_timers(kiln_sched_t *s)
{
    if (s->n_timers == 0) {
        s->wheel_cur = (uint64_t)s->now_ms + 1;
        return;
    }
    while (s->wheel_cur <= (uint64_t)s->now_ms) wheel_tick(s);
}

/* Milliseconds until the next tick that has timers in level 0, or until the
 * next cascade; -1 when there are no timers. */
static int timer_timeout(kiln_sched_t *s)
{
    if (s->n_timers == 0) return -1;
    uint64_t cur = s->wheel_cur;
    for (uint64_t t = cur; t < cur + 64; t++) {
        kiln_timer_t *head = &s->wheel[0][t & 63];
        if (head->next != head) return t <= (uint64_t)s->now_ms ? 0 : (int)(t - (uint64_t)s->now_ms);
        if ((t & 63) == 63) break; /* a cascade is due at the next tick */
    }
    uint64_t next = (cur | 63) + 1;
    return next <= (uint64_t)s->now_ms ? 0 : (int)(next - (uint64_t)s->now_ms);
}

static kiln_sched_t *must_current(const char *what)
{
    kiln_sched_t *s = tl_sched;
    if (!s) {
        kiln_log(KILN_LOG_ERROR, "%s called outside a scheduler thread", what);
        abort();
    }
    return s;
}

void kiln_timer_start(kiln_timer_t *t, uint64_t after_ms, kiln_timer_cb cb)
{
    kiln_sched_t *s = must_current("kiln_timer_start");
    if (t->next) kiln_timer_stop(t);
    if (after_ms > (uint64_t)INT64_MAX / 2) after_ms = (uint64_t)INT64_MAX / 2;
    /* The cached clock may predate a poll that slept: a deadline must count
     * from now, or it fires early by as long as the loop slept (one vDSO read). */
    s->now_ms = kiln_now_ms();
    t->due_ms = s->now_ms + (int64_t)after_ms;
    t->cb = cb;
    t->sched = s;
    if (s->n_timers++ == 0 && s->wheel_cur > (uint64_t)s->now_ms + 1) s->wheel_cur = (uint64_t)s->now_ms + 1;
    wheel_insert(s, t);
}

void kiln_timer_stop(kiln_timer_t *t)
{
    if (!t->next) return;
    tlist_unlink(t);
    t->sched->n_timers--;
}

int kiln_timer_active(const kiln_timer_t *t)
{
    return t->next != NULL;
}

int64_t kiln_loop_now_ms(void)
{
    return tl_sched ? tl_sched->now_ms : kiln_now_ms();
}

/* ---- I/O watchers ------------------------------------------------------- */

int kiln_io_start(kiln_io_t *io, int fd, unsigned events, kiln_io_cb cb)
{
    kiln_sched_t *s = must_current("kiln_io_start");
    io->fd = fd;
    io->events = events;
    io->cb = cb;
    io->sched = s;
    return poll_add(s->poll, fd, events, io);
}

int kiln_io_modify(kiln_io_t *io, unsigned events)
{
    io->events = events;
    return poll_mod(io->sched->poll, io->fd, events, io);
}

void kiln_io_stop(kiln_io_t *io)
{
    if (!io->sched) return;
    poll_del(io->sched->poll, io->fd);
    poll_forget(io->sched->poll, io);
    io->sched = NULL;
}

static void io_dispatch(void *ud, unsigned ev)
{
    kiln_io_t *io = ud;
    io->cb(io, ev);
}

/* ---- Schedulers ---------------------------------------------------------- */

kiln_sched_t *kiln_sched_current(void)
{
    return tl_sched;
}

kiln_sched_t *kiln_sched_get(kiln_runtime_t *rt, int index)
{
    return rt && index >= 0 && index < rt->n ? rt->scheds[index] : NULL;
}

int kiln_sched_index(const kiln_sched_t *s)
{
    return s->index;
}

kiln_runtime_t *kiln_sched_runtime(const kiln_sched_t *s)
{
    return s->rt;
}

int kiln_runtime_schedulers(const kiln_runtime_t *rt)
{
    return rt->n;
}

static bool has_work(kiln_sched_t *s)
{
    return kiln__coro_has_ready(s) || kiln__proc_has_runnable(s) || !mpsc_empty(&s->posted);
}

static void loop_once(kiln_sched_t *s)
{
    s->now_ms = kiln_now_ms();
    run_timers(s);
    /* Local work begets local work (a message makes a process runnable, its
     * reply wakes a coroutine): run a bounded number of rounds before paying
     * for a poll system call, then poll so I/O is never starved. */
    for (int round = 0; round < 64; round++) {
        run_posted(s);
        kiln__coro_run_ready(s);
        kiln__proc_run_queue(s);
        if (!has_work(s)) break;
    }
    if (atomic_load(&s->rt->stopping)) return;
    int timeout = has_work(s) ? 0 : timer_timeout(s);
    int r = poll_wait(s->poll, timeout, io_dispatch);
    if (r > 0) atomic_store(&s->notified, 0); /* after the eventfd read: see ADR 0003 */
    else if (r < 0) kiln_log(KILN_LOG_ERROR, "scheduler %d: poll failed: %s", s->index, strerror(errno));
}

static void *sched_main(void *arg)
{
    kiln_sched_t *s = arg;
    tl_sched = s;
    while (!atomic_load(&s->rt->stopping)) loop_once(s);
    kiln__proc_shutdown(s);
    tl_sched = NULL;
    return NULL;
}

static int default_schedulers(void)
{
    const char *env = getenv("KILN_SCHEDULERS");
    if (env && atoi(env) > 0) return atoi(env);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

static kiln_sched_t *sched_new(kiln_runtime_t *rt, int index)
{
    kiln_sched_t *s = kiln_xcalloc(1, sizeof *s);
    s->rt = rt;
    s->index = index;
    if (poll_init(&s->poll) < 0) {
        free(s);
        return NULL;
    }
    mpsc_init(&s->posted);
    for (int l = 0; l < 4; l++)
        for (int i = 0; i < 64; i++) tlist_init(&s->wheel[l][i]);
    s->now_ms = kiln_now_ms();
    s->wheel_cur = (uint64_t)s->now_ms;
    pthread_mutex_init(&s->slot_lock, NULL);
    return s;
}

/* Tasks still queued when the loops have ended run here, on the freeing
 * thread, with `closing` set: the runtime's own tasks then just free what they
 * carry, and user tasks get their chance to release their argument. Draining
 * repeats until no queue has anything, since a task may post to another
 * scheduler. */
static void drain_all(kiln_runtime_t *rt)
{
    for (bool progress = true; progress;) {
        progress = false;
        for (int i = 0; i < rt->n; i++) {
            kiln_sched_t *s = rt->scheds[i];
            if (!s) continue;
            tl_sched = s;
            kiln__task_t *t;
            while ((t = mpsc_pop(&s->posted))) {
                void (*fn)(void *) = t->fn;
                void *arg = t->arg;
                free(t);
                fn(arg);
                progress = true;
            }
        }
    }
    tl_sched = NULL;
}

static void sched_free(kiln_sched_t *s)
{
    tl_sched = s;
    kiln__pubsub_sched_free(s);
    kiln__stack_pool_free(s);
    tl_sched = NULL;
    for (int i = 0; i < KILN__MAX_CHUNKS; i++) free(atomic_load(&s->chunks[i]));
    pthread_mutex_destroy(&s->slot_lock);
    poll_free(s->poll);
    free(s);
}

kiln_runtime_t *kiln_runtime_new(const kiln_runtime_conf_t *conf)
{
    kiln_runtime_t *rt = kiln_xcalloc(1, sizeof *rt);
    if (conf) rt->conf = *conf;
    if (rt->conf.schedulers <= 0) rt->conf.schedulers = default_schedulers();
    if (rt->conf.schedulers > KILN__MAX_SCHEDULERS) rt->conf.schedulers = KILN__MAX_SCHEDULERS;
    if (rt->conf.blocking_threads <= 0) rt->conf.blocking_threads = 4;
    if (rt->conf.blocking_queue <= 0) rt->conf.blocking_queue = 1024;
    if (rt->conf.stack_size == 0) rt->conf.stack_size = 64 * 1024;
    long page = sysconf(_SC_PAGESIZE);
    rt->conf.stack_size = (rt->conf.stack_size + (size_t)page - 1) & ~((size_t)page - 1);
    rt->n = rt->conf.schedulers;
    rt->scheds = kiln_xcalloc((size_t)rt->n, sizeof *rt->scheds);
    for (int i = 0; i < rt->n; i++) {
        if (!(rt->scheds[i] = sched_new(rt, i))) {
            kiln_runtime_free(rt);
            return NULL;
        }
    }
    return rt;
}

int kiln_runtime_run(kiln_runtime_t *rt)
{
    if (kiln__blocking_start(rt) < 0) return KILN_EIO;
    int started = 1;
    for (; started < rt->n; started++)
        if (pthread_create(&rt->scheds[started]->thread, NULL, sched_main, rt->scheds[started]) != 0) {
            kiln_log(KILN_LOG_ERROR, "kiln_runtime_run: cannot start scheduler %d", started);
            kiln_runtime_stop(rt, KILN_EIO);
            break;
        }
    sched_main(rt->scheds[0]);
    for (int i = 1; i < started; i++) pthread_join(rt->scheds[i]->thread, NULL);
    kiln__blocking_stop(rt);
    return rt->exit_code;
}

/* Only an atomic store and eventfd writes: safe from any thread and even from
 * a signal handler. */
void kiln_runtime_stop(kiln_runtime_t *rt, int exit_code)
{
    int expected = 0;
    if (!atomic_compare_exchange_strong(&rt->stop_claimed, &expected, 1)) return;
    rt->exit_code = exit_code;
    atomic_store(&rt->stopping, 1);
    for (int i = 0; i < rt->n; i++) poll_notify(rt->scheds[i]->poll);
}

void kiln_runtime_free(kiln_runtime_t *rt)
{
    if (!rt) return;
    for (int i = 0; i < rt->n; i++)
        if (rt->scheds[i]) rt->scheds[i]->closing = true;
    drain_all(rt);
    for (int i = 0; i < rt->n; i++) {
        if (!rt->scheds[i]) continue;
        tl_sched = rt->scheds[i];
        kiln__proc_shutdown(rt->scheds[i]);
        tl_sched = NULL;
    }
    drain_all(rt);
    for (int i = 0; i < rt->n; i++)
        if (rt->scheds[i]) sched_free(rt->scheds[i]);
    kiln__pubsub_rt_free(rt);
    free(rt->scheds);
    free(rt);
}
