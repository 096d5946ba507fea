/* Internals shared by the server files: the server, its per-scheduler state,
 * the connection struct and the socket-ops seam between plain TCP and TLS.
 *
 * Ownership: everything a connection owns (its struct, its borrowed read
 * buffer, its borrowed request arena) belongs to the scheduler that accepted
 * it and is touched only on that scheduler's thread, so the hot path takes no
 * lock. The only cross-thread state is the per-IP table (accept path only,
 * mutex) and the drain counter (atomic). */
#ifndef KILN_SERVER_INT_H
#define KILN_SERVER_INT_H

#include <stdatomic.h>
#include <pthread.h>
#include <sys/types.h>
#include <sys/uio.h>
#include "kiln/server.h"

typedef struct srv_conn srv_conn_t;
typedef struct srv_sched srv_sched_t;

/* The transport seam: plain TCP (sock_tcp.c) and TLS (tls_openssl.c) share the
 * connection state machine through these. read/writev/sendfile return a byte
 * count, KILN_EAGAIN (would block: the caller waits for the next edge),
 * or KILN_ECLOSED / KILN_EIO; read returns 0 on EOF. read clears c->readable
 * when the transport is known to be drained. */
typedef struct srv_sock_ops {
    int abi;
    ssize_t (*read)(srv_conn_t *c, char *buf, size_t len);
    ssize_t (*writev)(srv_conn_t *c, const struct iovec *iov, int n);
    ssize_t (*sendfile)(srv_conn_t *c, int fd, off_t *off, size_t len);
    /* TLS handshake step: 1 done, 0 in progress, < 0 failed. NULL for TCP. */
    int (*handshake)(srv_conn_t *c);
    void (*shutdown)(srv_conn_t *c); /* frees transport state; does not close the fd */
    /* What an upgrade hands over with the fd (upgrade.c), its ctx being
     * c->tls: NULL for TCP, whose upgraded transport uses the fd directly. */
    const kiln_upgrade_io_t *upgrade_io;
} srv_sock_ops_t;

extern const srv_sock_ops_t kiln__srv_tcp_ops;
extern const srv_sock_ops_t kiln__srv_tls_ops;

/* TLS context (tls_openssl.c). */
void *kiln__tls_ctx_new(const char *cert, const char *key);
void kiln__tls_ctx_free(void *ctx);
int kiln__tls_conn_new(srv_conn_t *c, void *ctx); /* attaches an SSL to c->tls */

/* A free list of equal-sized objects kept by a scheduler (read buffers,
 * request arenas), bounded so that a burst gives its memory back. */
typedef struct srv_pool {
    void **items;
    uint32_t n, max;
} srv_pool_t;

enum { SRV_TIMER_NONE, SRV_TIMER_IDLE, SRV_TIMER_HEADER, SRV_TIMER_BODY, SRV_TIMER_SEND, SRV_TIMER_LINGER };
enum { SRV_ST_TLS, SRV_ST_HEAD, SRV_ST_BODY, SRV_ST_RUN, SRV_ST_LINGER };

/* A request being read or run. Lives in its own arena (borrowed from the
 * scheduler's pool when the head is complete, returned after the response). */
typedef struct srv_req {
    kiln_conn_t conn;
    kiln_arena_t *arena;
    kiln_http_req_t http;
    uint32_t head_len;        /* rbuf[0..head_len) is the head; header slices point there */
    char *body;               /* Content-Length body, in the arena */
    uint64_t body_len;
    kiln_buf_t cbody;         /* chunked body (bounded by max_body); freed with the arena */
    kiln_chunked_t chunked;
    uint8_t is_head;
    uint8_t resp_chunked;     /* 1 chunked framing, 2 close-delimited (HTTP/1.0) */
    uint8_t chunk_ended;
    uint8_t close;            /* close after this response */
} srv_req_t;

/* One connection. Kept small on purpose: this struct is all an idle keep-alive
 * connection costs in user memory (ADR 0004). */
