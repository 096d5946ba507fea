/* The long-poll transport (PROTOCOL.md §6): a session is a runtime process
 * that embeds the socket, so the HTTP requests of one client — which may land
 * on any scheduler — reach it with kiln_call, and its channels run on its
 * scheduler like a WebSocket's do.
 *
 *   GET  without a (valid) token  -> a new session: {"status":410,"token":T}
 *   GET  with T                   -> queued frames at once ({"status":200,
 *                                    "messages":[...]}), or after the poll
 *                                    window {"status":204}
 *   POST with T (ndjson frames)   -> dispatched in order: {"status":200};
 *                                    a line not starting with `[` is a
 *                                    binary push in base64
 *   a session not polled for 1.5 windows ends (its channels with it).
 * The client reads only the body's status; HTTP is always 200.
 *
 * A token is "<pid>.<secret>": the pid finds the process, the 64-bit random
 * secret (checked by the session) keeps other clients out of it. Queued frames
 * are bounded by max_queue bytes like a WebSocket's queue. */
#include "channel/channel_int.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

enum { LP_POLL = KILN_MSG_USER + 950, LP_POST, LP_TICK };

typedef struct lp_msg {
    struct lp_msg *next;
    size_t len;
    char text[];
} lp_msg_t;

typedef struct lp {
    kiln_socket_t sock; /* first: the transport's free() gets it back */
    kiln_socket_conf_t conf;
    uint64_t secret;
    kiln_pid_t pid;
    lp_msg_t *head, *tail;
    size_t queued;
    kiln_msg_t *poll;      /* a GET waiting for frames (kept), or NULL */
    kiln_ref_t poll_timer;
    kiln_ref_t tick;       /* the pending LP_TICK, cancelled on exit (a runtime timer outlives us) */
    int64_t last_seen_ms;
    unsigned ending : 1;
} lp_t;

typedef struct lp_req {
    uint64_t secret;
    size_t len;
    char body[];
} lp_req_t;

/* ---- Replies ------------------------------------------------------------------ */

static char *body_status(int status, const lp_t *l)
{
    char *b = malloc(96);
    if (b && l) snprintf(b, 96, "{\"status\":%d,\"token\":\"%" PRIx64 ".%" PRIx64 "\"}", status, l->pid, l->secret);
    else if (b) snprintf(b, 96, "{\"status\":%d}", status);
    return b;
}

static void reply_body(kiln_runtime_t *rt, const kiln_msg_t *req, char *body)
{
    kiln_reply(rt, req, kiln_msg_wrap(KILN_MSG_REPLY, body, body ? strlen(body) : 0, free));
}

/* Answers the waiting poll with everything queued (200), or 204 when empty. */
static void answer_poll(lp_t *l)
{
    kiln_msg_t *req = l->poll;
    if (!req) return;
    l->poll = NULL;
    if (l->poll_timer) kiln_cancel_timer(l->poll_timer);
    l->poll_timer = 0;
    char *body;
    if (!l->head) {
        body = body_status(204, l);
    } else {
        json_t *msgs = json_array();
        for (lp_msg_t *m = l->head, *n; m; m = n) {
            n = m->next;
            json_array_append_new(msgs, json_stringn(m->text, m->len));
            free(m);
        }
        l->head = l->tail = NULL;
        l->queued = 0;
        char token[48];
        snprintf(token, sizeof token, "%" PRIx64 ".%" PRIx64, l->pid, l->secret);
        json_t *o = json_pack("{s:i, s:s, s:o}", "status", 200, "token", token, "messages", msgs);
        body = json_dumps(o, JSON_COMPACT);
        json_decref(o);
    }
    reply_body(l->sock.rt, req, body);
    kiln_msg_free(req);
    l->last_seen_ms = kiln_loop_now_ms();
}

/* ---- The transport ---------------------------------------------------------------- */

