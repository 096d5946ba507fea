/* Presence replica: an observed-remove set of metas with per-node counters
 * (kiln/presence.h explains the merge rule).
 *
 * Entries sit in one array and contexts in another; a linear scan is enough
 * for the sizes one node tracks per topic today, and keeps the merge rule
 * readable. Counters of one node are contiguous (a node stamps its own adds
 * in order and replicas ship whole states), so "seen" is just
 * counter <= context[node]. */
#include "kiln/presence.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct entry {
    char *node, *topic, *key, *ref;
    uint64_t ctr;
    kiln_pid_t pid;
    json_t *meta; /* includes phx_ref */
} entry_t;

typedef struct ctx {
    char *node;
    uint64_t max;
} ctx_t;

struct kiln_presence_replica {
    char *node;
    entry_t *e;
    size_t n, cap;
    ctx_t *c;
    size_t nc, capc;
};

kiln_presence_replica_t *kiln_presence_replica_new(const char *node)
{
    kiln_presence_replica_t *r = calloc(1, sizeof *r);
    if (r && !(r->node = strdup(node))) {
        free(r);
        return NULL;
    }
    return r;
}

static void entry_free(entry_t *e)
{
    free(e->node);
    free(e->topic);
    free(e->key);
    free(e->ref);
    json_decref(e->meta);
}

void kiln_presence_replica_free(kiln_presence_replica_t *r)
{
    if (!r) return;
    for (size_t i = 0; i < r->n; i++) entry_free(&r->e[i]);
    for (size_t i = 0; i < r->nc; i++) free(r->c[i].node);
    free(r->e);
    free(r->c);
    free(r->node);
    free(r);
}

static uint64_t *ctx_slot(kiln_presence_replica_t *r, const char *node, int create)
{
    for (size_t i = 0; i < r->nc; i++)
        if (strcmp(r->c[i].node, node) == 0) return &r->c[i].max;
    if (!create) return NULL;
    if (r->nc == r->capc) {
        size_t cap = r->capc ? r->capc * 2 : 4;
        ctx_t *c = realloc(r->c, cap * sizeof *c);
        if (!c) return NULL;
        r->c = c;
        r->capc = cap;
    }
    r->c[r->nc] = (ctx_t){ strdup(node), 0 };
    return &r->c[r->nc++].max;
}

static uint64_t seen(const kiln_presence_replica_t *r, const char *node)
{
    uint64_t *m = ctx_slot((kiln_presence_replica_t *)r, node, 0);
    return m ? *m : 0;
}

static const entry_t *find(const kiln_presence_replica_t *r, const char *node, uint64_t ctr)
{
    for (size_t i = 0; i < r->n; i++)
        if (r->e[i].ctr == ctr && strcmp(r->e[i].node, node) == 0) return &r->e[i];
    return NULL;
}

/* diff[topic][side][key].metas += meta */
static void diff_put(json_t *diff, const entry_t *e, const char *side)
{
    if (!diff) return;
    json_t *t = json_object_get(diff, e->topic);
    if (!t) json_object_set_new(diff, e->topic, t = json_pack("{s:{}, s:{}}", "joins", "leaves"));
    json_t *s = json_object_get(t, side), *k = json_object_get(s, e->key);
    if (!k) json_object_set_new(s, e->key, k = json_pack("{s:[]}", "metas"));
    json_array_append(json_object_get(k, "metas"), e->meta);
}

static int push_entry(kiln_presence_replica_t *r, const entry_t *src, json_t *diff)
{
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 8;
        entry_t *e = realloc(r->e, cap * sizeof *e);
        if (!e) return KILN_ENOMEM;
        r->e = e;
        r->cap = cap;
    }
    entry_t *e = &r->e[r->n];
    *e = (entry_t){ strdup(src->node), strdup(src->topic), strdup(src->key), strdup(src->ref), src->ctr, src->pid,
                    json_deep_copy(src->meta) };
    if (!e->node || !e->topic || !e->key || !e->ref || !e->meta) {
        entry_free(e);
        return KILN_ENOMEM;
    }
    r->n++;
    diff_put(diff, e, "joins");
    return 0;
}

