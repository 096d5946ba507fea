/* Event loop, timers, posting, I/O watchers and coroutines. */
#include "kiln/runtime.h"
#include "kiln_test.h"
#include "runtime/runtime_int.h"

#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

static kiln_runtime_t *new_rt(int n)
{
    kiln_runtime_conf_t conf = { .schedulers = n, .blocking_threads = 1 };
    return kiln_runtime_new(&conf);
}

/* ---- timers fire in order, and a stopped one never fires ---- */
static int order[8], n_order;
static kiln_timer_t timers[5];
static kiln_runtime_t *g_rt;

static void rec_cb(kiln_timer_t *t)
{
    order[n_order++] = (int)(t - timers);
    if (n_order == 4) kiln_runtime_stop(g_rt, 7);
}

static void start_timers(void *arg)
{
    (void)arg;
    kiln_timer_start(&timers[0], 30, rec_cb);
    kiln_timer_start(&timers[1], 10, rec_cb);
    kiln_timer_start(&timers[2], 20, rec_cb);
    kiln_timer_start(&timers[3], 15, rec_cb);
    kiln_timer_start(&timers[4], 40, rec_cb);
    kiln_timer_stop(&timers[3]);
    kiln_timer_stop(&timers[3]); /* harmless twice */
    kiln_timer_start(&timers[3], 100, rec_cb);
}

static void test_timers_order_and_stop(void)
{
    g_rt = new_rt(1);
    n_order = 0;
    kiln_sched_post(kiln_sched_get(g_rt, 0), start_timers, NULL);
    int64_t t0 = kiln_now_ms();
    KT_ASSERT_EQ_INT(kiln_runtime_run(g_rt), 7);
    int64_t dt = kiln_now_ms() - t0;
    KT_ASSERT_EQ_INT(n_order, 4);
    KT_ASSERT_EQ_INT(order[0], 1);
    KT_ASSERT_EQ_INT(order[1], 2);
    KT_ASSERT_EQ_INT(order[2], 0);
    KT_ASSERT_EQ_INT(order[3], 4);
    KT_ASSERT(dt >= 39);
    KT_ASSERT(kiln_timer_active(&timers[3]));
    kiln_runtime_free(g_rt);
}

/* ---- the wheel cascades: timers across level boundaries fire in order ---- */
static kiln_timer_t far[3];
static int far_fired[3], far_n;
static int64_t far_start, far_at[3];
static void far_cb(kiln_timer_t *t)
{
    int i = (int)(t - far);
    far_fired[far_n++] = i;
    far_at[i] = kiln_loop_now_ms() - far_start;
    if (far_n == 3) kiln_runtime_stop(g_rt, 0);
}
static void start_far(void *arg)
{
    (void)arg;
    far_start = kiln_loop_now_ms();
    kiln_timer_start(&far[0], 130, far_cb); /* level 1 */
    kiln_timer_start(&far[1], 63, far_cb);
    kiln_timer_start(&far[2], 70, far_cb);
}
static void test_timer_cascade(void)
{
    g_rt = new_rt(1);
    far_n = 0;
    kiln_sched_post(kiln_sched_get(g_rt, 0), start_far, NULL);
    kiln_runtime_run(g_rt);
    KT_ASSERT_EQ_INT(far_fired[0], 1);
    KT_ASSERT_EQ_INT(far_fired[1], 2);
    KT_ASSERT_EQ_INT(far_fired[2], 0);
    KT_ASSERT(far_at[0] >= 130);
    KT_ASSERT(far_at[1] >= 63);
    KT_ASSERT(far_at[2] >= 70);
    kiln_runtime_free(g_rt);
}

/* ---- posting from other threads reaches every scheduler ---- */
static atomic_int posted_hits;
static int hit_sched[2];
static void hit(void *arg)
{
    hit_sched[(intptr_t)arg] += kiln_sched_index(kiln_sched_current()) == (int)(intptr_t)arg;
    if (atomic_fetch_add(&posted_hits, 1) + 1 == 2000) kiln_runtime_stop(g_rt, 0);
}
static void *poster(void *arg)
{
    (void)arg;
    for (int i = 0; i < 1000; i++) kiln_sched_post(kiln_sched_get(g_rt, i & 1), hit, (void *)(intptr_t)(i & 1));
    return NULL;
}
static void test_cross_thread_post(void)
{
    g_rt = new_rt(2);
    atomic_store(&posted_hits, 0);
    hit_sched[0] = hit_sched[1] = 0;
    pthread_t a, b;
    pthread_create(&a, NULL, poster, NULL);
    pthread_create(&b, NULL, poster, NULL);
    kiln_runtime_run(g_rt);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    KT_ASSERT_EQ_INT(atomic_load(&posted_hits), 2000);
    KT_ASSERT_EQ_INT(hit_sched[0], 1000);
    KT_ASSERT_EQ_INT(hit_sched[1], 1000);
    kiln_runtime_free(g_rt);
}

/* ---- stop from another thread while the loop sleeps ---- */
static void *stopper(void *arg)
{
    usleep(20000);
    kiln_runtime_stop(arg, 3);
    return NULL;
}
static void test_stop_from_thread(void)
{
    kiln_runtime_t *rt = new_rt(2);
    pthread_t t;
    pthread_create(&t, NULL, stopper, rt);
    KT_ASSERT_EQ_INT(kiln_runtime_run(rt), 3);
    pthread_join(t, NULL);
    kiln_runtime_free(rt);
}