struct srv_conn {
    kiln_io_t io;
    kiln_timer_t timer;
    srv_sched_t *ss;
    srv_conn_t *prev, *next; /* the scheduler's list (for drain and free) */
    const srv_sock_ops_t *ops;
    void *tls;               /* SSL *, or NULL */
    char *rbuf;              /* borrowed from ss->bufs while a request is under way, else NULL */
    uint32_t rlen;           /* bytes in rbuf */
    uint32_t olen;           /* bytes held back in obuf */
    char *obuf;              /* responses of a pipelined batch held back for one write; from ss->bufs, else NULL */
    uint32_t nreq;           /* requests served */
    srv_req_t *req;          /* the request being read or run (in its arena), or NULL */
    kiln_coro_t *waiter;     /* the request coroutine parked on a write, or NULL */
    uint8_t state;           /* SRV_ST_* */
    uint8_t timer_kind;      /* SRV_TIMER_* */
    uint8_t ip_family;
    unsigned readable : 1;   /* edge seen and the socket not yet drained */
    unsigned peer_closed : 1; /* the peer's FIN was seen (KILN_IO_HUP): read until EOF */
    unsigned busy : 1;       /* a request coroutine is using the connection: never free it */
    unsigned dead : 1;       /* write failed or timed out: finish the request, then close */
    unsigned draining : 1;
    unsigned counted_ip : 1;
    unsigned char ip_raw[16];
    char ip[46];             /* remote address as text (INET6_ADDRSTRLEN) */
};

struct srv_sched {
    kiln_server_t *srv;
    kiln_sched_t *sched;
    int index;
    int listen_fd;
    kiln_io_t listen_io;
    srv_conn_t *conns;       /* list head */
    uint64_t n_conns;
    srv_pool_t bufs;         /* read buffers of srv->buf_size */
    srv_pool_t arenas;       /* kiln_arena_t with one block kept */
    kiln_header_t *hdrs;     /* parse scratch, limits.max_headers entries */
    kiln_buf_t head;         /* response head scratch; copied out if a write parks */
    kiln_timer_t drain_timer;
    unsigned draining : 1, drain_reported : 1;
    /* counters (read racily by kiln_server_stats) */
    uint64_t accepted, requests, rejected, drain_forced;
};

struct kiln_server {
    kiln_runtime_t *rt;
    /* The owner holds one reference, each task posted to a scheduler another:
     * a task that runs after kiln_server_free (a runtime freed without ever
     * running) finds `freed` set and only drops its reference. */
    _Atomic int refs;
    _Atomic int freed;
    kiln_server_conf_t conf;
    char *bind, *tls_cert, *tls_key; /* owned copies */
    size_t buf_size;
    int port;
    void *tls_ctx;
    int n_scheds;
    srv_sched_t *scheds;
    _Atomic int drain_started;
    _Atomic int drain_pending; /* schedulers that have not finished draining */
    int64_t drain_timeout_ms;
    kiln_server_done_cb drain_done;
    void *drain_ud;
    /* per-IP connection counts: only when conf.max_conns_per_ip > 0 */
    pthread_mutex_t ip_lock;
    struct srv_ip_entry **ip_table;
    size_t ip_buckets;
};

/* conn_io.c: the connection state machine. */
void kiln__srv_conn_accepted(srv_sched_t *ss, int fd, const void *sa, unsigned salen);
void kiln__srv_conn_close(srv_conn_t *c);
void kiln__srv_conn_free_all(srv_sched_t *ss); /* kiln_server_free: no scheduler running */
void kiln__srv_drain_conns(srv_sched_t *ss);   /* closes idle ones, marks the rest */
void kiln__srv_drain_force(srv_sched_t *ss);

/* server.c */
void kiln__srv_conn_gone(srv_sched_t *ss);     /* a connection was freed: drain bookkeeping */
int kiln__srv_ip_acquire(kiln_server_t *s, const unsigned char *ip, int family);
void kiln__srv_ip_release(kiln_server_t *s, const unsigned char *ip, int family);
void *kiln__srv_pool_get(srv_pool_t *p);
void kiln__srv_pool_put(srv_pool_t *p, void *item, void (*destroy)(void *));

/* respond.c: the kiln_conn_adapter_t and server-made error responses. */
extern const kiln_conn_adapter_t kiln__srv_adapter;
void kiln__srv_send_error(srv_conn_t *c, int status); /* best effort, never waits */
int kiln__srv_write_all(srv_conn_t *c, struct iovec *iov, int n);
int kiln__srv_wait_writable(srv_conn_t *c);
int kiln__srv_finish_response(srv_conn_t *c); /* ends an unfinished chunked body */
int kiln__srv_flush(srv_conn_t *c);           /* writes what obuf holds back (may park); 0 or KILN_ECLOSED */
void kiln__srv_flush_nowait(void *c);         /* as much of obuf as the socket takes now (park hook) */
void kiln__srv_obuf_release(srv_conn_t *c);

/* upgrade.c: after the request, hands the fd and the transport state (c->tls)
 * to a pending upgrade (then io.fd is -1, c->tls NULL, and the caller frees
 * the connection). Returns 1 if it did, else 0. */
int kiln__srv_upgrade_take(srv_conn_t *c);

/* runtime (src/runtime/coro.c): a callback run each time the current coroutine parks. */
int kiln__coro_on_park(void (*fn)(void *ud), void *ud);

#endif
