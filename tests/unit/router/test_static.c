/* The static plug against a real temp directory: content types, caching
 * (ETag / Last-Modified → 304), ranges (206 / 416 / multiple), precompressed
 * siblings, digested names, `only`, and traversal attempts that must never
 * return file contents from outside the root. */
#include "kiln/plugs.h"
#include "kiln/router.h"
#include "kiln/test.h"
#include "kiln_test.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char base[] = "/tmp/kiln_static_XXXXXX";
static char root[256], outside[256];
static kiln_endpoint_t ep = { .name = "static" };
static kiln_static_opts_t opts;

static void put_file(const char *rel, const char *content)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    FILE *f = fopen(p, "w");
    fputs(content, f);
    fclose(f);
}

static int fallback(kiln_conn_t *c)
{
    return kiln_conn_text(c, 404, "fallback");
}

static const kiln_route_t routes[] = { KILN_GET("/" "*path", fallback, "fallback") };

static void setup(void)
{
    if (!mkdtemp(base)) abort();
    snprintf(root, sizeof root, "%s/root", base);
    snprintf(outside, sizeof outside, "%s/secret.txt", base);
    mkdir(root, 0755);
    char p[512];
    snprintf(p, sizeof p, "%s/assets", root);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/sub", root);
    mkdir(p, 0755);
    FILE *f = fopen(outside, "w");
    fputs("TOP-SECRET", f);
    fclose(f);
    put_file("hello.txt", "Hello, static world!\n"); /* 21 bytes */
    put_file("assets/app.js", "console.log('plain')");
    put_file("assets/app.js.gz", "GZ-BYTES");
    put_file("assets/app.js.br", "BR-BYTES");
    put_file("assets/app-0123456789abcdef0123456789abcdef.css", "body{}");
    put_file("%2e%2e", "literally named");
    snprintf(p, sizeof p, "%s/escape.txt", root);
    if (symlink(outside, p) != 0) abort();
    snprintf(p, sizeof p, "%s/linkdir", root);
    if (symlink(base, p) != 0) abort();
    opts = (kiln_static_opts_t){ .at = "/", .from = root, .gzip = 1, .brotli = 1 };
}

static void teardown(void)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
    if (system(cmd) != 0) fprintf(stderr, "cleanup failed\n");
}

static void test_serves_file(void)
{
    kiln_test_conn_t *t = kiln_test_request(&ep, "GET", "/hello.txt");
    KT_ASSERT_EQ_INT(t->status, 200);
    KT_ASSERT_EQ_STR(t->body, "Hello, static world!\n");
    KT_ASSERT_EQ_STR(kiln_test_resp_header(t, "content-type"), "text/plain; charset=utf-8");
    KT_ASSERT_EQ_STR(kiln_test_resp_header(t, "cache-control"), "public, max-age=3600");
    KT_ASSERT_EQ_STR(kiln_test_resp_header(t, "accept-ranges"), "bytes");
    KT_ASSERT(kiln_test_resp_header(t, "etag") && kiln_test_resp_header(t, "last-modified"));
    KT_ASSERT(strstr(t->head, "content-length: 21\r\n") != NULL);
    kiln_test_free(t);
    t = kiln_test_request(&ep, "HEAD", "/hello.txt");
    KT_ASSERT_EQ_INT(t->status, 200);
    KT_ASSERT_EQ_INT(t->body_len, 0);
    KT_ASSERT(strstr(t->head, "content-length: 21\r\n") != NULL);
    kiln_test_free(t);
    t = kiln_test_request(&ep, "GET", "/missing.txt");
    KT_ASSERT_EQ_STR(t->body, "fallback"); /* passes on */
    kiln_test_free(t);
    t = kiln_test_request(&ep, "GET", "/sub");
    KT_ASSERT_EQ_STR(t->body, "fallback"); /* a directory is not a file */
    kiln_test_free(t);
    t = kiln_test_request(&ep, "POST", "/hello.txt");
    KT_ASSERT_EQ_INT(t->status, 405); /* only GET/HEAD are served */
    kiln_test_free(t);
}

