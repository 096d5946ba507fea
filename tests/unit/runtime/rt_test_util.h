/* Shared helpers for the runtime tests: run a test body on a coroutine of
 * scheduler 0, and stop the runtime when it returns (also when a KT_ASSERT
 * fails, since that returns from the body). */
#ifndef RT_TEST_UTIL_H
#define RT_TEST_UTIL_H

#include "kiln/runtime.h"

static kiln_runtime_t *rt;

/* Waits (from a coroutine) until cond holds, for up to 5 s: tests wait for
 * events, not for guessed durations, so they pass under emulation too. */
#define RT_WAIT_FOR(cond)                                                                                              \
    do {                                                                                                               \
        for (int rt_i_ = 0; rt_i_ < 5000 && !(cond); rt_i_++) kiln_sleep(1);                                          \
    } while (0)
static void (*rt_body)(void);

static void rt_body_coro(void *arg)
{
    (void)arg;
    rt_body();
    kiln_runtime_stop(rt, 0);
}

static void rt_body_start(void *arg)
{
    (void)arg;
    kiln_coro_start(rt_body_coro, NULL);
}

/* Runs body on a coroutine of scheduler 0 of a fresh n-scheduler runtime. */
static inline void rt_run(int n, void (*body)(void), kiln_runtime_conf_t *conf)
{
    kiln_runtime_conf_t c = { .schedulers = n, .blocking_threads = 2 };
    if (conf) c = *conf, c.schedulers = n;
    rt = kiln_runtime_new(&c);
    rt_body = body;
    kiln_sched_post(kiln_sched_get(rt, 0), rt_body_start, NULL);
    kiln_runtime_run(rt);
    kiln_runtime_free(rt);
    rt = NULL;
}

#endif
