/* Lightweight processes: pids, mailboxes, selective receive, call/reply,
 * monitors, exit, send_after and sleep.
 *
 * A process is a kiln_proc (~120 bytes) in its scheduler's slot table. It owns
 * no stack: when it has messages, it goes on the scheduler's run queue, and
 * the loop starts a coroutine (proc_main) that runs init once and then
 * handle_msg per message, and returns the stack when the mailbox is empty. A
 * handler that waits (kiln_receive, kiln_call, kiln_sleep, kiln_blocking)
 * parks that coroutine; the process keeps it only until it is resumed.
 *
 * Only the owning scheduler touches a process. Other threads reach it by
 * posting to that scheduler: a cross-scheduler kiln_send checks the pid's
 * generation (an atomic load, no lock) and posts the message; the owner checks
 * again on arrival, since the process may have exited meanwhile. The mailbox
 * is therefore a plain FIFO.
 *
 * Refs carry the scheduler that made them in their low 8 bits, so a reply or a
 * timer cancel goes straight to the table that knows it. kiln_call parks on a
 * waiter that lives on the caller's coroutine stack, registered in the
 * caller's scheduler by ref: any coroutine can call, process or not. The
 * callee is watched for the duration of the call (a monitor entry with no
 * watcher pid, removed by kiln_reply), so a callee that dies answers the call
 * with KILN_ENOPROC rather than leaving it to the timeout. */
#include "runtime_int.h"

#include <stdlib.h>
#include <string.h>

enum { F_CALL = 1, F_DOWN = 2 }; /* kiln_msg.rt_flags */
enum { P_RUNNABLE = 1, P_STARTED = 2, P_WAIT_RECV = 4, P_EXIT_PENDING = 8 };
#define RUN_BATCH 64 /* messages per turn before a process yields to others */

typedef struct mon {
    struct mon *next;
    kiln_ref_t ref;
    kiln_pid_t pid; /* on the target: the watcher (0 = a call waiter); on the watcher: the target */
} mon_t;

struct kiln_proc {
    kiln_pid_t pid;
    const kiln_proc_ops_t *ops;
    void *state, *init_arg;
    kiln_sched_t *sched;
    kiln_msg_t *mbox_head, *mbox_tail;
    kiln_proc_t *run_next;
    kiln_coro_t *coro;        /* while a callback runs or waits */
    mon_t *watchers, *holding; /* monitors on this process / held by it */
    void *subs;               /* pubsub.c's subscriptions */
    struct recv_wait *wait;   /* while parked in kiln_receive */
    kiln_msg_t *cur;          /* the message handle_msg is running */
    kiln_ref_t recv_ref;
    int recv_tag, exit_reason;
    unsigned flags;
    bool cur_kept;
};

struct recv_wait {
    kiln_timer_t timer;
    kiln_proc_t *p;
};

typedef struct waiter {
    kiln__refent_t e;
    kiln_coro_t *coro;
    kiln_msg_t *reply;
    kiln_timer_t timer;
} waiter_t;

/* ---- Messages ------------------------------------------------------------ */

kiln_msg_t *kiln_msg_new(int tag, const void *data, size_t len)
{
    kiln_msg_t *m = kiln_xcalloc(1, sizeof *m + len + 1);
    m->tag = tag;
    if (data || len) {
        m->data = m + 1;
        if (data) memcpy(m->data, data, len);
        m->len = len;
    }
    return m;
}

kiln_msg_t *kiln_msg_wrap(int tag, void *data, size_t len, void (*free_data)(void *))
{
    kiln_msg_t *m = kiln_xcalloc(1, sizeof *m);
    m->tag = tag;
    m->data = data;
    m->len = len;
    m->free_data = free_data;
    return m;
}

void kiln_msg_free(kiln_msg_t *m)
{
    if (!m) return;
    if (m->free_data) m->free_data(m->data);
    free(m);
}

void kiln_msg_keep(kiln_msg_t *m)
{
    kiln_proc_t *p = kiln_self();
    m->kept = 1;
    if (p && p->cur == m) p->cur_kept = true;
}

