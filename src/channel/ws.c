/* The WebSocket transport (RFC 6455) for sockets: the upgrade handshake,
 * frame reading with limits decided from headers, control frames, the close
 * handshake, and a bounded outgoing queue.
 *
 * Memory: an idle connection owns its struct only (over TLS, also the SSL
 * object handed over by the upgrade). The input buffer exists
 * while a partial frame is held and is freed as soon as everything read was
 * consumed; a fragmented message's reassembly buffer lives until the message
 * ends. Sizes are checked on the header: a frame over max_frame, or a
 * fragment that would take the message over max_message, closes 1009 before
 * any of its payload is read.
 *
 * permessage-deflate (RFC 7692), when the client offers it: no context
 * takeover either way, so each compressed client message is inflated alone,
 * within max_message (1009 past it); we send uncompressed frames only.
 *
 * Output: frames are queued (an owned copy, or a reference on a shared
 * broadcast whose bytes are already a frame) and written with writev — a
 * broadcast to an empty queue is written at once, without an item; a queue
 * over max_queue bytes means the client stopped reading: it is cut off
 * (1008, logged), so server memory stays bounded.
 *
 * Close: on a protocol error or a close request we queue a close frame, stop
 * reading frames, end the channels, and give the peer up to 2 s to close its
 * side before we close the fd.
 *
 * Bytes: over plain TCP the fd is read and written directly (read, writev,
 * write: the broadcast path pays no indirection). Over TLS the upgrade hands
 * over the connection's byte I/O (kiln_upgrade_io_t, the SSL object as ctx,
 * owned here): reads go on until KILN_EAGAIN (decrypted bytes may wait inside
 * the SSL object with no edge to announce them), and since a TLS read may need
 * to write and a write to read, any edge retries both directions. */
#include "channel/channel_int.h"
#include "kiln/server.h"
#include "kiln/websocket.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include <zlib.h>

#define READ_CHUNK 16384
#define MAX_FRAGMENTS 4096
#define CLOSE_WAIT_MS 2000
#define WRITEV_MAX 64

typedef struct out_item {
    struct out_item *next;
    kiln_pubsub_msg_t *shared; /* a broadcast frame, or NULL: the bytes follow */
    const char *bytes;
    size_t len, off;
    char data[];
} out_item_t;

typedef struct ws {
    kiln_socket_t sock; /* first: the transport's free() gets it back */
    kiln_socket_conf_t conf;
    kiln_io_t io;
    kiln_timer_t timer;
    int fd;
    const kiln_upgrade_io_t *tio; /* TLS byte I/O (tio_ctx owned), or NULL: the fd directly */
    void *tio_ctx;
    uint8_t *in;          /* partial frame bytes, or NULL */
    size_t in_len, in_cap;
    kiln_buf_t msg;       /* fragmented message being reassembled */
    uint32_t frag_count, utf8;
    uint8_t msg_op;       /* opcode of the message in progress, 0 = none */
    unsigned closing : 1, dead : 1, in_flush : 1;
    unsigned deflate : 1; /* permessage-deflate negotiated */
    unsigned msg_z : 1;   /* the message in progress is compressed (RSV1) */
    out_item_t *out_head, *out_tail;
    size_t out_bytes;
} ws_t;

static void on_io(kiln_io_t *io, unsigned events);
static void ws_close(kiln_socket_t *s, int code, const char *why);
static void on_idle(kiln_timer_t *t);

/* ---- Teardown --------------------------------------------------------------- */

static void out_free_all(ws_t *w)
{
    for (out_item_t *it = w->out_head, *n; it; it = n) {
        n = it->next;
        kiln_pubsub_msg_unref(it->shared);
        free(it);
    }
    w->out_head = w->out_tail = NULL;
    w->out_bytes = 0;
}

