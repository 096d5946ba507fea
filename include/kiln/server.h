/* Kiln HTTP/1.1 server: listeners, connections, timeouts, TLS and drain.
 *
 * The server turns bytes on sockets into kiln_conn_t requests for an endpoint
 * (docs/internals/server.md, docs/adr/0004-http-connection-memory.md). One
 * listening socket per scheduler (SO_REUSEPORT); a connection lives on the
 * scheduler that accepted it and is a small struct, not a process: an idle
 * keep-alive connection holds no read buffer, no arena and no stack. A request
 * runs on a coroutine stack borrowed for its duration, so handlers may wait.
 *
 * Thread safety: kiln_server_start, kiln_server_port and kiln_server_drain may
 * be called from any thread; kiln_server_free only once the schedulers no
 * longer run the server (after the drain's done callback, or after
 * kiln_runtime_run returned). */
#ifndef KILN_SERVER_H
#define KILN_SERVER_H

#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>
#include "kiln/endpoint.h"
#include "kiln/http.h"
#include "kiln/runtime.h"

typedef struct kiln_server kiln_server_t;

typedef struct kiln_server_conf {
    const kiln_endpoint_t *endpoint; /* required; must outlive the server */
    const char *bind;                /* address literal (IPv4 or IPv6); NULL = "127.0.0.1" */
    int port;                        /* 0 = an ephemeral port (see kiln_server_port) */
    kiln_http_limits_t limits;       /* a zero field takes the kiln_http_limits_default value */

    /* Timeouts in milliseconds; 0 takes the default. */
    int64_t idle_timeout_ms;   /* keep-alive connection with no request under way: 60000, then close */
    int64_t header_timeout_ms; /* whole request head, from the connection or its first byte: 30000 */
    int64_t body_timeout_ms;   /* between two reads of a request body: 30000 */
    int64_t send_timeout_ms;   /* a response write that makes no progress: 30000, then close */
    int64_t drain_timeout_ms;  /* used by kiln_server_drain when given a negative timeout: 5000 */

    uint32_t max_keepalive_requests; /* requests per connection, then connection: close; 0 = unlimited */
    uint32_t max_conns_per_ip;       /* open connections per client address; 0 = no cap */
    int backlog;                     /* listen(2) backlog per scheduler; 0 = 1024 */

    /* TLS: both paths (PEM) or neither. */
    const char *tls_cert;
    const char *tls_key;
} kiln_server_conf_t;

/* Creates the listening sockets (one per scheduler, bound now so that a bad
 * address or a busy port fails here) and asks each scheduler to start
 * accepting. The runtime may be running or not yet. conf is copied (strings
 * included). *out is owned by the caller (kiln_server_free).
 * Returns 0, KILN_EINVAL (bad conf or address), KILN_EIO (socket, bind or TLS
 * setup failed; logged) or KILN_ENOMEM. */
int kiln_server_start(kiln_runtime_t *rt, const kiln_server_conf_t *conf, kiln_server_t **out);

/* The bound TCP port (the ephemeral one when conf.port was 0). */
int kiln_server_port(const kiln_server_t *s);

/* Graceful drain, callable from any thread, once: stops accepting (listeners
 * closed, so new connects are refused), closes idle keep-alive connections,
 * lets requests under way finish with connection: close, then calls
 * done(ud) once on a scheduler thread. Connections still open after
 * timeout_ms (< 0: conf.drain_timeout_ms) are closed and counted in a log
 * line. done may be NULL. */
typedef void (*kiln_server_done_cb)(void *ud);
void kiln_server_drain(kiln_server_t *s, int64_t timeout_ms, kiln_server_done_cb done, void *ud);

/* Counters, summed over schedulers (read without locks: approximate while running). */
typedef struct kiln_server_stats {
    uint64_t accepted;     /* connections accepted */
    uint64_t requests;     /* requests handed to the endpoint */
    uint64_t rejected;     /* requests answered with a 4xx/5xx by the server itself */
    uint64_t open_conns;   /* connections open now */
    uint64_t drain_forced; /* connections closed by the drain deadline */
} kiln_server_stats_t;
void kiln_server_stats(const kiln_server_t *s, kiln_server_stats_t *out);

/* Frees the server: listeners, every connection still open, pools and TLS
 * context. Call only once no scheduler runs server code (see above). */
void kiln_server_free(kiln_server_t *s);

/* ---- Protocol upgrades (WebSocket) --------------------------------------
 *
 * A handler that accepts an upgrade (RFC 9110 §7.8) calls kiln_conn_upgrade
 * instead of sending a response: it writes "101 Switching Protocols" with
 * `connection: upgrade`, `upgrade: <protocol>` and the headers the handler put
 * on the conn (kiln_conn_put_resp_header), and marks the conn sent (status 101).
 * When the handler returns, the server forgets the connection (its timers,
 * its buffers, its place in the drain) and calls ops->start on the same
 * scheduler thread, from the request coroutine, with the socket, its byte I/O
 * and the bytes the client sent after the request head. From then on the fd
 * and everything about it belong to the callee (it closes the fd). */

/* The byte I/O of an upgraded connection whose socket is not read and written
 * directly: TLS (an OpenSSL SSL object, the ctx). Edge-triggered like a plain
 * non-blocking socket, with one difference: a record may need the other
 * direction to progress, so after any readiness edge the callee retries both
 * its pending write and its reads. read returns > 0 bytes, 0 at the peer's
 * end of stream, KILN_EAGAIN (wait for an edge) or KILN_ECLOSED; read until
 * KILN_EAGAIN, since decrypted bytes may be held inside the ctx where no edge
 * announces them. writev returns the bytes taken (it may take fewer than
 * offered), KILN_EAGAIN or KILN_ECLOSED; after KILN_EAGAIN, retry with the
 * same leading bytes (more may follow). */
typedef struct kiln_upgrade_io {
    int abi; /* KILN_UPGRADE_ABI */
    ssize_t (*read)(void *ctx, void *buf, size_t len);
    ssize_t (*writev)(void *ctx, const struct iovec *iov, int n);
    /* Ends our direction of the stream (TLS close_notify), best effort, before
     * the callee's shutdown(fd, SHUT_WR). No writev after it. */
    void (*shutdown)(void *ctx);
    void (*free)(void *ctx); /* frees ctx; the fd stays open (the callee closes it) */
} kiln_upgrade_io_t;

typedef struct kiln_upgrade_ops {
    int abi; /* KILN_UPGRADE_ABI */
    /* io is NULL for a plain TCP socket (read(2)/writev(2) on fd directly, the
     * cheap path), else the connection's byte I/O with its ctx (owned by the
     * callee from here: io->free(io_ctx) before closing fd). buffered (len
     * bytes, may be 0, already decrypted) is only valid during the call. */
    void (*start)(void *ud, int fd, const kiln_upgrade_io_t *io, void *io_ctx, const char *buffered, size_t len);
} kiln_upgrade_ops_t;
#define KILN_UPGRADE_ABI 2

/* Returns 0, KILN_ESTATE (not a server conn, or already sent),
 * KILN_EINVAL (bad protocol token or ops), or the write's error (the client
 * went away: start will not be called). */
int kiln_conn_upgrade(kiln_conn_t *c, const char *protocol, const kiln_upgrade_ops_t *ops, void *ud);

#endif
