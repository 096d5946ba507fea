/* Processes: spawn, send across schedulers, stale pids, selective receive,
 * call/reply, monitors, exit, send_after, sleep, idle processes own no stack,
 * and the blocking pool. */
#include "kiln/runtime.h"
#include "kiln_test.h"
#include "rt_test_util.h"
#include "runtime/runtime_int.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

enum { T_ECHO = KILN_MSG_USER, T_A, T_B, T_C, T_STOP, T_FAIL, T_SLOW, T_IGNORE, T_WHERE, T_SELECT };

/* A test process: echoes calls, records what it sees in a shared log. */
static int seen[64], n_seen;

static int echo_handle(kiln_proc_t *self, kiln_msg_t *m)
{
    (void)self;
    if (n_seen < 64) seen[n_seen++] = m->tag;
    switch (m->tag) {
    case T_ECHO: kiln_reply(rt, m, kiln_msg_new(KILN_MSG_REPLY, m->data, m->len)); return 0;
    case T_WHERE: {
        int idx = kiln_sched_index(kiln_sched_current());
        kiln_reply(rt, m, kiln_msg_new(KILN_MSG_REPLY, &idx, sizeof idx));
        return 0;
    }
    case T_STOP: return KILN_PROC_STOP;
    case T_FAIL: return 42;
    case T_SLOW: kiln_sleep(50); kiln_reply(rt, m, kiln_msg_new(KILN_MSG_REPLY, NULL, 0)); return 0;
    case T_SELECT: {
        /* wait for C, leaving A and B queued */
        kiln_msg_t *c = NULL;
        int rc = kiln_receive(T_C, 0, 1000, &c);
        if (rc == 0) {
            seen[n_seen++] = 1000 + c->tag;
            kiln_msg_free(c);
        }
        kiln_msg_t *none = NULL;
        seen[n_seen++] = kiln_receive(T_C, 0, 10, &none) == KILN_ETIMEDOUT ? 2000 : 0;
        return 0;
    }
    default: return 0;
    }
}

static int terminated, last_reason;
static void echo_terminate(kiln_proc_t *self, int reason)
{
    (void)self;
    terminated++;
    last_reason = reason;
}

static const kiln_proc_ops_t echo_ops = { .abi = KILN_PROC_ABI, .handle_msg = echo_handle, .terminate = echo_terminate };

/* ---- cross-scheduler call, from a plain coroutine ---- */
static void body_cross(void)
{
    kiln_pid_t pid;
    KT_ASSERT_EQ_INT(kiln_spawn(rt, kiln_sched_get(rt, 1), &echo_ops, NULL, &pid), 0);
    kiln_msg_t *r = NULL;
    KT_ASSERT_EQ_INT(kiln_call(rt, pid, kiln_msg_new(T_WHERE, NULL, 0), 1000, &r), 0);
    KT_ASSERT_EQ_INT(*(int *)r->data, 1);
    kiln_msg_free(r);
    KT_ASSERT_EQ_INT(kiln_call(rt, pid, kiln_msg_new(T_ECHO, "hello", 5), 1000, &r), 0);
    KT_ASSERT(r->len == 5 && memcmp(r->data, "hello", 5) == 0);
    kiln_msg_free(r);
    KT_ASSERT_EQ_INT(kiln_exit(rt, pid, 0), 0);
}
static void test_cross_scheduler_call(void)
{
    rt_run(2, body_cross, NULL);
}

/* ---- stale pid ---- */
static void body_stale(void)
{
    kiln_pid_t pid;
    terminated = 0;
    KT_ASSERT_EQ_INT(kiln_spawn(rt, NULL, &echo_ops, NULL, &pid), 0);
    KT_ASSERT_EQ_INT(kiln_send(rt, pid, kiln_msg_new(T_STOP, NULL, 0)), 0);
    RT_WAIT_FOR(terminated == 1);
    KT_ASSERT_EQ_INT(terminated, 1);
    KT_ASSERT_EQ_INT(last_reason, 0);
    KT_ASSERT_EQ_INT(kiln_send(rt, pid, kiln_msg_new(T_A, NULL, 0)), KILN_ENOPROC);
    KT_ASSERT_EQ_INT(kiln_exit(rt, pid, 0), KILN_ENOPROC);
    /* the slot is reused with a new generation: the old pid stays dead */
    kiln_pid_t pid2;
    KT_ASSERT_EQ_INT(kiln_spawn(rt, NULL, &echo_ops, NULL, &pid2), 0);
    KT_ASSERT(pid2 != pid);
    KT_ASSERT_EQ_INT(kiln_send(rt, pid, kiln_msg_new(T_A, NULL, 0)), KILN_ENOPROC);
    KT_ASSERT_EQ_INT(kiln_send(rt, pid2, kiln_msg_new(T_STOP, NULL, 0)), 0);
    KT_ASSERT_EQ_INT(kiln_send(rt, 0, kiln_msg_new(T_A, NULL, 0)), KILN_ENOPROC);
}
static void test_stale_pid(void)
{
    rt_run(1, body_stale, NULL);
}

