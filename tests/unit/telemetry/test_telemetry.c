/* Telemetry: prefix matching, attach/detach at run time, duplicate ids,
 * concurrent execute during attach/detach, and the cost of execute. */
#include "kiln/telemetry.h"
#include "kiln/core.h"
#include "kiln_test.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

static int calls;
static double last_value;
static const char *last_route;

static void on_event(const kiln_telemetry_event_t *ev, void *ud)
{
    (*(int *)ud)++;
    calls++;
    last_value = ev->n_measurements ? ev->measurements[0].value : -1;
    last_route = ev->n_metadata ? ev->metadata[0].value : NULL;
}

static void test_attach_execute_detach(void)
{
    int a = 0, b = 0, all = 0;
    KT_ASSERT_EQ_INT(kiln_telemetry_attach("a", "kiln.router", on_event, &a), 0);
    KT_ASSERT_EQ_INT(kiln_telemetry_attach("b", "kiln.router.dispatch.stop", on_event, &b), 0);
    KT_ASSERT_EQ_INT(kiln_telemetry_attach("all", "", on_event, &all), 0);
    KT_ASSERT_EQ_INT(kiln_telemetry_attach("a", "x", on_event, &a), KILN_EINVAL);

    kiln_telemetry_execute("kiln.router.dispatch.stop", KILN_MEASUREMENTS({ "duration_us", 41.0 }),
                           KILN_METADATA({ "route", "/users/:id" }, { "method", "GET" }));
    KT_ASSERT_EQ_INT(a, 1);
    KT_ASSERT_EQ_INT(b, 1);
    KT_ASSERT_EQ_INT(all, 1);
    KT_ASSERT(last_value == 41.0);
    KT_ASSERT_EQ_STR(last_route, "/users/:id");

    kiln_telemetry_execute("kiln.routerx.start", KILN_MEASUREMENTS({ "n", 1 }), KILN_NO_METADATA);
    KT_ASSERT_EQ_INT(a, 1); /* prefix stops at a dot boundary */
    KT_ASSERT_EQ_INT(all, 2);
    KT_ASSERT(kiln_telemetry_enabled("kiln.router.x"));

    KT_ASSERT_EQ_INT(kiln_telemetry_detach("all"), 0);
    KT_ASSERT_EQ_INT(kiln_telemetry_detach("all"), KILN_ENOENT);
    kiln_telemetry_execute("kiln.router", NULL, 0, NULL, 0);
    KT_ASSERT_EQ_INT(a, 2);
    KT_ASSERT_EQ_INT(all, 2);
    KT_ASSERT(!kiln_telemetry_enabled("kiln.other"));
    kiln_telemetry_shutdown();
    kiln_telemetry_execute("kiln.router", NULL, 0, NULL, 0);
    KT_ASSERT_EQ_INT(a, 2);
}

static void test_lookups(void)
{
    const kiln_measurement_t m[] = { { "duration_us", 12.5 }, { "status", 200 } };
    const kiln_meta_t md[] = { { "method", "GET" }, { "path", "/x" } };
    kiln_telemetry_event_t ev = { "kiln.endpoint.stop", m, 2, md, 2 };
    KT_ASSERT(kiln_telemetry_measurement(&ev, "status", -1) == 200);
    KT_ASSERT(kiln_telemetry_measurement(&ev, "nope", -1) == -1);
    KT_ASSERT_EQ_STR(kiln_telemetry_meta(&ev, "path"), "/x");
    KT_ASSERT(kiln_telemetry_meta(&ev, "route") == NULL);
}

static atomic_int stop_flag;
static atomic_long hits;
static void count_cb(const kiln_telemetry_event_t *ev, void *ud)
{
    (void)ev;
    (void)ud;
    atomic_fetch_add_explicit(&hits, 1, memory_order_relaxed);
}
static void *executor(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop_flag)) kiln_telemetry_execute("kiln.x", KILN_MEASUREMENTS({ "v", 1 }), NULL, 0);
    return NULL;
}

static void test_concurrent_attach_detach(void)
{
    pthread_t t;
    atomic_store(&stop_flag, 0);
    pthread_create(&t, NULL, executor, NULL);
    KT_ASSERT_EQ_INT(kiln_telemetry_attach("steady", "kiln", count_cb, NULL), 0);
    for (int i = 0; i < 200; i++) {
        KT_ASSERT_EQ_INT(kiln_telemetry_attach("flap", "kiln.x", count_cb, NULL), 0);
        KT_ASSERT_EQ_INT(kiln_telemetry_detach("flap"), 0);
    }
    for (int i = 0; i < 1000 && atomic_load(&hits) == 0; i++) {
        struct timespec ts = { 0, 1000000 };
        nanosleep(&ts, NULL); /* let the executor run at least once */
    }
    atomic_store(&stop_flag, 1);
    pthread_join(t, NULL);
    KT_ASSERT(atomic_load(&hits) > 0);
    kiln_telemetry_shutdown();
}

static void nop_cb(const kiln_telemetry_event_t *ev, void *ud)
{
    (void)ev;
    (void)ud;
}

static void test_execute_cost(void)
{
    enum { N = 200000 };
    int64_t t0 = kiln_now_ns();
    for (int i = 0; i < N; i++) kiln_telemetry_execute("kiln.http.request.stop", KILN_MEASUREMENTS({ "d", i }), NULL, 0);
    int64_t none = (kiln_now_ns() - t0) / N;
    kiln_telemetry_attach("h", "kiln.http", nop_cb, NULL);
    kiln_telemetry_attach("other", "kiln.db", nop_cb, NULL);
    t0 = kiln_now_ns();
    for (int i = 0; i < N; i++) kiln_telemetry_execute("kiln.http.request.stop", KILN_MEASUREMENTS({ "d", i }), NULL, 0);
    int64_t two = (kiln_now_ns() - t0) / N;
    printf("# execute: %lld ns with no handler, %lld ns with 2 handlers (1 matching)\n", (long long)none,
           (long long)two);
    kiln_telemetry_shutdown();
    KT_ASSERT(two < 2000); /* generous: sanitizer builds are slow */
}

int main(void)
{
    KT_RUN(test_attach_execute_detach);
    KT_RUN(test_lookups);
    KT_RUN(test_concurrent_attach_detach);
    KT_RUN(test_execute_cost);
    return kt_done();
}
