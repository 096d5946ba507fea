/* Conn: response headers, cookies, response-splitting refusals, send states,
 * redirect, the serialized head, and request cookies. */
#include "kiln/conn.h"
#include "kiln/test.h"
#include "kiln_test.h"

#include <stdlib.h>
#include <unistd.h>

/* A recording adapter, to test the conn without the endpoint. */
static int sends;
static kiln_buf_t head;
static int a_resp(kiln_conn_t *c, const kiln_str_t *b, size_t n)
{
    (void)b;
    sends++;
    kiln_buf_reset(&head);
    return kiln_conn_write_head(c, &head, n ? (int64_t)b[0].len : 0);
}
static int a_file(kiln_conn_t *c, int fd, off_t off, uint64_t len)
{
    (void)fd;
    (void)off;
    sends++;
    kiln_buf_reset(&head);
    return kiln_conn_write_head(c, &head, (int64_t)len);
}
static int a_chunked(kiln_conn_t *c)
{
    sends++;
    kiln_buf_reset(&head);
    return kiln_conn_write_head(c, &head, -1);
}
static int a_chunk(kiln_conn_t *c, const void *d, size_t n)
{
    (void)c;
    (void)d;
    (void)n;
    return 0;
}
static const kiln_conn_adapter_t adapter = { KILN_CONN_ADAPTER_ABI, a_resp, a_file, a_chunked, a_chunk };

static kiln_arena_t arena;
static kiln_conn_t conn;

static kiln_conn_t *fresh(void)
{
    kiln_arena_reset(&arena);
    kiln_conn_init(&conn, &arena, &adapter, NULL);
    sends = 0;
    return &conn;
}

static void test_headers(void)
{
    kiln_conn_t *c = fresh();
    KT_ASSERT_EQ_INT(kiln_conn_put_resp_header(c, "X-Thing", "a"), 0);
    KT_ASSERT_EQ_STR(kiln_conn_get_resp_header(c, "x-thing"), "a");
    KT_ASSERT_EQ_SLICE(c->resp_headers[0].name, "x-thing"); /* stored lower-case */
    KT_ASSERT_EQ_INT(kiln_conn_put_resp_header(c, "x-thing", "b"), 0);
    KT_ASSERT_EQ_INT(c->n_resp_headers, 1);
    KT_ASSERT_EQ_INT(kiln_conn_add_resp_header(c, "x-thing", "c"), 0);
    KT_ASSERT_EQ_INT(c->n_resp_headers, 2);
    KT_ASSERT_EQ_INT(kiln_conn_delete_resp_header(c, "X-THING"), 0);
    KT_ASSERT(kiln_conn_get_resp_header(c, "x-thing") == NULL);
    for (int i = 0; i < 40; i++) KT_ASSERT_EQ_INT(kiln_conn_add_resp_header(c, "x-many", "v"), 0);
    KT_ASSERT_EQ_INT(c->n_resp_headers, 40);
}

static void test_splitting_refused(void)
{
    kiln_conn_t *c = fresh();
    KT_ASSERT_EQ_INT(kiln_conn_put_resp_header(c, "x-a", "v\r\nset-cookie: evil=1"), KILN_EINVAL);
    KT_ASSERT_EQ_INT(kiln_conn_put_resp_header(c, "x-a", "v\nx"), KILN_EINVAL);
    KT_ASSERT_EQ_INT(kiln_conn_add_resp_header(c, "x-a", "v\rx"), KILN_EINVAL);
    KT_ASSERT_EQ_INT(kiln_conn_put_resp_header(c, "x a", "v"), KILN_EINVAL);
    KT_ASSERT_EQ_INT(kiln_conn_put_resp_header(c, "x:a", "v"), KILN_EINVAL);
    KT_ASSERT_EQ_INT(kiln_conn_put_resp_header(c, "", "v"), KILN_EINVAL);
    KT_ASSERT_EQ_INT(kiln_conn_redirect(c, "/ok\r\nx: y"), KILN_EINVAL);
    KT_ASSERT_EQ_INT(kiln_conn_put_resp_cookie(c, "a", "b;c", NULL), KILN_EINVAL);
    KT_ASSERT_EQ_INT(kiln_conn_put_resp_cookie(c, "a b", "v", NULL), KILN_EINVAL);
    KT_ASSERT_EQ_INT(kiln_conn_put_resp_cookie(c, "a", "v\r\n", NULL), KILN_EINVAL);
    kiln_cookie_opts_t o = kiln_cookie_opts_default();
    o.path = "/x;domain=evil";
    KT_ASSERT_EQ_INT(kiln_conn_put_resp_cookie(c, "a", "v", &o), KILN_EINVAL);
    o = kiln_cookie_opts_default();
    o.same_site = "Sometimes";
    KT_ASSERT_EQ_INT(kiln_conn_put_resp_cookie(c, "a", "v", &o), KILN_EINVAL);
    KT_ASSERT_EQ_INT(c->n_resp_headers, 0);
}

