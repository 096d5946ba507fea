/* Coroutine wake discipline under load.
 *
 * A coroutine may be woken only while it is parked, once per park. The
 * runtime checks this on every wake (coro.c, make_ready) and aborts, so the
 * mixed workload below doubles as an oracle for the runtime's own wake paths:
 * kiln_sleep, kiln_blocking, kiln_call with timeouts racing replies, wakes
 * from a foreign thread, nested coroutines, processes asked to exit while
 * parked, and runtime stop with coroutines parked and blocking jobs in
 * flight. Any double or stale wake aborts the test binary.
 *
 * The misuse tests run in a forked child and expect it to abort with the
 * runtime's message: before the check existed, a wake of a running coroutine
 * was queued and consumed by its next, unrelated park (kiln_blocking returned
 * before its job ran), and a wake of a finished one resumed it. */
#include "kiln/runtime.h"
#include "kiln_test.h"
#include "rt_test_util.h"
#include "runtime/runtime_int.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- misuse aborts at the wake, in a child process ------------------------ */

/* Runs fn in a child with stderr captured; true if it died of SIGABRT and
 * said `expect`. */
static bool child_aborts_saying(void (*fn)(void), const char *expect)
{
    int fds[2];
    if (pipe(fds) < 0) return false;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        signal(SIGABRT, SIG_DFL);
        fn();
        _exit(0); /* no abort: the misuse went unnoticed */
    }
    close(fds[1]);
    char buf[4096];
    size_t len = 0;
    ssize_t n;
    while ((n = read(fds[0], buf + len, sizeof buf - 1 - len)) > 0) len += (size_t)n;
    buf[len] = 0;
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    bool ok = WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT && strstr(buf, expect);
    if (!ok) fprintf(stderr, "  child status %d, said: %s\n", status, buf);
    return ok;
}

static int sq_slow(void *arg)
{
    usleep(20000);
    return (int)(intptr_t)arg * (int)(intptr_t)arg;
}

/* The data layer's D13 shape: the parent starts children, the last child to
 * finish wakes it; a child that finishes without parking does so while the
 * parent is still running. */
static kiln_coro_t *parent;
static int children_left;
static void child_done(void *arg)
{
    (void)arg;
    if (--children_left == 0) kiln_coro_wake(parent, 0);
}
static void body_wake_running(void)
{
    parent = kiln_coro_current();
    children_left = 3;
    for (int i = 0; i < 3; i++) kiln_coro_start(child_done, NULL);
    if (children_left) kiln_coro_park();
    /* Unchecked, the stale wake ended this wait early: 0, not 49. */
    fprintf(stderr, "blocking returned %d\n", kiln_blocking(sq_slow, (void *)7));
}
static void run_wake_running(void)
{
    rt_run(1, body_wake_running, NULL);
}

static kiln_coro_t *finished;
static void ends_at_once(void *arg)
{
    (void)arg;
    finished = kiln_coro_current();
}
static void *late_waker(void *arg)
{
    kiln_coro_wake(arg, 1);
    return NULL;
}
static void body_wake_finished(void)
{
    kiln_coro_start(ends_at_once, NULL);
    pthread_t t;
    pthread_create(&t, NULL, late_waker, finished);
    pthread_join(t, NULL);
    kiln_sleep(5); /* the posted wake arrives */
}
static void run_wake_finished(void)
{
    rt_run(1, body_wake_finished, NULL);
}

static kiln_coro_t *parked;
static void parks(void *arg)
{
    (void)arg;
    parked = kiln_coro_current();
    kiln_coro_park();
}
static void body_wake_twice(void)
{
    kiln_coro_start(parks, NULL);
    kiln_coro_wake(parked, 0);
    kiln_coro_wake(parked, 0);
}
static void run_wake_twice(void)
{
    rt_run(1, body_wake_twice, NULL);
}

static void test_wake_misuse_aborts(void)
{
    KT_ASSERT(child_aborts_saying(run_wake_running, "woken while running"));
    KT_ASSERT(child_aborts_saying(run_wake_finished, "woken after it returned"));
    KT_ASSERT(child_aborts_saying(run_wake_twice, "woken twice"));
}

/* ---- mixed waits on two schedulers ------------------------------------------ */

