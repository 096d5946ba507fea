/* The server object: listening sockets, accept, per-scheduler pools, the
 * per-IP connection cap and the graceful drain.
 *
 * Every scheduler gets its own listening socket on the same port
 * (SO_REUSEPORT), so the kernel spreads connections over the schedulers and
 * accept needs no lock. The sockets are bound in kiln_server_start, on the
 * caller's thread, so that errors (bad address, port in use) are reported
 * there; watching them starts on each scheduler through kiln_sched_post.
 *
 * Drain: kiln_server_drain posts a step to every scheduler, which closes its
 * listener, closes its idle connections and marks the others; each scheduler
 * reports once when its last connection is gone or its deadline passes, and
 * the last report calls the done callback. */
#include "server/server_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define SRV_POOL_MAX 64 /* free read buffers / arenas kept per scheduler */

/* ---- Pools ---------------------------------------------------------------- */

void *kiln__srv_pool_get(srv_pool_t *p)
{
    return p->n ? p->items[--p->n] : NULL;
}

void kiln__srv_pool_put(srv_pool_t *p, void *item, void (*destroy)(void *))
{
    if (p->n < p->max) {
        p->items[p->n++] = item;
        return;
    }
    destroy(item);
}

static void pool_init(srv_pool_t *p, uint32_t max)
{
    p->items = kiln_xcalloc(max, sizeof *p->items);
    p->n = 0;
    p->max = max;
}

static void arena_destroy_free(void *p)
{
    kiln_arena_destroy(p);
    free(p);
}

static void pool_free(srv_pool_t *p, void (*destroy)(void *))
{
    while (p->n) destroy(p->items[--p->n]);
    free(p->items);
    p->items = NULL;
}

/* ---- Per-IP cap ----------------------------------------------------------- */

typedef struct srv_ip_entry {
    struct srv_ip_entry *next;
    unsigned char ip[16];
    int family;
    uint32_t count;
} srv_ip_entry_t;

static size_t ip_hash(const kiln_server_t *s, const unsigned char *ip)
{
    uint64_t h = 1469598103934665603ull;
    for (int i = 0; i < 16; i++) h = (h ^ ip[i]) * 1099511628211ull;
    return (size_t)(h % s->ip_buckets);
}

/* Returns 0 and counts the connection, or KILN_EPERM when the address is at its cap. */
int kiln__srv_ip_acquire(kiln_server_t *s, const unsigned char *ip, int family)
{
    int rc = 0;
    pthread_mutex_lock(&s->ip_lock);
    srv_ip_entry_t **slot = &s->ip_table[ip_hash(s, ip)], *e;
    for (e = *slot; e; e = e->next)
        if (e->family == family && memcmp(e->ip, ip, 16) == 0) break;
    if (!e) {
        e = kiln_xcalloc(1, sizeof *e);
        memcpy(e->ip, ip, 16);
        e->family = family;
        e->next = *slot;
        *slot = e;
    }
    if (e->count >= s->conf.max_conns_per_ip)
        rc = KILN_EPERM;
    else
        e->count++;
    pthread_mutex_unlock(&s->ip_lock);
    return rc;
}

void kiln__srv_ip_release(kiln_server_t *s, const unsigned char *ip, int family)
{
    pthread_mutex_lock(&s->ip_lock);
    for (srv_ip_entry_t **pp = &s->ip_table[ip_hash(s, ip)], *e; (e = *pp); pp = &e->next) {
        if (e->family != family || memcmp(e->ip, ip, 16) != 0) continue;
        if (--e->count == 0) { /* drop empty entries so the table tracks open connections only */
            *pp = e->next;
            free(e);
        }
        break;
    }
    pthread_mutex_unlock(&s->ip_lock);
}

/* ---- Listening sockets ---------------------------------------------------- */

static int parse_bind(const char *bind, int port, struct sockaddr_storage *ss, socklen_t *len)
{
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, bind, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        *len = sizeof *v4;
        return 0;
    }
    if (inet_pton(AF_INET6, bind, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        *len = sizeof *v6;
        return 0;
    }
    return KILN_EINVAL;
}

