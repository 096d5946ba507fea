/* ConnTest runs requests on a coroutine of its runtime, so handlers that wait
 * work as they do under the server: kiln_sleep, kiln_blocking, and kiln_call
 * to a process spawned on kiln_test_runtime(). Also: requests from several
 * test threads at once, and a request issued from a coroutine runs inline. */
#include "kiln/router.h"
#include "kiln/test.h"
#include "kiln_test.h"

#include <pthread.h>
#include <stdio.h>

enum { T_GET = KILN_MSG_USER };

static int h_sleep(kiln_conn_t *c)
{
    int64_t t0 = kiln_now_ms();
    int rc = kiln_sleep(10);
    if (rc < 0) return rc;
    char *body = kiln_arena_sprintf(c->arena, "slept %lld", (long long)(kiln_now_ms() - t0));
    return body ? kiln_conn_text(c, 200, body) : KILN_ENOMEM;
}

static int square(void *arg)
{
    int v = *(int *)arg;
    return v * v;
}

static int h_blocking(kiln_conn_t *c)
{
    int v = 12;
    int rc = kiln_blocking(square, &v);
    if (rc < 0) return rc;
    char *body = kiln_arena_sprintf(c->arena, "%d", rc);
    return body ? kiln_conn_text(c, 200, body) : KILN_ENOMEM;
}

/* A counter process: answers T_GET with its count, incremented per call. */
static int counter_handle(kiln_proc_t *self, kiln_msg_t *m)
{
    int *n = kiln_proc_state(self);
    if (m->tag == T_GET) {
        ++*n;
        kiln_reply(kiln_sched_runtime(kiln_sched_current()), m, kiln_msg_new(KILN_MSG_REPLY, n, sizeof *n));
    }
    return 0;
}
static int counter_init(kiln_proc_t *self, void *arg)
{
    kiln_proc_set_state(self, arg);
    return 0;
}
static const kiln_proc_ops_t counter_ops = { .abi = KILN_PROC_ABI, .init = counter_init,
                                              .handle_msg = counter_handle };
static kiln_pid_t counter;
static int count;

static int h_call(kiln_conn_t *c)
{
    kiln_msg_t *reply = NULL;
    int rc = kiln_call(kiln_sched_runtime(kiln_sched_current()), counter, kiln_msg_new(T_GET, NULL, 0), 1000, &reply);
    if (rc < 0) return rc;
    char *body = kiln_arena_sprintf(c->arena, "count %d", *(int *)reply->data);
    kiln_msg_free(reply);
    return body ? kiln_conn_text(c, 200, body) : KILN_ENOMEM;
}

static const kiln_route_t routes[] = {
    KILN_GET("/sleep", h_sleep, "sleep"),
    KILN_GET("/blocking", h_blocking, "blocking"),
    KILN_GET("/call", h_call, "call"),
};
static kiln_endpoint_t ep = { .name = "wait" };

static void test_sleep(void)
{
    kiln_test_conn_t *t = kiln_test_request(&ep, "GET", "/sleep");
    KT_ASSERT_EQ_INT(t->rc, 0);
    KT_ASSERT_EQ_INT(t->status, 200);
    int ms = -1;
    KT_ASSERT(sscanf(t->body, "slept %d", &ms) == 1);
    KT_ASSERT(ms >= 9); /* the timer wheel's resolution is about 1 ms */
    kiln_test_free(t);
}

static void test_blocking(void)
{
    kiln_test_conn_t *t = kiln_test_request(&ep, "GET", "/blocking");
    KT_ASSERT_EQ_INT(t->status, 200);
    KT_ASSERT_EQ_STR(t->body, "144");
    kiln_test_free(t);
}

static void test_call(void)
{
    KT_ASSERT_EQ_INT(kiln_spawn(kiln_test_runtime(), NULL, &counter_ops, &count, &counter), 0);
    for (int i = 1; i <= 3; i++) {
        kiln_test_conn_t *t = kiln_test_request(&ep, "GET", "/call");
        KT_ASSERT_EQ_INT(t->status, 200);
        char want[16];
        snprintf(want, sizeof want, "count %d", i);
        KT_ASSERT_EQ_STR(t->body, want);
        kiln_test_free(t);
    }
    KT_ASSERT_EQ_INT(kiln_exit(kiln_test_runtime(), counter, 0), 0);
}

static void *sleeper_thread(void *arg)
{
    kiln_test_conn_t *t = kiln_test_request(&ep, "GET", "/sleep");
    *(int *)arg = t->status;
    kiln_test_free(t);
    return NULL;
}

/* Four threads' sleeping requests overlap on the one scheduler. */
static void test_concurrent_threads(void)
{
    pthread_t th[4];
    int status[4] = { 0 };
    int64_t t0 = kiln_now_ms();
    for (int i = 0; i < 4; i++) pthread_create(&th[i], NULL, sleeper_thread, &status[i]);
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < 4; i++) KT_ASSERT_EQ_INT(status[i], 200);
    KT_ASSERT(kiln_now_ms() - t0 < 1000); /* not serialised behind each other's waits */
}

/* From a coroutine (here one of another runtime) the request runs inline. */
static kiln_runtime_t *other;
static int inline_status;
static void inline_coro(void *arg)
{
    (void)arg;
    kiln_test_conn_t *t = kiln_test_request(&ep, "GET", "/sleep");
    inline_status = t->conn->endpoint == &ep && kiln_sched_runtime(kiln_sched_current()) == other ? t->status : -1;
    kiln_test_free(t);
    kiln_runtime_stop(other, 0);
}
static void inline_start(void *arg)
{
    kiln_coro_start(inline_coro, arg);
}

static void test_inline_on_coroutine(void)
{
    other = kiln_runtime_new(&(kiln_runtime_conf_t){ .schedulers = 1, .blocking_threads = 1 });
    KT_ASSERT(other != NULL);
    kiln_sched_post(kiln_sched_get(other, 0), inline_start, NULL);
    kiln_runtime_run(other);
    kiln_runtime_free(other);
    KT_ASSERT_EQ_INT(inline_status, 200);
}

int main(void)
{
    kiln_log_set_level(KILN_LOG_ERROR);
    kiln_router_t *r;
    if (kiln_router_build(routes, KILN_ARRAY_LEN(routes), &r) != 0) return 1;
    ep.router = r;
    KT_RUN(test_sleep);
    KT_RUN(test_blocking);
    KT_RUN(test_call);
    KT_RUN(test_concurrent_threads);
    KT_RUN(test_inline_on_coroutine);
    kiln_router_free(r);
    return kt_done();
}