enum { T_ECHO = KILN_MSG_USER, T_WORK };
enum { WORKERS = 12, ITERS = 150, PROCS = 24 };

static uint32_t next_rand(uint32_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

/* Echo: sleeps the requested milliseconds, then replies (a caller's timeout
 * races the reply). */
static int echo_handle(kiln_proc_t *self, kiln_msg_t *m)
{
    (void)self;
    if (m->tag != T_ECHO) return 0;
    kiln_sleep((uint64_t)(m->len ? *(const unsigned char *)m->data : 0));
    kiln_reply(rt, m, kiln_msg_new(KILN_MSG_REPLY, NULL, 0));
    return 0;
}
static const kiln_proc_ops_t echo_ops = { .abi = KILN_PROC_ABI, .handle_msg = echo_handle };
static kiln_pid_t echo_pid[2];

static int twice(void *arg)
{
    usleep((useconds_t)((uintptr_t)arg % 200));
    return (int)(uintptr_t)arg * 2;
}

/* A foreign thread that wakes the coroutines handed to it. */
static pthread_mutex_t fw_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t fw_cv = PTHREAD_COND_INITIALIZER;
static kiln_coro_t *fw_queue[2 * WORKERS];
static int fw_n;
static bool fw_stop;
static void *foreign_waker(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&fw_mu);
    for (;;) {
        while (!fw_n && !fw_stop) pthread_cond_wait(&fw_cv, &fw_mu);
        if (!fw_n) break;
        kiln_coro_t *c = fw_queue[--fw_n];
        pthread_mutex_unlock(&fw_mu);
        kiln_coro_wake(c, 7);
        pthread_mutex_lock(&fw_mu);
    }
    pthread_mutex_unlock(&fw_mu);
    return NULL;
}
static intptr_t park_for_foreign_wake(void)
{
    pthread_mutex_lock(&fw_mu);
    fw_queue[fw_n++] = kiln_coro_current(); /* may be woken before it parks: the wake is posted */
    pthread_cond_signal(&fw_cv);
    pthread_mutex_unlock(&fw_mu);
    return kiln_coro_park();
}

static atomic_int workers_done, nested_done, wrong;
static void nested(void *arg)
{
    uintptr_t r = (uintptr_t)arg % 1000;
    if (r & 1) kiln_sleep(r % 3);
    else if (kiln_blocking(twice, (void *)r) != (int)r * 2) atomic_fetch_add(&wrong, 1);
    atomic_fetch_add(&nested_done, 1);
}
static void worker(void *arg)
{
    uint32_t x = (uint32_t)(uintptr_t)arg * 2654435761u + 1;
    for (int i = 0; i < ITERS; i++) {
        uint32_t r = next_rand(&x);
        switch (r % 5) {
        case 0: kiln_sleep(r % 3); break;
        case 1:
            if (kiln_blocking(twice, (void *)(uintptr_t)(r % 1000)) != (int)(r % 1000) * 2) atomic_fetch_add(&wrong, 1);
            break;
        case 2: {
            unsigned char delay = (unsigned char)(r >> 8) % 3;
            kiln_msg_t *reply = NULL;
            int rc = kiln_call(rt, echo_pid[(r >> 4) & 1], kiln_msg_new(T_ECHO, &delay, 1), (r >> 12) % 3, &reply);
            if (rc == 0) kiln_msg_free(reply);
            else if (rc != KILN_ETIMEDOUT) atomic_fetch_add(&wrong, 1);
            break;
        }
        case 3:
            if (park_for_foreign_wake() != 7) atomic_fetch_add(&wrong, 1);
            break;
        default: kiln_coro_start(nested, (void *)(uintptr_t)r); break;
        }
    }
    atomic_fetch_add(&workers_done, 1);
}
static void start_workers(void *arg)
{
    for (int i = 0; i < WORKERS; i++) kiln_coro_start(worker, (void *)(uintptr_t)((uintptr_t)arg * WORKERS + i));
}

