/* PubSub: fan-out across schedulers, broadcast_from, unsubscribe, automatic
 * unsubscribe on exit, and the adapter seam. */
#include "kiln/pubsub.h"
#include "kiln_test.h"
#include "rt_test_util.h"

#include <stdatomic.h>
#include <stdlib.h>

enum { T_SUB = KILN_MSG_USER, T_UNSUB, T_QUIT, T_BCAST_FROM };

static atomic_int got[8];
static atomic_int bad, inited, unsubs;

static int sub_init(kiln_proc_t *self, void *arg)
{
    kiln_proc_set_state(self, arg);
    int rc = kiln_pubsub_subscribe("room:1") || kiln_pubsub_subscribe("room:1"); /* idempotent */
    atomic_fetch_add(&inited, 1);
    return rc;
}
static int sub_handle(kiln_proc_t *self, kiln_msg_t *m)
{
    int i = (int)(intptr_t)kiln_proc_state(self);
    if (m->tag == KILN_MSG_PUBSUB) {
        kiln_pubsub_msg_t *pm = m->data;
        if (strcmp(pm->topic, "room:1") != 0 || strcmp(pm->data, "hi") != 0) atomic_fetch_add(&bad, 1);
        atomic_fetch_add(&got[i], 1);
    } else if (m->tag == T_UNSUB) {
        if (kiln_pubsub_unsubscribe("room:1") != 0) atomic_fetch_add(&bad, 1);
        if (kiln_pubsub_unsubscribe("room:1") != KILN_ENOENT) atomic_fetch_add(&bad, 1);
        atomic_fetch_add(&unsubs, 1);
    } else if (m->tag == T_BCAST_FROM) {
        kiln_pubsub_broadcast_from(rt, kiln_proc_pid(self), "room:1", "hi", 2);
    } else if (m->tag == T_QUIT) return KILN_PROC_STOP;
    return 0;
}
static const kiln_proc_ops_t sub_ops = { .abi = KILN_PROC_ABI, .init = sub_init, .handle_msg = sub_handle };

static int total(void)
{
    int n = 0;
    for (int i = 0; i < 8; i++) n += atomic_load(&got[i]);
    return n;
}

static void body_fanout(void)
{
    kiln_pid_t p[6];
    for (int i = 0; i < 6; i++) kiln_spawn(rt, kiln_sched_get(rt, i % 2), &sub_ops, (void *)(intptr_t)i, &p[i]);
    RT_WAIT_FOR(kiln_pubsub_local_count("room:1") == 3 && atomic_load(&inited) == 6);
    KT_ASSERT_EQ_INT(kiln_pubsub_local_count("room:1"), 3);
    KT_ASSERT_EQ_INT(kiln_pubsub_subscribe("x"), KILN_ESTATE); /* not a process */
    KT_ASSERT_EQ_INT(kiln_pubsub_broadcast(rt, "room:1", "hi", 2), 0);
    kiln_pubsub_broadcast(rt, "room:2", "nobody", 6);
    RT_WAIT_FOR(total() == 6);
    KT_ASSERT_EQ_INT(total(), 6);
    for (int i = 0; i < 6; i++) KT_ASSERT_EQ_INT(atomic_load(&got[i]), 1);

    /* broadcast_from skips the sender */
    kiln_send(rt, p[1], kiln_msg_new(T_BCAST_FROM, NULL, 0));
    RT_WAIT_FOR(total() == 11);
    KT_ASSERT_EQ_INT(total(), 11);
    KT_ASSERT_EQ_INT(atomic_load(&got[1]), 1);

    /* explicit unsubscribe, and exit unsubscribes */
    kiln_send(rt, p[2], kiln_msg_new(T_UNSUB, NULL, 0));
    kiln_send(rt, p[3], kiln_msg_new(T_QUIT, NULL, 0));
    RT_WAIT_FOR(kiln_pubsub_local_count("room:1") == 2 && atomic_load(&unsubs) == 1);
    KT_ASSERT_EQ_INT(kiln_pubsub_local_count("room:1"), 2);
    kiln_pubsub_broadcast(rt, "room:1", "hi", 2);
    RT_WAIT_FOR(total() == 15);
    KT_ASSERT_EQ_INT(total(), 15);
    KT_ASSERT_EQ_INT(atomic_load(&got[2]), 2);
    KT_ASSERT_EQ_INT(atomic_load(&got[3]), 2);
    KT_ASSERT_EQ_INT(atomic_load(&bad), 0);
    for (int i = 0; i < 6; i++) kiln_exit(rt, p[i], 0);
    RT_WAIT_FOR(kiln_pubsub_local_count("room:1") == 0);
    KT_ASSERT_EQ_INT(kiln_pubsub_local_count("room:1"), 0);
}
static void test_fanout_two_schedulers(void)
{
    rt_run(2, body_fanout, NULL);
}

/* an adapter sees every broadcast and can delegate to the local fan-out */
static int adapter_calls;
static int counting_broadcast(void *ud, kiln_runtime_t *r, kiln_pubsub_msg_t *m)
{
    (*(int *)ud)++;
    return kiln_pubsub_local_fanout(r, m);
}
static const kiln_pubsub_adapter_t counting = { .abi = KILN_PUBSUB_ADAPTER_ABI, .name = "count", .broadcast = counting_broadcast };
static void body_adapter(void)
{
    kiln_pid_t p;
    memset(got, 0, sizeof got);
    kiln_spawn(rt, NULL, &sub_ops, (void *)0, &p);
    RT_WAIT_FOR(kiln_pubsub_local_count("room:1") == 1);
    kiln_pubsub_broadcast(rt, "room:1", "hi", 2);
    RT_WAIT_FOR(atomic_load(&got[0]) == 1);
    KT_ASSERT_EQ_INT(adapter_calls, 1);
    KT_ASSERT_EQ_INT(atomic_load(&got[0]), 1);
    kiln_exit(rt, p, 0);
}
static void test_adapter(void)
{
    kiln_runtime_conf_t c = { .schedulers = 1 };
    rt = kiln_runtime_new(&c);
    KT_ASSERT_EQ_INT(kiln_pubsub_set_adapter(rt, &(kiln_pubsub_adapter_t){ .abi = 99 }, NULL), KILN_EINVAL);
    KT_ASSERT_EQ_INT(kiln_pubsub_set_adapter(rt, &counting, &adapter_calls), 0);
    rt_body = body_adapter;
    kiln_sched_post(kiln_sched_get(rt, 0), rt_body_start, NULL);
    kiln_runtime_run(rt);
    kiln_runtime_free(rt);
}

int main(void)
{
    KT_RUN(test_fanout_two_schedulers);
    KT_RUN(test_adapter);
    return kt_done();
}