static void lp_end(lp_t *l, const char *why)
{
    if (l->ending) return;
    l->ending = 1;
    kiln_log(KILN_LOG_INFO, "longpoll %s: session ends: %s", l->sock.peer, why);
    kiln_exit(l->sock.rt, l->pid, 0);
}

/* Queues a JSON frame. Binary ones are refused (KILN_EPERM): the client
 * reads long-poll messages as JSON text only (PROTOCOL.md §3). */
static int lp_send(kiln_socket_t *s, int opcode, const void *text, size_t len)
{
    lp_t *l = (lp_t *)s;
    if (opcode != KILN_WS_TEXT) return KILN_EPERM;
    if (l->ending) return KILN_ECLOSED;
    lp_msg_t *m = malloc(sizeof *m + len);
    if (!m) return KILN_ENOMEM;
    m->next = NULL;
    m->len = len;
    memcpy(m->text, text, len);
    if (l->tail) l->tail->next = m;
    else l->head = m;
    l->tail = m;
    l->queued += len;
    if (l->queued > l->conf.max_queue) {
        kiln_log(KILN_LOG_WARN, "longpoll %s: client not polling, %zu bytes queued: disconnecting", s->peer, l->queued);
        lp_end(l, "queue full");
        return KILN_ECLOSED;
    }
    answer_poll(l);
    return 0;
}

static int lp_send_shared(kiln_socket_t *s, kiln_pubsub_msg_t *m)
{
    bc_view_t v;
    return kiln__bc_view(m, &v) < 0 ? KILN_EINVAL : lp_send(s, KILN_WS_TEXT, v.json, v.json_len);
}

static void lp_close(kiln_socket_t *s, int code, const char *why)
{
    (void)code;
    lp_end((lp_t *)s, why ? why : "closed");
}

/* Ending the session is immediate already (its process exits). */
static void lp_abort(kiln_socket_t *s)
{
    lp_end((lp_t *)s, "drain deadline");
}

static void lp_free(kiln_socket_t *s)
{
    lp_t *l = (lp_t *)s;
    for (lp_msg_t *m = l->head, *n; m; m = n) {
        n = m->next;
        free(m);
    }
    free(l);
}

static const sock_transport_t lp_transport = {
    .abi = 1, .name = "longpoll", .send = lp_send, .send_shared = lp_send_shared, .close = lp_close, .abort = lp_abort,
    .free = lp_free
};

/* ---- The session process ------------------------------------------------------------ */

static int lp_init(kiln_proc_t *self, void *arg)
{
    lp_t *l = arg;
    kiln_proc_set_state(self, l);
    l->pid = kiln_proc_pid(self);
    kiln__sock_init(&l->sock, &lp_transport, &l->conf, l->sock.params);
    l->last_seen_ms = kiln_loop_now_ms();
    l->tick = kiln_send_after(l->pid, kiln_msg_new(LP_TICK, NULL, 0), (uint64_t)l->conf.longpoll_window_ms / 2);
    return 0;
}

/* A binary push: the client sends it base64-encoded on a line of its own
 * (PROTOCOL.md §3). A line that is not base64 is logged and skipped, as a bad
 * frame is on a WebSocket; the session goes on. */
static void on_binary_line(lp_t *l, const char *p, size_t n)
{
    size_t cap = n / 4 * 3 + 3, len;
    uint8_t *bin = malloc(cap ? cap : 1);
    if (!bin) return;
    if (sodium_base642bin(bin, cap, p, n, NULL, &len, NULL, sodium_base64_VARIANT_ORIGINAL) == 0)
        kiln__sock_binary(&l->sock, bin, len);
    else
        kiln_log(KILN_LOG_WARN, "longpoll %s: a %zu-byte line is neither JSON nor base64: skipped", l->sock.peer, n);
    free(bin);
}

