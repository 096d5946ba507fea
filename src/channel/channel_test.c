/* ChannelTest (kiln/channel_test.h): a channel process without a socket.
 *
 * kiln_chtest_join spawns, on the test runtime's scheduler, first a listener
 * process subscribed to the topic (it records broadcasts), then the channel
 * process itself with the same kiln__chan_proc_ops a socket uses, carrying
 * ChannelTest hooks (chan_test_hooks_t, channel_int.h) instead of a socket:
 * every frame the channel would write is decoded and queued, and its end is
 * reported. Pushes and leaves reach the channel as the socket sends them
 * (CH_MSG_IN / CH_MSG_LEAVE mailbox messages carrying a decoded frame).
 *
 * Threading: hooks and the listener run on the scheduler thread; the test
 * thread waits on a condition variable. Everything queued is under t->lock.
 * Ownership: t owns its queued messages; assertions move a matched message to
 * the `taken` list so that the json_t handed out lives until kiln_chtest_free.
 * The channel's kiln_channel_t is the process's (freed in its terminate); t
 * only keeps its pid. */
#include "channel/channel_int.h"
#include "kiln/channel_test.h"
#include "kiln/test.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { M_REPLY, M_PUSH, M_BROADCAST };

typedef struct tmsg {
    struct tmsg *next;
    int kind;
    char *ref;     /* replies */
    char *name;    /* event, or the reply's status */
    json_t *payload; /* payload, or the reply's response; NULL for a binary one */
    uint8_t *bin;    /* a binary payload or response (never NULL then, even when empty), else NULL */
    size_t bin_len;
} tmsg_t;

typedef struct chtest {
    kiln_chtest_t pub;
    kiln_runtime_t *rt;
    chan_test_hooks_t hooks;
    char *topic;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    tmsg_t *queue, *taken;
    int next_ref;
    int listening, listener_done, exited, reason;
    kiln_pid_t listener;
} chtest_t;

/* ---- Queue -------------------------------------------------------------------- */

static void tmsg_free(tmsg_t *m)
{
    free(m->ref);
    free(m->name);
    json_decref(m->payload);
    free(m->bin);
    free(m);
}

static void enqueue(chtest_t *t, tmsg_t *m)
{
    pthread_mutex_lock(&t->lock);
    tmsg_t **pp = &t->queue;
    while (*pp) pp = &(*pp)->next;
    *pp = m;
    pthread_cond_broadcast(&t->cond);
    pthread_mutex_unlock(&t->lock);
}

/* The channel's output: a reply (phx_reply with a ref) or a push, JSON or
 * binary; a binary one keeps its bytes in m->bin, decoded as the client would. */
static void hook_out(void *ud, int opcode, const void *p, size_t len)
{
    chtest_t *t = ud;
    kiln_chan_frame_t f;
    int rc = opcode == KILN_WS_BINARY ? kiln_chan_decode_server_binary(p, len, &f) : kiln_chan_decode(p, len, &f);
    if (rc < 0) return;
    tmsg_t *m = calloc(1, sizeof *m);
    if (!m) return kiln_chan_frame_free(&f);
    if (strcmp(f.event, "phx_reply") == 0 && f.ref) {
        m->kind = M_REPLY;
        m->ref = f.ref;
        f.ref = NULL;
        const char *st = json_string_value(json_object_get(f.payload, "status"));
        m->name = strdup(st ? st : "");
        m->payload = json_incref(json_object_get(f.payload, "response"));
    } else {
        m->kind = M_PUSH;
        m->name = f.event;
        f.event = NULL;
        m->payload = json_incref(f.payload);
    }
    m->bin = f.bin;
    m->bin_len = f.bin_len;
    f.bin = NULL;
    kiln_chan_frame_free(&f);
    enqueue(t, m);
}

static void hook_exited(void *ud, int reason)
{
    chtest_t *t = ud;
    pthread_mutex_lock(&t->lock);
    t->exited = 1;
    t->reason = reason;
    pthread_cond_broadcast(&t->cond);
    pthread_mutex_unlock(&t->lock);
}

/* ---- The broadcast listener --------------------------------------------------- */

static int listen_init(kiln_proc_t *self, void *arg)
{
    chtest_t *t = arg;
    kiln_proc_set_state(self, t);
    int rc = kiln_pubsub_subscribe(t->topic);
    pthread_mutex_lock(&t->lock);
    t->listening = rc == 0 ? 1 : -1;
    pthread_cond_broadcast(&t->cond);
    pthread_mutex_unlock(&t->lock);
    return rc;
}

