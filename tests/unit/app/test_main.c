/* Unit tests for kiln_main's commands that do not serve (src/app/main.c):
 * routes prints the table on stdout, help exits 0, an unknown command or too
 * many arguments exit 2 with a one-line reason and the usage on stderr, and a
 * serve that fails before starting exits 1 and leaves no request log
 * attached. Serving and signals: tests/integration/test_app_cli.sh. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kiln/app.h"
#include "kiln/router.h"
#include "kiln/telemetry.h"
#include "kiln_test.h"

static int h_ok(kiln_conn_t *c) { return kiln_conn_text(c, 200, "ok"); }

static const kiln_route_t routes[] = {
    KILN_GET("/", h_ok, "page_index"),
    KILN_GET("/users/:id", h_ok, "user_show"),
    KILN_POST("/users", h_ok, "user_create"),
};
static kiln_endpoint_t endpoint = { .name = "demo" };
static kiln_endpoint_t bare = { .name = "bare" };

/* Output of one kiln_main call: stdout and stderr captured through temp files
 * (the code under test writes to the FILE *s and to fd 2). */
typedef struct run {
    int code;
    char out[4096], err[4096];
} run_t;

static void read_back(int fd, char *buf, size_t cap)
{
    ssize_t n = pread(fd, buf, cap - 1, 0);
    buf[n > 0 ? n : 0] = '\0';
    close(fd);
}

static int redirect(int target, int *saved)
{
    char tmpl[] = "/tmp/kiln_main_XXXXXX";
    int fd = mkstemp(tmpl);
    unlink(tmpl);
    *saved = dup(target);
    dup2(fd, target);
    return fd;
}

static run_t *run_main(const kiln_app_t *app, int argc, const char *a1, const char *a2)
{
    static run_t r;
    char *argv[] = { "demo", (char *)a1, (char *)a2, NULL };
    fflush(stdout);
    fflush(stderr);
    int so, se;
    int fo = redirect(1, &so), fe = redirect(2, &se);
    r.code = kiln_main(argc, argv, app);
    fflush(stdout);
    fflush(stderr);
    dup2(so, 1);
    dup2(se, 2);
    close(so);
    close(se);
    read_back(fo, r.out, sizeof r.out);
    read_back(fe, r.err, sizeof r.err);
    return &r;
}

static const kiln_app_t app = { .name = "demo", .endpoint = &endpoint };

static void test_routes(void)
{
    run_t *r = run_main(&app, 2, "routes", NULL);
    KT_ASSERT_EQ_INT(r->code, 0);
    KT_ASSERT(strstr(r->out, "page_index") != NULL);
    KT_ASSERT(strstr(r->out, "/users/:id") != NULL);
    KT_ASSERT(strstr(r->out, "user_create") != NULL && strstr(r->out, "POST") != NULL);
    KT_ASSERT_EQ_STR(r->err, "");
    /* one line per route */
    int lines = 0;
    for (const char *p = r->out; *p; p++) lines += *p == '\n';
    KT_ASSERT_EQ_INT(lines, 3);
}

static void test_routes_without_router(void)
{
    const kiln_app_t a = { .name = "bare", .endpoint = &bare };
    run_t *r = run_main(&a, 2, "routes", NULL);
    KT_ASSERT_EQ_INT(r->code, 1);
    KT_ASSERT_EQ_STR(r->err, "bare: this app has no router\n");
}

static void test_help(void)
{
    static const char *const spellings[] = { "help", "--help", "-h" };
    for (size_t i = 0; i < KILN_ARRAY_LEN(spellings); i++) {
        run_t *r = run_main(&app, 2, spellings[i], NULL);
        KT_ASSERT_EQ_INT(r->code, 0);
        KT_ASSERT(!strncmp(r->out, "usage: demo [command]\n", 22));
        KT_ASSERT(strstr(r->out, "routes") != NULL);
        KT_ASSERT_EQ_STR(r->err, "");
    }
}

static void test_unknown_command(void)
{
    run_t *r = run_main(&app, 2, "frobnicate", NULL);
    KT_ASSERT_EQ_INT(r->code, 2);
    KT_ASSERT(!strncmp(r->err, "demo: unknown command \"frobnicate\"\nusage: ", 42));
    KT_ASSERT_EQ_STR(r->out, "");
}

static void test_too_many_args(void)
{
    run_t *r = run_main(&app, 3, "routes", "extra");
    KT_ASSERT_EQ_INT(r->code, 2);
    KT_ASSERT(!strncmp(r->err, "demo: too many arguments\nusage: ", 32));
    KT_ASSERT_EQ_STR(r->out, "");
}

static int failing_configure(const kiln_config_t *cfg)
{
    (void)cfg;
    return KILN_EINVAL;
}

/* serve stops before the runtime starts: exit 1, one line, no handler left. */
static void test_serve_fails_early(void)
{
    char dir[] = "/tmp/kiln-main-XXXXXX";
    KT_ASSERT(mkdtemp(dir) != NULL);
    setenv("XDG_STATE_HOME", dir, 1); /* the dev secret goes here, not in $HOME */
    setenv("PORT", "80a", 1);
    run_t *r = run_main(&app, 2, "serve", NULL);
    unsetenv("PORT");
    KT_ASSERT_EQ_INT(r->code, 1);
    KT_ASSERT(strstr(r->err, "PORT") != NULL);
    const kiln_app_t bad = { .name = "demo", .endpoint = &endpoint, .configure = failing_configure };
    r = run_main(&bad, 1, NULL, NULL); /* no command: serve */
    KT_ASSERT_EQ_INT(r->code, 1);
    KT_ASSERT(strstr(r->err, "demo: configuration failed\n") != NULL);
    KT_ASSERT(!kiln_telemetry_enabled(KILN_EVENT_ENDPOINT_STOP));
    char cmd[64];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    KT_ASSERT_EQ_INT(system(cmd), 0);
}

int main(void)
{
    kiln_log_set_level(KILN_LOG_ERROR);
    if (kiln_router_build(routes, KILN_ARRAY_LEN(routes), &endpoint.router) != 0) return 1;
    KT_RUN(test_routes);
    KT_RUN(test_routes_without_router);
    KT_RUN(test_help);
    KT_RUN(test_unknown_command);
    KT_RUN(test_too_many_args);
    KT_RUN(test_serve_fails_early);
    kiln_router_free(endpoint.router);
    return kt_done();
}
