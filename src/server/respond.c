/* The server's kiln_conn_adapter_t: response heads and bodies on the wire.
 *
 * A response is one writev: the head, serialized by kiln_conn_write_head into
 * the scheduler's scratch buffer, followed by the handler's body slices as
 * they are (never copied). If the socket cannot take it all, the request
 * coroutine parks until the socket is writable (bounded by the send timeout);
 * before parking, the unsent part of the head is copied into the request arena
 * because another connection on this scheduler will reuse the scratch buffer.
 * So per-connection buffered output is bounded by what the handler itself
 * holds: the server adds nothing but the head.
 *
 * Pipelined batches: while more request bytes wait behind the request being
 * answered, a small send_resp response is copied into c->obuf instead of being
 * written, and goes out with the next response that is written, in one writev.
 * The batch flushes obuf whenever it stops (conn_io.c: waiting for bytes, an
 * error answer, EOF, closing) and whenever the request coroutine parks (a park
 * hook), so held-back responses never wait on a handler or on the client: one
 * system call and one TCP segment per batch instead of one per response.
 *
 * The server owns framing: content-length for send_resp/send_file, chunked
 * (or close-delimited for HTTP/1.0) for send_chunked; no body for HEAD, 1xx,
 * 204 and 304. */
#include "server/server_int.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SRV_IOV_MAX 64

static int body_allowed(const srv_req_t *r, int status)
{
    return !r->is_head && !(status >= 100 && status < 200) && status != 204 && status != 304;
}

/* Serializes the head into the scheduler's scratch buffer. */
static int head_prepare(srv_conn_t *c, int64_t body_len, struct iovec *out)
{
    srv_req_t *r = c->req;
    kiln_conn_t *kc = &r->conn;
    if (c->draining) r->close = 1;
    if (kc->close_after) r->close = 1;
    kc->close_after = r->close;
    kiln_buf_t *b = &c->ss->head;
    kiln_buf_reset(b);
    int rc = kiln_conn_write_head(kc, b, body_len);
    if (rc < 0) return rc;
    /* connection is adapter-owned in kiln_conn_write_head; an HTTP/1.0 client
     * that asked for keep-alive must hear that it got it. */
    if (!r->close && kc->version_minor == 0 && !(body_len < 0)) {
        b->len -= 2;
        if (kiln_buf_puts(b, "connection: keep-alive\r\n\r\n") < 0) return KILN_ETOOBIG;
    }
    out->iov_base = b->data;
    out->iov_len = b->len;
    return 0;
}

/* The scratch head must not be held across a park: copy what is left of it. */
static int detach_scratch(srv_conn_t *c, struct iovec *iov, int n)
{
    const kiln_buf_t *b = &c->ss->head;
    for (int i = 0; i < n; i++) {
        char *p = iov[i].iov_base;
        if (!b->data || p < b->data || p >= b->data + b->cap || iov[i].iov_len == 0) continue;
        char *copy = kiln_arena_alloc(c->req->arena, iov[i].iov_len);
        if (!copy) return KILN_ENOMEM;
        memcpy(copy, p, iov[i].iov_len);
        iov[i].iov_base = copy;
    }
    return 0;
}

/* Writes every byte of iov[0..n), parking the coroutine while the socket is
 * full. iov is consumed. Returns 0 or KILN_ECLOSED (the connection is then
 * marked dead and closes after the handler returns). */
int kiln__srv_write_all(srv_conn_t *c, struct iovec *iov, int n)
{
    while (n > 0 && iov->iov_len == 0) iov++, n--;
    while (n > 0) {
        if (c->dead) return KILN_ECLOSED;
        ssize_t w = c->ops->writev(c, iov, n > SRV_IOV_MAX ? SRV_IOV_MAX : n);
        if (w == KILN_EAGAIN) {
            int rc = detach_scratch(c, iov, n);
            if (rc == 0) rc = kiln__srv_wait_writable(c);
            if (rc < 0) {
                c->dead = 1;
                return KILN_ECLOSED;
            }
            continue;
        }
        if (w < 0) {
            c->dead = 1;
            return KILN_ECLOSED;
        }
        size_t left = (size_t)w;
        while (n > 0 && left >= iov->iov_len) {
            left -= iov->iov_len;
            iov++, n--;
        }
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + left;
            iov->iov_len -= left;
        }
        while (n > 0 && iov->iov_len == 0) iov++, n--;
    }
    return 0;
}

void kiln__srv_obuf_release(srv_conn_t *c)
{
    if (!c->obuf) return;
    kiln__srv_pool_put(&c->ss->bufs, c->obuf, free);
    c->obuf = NULL;
    c->olen = 0;
}