/* ---- selective receive keeps other messages in order ---- */
static void body_select(void)
{
    kiln_pid_t pid;
    n_seen = 0;
    KT_ASSERT_EQ_INT(kiln_spawn(rt, NULL, &echo_ops, NULL, &pid), 0);
    kiln_send(rt, pid, kiln_msg_new(T_SELECT, NULL, 0));
    kiln_send(rt, pid, kiln_msg_new(T_A, NULL, 0));
    kiln_send(rt, pid, kiln_msg_new(T_B, NULL, 0));
    kiln_send(rt, pid, kiln_msg_new(T_C, NULL, 0));
    RT_WAIT_FOR(n_seen == 5);
    KT_ASSERT_EQ_INT(n_seen, 5);
    KT_ASSERT_EQ_INT(seen[0], T_SELECT);
    KT_ASSERT_EQ_INT(seen[1], 1000 + T_C);
    KT_ASSERT_EQ_INT(seen[2], 2000);
    KT_ASSERT_EQ_INT(seen[3], T_A);
    KT_ASSERT_EQ_INT(seen[4], T_B);
    kiln_msg_t *m;
    KT_ASSERT_EQ_INT(kiln_receive(0, 0, 0, &m), KILN_ESTATE); /* not a process */
    kiln_exit(rt, pid, 0);
}
static void test_selective_receive(void)
{
    rt_run(1, body_select, NULL);
}

/* ---- call timeout, late reply dropped; callee death gives ENOPROC ---- */
static void body_call_timeout(void)
{
    kiln_pid_t pid;
    KT_ASSERT_EQ_INT(kiln_spawn(rt, kiln_sched_get(rt, 1), &echo_ops, NULL, &pid), 0);
    kiln_msg_t *r = NULL;
    int64_t t0 = kiln_now_ms();
    KT_ASSERT_EQ_INT(kiln_call(rt, pid, kiln_msg_new(T_SLOW, NULL, 0), 10, &r), KILN_ETIMEDOUT);
    KT_ASSERT(kiln_now_ms() - t0 >= 10);
    kiln_sleep(60); /* the late reply arrives and is dropped */
    KT_ASSERT_EQ_INT(kiln_call(rt, pid, kiln_msg_new(T_SLOW, NULL, 0), 1000, &r), 0);
    kiln_msg_free(r);
    /* a callee that exits without replying */
    t0 = kiln_now_ms();
    KT_ASSERT_EQ_INT(kiln_call(rt, pid, kiln_msg_new(T_FAIL, NULL, 0), 5000, &r), KILN_ENOPROC);
    KT_ASSERT(kiln_now_ms() - t0 < 4000);
    KT_ASSERT_EQ_INT(kiln_call(rt, pid, kiln_msg_new(T_ECHO, NULL, 0), 5000, &r), KILN_ENOPROC);
}
static void test_call_timeout_and_death(void)
{
    rt_run(2, body_call_timeout, NULL);
}

/* ---- monitors: a watcher process gets exactly one DOWN with the reason ---- */
static kiln_pid_t mon_target;
static int downs, down_reason;
static kiln_pid_t down_from;
static kiln_ref_t mon_ref, dead_ref;

static int watcher_init(kiln_proc_t *self, void *arg)
{
    (void)self;
    (void)arg;
    mon_ref = kiln_monitor(mon_target);
    dead_ref = kiln_monitor(KILN__PID(0, 12345, 7)); /* never existed */
    kiln_ref_t r = kiln_monitor(mon_target);
    kiln_demonitor(r); /* no DOWN for this one */
    return 0;
}
static int watcher_handle(kiln_proc_t *self, kiln_msg_t *m)
{
    (void)self;
    if (m->tag != KILN_MSG_DOWN) return 0;
    if (m->ref == dead_ref) {
        if (m->reason != KILN_ENOPROC) downs += 100;
        return 0;
    }
    downs += m->ref == mon_ref ? 1 : 1000;
    down_reason = m->reason;
    down_from = m->from;
    return 0;
}
static const kiln_proc_ops_t watcher_ops = { .abi = KILN_PROC_ABI, .init = watcher_init, .handle_msg = watcher_handle };

