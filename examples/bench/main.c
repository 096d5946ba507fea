/* examples/bench: the TechEmpower "plaintext" and "json" tests.
 *
 * Per the TechEmpower rules: each response carries Server and Date headers
 * (added by the server for every response); /plaintext answers the fixed
 * "Hello, World!" as text/plain; /json builds a new object per request and
 * serializes it with the JSON library, as application/json. No other plugs run
 * and the request log is off (as access_log off in the nginx it is compared
 * with, and as TechEmpower entries run): the benchmark measures the server, the
 * router and the handler. Honours PORT and KILN_SCHEDULERS like every app. */
#include <jansson.h>

#include "fortune.h"
#include "kiln/app.h"
#include "kiln/router.h"
#include "bench_db.h"

static int plaintext(kiln_conn_t *c)
{
    static const char body[] = "Hello, World!";
    return kiln_conn_send_resp(c, 200, "text/plain", body, sizeof body - 1);
}

static int json(kiln_conn_t *c)
{
    json_t *obj = json_object();
    if (!obj || json_object_set_new(obj, "message", json_string("Hello, World!")) < 0) {
        json_decref(obj);
        return KILN_ENOMEM;
    }
    char buf[64];
    size_t n = json_dumpb(obj, buf, sizeof buf, JSON_COMPACT);
    json_decref(obj);
    if (n == 0 || n > sizeof buf) return KILN_EINTERNAL;
    char *body = kiln_arena_strndup(c->arena, buf, n); /* the body must outlive this frame until sent */
    return body ? kiln_conn_send_resp(c, 200, "application/json", body, n) : KILN_ENOMEM;
}

static const kiln_route_t routes[] = {
    KILN_GET("/plaintext", plaintext, "plaintext"),
    KILN_GET("/json", json, "json"),
    KILN_GET("/db", bench_db, "db"),
    KILN_GET("/queries", bench_queries, "queries"),
    KILN_GET("/updates", bench_updates, "updates"),
    KILN_GET("/fortunes", bench_fortunes, "fortunes"),
    KILN_GET("/raw/db", raw_db, "raw_db"),
    KILN_GET("/raw/queries", raw_queries, "raw_queries"),
    KILN_GET("/raw/updates", raw_updates, "raw_updates"),
    KILN_GET("/raw/fortunes", raw_fortunes, "raw_fortunes"),
    KILN_GET("/bench/fortunes-mem", fortunes_mem, "fortunes_mem"),
    KILN_GET("/bench/fortunes-hand", fortunes_hand, "fortunes_hand"),
};

int main(int argc, char **argv)
{
    static kiln_endpoint_t endpoint = { .name = "bench" };
    if (kiln_router_build(routes, KILN_ARRAY_LEN(routes), &endpoint.router) < 0) return 1;
    const kiln_app_t app = { .name = "bench", .endpoint = &endpoint, .no_request_log = 1,
                             .configure = bench_db_configure,
                             .migrations = bench_migrations, .n_migrations = bench_n_migrations };
    int code = kiln_main(argc, argv, &app);
    kiln_router_free(endpoint.router);
    kiln_repo_close(bench_repo);
    bench_raw_close();
    return code;
}