static int listen_msg(kiln_proc_t *self, kiln_msg_t *msg)
{
    chtest_t *t = kiln_proc_state(self);
    bc_view_t v;
    kiln_chan_frame_t f;
    if (msg->tag != KILN_MSG_PUBSUB || kiln__bc_view(msg->data, &v) < 0) return 0;
    if (kiln_chan_decode(v.json, v.json_len, &f) < 0) return 0;
    tmsg_t *m = calloc(1, sizeof *m);
    if (m) {
        m->kind = M_BROADCAST;
        m->name = f.event;
        f.event = NULL;
        m->payload = json_incref(f.payload);
        enqueue(t, m);
    }
    kiln_chan_frame_free(&f);
    return 0;
}

static void listen_terminate(kiln_proc_t *self, int reason)
{
    (void)reason;
    chtest_t *t = kiln_proc_state(self);
    if (!t) return;
    pthread_mutex_lock(&t->lock);
    t->listener_done = 1;
    if (t->listening == 0) t->listening = -1;
    pthread_cond_broadcast(&t->cond);
    pthread_mutex_unlock(&t->lock);
}

static const kiln_proc_ops_t listen_ops = {
    .abi = KILN_PROC_ABI, .init = listen_init, .handle_msg = listen_msg, .terminate = listen_terminate
};

/* ---- Waiting -------------------------------------------------------------------- */

