/* Local PubSub: per-scheduler topic tables and once-per-scheduler fan-out.
 *
 * Each scheduler owns a chained hash of topics; a topic holds a doubly linked
 * list of subscriptions, and each subscription is also on its process's list
 * (kiln__proc_subs), so exit removes them all in O(subscriptions). Only the
 * owning scheduler touches its table: subscribe/unsubscribe run in the
 * process, and a broadcast reaches other schedulers as one posted task per
 * scheduler carrying one reference on the shared message. A per-scheduler
 * atomic count of subscriptions lets a broadcast skip schedulers that have
 * none, without looking at their tables. */
#include "kiln/pubsub.h"
#include "kiln/telemetry.h"

#include <stdlib.h>
#include <string.h>

#include "runtime_int.h"

typedef struct sub sub_t;
typedef struct topic {
    struct topic *next; /* hash chain */
    sub_t *subs;
    size_t n;
    char name[];
} topic_t;

struct sub {
    sub_t *t_next, *t_prev; /* topic list */
    sub_t *p_next;          /* process list */
    topic_t *topic;
    kiln_proc_t *proc;
    kiln_pubsub_fastlane_fn fastlane; /* or NULL: a mailbox message */
};

typedef struct table {
    topic_t **buckets;
    size_t n_buckets, n_topics;
    atomic_size_t n_subs; /* read by broadcasters on any thread */
} table_t;

typedef struct shared {
    const kiln_pubsub_adapter_t *ops;
    void *ud;
} shared_t;

/* ---- Shared messages ------------------------------------------------------- */

kiln_pubsub_msg_t *kiln_pubsub_msg_ref(kiln_pubsub_msg_t *m)
{
    __atomic_add_fetch(&m->refs, 1, __ATOMIC_RELAXED);
    return m;
}

void kiln_pubsub_msg_unref(kiln_pubsub_msg_t *m)
{
    if (m && __atomic_sub_fetch(&m->refs, 1, __ATOMIC_ACQ_REL) == 0) free(m);
}

static void unref_cb(void *p)
{
    kiln_pubsub_msg_unref(p);
}

/* ---- Tables -------------------------------------------------------------- */

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static table_t *table_of(kiln_sched_t *s, bool create)
{
    table_t *t = atomic_load_explicit(&s->pubsub, memory_order_acquire);
    if (!t && create) {
        t = kiln_xcalloc(1, sizeof *t);
        t->n_buckets = 64;
        t->buckets = kiln_xcalloc(t->n_buckets, sizeof *t->buckets);
        atomic_store_explicit(&s->pubsub, t, memory_order_release);
    }
    return t;
}

static topic_t **topic_slot(table_t *t, const char *name)
{
    topic_t **pp = &t->buckets[hash(name) & (t->n_buckets - 1)];
    while (*pp && strcmp((*pp)->name, name) != 0) pp = &(*pp)->next;
    return pp;
}

static void grow(table_t *t)
{
    size_t n = t->n_buckets * 2;
    topic_t **b = kiln_xcalloc(n, sizeof *b);
    for (size_t i = 0; i < t->n_buckets; i++)
        for (topic_t *tp = t->buckets[i], *next; tp; tp = next) {
            next = tp->next;
            topic_t **slot = &b[hash(tp->name) & (n - 1)];
            tp->next = *slot;
            *slot = tp;
        }
    free(t->buckets);
    t->buckets = b;
    t->n_buckets = n;
}

static void sub_remove(table_t *t, sub_t *sb)
{
    topic_t *tp = sb->topic;
    if (sb->t_prev) sb->t_prev->t_next = sb->t_next;
    else tp->subs = sb->t_next;
    if (sb->t_next) sb->t_next->t_prev = sb->t_prev;
    atomic_fetch_sub(&t->n_subs, 1);
    if (--tp->n == 0) {
        topic_t **slot = topic_slot(t, tp->name);
        *slot = tp->next;
        t->n_topics--;
        free(tp);
    }
    free(sb);
}

/* ---- Subscribe ----------------------------------------------------------- */

int kiln_pubsub_subscribe(const char *topic)
{
    return kiln_pubsub_subscribe_fastlane(topic, NULL);
}

