/* libFuzzer target, "harness B" (RELIABILITY H1): the whole HTTP/1.1
 * connection state machine (src/server/conn_io.c, respond.c) with a small app
 * behind it, not only the head parser that fuzz_http_request covers.
 *
 * Design. One runtime (one scheduler thread) and one server start once, on the
 * first input; its listening socket (loopback, ephemeral port) is never used.
 * Each input gets a fresh AF_UNIX socketpair whose server end is handed to
 * the scheduler as if accept(2) had returned it (kiln__srv_conn_accepted,
 * posted with kiln_sched_post: the existing internal entry point of
 * on_accept, so src/server needs no new seam and real connections are
 * untouched). The fuzz thread is
 * the client: it writes the input in the pieces a split schedule asks for,
 * half-closes, and reads until EOF. Why a socketpair and not TCP: thousands of
 * connections a second over loopback TCP would use up the ephemeral ports in
 * TIME_WAIT, and a socketpair also tells us exactly when the server has read a
 * piece (SIOCOUTQ reaches 0), so every split point is a real read boundary on
 * the server side, which is what the edge-triggered read logic depends on.
 * The cost is that TCP-only behaviour (RST on close with unread data) is not
 * exercised here; tests/integration covers that.
 *
 * FIN_APART: the half-close goes only once the server has read every byte.
 * A FIN that arrives together with the last bytes is noticed only at the
 * idle or header timeout (the "short read means drained" trade-off of
 * docs/adr/0004), which would look like a hang here; keeping the FIN apart
 * keeps the EOF check strict for everything else.
 *
 * Input: byte 0 is the schedule: bits 0-2 = n schedule bytes that follow,
 * bits 3-4 = scale s (a piece is 1 + (b << 2s) bytes), bit 5 = a tiny send
 * buffer on the server end (its writes park), bit 6 = do not wait for the
 * server to read each piece (pieces coalesce), bit 7 = repeat the schedule
 * over the whole payload (n=1, b=0: byte by byte). Without bit 7 the rest
 * after the scheduled pieces goes in one write. A seed is "\x00" + raw bytes.
 *
 * Checks, on everything the server wrote:
 *  - a model of the request stream, built with the same parser and chunked
 *    decoder over the whole payload (so it does not depend on the splits),
 *    says which requests are complete, rejected or cut short; every complete
 *    request gets exactly one final response, in order, nothing more, unless
 *    a response said connection: close (then it is the last byte);
 *  - a framing error or limit gets its status (4xx/5xx), connection: close,
 *    then EOF; a request that is cut short gets no final response;
 *  - each response: "HTTP/1.1 " + a 3-digit status + reason line, well-formed
 *    header lines, never both content-length and transfer-encoding, no framing
 *    header on 1xx/204/304, no body on HEAD/1xx/204/304, a complete
 *    content-length or chunked body, close-delimited only for HTTP/1.0;
 *    "100 Continue" only before the final answer to a request that asked;
 *  - connection: close whenever the request asked for it or the keep-alive
 *    request cap is reached; the body of POST /echo equals the request body
 *    and GET /chunked gives "abbccc", whatever the splits (H2 end to end);
 *  - EOF within HANG_MS: a connection that stays open is a hang, a bug; and
 *    the server frees the connection within HANG_MS of the client's close;
 *  - every PROBE_EVERY inputs: no multipart temp file left, no file
 *    descriptor leaked, and a probe GET on a fresh connection gets 200
 *    "hello" (the server keeps serving everyone else).
 * After each input the harness waits until the server has freed the
 * connection, so each run's allocations are balanced and libFuzzer's leak
 * check stays meaningful. */
#include "server/server_int.h"
#include "kiln/plugs.h"
#include "kiln/router.h"

#include <dirent.h>
#include <errno.h>
#include <linux/sockios.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define HANG_MS 5000                 /* no EOF by then: the server hangs */
#define PIECE_WAIT_MS 10             /* how long a piece may take to be read before the next goes */
#define MAX_PIECES 256               /* then the rest goes in one write */
#define OUT_MAX (64u << 20)          /* more output than this for a few KiB of input is a bug */
#define PROBE_EVERY 64
#define KEEPALIVE_MAX 64             /* conf.max_keepalive_requests */
#define BIG_LEN (48 * 1024)          /* GET /big: more than the tiny send buffer */
#define FD_SLACK 32                  /* files libFuzzer itself may have open at a check */

