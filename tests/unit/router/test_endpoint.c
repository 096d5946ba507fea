/* Endpoint and ConnTest: a handler error becomes a 500 reported (through the
 * request events, here via the request log) with the request id; a handler that sends nothing gets a 500; plug errors name the plug; the
 * dev page shows the cause and the prod page does not; error views follow the
 * format; chunked and file responses through the test adapter. */
#include "kiln/logger.h"
#include "kiln/plugs.h"
#include "kiln/router.h"
#include "kiln/telemetry.h"
#include "kiln/test.h"
#include "kiln_test.h"

#include <stdio.h>
#include <stdlib.h>

static int h_ok(kiln_conn_t *c)
{
    kiln_conn_assign(c, "user", "ada");
    kiln_conn_put_resp_cookie(c, "sid", "s1", NULL);
    return kiln_conn_html(c, 200, "<p>ok</p>");
}
static int h_fail(kiln_conn_t *c) { (void)c; return KILN_EIO; }
static int h_silent(kiln_conn_t *c) { (void)c; return 0; }
static int h_chunked(kiln_conn_t *c)
{
    int rc = kiln_conn_send_chunked(c, 200);
    for (int i = 0; rc == 0 && i < 3; i++) rc = kiln_conn_chunk(c, "ab", 2);
    return rc == 0 ? kiln_conn_chunk(c, NULL, 0) : rc;
}
static int h_redirect(kiln_conn_t *c) { return kiln_conn_redirect(c, kiln_conn_path(c, "ok", NULL, NULL)); }
static int h_echo_body(kiln_conn_t *c) { return kiln_conn_send_resp(c, 200, "application/octet-stream", c->body.ptr, c->body.len); }

static int failing_plug(kiln_conn_t *c, const void *o) { (void)c; (void)o; return KILN_EPERM; }
static int halting_plug(kiln_conn_t *c, const void *o) { (void)o; kiln_conn_halt(c); return KILN_PLUG_HALT; }

static const kiln_plug_t bad_plugs[] = { KILN_PLUG(failing_plug, NULL), KILN_PLUG_END };
static const kiln_plug_t mute_plugs[] = { KILN_PLUG(halting_plug, NULL), KILN_PLUG_END };
static const kiln_pipeline_t bad = KILN_PIPELINE("bad", bad_plugs);
static const kiln_pipeline_t mute = KILN_PIPELINE("mute", mute_plugs);
static const kiln_accepts_opts_t json_only = { .formats = "json" };
static const kiln_plug_t api_plugs[] = { KILN_PLUG(kiln_plug_accepts, &json_only), KILN_PLUG_END };
static const kiln_pipeline_t api = KILN_PIPELINE("api", api_plugs);

static const kiln_route_t routes[] = {
    KILN_GET("/ok", h_ok, "ok"),
    KILN_GET("/fail", h_fail, "fail"),
    KILN_GET("/silent", h_silent, "silent"),
    KILN_GET("/chunked", h_chunked, "chunked"),
    KILN_GET("/redirect", h_redirect, "redirect"),
    KILN_POST("/echo", h_echo_body, "echo"),
    KILN_SCOPE("/bad", &bad), KILN_GET("/x", h_ok, "bad_x"), KILN_SCOPE_END,
    KILN_SCOPE("/mute", &mute), KILN_GET("/x", h_ok, "mute_x"), KILN_SCOPE_END,
    KILN_SCOPE("/api", &api), KILN_GET("/fail", h_fail, "api_fail"), KILN_SCOPE_END,
};

static const kiln_plug_t ep_plugs[] = { KILN_PLUG(kiln_plug_request_id, NULL), KILN_PLUG_END };
static kiln_endpoint_t ep = { .name = "demo", .plugs = ep_plugs };

/* Runs a request with the request log attached, its lines captured into buf. */
typedef struct capture {
    char *buf;
    size_t cap;
} capture_t;

static void sink(kiln_log_level_t level, const char *line, void *ud)
{
    capture_t *cp = ud;
    size_t n = strlen(cp->buf);
    snprintf(cp->buf + n, cp->cap - n, "[%d] %s\n", (int)level, line);
}

static kiln_test_conn_t *captured(const char *method, const char *path, char *buf, size_t cap)
{
    capture_t cp = { buf, cap };
    buf[0] = '\0';
    kiln_logger_attach(&(kiln_logger_opts_t){ .level = KILN_LOG_INFO, .sink = sink, .sink_ud = &cp });
    kiln_test_conn_t *t = kiln_test_request(&ep, method, path);
    kiln_logger_detach();
    return t;
}