static void teardown(ws_t *w)
{
    if (w->dead) return;
    w->dead = 1;
    kiln_io_stop(&w->io);
    kiln_timer_stop(&w->timer);
    if (w->tio) w->tio->free(w->tio_ctx);
    close(w->fd);
    free(w->in);
    w->in = NULL;
    kiln_buf_free(&w->msg);
    out_free_all(w);
    kiln__sock_closed(&w->sock);
    kiln__sock_unref(&w->sock);
}

static void ws_free(kiln_socket_t *s)
{
    free(s);
}

/* ---- Byte I/O ----------------------------------------------------------------- */

/* Each returns bytes, KILN_EAGAIN (wait for an edge) or KILN_ECLOSED; sock_read
 * returns 0 at the peer's end of stream. */
static ssize_t sock_read(ws_t *w, void *buf, size_t len)
{
    if (w->tio) return w->tio->read(w->tio_ctx, buf, len);
    for (;;) {
        ssize_t r = read(w->fd, buf, len);
        if (r >= 0) return r;
        if (errno == EINTR) continue;
        return errno == EAGAIN || errno == EWOULDBLOCK ? KILN_EAGAIN : KILN_ECLOSED;
    }
}

static ssize_t sock_writev(ws_t *w, const struct iovec *iov, int n)
{
    if (w->tio) return w->tio->writev(w->tio_ctx, iov, n);
    for (;;) {
        ssize_t r = writev(w->fd, iov, n);
        if (r >= 0) return r;
        if (errno == EINTR) continue;
        return errno == EAGAIN || errno == EWOULDBLOCK ? KILN_EAGAIN : KILN_ECLOSED;
    }
}

/* One buffer (a broadcast frame): write(2) on plain TCP. */
static ssize_t sock_write(ws_t *w, const char *p, size_t len)
{
    if (w->tio) return w->tio->writev(w->tio_ctx, &(struct iovec){ (char *)p, len }, 1);
    for (;;) {
        ssize_t r = write(w->fd, p, len);
        if (r >= 0) return r;
        if (errno == EINTR) continue;
        return errno == EAGAIN || errno == EWOULDBLOCK ? KILN_EAGAIN : KILN_ECLOSED;
    }
}

/* ---- Output ----------------------------------------------------------------- */

/* Writes what the socket takes now. Returns 0, or KILN_ECLOSED (torn down). */
static int flush(ws_t *w)
{
    while (w->out_head) {
        struct iovec iov[WRITEV_MAX];
        int n = 0;
        for (out_item_t *it = w->out_head; it && n < WRITEV_MAX; it = it->next, n++)
            iov[n] = (struct iovec){ (char *)it->bytes + it->off, it->len - it->off };
        ssize_t r = sock_writev(w, iov, n);
        if (r == KILN_EAGAIN) return 0; /* the next edge resumes */
        if (r < 0) {
            teardown(w);
            return KILN_ECLOSED;
        }
        size_t left = (size_t)r;
        while (left && w->out_head) {
            out_item_t *it = w->out_head;
            size_t take = it->len - it->off < left ? it->len - it->off : left;
            it->off += take;
            left -= take;
            w->out_bytes -= take;
            if (it->off < it->len) break;
            if (!(w->out_head = it->next)) w->out_tail = NULL;
            kiln_pubsub_msg_unref(it->shared);
            free(it);
        }
    }
    if (w->closing) { /* our close frame is out: the peer's EOF ends it */
        if (w->tio) w->tio->shutdown(w->tio_ctx);
        shutdown(w->fd, SHUT_WR);
    }
    return 0;
}

/* Queues an item; a queue over its bound cuts the client off. */
static int enqueue(ws_t *w, out_item_t *it)
{
    it->next = NULL;
    if (w->out_tail) w->out_tail->next = it;
    else w->out_head = it;
    w->out_tail = it;
    w->out_bytes += it->len - it->off;
    if (w->out_bytes > w->conf.max_queue && !w->closing) {
        kiln_log(KILN_LOG_WARN, "websocket %s: client not reading, %zu bytes queued (max %zu): disconnecting",
                 w->sock.peer, w->out_bytes, w->conf.max_queue);
        teardown(w);
        return KILN_ECLOSED;
    }
    if (!w->in_flush && w->out_head == it) return flush(w); /* nothing was waiting: write now */
    return 0;
}

