/* Channels as runtime processes: join, handle_in, handle_info, intercepted
 * broadcasts, leave and crash, and the functions a channel module calls.
 *
 * The process's state is the kiln_channel_t the socket created. init runs the
 * module's join and answers it; then each mailbox message is a client push
 * (CH_MSG_IN), a leave (CH_MSG_LEAVE), a PubSub broadcast or the module's own
 * message. A broadcast goes out as the shared pre-encoded bytes unless the
 * module intercepts its event. terminate sends phx_close (leave) or phx_error
 * (crash) while the channel is still the socket's current one for its topic,
 * and drops the channel's socket reference. */
#include "channel/channel_int.h"
#include "kiln/telemetry.h"
#include "kiln/websocket.h"

#include <stdlib.h>
#include <string.h>

/* ---- Routing ------------------------------------------------------------- */

static int pattern_match(const char *pat, const char *topic)
{
    size_t n = strlen(pat);
    if (n && pat[n - 1] == '*') return strncmp(pat, topic, n - 1) == 0;
    return strcmp(pat, topic) == 0;
}

const kiln_channel_ops_t *kiln__chan_route(const kiln_socket_conf_t *conf, const char *topic)
{
    for (size_t i = 0; i < conf->n_channels; i++)
        if (pattern_match(conf->channels[i].pattern, topic)) return conf->channels[i].ops;
    return NULL;
}

/* ---- Output -------------------------------------------------------------- */

int kiln__chan_out(kiln_channel_t *ch, int opcode, const void *p, size_t len)
{
    if (ch->test) {
        ch->test->out(ch->test->ud, opcode, p, len);
        return 0;
    }
    if (!ch->sock || !ch->linked || ch->sock->closed) return KILN_ECLOSED;
    return ch->sock->tr->send(ch->sock, opcode, p, len);
}

static int out_frame(kiln_channel_t *ch, const char *jr, const char *ref, const char *event, const json_t *payload)
{
    size_t len;
    char *t = kiln_chan_encode(jr, ref, ch->topic, event, payload, &len);
    if (!t) return KILN_EINVAL;
    int rc = kiln__chan_out(ch, KILN_WS_TEXT, t, len);
    free(t);
    return rc;
}

/* A binary push (kind 0, ref unused) or reply (kind 1) from this channel. */
static int out_binary(kiln_channel_t *ch, int kind, const char *ref, const char *event_or_status, const void *data,
                      size_t plen)
{
    size_t len;
    uint8_t *b = kiln_chan_encode_binary(kind, ch->join_ref, ref, ch->topic, event_or_status, data, plen, &len);
    if (!b) return KILN_EINVAL; /* a string over 255 bytes (or out of memory, which we cannot tell apart) */
    int rc = kiln__chan_out(ch, KILN_WS_BINARY, b, len);
    free(b);
    return rc;
}

static int reply_to(kiln_channel_t *ch, const char *ref, const char *status, json_t *response)
{
    json_t *r = response ? json_incref(response) : json_object();
    json_t *p = json_pack("{s:s, s:o}", "status", status, "response", r); /* o: p takes r */
    int rc = p ? out_frame(ch, ch->join_ref, ref, "phx_reply", p) : KILN_ENOMEM;
    json_decref(p);
    return rc;
}

/* ---- Broadcast encoding ---------------------------------------------------- */

int kiln__bc_view(const kiln_pubsub_msg_t *m, bc_view_t *v)
{
    const char *d = m->data;
    if (m->len < BC_JSON_OFF + 2) return KILN_EINVAL;
    uint32_t jl;
    memcpy(&jl, d, 4);
    uint8_t wl = (uint8_t)d[4];
    if (wl > 10 || BC_JSON_OFF + (size_t)jl + 2 > m->len) return KILN_EINVAL;
    v->json = d + BC_JSON_OFF;
    v->json_len = jl;
    v->event = v->json + jl + 1;
    v->frame = v->json - wl;
    v->frame_len = wl + (size_t)jl;
    return 0;
}

int kiln__bc_send(kiln_runtime_t *rt, kiln_pid_t except, const char *topic, const char *event, const json_t *payload)
{
    size_t jl;
    char *json = kiln_chan_encode(NULL, NULL, topic, event, payload, &jl);
    if (!json) return KILN_EINVAL;
    size_t el = strlen(event), n = BC_JSON_OFF + jl + 1 + el + 1;
    char *d = malloc(n);
    if (!d) {
        free(json);
        return KILN_ENOMEM;
    }
    uint32_t jl32 = (uint32_t)jl;
    memcpy(d, &jl32, 4);
    uint8_t hdr[10];
    size_t wl = kiln_ws_write_header(hdr, KILN_WS_TEXT, 1, jl);
    d[4] = (char)wl;
    memset(d + 5, 0, 10);
    memcpy(d + BC_JSON_OFF - wl, hdr, wl);
    memcpy(d + BC_JSON_OFF, json, jl);
    d[BC_JSON_OFF + jl] = 0;
    memcpy(d + BC_JSON_OFF + jl + 1, event, el + 1);
    free(json);
    if (kiln_telemetry_enabled("kiln.channel.broadcast")) /* one per broadcast: the frame is encoded once */
        kiln_telemetry_execute("kiln.channel.broadcast", KILN_MEASUREMENTS({ "bytes", (double)n }),
                               KILN_METADATA({ "topic", topic }, { "event", event }));
    int rc = except ? kiln_pubsub_broadcast_from(rt, except, topic, d, n) : kiln_pubsub_broadcast(rt, topic, d, n);
    free(d);
    return rc;
}