int kiln_pubsub_subscribe_fastlane(const char *topic, kiln_pubsub_fastlane_fn fastlane)
{
    kiln_proc_t *p = kiln_self();
    if (!p) return KILN_ESTATE;
    if (!topic || !*topic) return KILN_EINVAL;
    for (sub_t *sb = kiln__proc_subs(p); sb; sb = sb->p_next)
        if (strcmp(sb->topic->name, topic) == 0) {
            sb->fastlane = fastlane;
            return 0;
        }
    table_t *t = table_of(kiln_sched_current(), true);
    topic_t **slot = topic_slot(t, topic);
    if (!*slot) {
        size_t n = strlen(topic) + 1;
        topic_t *tp = kiln_xcalloc(1, sizeof *tp + n);
        memcpy(tp->name, topic, n);
        *slot = tp;
        if (++t->n_topics > t->n_buckets * 2) grow(t);
        slot = topic_slot(t, topic);
    }
    topic_t *tp = *slot;
    sub_t *sb = kiln_xcalloc(1, sizeof *sb);
    sb->topic = tp;
    sb->proc = p;
    sb->fastlane = fastlane;
    sb->t_next = tp->subs;
    if (tp->subs) tp->subs->t_prev = sb;
    tp->subs = sb;
    tp->n++;
    sb->p_next = kiln__proc_subs(p);
    kiln__proc_set_subs(p, sb);
    atomic_fetch_add(&t->n_subs, 1);
    return 0;
}

int kiln_pubsub_unsubscribe(const char *topic)
{
    kiln_proc_t *p = kiln_self();
    if (!p) return KILN_ESTATE;
    sub_t *head = kiln__proc_subs(p), *prev = NULL;
    for (sub_t *sb = head; sb; prev = sb, sb = sb->p_next) {
        if (!topic || strcmp(sb->topic->name, topic) != 0) continue;
        if (prev) prev->p_next = sb->p_next;
        else kiln__proc_set_subs(p, sb->p_next);
        sub_remove(table_of(kiln_sched_current(), false), sb);
        return 0;
    }
    return KILN_ENOENT;
}

void kiln__pubsub_proc_exit(kiln_proc_t *p)
{
    sub_t *sb = kiln__proc_subs(p);
    if (!sb) return;
    table_t *t = table_of(kiln_sched_current(), false);
    while (sb) {
        sub_t *next = sb->p_next;
        sub_remove(t, sb);
        sb = next;
    }
    kiln__proc_set_subs(p, NULL);
}

size_t kiln_pubsub_local_count(const char *topic)
{
    kiln_sched_t *s = kiln_sched_current();
    table_t *t = s ? table_of(s, false) : NULL;
    topic_t *tp = t ? *topic_slot(t, topic) : NULL;
    return tp ? tp->n : 0;
}

/* ---- Broadcast ----------------------------------------------------------- */

/* On one scheduler: each local subscriber's fastlane, or one message per
 * subscriber holding a ref. The next link is read before a fastlane runs
 * (it may end its own subscription by closing). */
static void fanout_here(void *arg)
{
    kiln_pubsub_msg_t *m = arg;
    kiln_sched_t *s = kiln_sched_current();
    table_t *t = s->closing ? NULL : table_of(s, false);
    topic_t *tp = t ? *topic_slot(t, m->topic) : NULL;
    size_t delivered = 0;
    for (sub_t *sb = tp ? tp->subs : NULL, *next; sb; sb = next) {
        next = sb->t_next;
        kiln_pid_t pid = kiln_proc_pid(sb->proc);
        if (pid == m->except) continue;
        delivered++;
        if (sb->fastlane && sb->fastlane(sb->proc, m) == 0) continue;
        kiln_msg_t *msg = kiln_msg_wrap(KILN_MSG_PUBSUB, kiln_pubsub_msg_ref(m), m->len, unref_cb);
        msg->from = m->from;
        kiln_send(s->rt, pid, msg);
    }
    if (delivered && kiln_telemetry_enabled("kiln.pubsub.fanout"))
        kiln_telemetry_execute("kiln.pubsub.fanout",
                               KILN_MEASUREMENTS({ "delivered", (double)delivered },
                                                 { "duration_us", (double)(kiln_now_ns() - m->at_ns) / 1e3 }),
                               KILN_METADATA({ "topic", m->topic }));
    kiln_pubsub_msg_unref(m);
}

