/* The request log (kiln/logger.h) as a telemetry handler: attached, a request
 * gives exactly one line with method, path, status, duration and request id;
 * detached, none; a failure gives one error-level line with its cause; a
 * deliberate 5xx logs at error level; control bytes in the path are escaped; the default sink writes through kiln_log
 * to stderr; attach and detach report misuse. */
#include "kiln/logger.h"
#include "kiln/plugs.h"
#include "kiln/router.h"
#include "kiln/telemetry.h"
#include "kiln/test.h"
#include "kiln_test.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static int h_user(kiln_conn_t *c) { return kiln_conn_text(c, 200, "ada"); }
static int h_fail(kiln_conn_t *c) { (void)c; return KILN_EIO; }
static int h_busy(kiln_conn_t *c) { return kiln_conn_text(c, 503, "busy"); }

static const kiln_route_t routes[] = {
    KILN_GET("/users/:id", h_user, "user_show"),
    KILN_GET("/fail", h_fail, "fail"),
    KILN_GET("/busy", h_busy, "busy"),
};
static const kiln_plug_t ep_plugs[] = { KILN_PLUG(kiln_plug_request_id, NULL), KILN_PLUG_END };
static kiln_endpoint_t ep = { .name = "log", .plugs = ep_plugs };

/* The sink runs on the test runtime's thread; the request's completion orders
 * it before the test reads, the lock keeps it honest under TSan-like tools. */
static pthread_mutex_t lines_lock = PTHREAD_MUTEX_INITIALIZER;
static char lines[8][512];
static int levels[8], n_lines;

static void sink(kiln_log_level_t level, const char *line, void *ud)
{
    (void)ud;
    pthread_mutex_lock(&lines_lock);
    if (n_lines < 8) {
        snprintf(lines[n_lines], sizeof lines[0], "%s", line);
        levels[n_lines] = (int)level;
    }
    n_lines++;
    pthread_mutex_unlock(&lines_lock);
}

static const kiln_logger_opts_t sink_opts = { .level = KILN_LOG_INFO, .sink = sink };

static void test_one_line_per_request(void)
{
    n_lines = 0;
    KT_ASSERT_EQ_INT(kiln_logger_attach(&sink_opts), 0);
    kiln_test_conn_t *t = kiln_test_request(&ep, "GET", "/users/42?x=1");
    KT_ASSERT_EQ_INT(kiln_logger_detach(), 0);
    KT_ASSERT_EQ_INT(t->status, 200);
    KT_ASSERT_EQ_INT(n_lines, 1);
    KT_ASSERT_EQ_INT(levels[0], KILN_LOG_INFO);
    KT_ASSERT(!strncmp(lines[0], "GET /users/42 -> 200 in ", 24));
    KT_ASSERT(strstr(lines[0], "µs request_id=") != NULL || strstr(lines[0], "ms request_id=") != NULL);
    char *want = kiln_arena_sprintf(t->conn->arena, "request_id=%s", t->conn->request_id);
    KT_ASSERT(strstr(lines[0], want) != NULL);
    kiln_test_free(t);
}

/* A decoded path cannot forge a second log line. */
static void test_control_bytes_escaped(void)
{
    n_lines = 0;
    kiln_logger_attach(&sink_opts);
    kiln_test_free(kiln_test_request(&ep, "GET", "/users/a%0aGET%20/x%20-%3E%20200"));
    kiln_logger_detach();
    KT_ASSERT_EQ_INT(n_lines, 1);
    KT_ASSERT(!strncmp(lines[0], "GET /users/a?GET /x -> 200 -> 404 in ", 37)); /* the raw "/x" is a segment */
    KT_ASSERT(strchr(lines[0], '\n') == NULL);
}

static void test_detached_logs_nothing(void)
{
    n_lines = 0;
    KT_ASSERT_EQ_INT(kiln_logger_attach(&sink_opts), 0);
    KT_ASSERT_EQ_INT(kiln_logger_detach(), 0);
    kiln_test_free(kiln_test_request(&ep, "GET", "/users/1"));
    kiln_test_free(kiln_test_request(&ep, "GET", "/fail"));
    KT_ASSERT_EQ_INT(n_lines, 0);
    KT_ASSERT(!kiln_telemetry_enabled(KILN_EVENT_ENDPOINT_STOP));
}