/* Writes what obuf holds, parking while the socket is full. olen is cleared
 * first: the park hook must not send the same bytes again. */
int kiln__srv_flush(srv_conn_t *c)
{
    if (!c->olen) return 0;
    struct iovec iov = { c->obuf, c->olen };
    c->olen = 0;
    int rc = kiln__srv_write_all(c, &iov, 1);
    kiln__srv_obuf_release(c);
    return rc;
}

/* The park hook of a request coroutine: the handler is about to wait, so the
 * responses held back before it go out now, as far as the socket takes them
 * without waiting (the rest goes with the next write or the batch's flush). */
void kiln__srv_flush_nowait(void *arg)
{
    srv_conn_t *c = arg;
    if (!c->olen || c->dead) return;
    struct iovec iov = { c->obuf, c->olen };
    ssize_t w = c->ops->writev(c, &iov, 1);
    if (w == KILN_EAGAIN) return;
    if (w < 0) {
        c->dead = 1;
        kiln__srv_obuf_release(c);
        return;
    }
    memmove(c->obuf, c->obuf + w, c->olen - (size_t)w);
    c->olen -= (uint32_t)w;
    if (!c->olen) kiln__srv_obuf_release(c);
}

/* Gives c an output buffer (buf_size bytes) if it has none; 0 when out of memory. */
static int obuf_get(srv_conn_t *c)
{
    if (!c->obuf) c->obuf = kiln__srv_pool_get(&c->ss->bufs);
    if (!c->obuf) c->obuf = malloc(c->ss->srv->buf_size);
    return c->obuf != NULL;
}

/* Whether a response of n bytes may wait in obuf: more request bytes are
 * pipelined behind this one (so the batch goes on and will flush), the
 * connection stays open, and it fits. */
static int may_hold(srv_conn_t *c, size_t n)
{
    const srv_req_t *r = c->req;
    if (r->close || c->dead || c->rlen <= r->head_len || c->olen + n > c->ss->srv->buf_size) return 0;
    return obuf_get(c);
}

static int srv_send_resp(kiln_conn_t *kc, const kiln_str_t *body, size_t n_body)
{
    srv_conn_t *c = kc->adapter_data;
    srv_req_t *r = c->req;
    uint64_t total = 0;
    for (size_t i = 0; i < n_body; i++) total += body[i].len;
    /* iov[0] is for what obuf holds back, iov[1] for the head */
    struct iovec small[2 + 8], *iov = small;
    if (n_body > 8) {
        iov = kiln_arena_alloc(r->arena, (n_body + 2) * sizeof *iov);
        if (!iov) return KILN_ENOMEM;
    }
    int rc = head_prepare(c, (int64_t)total, &iov[1]);
    if (rc < 0) return rc;
    int n = 2;
    size_t bytes = iov[1].iov_len;
    if (body_allowed(r, kc->status)) {
        for (size_t i = 0; i < n_body; i++) {
            iov[n].iov_base = (void *)body[i].ptr;
            iov[n].iov_len = body[i].len;
            n++;
        }
        bytes += total;
    }
    if (may_hold(c, bytes)) {
        for (int i = 1; i < n; i++) {
            if (iov[i].iov_len) memcpy(c->obuf + c->olen, iov[i].iov_base, iov[i].iov_len);
            c->olen += (uint32_t)iov[i].iov_len;
        }
        return 0;
    }
    if (!c->olen) return kiln__srv_write_all(c, iov + 1, n - 1);
    iov[0] = (struct iovec){ c->obuf, c->olen };
    c->olen = 0; /* handed over to this write (see kiln__srv_flush) */
    rc = kiln__srv_write_all(c, iov, n);
    kiln__srv_obuf_release(c);
    return rc;
}

static int srv_send_file(kiln_conn_t *kc, int fd, off_t off, uint64_t len)
{
    srv_conn_t *c = kc->adapter_data;
    srv_req_t *r = c->req;
    struct iovec head;
    int rc = kiln__srv_flush(c);
    if (rc < 0) return rc;
    rc = head_prepare(c, (int64_t)len, &head);
    if (rc == 0) rc = kiln__srv_write_all(c, &head, 1);
    if (rc < 0 || !body_allowed(r, kc->status)) return rc;
    while (len > 0) {
        if (c->dead) return KILN_ECLOSED;
        size_t chunk = len > (1u << 30) ? (1u << 30) : (size_t)len;
        ssize_t w = c->ops->sendfile(c, fd, &off, chunk);
        if (w == KILN_EAGAIN) {
            if (kiln__srv_wait_writable(c) < 0) break;
            continue;
        }
        if (w <= 0) break; /* error, or the file shrank under us: the framing is now broken */
        len -= (uint64_t)w;
    }
    if (len > 0) {
        c->dead = 1;
        return KILN_ECLOSED;
    }
    return 0;
}