static int listen_socket(const kiln_server_t *s, int port, int *out_port)
{
    struct sockaddr_storage sa;
    socklen_t salen;
    if (parse_bind(s->bind, port, &sa, &salen) < 0) {
        kiln_log(KILN_LOG_ERROR, "server: bad bind address '%s'", s->bind);
        return KILN_EINVAL;
    }
    int fd = socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return KILN_EIO;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* inherited by accepted sockets */
    if (bind(fd, (struct sockaddr *)&sa, salen) < 0 || listen(fd, s->conf.backlog) < 0) {
        kiln_log(KILN_LOG_ERROR, "server: cannot listen on %s:%d: %s", s->bind, port, strerror(errno));
        close(fd);
        return KILN_EIO;
    }
    if (out_port) {
        getsockname(fd, (struct sockaddr *)&sa, &salen);
        *out_port = ntohs(sa.ss_family == AF_INET ? ((struct sockaddr_in *)&sa)->sin_port
                                                  : ((struct sockaddr_in6 *)&sa)->sin6_port);
    }
    return fd;
}

static void on_accept(kiln_io_t *io, unsigned events)
{
    (void)events;
    srv_sched_t *ss = kiln_container_of(io, srv_sched_t, listen_io);
    for (;;) {
        struct sockaddr_storage sa;
        socklen_t salen = sizeof sa;
        int fd = accept4(ss->listen_fd, (struct sockaddr *)&sa, &salen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) /* EMFILE and friends: try again on the next edge */
                kiln_log(KILN_LOG_WARN, "server: accept: %s", strerror(errno));
            return;
        }
        ss->accepted++;
        kiln__srv_conn_accepted(ss, fd, &sa, salen);
        if (ss->draining) return; /* a drain started from inside the endpoint */
    }
}

static void srv_unref(kiln_server_t *s)
{
    if (atomic_fetch_sub(&s->refs, 1) != 1) return;
    free(s->scheds);
    free(s);
}

/* Posts fn(ss) to the scheduler, holding a server reference until it runs. */
static int srv_post(srv_sched_t *ss, void (*fn)(void *))
{
    atomic_fetch_add(&ss->srv->refs, 1);
    int rc = kiln_sched_post(ss->sched, fn, ss);
    if (rc < 0) atomic_fetch_sub(&ss->srv->refs, 1);
    return rc;
}

static void sched_listen(void *arg)
{
    srv_sched_t *ss = arg;
    kiln_server_t *s = ss->srv;
    if (!atomic_load(&s->freed) && !ss->draining && ss->listen_fd >= 0 &&
        kiln_io_start(&ss->listen_io, ss->listen_fd, KILN_IO_READ, on_accept) < 0)
        kiln_log(KILN_LOG_ERROR, "server: scheduler %d cannot watch its listener", ss->index);
    srv_unref(s);
}

/* ---- Start ---------------------------------------------------------------- */

static void limits_fill(kiln_http_limits_t *l)
{
    kiln_http_limits_t d;
    kiln_http_limits_default(&d);
    if (!l->max_request_line) l->max_request_line = d.max_request_line;
    if (!l->max_header_bytes) l->max_header_bytes = d.max_header_bytes;
    if (!l->max_headers) l->max_headers = d.max_headers;
    if (!l->max_body) l->max_body = d.max_body;
    if (!l->max_chunk_ext) l->max_chunk_ext = d.max_chunk_ext;
    if (!l->max_trailer_bytes) l->max_trailer_bytes = d.max_trailer_bytes;
}

static void conf_fill(kiln_server_conf_t *c)
{
    limits_fill(&c->limits);
    if (!c->idle_timeout_ms) c->idle_timeout_ms = 60000;
    if (!c->header_timeout_ms) c->header_timeout_ms = 30000;
    if (!c->body_timeout_ms) c->body_timeout_ms = 30000;
    if (!c->send_timeout_ms) c->send_timeout_ms = 30000;
    if (!c->drain_timeout_ms) c->drain_timeout_ms = 5000;
    if (!c->backlog) c->backlog = 1024;
}