static void on_post(lp_t *l, const lp_req_t *q)
{
    const char *p = q->body, *end = q->body + q->len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end;
        if (e > p && *p == '[') kiln__sock_text(&l->sock, p, (size_t)(e - p));
        else if (e > p) on_binary_line(l, p, (size_t)(e - p));
        if (!nl) break; /* e + 1 would point past the end: not a valid pointer */
        p = nl + 1;
    }
}

static int lp_handle(kiln_proc_t *self, kiln_msg_t *m)
{
    lp_t *l = kiln_proc_state(self);
    if (m->tag == LP_TICK) {
        int64_t idle = kiln_loop_now_ms() - l->last_seen_ms;
        if (!l->poll && idle > l->conf.longpoll_window_ms * 3 / 2) return KILN_PROC_STOP; /* abandoned */
        if (l->poll && idle >= l->conf.longpoll_window_ms) answer_poll(l);                  /* window over: 204 */
        l->tick = kiln_send_after(l->pid, kiln_msg_new(LP_TICK, NULL, 0), (uint64_t)l->conf.longpoll_window_ms / 4);
        return 0;
    }
    const lp_req_t *q = m->data;
    if ((m->tag != LP_POLL && m->tag != LP_POST) || !q || q->secret != l->secret) {
        reply_body(l->sock.rt, m, body_status(410, NULL));
        return 0;
    }
    l->last_seen_ms = kiln_loop_now_ms();
    if (m->tag == LP_POST) {
        on_post(l, q);
        reply_body(l->sock.rt, m, body_status(200, NULL));
        return 0;
    }
    answer_poll(l); /* a newer poll replaces a waiting one, which gets 204 */
    kiln_msg_keep(m);
    l->poll = m;
    if (l->head) answer_poll(l);
    return 0;
}

static void lp_terminate(kiln_proc_t *self, int reason)
{
    (void)reason;
    lp_t *l = kiln_proc_state(self);
    if (!l) return;
    l->ending = 1;
    if (l->tick) kiln_cancel_timer(l->tick);
    if (l->poll) { /* the client learns on its next poll (410) */
        reply_body(l->sock.rt, l->poll, body_status(410, NULL));
        kiln_msg_free(l->poll);
        l->poll = NULL;
    }
    kiln__sock_closed(&l->sock);
    kiln__sock_unref(&l->sock);
}

static const kiln_proc_ops_t lp_ops = { .abi = KILN_PROC_ABI, .init = lp_init, .handle_msg = lp_handle, .terminate = lp_terminate };

/* ---- The HTTP side ------------------------------------------------------------------- */

/* Only requests that passed check_origin get here, so a browser's Origin is
 * echoed (never "*"): other sites cannot read a session's messages. */
static int send_body(kiln_conn_t *c, char *body)
{
    kiln_conn_put_resp_header(c, "cache-control", "no-store");
    const kiln_str_t *origin = kiln_conn_req_header(c, "origin");
    char *o = origin ? kiln_arena_strndup(c->arena, origin->ptr, origin->len) : NULL;
    if (o && kiln_conn_put_resp_header(c, "access-control-allow-origin", o) == 0)
        kiln_conn_put_resp_header(c, "vary", "origin");
    int rc = kiln_conn_json_raw(c, 200, body ? body : "{\"status\":500}");
    return rc;
}

static int new_session(kiln_conn_t *c, const kiln_socket_conf_t *conf)
{
    lp_t *l = calloc(1, sizeof *l);
    if (!l) return send_body(c, NULL);
    kiln__sock_conf_defaults(conf, &l->conf);
    l->sock.app_conf = conf;
    snprintf(l->sock.peer, sizeof l->sock.peer, "%.*s", (int)c->remote_ip.len, c->remote_ip.ptr);
    json_t *params;
    int st = kiln__sock_admit(c, &l->conf, &l->sock, &params);
    if (st || getrandom(&l->secret, sizeof l->secret, 0) != sizeof l->secret) {
        free(l->sock.id);
        free(l);
        char *b = body_status(st ? 403 : 500, NULL);
        int rc = send_body(c, b);
        free(b);
        return rc;
    }
    kiln_runtime_t *rt = kiln_sched_runtime(kiln_sched_current());
    kiln_pid_t pid;
    if (kiln_spawn(rt, NULL, &lp_ops, l, &pid) < 0) {
        json_decref(params);
        free(l->sock.id);
        free(l);
        return send_body(c, NULL);
    }
    char token[48], body[96];
    snprintf(token, sizeof token, "%" PRIx64 ".%" PRIx64, pid, l->secret); /* l belongs to the session now */
    snprintf(body, sizeof body, "{\"status\":410,\"token\":\"%s\",\"messages\":[]}", token);
    return send_body(c, body);
}