/* ---- The module's API ------------------------------------------------------ */

const char *kiln_channel_topic(const kiln_channel_t *ch) { return ch->topic; }
kiln_socket_t *kiln_channel_socket(const kiln_channel_t *ch) { return ch->sock; }
json_t *kiln_channel_params(const kiln_channel_t *ch)
{
    return ch->sock ? ch->sock->params : ch->test ? ch->test->params : NULL;
}
kiln_pid_t kiln_channel_pid(const kiln_channel_t *ch) { return ch->pid; }
kiln_runtime_t *kiln_channel_runtime(const kiln_channel_t *ch) { return ch->rt; }
void *kiln_channel_state(const kiln_channel_t *ch) { return ch->state; }
void kiln_channel_set_state(kiln_channel_t *ch, void *state) { ch->state = state; }

/* The push being handled is answered once a reply went out: a reply that
 * could not be sent leaves it open for another answer (e.g. an error). */
static int answered(kiln_channel_t *ch, int rc)
{
    if (rc == 0) {
        free(ch->cur_ref);
        ch->cur_ref = NULL;
    }
    return rc;
}

int kiln_channel_reply(kiln_channel_t *ch, const char *status, json_t *response)
{
    if (!ch->cur_ref || !status) return KILN_ESTATE; /* no push under way, or already answered */
    return answered(ch, reply_to(ch, ch->cur_ref, status, response));
}

int kiln_channel_push(kiln_channel_t *ch, const char *event, json_t *payload)
{
    return event ? out_frame(ch, ch->join_ref, NULL, event, payload) : KILN_EINVAL;
}

const uint8_t *kiln_channel_binary(const kiln_channel_t *ch, size_t *len)
{
    *len = ch->cur_bin ? ch->cur_bin_len : 0;
    return ch->cur_bin;
}

int kiln_channel_reply_binary(kiln_channel_t *ch, const char *status, const void *data, size_t len)
{
    if (!ch->cur_ref || !status) return KILN_ESTATE; /* no push under way, or already answered */
    return answered(ch, out_binary(ch, 1, ch->cur_ref, status, data, len));
}

int kiln_channel_push_binary(kiln_channel_t *ch, const char *event, const void *data, size_t len)
{
    return event ? out_binary(ch, 0, NULL, event, data, len) : KILN_EINVAL;
}

int kiln_channel_broadcast(kiln_channel_t *ch, const char *event, json_t *payload)
{
    return kiln__bc_send(ch->rt, 0, ch->topic, event, payload);
}

int kiln_channel_broadcast_from(kiln_channel_t *ch, const char *event, json_t *payload)
{
    return kiln__bc_send(ch->rt, ch->pid, ch->topic, event, payload);
}

int kiln_endpoint_broadcast(kiln_runtime_t *rt, const char *topic, const char *event, json_t *payload)
{
    return kiln__bc_send(rt, 0, topic, event, payload);
}

int kiln_channel_send_self(kiln_channel_t *ch, int tag, const void *data, size_t len)
{
    return kiln_send(ch->rt, ch->pid, kiln_msg_new(tag, data, len));
}

kiln_ref_t kiln_channel_send_after(kiln_channel_t *ch, int tag, uint64_t ms)
{
    return kiln_send_after(ch->pid, kiln_msg_new(tag, NULL, 0), ms);
}

/* ---- The process ----------------------------------------------------------- */

static int intercepted(const kiln_channel_ops_t *ops, const char *event)
{
    for (const char *const *e = ops->intercept; e && *e; e++)
        if (strcmp(*e, event) == 0) return 1;
    return 0;
}

/* The broadcast fastlane (kiln_pubsub_subscribe_fastlane): during the
 * scheduler's walk of the topic, a broadcast the module does not intercept
 * goes straight to the socket's queue as a reference to the shared frame,
 * without a mailbox hop or a process run (Phoenix fastlanes the same way).
 * Intercepted events and ChannelTest channels take the mailbox path. */
static int fastlane(kiln_proc_t *p, kiln_pubsub_msg_t *m)
{
    kiln_channel_t *ch = kiln_proc_state(p);
    bc_view_t v;
    if (!ch || ch->test || kiln__bc_view(m, &v) < 0) return 1;
    if (ch->ops->handle_out && intercepted(ch->ops, v.event)) return 1;
    if (ch->sock && ch->linked && !ch->sock->closed) ch->sock->tr->send_shared(ch->sock, m);
    return 0;
}