static void body_monitor(void)
{
    downs = 0;
    mon_ref = 0;
    KT_ASSERT_EQ_INT(kiln_spawn(rt, kiln_sched_get(rt, 1), &echo_ops, NULL, &mon_target), 0);
    kiln_pid_t w;
    KT_ASSERT_EQ_INT(kiln_spawn(rt, kiln_sched_get(rt, 0), &watcher_ops, NULL, &w), 0);
    RT_WAIT_FOR(mon_ref != 0);
    kiln_sleep(10); /* the monitor requests reach the target's scheduler */
    kiln_send(rt, mon_target, kiln_msg_new(T_FAIL, NULL, 0));
    RT_WAIT_FOR(downs >= 1);
    kiln_sleep(10); /* a second DOWN would arrive now */
    KT_ASSERT_EQ_INT(downs, 1);
    KT_ASSERT_EQ_INT(down_reason, 42);
    KT_ASSERT(down_from == mon_target);
    KT_ASSERT_EQ_INT(kiln_monitor(mon_target), 0); /* not a process */
    kiln_exit(rt, w, 0);
}
static void test_monitor_down(void)
{
    rt_run(2, body_monitor, NULL);
}

/* ---- send_after and cancel ---- */
static void body_send_after(void)
{
    kiln_pid_t pid;
    n_seen = 0;
    KT_ASSERT_EQ_INT(kiln_spawn(rt, NULL, &echo_ops, NULL, &pid), 0);
    kiln_ref_t a = kiln_send_after(pid, kiln_msg_new(T_A, NULL, 0), 60);
    kiln_ref_t b = kiln_send_after(pid, kiln_msg_new(T_B, NULL, 0), 40);
    kiln_ref_t c = kiln_send_after(pid, kiln_msg_new(T_C, NULL, 0), 50);
    KT_ASSERT(a && b && c);
    KT_ASSERT_EQ_INT(kiln_cancel_timer(c), 0);
    kiln_sleep(1);
    KT_ASSERT_EQ_INT(n_seen, 0);
    RT_WAIT_FOR(n_seen == 2);
    kiln_sleep(20); /* the cancelled one would have come by now */
    KT_ASSERT_EQ_INT(n_seen, 2);
    KT_ASSERT_EQ_INT(seen[0], T_B);
    KT_ASSERT_EQ_INT(seen[1], T_A);
    KT_ASSERT_EQ_INT(kiln_cancel_timer(a), KILN_ENOENT);
    kiln_exit(rt, pid, 0);
}
static void test_send_after(void)
{
    rt_run(1, body_send_after, NULL);
}

/* ---- a sleeping process does not block another on the same scheduler ---- */
static int64_t fast_at, slow_done_at;
static int sleeper_handle(kiln_proc_t *self, kiln_msg_t *m)
{
    (void)self;
    if (m->tag == T_SLOW) {
        kiln_sleep(300);
        slow_done_at = kiln_now_ms();
    } else fast_at = kiln_now_ms();
    return 0;
}
static const kiln_proc_ops_t sleeper_ops = { .abi = KILN_PROC_ABI, .handle_msg = sleeper_handle };
static void body_sleep(void)
{
    kiln_pid_t a, b;
    fast_at = slow_done_at = 0;
    kiln_spawn(rt, NULL, &sleeper_ops, NULL, &a);
    kiln_spawn(rt, NULL, &sleeper_ops, NULL, &b);
    kiln_send(rt, a, kiln_msg_new(T_SLOW, NULL, 0));
    kiln_send(rt, b, kiln_msg_new(T_A, NULL, 0));
    RT_WAIT_FOR(fast_at != 0);
    KT_ASSERT(fast_at != 0 && slow_done_at == 0); /* b ran while a slept */
    kiln_exit(rt, a, 0);
    kiln_exit(rt, b, 0);
    RT_WAIT_FOR(slow_done_at != 0); /* a finishes its sleep, then exits */
    kiln_sleep(5);
    KT_ASSERT_EQ_INT(kiln_send(rt, a, kiln_msg_new(T_A, NULL, 0)), KILN_ENOPROC);
}
static void test_sleep_does_not_block(void)
{
    rt_run(1, body_sleep, NULL);
}

