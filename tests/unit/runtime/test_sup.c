/* Supervisors: restart policies, restart intensity, start order and reverse
 * stop order, start failure. */
#include "kiln/runtime.h"
#include "kiln_test.h"
#include "rt_test_util.h"

#include <stdlib.h>

enum { T_CRASH = KILN_MSG_USER, T_QUIT };

static char events[64];
static int n_events;
static kiln_pid_t child_pid[4];
static int starts[4];

static int child_init(kiln_proc_t *self, void *arg)
{
    kiln_proc_set_state(self, arg);
    return 0;
}
static int child_handle(kiln_proc_t *self, kiln_msg_t *m)
{
    (void)self;
    if (m->tag == T_CRASH) return 7;
    if (m->tag == T_QUIT) return KILN_PROC_STOP;
    return 0;
}
static void child_terminate(kiln_proc_t *self, int reason)
{
    (void)reason;
    int i = (int)(intptr_t)kiln_proc_state(self);
    if (n_events < 63) events[n_events++] = (char)('a' + i);
}
static const kiln_proc_ops_t child_ops = {
    .abi = KILN_PROC_ABI, .init = child_init, .handle_msg = child_handle, .terminate = child_terminate
};

static int start_child(kiln_runtime_t *r, void *arg, kiln_pid_t *out)
{
    int i = (int)(intptr_t)arg;
    if (i == 3) return KILN_EIO; /* the child that cannot start */
    starts[i]++;
    if (n_events < 63) events[n_events++] = (char)('A' + i);
    int rc = kiln_spawn(r, NULL, &child_ops, arg, out);
    child_pid[i] = *out;
    return rc;
}

static const kiln_child_spec_t kids[] = {
    { .name = "a", .start = start_child, .arg = (void *)0, .restart = KILN_RESTART_PERMANENT, .shutdown_ms = 500 },
    { .name = "b", .start = start_child, .arg = (void *)1, .restart = KILN_RESTART_TRANSIENT, .shutdown_ms = 500 },
    { .name = "c", .start = start_child, .arg = (void *)2, .restart = KILN_RESTART_TEMPORARY, .shutdown_ms = 500 },
};
static const kiln_sup_spec_t spec = { .children = kids, .n_children = 3, .max_restarts = 2, .max_seconds = 5 };

static void reset(void)
{
    memset(events, 0, sizeof events);
    n_events = 0;
    memset(starts, 0, sizeof starts);
}

static void body_order(void)
{
    reset();
    kiln_pid_t sup;
    KT_ASSERT_EQ_INT(kiln_sup_start(rt, &spec, &sup), 0);
    KT_ASSERT_EQ_STR(events, "ABC"); /* all started when kiln_sup_start returns */
    KT_ASSERT_EQ_INT(kiln_sup_stop(rt, sup), 0);
    KT_ASSERT_EQ_STR(events, "ABCcba"); /* stopped in reverse, each waited for */
    KT_ASSERT_EQ_INT(kiln_send(rt, sup, kiln_msg_new(T_QUIT, NULL, 0)), KILN_ENOPROC);
}
static void test_start_order_and_reverse_stop(void)
{
    rt_run(2, body_order, NULL);
}

static void body_policies(void)
{
    reset();
    kiln_pid_t sup;
    KT_ASSERT_EQ_INT(kiln_sup_start(rt, &spec, &sup), 0);
    kiln_sleep(5);
    kiln_pid_t a0 = child_pid[0];
    kiln_send(rt, child_pid[0], kiln_msg_new(T_CRASH, NULL, 0)); /* permanent: restarted */
    kiln_send(rt, child_pid[1], kiln_msg_new(T_QUIT, NULL, 0));  /* transient, normal: not restarted */
    kiln_send(rt, child_pid[2], kiln_msg_new(T_CRASH, NULL, 0)); /* temporary: not restarted */
    RT_WAIT_FOR(starts[0] == 2 && n_events >= 6);
    kiln_sleep(10);
    KT_ASSERT_EQ_INT(starts[0], 2);
    KT_ASSERT_EQ_INT(starts[1], 1);
    KT_ASSERT_EQ_INT(starts[2], 1);
    KT_ASSERT(child_pid[0] != a0);
    KT_ASSERT_EQ_INT(kiln_send(rt, child_pid[0], kiln_msg_new(KILN_MSG_USER + 5, NULL, 0)), 0);
    kiln_sup_stop(rt, sup);
}
static void test_restart_policies(void)
{
    rt_run(2, body_policies, NULL);
}

/* the supervisor gives up after max_restarts in max_seconds, and a watcher sees it */
static kiln_pid_t watched_sup;
static int sup_down_reason = 1, w_ready;
static int w_init(kiln_proc_t *self, void *arg)
{
    (void)self;
    (void)arg;
    kiln_monitor(watched_sup);
    w_ready = 1;
    return 0;
}
static int w_handle(kiln_proc_t *self, kiln_msg_t *m)
{
    (void)self;
    if (m->tag == KILN_MSG_DOWN) {
        sup_down_reason = m->reason;
        return KILN_PROC_STOP;
    }
    return 0;
}
static const kiln_proc_ops_t w_ops = { .abi = KILN_PROC_ABI, .init = w_init, .handle_msg = w_handle };

static void body_intensity(void)
{
    reset();
    KT_ASSERT_EQ_INT(kiln_sup_start(rt, &spec, &watched_sup), 0);
    kiln_pid_t w;
    kiln_spawn(rt, NULL, &w_ops, NULL, &w);
    RT_WAIT_FOR(w_ready);
    for (int i = 0; i < 3; i++) {
        kiln_send(rt, child_pid[0], kiln_msg_new(T_CRASH, NULL, 0));
        RT_WAIT_FOR(starts[0] == i + 2 || sup_down_reason != 1);
    }
    KT_ASSERT_EQ_INT(starts[0], 3); /* two restarts allowed, the third crash ends it */
    KT_ASSERT_EQ_INT(sup_down_reason, KILN_ETOOBIG);
    KT_ASSERT_EQ_INT(kiln_send(rt, watched_sup, kiln_msg_new(T_QUIT, NULL, 0)), KILN_ENOPROC);
    KT_ASSERT_EQ_INT(kiln_send(rt, child_pid[1], kiln_msg_new(T_QUIT, NULL, 0)), KILN_ENOPROC);
}
static void test_restart_intensity(void)
{
    rt_run(1, body_intensity, NULL);
}

static const kiln_child_spec_t bad_kids[] = {
    { .name = "a", .start = start_child, .arg = (void *)0 },
    { .name = "b", .start = start_child, .arg = (void *)1 },
    { .name = "broken", .start = start_child, .arg = (void *)3 },
};
static const kiln_sup_spec_t bad_spec = { .children = bad_kids, .n_children = 3 };
static void body_start_failure(void)
{
    reset();
    kiln_pid_t sup = 0;
    KT_ASSERT_EQ_INT(kiln_sup_start(rt, &bad_spec, &sup), KILN_EIO);
    KT_ASSERT_EQ_STR(events, "ABba");
}
static void test_start_failure_stops_started(void)
{
    rt_run(1, body_start_failure, NULL);
}

int main(void)
{
    KT_RUN(test_start_order_and_reverse_stop);
    KT_RUN(test_restart_policies);
    KT_RUN(test_restart_intensity);
    KT_RUN(test_start_failure_stops_started);
    return kt_done();
}