static void test_conditional(void)
{
    kiln_test_conn_t *t = kiln_test_request(&ep, "GET", "/hello.txt");
    char etag[128], lm[64];
    snprintf(etag, sizeof etag, "%s", kiln_test_resp_header(t, "etag"));
    snprintf(lm, sizeof lm, "%s", kiln_test_resp_header(t, "last-modified"));
    kiln_test_free(t);
    t = kiln_test_request(&ep, "GET", "/hello.txt", .headers = KILN_TEST_HEADERS("if-none-match", etag));
    KT_ASSERT_EQ_INT(t->status, 304);
    KT_ASSERT_EQ_INT(t->body_len, 0);
    KT_ASSERT_EQ_STR(kiln_test_resp_header(t, "etag"), etag);
    KT_ASSERT(strstr(t->head, "content-length") == NULL);
    kiln_test_free(t);
    char weak[160];
    snprintf(weak, sizeof weak, "\"other\", W/%s", etag);
    t = kiln_test_request(&ep, "GET", "/hello.txt", .headers = KILN_TEST_HEADERS("if-none-match", weak));
    KT_ASSERT_EQ_INT(t->status, 304);
    kiln_test_free(t);
    t = kiln_test_request(&ep, "GET", "/hello.txt", .headers = KILN_TEST_HEADERS("if-none-match", "\"nope\""));
    KT_ASSERT_EQ_INT(t->status, 200);
    kiln_test_free(t);
    t = kiln_test_request(&ep, "GET", "/hello.txt", .headers = KILN_TEST_HEADERS("if-modified-since", lm));
    KT_ASSERT_EQ_INT(t->status, 304);
    kiln_test_free(t);
    t = kiln_test_request(&ep, "GET", "/hello.txt",
                          .headers = KILN_TEST_HEADERS("if-modified-since", "Sun, 06 Nov 1994 08:49:37 GMT"));
    KT_ASSERT_EQ_INT(t->status, 200);
    kiln_test_free(t);
}

static void expect_range(const char *range, int status, const char *body, const char *content_range)
{
    kiln_test_conn_t *t = kiln_test_request(&ep, "GET", "/hello.txt", .headers = KILN_TEST_HEADERS("range", range));
    int st = t->status;
    int body_ok = !body || !strcmp(t->body, body);
    const char *cr = kiln_test_resp_header(t, "content-range");
    int cr_ok = content_range ? cr && !strcmp(cr, content_range) : cr == NULL;
    if (st != status || !body_ok || !cr_ok) fprintf(stderr, "  range %s -> %d [%s] %s\n", range, st, t->body, cr);
    kiln_test_free(t);
    KT_ASSERT_EQ_INT(st, status);
    KT_ASSERT(body_ok && cr_ok);
}

static void test_ranges(void)
{
    expect_range("bytes=0-4", 206, "Hello", "bytes 0-4/21");
    expect_range("bytes=7-", 206, "static world!\n", "bytes 7-20/21");
    expect_range("bytes=-6", 206, "world!\n" + 1, "bytes 15-20/21");
    expect_range("bytes=10-1000", 206, "tic world!\n", "bytes 10-20/21");
    expect_range("bytes=-100", 206, "Hello, static world!\n", "bytes 0-20/21");
    expect_range("bytes=21-", 416, NULL, "bytes */21");
    expect_range("bytes=-0", 416, NULL, "bytes */21");
    expect_range("bytes=0-1,3-4", 200, "Hello, static world!\n", NULL);
    expect_range("bytes=5-2", 200, "Hello, static world!\n", NULL); /* invalid: ignored */
    expect_range("items=0-1", 200, "Hello, static world!\n", NULL);
}

static void test_precompressed(void)
{
    kiln_test_conn_t *t = kiln_test_request(&ep, "GET", "/assets/app.js",
                                            .headers = KILN_TEST_HEADERS("accept-encoding", "gzip, deflate, br"));
    KT_ASSERT_EQ_STR(t->body, "BR-BYTES");
    KT_ASSERT_EQ_STR(kiln_test_resp_header(t, "content-encoding"), "br");
    KT_ASSERT_EQ_STR(kiln_test_resp_header(t, "vary"), "accept-encoding");
    KT_ASSERT_EQ_STR(kiln_test_resp_header(t, "content-type"), "text/javascript; charset=utf-8");
    kiln_test_free(t);
    t = kiln_test_request(&ep, "GET", "/assets/app.js", .headers = KILN_TEST_HEADERS("accept-encoding", "gzip, br;q=0"));
    KT_ASSERT_EQ_STR(t->body, "GZ-BYTES");
    KT_ASSERT_EQ_STR(kiln_test_resp_header(t, "content-encoding"), "gzip");
    kiln_test_free(t);
    t = kiln_test_request(&ep, "GET", "/assets/app.js");
    KT_ASSERT_EQ_STR(t->body, "console.log('plain')");
    KT_ASSERT(kiln_test_resp_header(t, "content-encoding") == NULL);
    KT_ASSERT_EQ_STR(kiln_test_resp_header(t, "vary"), "accept-encoding");
    kiln_test_free(t);
}

