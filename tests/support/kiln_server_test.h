/* Helpers for tests that talk to a real Kiln HTTP server over raw sockets.
 *
 *   kst_server_t s;
 *   kiln_server_conf_t conf = { .endpoint = &ep };
 *   if (kst_start(&s, &conf, 1) < 0) ...;          // runtime on its own thread, ephemeral port
 *   kst_conn_t c; kst_connect(&c, s.port);
 *   kst_send(&c, "GET / HTTP/1.1\r\nhost: x\r\n\r\n");
 *   kst_resp_t r; kst_read_resp(&c, &r);           // one response: status, head, body
 *   kst_close(&c); kst_stop(&s);                    // drain, stop the runtime, free everything
 *
 * Everything is header-only (static functions) so each test program includes
 * it once. Sockets are blocking with a receive timeout, so a server that never
 * answers fails a test instead of hanging it. */
#ifndef KILN_SERVER_TEST_H
#define KILN_SERVER_TEST_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "kiln/server.h"
#include "kiln/router.h"

#define KST_FN static __attribute__((unused))
#define KST_VAR static __attribute__((unused))

typedef struct kst_server {
    kiln_runtime_t *rt;
    kiln_server_t *srv;
    pthread_t thread;
    int port;
    atomic_int drained;
} kst_server_t;

KST_FN void *kst_runtime_main(void *arg)
{
    kiln_runtime_run(arg);
    return NULL;
}

/* Starts a runtime with `schedulers` schedulers on a thread of its own and a
 * server on it (conf->port 0 = ephemeral). Returns 0 or a KILN_E* code. */
KST_FN int kst_start(kst_server_t *s, const kiln_server_conf_t *conf, int schedulers)
{
    memset(s, 0, sizeof *s);
    kiln_runtime_conf_t rc = { .schedulers = schedulers };
    s->rt = kiln_runtime_new(&rc);
    if (!s->rt) return KILN_ENOMEM;
    int rc2 = kiln_server_start(s->rt, conf, &s->srv);
    if (rc2 < 0) {
        kiln_runtime_free(s->rt);
        return rc2;
    }
    s->port = kiln_server_port(s->srv);
    pthread_create(&s->thread, NULL, kst_runtime_main, s->rt);
    return 0;
}

KST_FN void kst_drained(void *ud)
{
    atomic_store((atomic_int *)ud, 1);
}

KST_FN void kst_sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* Starts a drain with the given deadline; returns at once. */
KST_FN void kst_drain(kst_server_t *s, int64_t timeout_ms)
{
    kiln_server_drain(s->srv, timeout_ms, kst_drained, &s->drained);
}

/* Waits up to ms for the drain's done callback; returns 1 if it came. */
KST_FN int kst_wait_drained(kst_server_t *s, int ms)
{
    for (int i = 0; i < ms / 5 && !atomic_load(&s->drained); i++) kst_sleep_ms(5);
    return atomic_load(&s->drained);
}

/* Drains (2 s deadline), stops the runtime and frees everything. */
KST_FN void kst_stop(kst_server_t *s)
{
    kst_drain(s, 2000);
    kst_wait_drained(s, 5000);
    kiln_runtime_stop(s->rt, 0);
    pthread_join(s->thread, NULL);
    kiln_server_free(s->srv);
    kiln_runtime_free(s->rt);
}

/* ---- A client connection -------------------------------------------------- */

#define KST_BUF (1024 * 1024)

typedef struct kst_conn {
    int fd;
    char *buf; /* received, not yet consumed */
    size_t len;
} kst_conn_t;

KST_FN int kst_connect_timeout(kst_conn_t *c, int port, int timeout_ms)
{
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    c->buf = malloc(KST_BUF);
    c->len = 0;
    if (c->fd < 0 || !c->buf) return -1;
    struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return connect(c->fd, (struct sockaddr *)&sa, sizeof sa);
}

KST_FN int kst_connect(kst_conn_t *c, int port)
{
    return kst_connect_timeout(c, port, 5000);
}

KST_FN void kst_close(kst_conn_t *c)
{
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
    free(c->buf);
    c->buf = NULL;
}

