/* Presence replicas as a CRDT, on simulated nodes: random operations on three
 * replicas, then merges in every order, must converge (order-independent),
 * re-merging changes nothing (idempotent), a concurrent add and remove end the
 * same everywhere, and a silent node's entries turn into leaves. Also the
 * presence_state / presence_diff shapes the client's Presence class reads. */
#include "kiln/presence.h"
#include "kiln_test.h"

#include <stdlib.h>

static kiln_presence_replica_t *R[3];
static const char *names[3] = { "a", "b", "c" };

static void reset(void)
{
    for (int i = 0; i < 3; i++) {
        kiln_presence_replica_free(R[i]);
        R[i] = kiln_presence_replica_new(names[i]);
    }
}

static int same(const kiln_presence_replica_t *x, const kiln_presence_replica_t *y)
{
    json_t *a = kiln_presence_replica_dump(x), *b = kiln_presence_replica_dump(y);
    int eq = json_equal(a, b);
    json_decref(a);
    json_decref(b);
    return eq;
}

/* One random step on replica i: add, remove or a merge from another. */
static void random_step(unsigned *seed)
{
    int i = rand_r(seed) % 3, op = rand_r(seed) % 4;
    char key[8];
    snprintf(key, sizeof key, "u%d", rand_r(seed) % 4);
    kiln_pid_t pid = (kiln_pid_t)(1 + rand_r(seed) % 5);
    if (op < 2) kiln_presence_replica_add(R[i], "t", key, pid, NULL, NULL);
    else if (op == 2) kiln_presence_replica_remove(R[i], "t", key, pid, NULL);
    else kiln_presence_replica_merge(R[i], R[(i + 1 + rand_r(seed) % 2) % 3], NULL);
}

static void converge(const int order[3])
{
    /* Two rounds of pairwise merges in the given order reach every replica. */
    for (int round = 0; round < 2; round++)
        for (int k = 0; k < 3; k++)
            for (int j = 0; j < 3; j++)
                if (j != order[k]) kiln_presence_replica_merge(R[order[k]], R[j], NULL);
}

static void test_merge_order_independent_and_idempotent(void)
{
    static const int orders[6][3] = { { 0, 1, 2 }, { 0, 2, 1 }, { 1, 0, 2 }, { 1, 2, 0 }, { 2, 0, 1 }, { 2, 1, 0 } };
    for (unsigned trial = 0; trial < 200; trial++) {
        json_t *first = NULL;
        for (int o = 0; o < 6; o++) {
            reset();
            unsigned seed = trial;
            for (int s = 0; s < 40; s++) random_step(&seed);
            converge(orders[o]);
            KT_ASSERT(same(R[0], R[1]) && same(R[1], R[2]));
            json_t *d = kiln_presence_replica_dump(R[0]);
            if (!first) first = d;
            else {
                KT_ASSERT(json_equal(first, d));
                json_decref(d);
            }
            /* Idempotent: merging again changes nothing and reports no diff. */
            json_t *diff = json_object();
            kiln_presence_replica_merge(R[0], R[1], diff);
            kiln_presence_replica_merge(R[0], R[0], diff);
            KT_ASSERT_EQ_INT(json_object_size(diff), 0);
            json_decref(diff);
        }
        json_decref(first);
    }
}

static void test_concurrent_add_and_remove_resolve_the_same(void)
{
    reset();
    kiln_presence_replica_add(R[0], "t", "alice", 1, NULL, NULL);
    kiln_presence_replica_merge(R[1], R[0], NULL);
    /* Concurrently: a removes alice's meta, b adds a second meta for alice. */
    kiln_presence_replica_remove(R[0], "t", "alice", 1, NULL);
    kiln_presence_replica_add(R[1], "t", "alice", 2, NULL, NULL);
    kiln_presence_replica_merge(R[0], R[1], NULL);
    kiln_presence_replica_merge(R[1], R[0], NULL);
    KT_ASSERT(same(R[0], R[1]));
    json_t *l = kiln_presence_replica_list(R[0], "t");
    json_t *metas = json_object_get(json_object_get(l, "alice"), "metas");
    KT_ASSERT_EQ_INT(json_array_size(metas), 1); /* the removed meta stays removed, the new one stays */
    KT_ASSERT_EQ_STR(json_string_value(json_object_get(json_array_get(metas, 0), "phx_ref")), "b.1");
    json_decref(l);
}

static void test_silent_replica_turns_into_leaves(void)
{
    reset();
    kiln_presence_replica_add(R[1], "t", "bob", 7, NULL, NULL);
    kiln_presence_replica_add(R[0], "t", "ann", 3, NULL, NULL);
    kiln_presence_replica_merge(R[0], R[1], NULL);
    json_t *diff = json_object();
    KT_ASSERT_EQ_INT(kiln_presence_replica_node_down(R[0], "b", diff), 1);
    json_t *leaves = json_object_get(json_object_get(diff, "t"), "leaves");
    KT_ASSERT(json_object_get(leaves, "bob") != NULL);
    KT_ASSERT_EQ_INT(json_object_size(json_object_get(json_object_get(diff, "t"), "joins")), 0);
    json_t *l = kiln_presence_replica_list(R[0], "t");
    KT_ASSERT(json_object_get(l, "bob") == NULL && json_object_get(l, "ann") != NULL);
    json_decref(l);
    json_decref(diff);
}

static void test_state_and_diff_shapes(void)
{
    reset();
    json_t *meta = json_pack("{s:i}", "online_at", 5), *diff = json_object();
    const char *ref = kiln_presence_replica_add(R[0], "presence:lobby", "alice", 9, meta, diff);
    KT_ASSERT(ref != NULL);
    char *d = json_dumps(diff, JSON_SORT_KEYS | JSON_COMPACT);
    KT_ASSERT_EQ_STR(d, "{\"presence:lobby\":{\"joins\":{\"alice\":{\"metas\":[{\"online_at\":5,\"phx_ref\":\"a.1\"}]}},"
                        "\"leaves\":{}}}");
    free(d);
    json_t *st = kiln_presence_replica_list(R[0], "presence:lobby");
    d = json_dumps(st, JSON_SORT_KEYS | JSON_COMPACT);
    KT_ASSERT_EQ_STR(d, "{\"alice\":{\"metas\":[{\"online_at\":5,\"phx_ref\":\"a.1\"}]}}");
    free(d);
    json_decref(st);
    json_decref(meta);
    json_decref(diff);
}

int main(void)
{
    KT_RUN(test_merge_order_independent_and_idempotent);
    KT_RUN(test_concurrent_add_and_remove_resolve_the_same);
    KT_RUN(test_silent_replica_turns_into_leaves);
    KT_RUN(test_state_and_diff_shapes);
    for (int i = 0; i < 3; i++) kiln_presence_replica_free(R[i]);
    return kt_done();
}