/* ---- Refs ---------------------------------------------------------------- */

kiln_ref_t kiln__ref_new(kiln_sched_t *s)
{
    return (++s->next_ref << 8) | (uint64_t)s->index;
}

kiln_sched_t *kiln__ref_sched(kiln_runtime_t *rt, kiln_ref_t ref)
{
    int i = (int)(ref & 0xff);
    return ref && i < rt->n ? rt->scheds[i] : NULL;
}

static size_t ref_bucket(kiln_ref_t ref)
{
    return (size_t)(ref >> 8) & (KILN__REF_BUCKETS - 1);
}

void kiln__refs_put(kiln__refent_t **tab, kiln__refent_t *e)
{
    size_t b = ref_bucket(e->ref);
    e->next = tab[b];
    tab[b] = e;
}

kiln__refent_t *kiln__refs_take(kiln__refent_t **tab, kiln_ref_t ref)
{
    for (kiln__refent_t **pp = &tab[ref_bucket(ref)]; *pp; pp = &(*pp)->next)
        if ((*pp)->ref == ref) {
            kiln__refent_t *e = *pp;
            *pp = e->next;
            return e;
        }
    return NULL;
}

/* ---- Slots --------------------------------------------------------------- */

static kiln__slot_t *slot_at(kiln_sched_t *s, uint32_t idx)
{
    kiln__slot_t *chunk = atomic_load_explicit(&s->chunks[idx >> KILN__SLOT_BITS], memory_order_acquire);
    return chunk ? &chunk[idx & (KILN__SLOTS_PER_CHUNK - 1)] : NULL;
}

/* Any thread: is pid alive right now? */
static bool pid_alive(kiln_sched_t *s, kiln_pid_t pid)
{
    kiln__slot_t *sl = slot_at(s, KILN__PID_SLOT(pid));
    return sl && atomic_load_explicit(&sl->live_gen, memory_order_acquire) == KILN__PID_GEN(pid);
}

kiln_proc_t *kiln__proc_lookup(kiln_sched_t *s, kiln_pid_t pid)
{
    if (KILN__PID_SCHED(pid) != s->index || !pid_alive(s, pid)) return NULL;
    return slot_at(s, KILN__PID_SLOT(pid))->proc;
}

static int slot_alloc(kiln_sched_t *s, kiln_proc_t *p)
{
    pthread_mutex_lock(&s->slot_lock);
    uint32_t idx;
    if (s->free_slot) {
        idx = s->free_slot - 1;
        s->free_slot = slot_at(s, idx)->next_free;
    } else {
        if (s->n_slots >= (1u << 24)) {
            pthread_mutex_unlock(&s->slot_lock);
            return KILN_ENOMEM;
        }
        idx = s->n_slots++;
        if (!slot_at(s, idx))
            atomic_store_explicit(&s->chunks[idx >> KILN__SLOT_BITS],
                                  kiln_xcalloc(KILN__SLOTS_PER_CHUNK, sizeof(kiln__slot_t)), memory_order_release);
    }
    kiln__slot_t *sl = slot_at(s, idx);
    if (++sl->gen == 0) sl->gen = 1;
    sl->proc = p;
    p->pid = KILN__PID(s->index, idx, sl->gen);
    atomic_store_explicit(&sl->live_gen, sl->gen, memory_order_release);
    s->n_procs++;
    pthread_mutex_unlock(&s->slot_lock);
    return 0;
}

static void slot_free(kiln_sched_t *s, kiln_pid_t pid)
{
    uint32_t idx = KILN__PID_SLOT(pid);
    pthread_mutex_lock(&s->slot_lock);
    kiln__slot_t *sl = slot_at(s, idx);
    atomic_store_explicit(&sl->live_gen, 0, memory_order_release);
    sl->proc = NULL;
    sl->next_free = s->free_slot;
    s->free_slot = idx + 1;
    s->n_procs--;
    pthread_mutex_unlock(&s->slot_lock);
}

/* ---- Accessors ----------------------------------------------------------- */

