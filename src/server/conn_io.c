/* The HTTP/1.1 connection state machine: read, parse, read the body, run the
 * request on a borrowed coroutine, then the next (pipelined) request.
 *
 * A connection is a small struct (server_int.h), not a process. Its read
 * buffer comes from the scheduler's pool when the socket is readable and goes
 * back as soon as the connection is idle with no partial request; its arena
 * is borrowed when a request head is complete and returned after the
 * response. So an idle keep-alive connection owns only its struct.
 *
 * Flow. conn_advance() runs on the loop stack (from the io callback) and
 * returns READY when a whole request (head and body) is in memory. Then
 * kiln_coro_start runs conn_coro on a borrowed stack: it serves the request,
 * and keeps serving requests that are already complete (pipelining) by calling
 * conn_advance itself, which never waits. When no complete request is left,
 * the coroutine returns and its stack goes back to the pool. While a request
 * runs (c->busy) the connection reads nothing, and it is never freed under the
 * coroutine: closing it is left to the coroutine when the request ends.
 *
 * Responses of a pipelined batch may be held back in c->obuf (respond.c) to go
 * out in one write; every way out of a batch (waiting for bytes, an error
 * answer, EOF, closing) flushes them first, with out_flush.
 *
 * Reads are edge-triggered: c->readable remembers that the socket may hold
 * more bytes; a short read clears it, which saves the EAGAIN read per request.
 *
 * Errors in framing or limits answer the parser's status with connection:
 * close, then close with a short lingering read, so that the client sees the
 * response rather than a reset caused by its unread bytes; any pipelined
 * requests behind the bad one are discarded, never run. If the socket cannot
 * take the whole answer at once, the lingering connection writes the rest on
 * writable edges before it shuts down its side. */
#include "server/server_int.h"
#include "kiln/telemetry.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define LINGER_MS 2000                  /* time a closing connection keeps draining client bytes */
#define LINGER_MAX_BYTES (1024 * 1024) /* and how much of them it reads */

enum { ADV_READY, ADV_WAIT, ADV_CLOSED };

static void on_io(kiln_io_t *io, unsigned events);
static void on_timer(kiln_timer_t *t);

/* ---- Small helpers -------------------------------------------------------- */

static const kiln_server_conf_t *conf_of(const srv_conn_t *c)
{
    return &c->ss->srv->conf;
}

static void timer_set(srv_conn_t *c, int kind, int64_t ms)
{
    c->timer_kind = (uint8_t)kind;
    kiln_timer_start(&c->timer, (uint64_t)ms, on_timer);
}

static void timer_clear(srv_conn_t *c)
{
    if (c->timer_kind != SRV_TIMER_NONE) {
        kiln_timer_stop(&c->timer);
        c->timer_kind = SRV_TIMER_NONE;
    }
}

static int buf_acquire(srv_conn_t *c)
{
    if (c->rbuf) return 0;
    c->rbuf = kiln__srv_pool_get(&c->ss->bufs);
    if (!c->rbuf) c->rbuf = malloc(c->ss->srv->buf_size);
    return c->rbuf ? 0 : KILN_ENOMEM;
}

static void buf_release(srv_conn_t *c)
{
    if (!c->rbuf) return;
    kiln__srv_pool_put(&c->ss->bufs, c->rbuf, free);
    c->rbuf = NULL;
    c->rlen = 0;
}

static void arena_destroy_free(void *p)
{
    kiln_arena_destroy(p);
    free(p);
}

/* Ends the request: the arena (and the srv_req_t inside it) goes back to the pool. */
static void req_release(srv_conn_t *c)
{
    srv_req_t *r = c->req;
    if (!r) return;
    c->req = NULL;
    kiln_arena_t *a = r->arena;
    kiln_arena_reset(a);
    kiln__srv_pool_put(&c->ss->arenas, a, arena_destroy_free);
}

static void free_cbody(void *p)
{
    kiln_buf_free(p);
}

/* ---- Closing -------------------------------------------------------------- */

static void conn_free(srv_conn_t *c)
{
    srv_sched_t *ss = c->ss;
    if (c->io.cb) kiln_io_stop(&c->io);
    timer_clear(c);
    if (c->ops->shutdown) c->ops->shutdown(c);
    if (c->io.fd >= 0) close(c->io.fd); /* -1: handed to an upgrade (upgrade.c) */
    req_release(c);
    buf_release(c);
    kiln__srv_obuf_release(c);
    if (c->counted_ip) kiln__srv_ip_release(ss->srv, c->ip_raw, c->ip_family);
    if (c->prev)
        c->prev->next = c->next;
    else
        ss->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    ss->n_conns--;
    free(c);
    kiln__srv_conn_gone(ss);
}

