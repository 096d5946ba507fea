/* Kiln ConnTest: run a request through an endpoint in-process, then assert on
 * the response (Phoenix.ConnTest).
 *
 *   kiln_test_conn_t *t = kiln_test_request(&endpoint, "POST", "/users",
 *                                           .form = "user[name]=Ada&user[email]=ada@example.com");
 *   KT_ASSERT_EQ_INT(t->status, 302);
 *   KT_ASSERT_EQ_STR(kiln_test_resp_header(t, "location"), "/users/1");
 *   kiln_test_free(t);
 *
 * The request goes through kiln_endpoint_call exactly as the server sends it
 * (same plugs, so body params are parsed the same way) with an in-memory
 * adapter instead of a socket, and, as in the server, on a coroutine: handlers
 * may wait (kiln_call, kiln_sleep, kiln_blocking). ConnTest owns a one-scheduler runtime (kiln_test_runtime),
 * started on a background thread on first use and stopped at exit; the
 * calling thread posts the request to it and blocks until the response is
 * complete. Called from a coroutine (a test body already running on a
 * runtime), the request runs inline on that coroutine instead.
 *
 * Telemetry handlers (the request log included) therefore run on the runtime's
 * thread, before kiln_test_request returns. */
#ifndef KILN_TEST_CONN_H
#define KILN_TEST_CONN_H

#include "kiln/endpoint.h"
#include "kiln/runtime.h"

typedef struct kiln_test_opts {
    int _;                        /* lets kiln_test_request take no options */
    const char *const *headers;   /* NULL-terminated name, value pairs (KILN_TEST_HEADERS) */
    const char *body;             /* raw body */
    size_t body_len;              /* 0 = strlen(body) */
    const char *content_type;     /* for body */
    const char *form;             /* urlencoded body: sets content-type */
    const char *json;             /* JSON body: sets content-type application/json */
    const char *remote_ip;        /* default "127.0.0.1" */
    const char *host;             /* default "www.example.com" */
    int http10;                   /* send as HTTP/1.0 */
} kiln_test_opts_t;
#define KILN_TEST_HEADERS(...) ((const char *const[]){ __VA_ARGS__, NULL })

typedef struct kiln_test_conn {
    int status;
    const char *body;             /* NUL-terminated; empty for HEAD */
    size_t body_len;
    const kiln_header_t *headers; /* response headers as the handler set them */
    size_t n_headers;
    const char *head;             /* the serialized head (kiln_conn_write_head) */
    int rc;                       /* what kiln_endpoint_call returned */
    int sends;                    /* adapter send calls (a correct app makes exactly one) */
    int chunks;                   /* chunks received for a chunked response */
    kiln_conn_t *conn;            /* the conn after the call: params, assigns, format... */
} kiln_test_conn_t;

/* Builds the request (target may carry a query string), runs it, and returns
 * the result; never NULL (aborts on OOM or if the test runtime cannot start).
 * Thread-safe. Free with kiln_test_free. Must not be called from the test
 * runtime's scheduler thread outside a coroutine (it would wait for itself). */
kiln_test_conn_t *kiln_test_request_opts(const kiln_endpoint_t *ep, const char *method, const char *target,
                                         const kiln_test_opts_t *opts);
#define kiln_test_request(ep, method, target, ...)                                                                   \
    kiln_test_request_opts((ep), (method), (target), &(kiln_test_opts_t){ ._ = 0, __VA_ARGS__ })

/* A response header's value (the first), or NULL. */
const char *kiln_test_resp_header(const kiln_test_conn_t *t, const char *name);
/* The number of response headers called name (e.g. set-cookie). */
size_t kiln_test_resp_header_count(const kiln_test_conn_t *t, const char *name);
/* An assign the request left on the conn, or NULL. */
void *kiln_test_assign(const kiln_test_conn_t *t, const char *key);
/* Releases the conn, its arena (temp upload files included) and t. */
void kiln_test_free(kiln_test_conn_t *t);

/* The runtime ConnTest requests run on (started on first use; owned by
 * ConnTest and freed at exit). Spawn the processes a handler calls on it:
 * a handler finds it with kiln_sched_runtime(kiln_sched_current()). */
kiln_runtime_t *kiln_test_runtime(void);

#endif