static int send_frame(ws_t *w, int opcode, const void *p, size_t len)
{
    if (w->dead) return KILN_ECLOSED;
    out_item_t *it = malloc(sizeof *it + 10 + len);
    if (!it) return KILN_ENOMEM;
    size_t h = kiln_ws_write_header((uint8_t *)it->data, opcode, 1, len);
    memcpy(it->data + h, p, len);
    it->shared = NULL;
    it->bytes = it->data;
    it->len = h + len;
    it->off = 0;
    return enqueue(w, it);
}

/* A text or binary frame from the channels. One that alone exceeds
 * max_queue is refused rather than queued: queued, it would cut the client
 * off as if it had stopped reading, while the sender can answer otherwise. */
static int ws_send(kiln_socket_t *s, int opcode, const void *p, size_t len)
{
    ws_t *w = (ws_t *)s;
    if (w->closing) return KILN_ECLOSED;
    uint8_t hdr[10];
    size_t h = kiln_ws_write_header(hdr, opcode, 1, len);
    if (len > w->conf.max_queue || h + len > w->conf.max_queue) { /* the first test keeps h + len from wrapping */
        kiln_log(KILN_LOG_WARN, "websocket %s: a %zu-byte frame exceeds max_queue (%zu): not sent", s->peer, h + len,
                 w->conf.max_queue);
        return KILN_ETOOBIG;
    }
    return send_frame(w, opcode, p, len);
}

/* A broadcast: with nothing queued, the shared frame is written at once and
 * queued (as a reference) only for what the socket did not take. */
static int ws_send_shared(kiln_socket_t *s, kiln_pubsub_msg_t *m)
{
    ws_t *w = (ws_t *)s;
    bc_view_t v;
    if (w->closing || w->dead || kiln__bc_view(m, &v) < 0) return KILN_ECLOSED;
    size_t off = 0;
    if (!w->out_head && !w->in_flush) {
        ssize_t r = sock_write(w, v.frame, v.frame_len);
        if (r < 0 && r != KILN_EAGAIN) {
            teardown(w);
            return KILN_ECLOSED;
        }
        if (r == (ssize_t)v.frame_len) return 0;
        if (r > 0) off = (size_t)r;
    }
    out_item_t *it = malloc(sizeof *it);
    if (!it) return KILN_ENOMEM;
    it->shared = kiln_pubsub_msg_ref(m);
    it->bytes = v.frame;
    it->len = v.frame_len;
    it->off = off;
    return enqueue(w, it);
}

/* Starts the close handshake with code (0: an empty close frame). */
static void ws_close(kiln_socket_t *s, int code, const char *why)
{
    ws_t *w = (ws_t *)s;
    if (w->closing || w->dead) return;
    uint8_t p[125];
    size_t n = 0;
    if (code) {
        p[0] = (uint8_t)(code >> 8);
        p[1] = (uint8_t)code;
        n = 2;
        size_t wl = why ? strlen(why) : 0;
        if (wl > 100) wl = 100;
        if (wl) memcpy(p + 2, why, wl);
        n += wl;
    }
    w->closing = 1;
    kiln__sock_closed(s); /* channels end now (presence leaves) */
    kiln_timer_start(&w->timer, CLOSE_WAIT_MS, on_idle); /* on_idle tears down a closing socket */
    send_frame(w, KILN_WS_CLOSE, p, n);
}

/* The drain deadline: no close handshake, the connection goes now. */
static void ws_abort(kiln_socket_t *s)
{
    teardown((ws_t *)s);
}

static void fail(ws_t *w, int code, const char *why)
{
    kiln_log(KILN_LOG_INFO, "websocket %s: closing %d: %s", w->sock.peer, code, why);
    ws_close(&w->sock, code, why);
}

static const sock_transport_t ws_transport = {
    .abi = 1, .name = "websocket", .send = ws_send, .send_shared = ws_send_shared, .close = ws_close, .abort = ws_abort,
    .free = ws_free
};

