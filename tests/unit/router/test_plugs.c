/* Built-in plugs through ConnTest: request id, params (query, nested
 * form, multipart with a file, JSON, invalid input), method override, head,
 * secure headers, CORS and accepts. */
#include "kiln/plugs.h"
#include "kiln/router.h"
#include "kiln/test.h"
#include "kiln_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* Echoes a few params and the method so that tests can look at them. */
static int echo(kiln_conn_t *c)
{
    const kiln_param_t *p = c->params;
    const char *name = kiln_param_str(kiln_param_get(p, "user"), "name");
    const kiln_param_t *tags = kiln_param_get(p, "tags");
    const kiln_param_t *first = tags && tags->kind == KILN_PARAM_LIST ? tags->u.children : NULL;
    char *body = kiln_arena_sprintf(c->arena, "%s q=%s name=%s tag0=%s id=%s", kiln_http_method_name(c->method),
                                    kiln_param_str(p, "q") ? kiln_param_str(p, "q") : "-", name ? name : "-",
                                    first && first->kind == KILN_PARAM_STRING ? first->u.str.ptr : "-",
                                    kiln_param_str(p, "id") ? kiln_param_str(p, "id") : "-");
    return kiln_conn_text(c, 200, body);
}

static int fmt(kiln_conn_t *c)
{
    return kiln_conn_text(c, 200, c->format);
}

static const kiln_accepts_opts_t html_json = { .formats = "html,json" };
static const kiln_plug_t neg_plugs[] = { KILN_PLUG(kiln_plug_accepts, &html_json), KILN_PLUG_END };
static const kiln_pipeline_t neg = KILN_PIPELINE("neg", neg_plugs);
static const kiln_plug_t sec_plugs[] = { KILN_PLUG(kiln_plug_secure_headers, NULL), KILN_PLUG_END };
static const kiln_pipeline_t sec = KILN_PIPELINE("sec", sec_plugs);

static const kiln_route_t routes[] = {
    KILN_GET("/echo", echo, "echo_get"),
    KILN_POST("/echo", echo, "echo_post"),
    KILN_PUT("/echo", echo, "echo_put"),
    KILN_DELETE("/echo", echo, "echo_delete"),
    KILN_POST("/items/:id", echo, "item"),
    KILN_SCOPE("/neg", &neg),
      KILN_GET("/", fmt, "neg"),
    KILN_SCOPE_END,
    KILN_SCOPE("/sec", &sec),
      KILN_GET("/", fmt, "sec"),
    KILN_SCOPE_END,
};

static const char *const origins[] = { "https://app.example", NULL };
static const kiln_cors_opts_t cors_opts = { .origins = origins, .headers = "content-type, x-token", .max_age = 600,
                                            .credentials = 1, .expose = "x-request-id" };
static const kiln_plug_t ep_plugs[] = {
    KILN_PLUG(kiln_plug_request_id, NULL),
    KILN_PLUG(kiln_plug_cors, &cors_opts),
    KILN_PLUG(kiln_plug_params, NULL),
    KILN_PLUG(kiln_plug_method_override, NULL),
    KILN_PLUG(kiln_plug_head, NULL),
    KILN_PLUG_END,
};
static kiln_endpoint_t ep = { .name = "plugs", .plugs = ep_plugs };

static void test_request_id(void)
{
    kiln_test_conn_t *t = kiln_test_request(&ep, "GET", "/echo");
    const char *id = kiln_test_resp_header(t, "x-request-id");
    KT_ASSERT(id && strlen(id) == 27);
    KT_ASSERT(strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == 27);
    KT_ASSERT_EQ_STR(t->conn->request_id, id);
    kiln_test_free(t);
    const char *good = "abcdefghij0123456789+/=_-";
    t = kiln_test_request(&ep, "GET", "/echo", .headers = KILN_TEST_HEADERS("x-request-id", good));
    KT_ASSERT_EQ_STR(kiln_test_resp_header(t, "x-request-id"), good);
    kiln_test_free(t);
    const char *bad[] = { "short", "abcdefghij0123456789 space", "abcdefghij0123456789<script>" };
    for (size_t i = 0; i < 3; i++) {
        t = kiln_test_request(&ep, "GET", "/echo", .headers = KILN_TEST_HEADERS("x-request-id", bad[i]));
        const char *got = kiln_test_resp_header(t, "x-request-id");
        KT_ASSERT(got && strcmp(got, bad[i]) != 0 && strlen(got) == 27);
        kiln_test_free(t);
    }
}