int kiln_pubsub_local_fanout(kiln_runtime_t *rt, kiln_pubsub_msg_t *m)
{
    kiln_sched_t *cur = kiln_sched_current();
    for (int i = 0; i < rt->n; i++) {
        kiln_sched_t *s = rt->scheds[i];
        table_t *t = atomic_load_explicit(&s->pubsub, memory_order_acquire);
        if (!t || atomic_load(&t->n_subs) == 0) continue;
        kiln_pubsub_msg_ref(m);
        if (s == cur) fanout_here(m);
        else if (kiln_sched_post(s, fanout_here, m) < 0) kiln_pubsub_msg_unref(m);
    }
    return 0;
}

static int local_broadcast(void *ud, kiln_runtime_t *rt, kiln_pubsub_msg_t *m)
{
    (void)ud;
    return kiln_pubsub_local_fanout(rt, m);
}

const kiln_pubsub_adapter_t kiln_pubsub_local_adapter = {
    .abi = KILN_PUBSUB_ADAPTER_ABI, .name = "local", .broadcast = local_broadcast
};

int kiln_pubsub_set_adapter(kiln_runtime_t *rt, const kiln_pubsub_adapter_t *ops, void *ud)
{
    if (!rt || !ops || ops->abi != KILN_PUBSUB_ADAPTER_ABI || !ops->broadcast) return KILN_EINVAL;
    shared_t *sh = rt->pubsub;
    if (!sh) rt->pubsub = sh = kiln_xcalloc(1, sizeof *sh);
    sh->ops = ops;
    sh->ud = ud;
    return 0;
}

static int broadcast(kiln_runtime_t *rt, kiln_pid_t from, kiln_pid_t except, const char *topic, const void *data,
                     size_t len)
{
    if (!rt || !topic || !*topic || (!data && len)) return KILN_EINVAL;
    size_t tl = strlen(topic) + 1;
    kiln_pubsub_msg_t *m = kiln_xmalloc(sizeof *m + tl + len + 1);
    char *p = (char *)(m + 1);
    memcpy(p, topic, tl);
    if (len) memcpy(p + tl, data, len);
    p[tl + len] = 0;
    m->refs = 1;
    m->from = from;
    m->except = except;
    m->topic = p;
    m->data = p + tl;
    m->len = len;
    m->at_ns = kiln_now_ns();
    shared_t *sh = rt->pubsub;
    int rc = sh ? sh->ops->broadcast(sh->ud, rt, m) : local_broadcast(NULL, rt, m);
    kiln_pubsub_msg_unref(m);
    return rc;
}

int kiln_pubsub_broadcast_from(kiln_runtime_t *rt, kiln_pid_t from, const char *topic, const void *data, size_t len)
{
    return broadcast(rt, from, from, topic, data, len);
}

int kiln_pubsub_broadcast(kiln_runtime_t *rt, const char *topic, const void *data, size_t len)
{
    kiln_proc_t *self = kiln_self();
    return broadcast(rt, self ? kiln_proc_pid(self) : 0, 0, topic, data, len);
}

/* ---- Teardown ------------------------------------------------------------ */

void kiln__pubsub_sched_free(kiln_sched_t *s)
{
    table_t *t = table_of(s, false);
    if (!t) return;
    for (size_t i = 0; i < t->n_buckets; i++)
        for (topic_t *tp = t->buckets[i], *next; tp; tp = next) {
            next = tp->next;
            for (sub_t *sb = tp->subs, *n; sb; sb = n) {
                n = sb->t_next;
                free(sb);
            }
            free(tp);
        }
    free(t->buckets);
    free(t);
    s->pubsub = NULL;
}

void kiln__pubsub_rt_free(kiln_runtime_t *rt)
{
    free(rt->pubsub);
    rt->pubsub = NULL;
}