/* ---- Input ------------------------------------------------------------------ */

static int close_code_ok(unsigned c)
{
    return (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1011) || (c >= 3000 && c <= 4999);
}

static void on_close_frame(ws_t *w, const uint8_t *p, size_t n)
{
    if (n == 1) return fail(w, KILN_WS_CLOSE_PROTOCOL, "1-byte close payload");
    unsigned code = n >= 2 ? (unsigned)p[0] << 8 | p[1] : 0;
    if (n >= 2 && !close_code_ok(code)) return fail(w, KILN_WS_CLOSE_PROTOCOL, "invalid close code");
    uint32_t st = 0;
    if (n > 2 && (kiln_utf8_step(&st, p + 2, n - 2) < 0 || st != 0))
        return fail(w, KILN_WS_CLOSE_BAD_DATA, "close reason is not UTF-8");
    ws_close(&w->sock, (int)code, NULL); /* echo the code (RFC 6455 §5.5.1) */
}

static void deliver(ws_t *w, int op, const uint8_t *p, size_t n)
{
    if (op == KILN_WS_TEXT) kiln__sock_text(&w->sock, (const char *)p, n);
    else kiln__sock_binary(&w->sock, p, n);
}

static void message_done(ws_t *w)
{
    kiln_buf_free(&w->msg);
    kiln_buf_init(&w->msg, w->conf.max_message);
    w->msg_op = 0;
    w->frag_count = 0;
    w->utf8 = 0;
    w->msg_z = 0;
}

/* A compressed message (RFC 7692, no context takeover either way, so each
 * message is a fresh raw deflate stream): inflated into a buffer bounded by
 * max_message — a bomb closes 1009 as soon as its output passes the bound —
 * then validated and delivered. The inflater lives for this call only, so an
 * idle connection keeps no zlib state. */
static void deliver_compressed(ws_t *w, int op)
{
    static const uint8_t tail[4] = { 0, 0, 0xff, 0xff };
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, -15) != Z_OK) return fail(w, KILN_WS_CLOSE_ERROR, "out of memory");
    kiln_buf_t out;
    kiln_buf_init(&out, w->conf.max_message);
    uint8_t chunk[16384];
    const char *err = NULL;
    int code = 0;
    for (int pass = 0; pass < 2 && !err; pass++) {
        z.next_in = pass ? (uint8_t *)tail : (uint8_t *)w->msg.data;
        z.avail_in = pass ? 4 : (uInt)w->msg.len;
        for (;;) {
            z.next_out = chunk;
            z.avail_out = sizeof chunk;
            int rc = inflate(&z, Z_SYNC_FLUSH);
            size_t got = sizeof chunk - z.avail_out;
            if (got && kiln_buf_append(&out, chunk, got) < 0) {
                err = "message too big once inflated", code = KILN_WS_CLOSE_TOO_BIG;
                break;
            }
            if (rc == Z_STREAM_END || rc == Z_BUF_ERROR || (rc == Z_OK && !z.avail_in && z.avail_out)) break;
            if (rc != Z_OK) {
                err = "invalid deflate data", code = KILN_WS_CLOSE_BAD_DATA;
                break;
            }
        }
    }
    inflateEnd(&z);
    uint32_t st = 0;
    const uint8_t *data = (const uint8_t *)(out.data ? out.data : "");
    if (!err && op == KILN_WS_TEXT && (kiln_utf8_step(&st, data, out.len) < 0 || st != 0))
        err = "invalid UTF-8 in a text message", code = KILN_WS_CLOSE_BAD_DATA;
    message_done(w);
    if (err) fail(w, code, err);
    else deliver(w, op, data, out.len);
    kiln_buf_free(&out);
}