static void test_cookies(void)
{
    kiln_conn_t *c = fresh();
    KT_ASSERT_EQ_INT(kiln_conn_put_resp_cookie(c, "sid", "abc", NULL), 0);
    KT_ASSERT_EQ_STR(kiln_conn_get_resp_header(c, "set-cookie"), "sid=abc; path=/; HttpOnly; SameSite=Lax");
    kiln_cookie_opts_t o = { .path = "/app", .domain = "example.com", .max_age = 60, .secure = 1,
                             .http_only = 0, .same_site = "Strict" };
    KT_ASSERT_EQ_INT(kiln_conn_put_resp_cookie(c, "sid", "def", &o), 0); /* replaces the first */
    KT_ASSERT_EQ_INT(c->n_resp_headers, 1);
    const char *v = kiln_conn_get_resp_header(c, "set-cookie");
    KT_ASSERT(!strncmp(v, "sid=def; path=/app; domain=example.com; expires=", 48));
    KT_ASSERT(strstr(v, " GMT; max-age=60; Secure; SameSite=Strict") != NULL);
    KT_ASSERT_EQ_INT(kiln_conn_put_resp_cookie(c, "other", "1", NULL), 0);
    KT_ASSERT_EQ_INT(kiln_conn_delete_resp_cookie(c, "other", NULL), 0);
    KT_ASSERT_EQ_INT(c->n_resp_headers, 2);
    KT_ASSERT_EQ_STR(c->resp_headers[1].value.ptr,
                     "other=; path=/; expires=Thu, 01 Jan 1970 00:00:00 GMT; max-age=0; HttpOnly; SameSite=Lax");
}

static void test_request_cookie_and_assigns(void)
{
    kiln_conn_t *c = fresh();
    static const kiln_header_t h[] = { { KILN_STR("Cookie"), KILN_STR("a=1; sid=xyz") } };
    c->req_headers = h;
    c->n_req_headers = 1;
    KT_ASSERT_EQ_STR(kiln_conn_cookie(c, "sid"), "xyz");
    KT_ASSERT(kiln_conn_cookie(c, "nope") == NULL);
    KT_ASSERT_EQ_SLICE(*kiln_conn_req_header(c, "cookie"), "a=1; sid=xyz");
    int one = 1, two = 2;
    kiln_conn_assign(c, "n", &one);
    kiln_conn_assign(c, "n", &two);
    KT_ASSERT(kiln_conn_get_assign(c, "n") == &two);
    KT_ASSERT(kiln_conn_get_assign(c, "m") == NULL);
}

static void test_send_once(void)
{
    kiln_conn_t *c = fresh();
    KT_ASSERT_EQ_INT(kiln_conn_text(c, 201, "hi"), 0);
    KT_ASSERT_EQ_INT(c->state, KILN_CONN_SENT);
    KT_ASSERT_EQ_INT(kiln_conn_text(c, 200, "again"), KILN_ESTATE);
    KT_ASSERT_EQ_INT(kiln_conn_send_chunked(c, 200), KILN_ESTATE);
    KT_ASSERT_EQ_INT(kiln_conn_chunk(c, "x", 1), KILN_ESTATE);
    KT_ASSERT_EQ_INT(sends, 1);
    KT_ASSERT_EQ_INT(c->status, 201);
    KT_ASSERT_EQ_STR(kiln_conn_get_resp_header(c, "content-type"), "text/plain; charset=utf-8");
    c = fresh();
    KT_ASSERT_EQ_INT(kiln_conn_put_status(c, 99), KILN_EINVAL);
    KT_ASSERT_EQ_INT(kiln_conn_send_resp(c, 1000, NULL, "", 0), KILN_EINVAL);
    KT_ASSERT_EQ_INT(sends, 0);
}