/* ---- The app -------------------------------------------------------------- */

static char big_body[BIG_LEN];
static char file_path[256];
static char tmp_dir[128];
static kiln_params_limits_t params_limits = {
    .max_pairs = 16, .max_depth = 4, .max_key = 64, .max_file = 1024, .max_field = 512,
};
static const kiln_params_opts_t params_opts = { .limits = &params_limits };

static int h_root(kiln_conn_t *c)
{
    return kiln_conn_text(c, 200, "hello");
}

static int h_echo(kiln_conn_t *c)
{
    return kiln_conn_send_resp(c, 200, "application/octet-stream", c->body.ptr, c->body.len);
}

/* The parsed params reach the handler; the answer only needs to be a function of them. */
static int h_form(kiln_conn_t *c)
{
    int n = 0;
    if (c->body_params && c->body_params->kind == KILN_PARAM_MAP)
        for (const kiln_param_t *p = c->body_params->u.children; p; p = p->next) n++;
    return kiln_conn_text(c, 200, kiln_arena_sprintf(c->arena, "%d", n));
}

static int h_chunked(kiln_conn_t *c)
{
    int rc = kiln_conn_send_chunked(c, 200);
    if (rc == 0) rc = kiln_conn_chunk(c, "a", 1);
    if (rc == 0) rc = kiln_conn_chunk(c, "bb", 2);
    if (rc == 0) rc = kiln_conn_chunk(c, "ccc", 3);
    if (rc == 0) rc = kiln_conn_chunk(c, NULL, 0);
    return 0; /* a client gone mid-body is not a handler error */
}

/* Parks between chunks (the park hook flushes held-back pipelined answers)
 * and leaves the body open for the server to end. */
static int h_stream(kiln_conn_t *c)
{
    if (kiln_conn_send_chunked(c, 200) < 0) return 0;
    for (int i = 0; i < 3; i++) {
        kiln_sleep(0);
        if (kiln_conn_chunk(c, "xy", 2) < 0) break;
    }
    return 0;
}

static int h_big(kiln_conn_t *c)
{
    kiln_conn_send_resp(c, 200, "application/octet-stream", big_body, sizeof big_body);
    return 0;
}

static int h_file(kiln_conn_t *c)
{
    kiln_conn_send_file(c, 200, file_path, 0, 0);
    return 0;
}

static int h_nocontent(kiln_conn_t *c)
{
    return kiln_conn_send_resp(c, 204, NULL, "ignored", 7);
}

static int h_notmod(kiln_conn_t *c)
{
    return kiln_conn_send_resp(c, 304, NULL, "ignored", 7);
}

static int h_close(kiln_conn_t *c)
{
    c->close_after = 1;
    return kiln_conn_text(c, 200, "bye");
}

static int h_path(kiln_conn_t *c)
{
    return kiln_conn_send_resp(c, 200, "text/plain", c->path.ptr, c->path.len);
}

static const kiln_route_t routes[] = {
    KILN_GET("/", h_root, "root"),
    KILN_POST("/echo", h_echo, "echo"),
    KILN_POST("/form", h_form, "form"),
    KILN_GET("/chunked", h_chunked, "chunked"),
    KILN_GET("/stream", h_stream, "stream"),
    KILN_GET("/big", h_big, "big"),
    KILN_GET("/file", h_file, "file"),
    KILN_GET("/nocontent", h_nocontent, "nocontent"),
    KILN_GET("/notmod", h_notmod, "notmod"),
    KILN_GET("/close", h_close, "close"),
    KILN_GET("/path/*rest", h_path, "path"),
};

static const kiln_plug_t plugs[] = { KILN_PLUG(kiln_plug_params, &params_opts), KILN_PLUG_END };
static kiln_endpoint_t endpoint = { .name = "fuzz", .plugs = plugs };

/* ---- The server, started once ---------------------------------------------- */