KST_FN int kst_sendn(kst_conn_t *c, const void *p, size_t n)
{
    const char *s = p;
    while (n) {
        ssize_t w = send(c->fd, s, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

KST_FN int kst_send(kst_conn_t *c, const char *s)
{
    return kst_sendn(c, s, strlen(s));
}

/* Reads more bytes into c->buf; returns the count, 0 on EOF, -1 on error or timeout. */
KST_FN ssize_t kst_fill(kst_conn_t *c)
{
    if (c->len >= KST_BUF) return -1;
    for (;;) {
        ssize_t n = recv(c->fd, c->buf + c->len, KST_BUF - c->len, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n > 0) c->len += (size_t)n;
        return n;
    }
}

/* 1 if the peer closed (EOF, or a reset) within the receive timeout with no more bytes. */
KST_FN int kst_eof(kst_conn_t *c)
{
    if (c->len) return 0;
    ssize_t n = kst_fill(c);
    return n == 0 || (n < 0 && errno == ECONNRESET);
}

typedef struct kst_resp {
    int status;
    char head[8192]; /* NUL-terminated, lowercase names as sent */
    char *body;      /* malloc'd, NUL-terminated; free with kst_resp_free */
    size_t body_len;
    int chunked;
} kst_resp_t;

KST_FN void kst_resp_free(kst_resp_t *r)
{
    free(r->body);
    r->body = NULL;
}

/* The value of header `name` in r->head (case-insensitive), copied into out; 1 if found. */
KST_FN int kst_header(const kst_resp_t *r, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    for (const char *p = strstr(r->head, "\r\n"); p && p[2]; p = strstr(p + 2, "\r\n")) {
        const char *line = p + 2;
        if (strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
            const char *v = line + nl + 1;
            while (*v == ' ') v++;
            const char *e = strstr(v, "\r\n");
            size_t n = e ? (size_t)(e - v) : strlen(v);
            if (n >= cap) n = cap - 1;
            memcpy(out, v, n);
            out[n] = '\0';
            return 1;
        }
    }
    return 0;
}

KST_FN void kst_consume(kst_conn_t *c, size_t n)
{
    memmove(c->buf, c->buf + n, c->len - n);
    c->len -= n;
}

KST_FN int kst_read_resp_body(kst_conn_t *c, kst_resp_t *r, int is_head);

/* Reads one response (any framing; no body for HEAD when is_head, or 1xx/204/304).
 * Returns 0, or -1 on EOF/timeout/garbage. */
KST_FN int kst_read_resp_ex(kst_conn_t *c, kst_resp_t *r, int is_head)
{
    memset(r, 0, sizeof *r);
    int rc = kst_read_resp_body(c, r, is_head);
    if (rc < 0) kst_resp_free(r);
    return rc;
}

KST_FN int kst_read_resp_body(kst_conn_t *c, kst_resp_t *r, int is_head)
{
    char *end;
    while (!(c->len && (end = memmem(c->buf, c->len, "\r\n\r\n", 4)))) {
        if (kst_fill(c) <= 0) return -1;
    }
    size_t hlen = (size_t)(end - c->buf) + 4;
    if (hlen >= sizeof r->head) return -1;
    memcpy(r->head, c->buf, hlen);
    r->head[hlen] = '\0';
    kst_consume(c, hlen);
    if (sscanf(r->head, "HTTP/1.%*d %d", &r->status) != 1) return -1;
    char v[64];
    int no_body = is_head || (r->status >= 100 && r->status < 200) || r->status == 204 || r->status == 304;
    r->body = malloc(KST_BUF);
    if (no_body) {
        r->body[0] = '\0';
        return 0;
    }
    if (kst_header(r, "content-length", v, sizeof v)) {
        size_t n = strtoull(v, NULL, 10);
        if (n >= KST_BUF) return -1;
        while (c->len < n)
            if (kst_fill(c) <= 0) return -1;
        memcpy(r->body, c->buf, n);
        r->body_len = n;
        kst_consume(c, n);
    } else if (kst_header(r, "transfer-encoding", v, sizeof v)) {
        r->chunked = 1;
        for (;;) {
            char *eol;
            while (!(c->len && (eol = memmem(c->buf, c->len, "\r\n", 2))))
                if (kst_fill(c) <= 0) return -1;
            size_t sz = strtoull(c->buf, NULL, 16);
            kst_consume(c, (size_t)(eol - c->buf) + 2);
            while (c->len < sz + 2)
                if (kst_fill(c) <= 0) return -1;
            if (r->body_len + sz >= KST_BUF) return -1;
            memcpy(r->body + r->body_len, c->buf, sz);
            r->body_len += sz;
            kst_consume(c, sz + 2);
            if (sz == 0) break;
        }
    } else { /* close-delimited */
        ssize_t n;
        while ((n = kst_fill(c)) > 0) {}
        memcpy(r->body, c->buf, c->len);
        r->body_len = c->len;
        kst_consume(c, c->len);
    }
    r->body[r->body_len] = '\0';
    return 0;
}

KST_FN int kst_read_resp(kst_conn_t *c, kst_resp_t *r)
{
    return kst_read_resp_ex(c, r, 0);
}

/* One request on a fresh connection; returns the status (-1 on failure) and
 * fills r when given. Checks that the server then closes when expect_close. */
KST_FN int kst_roundtrip(int port, const char *req, kst_resp_t *r)
{
    kst_conn_t c;
    kst_resp_t local;
    kst_resp_t *rr = r ? r : &local;
    if (kst_connect(&c, port) < 0 || kst_send(&c, req) < 0 || kst_read_resp(&c, rr) < 0) {
        kst_close(&c);
        return -1;
    }
    int st = rr->status;
    if (!r) kst_resp_free(rr);
    kst_close(&c);
    return st;
}

/* VmRSS-like figures from /proc/<pid>/status, in kB ("RssAnon", "VmRSS"). */
KST_FN long kst_proc_kb(pid_t pid, const char *field)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    long v = -1;
    size_t fl = strlen(field);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, fl) == 0 && line[fl] == ':') v = strtol(line + fl + 1, NULL, 10);
    fclose(f);
    return v;
}