static void test_digested(void)
{
    kiln_test_conn_t *t = kiln_test_request(&ep, "GET", "/assets/app-0123456789abcdef0123456789abcdef.css");
    KT_ASSERT_EQ_INT(t->status, 200);
    KT_ASSERT_EQ_STR(kiln_test_resp_header(t, "cache-control"), "public, max-age=31536000, immutable");
    KT_ASSERT_EQ_STR(kiln_test_resp_header(t, "content-type"), "text/css; charset=utf-8");
    kiln_test_free(t);
}

static void test_only_and_at(void)
{
    static const char *const only[] = { "assets", NULL };
    kiln_static_opts_t saved = opts;
    opts.only = only;
    kiln_test_conn_t *t = kiln_test_request(&ep, "GET", "/hello.txt");
    KT_ASSERT_EQ_STR(t->body, "fallback");
    kiln_test_free(t);
    t = kiln_test_request(&ep, "GET", "/assets/app.js");
    KT_ASSERT_EQ_INT(t->status, 200);
    kiln_test_free(t);
    opts.only = NULL;
    opts.at = "/static";
    t = kiln_test_request(&ep, "GET", "/static/hello.txt");
    KT_ASSERT_EQ_INT(t->status, 200);
    kiln_test_free(t);
    t = kiln_test_request(&ep, "GET", "/hello.txt");
    KT_ASSERT_EQ_STR(t->body, "fallback");
    kiln_test_free(t);
    opts = saved;
}

/* Each attempt must not leak TOP-SECRET and must answer 400 or pass on (404). */
static void test_traversal(void)
{
    const char *attempts[] = {
        "/../secret.txt",       "/sub/../../secret.txt", "/%2e%2e/secret.txt", "/%2E%2E%2Fsecret.txt",
        "/..%2fsecret.txt",     "/..%2Fsecret.txt",      "/%2e%2e%2fsecret.txt", "/sub/..%5c..%5csecret.txt",
        "/..\\secret.txt",      "/%252e%252e/secret.txt", "/hello.txt%00.png",  "/escape.txt",
        "/linkdir/secret.txt",  "/./hello.txt/..",        "/%2e/hello.txt",     "/sub%2f..%2f..%2fsecret.txt",
    };
    for (size_t i = 0; i < KILN_ARRAY_LEN(attempts); i++) {
        kiln_test_conn_t *t = kiln_test_request(&ep, "GET", attempts[i]);
        int leaked = strstr(t->body, "TOP-SECRET") != NULL;
        int st = t->status;
        if (leaked || (st != 400 && st != 404)) fprintf(stderr, "  %s -> %d %s\n", attempts[i], st, t->body);
        kiln_test_free(t);
        KT_ASSERT(!leaked);
        KT_ASSERT(st == 400 || st == 404);
    }
    /* a file literally named "%2e%2e" is reachable only as %252e%252e, and it is inside the root */
    kiln_test_conn_t *t = kiln_test_request(&ep, "GET", "/%252e%252e");
    KT_ASSERT_EQ_STR(t->body, "literally named");
    kiln_test_free(t);
}

int main(void)
{
    kiln_log_set_level(KILN_LOG_ERROR);
    setup();
    static kiln_plug_t plugs[] = { KILN_PLUG(kiln_plug_static, &opts), KILN_PLUG_END };
    ep.plugs = plugs;
    kiln_router_t *r;
    if (kiln_router_build(routes, KILN_ARRAY_LEN(routes), &r) != 0) return 1;
    ep.router = r;
    KT_RUN(test_serves_file);
    KT_RUN(test_conditional);
    KT_RUN(test_ranges);
    KT_RUN(test_precompressed);
    KT_RUN(test_digested);
    KT_RUN(test_only_and_at);
    KT_RUN(test_traversal);
    kiln_router_free(r);
    teardown();
    return kt_done();
}