static void test_params_query_and_form(void)
{
    kiln_test_conn_t *t = kiln_test_request(&ep, "POST", "/echo?q=a%20b&id=query",
                                            .form = "user[name]=Ada+L&tags[]=x&tags[]=y&id=body");
    KT_ASSERT_EQ_INT(t->status, 200);
    KT_ASSERT_EQ_STR(t->body, "POST q=a b name=Ada L tag0=x id=body"); /* body over query */
    KT_ASSERT_EQ_STR(kiln_param_str(t->conn->query_params, "id"), "query");
    kiln_test_free(t);
    /* path params win over both */
    t = kiln_test_request(&ep, "POST", "/items/7?id=q", .form = "id=b");
    KT_ASSERT_EQ_STR(t->body, "POST q=- name=- tag0=- id=7");
    KT_ASSERT_EQ_STR(kiln_param_str(t->conn->body_params, "id"), "b");
    kiln_test_free(t);
}

static void test_params_json(void)
{
    kiln_test_conn_t *t = kiln_test_request(&ep, "POST", "/echo",
                                            .json = "{\"user\":{\"name\":\"Grace\",\"age\":85,\"admin\":true},"
                                                    "\"tags\":[\"t1\",2],\"q\":null}");
    KT_ASSERT_EQ_STR(t->body, "POST q= name=Grace tag0=t1 id=-");
    KT_ASSERT_EQ_STR(kiln_param_str(kiln_param_get(t->conn->params, "user"), "age"), "85");
    KT_ASSERT_EQ_STR(kiln_param_str(kiln_param_get(t->conn->params, "user"), "admin"), "true");
    kiln_test_free(t);
    t = kiln_test_request(&ep, "POST", "/echo", .json = "[1,2,3]");
    const kiln_param_t *j = kiln_param_get(t->conn->params, "_json");
    KT_ASSERT(j && j->kind == KILN_PARAM_LIST && j->u.children && !strcmp(j->u.children->u.str.ptr, "1"));
    kiln_test_free(t);
    t = kiln_test_request(&ep, "POST", "/echo", .body = "{\"a\":1}", .content_type = "application/vnd.api+json");
    KT_ASSERT_EQ_STR(kiln_param_str(t->conn->params, "a"), "1");
    kiln_test_free(t);
}

static void expect_400(const char *target, const char *ctype, const char *body, size_t len, const char *msg)
{
    kiln_test_conn_t *t = kiln_test_request(&ep, "POST", target, .body = body, .body_len = len, .content_type = ctype);
    int st = t->status, halted = t->conn->halted;
    int has = msg == NULL || strstr(t->body, msg) != NULL;
    if (st != 400 || !has) fprintf(stderr, "  %s %s -> %d %s\n", target, ctype, st, t->body);
    kiln_test_free(t);
    KT_ASSERT_EQ_INT(st, 400);
    KT_ASSERT(halted);
    KT_ASSERT(has);
}

static void test_params_invalid(void)
{
    expect_400("/echo", "application/json", "{\"a\":", 0, "Malformed JSON body");
    expect_400("/echo", "application/json", "{\"a\":\"\xff\"}", 0, "Malformed JSON body");
    expect_400("/echo", "application/x-www-form-urlencoded", "a=%FF%FE", 0, "Malformed form body");
    expect_400("/echo", "application/x-www-form-urlencoded", "a=%zz", 0, NULL);
    expect_400("/echo?a=%C0%80", "text/plain", "", 0, "Malformed query string");
    expect_400("/echo", "multipart/form-data", "--x\r\n", 0, NULL); /* no boundary */
    /* deeper than max_depth (32) */
    char deep[200] = "";
    for (int i = 0; i < 40; i++) strcat(deep, "[");
    for (int i = 0; i < 40; i++) strcat(deep, "]");
    kiln_test_conn_t *t = kiln_test_request(&ep, "POST", "/echo", .json = deep);
    KT_ASSERT(t->status == 400 || t->status == 413);
    kiln_test_free(t);
}