static int srv_send_chunked(kiln_conn_t *kc)
{
    srv_conn_t *c = kc->adapter_data;
    srv_req_t *r = c->req;
    r->resp_chunked = kc->version_minor >= 1 ? 1 : 2;
    if (r->resp_chunked == 2) r->close = 1; /* HTTP/1.0: the close ends the body */
    if (!body_allowed(r, kc->status)) r->chunk_ended = 1;
    struct iovec head;
    int rc = kiln__srv_flush(c);
    if (rc < 0) return rc;
    rc = head_prepare(c, -1, &head);
    if (rc < 0) return rc;
    return kiln__srv_write_all(c, &head, 1);
}

static int srv_chunk(kiln_conn_t *kc, const void *data, size_t len)
{
    srv_conn_t *c = kc->adapter_data;
    srv_req_t *r = c->req;
    if (r->chunk_ended) return 0; /* HEAD/204/304 drop the body; a second end is harmless */
    if (len == 0) r->chunk_ended = 1;
    if (r->resp_chunked == 2) {
        struct iovec iov = { (void *)data, len };
        return len ? kiln__srv_write_all(c, &iov, 1) : 0;
    }
    char line[24];
    int ln = snprintf(line, sizeof line, "%zx\r\n", len);
    struct iovec iov[3] = {
        { line, (size_t)ln },
        { (void *)data, len },
        { (void *)"\r\n", 2 },
    };
    if (len == 0) {
        iov[0] = (struct iovec){ (void *)"0\r\n\r\n", 5 };
        return kiln__srv_write_all(c, iov, 1);
    }
    /* line is on this (coroutine) stack, which stays put while we park. */
    return kiln__srv_write_all(c, iov, 3);
}

const kiln_conn_adapter_t kiln__srv_adapter = {
    .abi = KILN_CONN_ADAPTER_ABI,
    .send_resp = srv_send_resp,
    .send_file = srv_send_file,
    .send_chunked = srv_send_chunked,
    .chunk = srv_chunk,
};

/* After the endpoint returned: end a chunked body the handler left open, and
 * answer for a handler that sent nothing (the endpoint should have). */
int kiln__srv_finish_response(srv_conn_t *c)
{
    srv_req_t *r = c->req;
    kiln_conn_t *kc = &r->conn;
    if (kc->state == KILN_CONN_UNSENT) return kiln_conn_text(kc, 500, "Internal Server Error");
    if (r->resp_chunked && !r->chunk_ended) return srv_chunk(kc, NULL, 0);
    return 0;
}

/* A server-made error answer (limits, framing, timeouts): never waits, since
 * the connection closes right after it; what the socket does not take now is
 * left in obuf for the lingering close to write. The answer to a
 * HEAD whose head was parsed (c->req) has no body (RFC 9112 §6.3, H13): a
 * client reading it as bodiless would take the text for the next response. */
void kiln__srv_send_error(srv_conn_t *c, int status)
{
    char date[29], msg[512];
    kiln_http_date(date);
    const char *text = kiln_http_status_text(status);
    int head = c->req && c->req->is_head;
    int n = snprintf(msg, sizeof msg,
                     "HTTP/1.1 %d %s\r\nserver: kiln\r\ndate: %.29s\r\ncontent-type: text/plain; charset=utf-8\r\n"
                     "content-length: %zu\r\nconnection: close\r\n\r\n%s%s",
                     status, text, date, strlen(text) + 1, head ? "" : text, head ? "" : "\n");
    if (n <= 0 || (size_t)n >= sizeof msg) return;
    struct iovec iov = { msg, (size_t)n };
    ssize_t w = c->ops->writev(c, &iov, 1);
    if (w == n || (w < 0 && w != KILN_EAGAIN) || c->tls) return;
    /* The socket is full (a client slow to read the responses before this
     * one): the rest waits in obuf, empty here since conn_reject flushed it,
     * and the lingering close writes it (conn_io.c) instead of cutting it. */
    size_t done = w > 0 ? (size_t)w : 0;
    if (!obuf_get(c)) return;
    memcpy(c->obuf, msg + done, (size_t)n - done);
    c->olen = (uint32_t)((size_t)n - done);
}