static kiln_runtime_t *rt;
static kiln_server_t *srv;
static kiln_http_limits_t limits; /* the server's, for the model */
static kiln_header_t *model_hdrs;
static int fd_base = -1;
static unsigned long n_inputs;

static void fail(const char *what, size_t at, const char *out, size_t len)
{
    fprintf(stderr, "fuzz_http_conn: %s (at output byte %zu)\n--- output (%zu bytes) ---\n%.*s\n---\n", what, at,
            len, (int)(len > 2000 ? 2000 : len), out ? out : "");
    abort();
}

/* For a hang report: what the server thinks of its connections (read
 * racily from this thread, good enough for a process about to abort). */
static void dump_conns(void)
{
    for (const srv_conn_t *c = srv->scheds[0].conns; c; c = c->next)
        fprintf(stderr, "server conn: state %d timer %d rlen %u olen %u nreq %u readable %d busy %d dead %d req %p\n",
                c->state, c->timer_kind, c->rlen, c->olen, c->nreq, c->readable, c->busy, c->dead, (void *)c->req);
}

static void *runtime_main(void *arg)
{
    kiln_runtime_run(arg);
    return NULL;
}

static char files_dir[64];

static void remove_files(void)
{
    unlink(file_path);
    rmdir(tmp_dir);
    rmdir(files_dir);
}

/* The file GET /file sends, and the directory multipart uploads go to (which
 * must be empty whenever no request runs). Removed at exit. */
static void make_files(void)
{
    char *dir = strcpy(files_dir, "/tmp/kiln-fuzz-conn-XXXXXX");
    if (!mkdtemp(dir)) abort();
    atexit(remove_files);
    snprintf(tmp_dir, sizeof tmp_dir, "%s/up", dir);
    snprintf(file_path, sizeof file_path, "%s/file.txt", dir);
    if (mkdir(tmp_dir, 0700) < 0) abort();
    FILE *f = fopen(file_path, "w");
    if (!f) abort();
    for (int i = 0; i < 300; i++) fprintf(f, "line %03d of the file\n", i);
    fclose(f);
    params_limits.tmp_dir = tmp_dir;
    memset(big_body, 'b', sizeof big_body);
}

/* Small limits, so that inputs of a few KiB reach every limit. Timeouts stay
 * long: the client always half-closes, so a connection the server keeps open
 * is a hang that HANG_MS must see, not one a timer would hide. */
static void server_start(void)
{
    kiln_log_set_level(KILN_LOG_ERROR);
    make_files();
    if (kiln_router_build(routes, KILN_ARRAY_LEN(routes), &endpoint.router) < 0) abort();
    rt = kiln_runtime_new(&(kiln_runtime_conf_t){ .schedulers = 1, .blocking_threads = 1 });
    kiln_server_conf_t conf = {
        .endpoint = &endpoint,
        .limits = { .max_request_line = 256, .max_header_bytes = 1024, .max_headers = 16, .max_body = 2048,
                    .max_chunk_ext = 64, .max_trailer_bytes = 128 },
        .max_keepalive_requests = KEEPALIVE_MAX,
    };
    if (!rt || kiln_server_start(rt, &conf, &srv) < 0) abort();
    limits = srv->conf.limits;
    model_hdrs = calloc(limits.max_headers, sizeof *model_hdrs);
    pthread_t t;
    if (pthread_create(&t, NULL, runtime_main, rt) != 0) abort();
    pthread_detach(t);
}

static void adopt(void *arg)
{
    srv_sched_t *ss = &srv->scheds[0];
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    ss->accepted++;
    kiln__srv_conn_accepted(ss, (int)(intptr_t)arg, &sa, sizeof sa);
}

/* Runs after everything the scheduler was doing: the freeing of a connection
 * that has just dropped out of n_conns included. */
static pthread_mutex_t bar_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t bar_cond = PTHREAD_COND_INITIALIZER;
static int bar_done;

static void barrier_task(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&bar_lock);
    bar_done = 1;
    pthread_cond_signal(&bar_cond);
    pthread_mutex_unlock(&bar_lock);
}

