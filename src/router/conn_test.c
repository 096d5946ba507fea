/* ConnTest: the in-memory adapter, request builder and runner of kiln/test.h.
 *
 * The adapter keeps what a socket would have received (the head as
 * kiln_conn_write_head serializes it, and the body) in the conn's arena, so a
 * test can check both the parsed fields and the exact bytes. A file body is
 * read back with pread, and chunks are concatenated.
 *
 * The runner. Handlers may wait only on a coroutine, so a request runs on a
 * coroutine of a runtime, as in the server. The test thread is not a
 * scheduler, so ConnTest owns a one-scheduler runtime on a background thread
 * (created once, stopped and freed by an atexit hook so that leak checkers see
 * nothing): the test thread builds the conn, posts it to scheduler 0, which
 * starts a coroutine running kiln_endpoint_call, and sleeps on a condition
 * variable until the coroutine marks the state done. The post and the mutex
 * order everything: the conn is built before the post and read after done.
 * One scheduler is enough (tests issue one request at a time per thread) and
 * keeps handler code on one thread, as a request is in the server. */
#include "kiln/test.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct test_state {
    kiln_test_conn_t pub;
    kiln_arena_t arena;
    kiln_conn_t conn;
    kiln_buf_t body;
    kiln_buf_t head;
    const kiln_endpoint_t *ep;
    int done; /* under done_lock */
} test_state_t;

#define TEST_BODY_MAX (64u << 20)

static int record_head(kiln_conn_t *c, int64_t body_len)
{
    test_state_t *s = c->adapter_data;
    s->pub.sends++;
    kiln_buf_reset(&s->head);
    return kiln_conn_write_head(c, &s->head, body_len);
}

static int t_send_resp(kiln_conn_t *c, const kiln_str_t *body, size_t n)
{
    test_state_t *s = c->adapter_data;
    size_t total = 0;
    for (size_t i = 0; i < n; i++) total += body[i].len;
    int rc = record_head(c, (int64_t)total);
    for (size_t i = 0; rc == 0 && i < n && !kiln_conn_is_head(c); i++)
        rc = kiln_buf_append(&s->body, body[i].ptr, body[i].len);
    return rc;
}

static int t_send_file(kiln_conn_t *c, int fd, off_t off, uint64_t len)
{
    test_state_t *s = c->adapter_data;
    int rc = record_head(c, (int64_t)len);
    char chunk[8192];
    while (rc == 0 && len > 0 && !kiln_conn_is_head(c)) {
        ssize_t got = pread(fd, chunk, len < sizeof chunk ? len : sizeof chunk, off);
        if (got <= 0) return KILN_EIO;
        rc = kiln_buf_append(&s->body, chunk, (size_t)got);
        off += got;
        len -= (uint64_t)got;
    }
    return rc;
}

static int t_send_chunked(kiln_conn_t *c)
{
    return record_head(c, -1);
}

static int t_chunk(kiln_conn_t *c, const void *data, size_t len)
{
    test_state_t *s = c->adapter_data;
    if (len == 0) return 0;
    s->pub.chunks++;
    return kiln_conn_is_head(c) ? 0 : kiln_buf_append(&s->body, data, len);
}

static const kiln_conn_adapter_t test_adapter = { KILN_CONN_ADAPTER_ABI, t_send_resp, t_send_file, t_send_chunked,
                                                  t_chunk };

/* ---- Building the request ---------------------------------------------------------- */

static size_t count_pairs(const char *const *h)
{
    size_t n = 0;
    while (h && h[n] && h[n + 1]) n += 2;
    return n / 2;
}

static void set_headers(test_state_t *s, const kiln_test_opts_t *o, const char *ctype)
{
    kiln_conn_t *c = &s->conn;
    size_t n = count_pairs(o->headers) + 2;
    kiln_header_t *h = kiln_arena_alloc(&s->arena, n * sizeof *h);
    if (!h) abort();
    size_t k = 0;
    h[k++] = (kiln_header_t){ KILN_STR("host"), kiln_str_c(o->host ? o->host : "www.example.com") };
    if (ctype) h[k++] = (kiln_header_t){ KILN_STR("content-type"), kiln_str_c(ctype) };
    for (size_t i = 0; o->headers && o->headers[i] && o->headers[i + 1]; i += 2)
        h[k++] = (kiln_header_t){ kiln_str_c(o->headers[i]), kiln_str_c(o->headers[i + 1]) };
    c->req_headers = h;
    c->n_req_headers = k;
    c->host = h[0].value;
}

static void set_target(test_state_t *s, const char *target)
{
    kiln_conn_t *c = &s->conn;
    const char *q = strchr(target, '?');
    size_t plen = q ? (size_t)(q - target) : strlen(target);
    c->raw_path = (kiln_str_t){ kiln_arena_strndup(&s->arena, target, plen), plen };
    c->query_string = q ? kiln_str_c(kiln_arena_strndup(&s->arena, q + 1, strlen(q + 1))) : KILN_STR("");
    char *decoded = kiln_arena_alloc(&s->arena, plen + 1);
    if (!c->raw_path.ptr || !c->query_string.ptr || !decoded) abort();
    int n = kiln_url_decode(c->raw_path, decoded, 0);
    if (n < 0) c->path = c->raw_path; /* the router answers 400 for it */
    else {
        decoded[n] = '\0';
        c->path = (kiln_str_t){ decoded, (size_t)n };
    }
}