static void test_params_multipart(void)
{
    const char body[] = "--XyZ\r\n"
                        "Content-Disposition: form-data; name=\"user[name]\"\r\n\r\n"
                        "Marie\r\n"
                        "--XyZ\r\n"
                        "Content-Disposition: form-data; name=\"avatar\"; filename=\"me.png\"\r\n"
                        "Content-Type: image/png\r\n\r\n"
                        "\x89PNG\r\n\x1a\n\0data\r\n"
                        "--XyZ--\r\n";
    kiln_test_conn_t *t = kiln_test_request(&ep, "POST", "/echo", .body = body, .body_len = sizeof body - 1,
                                            .content_type = "multipart/form-data; boundary=XyZ");
    KT_ASSERT_EQ_INT(t->status, 200);
    KT_ASSERT_EQ_STR(t->body, "POST q=- name=Marie tag0=- id=-");
    const kiln_param_t *f = kiln_param_get(t->conn->params, "avatar");
    KT_ASSERT(f && f->kind == KILN_PARAM_FILE);
    KT_ASSERT_EQ_STR(f->u.upload.filename, "me.png");
    KT_ASSERT_EQ_INT(f->u.upload.size, 13);
    FILE *fp = fopen(f->u.upload.path, "rb");
    KT_ASSERT(fp != NULL);
    char buf[32] = { 0 };
    KT_ASSERT_EQ_INT(fread(buf, 1, sizeof buf, fp), 13);
    fclose(fp);
    KT_ASSERT(!memcmp(buf, "\x89PNG\r\n\x1a\n\0data", 13));
    char *path = strdup(f->u.upload.path);
    kiln_test_free(t);
    KT_ASSERT(access(path, F_OK) != 0); /* removed with the request */
    free(path);
}

static void test_method_override_and_head(void)
{
    kiln_test_conn_t *t = kiln_test_request(&ep, "POST", "/echo", .form = "_method=delete");
    KT_ASSERT(!strncmp(t->body, "DELETE", 6));
    KT_ASSERT_EQ_SLICE(t->conn->method_str, "POST");
    kiln_test_free(t);
    t = kiln_test_request(&ep, "POST", "/echo", .form = "_method=GET"); /* never to GET */
    KT_ASSERT(!strncmp(t->body, "POST", 4));
    kiln_test_free(t);
    t = kiln_test_request(&ep, "GET", "/echo?_method=PUT"); /* only POST bodies count */
    KT_ASSERT(!strncmp(t->body, "GET", 3));
    kiln_test_free(t);
    t = kiln_test_request(&ep, "HEAD", "/echo");
    KT_ASSERT_EQ_INT(t->status, 200);
    KT_ASSERT_EQ_INT(t->body_len, 0);
    KT_ASSERT(t->conn->method == KILN_METHOD_GET);
    KT_ASSERT(strstr(t->head, "content-length: 26\r\n") != NULL);
    kiln_test_free(t);
}

static void test_secure_headers(void)
{
    kiln_test_conn_t *t = kiln_test_request(&ep, "GET", "/sec");
    KT_ASSERT_EQ_STR(kiln_test_resp_header(t, "x-frame-options"), "SAMEORIGIN");
    KT_ASSERT_EQ_STR(kiln_test_resp_header(t, "x-content-type-options"), "nosniff");
    KT_ASSERT_EQ_STR(kiln_test_resp_header(t, "referrer-policy"), "strict-origin-when-cross-origin");
    KT_ASSERT_EQ_STR(kiln_test_resp_header(t, "x-permitted-cross-domain-policies"), "none");
    KT_ASSERT_EQ_STR(kiln_test_resp_header(t, "content-security-policy"), "base-uri 'self'; frame-ancestors 'self';");
    kiln_test_free(t);
}