/* Closes at once, or, while a request coroutine uses the connection, makes
 * its writes fail and leaves the close to the coroutine. */
void kiln__srv_conn_close(srv_conn_t *c)
{
    if (c->busy) {
        c->dead = 1;
        shutdown(c->io.fd, SHUT_RDWR);
        if (c->waiter) { /* parked on a write: let it see the error */
            kiln_coro_t *w = c->waiter;
            c->waiter = NULL;
            kiln_coro_wake(w, KILN_ECLOSED);
        }
        return;
    }
    conn_free(c);
}

/* Writes the rest of an error answer that the socket could not take at once
 * (kiln__srv_send_error keeps it in obuf), then ends our direction. Returns 0
 * (done, or waiting for the next writable edge) or KILN_ECLOSED. */
static int linger_write(srv_conn_t *c)
{
    struct iovec iov = { c->obuf, c->olen };
    ssize_t w = c->ops->writev(c, &iov, 1);
    if (w == KILN_EAGAIN) return 0;
    if (w < 0) return KILN_ECLOSED;
    memmove(c->obuf, c->obuf + w, c->olen - (size_t)w);
    c->olen -= (uint32_t)w;
    if (c->olen) return 0;
    kiln__srv_obuf_release(c);
    shutdown(c->io.fd, SHUT_WR);
    return 0;
}

/* Reads and drops what the client still sends, for a short while, so that the
 * close after an error response does not turn into a reset that destroys the
 * response before the client reads it; and finishes writing that response
 * first. A client that half-closed still reads it, so its EOF closes only
 * once the response is out (the linger timer bounds the wait). */
static void linger_io(srv_conn_t *c)
{
    if (c->olen && linger_write(c) < 0) {
        conn_free(c);
        return;
    }
    char scratch[4096];
    for (int i = 0; i < LINGER_MAX_BYTES / (int)sizeof scratch; i++) {
        ssize_t n = read(c->io.fd, scratch, sizeof scratch);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        if (n < 0 && errno == EINTR) continue;
        if (n == 0 && c->olen) return;
        if (n <= 0) break;
    }
    conn_free(c);
}

static void conn_linger(srv_conn_t *c)
{
    c->state = SRV_ST_LINGER;
    req_release(c);
    buf_release(c);
    if (c->tls) { /* a TLS peer cannot be fed raw bytes: plain close */
        conn_free(c);
        return;
    }
    if (!c->olen) shutdown(c->io.fd, SHUT_WR); /* else once linger_write has sent the rest */
    timer_set(c, SRV_TIMER_LINGER, LINGER_MS);
    linger_io(c);
}

/* Writes the responses a pipelined batch held back, before the batch stops or
 * answers anything else. Output is only held on the request coroutine, so this
 * may park; busy keeps the io callback from driving the connection meanwhile
 * (a close during the park is then left to us: c->dead). */
static int out_flush(srv_conn_t *c)
{
    if (!c->olen) return 0;
    unsigned busy = c->busy;
    c->busy = 1;
    int rc = kiln__srv_flush(c);
    c->busy = busy;
    return rc < 0 || c->dead ? KILN_ECLOSED : 0;
}

/* Answers a rejected request (status from the parser or a limit) and closes. */
static int conn_reject(srv_conn_t *c, int status)
{
    out_flush(c);
    c->ss->rejected++;
    kiln__srv_send_error(c, status);
    conn_linger(c);
    return ADV_CLOSED;
}

/* ---- Reading -------------------------------------------------------------- */

/* Reads into dst; returns >0 bytes, 0 when nothing is available now, or
 * ADV_CLOSED-worthy failure as a negative code (EOF is KILN_ECLOSED). */
static ssize_t conn_read(srv_conn_t *c, char *dst, size_t cap)
{
    if (!c->readable) return 0;
    ssize_t n = c->ops->read(c, dst, cap);
    if (n == KILN_EAGAIN) {
        c->readable = 0;
        return 0;
    }
    if (n == 0) return KILN_ECLOSED;
    return n;
}

