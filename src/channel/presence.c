/* The node's presence process: one replica (presence_replica.c) owned by one
 * process, so no lock; channels talk to it with kiln_call. It monitors every
 * process that tracks something: a DOWN untracks all of that process's metas,
 * which covers phx_leave, a crashed channel and a closed socket alike. Every
 * change is broadcast as presence_diff on its topic (encoded once, like any
 * broadcast).
 *
 * One presence process per OS process: its pid is a global, set by
 * kiln_presence_start. */
#include "kiln/presence.h"
#include "channel/channel_int.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

enum { P_TRACK = KILN_MSG_USER + 900, P_UNTRACK, P_LIST };

typedef struct preq {
    kiln_pid_t pid;
    json_t *meta;
    char *key;
    char topic[];
} preq_t;

typedef struct pstate {
    kiln_presence_replica_t *r;
    kiln_pid_t *mon; /* monitored pids */
    size_t n_mon, cap_mon;
} pstate_t;

static _Atomic kiln_pid_t presence_pid;
static kiln_runtime_t *presence_rt;

static void preq_free(void *p)
{
    preq_t *q = p;
    json_decref(q->meta);
    free(q->key);
    free(q);
}

static void json_free_cb(void *p)
{
    json_decref(p);
}

static void broadcast_diff(json_t *diff)
{
    const char *topic;
    json_t *d;
    json_object_foreach(diff, topic, d) kiln__bc_send(presence_rt, 0, topic, "presence_diff", d);
}

static void watch(pstate_t *st, kiln_pid_t pid)
{
    for (size_t i = 0; i < st->n_mon; i++)
        if (st->mon[i] == pid) return;
    if (st->n_mon == st->cap_mon) {
        size_t cap = st->cap_mon ? st->cap_mon * 2 : 16;
        kiln_pid_t *m = realloc(st->mon, cap * sizeof *m);
        if (!m) return;
        st->mon = m;
        st->cap_mon = cap;
    }
    st->mon[st->n_mon++] = pid;
    kiln_monitor(pid);
}

static void forget(pstate_t *st, kiln_pid_t pid)
{
    for (size_t i = 0; i < st->n_mon; i++)
        if (st->mon[i] == pid) {
            st->mon[i] = st->mon[--st->n_mon];
            return;
        }
}

static int p_init(kiln_proc_t *self, void *arg)
{
    (void)arg;
    pstate_t *st = calloc(1, sizeof *st);
    if (!st || !(st->r = kiln_presence_replica_new("local"))) {
        free(st);
        return KILN_ENOMEM;
    }
    kiln_proc_set_state(self, st);
    return 0;
}

static int p_handle(kiln_proc_t *self, kiln_msg_t *m)
{
    pstate_t *st = kiln_proc_state(self);
    json_t *diff = json_object();
    kiln_msg_t *reply = NULL;
    if (m->tag == KILN_MSG_DOWN) {
        forget(st, m->from);
        kiln_presence_replica_remove(st->r, NULL, NULL, m->from, diff);
    } else if (m->tag == P_TRACK || m->tag == P_UNTRACK) {
        preq_t *q = m->data;
        if (m->tag == P_TRACK) {
            watch(st, q->pid);
            kiln_presence_replica_add(st->r, q->topic, q->key, q->pid, q->meta, diff);
        } else {
            kiln_presence_replica_remove(st->r, q->topic, q->key, q->pid, diff);
        }
        reply = kiln_msg_new(KILN_MSG_REPLY, NULL, 0);
    } else if (m->tag == P_LIST) {
        preq_t *q = m->data;
        reply = kiln_msg_wrap(KILN_MSG_REPLY, kiln_presence_replica_list(st->r, q->topic), 0, json_free_cb);
    }
    broadcast_diff(diff); /* before the reply: the tracker's own join is on its way first */
    json_decref(diff);
    if (reply) kiln_reply(presence_rt, m, reply);
    return 0;
}

static void p_terminate(kiln_proc_t *self, int reason)
{
    (void)reason;
    pstate_t *st = kiln_proc_state(self);
    if (!st) return;
    kiln_presence_replica_free(st->r);
    free(st->mon);
    free(st);
    atomic_store(&presence_pid, 0);
}

static const kiln_proc_ops_t presence_ops = {
    .abi = KILN_PROC_ABI, .init = p_init, .handle_msg = p_handle, .terminate = p_terminate
};

int kiln_presence_start(kiln_runtime_t *rt, void *arg, kiln_pid_t *out)
{
    (void)arg;
    kiln_pid_t pid;
    presence_rt = rt;
    int rc = kiln_spawn(rt, NULL, &presence_ops, NULL, &pid);
    if (rc < 0) return rc;
    atomic_store(&presence_pid, pid);
    if (out) *out = pid;
    return 0;
}

static int request(kiln_runtime_t *rt, int tag, kiln_pid_t pid, const char *topic, const char *key,
                   const json_t *meta, kiln_msg_t **reply)
{
    kiln_pid_t to = atomic_load(&presence_pid);
    if (!to) return KILN_ENOPROC;
    size_t tl = strlen(topic) + 1;
    preq_t *q = calloc(1, sizeof *q + tl);
    if (!q) return KILN_ENOMEM;
    memcpy(q->topic, topic, tl);
    q->pid = pid;
    q->key = key ? strdup(key) : NULL;
    q->meta = meta ? json_deep_copy(meta) : NULL;
    return kiln_call(rt, to, kiln_msg_wrap(tag, q, sizeof *q, preq_free), 5000, reply);
}

int kiln_presence_track(kiln_channel_t *ch, const char *key, const json_t *meta)
{
    if (!key) return KILN_EINVAL;
    kiln_msg_t *r = NULL;
    int rc = request(ch->rt, P_TRACK, ch->pid, ch->topic, key, meta, &r);
    kiln_msg_free(r);
    return rc;
}

int kiln_presence_untrack(kiln_channel_t *ch, const char *key)
{
    kiln_msg_t *r = NULL;
    int rc = request(ch->rt, P_UNTRACK, ch->pid, ch->topic, key, NULL, &r);
    kiln_msg_free(r);
    return rc;
}

json_t *kiln_presence_list(kiln_runtime_t *rt, const char *topic)
{
    kiln_msg_t *r = NULL;
    if (request(rt, P_LIST, 0, topic, NULL, NULL, &r) < 0 || !r) return NULL;
    json_t *list = r->data ? json_deep_copy(r->data) : NULL; /* jansson refcounts are not atomic: our own copy */
    kiln_msg_free(r);
    return list;
}
