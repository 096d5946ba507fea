/* Runtime measurements (docs/adr/0002, 0003): memory per idle process,
 * message round trips (same scheduler, across schedulers, kiln_call), raw
 * stack-switch cost and coroutine start cost. Run from a Release build:
 *   build-rtrel/bin/bench_runtime_idle [n_idle] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "kiln/runtime.h"
#include "runtime/runtime_int.h"

void kiln__ctx_switch(void **save_sp, void *new_sp);
void *kiln__ctx_init(void *stack_top, void (*fn)(void *), void *arg);

static long rss_anon_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "RssAnon: %ld kB", &kb) == 1) break;
    if (f) fclose(f);
    return kb;
}

static kiln_runtime_t *rt;
static int n_idle = 100000;
enum { T_PING = KILN_MSG_USER, T_CALL };

/* ---- idle processes ---- */
static int idle_handle(kiln_proc_t *self, kiln_msg_t *m)
{
    (void)self;
    (void)m;
    return 0;
}
static const kiln_proc_ops_t idle_ops = { .abi = KILN_PROC_ABI, .handle_msg = idle_handle };

/* ---- ping-pong: each process forwards the message to its peer n times ---- */
static kiln_pid_t peer[2];
static long remaining;
static double pp_result;
static int pp_handle(kiln_proc_t *self, kiln_msg_t *m)
{
    if (m->tag == T_CALL) return kiln_reply(rt, m, kiln_msg_new(KILN_MSG_REPLY, NULL, 0)), 0;
    if (__atomic_sub_fetch(&remaining, 1, __ATOMIC_RELAXED) <= 0) {
        kiln_runtime_stop(rt, 0);
        return 0;
    }
    kiln_pid_t to = peer[0] == kiln_proc_pid(self) ? peer[1] : peer[0];
    kiln_msg_keep(m);
    m->from = 0;
    kiln_send(rt, to, m);
    return 0;
}
static const kiln_proc_ops_t pp_ops = { .abi = KILN_PROC_ABI, .handle_msg = pp_handle };

static double ping_pong(int scheds, long n)
{
    kiln_runtime_conf_t conf = { .schedulers = scheds, .blocking_threads = 1 };
    rt = kiln_runtime_new(&conf);
    kiln_spawn(rt, kiln_sched_get(rt, 0), &pp_ops, NULL, &peer[0]);
    kiln_spawn(rt, kiln_sched_get(rt, scheds - 1), &pp_ops, NULL, &peer[1]);
    remaining = 2 * n;
    int64_t t0 = kiln_now_ns();
    kiln_send(rt, peer[0], kiln_msg_new(T_PING, NULL, 0));
    kiln_runtime_run(rt);
    double ns = (double)(kiln_now_ns() - t0) / (double)n;
    kiln_runtime_free(rt);
    return ns;
}

/* ---- kiln_call round trip from a plain coroutine ---- */
static long call_n;
static void caller(void *arg)
{
    (void)arg;
    int64_t t0 = kiln_now_ns();
    for (long i = 0; i < call_n; i++) {
        kiln_msg_t *r = NULL;
        kiln_call(rt, peer[0], kiln_msg_new(T_CALL, NULL, 0), -1, &r);
        kiln_msg_free(r);
    }
    pp_result = (double)(kiln_now_ns() - t0) / (double)call_n;
    kiln_runtime_stop(rt, 0);
}
static void start_caller(void *arg)
{
    kiln_coro_start(caller, arg);
}
static double call_rt(int scheds, long n)
{
    kiln_runtime_conf_t conf = { .schedulers = scheds, .blocking_threads = 1 };
    rt = kiln_runtime_new(&conf);
    kiln_spawn(rt, kiln_sched_get(rt, scheds - 1), &pp_ops, NULL, &peer[0]);
    call_n = n;
    kiln_sched_post(kiln_sched_get(rt, 0), start_caller, NULL);
    kiln_runtime_run(rt);
    kiln_runtime_free(rt);
    return pp_result;
}

/* ---- idle memory ---- */
static long rss_before, rss_after;
static int idle_stacks;
static void spawn_idle(void *arg)
{
    (void)arg;
    rss_before = rss_anon_kb();
    for (int i = 0; i < n_idle; i++) kiln_spawn(rt, NULL, &idle_ops, NULL, NULL);
}
static kiln_timer_t idle_timer;
static void measure_idle(kiln_timer_t *t)
{
    (void)t;
    rss_after = rss_anon_kb();
    idle_stacks = kiln_sched_current()->n_stacks;
    kiln_runtime_stop(rt, 0);
}
static void arm_measure(void *arg)
{
    (void)arg;
    kiln_timer_start(&idle_timer, 50, measure_idle);
}

/* ---- raw switch ---- */
static void *main_sp, *co_sp;
static void switch_loop(void *arg)
{
    (void)arg;
    for (;;) kiln__ctx_switch(&co_sp, main_sp);
}
static void nop(void *arg)
{
    (void)arg;
}
static double coro_start_ns;
static void bench_coro_start(void *arg)
{
    long n = (long)(intptr_t)arg;
    int64_t t0 = kiln_now_ns();
    for (long i = 0; i < n; i++) kiln_coro_start(nop, NULL);
    coro_start_ns = (double)(kiln_now_ns() - t0) / (double)n;
    kiln_runtime_stop(rt, 0);
}

int main(int argc, char **argv)
{
    if (argc > 1) n_idle = atoi(argv[1]);

    /* Idle processes on one scheduler. */
    kiln_runtime_conf_t conf = { .schedulers = 1, .blocking_threads = 1 };
    rt = kiln_runtime_new(&conf);
    kiln_sched_post(kiln_sched_get(rt, 0), spawn_idle, NULL);
    kiln_sched_post(kiln_sched_get(rt, 0), arm_measure, NULL);
    kiln_runtime_run(rt);
    printf("idle processes: %d, RssAnon delta %ld kB, %.0f bytes/process, coroutine stacks mapped: %d\n", n_idle,
           rss_after - rss_before, (double)(rss_after - rss_before) * 1024.0 / n_idle, idle_stacks);
    kiln_runtime_free(rt);

    /* Raw stack switch: one switch in and one out per iteration. */
    size_t sz = 64 * 1024;
    char *stk = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    co_sp = kiln__ctx_init(stk + sz, switch_loop, NULL);
    long n = 10 * 1000 * 1000;
    int64_t t0 = kiln_now_ns();
    for (long i = 0; i < n; i++) kiln__ctx_switch(&main_sp, co_sp);
    printf("context switch: %.1f ns per switch (%.1f ns round trip)\n", (double)(kiln_now_ns() - t0) / (2.0 * n),
           (double)(kiln_now_ns() - t0) / n);
    munmap(stk, sz);

    rt = kiln_runtime_new(&conf);
    kiln_sched_post(kiln_sched_get(rt, 0), bench_coro_start, (void *)(intptr_t)1000000);
    kiln_runtime_run(rt);
    kiln_runtime_free(rt);
    printf("kiln_coro_start of an empty function (pooled stack, 2 switches): %.1f ns\n", coro_start_ns);

    printf("send+receive, same scheduler: %.0f ns per message\n", ping_pong(1, 1000000) / 2);
    printf("send+receive, across 2 schedulers: %.0f ns per message\n", ping_pong(2, 200000) / 2);
    printf("kiln_call round trip, same scheduler: %.0f ns\n", call_rt(1, 500000));
    printf("kiln_call round trip, across 2 schedulers: %.0f ns\n", call_rt(2, 100000));
    return 0;
}