static void test_cors(void)
{
    kiln_test_conn_t *t = kiln_test_request(&ep, "OPTIONS", "/echo",
                                            .headers = KILN_TEST_HEADERS("origin", "https://app.example",
                                                                         "access-control-request-method", "PUT"));
    KT_ASSERT_EQ_INT(t->status, 204);
    KT_ASSERT_EQ_STR(kiln_test_resp_header(t, "access-control-allow-origin"), "https://app.example");
    KT_ASSERT_EQ_STR(kiln_test_resp_header(t, "access-control-allow-credentials"), "true");
    KT_ASSERT_EQ_STR(kiln_test_resp_header(t, "access-control-allow-headers"), "content-type, x-token");
    KT_ASSERT_EQ_STR(kiln_test_resp_header(t, "access-control-max-age"), "600");
    KT_ASSERT(strstr(kiln_test_resp_header(t, "access-control-allow-methods"), "PUT") != NULL);
    KT_ASSERT_EQ_STR(kiln_test_resp_header(t, "vary"), "origin");
    kiln_test_free(t);
    t = kiln_test_request(&ep, "OPTIONS", "/echo",
                          .headers = KILN_TEST_HEADERS("origin", "https://evil.example", "access-control-request-method",
                                                       "PUT"));
    KT_ASSERT_EQ_INT(t->status, 403);
    KT_ASSERT(kiln_test_resp_header(t, "access-control-allow-origin") == NULL);
    kiln_test_free(t);
    t = kiln_test_request(&ep, "GET", "/echo", .headers = KILN_TEST_HEADERS("origin", "https://app.example"));
    KT_ASSERT_EQ_INT(t->status, 200);
    KT_ASSERT_EQ_STR(kiln_test_resp_header(t, "access-control-allow-origin"), "https://app.example");
    KT_ASSERT_EQ_STR(kiln_test_resp_header(t, "access-control-expose-headers"), "x-request-id");
    kiln_test_free(t);
    t = kiln_test_request(&ep, "GET", "/echo", .headers = KILN_TEST_HEADERS("origin", "https://evil.example"));
    KT_ASSERT_EQ_INT(t->status, 200);
    KT_ASSERT(kiln_test_resp_header(t, "access-control-allow-origin") == NULL);
    kiln_test_free(t);
}

static void expect_format(const char *target, const char *accept, int status, const char *format)
{
    kiln_test_conn_t *t = accept ? kiln_test_request(&ep, "GET", target, .headers = KILN_TEST_HEADERS("accept", accept))
                                 : kiln_test_request(&ep, "GET", target);
    int st = t->status;
    int ok = !format || !strcmp(t->body, format);
    if (st != status || !ok) fprintf(stderr, "  accept %s -> %d %s\n", accept ? accept : "(none)", st, t->body);
    kiln_test_free(t);
    KT_ASSERT_EQ_INT(st, status);
    KT_ASSERT(ok);
}

static void test_accepts(void)
{
    expect_format("/neg", NULL, 200, "html");
    expect_format("/neg", "application/json", 200, "json");
    expect_format("/neg", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", 200, "html");
    expect_format("/neg", "text/html;q=0.5, application/json", 200, "json");
    expect_format("/neg", "*/*", 200, "html");
    expect_format("/neg", "application/*", 200, "json");
    expect_format("/neg", "text/*", 200, "html");
    expect_format("/neg", "application/vnd.api+json", 200, "json");
    expect_format("/neg?_format=json", "text/html", 200, "json");
    expect_format("/neg", "image/png", 406, NULL);
    expect_format("/neg", "application/json;q=0", 406, NULL);
    expect_format("/neg?_format=xml", NULL, 406, NULL);
    /* the 406 is rendered as JSON when the client asked for JSON-ish content */
    kiln_test_conn_t *t = kiln_test_request(&ep, "GET", "/neg", .headers = KILN_TEST_HEADERS("accept", "text/json"));
    KT_ASSERT_EQ_INT(t->status, 406);
    KT_ASSERT(strstr(t->body, "\"detail\":\"Not Acceptable\"") != NULL);
    kiln_test_free(t);
}

int main(void)
{
    kiln_log_set_level(KILN_LOG_ERROR);
    kiln_router_t *r;
    if (kiln_router_build(routes, KILN_ARRAY_LEN(routes), &r) != 0) return 1;
    ep.router = r;
    KT_RUN(test_request_id);
    KT_RUN(test_params_query_and_form);
    KT_RUN(test_params_json);
    KT_RUN(test_params_invalid);
    KT_RUN(test_params_multipart);
    KT_RUN(test_method_override_and_head);
    KT_RUN(test_secure_headers);
    KT_RUN(test_cors);
    KT_RUN(test_accepts);
    kiln_router_free(r);
    return kt_done();
}