/* The token from the query (?token=) or the x-phoenix-longpoll-token header. */
static int parse_token(kiln_conn_t *c, kiln_pid_t *pid, uint64_t *secret)
{
    char tok[64] = "";
    const kiln_str_t *h = kiln_conn_req_header(c, "x-phoenix-longpoll-token");
    const char *q = c->query_string.ptr, *qe = q + c->query_string.len;
    if (h && h->len < sizeof tok) memcpy(tok, h->ptr, h->len);
    for (const char *p = q; !tok[0] && p && p < qe;) {
        const char *amp = memchr(p, '&', (size_t)(qe - p));
        const char *e = amp ? amp : qe;
        if (e - p > 6 && strncmp(p, "token=", 6) == 0 && (size_t)(e - p - 6) < sizeof tok) memcpy(tok, p + 6, (size_t)(e - p - 6));
        if (!amp) break;
        p = amp + 1;
    }
    unsigned long long a, b;
    if (!tok[0] || sscanf(tok, "%llx.%llx", &a, &b) != 2) return KILN_ENOENT;
    *pid = a;
    *secret = b;
    return 0;
}

int kiln_socket_longpoll(kiln_conn_t *c, const kiln_socket_conf_t *conf)
{
    if (!kiln__sock_origin_ok(c, conf)) { /* every request, not only the first: as for WebSocket upgrades */
        kiln_log(KILN_LOG_WARN, "longpoll: origin refused from %.*s", (int)c->remote_ip.len, c->remote_ip.ptr);
        return kiln_conn_text(c, 403, "origin not allowed\n");
    }
    kiln_runtime_t *rt = kiln_sched_runtime(kiln_sched_current());
    int post = kiln_str_eq_c(c->method_str, "POST");
    kiln_pid_t pid = 0;
    uint64_t secret = 0;
    int have = parse_token(c, &pid, &secret) == 0;
    if (!have && !post) return new_session(c, conf);
    size_t blen = post ? c->body.len : 0;
    lp_req_t *q = malloc(sizeof *q + blen + 1);
    if (!q) return send_body(c, NULL);
    q->secret = secret;
    q->len = blen;
    if (blen) memcpy(q->body, c->body.ptr, blen);
    kiln_msg_t *reply = NULL;
    int64_t wait = (conf->longpoll_window_ms ? conf->longpoll_window_ms : 10000) + 5000;
    int rc = have ? kiln_call(rt, pid, kiln_msg_wrap(post ? LP_POST : LP_POLL, q, sizeof *q, free), wait, &reply)
                  : (free(q), KILN_ENOPROC);
    if (rc < 0 || !reply || !reply->data) {
        kiln_msg_free(reply);
        if (!post) return new_session(c, conf); /* gone or unknown: a fresh session (410 + token) */
        char *b = body_status(410, NULL);
        rc = send_body(c, b);
        free(b);
        return rc;
    }
    const char *body = reply->data;
    if (!post && strncmp(body, "{\"status\":410}", 14) == 0) { /* wrong secret */
        kiln_msg_free(reply);
        return new_session(c, conf);
    }
    rc = send_body(c, (char *)body);
    kiln_msg_free(reply);
    return rc;
}
