/* Protocol upgrades: the server hands a connection's socket and its byte I/O
 * to another transport (the WebSocket of src/channel) after a 101 response.
 *
 * kiln_conn_upgrade writes the 101 itself, because the conn API keeps
 * `connection` for the adapter (framing belongs to it), and records the
 * request in a per-thread list of pending upgrades keyed by the connection.
 * A list rather than a field on srv_conn_t keeps srv_conn_t (the idle
 * keep-alive cost) unchanged; it holds at most the upgrades whose handler has
 * not yet returned on this scheduler, normally zero or one. When the request
 * ends, conn_io.c calls kiln__srv_upgrade_take: the watcher is stopped, the fd
 * and the transport state are detached (io.fd = -1 and c->tls = NULL, so
 * conn_free neither closes nor shuts them down) and start() gets them — the
 * fd, the socket ops' kiln_upgrade_io_t (NULL for plain TCP) with its ctx (the
 * SSL object) — with the bytes read past the head (already decrypted). TLS
 * needs nothing else: OpenSSL keeps any record it read past those bytes inside
 * the SSL object, which the callee drains by reading until KILN_EAGAIN. The
 * entry lives in the request's arena. */
#include "server/server_int.h"

#include <stdlib.h>
#include <string.h>

typedef struct pending {
    struct pending *next;
    srv_conn_t *conn;
    const kiln_upgrade_ops_t *ops;
    void *ud;
} pending_t;

static _Thread_local pending_t *pending_list;

/* The 101 head: status line, the upgrade pair, then the handler's headers. */
static int write_101(srv_conn_t *c, const kiln_conn_t *kc, const char *protocol)
{
    kiln_buf_t b;
    kiln_buf_init(&b, 16384);
    int rc = kiln_buf_printf(&b, "HTTP/1.1 101 Switching Protocols\r\nconnection: Upgrade\r\nupgrade: %s\r\n", protocol);
    for (size_t i = 0; rc == 0 && i < kc->n_resp_headers; i++) {
        const kiln_header_t *h = &kc->resp_headers[i];
        rc = kiln_buf_printf(&b, "%.*s: %.*s\r\n", (int)h->name.len, h->name.ptr, (int)h->value.len, h->value.ptr);
    }
    if (rc == 0) rc = kiln_buf_puts(&b, "\r\n");
    if (rc == 0) rc = kiln__srv_flush(c); /* responses of a pipelined batch go first */
    if (rc == 0) {
        struct iovec iov = { b.data, b.len };
        rc = kiln__srv_write_all(c, &iov, 1);
    }
    kiln_buf_free(&b);
    return rc < 0 ? rc : 0;
}

int kiln_conn_upgrade(kiln_conn_t *kc, const char *protocol, const kiln_upgrade_ops_t *ops, void *ud)
{
    if (!ops || ops->abi != KILN_UPGRADE_ABI || !ops->start || !protocol || !kiln_http_token_ok(kiln_str_c(protocol)))
        return KILN_EINVAL;
    if (kc->adapter != &kiln__srv_adapter || kc->state != KILN_CONN_UNSENT) return KILN_ESTATE;
    srv_conn_t *c = kc->adapter_data;
    if (!kiln_coro_current()) return KILN_ESTATE;
    kc->status = 101;
    kc->state = KILN_CONN_SENT;
    int rc = write_101(c, kc, protocol);
    if (rc < 0) {
        c->dead = 1;
        return rc;
    }
    pending_t *p = kiln_arena_alloc(kc->arena, sizeof *p);
    if (!p) return KILN_ENOMEM;
    *p = (pending_t){ pending_list, c, ops, ud };
    pending_list = p;
    return 0;
}

int kiln__srv_upgrade_take(srv_conn_t *c)
{
    pending_t **pp = &pending_list;
    while (*pp && (*pp)->conn != c) pp = &(*pp)->next;
    pending_t *p = *pp;
    if (!p) return 0;
    *pp = p->next;
    if (c->dead) return 0; /* closed while the handler ran: nothing to hand over */
    size_t head = c->req ? c->req->head_len : 0;
    size_t extra = c->rbuf && c->rlen > head ? c->rlen - head : 0;
    char *bytes = extra ? malloc(extra) : NULL;
    if (extra && !bytes) return 0;
    if (extra) memcpy(bytes, c->rbuf + head, extra);
    int fd = c->io.fd;
    void *io_ctx = c->tls;
    kiln_io_stop(&c->io);
    c->io.fd = -1;
    c->tls = NULL;
    p->ops->start(p->ud, fd, c->ops->upgrade_io, io_ctx, bytes, extra);
    free(bytes);
    return 1;
}