static void barrier(void)
{
    bar_done = 0;
    if (kiln_sched_post(srv->scheds[0].sched, barrier_task, NULL) < 0) abort();
    pthread_mutex_lock(&bar_lock);
    while (!bar_done) pthread_cond_wait(&bar_cond, &bar_lock);
    pthread_mutex_unlock(&bar_lock);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits until the server holds no connection, then for the scheduler to
 * finish the step that freed it. */
static void wait_server_idle(void)
{
    int64_t until = now_ms() + HANG_MS;
    kiln_server_stats_t st;
    for (kiln_server_stats(srv, &st); st.open_conns; kiln_server_stats(srv, &st)) {
        if (now_ms() > until) fail("a closed connection stays open on the server", 0, NULL, 0);
        usleep(50);
    }
    barrier();
}

/* ---- The client: deliver the pieces, collect the output -------------------- */

typedef struct pump {
    int fd;
    const char *in;
    size_t len, sent, piece_end;
    const uint8_t *sched;
    size_t n_sched, next_sched, n_pieces;
    unsigned scale, repeat, wait;
    int waiting, shut, eof;
    int64_t wait_until;
    char *out;
    size_t out_len, out_cap;
} pump_t;

static void pump_next_piece(pump_t *p)
{
    size_t n = p->len - p->sent;
    if (p->next_sched < p->n_sched && p->n_pieces < MAX_PIECES) {
        size_t want = 1 + ((size_t)p->sched[p->next_sched++] << (2 * p->scale));
        if (want < n) n = want;
        if (p->repeat && p->next_sched == p->n_sched) p->next_sched = 0;
    }
    p->n_pieces++;
    p->piece_end = p->sent + n;
}

/* Reads whatever is there; sets eof on EOF or reset (a reset comes only after
 * the data the server wrote: AF_UNIX keeps it). */
static void pump_read(pump_t *p)
{
    for (;;) {
        if (p->out_cap - p->out_len < 65536) {
            if (p->out_cap >= OUT_MAX) fail("unbounded output", p->out_len, p->out, p->out_len);
            p->out_cap = p->out_cap ? p->out_cap * 2 : 131072;
            p->out = realloc(p->out, p->out_cap);
            if (!p->out) abort();
        }
        ssize_t n = read(p->fd, p->out + p->out_len, p->out_cap - p->out_len);
        if (n > 0) {
            p->out_len += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        p->eof = 1;
        return;
    }
}

static void pump_poll(pump_t *p, short events, int timeout_us)
{
    struct pollfd pf = { .fd = p->fd, .events = events };
    struct timespec ts = { 0, (long)timeout_us * 1000 };
    if (ppoll(&pf, 1, &ts, NULL) > 0 && (pf.revents & (POLLIN | POLLHUP | POLLERR))) pump_read(p);
}

/* The server has read everything written so far. */
static int server_caught_up(const pump_t *p)
{
    int queued = 0;
    return ioctl(p->fd, SIOCOUTQ, &queued) == 0 && queued == 0;
}

static void pump_send(pump_t *p)
{
    if (p->waiting) {
        if (server_caught_up(p) || now_ms() >= p->wait_until) {
            p->waiting = 0;
            pump_next_piece(p);
        } else {
            pump_poll(p, POLLIN, 20);
        }
        return;
    }
    ssize_t n = send(p->fd, p->in + p->sent, p->piece_end - p->sent, MSG_NOSIGNAL);
    if (n > 0) {
        p->sent += (size_t)n;
        if (p->sent == p->piece_end && p->sent < p->len) {
            if (p->wait) {
                p->waiting = 1;
                p->wait_until = now_ms() + PIECE_WAIT_MS;
            } else {
                pump_next_piece(p);
            }
        }
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        pump_poll(p, POLLIN | POLLOUT, 10000);
    } else if (!(n < 0 && errno == EINTR)) {
        p->sent = p->len; /* the server closed: it reads no more */
    }
}

static void pump_run(pump_t *p)
{
    int64_t deadline = now_ms() + HANG_MS;
    pump_next_piece(p);
    while (!p->eof) {
        if (now_ms() > deadline) {
            dump_conns();
            fail("hang: no EOF from the server", p->out_len, p->out, p->out_len);
        }
        pump_read(p);
        if (p->eof) break;
        if (!p->shut && p->sent == p->len && !server_caught_up(p)) {
            pump_poll(p, POLLIN, 20); /* see FIN_APART */
            continue;
        }
        if (!p->shut && p->sent == p->len) {
            shutdown(p->fd, SHUT_WR); /* the server must answer what it got, then close */
            p->shut = 1;
        }
        if (!p->shut)
            pump_send(p);
        else
            pump_poll(p, POLLIN, 100000);
    }
}

/* ---- The model: what the server must answer --------------------------------- */

enum { M_OK, M_REJECT, M_PARTIAL };
enum { BODY_ANY, BODY_EXACT };

typedef struct expect {
    uint8_t kind;
    uint8_t is_head, version_minor, must_close, allow_100, body_check;
    int status;              /* M_REJECT: the status, 0 for any of 400/413/431 */
    const char *body;        /* BODY_EXACT: what a 200 must carry */
    size_t body_len;
} expect_t;

static int raw_eq(kiln_str_t s, const char *lit)
{
    return s.len == strlen(lit) && memcmp(s.ptr, lit, s.len) == 0;
}

/* What a complete request's 200 must carry, for the routes whose answer is known. */
static void expect_body(expect_t *e, const kiln_http_req_t *h, const char *body, size_t len)
{
    if (h->method == KILN_METHOD_POST && raw_eq(h->path, "/echo")) {
        e->body_check = BODY_EXACT;
        e->body = body;
        e->body_len = len;
    } else if (h->method == KILN_METHOD_GET && raw_eq(h->path, "/chunked")) {
        e->body_check = BODY_EXACT;
        e->body = "abbccc";
        e->body_len = 6;
    }
}

/* The chunked body at in[0..len): M_OK with *used and the decoded bytes
 * appended to dec, M_PARTIAL, or M_REJECT (decoder error or over max_body). */
static int model_chunked(const char *in, size_t len, char *dec, size_t *dec_len, size_t *used)
{
    kiln_chunked_t ch;
    kiln_chunked_init(&ch);
    size_t take = len, out = 0;
    int status = 400;
    int rc = kiln_chunked_decode(&ch, in, &take, dec + *dec_len, &out, &limits, &status);
    if (rc < 0 || out > limits.max_body) return M_REJECT;
    if (rc == 0) return M_PARTIAL;
    *used = take;
    *dec_len += out;
    return M_OK;
}

/* One request at in[0..len): fills e; returns the bytes it used, or 0 when
 * the server stops after it. */
static size_t model_one(const char *in, size_t len, size_t index, expect_t *e, char *dec, size_t *dec_len)
{
    kiln_http_req_t h = { .headers = model_hdrs };
    int status = 400;
    int rc = kiln_http_parse_request(in, len, &limits, &h, &status);
    memset(e, 0, sizeof *e);
    if (rc == KILN_EAGAIN) return e->kind = M_PARTIAL, 0;
    if (rc < 0) return e->kind = M_REJECT, e->status = status, 0;
    e->is_head = h.method == KILN_METHOD_HEAD;
    e->version_minor = (uint8_t)h.version_minor;
    e->must_close = !h.keep_alive || index + 1 >= KEEPALIVE_MAX;
    if (h.body_kind == KILN_BODY_LENGTH && h.content_length > limits.max_body)
        return e->kind = M_REJECT, e->status = 413, 0;
    e->allow_100 = h.expect_continue && h.version_minor >= 1 &&
                   (h.body_kind == KILN_BODY_CHUNKED || (h.body_kind == KILN_BODY_LENGTH && h.content_length > 0));
    size_t head = (size_t)rc, used = 0;
    const char *body = "";
    size_t body_len = 0;
    if (h.body_kind == KILN_BODY_LENGTH) {
        if (len - head < h.content_length) return e->kind = M_PARTIAL, 0;
        body = in + head;
        used = body_len = (size_t)h.content_length;
    } else if (h.body_kind == KILN_BODY_CHUNKED) {
        size_t start = *dec_len;
        e->kind = (uint8_t)model_chunked(in + head, len - head, dec, dec_len, &used);
        if (e->kind != M_OK) return 0; /* status 0: 400/431 from the decoder, or 413 */
        body = dec + start;
        body_len = *dec_len - start;
    }
    e->kind = M_OK;
    expect_body(e, &h, body, body_len);
    return e->must_close ? 0 : head + used;
}

/* Walks the whole payload the way the server reads it; returns the count. */
static size_t model_build(const char *in, size_t len, expect_t *ex, size_t max, char *dec)
{
    size_t pos = 0, n = 0, dec_len = 0;
    while (pos < len && n < max) {
        size_t used = model_one(in + pos, len - pos, n, &ex[n], dec, &dec_len);
        n++;
        if (!used) break;
        pos += used;
    }
    return n;
}

/* ---- The checker: the output against the model ------------------------------ */

typedef struct resp {
    int status;
    int close;                /* connection: close */
    const char *body;         /* in the output, or in the chunk scratch */
    size_t body_len;
    size_t end;               /* output offset after the response */
} resp_t;

typedef struct head_info {
    int n_cl, n_te, close, keep_alive;
    uint64_t cl;
    int te_chunked;
} head_info_t;

static int tchar(unsigned char ch)
{
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
           (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

static int value_ok(const char *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)v[i];
        if ((ch < 0x20 && ch != '\t') || ch == 0x7f) return 0;
    }
    return 1;
}

static int line_is(const char *v, size_t n, const char *lit)
{
    return n == strlen(lit) && strncasecmp(v, lit, n) == 0;
}

static int parse_cl(const char *v, size_t n, uint64_t *out)
{
    uint64_t x = 0;
    if (n == 0 || n > 19) return 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9') return 0;
        x = x * 10 + (uint64_t)(v[i] - '0');
    }
    *out = x;
    return 1;
}

/* One header line o[0..n) (no CRLF); returns 0 if malformed. */
static int header_line(const char *o, size_t n, head_info_t *hi)
{
    const char *colon = memchr(o, ':', n);
    if (!colon || colon == o) return 0;
    for (const char *q = o; q < colon; q++)
        if (!tchar((unsigned char)*q)) return 0;
    size_t nl = (size_t)(colon - o);
    const char *v = colon + 1;
    size_t vn = n - nl - 1;
    while (vn && (*v == ' ' || *v == '\t')) v++, vn--;
    if (!value_ok(v, vn)) return 0;
    if (line_is(o, nl, "content-length")) {
        hi->n_cl++;
        if (!parse_cl(v, vn, &hi->cl)) return 0;
    } else if (line_is(o, nl, "transfer-encoding")) {
        hi->n_te++;
        hi->te_chunked = line_is(v, vn, "chunked");
    } else if (line_is(o, nl, "connection")) {
        if (line_is(v, vn, "close")) hi->close = 1;
        else if (line_is(v, vn, "keep-alive")) hi->keep_alive = 1;
        else return 0;
    }
    return 1;
}

/* The status line and header fields of o[p..head_end); returns the status or -1. */
static int parse_head(const char *o, size_t p, size_t head_end, head_info_t *hi)
{
    const char *line = o + p, *end = o + head_end;
    const char *eol = memmem(line, (size_t)(end - line), "\r\n", 2);
    if (!eol || (size_t)(eol - line) < 13 || memcmp(line, "HTTP/1.1 ", 9) != 0 || line[12] != ' ') return -1;
    for (int i = 9; i < 12; i++)
        if (line[i] < '0' || line[i] > '9') return -1;
    int status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
    if (status < 100 || status > 599 || !value_ok(line + 13, (size_t)(eol - line - 13))) return -1;
    memset(hi, 0, sizeof *hi);
    for (line = eol + 2; line < end; line = eol + 2) {
        eol = memmem(line, (size_t)(end - line), "\r\n", 2);
        if (!eol || !header_line(line, (size_t)(eol - line), hi)) return -1;
    }
    return status;
}

/* A chunked body at o[p..n), as the server writes it (no extensions, no
 * trailers); decodes into scratch. Returns the offset after it, or 0. */
static size_t chunked_body(const char *o, size_t n, size_t p, char *scratch, size_t *len)
{
    *len = 0;
    for (;;) {
        const char *eol = memmem(o + p, n - p, "\r\n", 2);
        if (!eol || eol == o + p) return 0;
        uint64_t sz = 0;
        for (const char *q = o + p; q < eol; q++) {
            int d = *q >= '0' && *q <= '9' ? *q - '0' : *q >= 'a' && *q <= 'f' ? *q - 'a' + 10 : -1;
            if (d < 0 || sz > (UINT64_MAX >> 4)) return 0;
            sz = sz * 16 + (uint64_t)d;
        }
        p = (size_t)(eol - o) + 2;
        if (n - p < sz + 2 || memcmp(o + p + sz, "\r\n", 2) != 0) return 0;
        memcpy(scratch + *len, o + p, (size_t)sz);
        *len += (size_t)sz;
        p += (size_t)sz + 2;
        if (sz == 0) return p;
    }
}

/* Parses the response at o[p..n) to a request described by e. */
static void parse_resp(const char *o, size_t n, size_t p, const expect_t *e, char *scratch, resp_t *r)
{
    const char *hend = memmem(o + p, n - p, "\r\n\r\n", 4);
    if (!hend) fail("incomplete or missing response head", p, o, n);
    size_t head_end = (size_t)(hend - o) + 2, body_at = head_end + 2;
    head_info_t hi;
    r->status = parse_head(o, p, head_end, &hi);
    if (r->status < 0) fail("malformed response head", p, o, n);
    if (hi.n_cl > 1 || hi.n_te > 1 || (hi.n_cl && hi.n_te)) fail("content-length and transfer-encoding", p, o, n);
    if (hi.close && hi.keep_alive) fail("connection: close and keep-alive", p, o, n);
    int bodyless_status = r->status < 200 || r->status == 204 || r->status == 304;
    if (bodyless_status && (hi.n_cl || hi.n_te)) fail("framing header on 1xx/204/304", p, o, n);
    r->close = hi.close;
    r->body = "";
    r->body_len = 0;
    r->end = body_at;
    if (e->is_head || bodyless_status) return;
    if (hi.n_te) {
        if (!hi.te_chunked) fail("transfer-encoding other than chunked", p, o, n);
        r->end = chunked_body(o, n, body_at, scratch, &r->body_len);
        if (!r->end) fail("incomplete or malformed chunked response body", p, o, n);
        r->body = scratch;
    } else if (hi.n_cl) {
        if (n - body_at < hi.cl) fail("response shorter than its content-length", p, o, n);
        r->body = o + body_at;
        r->body_len = (size_t)hi.cl;
        r->end = body_at + (size_t)hi.cl;
    } else {
        if (e->version_minor != 0 || !hi.close) fail("close-delimited body outside HTTP/1.0", p, o, n);
        r->body = o + body_at;
        r->body_len = n - body_at;
        r->end = n;
    }
}

/* The final response to e (after an optional 100 Continue); returns 0 when
 * the output ended before one (allowed only for a request cut short). */
static int next_final(const char *o, size_t n, size_t *p, const expect_t *e, char *scratch, resp_t *r)
{
    for (int interim = 0;; interim++) {
        if (*p == n) return 0;
        size_t at = *p;
        parse_resp(o, n, at, e, scratch, r);
        *p = r->end;
        if (r->status >= 200) return 1;
        if (r->status != 100 || !e->allow_100 || interim) fail("unexpected 1xx response", at, o, n);
    }
}

/* Checks one final response against its request; returns 1 if it is the last. */
static int check_final(const char *o, size_t n, size_t at, const expect_t *e, const resp_t *r)
{
    if (e->kind == M_PARTIAL) fail("a final response to an incomplete request", at, o, n);
    if (e->kind == M_REJECT) {
        int ok = e->status ? r->status == e->status : (r->status == 400 || r->status == 413 || r->status == 431);
        if (!ok) fail("wrong status for a rejected request", at, o, n);
        if (!r->close) fail("rejection without connection: close", at, o, n);
    }
    if (e->must_close && !r->close) fail("connection: close missing (asked for, or keep-alive cap)", at, o, n);
    if (e->body_check == BODY_EXACT && r->status == 200 &&
        (r->body_len != e->body_len || memcmp(r->body, e->body, e->body_len) != 0))
        fail("response body differs from what the request implies", at, o, n);
    if (r->close && r->end != n) fail("bytes after a connection: close response", r->end, o, n);
    return r->close || e->kind != M_OK;
}

static void check_output(const char *o, size_t n, const expect_t *ex, size_t n_ex)
{
    char *scratch = malloc(n + 1);
    size_t p = 0, i = 0;
    for (; i < n_ex; i++) {
        size_t at = p;
        resp_t r;
        if (!next_final(o, n, &p, &ex[i], scratch, &r)) {
            if (ex[i].kind != M_PARTIAL) fail("a request got no response", at, o, n);
            break;
        }
        if (check_final(o, n, at, &ex[i], &r)) break;
    }
    if (p != n) fail("output the requests do not explain", p, o, n);
    free(scratch);
}

/* ---- Whole-server checks ---------------------------------------------------- */

static int count_dir(const char *path)
{
    DIR *d = opendir(path);
    if (!d) return -1;
    int n = 0;
    for (struct dirent *de; (de = readdir(d));)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) n++;
    closedir(d);
    return n;
}