static void test_ok_and_conntest(void)
{
    kiln_test_conn_t *t = kiln_test_request(&ep, "GET", "/ok");
    KT_ASSERT_EQ_INT(t->status, 200);
    KT_ASSERT_EQ_INT(t->rc, 0);
    KT_ASSERT_EQ_INT(t->sends, 1);
    KT_ASSERT_EQ_STR(t->body, "<p>ok</p>");
    KT_ASSERT_EQ_STR(kiln_test_resp_header(t, "content-type"), "text/html; charset=utf-8");
    KT_ASSERT_EQ_STR(kiln_test_assign(t, "user"), "ada");
    KT_ASSERT_EQ_INT(kiln_test_resp_header_count(t, "set-cookie"), 1);
    KT_ASSERT(!strncmp(t->head, "HTTP/1.1 200 OK\r\n", 17));
    kiln_test_free(t);
    t = kiln_test_request(&ep, "GET", "/redirect");
    KT_ASSERT_EQ_INT(t->status, 302);
    KT_ASSERT_EQ_STR(kiln_test_resp_header(t, "location"), "/ok");
    kiln_test_free(t);
    t = kiln_test_request(&ep, "POST", "/echo", .body = "a\0b", .body_len = 3);
    KT_ASSERT_EQ_INT(t->body_len, 3);
    KT_ASSERT(!memcmp(t->body, "a\0b", 3));
    kiln_test_free(t);
}

static void test_handler_error(void)
{
    char log[4096];
    kiln_test_conn_t *t = captured("GET", "/fail", log, sizeof log);
    KT_ASSERT_EQ_INT(t->status, 500);
    KT_ASSERT_EQ_INT(t->rc, KILN_EIO);
    KT_ASSERT(strstr(t->body, "Internal Server Error") != NULL);
    KT_ASSERT(strstr(t->body, "i/o error") == NULL); /* prod: no cause on the page */
    char *want = kiln_arena_sprintf(t->conn->arena, "[%d] GET /fail -> 500 in ", KILN_LOG_ERROR);
    KT_ASSERT(strstr(log, want) != NULL);
    want = kiln_arena_sprintf(t->conn->arena, "request_id=%s: i/o error (in h_fail, route /fail)\n",
                              t->conn->request_id);
    if (!strstr(log, want)) fprintf(stderr, "  log was: %s\n", log);
    KT_ASSERT(strstr(log, want) != NULL);
    kiln_test_free(t);
}

static void test_silent_handler(void)
{
    char log[4096];
    kiln_test_conn_t *t = captured("GET", "/silent", log, sizeof log);
    KT_ASSERT_EQ_INT(t->status, 500);
    KT_ASSERT_EQ_INT(t->rc, KILN_ESTATE);
    KT_ASSERT_EQ_INT(t->sends, 1);
    KT_ASSERT(strstr(log, "no response sent") != NULL);
    kiln_test_free(t);
    t = captured("GET", "/mute/x", log, sizeof log); /* a plug halted without answering */
    KT_ASSERT_EQ_INT(t->status, 500);
    kiln_test_free(t);
}

static void test_plug_error_dev_page(void)
{
    char log[4096];
    ep.dev = 1;
    kiln_test_conn_t *t = captured("GET", "/bad/x", log, sizeof log);
    ep.dev = 0;
    KT_ASSERT_EQ_INT(t->status, 500);
    KT_ASSERT(strstr(t->body, "not permitted") != NULL);
    KT_ASSERT(strstr(t->body, "failing_plug") != NULL);
    KT_ASSERT(strstr(t->body, "/bad/x") != NULL);
    KT_ASSERT(strstr(log, "in failing_plug") != NULL);
    kiln_test_free(t);
}

static void test_error_formats(void)
{
    char log[4096];
    kiln_test_conn_t *t = captured("GET", "/api/fail", log, sizeof log);
    KT_ASSERT_EQ_INT(t->status, 500);
    KT_ASSERT_EQ_STR(t->body, "{\"errors\":{\"detail\":\"Internal Server Error\"}}");
    KT_ASSERT_EQ_STR(kiln_test_resp_header(t, "content-type"), "application/json");
    kiln_test_free(t);
    t = kiln_test_request(&ep, "GET", "/nowhere", .headers = KILN_TEST_HEADERS("accept", "application/json"));
    KT_ASSERT_EQ_INT(t->status, 404);
    KT_ASSERT_EQ_STR(t->body, "{\"errors\":{\"detail\":\"Not Found\"}}");
    kiln_test_free(t);
    t = kiln_test_request(&ep, "GET", "/nowhere");
    KT_ASSERT_EQ_INT(t->status, 404);
    KT_ASSERT(strstr(t->body, "<h1>Not Found</h1>") != NULL);
    kiln_test_free(t);
    t = kiln_test_request(&ep, "DELETE", "/ok");
    KT_ASSERT_EQ_INT(t->status, 405);
    KT_ASSERT_EQ_STR(kiln_test_resp_header(t, "allow"), "GET, HEAD");
    kiln_test_free(t);
}