/* Waiting for more bytes: picks the timer for the state and gives the read
 * buffer back when no partial request is held. */
static int conn_wait(srv_conn_t *c)
{
    const kiln_server_conf_t *cf = conf_of(c);
    if (out_flush(c) < 0) {
        conn_free(c);
        return ADV_CLOSED;
    }
    if (c->state == SRV_ST_BODY) {
        timer_set(c, SRV_TIMER_BODY, cf->body_timeout_ms); /* reset per read: an idle limit */
    } else if (c->rlen == 0) {
        buf_release(c);
        if (c->draining) {
            conn_free(c);
            return ADV_CLOSED;
        }
        if (c->timer_kind != SRV_TIMER_IDLE && c->timer_kind != SRV_TIMER_HEADER)
            timer_set(c, SRV_TIMER_IDLE, cf->idle_timeout_ms);
    } else if (c->timer_kind != SRV_TIMER_HEADER) {
        timer_set(c, SRV_TIMER_HEADER, cf->header_timeout_ms); /* one deadline for the whole head */
    }
    return ADV_WAIT;
}

/* ---- Request setup -------------------------------------------------------- */

static int utf8_ok(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char b = s[i];
        if (b < 0x80) {
            if (b == 0) return 0;
            i++;
            continue;
        }
        size_t len;
        uint32_t cp;
        if ((b & 0xE0) == 0xC0) len = 2, cp = b & 0x1F;
        else if ((b & 0xF0) == 0xE0) len = 3, cp = b & 0x0F;
        else if ((b & 0xF8) == 0xF0) len = 4, cp = b & 0x07;
        else return 0;
        if (i + len > n) return 0;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return 0;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += len;
    }
    return 1;
}

/* The percent-decoded path: the raw slice itself when it has nothing to
 * decode (the common case), else a copy in the arena. NUL or invalid UTF-8
 * after decoding is refused: handlers get C-safe, well-formed paths. */
static int decode_path(kiln_arena_t *a, kiln_str_t raw, kiln_str_t *out)
{
    int plain = 1;
    for (size_t i = 0; i < raw.len; i++)
        if (raw.ptr[i] == '%' || (unsigned char)raw.ptr[i] >= 0x80) plain = 0;
    if (plain) {
        *out = raw;
        return 0;
    }
    char *dst = kiln_arena_alloc(a, raw.len + 1);
    if (!dst) return KILN_ENOMEM;
    int n = kiln_url_decode(raw, dst, 0);
    if (n < 0 || !utf8_ok((const unsigned char *)dst, (size_t)n)) return KILN_EINVAL;
    dst[n] = '\0';
    *out = (kiln_str_t){ dst, (size_t)n };
    return 0;
}

static kiln_arena_t *arena_borrow(srv_sched_t *ss)
{
    kiln_arena_t *a = kiln__srv_pool_get(&ss->arenas);
    if (a) return a;
    a = malloc(sizeof *a);
    if (a) kiln_arena_init(a, 8192);
    return a;
}

/* The head is complete (parsed into ss->hdrs): borrows an arena and builds
 * the request; the header array is copied because ss->hdrs is shared. */
static int req_begin(srv_conn_t *c, const kiln_http_req_t *h, int head_len)
{
    kiln_arena_t *a = arena_borrow(c->ss);
    if (!a) return KILN_ENOMEM;
    srv_req_t *r = kiln_arena_alloc(a, sizeof *r);
    kiln_header_t *hdrs = kiln_arena_alloc(a, (h->n_headers ? h->n_headers : 1) * sizeof *hdrs);
    if (!r || !hdrs) {
        kiln_arena_reset(a);
        kiln__srv_pool_put(&c->ss->arenas, a, arena_destroy_free);
        return KILN_ENOMEM;
    }
    memset(r, 0, offsetof(srv_req_t, conn) + sizeof r->conn); /* the rest is set below */
    r->arena = a;
    r->http = *h;
    memcpy(hdrs, h->headers, h->n_headers * sizeof *hdrs);
    r->http.headers = hdrs;
    r->head_len = (uint32_t)head_len;
    r->body = NULL;
    r->body_len = 0;
    kiln_buf_init(&r->cbody, 0);
    r->is_head = h->method == KILN_METHOD_HEAD;
    r->resp_chunked = 0;
    r->chunk_ended = 0;
    r->close = !h->keep_alive || c->draining ||
               (conf_of(c)->max_keepalive_requests && c->nreq + 1 >= conf_of(c)->max_keepalive_requests);
    c->req = r;
    return 0;
}

