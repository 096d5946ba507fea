/* TLS transport through OpenSSL, behind the same socket-ops seam as plain TCP
 * so that both share the connection state machine.
 *
 * The SSL object reads and writes the non-blocking socket itself; WANT_READ /
 * WANT_WRITE become KILN_EAGAIN and the state machine waits for the next edge
 * (the connection watches both directions). SSL_MODE_RELEASE_BUFFERS lets an
 * idle TLS connection drop OpenSSL's record buffers. writev coalesces into a
 * per-thread record-sized buffer (SSL_write takes one buffer; the moving-buffer
 * mode allows the retry after WANT_WRITE to come from the same bytes rebuilt);
 * sendfile falls back to pread + SSL_write.
 *
 * An upgrade (upgrade.c) hands the SSL object over with the fd: the read,
 * writev and close_notify below work on the SSL alone, so the upgraded
 * transport (src/channel/ws.c) calls them through kiln_upgrade_io_t after the
 * connection is gone. */
#include "server/server_int.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#define TLS_CHUNK 16384 /* one TLS record */

static _Thread_local char tls_scratch[TLS_CHUNK];

static void log_ssl_errors(const char *what)
{
    unsigned long e;
    char buf[256];
    while ((e = ERR_get_error()) != 0) {
        ERR_error_string_n(e, buf, sizeof buf);
        kiln_log(KILN_LOG_ERROR, "tls: %s: %s", what, buf);
    }
}

void *kiln__tls_ctx_new(const char *cert, const char *key)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        log_ssl_errors("SSL_CTX_new");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                              SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
        log_ssl_errors("loading the certificate or key");
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

void kiln__tls_ctx_free(void *ctx)
{
    SSL_CTX_free(ctx);
}

int kiln__tls_conn_new(srv_conn_t *c, void *ctx)
{
    SSL *ssl = SSL_new(ctx);
    if (!ssl) return KILN_ENOMEM;
    SSL_set_fd(ssl, c->io.fd);
    SSL_set_accept_state(ssl);
    c->tls = ssl;
    return 0;
}

/* Maps an SSL_get_error result to the seam's codes. */
static ssize_t ssl_result(SSL *ssl, int rc)
{
    int err = SSL_get_error(ssl, rc);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return KILN_EAGAIN;
    ERR_clear_error(); /* do not leave this connection's errors to the next one on the thread */
    if (err == SSL_ERROR_ZERO_RETURN) return 0;
    return KILN_ECLOSED;
}

static int tls_handshake(srv_conn_t *c)
{
    int rc = SSL_do_handshake(c->tls);
    if (rc == 1) return 1;
    ssize_t r = ssl_result(c->tls, rc);
    return r == KILN_EAGAIN ? 0 : -1;
}

/* The byte I/O on an SSL object, shared by the server's connections and by
 * the transport an upgrade hands it to (kiln_upgrade_io_t, ctx = the SSL). */
static ssize_t ssl_read(void *ssl, void *buf, size_t len)
{
    /* A short SSL_read says nothing about the socket (one record at a time),
     * so the caller reads on until WANT_READ (EAGAIN). */
    int n = SSL_read(ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
    return n > 0 ? n : ssl_result(ssl, n);
}

static ssize_t ssl_write(SSL *ssl, const void *p, size_t len)
{
    int n = SSL_write(ssl, p, (int)len);
    return n > 0 ? n : ssl_result(ssl, n) == KILN_EAGAIN ? KILN_EAGAIN : KILN_ECLOSED;
}

static ssize_t ssl_writev(void *ssl, const struct iovec *iov, int n)
{
    if (n == 1 || iov[0].iov_len >= TLS_CHUNK)
        return ssl_write(ssl, iov[0].iov_base, iov[0].iov_len > TLS_CHUNK * 4 ? TLS_CHUNK * 4 : iov[0].iov_len);
    size_t len = 0;
    for (int i = 0; i < n && len < TLS_CHUNK; i++) {
        size_t take = iov[i].iov_len < TLS_CHUNK - len ? iov[i].iov_len : TLS_CHUNK - len;
        memcpy(tls_scratch + len, iov[i].iov_base, take);
        len += take;
    }
    return ssl_write(ssl, tls_scratch, len);
}

static void ssl_close_notify(void *ssl)
{
    if (SSL_is_init_finished(ssl)) SSL_shutdown(ssl); /* best effort: WANT_WRITE is not retried */
    ERR_clear_error();
}

static void ssl_free(void *ssl)
{
    SSL_free(ssl);
}

static ssize_t tls_read(srv_conn_t *c, char *buf, size_t len)
{
    return ssl_read(c->tls, buf, len);
}

static ssize_t tls_writev(srv_conn_t *c, const struct iovec *iov, int n)
{
    return ssl_writev(c->tls, iov, n);
}

static ssize_t tls_sendfile(srv_conn_t *c, int fd, off_t *off, size_t len)
{
    ssize_t got = pread(fd, tls_scratch, len < TLS_CHUNK ? len : TLS_CHUNK, *off);
    if (got <= 0) return KILN_EIO;
    ssize_t w = ssl_write(c->tls, tls_scratch, (size_t)got);
    if (w > 0) *off += w;
    return w;
}

static void tls_shutdown(srv_conn_t *c)
{
    if (!c->tls) return; /* never attached, or handed to an upgrade */
    if (!c->dead) ssl_close_notify(c->tls);
    SSL_free(c->tls);
    c->tls = NULL;
}

static const kiln_upgrade_io_t tls_upgrade_io = {
    .abi = KILN_UPGRADE_ABI,
    .read = ssl_read,
    .writev = ssl_writev,
    .shutdown = ssl_close_notify,
    .free = ssl_free,
};

const srv_sock_ops_t kiln__srv_tls_ops = {
    .abi = 1,
    .read = tls_read,
    .writev = tls_writev,
    .sendfile = tls_sendfile,
    .handshake = tls_handshake,
    .shutdown = tls_shutdown,
    .upgrade_io = &tls_upgrade_io,
};