kiln_proc_t *kiln_self(void)
{
    kiln_coro_t *c = kiln_coro_current();
    return c ? c->proc : NULL;
}

kiln_pid_t kiln_proc_pid(const kiln_proc_t *p)
{
    return p->pid;
}

void *kiln_proc_state(const kiln_proc_t *p)
{
    return p->state;
}

void kiln_proc_set_state(kiln_proc_t *p, void *state)
{
    p->state = state;
}

void *kiln__proc_subs(kiln_proc_t *p)
{
    return p->subs;
}

void kiln__proc_set_subs(kiln_proc_t *p, void *subs)
{
    p->subs = subs;
}

/* ---- Run queue ------------------------------------------------------------ */

static void make_runnable(kiln_proc_t *p)
{
    if (p->coro || (p->flags & P_RUNNABLE)) return; /* a running process drains its own mailbox */
    kiln_sched_t *s = p->sched;
    p->flags |= P_RUNNABLE;
    p->run_next = NULL;
    if (s->run_tail) s->run_tail->run_next = p;
    else s->run_head = p;
    s->run_tail = p;
}

bool kiln__proc_has_runnable(const kiln_sched_t *s)
{
    return s->run_head != NULL;
}

static void proc_main(void *arg);

void kiln__proc_run_queue(kiln_sched_t *s)
{
    kiln_proc_t *p = s->run_head, *end = s->run_tail;
    if (!p) return;
    s->run_head = s->run_tail = NULL;
    for (;;) {
        kiln_proc_t *next = p->run_next;
        bool last = p == end;
        p->flags &= ~P_RUNNABLE;
        if (kiln_coro_start(proc_main, p) < 0) {
            kiln_log(KILN_LOG_WARN, "scheduler %d: no stack for a process; retrying", s->index);
            make_runnable(p);
        }
        if (last) break;
        p = next;
    }
}

/* ---- Exit ---------------------------------------------------------------- */

static void route_to_waiter(kiln_runtime_t *rt, kiln_msg_t *m);

static kiln_msg_t *down_msg(kiln_ref_t ref, kiln_pid_t from, int reason)
{
    kiln_msg_t *m = kiln_msg_new(KILN_MSG_DOWN, NULL, 0);
    m->ref = ref;
    m->from = from;
    m->reason = reason;
    m->rt_flags = F_DOWN;
    return m;
}

static void unwatch_posted(void *arg);

/* Asks target's scheduler to drop the monitor entry ref. */
static void unwatch(kiln_runtime_t *rt, kiln_pid_t target, kiln_ref_t ref)
{
    mon_t *u = kiln_xmalloc(sizeof *u);
    u->ref = ref;
    u->pid = target;
    kiln_sched_t *s = KILN__PID_SCHED(target) < rt->n ? rt->scheds[KILN__PID_SCHED(target)] : NULL;
    if (!s) free(u);
    else if (s == kiln_sched_current()) unwatch_posted(u);
    else kiln_sched_post(s, unwatch_posted, u);
}

static mon_t *mon_take(mon_t **list, kiln_ref_t ref)
{
    for (mon_t **pp = list; *pp; pp = &(*pp)->next)
        if ((*pp)->ref == ref) {
            mon_t *m = *pp;
            *pp = m->next;
            return m;
        }
    return NULL;
}

static void unwatch_posted(void *arg)
{
    mon_t *u = arg;
    kiln_sched_t *s = kiln_sched_current();
    kiln_proc_t *p = s->closing ? NULL : kiln__proc_lookup(s, u->pid);
    if (p) free(mon_take(&p->watchers, u->ref));
    free(u);
}

/* Takes p off s's run queue. Only shutdown frees a queued process: one
 * process's terminate may exit another (a socket's channels), which queues it,
 * and shutdown then ends and frees that one in its turn. */
static void runq_remove(kiln_sched_t *s, kiln_proc_t *p)
{
    for (kiln_proc_t *q = s->run_head, *prev = NULL; q; prev = q, q = q->run_next) {
        if (q != p) continue;
        if (prev) prev->run_next = q->run_next;
        else s->run_head = q->run_next;
        if (s->run_tail == q) s->run_tail = prev;
        return;
    }
}