/* One request on a fresh connection; the answer must be 200 "hello". */
static void probe(void)
{
    static const char req[] = "GET / HTTP/1.1\r\nhost: probe\r\n\r\n";
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0) abort();
    if (kiln_sched_post(srv->scheds[0].sched, adopt, (void *)(intptr_t)sv[1]) < 0) abort();
    pump_t p = { .fd = sv[0], .in = req, .len = sizeof req - 1 };
    pump_run(&p);
    close(sv[0]);
    static const char want[] = "\r\ncontent-length: 5\r\n\r\nhello";
    if (p.out_len < 15 || memcmp(p.out, "HTTP/1.1 200 ", 13) != 0 ||
        p.out_len < sizeof want - 1 || memcmp(p.out + p.out_len - (sizeof want - 1), want, sizeof want - 1) != 0)
        fail("the probe request did not get 200 hello", 0, p.out, p.out_len);
    free(p.out);
    wait_server_idle();
}

static void check_server(void)
{
    probe();
    if (count_dir(tmp_dir) != 0) fail("a multipart temp file outlived its request", 0, NULL, 0);
    int fds = count_dir("/proc/self/fd");
    if (fd_base < 0) fd_base = fds;
    if (fds > fd_base + FD_SLACK) fail("file descriptors leak", 0, NULL, 0);
}