static struct timespec deadline(int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

/* Waits (t->lock held) until *flag != 0 or the deadline; returns *flag. */
static int wait_flag(chtest_t *t, const int *flag, const struct timespec *until)
{
    while (!*flag && pthread_cond_timedwait(&t->cond, &t->lock, until) == 0) {}
    return *flag;
}

static int matches(const tmsg_t *m, int kind, const char *ref, const char *name)
{
    return m->kind == kind && (!ref || (m->ref && strcmp(m->ref, ref) == 0)) && (!name || strcmp(m->name, name) == 0);
}

/* Takes the first queued message matching (kind, ref, name) within ms. */
static tmsg_t *take(chtest_t *t, int kind, const char *ref, const char *name, int64_t ms)
{
    struct timespec until = deadline(ms);
    pthread_mutex_lock(&t->lock);
    tmsg_t *found = NULL;
    for (int last = 0;;) { /* after a timeout, one last look */
        for (tmsg_t **pp = &t->queue; *pp; pp = &(*pp)->next)
            if (matches(*pp, kind, ref, name)) {
                found = *pp;
                *pp = found->next;
                found->next = t->taken;
                t->taken = found;
                break;
            }
        if (found || last) break;
        last = pthread_cond_timedwait(&t->cond, &t->lock, &until) != 0;
    }
    pthread_mutex_unlock(&t->lock);
    return found;
}

static void report_missing(chtest_t *t, const char *what, const char *name)
{
    static const char *const kinds[] = { "reply", "push", "broadcast" };
    pthread_mutex_lock(&t->lock);
    fprintf(stderr, "kiln_chtest: no %s %s on %s; queued:", what, name ? name : "(any)", t->topic);
    if (!t->queue) fprintf(stderr, " nothing");
    for (tmsg_t *m = t->queue; m; m = m->next) {
        char *p = m->payload ? json_dumps(m->payload, JSON_COMPACT) : NULL;
        fprintf(stderr, " [%s %s%s%s ", kinds[m->kind], m->ref ? m->ref : "", m->ref ? " " : "", m->name);
        if (m->bin) fprintf(stderr, "<%zu binary bytes>]", m->bin_len);
        else fprintf(stderr, "%s]", p ? p : "null");
        free(p);
    }
    fputc('\n', stderr);
    pthread_mutex_unlock(&t->lock);
}

/* ---- Joining -------------------------------------------------------------------- */

static json_t *parse_object(const char *text)
{
    if (!text) return json_object();
    json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
    if (j && !json_is_object(j)) {
        json_decref(j);
        return NULL;
    }
    return j;
}

static void unmatched(chtest_t *t)
{
    tmsg_t *m = calloc(1, sizeof *m);
    if (!m) abort();
    m->kind = M_REPLY;
    m->ref = strdup("1");
    m->name = strdup("error");
    m->payload = json_pack("{s:s}", "reason", "unmatched topic");
    m->next = t->taken;
    t->taken = m;
    t->pub.join_status = m->name;
    t->pub.join_response = m->payload;
    t->exited = 1;
}

kiln_chtest_t *kiln_chtest_join(const kiln_socket_conf_t *conf, const char *topic, const char *payload,
                                const char *params)
{
    chtest_t *t = calloc(1, sizeof *t);
    json_t *pl = parse_object(payload), *pa = parse_object(params);
    if (!t || !pl || !pa || !(t->topic = strdup(topic))) {
        fprintf(stderr, "kiln_chtest_join: out of memory or invalid JSON\n");
        abort();
    }
    pthread_mutex_init(&t->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&t->cond, &ca);
    pthread_condattr_destroy(&ca);
    t->rt = kiln_test_runtime();
    t->hooks = (chan_test_hooks_t){ .out = hook_out, .exited = hook_exited, .params = pa, .ud = t };
    t->next_ref = 2; /* the join is ref 1 */
    kiln_sched_t *sched = kiln_sched_get(t->rt, 0);

    struct timespec until = deadline(5000);
    if (kiln_spawn(t->rt, sched, &listen_ops, t, &t->listener) < 0) abort();
    pthread_mutex_lock(&t->lock);
    int ok = wait_flag(t, &t->listening, &until) > 0;
    pthread_mutex_unlock(&t->lock);
    if (!ok) {
        fprintf(stderr, "kiln_chtest_join: the broadcast listener did not start\n");
        abort();
    }
    kiln_socket_conf_t defaults;
    const kiln_channel_ops_t *ops = kiln__chan_route(kiln__sock_conf_defaults(conf, &defaults), topic);
    if (!ops) {
        json_decref(pl);
        unmatched(t);
        return &t->pub;
    }
    kiln_channel_t *ch = calloc(1, sizeof *ch);
    if (!ch || !(ch->topic = strdup(topic)) || !(ch->join_ref = strdup("1"))) abort();
    ch->ops = ops;
    ch->rt = t->rt;
    ch->join_payload = pl;
    ch->test = &t->hooks;
    if (kiln_spawn(t->rt, sched, &kiln__chan_proc_ops, ch, &t->pub.pid) < 0) abort();
    tmsg_t *r = take(t, M_REPLY, "1", NULL, 5000);
    if (r) {
        t->pub.join_status = r->name;
        t->pub.join_response = r->payload;
    }
    return &t->pub;
}

/* ---- Pushing -------------------------------------------------------------------- */

static void free_frame(void *p)
{
    kiln_chan_frame_free(p);
    free(p);
}

/* Sends a push or leave as the socket would; payload (or, for a binary push,
 * bin with payload NULL) moves into the frame, freed here on failure. */
static int send_in(chtest_t *t, int tag, const char *event, json_t *payload, uint8_t *bin, size_t bin_len)
{
    pthread_mutex_lock(&t->lock);
    int gone = t->exited, ref = t->next_ref++;
    pthread_mutex_unlock(&t->lock);
    kiln_chan_frame_t *f = calloc(1, sizeof *f);
    char rs[16];
    snprintf(rs, sizeof rs, "%d", ref);
    if (gone || !f) {
        free(f);
        json_decref(payload);
        free(bin);
        return gone ? KILN_ECLOSED : KILN_ENOMEM;
    }
    f->join_ref = strdup("1");
    f->ref = strdup(rs);
    f->topic = strdup(t->topic);
    f->event = strdup(event);
    f->payload = payload;
    f->bin = bin;
    f->bin_len = bin_len;
    if (!f->join_ref || !f->ref || !f->topic || !f->event) {
        free_frame(f);
        return KILN_ENOMEM;
    }
    if (kiln_send(t->rt, t->pub.pid, kiln_msg_wrap(tag, f, sizeof *f, free_frame)) < 0) return KILN_ECLOSED;
    return ref;
}

int kiln_chtest_push(kiln_chtest_t *pub, const char *event, const char *payload)
{
    chtest_t *t = (chtest_t *)pub;
    json_t *p = parse_object(payload);
    if (!p || !event) {
        json_decref(p);
        return KILN_EINVAL;
    }
    return send_in(t, CH_MSG_IN, event, p, NULL, 0);
}

int kiln_chtest_push_binary(kiln_chtest_t *pub, const char *event, const void *data, size_t len)
{
    if (!event || (!data && len)) return KILN_EINVAL;
    uint8_t *bin = malloc(len ? len : 1); /* never NULL in a binary frame, even when empty (as decoded) */
    if (!bin) return KILN_ENOMEM;
    if (len) memcpy(bin, data, len);
    return send_in((chtest_t *)pub, CH_MSG_IN, event, NULL, bin, len);
}

int kiln_chtest_leave(kiln_chtest_t *pub)
{
    return send_in((chtest_t *)pub, CH_MSG_LEAVE, "phx_leave", json_object(), NULL, 0);
}

/* ---- Assertions ----------------------------------------------------------------- */

static const char *form(int binary)
{
    return binary ? "binary" : "JSON";
}

/* The reply to ref with status (NULL: any), binary or JSON as wanted. */
static tmsg_t *reply_of(chtest_t *t, int ref, const char *status, int binary, int64_t timeout_ms)
{
    char rs[16];
    snprintf(rs, sizeof rs, "%d", ref);
    tmsg_t *m = take(t, M_REPLY, rs, NULL, timeout_ms);
    if (!m) {
        report_missing(t, "reply to ref", rs);
        return NULL;
    }
    if (status && strcmp(m->name, status) != 0) {
        fprintf(stderr, "kiln_chtest: reply to ref %s on %s is %s, not %s\n", rs, t->topic, m->name, status);
        return NULL;
    }
    if (!m->bin != !binary) {
        fprintf(stderr, "kiln_chtest: reply to ref %s on %s is %s, not %s\n", rs, t->topic, form(!!m->bin),
                form(binary));
        return NULL;
    }
    return m;
}

/* The next push of event (NULL: any), binary or JSON as wanted. */
static tmsg_t *push_of(chtest_t *t, const char *event, int binary, int64_t timeout_ms)
{
    tmsg_t *m = take(t, M_PUSH, NULL, event, timeout_ms);
    if (!m) {
        report_missing(t, "push", event);
        return NULL;
    }
    if (!m->bin != !binary) {
        fprintf(stderr, "kiln_chtest: push %s on %s is %s, not %s\n", m->name, t->topic, form(!!m->bin), form(binary));
        return NULL;
    }
    return m;
}

json_t *kiln_chtest_assert_reply(kiln_chtest_t *pub, int ref, const char *status, int64_t timeout_ms)
{
    tmsg_t *m = reply_of((chtest_t *)pub, ref, status, 0, timeout_ms);
    return m ? m->payload : NULL;
}

const uint8_t *kiln_chtest_assert_reply_binary(kiln_chtest_t *pub, int ref, const char *status, int64_t timeout_ms,
                                               size_t *len)
{
    tmsg_t *m = reply_of((chtest_t *)pub, ref, status, 1, timeout_ms);
    *len = m ? m->bin_len : 0;
    return m ? m->bin : NULL;
}

json_t *kiln_chtest_assert_push(kiln_chtest_t *pub, const char *event, int64_t timeout_ms)
{
    tmsg_t *m = push_of((chtest_t *)pub, event, 0, timeout_ms);
    return m ? m->payload : NULL;
}

const uint8_t *kiln_chtest_assert_push_binary(kiln_chtest_t *pub, const char *event, int64_t timeout_ms, size_t *len)
{
    tmsg_t *m = push_of((chtest_t *)pub, event, 1, timeout_ms);
    *len = m ? m->bin_len : 0;
    return m ? m->bin : NULL;
}

json_t *kiln_chtest_assert_broadcast(kiln_chtest_t *pub, const char *event, int64_t timeout_ms)
{
    chtest_t *t = (chtest_t *)pub;
    tmsg_t *m = take(t, M_BROADCAST, NULL, event, timeout_ms);
    if (!m) report_missing(t, "broadcast", event);
    return m ? m->payload : NULL;
}

int kiln_chtest_refute_push(kiln_chtest_t *pub, const char *event, int64_t timeout_ms)
{
    return take((chtest_t *)pub, M_PUSH, NULL, event, timeout_ms) == NULL;
}

int kiln_chtest_refute_reply(kiln_chtest_t *pub, int ref, int64_t timeout_ms)
{
    char rs[16];
    snprintf(rs, sizeof rs, "%d", ref);
    return take((chtest_t *)pub, M_REPLY, rs, NULL, timeout_ms) == NULL;
}

int kiln_chtest_wait_exit(kiln_chtest_t *pub, int64_t timeout_ms, int *reason)
{
    chtest_t *t = (chtest_t *)pub;
    struct timespec until = deadline(timeout_ms);
    pthread_mutex_lock(&t->lock);
    int done = wait_flag(t, &t->exited, &until);
    if (done && reason) *reason = t->reason;
    pthread_mutex_unlock(&t->lock);
    return done ? 0 : KILN_ETIMEDOUT;
}

void kiln_chtest_free(kiln_chtest_t *pub)
{
    if (!pub) return;
    chtest_t *t = (chtest_t *)pub;
    struct timespec until = deadline(10000);
    pthread_mutex_lock(&t->lock);
    int running = !t->exited;
    pthread_mutex_unlock(&t->lock);
    if (running) kiln_exit(t->rt, t->pub.pid, 0);
    kiln_exit(t->rt, t->listener, 0);
    pthread_mutex_lock(&t->lock);
    int clean = wait_flag(t, &t->exited, &until) && wait_flag(t, &t->listener_done, &until);
    pthread_mutex_unlock(&t->lock);
    if (!clean) { /* a channel stuck in a callback: leak rather than free what it may still use */
        fprintf(stderr, "kiln_chtest_free: the channel on %s did not exit within 10 s\n", t->topic);
        return;
    }
    for (tmsg_t *lists[2] = { t->queue, t->taken }, **l = lists; l < lists + 2; l++)
        for (tmsg_t *m = *l, *n; m; m = n) {
            n = m->next;
            tmsg_free(m);
        }
    json_decref(t->hooks.params);
    pthread_cond_destroy(&t->cond);
    pthread_mutex_destroy(&t->lock);
    free(t->topic);
    free(t);
}