/* Ends p on its scheduler: terminate, then everything it owned. Called on p's
 * own coroutine (or a shutdown one); p is freed on return. */
static void proc_exit(kiln_proc_t *p, int reason)
{
    kiln_sched_t *s = p->sched;
    kiln_runtime_t *rt = s->rt;
    /* terminate runs as the process (kiln_self, kiln_receive work), so that a
     * supervisor can wait for its children there. */
    p->flags &= ~P_EXIT_PENDING;
    if (p->ops->terminate) p->ops->terminate(p, reason);
    if (p->coro) p->coro->proc = NULL;
    if (p->flags & P_RUNNABLE) runq_remove(s, p);
    kiln__pubsub_proc_exit(p);
    slot_free(s, p->pid); /* from here on, sends to p fail */
    for (kiln_msg_t *m = p->mbox_head, *n; m; m = n) {
        n = m->next;
        kiln_msg_free(m);
    }
    bool quiet = s->closing || atomic_load(&rt->stopping);
    for (mon_t *w = p->watchers, *n; w; w = n) {
        n = w->next;
        if (!quiet) {
            kiln_msg_t *m = down_msg(w->ref, p->pid, reason);
            if (w->pid) kiln_send(rt, w->pid, m);
            else route_to_waiter(rt, m);
        }
        free(w);
    }
    for (mon_t *h = p->holding, *n; h; h = n) {
        n = h->next;
        if (!quiet) unwatch(rt, h->pid, h->ref);
        free(h);
    }
    free(p);
}

static kiln_msg_t *mbox_pop(kiln_proc_t *p)
{
    kiln_msg_t *m = p->mbox_head;
    if (m && !(p->mbox_head = m->next)) p->mbox_tail = NULL;
    return m;
}

static void proc_main(void *arg)
{
    kiln_proc_t *p = arg;
    p->coro = kiln_coro_current();
    p->coro->proc = p;
    int rc = 0;
    if (!(p->flags & P_STARTED)) {
        p->flags |= P_STARTED;
        if (p->ops->init) rc = p->ops->init(p, p->init_arg); /* even when asked to exit: it sets the state */
    }
    for (int n = 0; rc == 0; n++) {
        if (p->flags & P_EXIT_PENDING) {
            rc = p->exit_reason ? p->exit_reason : KILN_PROC_STOP;
            break;
        }
        if (n == RUN_BATCH) { /* let the others run; come back next turn */
            p->coro = NULL;
            make_runnable(p);
            return;
        }
        kiln_msg_t *m = mbox_pop(p);
        if (!m) break;
        p->cur = m;
        p->cur_kept = false;
        rc = p->ops->handle_msg(p, m);
        p->cur = NULL;
        if (!p->cur_kept) kiln_msg_free(m);
    }
    if (rc) {
        proc_exit(p, rc == KILN_PROC_STOP ? 0 : rc);
        return;
    }
    p->coro->proc = NULL;
    p->coro = NULL;
}

/* ---- Spawn --------------------------------------------------------------- */

/* Like every posted task, this re-validates by pid: the process may have been
 * ended meanwhile (an exit request, or runtime shutdown, which frees it before
 * the leftover tasks are drained with `closing` set). The pid travels in the
 * argument pointer, as the target does in kiln_monitor. */
_Static_assert(sizeof(void *) >= sizeof(kiln_pid_t), "a pid is posted in a pointer");
static void start_posted(void *arg)
{
    kiln_sched_t *s = kiln_sched_current();
    kiln_proc_t *p = s->closing ? NULL : kiln__proc_lookup(s, (kiln_pid_t)(uintptr_t)arg);
    if (p) make_runnable(p);
}