/* Fills the kiln_conn_t from the parsed request. Returns 0 or a status to reject with. */
static int req_fill_conn(srv_conn_t *c)
{
    srv_req_t *r = c->req;
    kiln_conn_t *kc = &r->conn;
    const kiln_http_req_t *h = &r->http;
    kiln_conn_init(kc, r->arena, &kiln__srv_adapter, c);
    kc->method = h->method;
    kc->method_str = h->method_str;
    kc->raw_path = h->path;
    int rc = decode_path(r->arena, h->path, &kc->path);
    if (rc == KILN_EINVAL) return 400;
    if (rc < 0) return 500;
    kc->query_string = h->query;
    kc->version_minor = h->version_minor;
    kc->req_headers = h->headers;
    kc->n_req_headers = h->n_headers;
    kc->host = h->host;
    if (h->body_kind == KILN_BODY_LENGTH)
        kc->body = (kiln_str_t){ r->body, (size_t)r->body_len };
    else if (h->body_kind == KILN_BODY_CHUNKED)
        kc->body = (kiln_str_t){ r->cbody.data ? r->cbody.data : "", r->cbody.len };
    kc->remote_ip = kiln_str_c(c->ip);
    kc->scheme = c->tls ? "https" : "http";
    kc->close_after = r->close;
    kc->start_ns = kiln_now_ns();
    kc->endpoint = (void *)conf_of(c)->endpoint;
    return 0;
}

static void send_continue(srv_conn_t *c)
{
    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
    struct iovec iov = { (void *)cont, sizeof cont - 1 };
    c->ops->writev(c, &iov, 1); /* tiny, on a fresh response: a short write is not worth waiting for */
}

/* The head is parsed: set up the body reader. Returns ADV_READY, ADV_WAIT
 * (continue in the body state) or ADV_CLOSED. */
static int head_done(srv_conn_t *c, const kiln_http_req_t *h, int head_len)
{
    const kiln_http_limits_t *lim = &conf_of(c)->limits;
    if (req_begin(c, h, head_len) < 0) return conn_reject(c, 503);
    /* after req_begin, so that the 413 to a HEAD carries no body (c->req->is_head) */
    if (h->body_kind == KILN_BODY_LENGTH && h->content_length > lim->max_body) return conn_reject(c, 413);
    srv_req_t *r = c->req;
    if (h->body_kind == KILN_BODY_NONE || (h->body_kind == KILN_BODY_LENGTH && h->content_length == 0))
        return ADV_READY;
    if (h->body_kind == KILN_BODY_LENGTH) {
        r->body = kiln_arena_alloc(r->arena, (size_t)h->content_length + 1);
        if (!r->body) return conn_reject(c, 503);
    } else {
        kiln_chunked_init(&r->chunked);
        kiln_buf_init(&r->cbody, lim->max_body);
        if (kiln_arena_on_reset(r->arena, free_cbody, &r->cbody) < 0) return conn_reject(c, 503);
    }
    if (h->expect_continue && h->version_minor >= 1 && c->rlen == (uint32_t)head_len) {
        if (out_flush(c) < 0) {
            conn_free(c);
            return ADV_CLOSED;
        }
        send_continue(c);
    }
    c->state = SRV_ST_BODY;
    return ADV_WAIT;
}

/* Moves body bytes that arrived with the head into the body; pipelined bytes
 * after the body stay in rbuf right after the head. Returns ADV_READY when
 * the body is complete, ADV_WAIT for more, ADV_CLOSED on a framing error. */
static int body_take_buffered(srv_conn_t *c)
{
    srv_req_t *r = c->req;
    char *extra = c->rbuf + r->head_len;
    size_t avail = c->rlen - r->head_len;
    if (r->http.body_kind == KILN_BODY_LENGTH) {
        uint64_t need = r->http.content_length - r->body_len;
        size_t take = avail < need ? avail : (size_t)need;
        memcpy(r->body + r->body_len, extra, take);
        r->body_len += take;
        memmove(extra, extra + take, avail - take);
        c->rlen -= (uint32_t)take;
        return r->body_len == r->http.content_length ? ADV_READY : ADV_WAIT;
    }
    size_t used = avail, out = 0;
    int status = 400;
    int rc = kiln_chunked_decode(&r->chunked, extra, &used, extra, &out, &conf_of(c)->limits, &status);
    if (rc < 0) return conn_reject(c, status);
    if (out && kiln_buf_append(&r->cbody, extra, out) < 0) return conn_reject(c, 413);
    memmove(extra, extra + used, avail - used);
    c->rlen -= (uint32_t)used;
    return rc == 1 ? ADV_READY : ADV_WAIT;
}