static void set_body(test_state_t *s, const kiln_test_opts_t *o, const char **ctype)
{
    const char *body = o->body;
    *ctype = o->content_type;
    if (o->form) {
        body = o->form;
        *ctype = "application/x-www-form-urlencoded";
    } else if (o->json) {
        body = o->json;
        *ctype = "application/json";
    }
    size_t len = body ? (o->body_len && body == o->body ? o->body_len : strlen(body)) : 0;
    s->conn.body = (kiln_str_t){ body ? body : "", len };
}

/* ---- Running it on the test runtime ------------------------------------------------ */

static pthread_once_t rt_once = PTHREAD_ONCE_INIT;
static kiln_runtime_t *test_rt;
static pthread_t rt_thread;
static pthread_mutex_t done_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done_cond = PTHREAD_COND_INITIALIZER;

static void *rt_main(void *arg)
{
    kiln_runtime_run(arg);
    return NULL;
}

static void rt_stop(void)
{
    kiln_runtime_stop(test_rt, 0);
    pthread_join(rt_thread, NULL);
    kiln_runtime_free(test_rt);
    test_rt = NULL;
}

static void rt_start(void)
{
    kiln_runtime_conf_t conf = { .schedulers = 1, .blocking_threads = 2 };
    test_rt = kiln_runtime_new(&conf);
    if (!test_rt || pthread_create(&rt_thread, NULL, rt_main, test_rt) != 0) {
        fprintf(stderr, "kiln_test: cannot start the test runtime\n");
        abort();
    }
    atexit(rt_stop);
}

kiln_runtime_t *kiln_test_runtime(void)
{
    pthread_once(&rt_once, rt_start);
    return test_rt;
}

static void mark_done(test_state_t *s, int rc)
{
    pthread_mutex_lock(&done_lock);
    s->pub.rc = rc;
    s->done = 1; /* the caller may free s once it sees this: touch nothing after */
    pthread_cond_broadcast(&done_cond);
    pthread_mutex_unlock(&done_lock);
}

static void run_coro(void *arg)
{
    test_state_t *s = arg;
    mark_done(s, kiln_endpoint_call(s->ep, &s->conn));
}

static void run_posted(void *arg)
{
    if (kiln_coro_start(run_coro, arg) < 0) mark_done(arg, KILN_ENOMEM);
}

static int run(test_state_t *s)
{
    if (kiln_coro_current()) return kiln_endpoint_call(s->ep, &s->conn);
    kiln_runtime_t *rt = kiln_test_runtime();
    kiln_sched_t *here = kiln_sched_current();
    if (here && kiln_sched_runtime(here) == rt) {
        fprintf(stderr, "kiln_test_request: called on the test runtime outside a coroutine\n");
        abort();
    }
    if (kiln_sched_post(kiln_sched_get(rt, 0), run_posted, s) < 0) return KILN_ENOMEM;
    pthread_mutex_lock(&done_lock);
    while (!s->done) pthread_cond_wait(&done_cond, &done_lock);
    int rc = s->pub.rc;
    pthread_mutex_unlock(&done_lock);
    return rc;
}

kiln_test_conn_t *kiln_test_request_opts(const kiln_endpoint_t *ep, const char *method, const char *target,
                                         const kiln_test_opts_t *opts)
{
    static const kiln_test_opts_t none;
    const kiln_test_opts_t *o = opts ? opts : &none;
    test_state_t *s = kiln_xcalloc(1, sizeof *s);
    kiln_arena_init(&s->arena, 0);
    kiln_buf_init(&s->body, TEST_BODY_MAX);
    kiln_buf_init(&s->head, 65536);
    kiln_conn_t *c = &s->conn;
    kiln_conn_init(c, &s->arena, &test_adapter, s);
    c->method_str = kiln_str_c(kiln_arena_strndup(&s->arena, method, strlen(method)));
    c->method = kiln_http_method_from(c->method_str);
    c->version_minor = o->http10 ? 0 : 1;
    c->remote_ip = kiln_str_c(o->remote_ip ? o->remote_ip : "127.0.0.1");
    set_target(s, target);
    const char *ctype;
    set_body(s, o, &ctype);
    set_headers(s, o, ctype);
    c->start_ns = kiln_now_ns();
    s->ep = ep;

    s->pub.rc = run(s);
    s->pub.conn = c;
    s->pub.status = c->status;
    s->pub.headers = c->resp_headers;
    s->pub.n_headers = c->n_resp_headers;
    s->pub.body = s->body.data ? s->body.data : "";
    s->pub.body_len = s->body.len;
    s->pub.head = s->head.data ? s->head.data : "";
    return &s->pub;
}

const char *kiln_test_resp_header(const kiln_test_conn_t *t, const char *name)
{
    return kiln_conn_get_resp_header(t->conn, name);
}

size_t kiln_test_resp_header_count(const kiln_test_conn_t *t, const char *name)
{
    size_t n = 0;
    for (size_t i = 0; i < t->n_headers; i++) n += kiln_str_ieq_c(t->headers[i].name, name);
    return n;
}

void *kiln_test_assign(const kiln_test_conn_t *t, const char *key)
{
    return kiln_conn_get_assign(t->conn, key);
}

void kiln_test_free(kiln_test_conn_t *t)
{
    if (!t) return;
    test_state_t *s = kiln_container_of(t, test_state_t, pub);
    kiln_arena_destroy(&s->arena);
    kiln_buf_free(&s->body);
    kiln_buf_free(&s->head);
    free(s);
}