/* ---- A tiny app for the server tests -------------------------------------- *
 *   GET  /            "hello"                   GET /count    bumps kst_app_count
 *   POST /echo        echoes the body           GET /chunked  three chunks "a" "bb" "ccc"
 *   GET  /file        kst_app_file (sendfile)   GET /slow     sleeps kst_app_slow_ms, then "slow"
 *   GET  /big         kst_app_big_len bytes     GET /nocontent 204, GET /notmod 304
 *   GET  /badheader   tries a CR/LF header; answers "refused" or "accepted"
 *   GET  /path/ *rest answers the decoded path */
KST_VAR atomic_int kst_app_count;
KST_VAR const char *kst_app_file;
KST_VAR int kst_app_slow_ms = 300;
KST_VAR size_t kst_app_big_len = 1 << 20;
KST_VAR char *kst_app_big;

KST_FN int kst_h_root(kiln_conn_t *c)
{
    return kiln_conn_text(c, 200, "hello");
}

KST_FN int kst_h_count(kiln_conn_t *c)
{
    atomic_fetch_add(&kst_app_count, 1);
    return kiln_conn_text(c, 200, "counted");
}

KST_FN int kst_h_echo(kiln_conn_t *c)
{
    return kiln_conn_send_resp(c, 200, "application/octet-stream", c->body.ptr, c->body.len);
}

KST_FN int kst_h_chunked(kiln_conn_t *c)
{
    int rc = kiln_conn_send_chunked(c, 200);
    if (rc == 0) rc = kiln_conn_chunk(c, "a", 1);
    if (rc == 0) rc = kiln_conn_chunk(c, "bb", 2);
    if (rc == 0) rc = kiln_conn_chunk(c, "ccc", 3);
    if (rc == 0) rc = kiln_conn_chunk(c, NULL, 0);
    return rc < 0 ? 0 : 0; /* a client gone mid-body is not a handler error */
}

KST_FN int kst_h_file(kiln_conn_t *c)
{
    kiln_conn_put_resp_header(c, "content-type", "application/octet-stream");
    kiln_conn_send_file(c, 200, kst_app_file, 0, 0);
    return 0;
}

KST_FN int kst_h_slow(kiln_conn_t *c)
{
    kiln_sleep((uint64_t)kst_app_slow_ms);
    return kiln_conn_text(c, 200, "slow");
}

KST_FN int kst_h_big(kiln_conn_t *c)
{
    kiln_conn_send_resp(c, 200, "application/octet-stream", kst_app_big, kst_app_big_len);
    return 0;
}

KST_FN int kst_h_nocontent(kiln_conn_t *c)
{
    kiln_conn_put_status(c, 204);
    return kiln_conn_send_resp(c, 204, NULL, "ignored", 7);
}

KST_FN int kst_h_notmod(kiln_conn_t *c)
{
    return kiln_conn_send_resp(c, 304, NULL, "ignored", 7);
}

KST_FN int kst_h_badheader(kiln_conn_t *c)
{
    int rc = kiln_conn_put_resp_header(c, "x-evil", "a\r\nset-cookie: pwned=1");
    return kiln_conn_text(c, 200, rc < 0 ? "refused" : "accepted");
}

KST_FN int kst_h_path(kiln_conn_t *c)
{
    return kiln_conn_send_resp(c, 200, "text/plain", c->path.ptr, c->path.len);
}

KST_VAR const kiln_route_t kst_routes[] = {
    KILN_GET("/", kst_h_root, "root"),
    KILN_GET("/count", kst_h_count, "count"),
    KILN_POST("/echo", kst_h_echo, "echo"),
    KILN_GET("/chunked", kst_h_chunked, "chunked"),
    KILN_GET("/file", kst_h_file, "file"),
    KILN_GET("/slow", kst_h_slow, "slow"),
    KILN_GET("/big", kst_h_big, "big"),
    KILN_GET("/nocontent", kst_h_nocontent, "nocontent"),
    KILN_GET("/notmod", kst_h_notmod, "notmod"),
    KILN_GET("/badheader", kst_h_badheader, "badheader"),
    KILN_GET("/path/*rest", kst_h_path, "path"),
};

KST_VAR kiln_endpoint_t kst_endpoint = { .name = "kst" };

/* Builds the app's router once; returns the endpoint. */
KST_FN kiln_endpoint_t *kst_app(void)
{
    if (!kst_endpoint.router) {
        if (kiln_router_build(kst_routes, KILN_ARRAY_LEN(kst_routes), &kst_endpoint.router) < 0) abort();
        kst_app_big = malloc(kst_app_big_len);
        memset(kst_app_big, 'x', kst_app_big_len);
    }
    return &kst_endpoint;
}

KST_FN void kst_app_free(void)
{
    kiln_router_free(kst_endpoint.router);
    kst_endpoint.router = NULL;
    free(kst_app_big);
    kst_app_big = NULL;
}

#endif