static void test_failure_at_error_level(void)
{
    n_lines = 0;
    KT_ASSERT_EQ_INT(kiln_logger_attach(&(kiln_logger_opts_t){ .level = KILN_LOG_DEBUG, .sink = sink }), 0);
    kiln_test_conn_t *t = kiln_test_request(&ep, "GET", "/fail");
    kiln_test_conn_t *b = kiln_test_request(&ep, "GET", "/busy");
    kiln_logger_detach();
    KT_ASSERT_EQ_INT(t->status, 500);
    KT_ASSERT_EQ_INT(n_lines, 2); /* two requests, two lines: the exception event adds none */
    KT_ASSERT_EQ_INT(levels[0], KILN_LOG_ERROR);
    KT_ASSERT(!strncmp(lines[0], "GET /fail -> 500 in ", 20));
    char *want = kiln_arena_sprintf(t->conn->arena, "request_id=%s: i/o error (in h_fail, route /fail)",
                                    t->conn->request_id);
    KT_ASSERT(strstr(lines[0], want) != NULL);
    KT_ASSERT_EQ_INT(levels[1], KILN_LOG_ERROR); /* a deliberate 503: error level, no cause */
    KT_ASSERT(!strncmp(lines[1], "GET /busy -> 503 in ", 20));
    KT_ASSERT(strchr(lines[1], ':') == NULL);
    kiln_test_free(t);
    kiln_test_free(b);
}

/* Without a sink the line goes through kiln_log to stderr, level-filtered. */
static void test_default_sink(void)
{
    char tmpl[] = "/tmp/kiln_logger_XXXXXX";
    int fd = mkstemp(tmpl);
    KT_ASSERT(fd >= 0);
    unlink(tmpl);
    fflush(stderr);
    int saved = dup(2);
    dup2(fd, 2);
    kiln_log_set_level(KILN_LOG_INFO);
    kiln_logger_attach(NULL);
    kiln_test_conn_t *t = kiln_test_request(&ep, "GET", "/users/7");
    kiln_logger_detach();
    kiln_logger_attach(&(kiln_logger_opts_t){ .level = KILN_LOG_DEBUG }); /* below the log level: filtered */
    kiln_test_free(kiln_test_request(&ep, "GET", "/users/8"));
    kiln_logger_detach();
    kiln_log_set_level(KILN_LOG_ERROR);
    dup2(saved, 2);
    close(saved);
    char buf[4096] = { 0 };
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    close(fd);
    KT_ASSERT(n > 0);
    KT_ASSERT(strstr(buf, "[info] GET /users/7 -> 200 in ") != NULL);
    KT_ASSERT(strstr(buf, t->conn->request_id) != NULL);
    KT_ASSERT(strstr(buf, "/users/8") == NULL);
    KT_ASSERT(strchr(buf, '\n') == strrchr(buf, '\n')); /* exactly one line */
    kiln_test_free(t);
}

static void test_misuse(void)
{
    KT_ASSERT_EQ_INT(kiln_logger_detach(), KILN_ENOENT);
    KT_ASSERT_EQ_INT(kiln_logger_attach(NULL), 0);
    KT_ASSERT_EQ_INT(kiln_logger_attach(NULL), KILN_EINVAL);
    KT_ASSERT_EQ_INT(kiln_logger_detach(), 0);
    KT_ASSERT_EQ_INT(kiln_logger_detach(), KILN_ENOENT);
}

int main(void)
{
    kiln_log_set_level(KILN_LOG_ERROR);
    kiln_router_t *r;
    if (kiln_router_build(routes, KILN_ARRAY_LEN(routes), &r) != 0) return 1;
    ep.router = r;
    KT_RUN(test_one_line_per_request);
    KT_RUN(test_control_bytes_escaped);
    KT_RUN(test_detached_logs_nothing);
    KT_RUN(test_failure_at_error_level);
    KT_RUN(test_default_sink);
    KT_RUN(test_misuse);
    kiln_router_free(r);
    kiln_telemetry_shutdown();
    return kt_done();
}