/* ---- io watcher: a pipe becomes readable ---- */
static int pipefd[2];
static kiln_io_t rio;
static char got[8];
static void on_read(kiln_io_t *io, unsigned ev)
{
    if (!(ev & KILN_IO_READ)) return;
    ssize_t n = read(io->fd, got, sizeof got - 1);
    if (n > 0) {
        kiln_io_stop(io);
        kiln_runtime_stop(g_rt, 0);
    }
}
static void start_io(void *arg)
{
    (void)arg;
    kiln_io_start(&rio, pipefd[0], KILN_IO_READ, on_read);
}
static void *writer(void *arg)
{
    (void)arg;
    usleep(10000);
    ssize_t r = write(pipefd[1], "hi", 2);
    (void)r;
    return NULL;
}
static void test_io(void)
{
    g_rt = new_rt(1);
    KT_ASSERT(pipe(pipefd) == 0);
    memset(got, 0, sizeof got);
    kiln_sched_post(kiln_sched_get(g_rt, 0), start_io, NULL);
    pthread_t t;
    pthread_create(&t, NULL, writer, NULL);
    kiln_runtime_run(g_rt);
    pthread_join(t, NULL);
    KT_ASSERT_EQ_STR(got, "hi");
    close(pipefd[0]);
    close(pipefd[1]);
    kiln_runtime_free(g_rt);
}

/* ---- coroutines: park/wake locally and from another thread; stacks return ---- */
static kiln_coro_t *parked;
static intptr_t woke_with[2];
static int coro_steps;
static void coro_fn(void *arg)
{
    int i = (int)(intptr_t)arg;
    KT_ASSERT(kiln_coro_current() != NULL);
    parked = kiln_coro_current();
    char big[4096]; /* touch the stack */
    memset(big, i, sizeof big);
    woke_with[i] = kiln_coro_park();
    coro_steps += big[100] == i;
}
static kiln_timer_t wake_timer;
static void *thread_waker(void *arg)
{
    usleep(5000);
    kiln_coro_wake(arg, 99);
    return NULL;
}
static pthread_t waker_thread;
static void after_second(kiln_timer_t *t)
{
    (void)t;
    kiln_runtime_stop(g_rt, 0);
}
static void wake_first(kiln_timer_t *t)
{
    (void)t;
    kiln_coro_wake(parked, 42);
    kiln_coro_start(coro_fn, (void *)1);
    pthread_create(&waker_thread, NULL, thread_waker, parked);
    kiln_timer_start(&wake_timer, 30, after_second);
}
static void start_coro(void *arg)
{
    (void)arg;
    KT_ASSERT(kiln_coro_current() == NULL);
    KT_ASSERT_EQ_INT(kiln_coro_park(), KILN_ESTATE);
    kiln_coro_start(coro_fn, (void *)0);
    kiln_timer_start(&wake_timer, 1, wake_first);
}
static void test_coro_park_wake(void)
{
    g_rt = new_rt(1);
    coro_steps = 0;
    kiln_sched_post(kiln_sched_get(g_rt, 0), start_coro, NULL);
    kiln_runtime_run(g_rt);
    pthread_join(waker_thread, NULL);
    KT_ASSERT_EQ_INT(woke_with[0], 42);
    KT_ASSERT_EQ_INT(woke_with[1], 99);
    KT_ASSERT_EQ_INT(coro_steps, 2);
    kiln_sched_t *s = kiln_sched_get(g_rt, 0);
    KT_ASSERT_EQ_INT(s->n_stacks, 2);
    KT_ASSERT_EQ_INT(kiln__stack_pool_size(s), 2);
    kiln_runtime_free(g_rt);
}

/* ---- many coroutines in sequence reuse one stack ---- */
static int seq_done;
static void quick(void *arg)
{
    (void)arg;
    seq_done++;
}
static void start_many(void *arg)
{
    (void)arg;
    for (int i = 0; i < 10000; i++) kiln_coro_start(quick, NULL);
    kiln_runtime_stop(g_rt, 0);
}
static void test_coro_stack_reuse(void)
{
    g_rt = new_rt(1);
    seq_done = 0;
    kiln_sched_post(kiln_sched_get(g_rt, 0), start_many, NULL);
    kiln_runtime_run(g_rt);
    KT_ASSERT_EQ_INT(seq_done, 10000);
    KT_ASSERT_EQ_INT(kiln_sched_get(g_rt, 0)->n_stacks, 1);
    kiln_runtime_free(g_rt);
}

/* ---- KILN_SCHEDULERS and conf ---- */
static void test_scheduler_count(void)
{
    setenv("KILN_SCHEDULERS", "3", 1);
    kiln_runtime_t *rt = kiln_runtime_new(NULL);
    KT_ASSERT_EQ_INT(kiln_runtime_schedulers(rt), 3);
    kiln_runtime_free(rt);
    rt = new_rt(2);
    KT_ASSERT_EQ_INT(kiln_runtime_schedulers(rt), 2);
    kiln_runtime_free(rt);
    unsetenv("KILN_SCHEDULERS");
}

int main(void)
{
    KT_RUN(test_timers_order_and_stop);
    KT_RUN(test_timer_cascade);
    KT_RUN(test_cross_thread_post);
    KT_RUN(test_stop_from_thread);
    KT_RUN(test_io);
    KT_RUN(test_coro_park_wake);
    KT_RUN(test_coro_stack_reuse);
    KT_RUN(test_scheduler_count);
    return kt_done();
}