int kiln_spawn(kiln_runtime_t *rt, kiln_sched_t *sched, const kiln_proc_ops_t *ops, void *arg, kiln_pid_t *out)
{
    if (!rt || !ops || ops->abi != KILN_PROC_ABI || !ops->handle_msg) return KILN_EINVAL;
    kiln_sched_t *cur = kiln_sched_current();
    kiln_sched_t *s = sched ? sched : cur && cur->rt == rt ? cur : rt->scheds[atomic_fetch_add(&rt->rr, 1) % (unsigned)rt->n];
    kiln_proc_t *p = kiln_xcalloc(1, sizeof *p);
    p->ops = ops;
    p->init_arg = arg;
    p->sched = s;
    if (slot_alloc(s, p) < 0) {
        free(p);
        return KILN_ENOMEM;
    }
    if (out) *out = p->pid;
    if (s == cur) make_runnable(p);
    else if (kiln_sched_post(s, start_posted, (void *)(uintptr_t)p->pid) < 0) {
        slot_free(s, p->pid);
        free(p);
        return KILN_ENOMEM;
    }
    return 0;
}

/* ---- Send ---------------------------------------------------------------- */

static bool matches(const kiln_msg_t *m, int tag, kiln_ref_t ref)
{
    return (tag == 0 || m->tag == tag) && (ref == 0 || m->ref == ref);
}

static void wake_receiver(kiln_proc_t *p, intptr_t value)
{
    p->flags &= ~P_WAIT_RECV;
    if (p->wait) kiln_timer_stop(&p->wait->timer);
    kiln_coro_wake(p->coro, value);
}

/* On the destination's scheduler: enqueue, or drop if the process is gone. */
static void deliver(kiln_sched_t *s, kiln_pid_t to, kiln_msg_t *m)
{
    kiln_proc_t *p = s->closing ? NULL : kiln__proc_lookup(s, to);
    if (!p) {
        if ((m->rt_flags & F_CALL) && !s->closing) {
            route_to_waiter(s->rt, down_msg(m->ref, to, KILN_ENOPROC));
        }
        kiln_msg_free(m);
        return;
    }
    if (m->rt_flags & F_DOWN) {
        mon_t *h = mon_take(&p->holding, m->ref);
        if (!h) { /* demonitored meanwhile */
            kiln_msg_free(m);
            return;
        }
        free(h);
    }
    if (m->rt_flags & F_CALL) {
        mon_t *w = kiln_xmalloc(sizeof *w);
        w->ref = m->ref;
        w->pid = 0;
        w->next = p->watchers;
        p->watchers = w;
    }
    m->next = NULL;
    if (p->mbox_tail) p->mbox_tail->next = m;
    else p->mbox_head = m;
    p->mbox_tail = m;
    if ((p->flags & P_WAIT_RECV) && matches(m, p->recv_tag, p->recv_ref)) wake_receiver(p, 0);
    else make_runnable(p);
}

static void deliver_posted(void *arg)
{
    kiln_msg_t *m = arg;
    deliver(kiln_sched_current(), m->rt_to, m);
}

int kiln_send(kiln_runtime_t *rt, kiln_pid_t to, kiln_msg_t *m)
{
    int si = KILN__PID_SCHED(to);
    if (!rt || !m || to == 0 || si >= rt->n || !pid_alive(rt->scheds[si], to)) {
        kiln_msg_free(m);
        return KILN_ENOPROC;
    }
    kiln_proc_t *self = kiln_self();
    if (!m->from && self) m->from = self->pid;
    kiln_sched_t *s = rt->scheds[si];
    if (s == kiln_sched_current()) {
        deliver(s, to, m);
        return 0;
    }
    m->rt_to = to;
    if (kiln_sched_post(s, deliver_posted, m) < 0) {
        kiln_msg_free(m);
        return KILN_ENOMEM;
    }
    return 0;
}

/* ---- Exit requests --------------------------------------------------------- */

typedef struct exit_req {
    kiln_pid_t pid;
    int reason;
} exit_req_t;