static int sched_init(kiln_server_t *s, int i, int port, int *bound_port)
{
    srv_sched_t *ss = &s->scheds[i];
    ss->srv = s;
    ss->index = i;
    ss->sched = kiln_sched_get(s->rt, i);
    pool_init(&ss->bufs, SRV_POOL_MAX);
    pool_init(&ss->arenas, SRV_POOL_MAX);
    ss->hdrs = kiln_xcalloc(s->conf.limits.max_headers, sizeof *ss->hdrs);
    kiln_buf_init(&ss->head, 64 * 1024);
    ss->listen_fd = listen_socket(s, port, bound_port);
    return ss->listen_fd < 0 ? ss->listen_fd : 0;
}

int kiln_server_start(kiln_runtime_t *rt, const kiln_server_conf_t *conf, kiln_server_t **out)
{
    if (!rt || !conf || !conf->endpoint || !out || conf->port < 0 || conf->port > 65535) return KILN_EINVAL;
    if (!conf->tls_cert != !conf->tls_key) return KILN_EINVAL;
    /* A peer that resets while we write must give EPIPE, not kill the process. */
    signal(SIGPIPE, SIG_IGN);

    kiln_server_t *s = kiln_xcalloc(1, sizeof *s);
    atomic_store(&s->refs, 1);
    s->rt = rt;
    s->conf = *conf;
    conf_fill(&s->conf);
    s->bind = kiln_xstrdup(conf->bind ? conf->bind : "127.0.0.1");
    s->conf.bind = s->bind;
    /* A head may use max_header_bytes; the rest leaves room for pipelined
     * requests and chunk framing after it. */
    s->buf_size = s->conf.limits.max_header_bytes + 8192;
    pthread_mutex_init(&s->ip_lock, NULL);
    s->ip_buckets = 1024;
    s->ip_table = kiln_xcalloc(s->ip_buckets, sizeof *s->ip_table);
    if (conf->tls_cert) {
        s->tls_cert = kiln_xstrdup(conf->tls_cert);
        s->tls_key = kiln_xstrdup(conf->tls_key);
        s->conf.tls_cert = s->tls_cert;
        s->conf.tls_key = s->tls_key;
        s->tls_ctx = kiln__tls_ctx_new(s->tls_cert, s->tls_key);
        if (!s->tls_ctx) {
            kiln_server_free(s);
            return KILN_EIO;
        }
    }

    s->n_scheds = kiln_runtime_schedulers(rt);
    if (s->n_scheds < 1) s->n_scheds = 1;
    s->scheds = kiln_xcalloc((size_t)s->n_scheds, sizeof *s->scheds);
    for (int i = 0; i < s->n_scheds; i++) s->scheds[i].listen_fd = -1;
    int port = conf->port;
    for (int i = 0; i < s->n_scheds; i++) {
        int rc = sched_init(s, i, port, i == 0 ? &port : NULL);
        if (rc < 0) {
            kiln_server_free(s);
            return rc;
        }
    }
    s->port = port;
    for (int i = 0; i < s->n_scheds; i++) {
        if (srv_post(&s->scheds[i], sched_listen) < 0) {
            kiln_server_free(s);
            return KILN_ENOMEM;
        }
    }
    kiln_log(KILN_LOG_INFO, "server: listening on %s:%d (%d schedulers%s)", s->bind, s->port, s->n_scheds,
             s->tls_ctx ? ", TLS" : "");
    *out = s;
    return 0;
}

int kiln_server_port(const kiln_server_t *s)
{
    return s->port;
}

void kiln_server_stats(const kiln_server_t *s, kiln_server_stats_t *out)
{
    memset(out, 0, sizeof *out);
    for (int i = 0; i < s->n_scheds; i++) {
        const srv_sched_t *ss = &s->scheds[i];
        out->accepted += ss->accepted;
        out->requests += ss->requests;
        out->rejected += ss->rejected;
        out->open_conns += ss->n_conns;
        out->drain_forced += ss->drain_forced;
    }
}