/* Reads body bytes: a Content-Length body straight into its arena buffer,
 * chunked framing through rbuf. */
static int body_advance(srv_conn_t *c)
{
    srv_req_t *r = c->req;
    for (;;) {
        int st = body_take_buffered(c);
        if (st != ADV_WAIT) return st;
        ssize_t n;
        if (r->http.body_kind == KILN_BODY_LENGTH) {
            n = conn_read(c, r->body + r->body_len, (size_t)(r->http.content_length - r->body_len));
            if (n > 0) r->body_len += (uint64_t)n;
            if (n > 0 && r->body_len == r->http.content_length) return ADV_READY;
        } else {
            size_t room = c->ss->srv->buf_size - c->rlen;
            if (room == 0) return conn_reject(c, 400); /* a chunk line longer than the buffer */
            n = conn_read(c, c->rbuf + c->rlen, room);
            if (n > 0) c->rlen += (uint32_t)n;
        }
        if (n < 0) { /* the client went away mid-body */
            out_flush(c); /* or only half-closed: it may still read */
            conn_free(c);
            return ADV_CLOSED;
        }
        if (n == 0) return conn_wait(c);
    }
}

/* Reads and parses until a whole request is in memory (ADV_READY), more
 * bytes are needed (ADV_WAIT), or the connection was closed (ADV_CLOSED:
 * c is freed). Never waits. */
static int conn_advance(srv_conn_t *c)
{
    srv_sched_t *ss = c->ss;
    const kiln_http_limits_t *lim = &ss->srv->conf.limits;
    for (;;) {
        if (c->state == SRV_ST_BODY) return body_advance(c);
        if (c->rlen > 0) {
            kiln_http_req_t h;
            h.headers = ss->hdrs;
            h.n_headers = 0;
            int status = 400;
            int rc = kiln_http_parse_request(c->rbuf, c->rlen, lim, &h, &status);
            if (rc > 0) {
                int st = head_done(c, &h, rc);
                if (st != ADV_WAIT) return st;
                continue; /* body state */
            }
            if (rc != KILN_EAGAIN) return conn_reject(c, status);
            if (c->rlen >= ss->srv->buf_size) return conn_reject(c, 431);
        }
        if (buf_acquire(c) < 0) {
            conn_free(c);
            return ADV_CLOSED;
        }
        ssize_t n = conn_read(c, c->rbuf + c->rlen, ss->srv->buf_size - c->rlen);
        if (n < 0) {
            out_flush(c); /* a half-closed client still reads the answers to what it sent */
            conn_free(c);
            return ADV_CLOSED;
        }
        if (n == 0) return conn_wait(c);
        c->rlen += (uint32_t)n;
    }
}

/* ---- Running requests ----------------------------------------------------- */

/* After the response: drop the head from rbuf, keep pipelined bytes. */
static void req_end(srv_conn_t *c)
{
    srv_req_t *r = c->req;
    uint32_t head = r->head_len;
    if (c->rbuf) {
        memmove(c->rbuf, c->rbuf + head, c->rlen - head);
        c->rlen -= head;
    }
    req_release(c);
    c->state = SRV_ST_HEAD;
    c->nreq++;
}