static void exit_posted(void *arg)
{
    exit_req_t *r = arg;
    kiln_sched_t *s = kiln_sched_current();
    kiln_proc_t *p = s->closing ? NULL : kiln__proc_lookup(s, r->pid);
    if (p && !(p->flags & P_EXIT_PENDING)) {
        p->flags |= P_EXIT_PENDING;
        p->exit_reason = r->reason;
        if (p->flags & P_WAIT_RECV) wake_receiver(p, KILN_ECLOSED);
        else make_runnable(p);
    }
    free(r);
}

int kiln_exit(kiln_runtime_t *rt, kiln_pid_t pid, int reason)
{
    int si = KILN__PID_SCHED(pid);
    if (!rt || pid == 0 || si >= rt->n || !pid_alive(rt->scheds[si], pid)) return KILN_ENOPROC;
    exit_req_t *r = kiln_xmalloc(sizeof *r);
    r->pid = pid;
    r->reason = reason;
    if (rt->scheds[si] == kiln_sched_current()) exit_posted(r);
    else if (kiln_sched_post(rt->scheds[si], exit_posted, r) < 0) {
        free(r);
        return KILN_ENOMEM;
    }
    return 0;
}

/* ---- Receive ------------------------------------------------------------- */

static void recv_timeout(kiln_timer_t *t)
{
    struct recv_wait *w = kiln_container_of(t, struct recv_wait, timer);
    w->p->flags &= ~P_WAIT_RECV;
    kiln_coro_wake(w->p->coro, KILN_ETIMEDOUT);
}

static kiln_msg_t *mbox_take(kiln_proc_t *p, int tag, kiln_ref_t ref)
{
    kiln_msg_t *prev = NULL;
    for (kiln_msg_t *m = p->mbox_head; m; prev = m, m = m->next) {
        if (!matches(m, tag, ref)) continue;
        if (prev) prev->next = m->next;
        else p->mbox_head = m->next;
        if (p->mbox_tail == m) p->mbox_tail = prev;
        m->next = NULL;
        return m;
    }
    return NULL;
}

int kiln_receive(int tag, kiln_ref_t ref, int64_t timeout_ms, kiln_msg_t **out)
{
    kiln_proc_t *p = kiln_self();
    if (!p) return KILN_ESTATE;
    int64_t deadline = timeout_ms > 0 ? kiln_loop_now_ms() + timeout_ms : 0;
    for (;;) {
        if (p->flags & P_EXIT_PENDING) return KILN_ECLOSED;
        kiln_msg_t *m = mbox_take(p, tag, ref);
        if (m) {
            *out = m;
            return 0;
        }
        if (timeout_ms == 0) return KILN_ETIMEDOUT;
        struct recv_wait w = { .p = p };
        p->recv_tag = tag;
        p->recv_ref = ref;
        p->flags |= P_WAIT_RECV;
        p->wait = &w;
        if (timeout_ms > 0) {
            int64_t left = deadline - kiln_loop_now_ms();
            kiln_timer_start(&w.timer, left > 0 ? (uint64_t)left : 0, recv_timeout);
        }
        intptr_t v = kiln_coro_park();
        kiln_timer_stop(&w.timer);
        p->wait = NULL;
        if (v == KILN_ETIMEDOUT) return KILN_ETIMEDOUT;
    }
}

/* ---- Call / reply -------------------------------------------------------- */

static void waiter_deliver(kiln_sched_t *s, kiln_msg_t *m)
{
    kiln__refent_t *e = s->closing ? NULL : kiln__refs_take(s->waiters, m->ref);
    if (!e) { /* the caller gave up (timeout) */
        kiln_msg_free(m);
        return;
    }
    waiter_t *w = kiln_container_of(e, waiter_t, e);
    w->reply = m;
    kiln_timer_stop(&w->timer);
    kiln_coro_wake(w->coro, 0);
}

static void waiter_posted(void *arg)
{
    waiter_deliver(kiln_sched_current(), arg);
}

static void route_to_waiter(kiln_runtime_t *rt, kiln_msg_t *m)
{
    kiln_sched_t *s = kiln__ref_sched(rt, m->ref);
    if (!s) kiln_msg_free(m);
    else if (s == kiln_sched_current()) waiter_deliver(s, m);
    else if (kiln_sched_post(s, waiter_posted, m) < 0) kiln_msg_free(m);
}