/* ---- Drain ---------------------------------------------------------------- */

static void sched_drain_run(srv_sched_t *ss);

static void sched_drain_report(srv_sched_t *ss)
{
    if (ss->drain_reported) return;
    ss->drain_reported = 1;
    kiln_timer_stop(&ss->drain_timer);
    kiln_server_t *s = ss->srv;
    if (atomic_fetch_sub(&s->drain_pending, 1) == 1) {
        kiln_server_stats_t st;
        kiln_server_stats(s, &st);
        kiln_log(KILN_LOG_INFO, "server: drained (%llu connections closed at the deadline)",
                 (unsigned long long)st.drain_forced);
        if (s->drain_done) s->drain_done(s->drain_ud);
    }
}

void kiln__srv_conn_gone(srv_sched_t *ss)
{
    if (ss->draining && ss->n_conns == 0) sched_drain_report(ss);
}

static void on_drain_deadline(kiln_timer_t *t)
{
    srv_sched_t *ss = kiln_container_of(t, srv_sched_t, drain_timer);
    if (ss->n_conns) kiln_log(KILN_LOG_WARN, "server: drain deadline: closing %llu connections on scheduler %d",
                              (unsigned long long)ss->n_conns, ss->index);
    kiln__srv_drain_force(ss);
    sched_drain_report(ss); /* connections still running a handler end when it returns */
}

static void sched_drain(void *arg)
{
    srv_sched_t *ss = arg;
    kiln_server_t *s = ss->srv;
    if (!atomic_load(&s->freed)) sched_drain_run(ss);
    srv_unref(s);
}

static void sched_drain_run(srv_sched_t *ss)
{
    ss->draining = 1;
    if (ss->listen_fd >= 0) {
        kiln_io_stop(&ss->listen_io);
        close(ss->listen_fd);
        ss->listen_fd = -1;
    }
    kiln__srv_drain_conns(ss);
    if (ss->n_conns == 0) {
        sched_drain_report(ss);
        return;
    }
    kiln_timer_start(&ss->drain_timer, (uint64_t)ss->srv->drain_timeout_ms, on_drain_deadline);
}

void kiln_server_drain(kiln_server_t *s, int64_t timeout_ms, kiln_server_done_cb done, void *ud)
{
    if (atomic_exchange(&s->drain_started, 1)) return;
    s->drain_timeout_ms = timeout_ms < 0 ? s->conf.drain_timeout_ms : timeout_ms;
    s->drain_done = done;
    s->drain_ud = ud;
    atomic_store(&s->drain_pending, s->n_scheds);
    for (int i = 0; i < s->n_scheds; i++)
        if (srv_post(&s->scheds[i], sched_drain) < 0) sched_drain_report(&s->scheds[i]); /* cannot happen short of OOM */
}

/* ---- Free ----------------------------------------------------------------- */

void kiln_server_free(kiln_server_t *s)
{
    if (!s) return;
    atomic_store(&s->freed, 1);
    for (int i = 0; s->scheds && i < s->n_scheds; i++) {
        srv_sched_t *ss = &s->scheds[i];
        kiln__srv_conn_free_all(ss);
        if (ss->listen_fd >= 0) close(ss->listen_fd);
        pool_free(&ss->bufs, free);
        pool_free(&ss->arenas, arena_destroy_free);
        free(ss->hdrs);
        kiln_buf_free(&ss->head);
    }
    for (size_t b = 0; s->ip_table && b < s->ip_buckets; b++) {
        for (srv_ip_entry_t *e = s->ip_table[b], *n; e; e = n) {
            n = e->next;
            free(e);
        }
    }
    free(s->ip_table);
    pthread_mutex_destroy(&s->ip_lock);
    if (s->tls_ctx) kiln__tls_ctx_free(s->tls_ctx);
    free(s->bind);
    free(s->tls_cert);
    free(s->tls_key);
    srv_unref(s);
}