static void drop_at(kiln_presence_replica_t *r, size_t i, json_t *diff)
{
    diff_put(diff, &r->e[i], "leaves");
    entry_free(&r->e[i]);
    r->e[i] = r->e[--r->n];
}

const char *kiln_presence_replica_add(kiln_presence_replica_t *r, const char *topic, const char *key, kiln_pid_t pid,
                                      const json_t *meta, json_t *diff)
{
    uint64_t *ctr = ctx_slot(r, r->node, 1);
    if (!ctr || !topic || !key) return NULL;
    char ref[96];
    snprintf(ref, sizeof ref, "%s.%" PRIu64, r->node, *ctr + 1);
    json_t *m = meta && json_is_object(meta) ? json_deep_copy(meta) : json_object();
    json_object_set_new(m, "phx_ref", json_string(ref));
    entry_t e = { r->node, (char *)topic, (char *)key, ref, *ctr + 1, pid, m };
    int rc = push_entry(r, &e, diff);
    json_decref(m);
    if (rc < 0) return NULL;
    ++*ctr;
    return r->e[r->n - 1].ref;
}

int kiln_presence_replica_remove(kiln_presence_replica_t *r, const char *topic, const char *key, kiln_pid_t pid,
                                 json_t *diff)
{
    int n = 0;
    for (size_t i = r->n; i-- > 0;) {
        entry_t *e = &r->e[i];
        if (e->pid != pid || (topic && strcmp(e->topic, topic)) || (key && strcmp(e->key, key))) continue;
        drop_at(r, i, diff);
        n++;
    }
    return n;
}

int kiln_presence_replica_merge(kiln_presence_replica_t *r, const kiln_presence_replica_t *o, json_t *diff)
{
    /* Ours that the other side saw and no longer has: it removed them. */
    for (size_t i = r->n; i-- > 0;) {
        entry_t *e = &r->e[i];
        if (e->ctr <= seen(o, e->node) && !find(o, e->node, e->ctr)) drop_at(r, i, diff);
    }
    /* Theirs that we never saw: adds we did not know about. */
    for (size_t i = 0; i < o->n; i++) {
        const entry_t *e = &o->e[i];
        if (e->ctr > seen(r, e->node) && !find(r, e->node, e->ctr) && push_entry(r, e, diff) < 0) return KILN_ENOMEM;
    }
    for (size_t i = 0; i < o->nc; i++) {
        uint64_t *m = ctx_slot(r, o->c[i].node, 1);
        if (!m) return KILN_ENOMEM;
        if (o->c[i].max > *m) *m = o->c[i].max;
    }
    return 0;
}

int kiln_presence_replica_node_down(kiln_presence_replica_t *r, const char *node, json_t *diff)
{
    int n = 0;
    for (size_t i = r->n; i-- > 0;)
        if (strcmp(r->e[i].node, node) == 0) {
            drop_at(r, i, diff);
            n++;
        }
    return n;
}

json_t *kiln_presence_replica_list(const kiln_presence_replica_t *r, const char *topic)
{
    json_t *out = json_object();
    for (size_t i = 0; i < r->n; i++) {
        const entry_t *e = &r->e[i];
        if (strcmp(e->topic, topic) != 0) continue;
        json_t *k = json_object_get(out, e->key);
        if (!k) json_object_set_new(out, e->key, k = json_pack("{s:[]}", "metas"));
        json_array_append(json_object_get(k, "metas"), e->meta);
    }
    return out;
}

json_t *kiln_presence_replica_dump(const kiln_presence_replica_t *r)
{
    json_t *out = json_object();
    for (size_t i = 0; i < r->n; i++) {
        const entry_t *e = &r->e[i];
        char id[160];
        snprintf(id, sizeof id, "%s/%s/%s", e->topic, e->key, e->ref);
        json_object_set(out, id, e->meta);
    }
    return out;
}