static void call_timeout(kiln_timer_t *t)
{
    waiter_t *w = kiln_container_of(t, waiter_t, timer);
    kiln__refs_take(w->coro->sched->waiters, w->e.ref);
    kiln_coro_wake(w->coro, KILN_ETIMEDOUT);
}

int kiln_call(kiln_runtime_t *rt, kiln_pid_t to, kiln_msg_t *req, int64_t timeout_ms, kiln_msg_t **reply)
{
    kiln_coro_t *c = kiln_coro_current();
    if (!c) {
        kiln_msg_free(req);
        return KILN_ESTATE;
    }
    kiln_sched_t *s = c->sched;
    waiter_t w = { .coro = c };
    w.e.ref = kiln__ref_new(s);
    req->ref = w.e.ref;
    req->rt_flags |= F_CALL;
    kiln__refs_put(s->waiters, &w.e);
    int rc = kiln_send(rt, to, req);
    if (rc < 0) {
        kiln__refs_take(s->waiters, w.e.ref);
        return rc;
    }
    if (timeout_ms >= 0) kiln_timer_start(&w.timer, (uint64_t)timeout_ms, call_timeout);
    intptr_t v = kiln_coro_park();
    kiln_timer_stop(&w.timer);
    if (v == KILN_ETIMEDOUT) return KILN_ETIMEDOUT;
    if (w.reply->rt_flags & F_DOWN) {
        kiln_msg_free(w.reply);
        return KILN_ENOPROC;
    }
    w.reply->rt_flags = 0;
    *reply = w.reply;
    return 0;
}

int kiln_reply(kiln_runtime_t *rt, const kiln_msg_t *req, kiln_msg_t *reply)
{
    if (!rt || !req || !reply || !(req->rt_flags & F_CALL) || !kiln__ref_sched(rt, req->ref)) {
        kiln_msg_free(reply);
        return KILN_EINVAL;
    }
    kiln_proc_t *self = kiln_self();
    if (self) free(mon_take(&self->watchers, req->ref));
    if (!reply->tag) reply->tag = KILN_MSG_REPLY;
    reply->ref = req->ref;
    reply->rt_flags = 0;
    if (!reply->from && self) reply->from = self->pid;
    route_to_waiter(rt, reply);
    return 0;
}

/* ---- Monitors ------------------------------------------------------------ */

static void watch_posted(void *arg)
{
    mon_t *w = arg; /* ref, pid = watcher; the target travels in rt_to-like fashion below */
    kiln_sched_t *s = kiln_sched_current();
    kiln_pid_t target = (kiln_pid_t)(uintptr_t)w->next;
    kiln_proc_t *p = s->closing ? NULL : kiln__proc_lookup(s, target);
    if (!p) {
        if (!s->closing) kiln_send(s->rt, w->pid, down_msg(w->ref, target, KILN_ENOPROC));
        free(w);
        return;
    }
    w->next = p->watchers;
    p->watchers = w;
}

kiln_ref_t kiln_monitor(kiln_pid_t pid)
{
    kiln_proc_t *self = kiln_self();
    if (!self) return 0;
    kiln_sched_t *s = self->sched;
    kiln_runtime_t *rt = s->rt;
    kiln_ref_t ref = kiln__ref_new(s);
    mon_t *h = kiln_xmalloc(sizeof *h);
    h->ref = ref;
    h->pid = pid;
    h->next = self->holding;
    self->holding = h;
    int si = KILN__PID_SCHED(pid);
    if (pid == 0 || si >= rt->n) {
        kiln_send(rt, self->pid, down_msg(ref, pid, KILN_ENOPROC));
        return ref;
    }
    mon_t *w = kiln_xmalloc(sizeof *w);
    w->ref = ref;
    w->pid = self->pid;
    w->next = (mon_t *)(uintptr_t)pid;
    if (rt->scheds[si] == s) watch_posted(w);
    else kiln_sched_post(rt->scheds[si], watch_posted, w);
    return ref;
}