static void test_chunked(void)
{
    kiln_test_conn_t *t = kiln_test_request(&ep, "GET", "/chunked");
    KT_ASSERT_EQ_INT(t->status, 200);
    KT_ASSERT_EQ_INT(t->chunks, 3);
    KT_ASSERT_EQ_STR(t->body, "ababab");
    KT_ASSERT(strstr(t->head, "transfer-encoding: chunked\r\n") != NULL);
    kiln_test_free(t);
}

static char seen[512];
static void on_event(const kiln_telemetry_event_t *ev, void *ud)
{
    (void)ud;
    size_t n = strlen(seen);
    const char *route = "", *err = "";
    for (size_t i = 0; i < ev->n_metadata; i++) {
        if (!strcmp(ev->metadata[i].key, "route")) route = ev->metadata[i].value;
        if (!strcmp(ev->metadata[i].key, "error")) err = ev->metadata[i].value;
    }
    snprintf(seen + n, sizeof seen - n, "%s(%s|%s);", ev->name, route, err);
}

static void test_telemetry(void)
{
    seen[0] = '\0';
    KT_ASSERT_EQ_INT(kiln_telemetry_attach("test", "kiln.endpoint", on_event, NULL), 0);
    char log[4096];
    kiln_test_conn_t *t = kiln_test_request(&ep, "GET", "/ok");
    kiln_test_free(t);
    t = captured("GET", "/fail", log, sizeof log);
    kiln_test_free(t);
    kiln_telemetry_detach("test");
    KT_ASSERT_EQ_STR(seen, "kiln.endpoint.start(|);kiln.endpoint.stop(/ok|);"
                           "kiln.endpoint.start(|);kiln.endpoint.exception(/fail|i/o error);"
                           "kiln.endpoint.stop(/fail|i/o error);");
}

static char stop_meta[512];
static double stop_status, stop_duration = -1;
static void on_stop(const kiln_telemetry_event_t *ev, void *ud)
{
    (void)ud;
    static const char *keys[] = { "method", "path", "route", "route_name", "request_id", "remote_ip", "error", "in" };
    stop_meta[0] = '\0';
    for (size_t i = 0; i < KILN_ARRAY_LEN(keys); i++) {
        size_t n = strlen(stop_meta);
        const char *v = kiln_telemetry_meta(ev, keys[i]);
        snprintf(stop_meta + n, sizeof stop_meta - n, "%s=%s;", keys[i], v ? v : "(none)");
    }
    stop_status = kiln_telemetry_measurement(ev, "status", -1);
    stop_duration = kiln_telemetry_measurement(ev, "duration_us", -1);
}

/* stop carries everything a log line or a metric needs. */
static void test_stop_metadata(void)
{
    KT_ASSERT_EQ_INT(kiln_telemetry_attach("stop", KILN_EVENT_ENDPOINT_STOP, on_stop, NULL), 0);
    kiln_test_conn_t *t = kiln_test_request(&ep, "GET", "/ok?x=1", .remote_ip = "10.0.0.7");
    kiln_telemetry_detach("stop");
    char *want = kiln_arena_sprintf(t->conn->arena,
                                    "method=GET;path=/ok;route=/ok;route_name=ok;request_id=%s;remote_ip=10.0.0.7;"
                                    "error=;in=;", t->conn->request_id);
    KT_ASSERT_EQ_STR(stop_meta, want);
    KT_ASSERT(stop_status == 200);
    KT_ASSERT(stop_duration >= 0);
    kiln_test_free(t);
}

static void test_no_router(void)
{
    kiln_endpoint_t bare = { .name = "bare" };
    kiln_test_conn_t *t = kiln_test_request(&bare, "GET", "/");
    KT_ASSERT_EQ_INT(t->status, 404);
    kiln_test_free(t);
}

int main(void)
{
    kiln_router_t *r;
    if (kiln_router_build(routes, KILN_ARRAY_LEN(routes), &r) != 0) return 1;
    ep.router = r;
    KT_RUN(test_ok_and_conntest);
    KT_RUN(test_handler_error);
    KT_RUN(test_silent_handler);
    KT_RUN(test_plug_error_dev_page);
    KT_RUN(test_error_formats);
    KT_RUN(test_chunked);
    KT_RUN(test_no_router);
    KT_RUN(test_telemetry);
    KT_RUN(test_stop_metadata);
    kiln_router_free(r);
    kiln_telemetry_shutdown();
    return kt_done();
}