/* A data frame (TEXT, BINARY or CONT) with its whole payload. */
static void on_data(ws_t *w, const kiln_ws_header_t *h, const uint8_t *p)
{
    int op = h->opcode == KILN_WS_CONT ? w->msg_op : h->opcode;
    if (h->opcode != KILN_WS_CONT) w->msg_z = h->rsv1;
    if (w->msg_z) { /* compressed: reassembled, then inflated and checked whole */
        if (kiln_buf_append(&w->msg, p, h->len) < 0) return fail(w, KILN_WS_CLOSE_TOO_BIG, "message too big");
        w->msg_op = (uint8_t)op;
        if (h->fin) deliver_compressed(w, op);
        return;
    }
    if (op == KILN_WS_TEXT && kiln_utf8_step(&w->utf8, p, h->len) < 0)
        return fail(w, KILN_WS_CLOSE_BAD_DATA, "invalid UTF-8 in a text message");
    if (h->fin && op == KILN_WS_TEXT && w->utf8 != 0)
        return fail(w, KILN_WS_CLOSE_BAD_DATA, "text message ends inside a UTF-8 sequence");
    if (h->fin && !w->msg_op) { /* a whole message in one frame: no copy */
        w->utf8 = 0;
        w->frag_count = 0;
        return deliver(w, op, p, h->len);
    }
    if (kiln_buf_append(&w->msg, p, h->len) < 0) return fail(w, KILN_WS_CLOSE_TOO_BIG, "message too big");
    w->msg_op = (uint8_t)op;
    if (!h->fin) return;
    deliver(w, op, (const uint8_t *)(w->msg.data ? w->msg.data : ""), w->msg.len);
    message_done(w);
}

/* Checks a header against the message state, before its payload is read. */
static int header_ok(ws_t *w, const kiln_ws_header_t *h)
{
    if (h->opcode >= 0x8) return 1;
    if (h->opcode == KILN_WS_CONT && !w->msg_op) return fail(w, KILN_WS_CLOSE_PROTOCOL, "continuation without a message"), 0;
    if (h->opcode != KILN_WS_CONT && w->msg_op) return fail(w, KILN_WS_CLOSE_PROTOCOL, "new message inside a fragmented one"), 0;
    if (w->msg.len + h->len > w->conf.max_message) return fail(w, KILN_WS_CLOSE_TOO_BIG, "message too big"), 0;
    if (++w->frag_count > MAX_FRAGMENTS) return fail(w, KILN_WS_CLOSE_TOO_BIG, "too many fragments"), 0;
    return 1;
}

/* Handles the complete frames in buf; returns the bytes consumed, or -1 once
 * the connection is closing. */
static long parse(ws_t *w, uint8_t *buf, size_t n, size_t *need)
{
    size_t pos = 0;
    *need = 0;
    while (!w->closing && !w->dead) {
        kiln_ws_header_t h;
        int flags = KILN_WS_REQUIRE_MASK | (w->deflate ? KILN_WS_RSV1 : 0);
        int hl = kiln_ws_parse_header(buf + pos, n - pos, flags, w->conf.max_frame, &h);
        if (hl < 0) {
            fail(w, -hl, hl == -KILN_WS_CLOSE_TOO_BIG ? "frame too big" : "protocol error in frame header");
            return -1;
        }
        if (hl == 0) return (long)pos;
        if (!header_ok(w, &h)) return -1;
        if (n - pos < (size_t)hl + h.len) {
            *need = (size_t)hl + (size_t)h.len;
            return (long)pos;
        }
        uint8_t *p = buf + pos + hl;
        kiln_ws_unmask(p, (size_t)h.len, h.mask, 0);
        pos += (size_t)hl + (size_t)h.len;
        if (h.opcode == KILN_WS_PING) send_frame(w, KILN_WS_PONG, p, (size_t)h.len);
        else if (h.opcode == KILN_WS_CLOSE) on_close_frame(w, p, (size_t)h.len);
        else if (h.opcode != KILN_WS_PONG) on_data(w, &h, p);
    }
    return -1;
}

static int in_reserve(ws_t *w, size_t want)
{
    if (w->in_cap >= want) return 0;
    uint8_t *p = realloc(w->in, want);
    if (!p) return KILN_ENOMEM;
    w->in = p;
    w->in_cap = want;
    return 0;
}