/* ---- Entry points ------------------------------------------------------------ */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    server_start();
    check_server();
    return 0;
}

static void run_input(const char *in, size_t len, const uint8_t *sched, size_t n_sched, uint8_t flags)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0) abort();
    if (flags & 0x20) { /* the kernel rounds this up to its minimum */
        int tiny = 1;
        setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &tiny, sizeof tiny);
    }
    if (kiln_sched_post(srv->scheds[0].sched, adopt, (void *)(intptr_t)sv[1]) < 0) abort();
    pump_t p = { .fd = sv[0], .in = in, .len = len, .sched = sched, .n_sched = n_sched,
                 .scale = (flags >> 3) & 3, .wait = !(flags & 0x40), .repeat = (flags & 0x80) != 0 };
    pump_run(&p);
    close(sv[0]);

    size_t max = len / 4 + 2;
    expect_t *ex = malloc(max * sizeof *ex);
    char *dec = malloc(len + 1);
    size_t n_ex = model_build(in, len, ex, max, dec);
    check_output(p.out ? p.out : "", p.out_len, ex, n_ex);
    free(ex);
    free(dec);
    free(p.out);
    wait_server_idle();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    size_t n_sched = data[0] & 7;
    if (size < 1 + n_sched) return 0;
    run_input((const char *)data + 1 + n_sched, size - 1 - n_sched, data + 1, n_sched, data[0]);
    if (++n_inputs % PROBE_EVERY == 0) check_server();
    return 0;
}