static int chan_init(kiln_proc_t *self, void *arg)
{
    kiln_channel_t *ch = arg;
    kiln_proc_set_state(self, ch);
    ch->pid = kiln_proc_pid(self);
    json_t *payload = ch->join_payload, *resp = NULL;
    ch->join_payload = NULL;
    int rc = ch->ops->join ? ch->ops->join(ch, ch->topic, payload, &resp) : 0;
    json_decref(payload);
    if (rc == 0 && kiln_pubsub_subscribe_fastlane(ch->topic, fastlane) < 0) rc = KILN_EINTERNAL;
    if (rc == 0) {
        ch->joined = 1;
        reply_to(ch, ch->join_ref, "ok", resp);
    } else {
        if (!resp && rc != KILN_EPERM) resp = json_pack("{s:s}", "reason", "join crashed");
        reply_to(ch, ch->join_ref, "error", resp);
        if (rc == KILN_CHANNEL_STOP) rc = KILN_EPERM;
    }
    json_decref(resp);
    return rc == 0 ? 0 : rc;
}

static int on_broadcast(kiln_channel_t *ch, kiln_pubsub_msg_t *m)
{
    bc_view_t v;
    if (kiln__bc_view(m, &v) < 0) return 0; /* not a channel broadcast: not ours to forward */
    if (ch->ops->handle_out && intercepted(ch->ops, v.event)) {
        kiln_chan_frame_t f;
        if (kiln_chan_decode(v.json, v.json_len, &f) < 0) return 0;
        int rc = ch->ops->handle_out(ch, v.event, f.payload);
        kiln_chan_frame_free(&f);
        return rc;
    }
    if (ch->test) {
        ch->test->out(ch->test->ud, KILN_WS_TEXT, v.json, v.json_len);
        return 0;
    }
    if (ch->sock && ch->linked && !ch->sock->closed) ch->sock->tr->send_shared(ch->sock, m);
    return 0;
}

static int on_in(kiln_channel_t *ch, kiln_chan_frame_t *f)
{
    free(ch->cur_ref);
    ch->cur_ref = f->ref ? strdup(f->ref) : NULL;
    json_t *payload = f->payload;
    if (!payload && f->bin) { /* a binary push: the bytes through kiln_channel_binary, their size as the payload */
        payload = f->payload = json_pack("{s:I}", "binary_size", (json_int_t)f->bin_len);
        ch->cur_bin = f->bin;
        ch->cur_bin_len = f->bin_len;
    }
    int rc = ch->ops->handle_in ? ch->ops->handle_in(ch, f->event, payload) : 0;
    free(ch->cur_ref);
    ch->cur_ref = NULL;
    ch->cur_bin = NULL; /* the frame goes with the message after this */
    ch->cur_bin_len = 0;
    return rc;
}

static int chan_handle(kiln_proc_t *self, kiln_msg_t *m)
{
    kiln_channel_t *ch = kiln_proc_state(self);
    switch (m->tag) {
    case KILN_MSG_PUBSUB:
        return on_broadcast(ch, m->data);
    case CH_MSG_IN:
        return on_in(ch, m->data);
    case CH_MSG_LEAVE: {
        kiln_chan_frame_t *f = m->data;
        reply_to(ch, f->ref, "ok", NULL);
        return KILN_PROC_STOP;
    }
    default:
        return ch->ops->handle_info ? ch->ops->handle_info(ch, m) : 0;
    }
}

static void unlink_from_socket(kiln_channel_t *ch)
{
    kiln_socket_t *s = ch->sock;
    if (!ch->linked) return;
    if (ch->prev) ch->prev->next = ch->next;
    else s->chans = ch->next;
    if (ch->next) ch->next->prev = ch->prev;
    ch->linked = 0;
    s->n_chans--;
}

static void chan_terminate(kiln_proc_t *self, int reason)
{
    kiln_channel_t *ch = kiln_proc_state(self);
    if (!ch) return;
    if (ch->ops->terminate && ch->joined) ch->ops->terminate(ch, reason);
    if (ch->joined && (ch->linked || ch->test)) {
        if (reason == 0) {
            out_frame(ch, ch->join_ref, ch->join_ref, "phx_close", NULL);
        } else {
            json_t *p = json_pack("{s:s}", "reason", "channel_crash");
            out_frame(ch, ch->join_ref, ch->join_ref, "phx_error", p);
            json_decref(p);
            kiln_log(KILN_LOG_WARN, "channel %s crashed: %s", ch->topic, kiln_strerror(reason));
        }
    }
    if (ch->sock) {
        unlink_from_socket(ch);
        kiln__sock_unref(ch->sock);
    }
    free(ch->topic);
    free(ch->join_ref);
    free(ch->cur_ref);
    json_decref(ch->join_payload);
    const chan_test_hooks_t *test = ch->test;
    free(ch);
    if (test) test->exited(test->ud, reason);
}

const kiln_proc_ops_t kiln__chan_proc_ops = {
    .abi = KILN_PROC_ABI, .init = chan_init, .handle_msg = chan_handle, .terminate = chan_terminate
};