void kiln_demonitor(kiln_ref_t ref)
{
    kiln_proc_t *self = kiln_self();
    if (!self) return;
    mon_t *h = mon_take(&self->holding, ref);
    if (!h) return;
    unwatch(self->sched->rt, h->pid, ref);
    free(h);
    kiln_msg_t *m = mbox_take(self, KILN_MSG_DOWN, ref); /* a DOWN already queued */
    kiln_msg_free(m);
}

/* ---- send_after / sleep ------------------------------------------------------ */

typedef struct after {
    kiln__refent_t e;
    kiln_timer_t timer;
    kiln_runtime_t *rt;
    kiln_pid_t to;
    kiln_msg_t *m;
} after_t;

static void after_fire(kiln_timer_t *t)
{
    after_t *a = kiln_container_of(t, after_t, timer);
    kiln__refs_take(t->sched->timers, a->e.ref);
    kiln_send(a->rt, a->to, a->m);
    free(a);
}

kiln_ref_t kiln_send_after(kiln_pid_t to, kiln_msg_t *m, uint64_t ms)
{
    kiln_sched_t *s = kiln_sched_current();
    if (!s || !m) {
        kiln_msg_free(m);
        return 0;
    }
    after_t *a = kiln_xcalloc(1, sizeof *a);
    a->e.ref = kiln__ref_new(s);
    a->rt = s->rt;
    a->to = to;
    a->m = m;
    if (!m->from && kiln_self()) m->from = kiln_self()->pid;
    kiln__refs_put(s->timers, &a->e);
    kiln_timer_start(&a->timer, ms, after_fire);
    return a->e.ref;
}

int kiln_cancel_timer(kiln_ref_t ref)
{
    kiln_sched_t *s = kiln_sched_current();
    if (!s || kiln__ref_sched(s->rt, ref) != s) return s ? KILN_ENOENT : KILN_ESTATE;
    kiln__refent_t *e = kiln__refs_take(s->timers, ref);
    if (!e) return KILN_ENOENT;
    after_t *a = kiln_container_of(e, after_t, e);
    kiln_timer_stop(&a->timer);
    kiln_msg_free(a->m);
    free(a);
    return 0;
}

typedef struct sleeper {
    kiln_timer_t timer;
    kiln_coro_t *coro;
} sleeper_t;

static void sleep_done(kiln_timer_t *t)
{
    kiln_coro_wake(kiln_container_of(t, sleeper_t, timer)->coro, 0);
}

int kiln_sleep(uint64_t ms)
{
    kiln_coro_t *c = kiln_coro_current();
    if (!c) return KILN_ESTATE;
    sleeper_t w = { .coro = c };
    kiln_timer_start(&w.timer, ms, sleep_done);
    kiln_coro_park();
    return 0;
}

/* ---- Shutdown ------------------------------------------------------------ */

static void shutdown_one(void *arg)
{
    kiln_proc_t *p = arg;
    if (p->coro) p->coro->proc = NULL; /* its parked frame never runs again */
    /* ...so the message its handler was running is never freed after it. */
    if (p->cur && !p->cur_kept) kiln_msg_free(p->cur);
    p->cur = NULL;
    p->coro = kiln_coro_current();
    p->coro->proc = p;
    proc_exit(p, KILN_ECLOSED);
}

/* Ends every process of s (terminate runs, no DOWNs) once the loop has
 * stopped; processes parked mid-wait lose their stack's contents. */
void kiln__proc_shutdown(kiln_sched_t *s)
{
    for (uint32_t i = 0; i < s->n_slots; i++) {
        kiln__slot_t *sl = slot_at(s, i);
        if (sl && atomic_load(&sl->live_gen)) {
            if (kiln_coro_start(shutdown_one, sl->proc) < 0) {
                kiln_log(KILN_LOG_ERROR, "scheduler %d: no stack to end a process", s->index);
                return;
            }
        }
    }
    s->run_head = s->run_tail = NULL;
}