/* Handles the complete frames held in w->in and keeps the rest. Returns 0,
 * or -1 when the connection is closing or gone. */
static int consume(ws_t *w)
{
    size_t need;
    long used = parse(w, w->in, w->in_len, &need);
    if (w->dead) return -1;
    if (used < 0) {
        w->in_len = 0;
        return -1;
    }
    memmove(w->in, w->in + used, w->in_len - (size_t)used);
    w->in_len -= (size_t)used;
    if (need && in_reserve(w, need) < 0) {
        fail(w, KILN_WS_CLOSE_ERROR, "out of memory");
        return -1;
    }
    kiln_timer_start(&w->timer, (uint64_t)w->conf.timeout_ms, on_idle);
    return 0;
}

/* Reads and handles frames until the socket is drained. */
static void on_readable(ws_t *w)
{
    for (;;) {
        size_t need_cap = w->in_len + READ_CHUNK;
        if (in_reserve(w, need_cap) < 0) return fail(w, KILN_WS_CLOSE_ERROR, "out of memory");
        ssize_t r = sock_read(w, w->in + w->in_len, w->in_cap - w->in_len);
        if (r == KILN_EAGAIN) break;
        if (r <= 0) {
            teardown(w); /* EOF or reset: also the end of our close handshake */
            return;
        }
        w->in_len += (size_t)r;
        if (w->closing) {
            w->in_len = 0; /* after a close we read only to see the peer's EOF */
            continue;
        }
        consume(w);
        if (w->dead) return;
    }
    if (w->in_len == 0) { /* idle: give the buffer back */
        free(w->in);
        w->in = NULL;
        w->in_cap = 0;
    }
}

static void on_io(kiln_io_t *io, unsigned events)
{
    ws_t *w = kiln_container_of(io, ws_t, io);
    w->sock.refs++; /* a teardown inside must not free w under us */
    if (w->tio) events = KILN_IO_READ | KILN_IO_WRITE; /* TLS: either direction may unblock the other */
    if ((events & KILN_IO_WRITE) && w->out_head) flush(w);
    if (!w->dead && (events & KILN_IO_READ)) on_readable(w);
    kiln__sock_unref(&w->sock);
}

static void on_idle(kiln_timer_t *t)
{
    ws_t *w = kiln_container_of(t, ws_t, timer);
    if (w->closing) {
        teardown(w);
        return;
    }
    kiln_log(KILN_LOG_INFO, "websocket %s: no message for %lld ms, closing", w->sock.peer, (long long)w->conf.timeout_ms);
    ws_close(&w->sock, KILN_WS_CLOSE_GOING_AWAY, "timeout");
}

/* ---- Handshake -------------------------------------------------------------- */

static void ws_start(void *ud, int fd, const kiln_upgrade_io_t *io, void *io_ctx, const char *buffered, size_t len)
{
    ws_t *w = ud;
    w->fd = fd;
    w->tio = io;
    w->tio_ctx = io_ctx;
    json_t *params = w->sock.params;
    kiln__sock_init(&w->sock, &ws_transport, &w->conf, params);
    kiln_buf_init(&w->msg, w->conf.max_message);
    if (kiln_io_start(&w->io, fd, KILN_IO_READ | KILN_IO_WRITE, on_io) < 0) {
        w->io.sched = NULL;
        teardown(w);
        return;
    }
    kiln_timer_start(&w->timer, (uint64_t)w->conf.timeout_ms, on_idle);
    w->sock.refs++;
    if (len) { /* frames the client sent right behind the handshake */
        if (in_reserve(w, len + READ_CHUNK) == 0) {
            memcpy(w->in, buffered, len);
            w->in_len = len;
            consume(w);
        }
    }
    if (!w->dead) on_readable(w);
    kiln__sock_unref(&w->sock);
}

static const kiln_upgrade_ops_t ws_upgrade = { .abi = KILN_UPGRADE_ABI, .start = ws_start };