static void serve(srv_conn_t *c)
{
    srv_req_t *r = c->req;
    c->ss->requests++;
    int status = req_fill_conn(c);
    if (status) {
        r->close = 1;
        r->conn.close_after = 1;
        kiln_conn_text(&r->conn, status, kiln_http_status_text(status));
        return;
    }
    int telemetry = kiln_telemetry_enabled("kiln.http.request");
    char method[16];
    if (telemetry) {
        snprintf(method, sizeof method, "%.*s", (int)r->conn.method_str.len, r->conn.method_str.ptr);
        kiln_telemetry_execute("kiln.http.request.start", KILN_MEASUREMENTS({ "system_time_ns", (double)r->conn.start_ns }),
                               KILN_METADATA({ "method", method }, { "remote_ip", c->ip }));
    }
    int rc = kiln_endpoint_call(conf_of(c)->endpoint, &r->conn);
    kiln__srv_finish_response(c);
    if (telemetry) {
        char status[8];
        snprintf(status, sizeof status, "%d", r->conn.status);
        double us = (double)(kiln_now_ns() - r->conn.start_ns) / 1000.0;
        const char *path = kiln_arena_strndup(r->arena, r->conn.path.ptr, r->conn.path.len);
        if (rc < 0)
            kiln_telemetry_execute("kiln.http.request.exception", KILN_MEASUREMENTS({ "duration_us", us }),
                                   KILN_METADATA({ "method", method }, { "path", path ? path : "" },
                                                 { "reason", kiln_strerror(rc) }));
        kiln_telemetry_execute("kiln.http.request.stop", KILN_MEASUREMENTS({ "duration_us", us }),
                               KILN_METADATA({ "method", method }, { "path", path ? path : "" }, { "status", status },
                                             { "route", r->conn.route_path ? r->conn.route_path : "" }));
    }
}

/* Runs requests on a borrowed stack while complete ones are in memory. */
static void conn_coro(void *arg)
{
    srv_conn_t *c = arg;
    kiln__coro_on_park(kiln__srv_flush_nowait, c); /* a handler that waits lets held-back responses go */
    for (;;) {
        c->busy = 1;
        c->state = SRV_ST_RUN;
        serve(c);
        if (kiln__srv_upgrade_take(c)) { /* the socket is the upgrade's now */
            conn_free(c);
            return;
        }
        int close = c->dead || c->req->close || c->draining;
        if (close) out_flush(c); /* normally empty: a closing response is never held */
        c->busy = 0;
        req_end(c);
        if (close) {
            if (c->dead || c->rlen == 0)
                conn_free(c);
            else
                conn_linger(c); /* pipelined bytes we will not serve */
            return;
        }
        timer_set(c, SRV_TIMER_IDLE, conf_of(c)->idle_timeout_ms);
        if (conn_advance(c) != ADV_READY) return;
        timer_clear(c);
    }
}

/* Drives a connection from the loop stack. */
static void conn_drive(srv_conn_t *c)
{
    if (c->state == SRV_ST_TLS) {
        int rc = c->ops->handshake(c);
        if (rc < 0) {
            conn_free(c);
            return;
        }
        if (rc == 0) return; /* waits for the next edge; the header timer bounds it */
        c->state = SRV_ST_HEAD;
        c->readable = 1; /* the handshake may have buffered application data */
    }
    if (c->state == SRV_ST_LINGER) {
        linger_io(c);
        return;
    }
    if (conn_advance(c) != ADV_READY) return;
    timer_clear(c);
    if (kiln_coro_start(conn_coro, c) < 0) conn_reject(c, 503);
}

static void on_io(kiln_io_t *io, unsigned events)
{
    srv_conn_t *c = kiln_container_of(io, srv_conn_t, io);
    if (events & KILN_IO_READ) c->readable = 1;
    if (events & KILN_IO_HUP) c->peer_closed = 1;
    if (c->busy) {
        /* The request reads nothing while it runs; only a parked write cares. */
        if ((events & KILN_IO_WRITE) && c->waiter) {
            kiln_coro_t *w = c->waiter;
            c->waiter = NULL;
            kiln_coro_wake(w, 0); /* may end the request and free c: nothing after this */
        }
        return;
    }
    /* a lingering connection may still owe the rest of its error answer */
    if (c->state == SRV_ST_TLS || (events & KILN_IO_READ) || (c->state == SRV_ST_LINGER && c->olen)) conn_drive(c);
}

static void on_timer(kiln_timer_t *t)
{
    srv_conn_t *c = kiln_container_of(t, srv_conn_t, timer);
    int kind = c->timer_kind;
    c->timer_kind = SRV_TIMER_NONE;
    switch (kind) {
    case SRV_TIMER_SEND:
        kiln_log(KILN_LOG_INFO, "server: send timeout, closing connection from %s", c->ip);
        kiln__srv_conn_close(c);
        break;
    case SRV_TIMER_HEADER:
        /* Part of a head arrived: say why we close (408). Nothing arrived: just close. */
        if (c->rlen > 0 && c->state == SRV_ST_HEAD)
            conn_reject(c, 408);
        else
            conn_free(c);
        break;
    case SRV_TIMER_BODY:
        conn_reject(c, 408);
        break;
    default: /* idle keep-alive, linger */
        kiln__srv_conn_close(c);
        break;
    }
}