/* Processes that park in a handler and are asked to exit meanwhile. */
static atomic_int terminated;
static int parker_handle(kiln_proc_t *self, kiln_msg_t *m)
{
    uintptr_t r = kiln_proc_pid(self) >> 8;
    if (m->tag != T_WORK) return 0;
    switch (r % 3) {
    case 0: kiln_sleep(1); break;
    case 1: kiln_blocking(twice, (void *)r); break;
    default: {
        kiln_msg_t *reply = NULL;
        unsigned char delay = 1;
        if (kiln_call(rt, echo_pid[r & 1], kiln_msg_new(T_ECHO, &delay, 1), 1, &reply) == 0) kiln_msg_free(reply);
    }
    }
    return 0;
}
static void parker_terminate(kiln_proc_t *self, int reason)
{
    (void)self;
    (void)reason;
    atomic_fetch_add(&terminated, 1);
}
static const kiln_proc_ops_t parker_ops = { .abi = KILN_PROC_ABI, .handle_msg = parker_handle,
                                            .terminate = parker_terminate };

static void body_mixed(void)
{
    atomic_store(&workers_done, 0);
    atomic_store(&nested_done, 0);
    atomic_store(&wrong, 0);
    atomic_store(&terminated, 0);
    fw_stop = false;
    pthread_t fw;
    KT_ASSERT_EQ_INT(pthread_create(&fw, NULL, foreign_waker, NULL), 0);
    for (int i = 0; i < 2; i++) kiln_spawn(rt, kiln_sched_get(rt, i), &echo_ops, NULL, &echo_pid[i]);
    kiln_sched_post(kiln_sched_get(rt, 0), start_workers, (void *)0);
    kiln_sched_post(kiln_sched_get(rt, 1), start_workers, (void *)1);
    kiln_pid_t procs[PROCS];
    for (int round = 0; round < 4; round++) {
        for (int i = 0; i < PROCS; i++) {
            kiln_spawn(rt, kiln_sched_get(rt, i & 1), &parker_ops, NULL, &procs[i]);
            for (int k = 0; k < 3; k++) kiln_send(rt, procs[i], kiln_msg_new(T_WORK, NULL, 0));
        }
        kiln_sleep(1);
        for (int i = 0; i < PROCS; i++) kiln_exit(rt, procs[i], round);
    }
    RT_WAIT_FOR(atomic_load(&workers_done) == 2 * WORKERS && atomic_load(&terminated) == 4 * PROCS);
    pthread_mutex_lock(&fw_mu);
    fw_stop = true;
    pthread_cond_broadcast(&fw_cv);
    pthread_mutex_unlock(&fw_mu);
    pthread_join(fw, NULL);
    KT_ASSERT_EQ_INT(atomic_load(&workers_done), 2 * WORKERS);
    KT_ASSERT_EQ_INT(atomic_load(&terminated), 4 * PROCS);
    KT_ASSERT_EQ_INT(atomic_load(&wrong), 0);
}
static void test_mixed_waits(void)
{
    rt_run(2, body_mixed, NULL);
    /* Nested coroutines still parked at stop are abandoned with the runtime. */
    KT_ASSERT(atomic_load(&nested_done) > 0);
}

/* ---- stop with coroutines parked and blocking jobs in flight --------------- */

static atomic_int jobs_run, jobs_accepted;
static int counted(void *arg)
{
    usleep((useconds_t)(uintptr_t)arg);
    atomic_fetch_add(&jobs_run, 1);
    return 0;
}
static void stopping_coro(void *arg)
{
    uintptr_t i = (uintptr_t)arg;
    for (;;) {
        if (i % 3 == 0) kiln_sleep(i % 5);
        else if (kiln_blocking(counted, (void *)(i * 97 % 1500)) == 0) atomic_fetch_add(&jobs_accepted, 1);
        i++;
    }
}
static void start_stopping(void *arg)
{
    for (uintptr_t i = 0; i < 16; i++) kiln_coro_start(stopping_coro, (void *)((uintptr_t)arg * 16 + i));
}
static void body_stop(void)
{
    for (int i = 0; i < 2; i++) kiln_sched_post(kiln_sched_get(rt, i), start_stopping, (void *)(uintptr_t)i);
    kiln_pid_t p;
    for (int i = 0; i < 8; i++) {
        kiln_spawn(rt, kiln_sched_get(rt, i & 1), &parker_ops, NULL, &p);
        kiln_send(rt, p, kiln_msg_new(T_WORK, NULL, 0));
    }
    kiln_sleep(3);
}
static void test_stop_while_parked(void)
{
    kiln_runtime_conf_t c = { .blocking_threads = 2, .blocking_queue = 8 };
    for (int round = 0; round < 30; round++) {
        atomic_store(&jobs_run, 0);
        atomic_store(&jobs_accepted, 0);
        atomic_store(&terminated, 0);
        echo_pid[0] = echo_pid[1] = 0; /* calls fail at once: no echo here */
        rt_run(2, body_stop, &c);
        /* The pool finishes every accepted job before the runtime is gone,
         * and every process is ended, parked or not. */
        KT_ASSERT(atomic_load(&jobs_run) >= atomic_load(&jobs_accepted));
        KT_ASSERT_EQ_INT(atomic_load(&terminated), 8);
    }
}