/* ---- idle processes hold no stack ---- */
static int inited;
static int idle_init(kiln_proc_t *self, void *arg)
{
    (void)self;
    (void)arg;
    inited++;
    return 0;
}
static const kiln_proc_ops_t idle_ops = { .abi = KILN_PROC_ABI, .init = idle_init, .handle_msg = echo_handle };
#define N_IDLE 10000
static kiln_pid_t idle_pids[N_IDLE];
static void body_idle(void)
{
    inited = 0;
    for (int i = 0; i < N_IDLE; i++) KT_ASSERT_EQ_INT(kiln_spawn(rt, NULL, &idle_ops, NULL, &idle_pids[i]), 0);
    RT_WAIT_FOR(inited == N_IDLE);
    KT_ASSERT_EQ_INT(inited, N_IDLE);
    kiln_sched_t *s = kiln_sched_current();
    KT_ASSERT_EQ_INT(s->n_procs, N_IDLE);
    /* this body's coroutine plus at most one per process turn, all back in the pool */
    KT_ASSERT(s->n_stacks <= 4);
    KT_ASSERT(kiln__stack_pool_size(s) >= s->n_stacks - 1);
    for (int i = 0; i < N_IDLE; i++) kiln_exit(rt, idle_pids[i], 0);
    RT_WAIT_FOR(s->n_procs == 0);
    KT_ASSERT_EQ_INT(s->n_procs, 0);
}
static void test_idle_processes_hold_no_stack(void)
{
    rt_run(1, body_idle, NULL);
}

/* ---- blocking pool ---- */
static int slow_square(void *arg)
{
    usleep(2000);
    return (int)(intptr_t)arg * (int)(intptr_t)arg;
}
static int results[8];
static int block_done;
static void block_coro(void *arg)
{
    int i = (int)(intptr_t)arg;
    results[i] = kiln_blocking(slow_square, arg);
    block_done++;
}
static void body_blocking(void)
{
    block_done = 0;
    KT_ASSERT_EQ_INT(kiln_blocking(slow_square, (void *)(intptr_t)7), 49);
    /* queue of 2, 1 thread: at least the two queued jobs run (three when the
     * thread has taken the first before the others arrive), the rest are refused */
    for (int i = 0; i < 6; i++) kiln_coro_start(block_coro, (void *)(intptr_t)i);
    while (block_done < 6) kiln_sleep(2);
    int ok = 0, again = 0;
    for (int i = 0; i < 6; i++) {
        if (results[i] == i * i) ok++;
        if (results[i] == KILN_EAGAIN) again++;
    }
    KT_ASSERT(ok >= 2);
    KT_ASSERT(again >= 1);
    KT_ASSERT_EQ_INT(ok + again, 6);
}
static void test_blocking_pool(void)
{
    kiln_runtime_conf_t c = { .blocking_threads = 1, .blocking_queue = 2 };
    rt_run(1, body_blocking, &c);
}

/* Shutdown ends processes in slot order. Here each even one's terminate exits
 * the next, which queues it to run; shutdown then frees that one in its turn,
 * and the next terminate queues another behind it: the freed process must not
 * stay on the run queue (ASan saw a use after free with long-poll sessions
 * exiting their channels). */
static kiln_pid_t chain[6];
static atomic_int chain_ended;

static int chain_init(kiln_proc_t *self, void *arg)
{
    kiln_proc_set_state(self, arg);
    return 0;
}

static void chain_terminate(kiln_proc_t *self, int reason)
{
    (void)reason;
    intptr_t i = (intptr_t)kiln_proc_state(self);
    if (i % 2 == 0) kiln_exit(rt, chain[i + 1], 0);
    atomic_fetch_add(&chain_ended, 1);
}

static const kiln_proc_ops_t chain_ops = { .abi = KILN_PROC_ABI, .init = chain_init, .handle_msg = echo_handle,
                                           .terminate = chain_terminate };

static void spawn_chain(void)
{
    for (intptr_t i = 0; i < 6; i++) kiln_spawn(rt, kiln_sched_current(), &chain_ops, (void *)i, &chain[i]);
    kiln_sleep(5); /* their inits have run; the runtime stops with all six alive */
}

static void test_shutdown_frees_queued_processes(void)
{
    atomic_store(&chain_ended, 0);
    rt_run(1, spawn_chain, NULL);
    KT_ASSERT_EQ_INT(atomic_load(&chain_ended), 6);
}

static void test_outside_coroutine(void)
{
    KT_ASSERT_EQ_INT(kiln_sleep(1), KILN_ESTATE);
    KT_ASSERT_EQ_INT(kiln_blocking(slow_square, NULL), KILN_ESTATE);
    KT_ASSERT(kiln_self() == NULL);
}

int main(void)
{
    KT_RUN(test_cross_scheduler_call);
    KT_RUN(test_stale_pid);
    KT_RUN(test_selective_receive);
    KT_RUN(test_call_timeout_and_death);
    KT_RUN(test_monitor_down);
    KT_RUN(test_send_after);
    KT_RUN(test_sleep_does_not_block);
    KT_RUN(test_idle_processes_hold_no_stack);
    KT_RUN(test_blocking_pool);
    KT_RUN(test_outside_coroutine);
    KT_RUN(test_shutdown_frees_queued_processes);
    return kt_done();
}