/* Parks the request coroutine until the socket is writable again, for at most
 * the send timeout. Returns 0, KILN_ECLOSED (timed out, reset, or closed by a
 * drain) or KILN_ESTATE when not on a coroutine. */
int kiln__srv_wait_writable(srv_conn_t *c)
{
    if (c->dead) return KILN_ECLOSED;
    kiln_coro_t *me = kiln_coro_current();
    if (!me) return KILN_ESTATE;
    c->waiter = me;
    timer_set(c, SRV_TIMER_SEND, conf_of(c)->send_timeout_ms);
    intptr_t v = kiln_coro_park();
    c->waiter = NULL;
    if (c->timer_kind == SRV_TIMER_SEND) timer_clear(c);
    if (c->dead) return KILN_ECLOSED;
    return v < 0 ? (int)v : 0;
}

/* ---- Accept, drain, free -------------------------------------------------- */

static void remote_addr(srv_conn_t *c, const void *sa)
{
    const struct sockaddr *s = sa;
    memset(c->ip_raw, 0, sizeof c->ip_raw);
    c->ip_family = (uint8_t)s->sa_family;
    if (s->sa_family == AF_INET6) {
        memcpy(c->ip_raw, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
        inet_ntop(AF_INET6, c->ip_raw, c->ip, sizeof c->ip);
    } else if (s->sa_family == AF_INET) {
        memcpy(c->ip_raw, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        inet_ntop(AF_INET, c->ip_raw, c->ip, sizeof c->ip);
    } else {
        strcpy(c->ip, "unknown");
    }
}

void kiln__srv_conn_accepted(srv_sched_t *ss, int fd, const void *sa, unsigned salen)
{
    (void)salen;
    kiln_server_t *s = ss->srv;
    srv_conn_t *c = kiln_xcalloc(1, sizeof *c);
    c->ss = ss;
    c->ops = &kiln__srv_tcp_ops;
    remote_addr(c, sa);
    if (s->conf.max_conns_per_ip) {
        if (kiln__srv_ip_acquire(s, c->ip_raw, c->ip_family) < 0) {
            kiln_log(KILN_LOG_WARN, "server: %s is at its connection cap (%u), refusing", c->ip,
                     s->conf.max_conns_per_ip);
            close(fd);
            free(c);
            return;
        }
        c->counted_ip = 1;
    }
    c->io.fd = fd;
    c->next = ss->conns;
    if (c->next) c->next->prev = c;
    ss->conns = c;
    ss->n_conns++;
    c->state = SRV_ST_HEAD;
    if (s->tls_ctx) {
        c->ops = &kiln__srv_tls_ops;
        c->state = SRV_ST_TLS;
        if (kiln__tls_conn_new(c, s->tls_ctx) < 0) {
            conn_free(c);
            return;
        }
    }
    /* Both directions once, edge-triggered: no epoll_ctl per request. */
    if (kiln_io_start(&c->io, fd, KILN_IO_READ | KILN_IO_WRITE, on_io) < 0) {
        c->io.cb = NULL;
        conn_free(c);
        return;
    }
    timer_set(c, SRV_TIMER_HEADER, s->conf.header_timeout_ms);
    /* Most clients send at once (TCP_DEFER_ACCEPT-like): try before waiting for the edge. */
    c->readable = 1;
    conn_drive(c);
}

void kiln__srv_drain_conns(srv_sched_t *ss)
{
    for (srv_conn_t *c = ss->conns, *next; c; c = next) {
        next = c->next;
        c->draining = 1;
        if (!c->busy && c->req == NULL && c->rlen == 0 && c->state != SRV_ST_LINGER) conn_free(c);
    }
}

void kiln__srv_drain_force(srv_sched_t *ss)
{
    for (srv_conn_t *c = ss->conns, *next; c; c = next) {
        next = c->next;
        ss->drain_forced++;
        kiln__srv_conn_close(c);
    }
}

void kiln__srv_conn_free_all(srv_sched_t *ss)
{
    while (ss->conns) {
        srv_conn_t *c = ss->conns;
        c->busy = 0;
        c->waiter = NULL;
        ss->draining = 0; /* no drain report from here */
        conn_free(c);
    }
}