static void before(kiln_conn_t *c, void *ud)
{
    kiln_conn_put_resp_header(c, "x-before", ud);
}

static void test_head_format(void)
{
    kiln_conn_t *c = fresh();
    kiln_conn_put_resp_header(c, "x-a", "1");
    kiln_conn_put_resp_header(c, "content-length", "999"); /* ignored: framing is the adapter's */
    kiln_conn_register_before_send(c, before, "yes");
    KT_ASSERT_EQ_INT(kiln_conn_json_raw(c, 200, "{}"), 0);
    KT_ASSERT(!strncmp(head.data, "HTTP/1.1 200 OK\r\nx-a: 1\r\ncontent-type: application/json\r\nx-before: yes\r\n", 71));
    KT_ASSERT(strstr(head.data, "\r\nserver: kiln\r\ndate: ") != NULL);
    KT_ASSERT(strstr(head.data, "content-length: 2\r\n\r\n") != NULL);
    KT_ASSERT(strstr(head.data, "999") == NULL);
    KT_ASSERT(strstr(head.data, "transfer-encoding") == NULL);

    c = fresh();
    c->close_after = 1;
    kiln_conn_send_chunked(c, 200);
    KT_ASSERT(strstr(head.data, "transfer-encoding: chunked\r\nconnection: close\r\n\r\n") != NULL);
    KT_ASSERT(strstr(head.data, "content-length") == NULL);
    KT_ASSERT_EQ_INT(kiln_conn_chunk(c, "x", 1), 0);

    c = fresh();
    c->version_minor = 0;
    kiln_conn_send_chunked(c, 200);
    KT_ASSERT(strstr(head.data, "transfer-encoding") == NULL && strstr(head.data, "connection: close\r\n"));

    int codes[] = { 204, 304, 101 };
    for (size_t i = 0; i < 3; i++) {
        c = fresh();
        kiln_conn_send_resp(c, codes[i], NULL, NULL, 0);
        KT_ASSERT(strstr(head.data, "content-length") == NULL && strstr(head.data, "transfer-encoding") == NULL);
    }
}

static void test_redirect(void)
{
    kiln_conn_t *c = fresh();
    KT_ASSERT_EQ_INT(kiln_conn_redirect(c, "/a?b=\"<x>\""), 0);
    KT_ASSERT_EQ_INT(c->status, 302);
    KT_ASSERT_EQ_STR(kiln_conn_get_resp_header(c, "location"), "/a?b=\"<x>\"");
    c = fresh();
    c->status = 301;
    KT_ASSERT_EQ_INT(kiln_conn_redirect(c, "/moved"), 0);
    KT_ASSERT_EQ_INT(c->status, 301);
}

static void test_send_file(void)
{
    char path[] = "/tmp/kiln_conn_XXXXXX";
    int fd = mkstemp(path);
    KT_ASSERT(fd >= 0);
    KT_ASSERT(write(fd, "0123456789", 10) == 10);
    close(fd);
    kiln_conn_t *c = fresh();
    KT_ASSERT_EQ_INT(kiln_conn_send_file(c, 200, path, 2, 0), 0);
    KT_ASSERT(strstr(head.data, "content-length: 8\r\n") != NULL);
    c = fresh();
    KT_ASSERT_EQ_INT(kiln_conn_send_file(c, 200, path, 5, 6), KILN_EINVAL);
    KT_ASSERT_EQ_INT(kiln_conn_send_file(c, 200, "/nonexistent/x", 0, 0), KILN_ENOENT);
    KT_ASSERT_EQ_INT(sends, 0);
    kiln_arena_reset(&arena); /* closes the fds */
    unlink(path);
}

int main(void)
{
    kiln_arena_init(&arena, 0);
    kiln_buf_init(&head, 65536);
    KT_RUN(test_headers);
    KT_RUN(test_splitting_refused);
    KT_RUN(test_cookies);
    KT_RUN(test_request_cookie_and_assigns);
    KT_RUN(test_send_once);
    KT_RUN(test_head_format);
    KT_RUN(test_redirect);
    KT_RUN(test_send_file);
    kiln_arena_destroy(&arena);
    kiln_buf_free(&head);
    return kt_done();
}