static int header_has_token(const kiln_str_t *v, const char *tok)
{
    size_t tl = strlen(tok);
    for (size_t i = 0; v && i + tl <= v->len; i++)
        if (strncasecmp(v->ptr + i, tok, tl) == 0) return 1;
    return 0;
}

/* Whether one of the comma-separated offers is permessage-deflate. Any of its
 * parameters is acceptable: we answer with no context takeover both ways, we
 * inflate with the largest window (so any client_max_window_bits works), and
 * we send uncompressed messages only (RFC 7692 §6: allowed per message), so
 * a broadcast stays one shared frame. */
static int offers_deflate(const kiln_str_t *v)
{
    static const char name[] = "permessage-deflate";
    for (size_t i = 0; v && i < v->len;) {
        while (i < v->len && (v->ptr[i] == ' ' || v->ptr[i] == '\t' || v->ptr[i] == ',')) i++;
        size_t start = i;
        while (i < v->len && v->ptr[i] != ';' && v->ptr[i] != ',' && v->ptr[i] != ' ') i++;
        if (i - start == sizeof name - 1 && strncasecmp(v->ptr + start, name, i - start) == 0) return 1;
        while (i < v->len && v->ptr[i] != ',') i++;
    }
    return 0;
}

static int refuse(kiln_conn_t *c, int status, const char *why)
{
    kiln_log(KILN_LOG_INFO, "websocket handshake from %.*s refused (%d): %s", (int)c->remote_ip.len,
             c->remote_ip.ptr, status, why);
    if (status == 426) kiln_conn_put_resp_header(c, "sec-websocket-version", "13");
    return kiln_conn_text(c, status, why);
}

int kiln_socket_websocket(kiln_conn_t *c, const kiln_socket_conf_t *conf)
{
    const kiln_str_t *up = kiln_conn_req_header(c, "upgrade"), *cn = kiln_conn_req_header(c, "connection");
    const kiln_str_t *key = kiln_conn_req_header(c, "sec-websocket-key");
    const kiln_str_t *ver = kiln_conn_req_header(c, "sec-websocket-version");
    if (!kiln_str_eq_c(c->method_str, "GET")) return refuse(c, 400, "websocket upgrade needs GET");
    if (!up || !kiln_str_ieq_c(*up, "websocket") || !header_has_token(cn, "upgrade"))
        return refuse(c, 400, "not a websocket upgrade");
    if (!ver || !kiln_str_eq_c(*ver, "13")) return refuse(c, 426, "unsupported websocket version");
    char accept[29];
    if (!key || kiln_ws_accept_key(key->ptr, key->len, accept) < 0) return refuse(c, 400, "bad sec-websocket-key");
    ws_t *w = calloc(1, sizeof *w);
    if (!w) return KILN_ENOMEM;
    kiln__sock_conf_defaults(conf, &w->conf);
    w->sock.app_conf = conf;
    snprintf(w->sock.peer, sizeof w->sock.peer, "%.*s", (int)c->remote_ip.len, c->remote_ip.ptr);
    json_t *params;
    int st = kiln__sock_admit(c, &w->conf, &w->sock, &params);
    if (st) {
        free(w->sock.id);
        free(w);
        return refuse(c, st, "connection refused");
    }
    kiln_conn_put_resp_header(c, "sec-websocket-accept", accept);
    if (!w->conf.no_deflate && offers_deflate(kiln_conn_req_header(c, "sec-websocket-extensions"))) {
        w->deflate = 1;
        kiln_conn_put_resp_header(c, "sec-websocket-extensions",
                                  "permessage-deflate; server_no_context_takeover; client_no_context_takeover");
    }
    int rc = kiln_conn_upgrade(c, "websocket", &ws_upgrade, w);
    if (rc < 0) {
        json_decref(params);
        free(w->sock.id);
        free(w);
        if (rc == KILN_ESTATE) return kiln_conn_text(c, 400, "websocket needs a plain HTTP/1.1 connection");
    }
    return rc;
}