/* A process parked inside handle_msg at stop: its message is still the
 * runtime's to free (shutdown frees it, as a returning handler would). */
static atomic_int msg_freed;
static void count_free(void *data)
{
    (void)data;
    atomic_fetch_add(&msg_freed, 1);
}
static int sleeper_handle(kiln_proc_t *self, kiln_msg_t *m)
{
    (void)self;
    (void)m;
    kiln_sleep(60000);
    return 0;
}
static const kiln_proc_ops_t sleeper_ops = { .abi = KILN_PROC_ABI, .handle_msg = sleeper_handle };
static void body_parked_msg(void)
{
    kiln_pid_t p;
    kiln_spawn(rt, NULL, &sleeper_ops, NULL, &p);
    kiln_send(rt, p, kiln_msg_wrap(T_WORK, NULL, 0, count_free));
    kiln_sleep(5);
}
static void test_stop_frees_message_of_parked_handler(void)
{
    atomic_store(&msg_freed, 0);
    rt_run(1, body_parked_msg, NULL);
    KT_ASSERT_EQ_INT(atomic_load(&msg_freed), 1);
}

/* A spawn onto a scheduler that is already ending its processes: the posted
 * start then runs in kiln_runtime_free's drain, after shutdown freed the
 * process. The sentinel's terminate holds scheduler 1 inside its shutdown pass
 * until the spawn is made, so the order is certain. */
static atomic_int sentinel_up, sentinel_ending, late_spawned;
static int sentinel_init(kiln_proc_t *self, void *arg)
{
    (void)self;
    (void)arg;
    atomic_store(&sentinel_up, 1);
    return 0;
}
static void sentinel_terminate(kiln_proc_t *self, int reason)
{
    (void)self;
    (void)reason;
    atomic_store(&sentinel_ending, 1);
    while (!atomic_load(&late_spawned)) usleep(100);
}
static int ignore_handle(kiln_proc_t *self, kiln_msg_t *m)
{
    (void)self;
    (void)m;
    return 0;
}
static const kiln_proc_ops_t sentinel_ops = { .abi = KILN_PROC_ABI, .init = sentinel_init, .handle_msg = ignore_handle,
                                              .terminate = sentinel_terminate };
static const kiln_proc_ops_t late_ops = { .abi = KILN_PROC_ABI, .handle_msg = ignore_handle };
static void body_late_spawn(void)
{
    kiln_spawn(rt, kiln_sched_get(rt, 1), &sentinel_ops, NULL, NULL);
    RT_WAIT_FOR(atomic_load(&sentinel_up));
    kiln_runtime_stop(rt, 0);
    while (!atomic_load(&sentinel_ending)) usleep(100); /* scheduler 1 has left its loop */
    KT_ASSERT_EQ_INT(kiln_spawn(rt, kiln_sched_get(rt, 1), &late_ops, NULL, NULL), 0);
    atomic_store(&late_spawned, 1);
}
static void test_spawn_during_shutdown(void)
{
    rt_run(2, body_late_spawn, NULL);
    KT_ASSERT_EQ_INT(atomic_load(&late_spawned), 1);
}

int main(void)
{
    KT_RUN(test_wake_misuse_aborts);
    KT_RUN(test_mixed_waits);
    KT_RUN(test_stop_while_parked);
    KT_RUN(test_stop_frees_message_of_parked_handler);
    KT_RUN(test_spawn_during_shutdown);
    return kt_done();
}
