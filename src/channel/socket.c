/* The socket protocol, independent of the transport: admission (connect
 * params, check_origin, the connect callback), dispatch of decoded frames
 * (heartbeat, join, leave, pushes), the channel registry of one socket, and
 * socket ids (kiln_socket_disconnect).
 *
 * Replies follow PROTOCOL.md §4 exactly: an unknown topic is answered with
 * join_ref null; a push for a topic not joined gets "unmatched topic" (a
 * leave then gets ok); a message carrying an old join_ref of a topic joined
 * again is dropped silently; a second join of a topic closes the first
 * instance (phx_close with the old join_ref, which the client ignores).
 *
 * Every live socket is kept in its scheduler's thread-local registry (a
 * socket lives on one scheduler) from kiln__sock_init to its last unref, so
 * disconnecting an id, or draining an app's sockets at shutdown (drainer.c),
 * is one posted task per scheduler and takes no lock. */
#include "channel/channel_int.h"
#include "kiln/params.h"
#include "kiln/websocket.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static _Thread_local kiln_socket_t *live; /* this scheduler's sockets, transport started and not yet freed */

/* ---- Configuration and admission ----------------------------------------- */

const kiln_socket_conf_t *kiln__sock_conf_defaults(const kiln_socket_conf_t *in, kiln_socket_conf_t *out)
{
    *out = *in;
    if (!out->max_frame) out->max_frame = 1 << 20;
    if (!out->max_message) out->max_message = 1 << 20;
    if (!out->max_queue) out->max_queue = 1 << 20;
    if (!out->timeout_ms) out->timeout_ms = 60000;
    if (!out->longpoll_window_ms) out->longpoll_window_ms = 10000;
    if (!out->max_channels) out->max_channels = 100;
    if (!out->drainer_batch_size) out->drainer_batch_size = 10000;
    if (!out->drainer_batch_interval_ms) out->drainer_batch_interval_ms = 2000;
    if (!out->drainer_shutdown_ms) out->drainer_shutdown_ms = 30000;
    return out;
}

static json_t *params_to_json(const kiln_param_t *p)
{
    if (p->kind == KILN_PARAM_STRING) return json_stringn(p->u.str.ptr, p->u.str.len);
    if (p->kind == KILN_PARAM_FILE) return json_null();
    json_t *j = p->kind == KILN_PARAM_MAP ? json_object() : json_array();
    for (const kiln_param_t *c = p->u.children; c && j; c = c->next) {
        json_t *v = params_to_json(c);
        if (p->kind == KILN_PARAM_MAP) json_object_set_new(j, c->key, v);
        else json_array_append_new(j, v);
    }
    return j;
}

/* Origin "scheme://host[:port]" against the Host header (or the list). */
int kiln__sock_origin_ok(kiln_conn_t *c, const kiln_socket_conf_t *conf)
{
    const kiln_str_t *o = kiln_conn_req_header(c, "origin");
    if (!o || conf->no_check_origin) return 1;
    for (const char *const *a = conf->origins; a && *a; a++)
        if (o->len == strlen(*a) && strncasecmp(o->ptr, *a, o->len) == 0) return 1;
    const char *sep = memmem(o->ptr, o->len, "://", 3);
    if (!sep || conf->origins) return 0;
    size_t off = (size_t)(sep + 3 - o->ptr);
    kiln_str_t host = { sep + 3, o->len - off };
    return c->host.len == host.len && strncasecmp(c->host.ptr, host.ptr, host.len) == 0;
}

int kiln__sock_admit(kiln_conn_t *c, const kiln_socket_conf_t *conf, kiln_socket_t *s, json_t **params)
{
    *params = NULL;
    if (!kiln__sock_origin_ok(c, conf)) {
        kiln_log(KILN_LOG_WARN, "socket: origin refused from %.*s", (int)c->remote_ip.len, c->remote_ip.ptr);
        return 403;
    }
    kiln_params_limits_t lim;
    kiln_params_limits_default(&lim);
    kiln_param_t *map = kiln_params_new_map(c->arena);
    if (!map || kiln_params_parse_urlencoded(c->arena, c->query_string, map, &lim) < 0) return 400;
    const char *vsn = kiln_param_str(map, "vsn");
    if (vsn && strncmp(vsn, "2.", 2) != 0) return 403; /* only the V2 serializer */
    *params = params_to_json(map);
    if (!*params) return 500;
    s->params = *params;
    if (conf->connect && conf->connect(s, *params, c) != 0) {
        json_decref(*params);
        *params = s->params = NULL;
        return 403;
    }
    return 0;
}

/* ---- Socket lifetime ------------------------------------------------------ */

void kiln__sock_init(kiln_socket_t *s, const sock_transport_t *tr, const kiln_socket_conf_t *conf, json_t *params)
{
    s->tr = tr;
    s->conf = conf;
    s->params = params;
    s->rt = kiln_sched_runtime(kiln_sched_current());
    s->sched = kiln_sched_current();
    s->refs = 1;
    s->live_next = live;
    if (live) live->live_prev = s;
    live = s;
}

int kiln_socket_set_id(kiln_socket_t *s, const char *id)
{
    if (!id || s->tr) return KILN_ESTATE; /* only during connect */
    free(s->id);
    s->id = strdup(id);
    return s->id ? 0 : KILN_ENOMEM;
}

const char *kiln_socket_id(const kiln_socket_t *s) { return s->id; }
json_t *kiln_socket_params(const kiln_socket_t *s) { return s->params; }

void kiln__sock_unref(kiln_socket_t *s)
{
    if (--s->refs > 0) return;
    if (s->live_prev) s->live_prev->live_next = s->live_next;
    else if (live == s) live = s->live_next;
    if (s->live_next) s->live_next->live_prev = s->live_prev;
    free(s->id);
    json_decref(s->params);
    s->tr->free(s);
}

/* Detaches every channel first (exit may run terminate at once, which would
 * otherwise edit the list under us), then asks each to exit. */
void kiln__sock_closed(kiln_socket_t *s)
{
    if (s->closed) return;
    s->closed = 1;
    kiln_channel_t *list = s->chans;
    s->chans = NULL;
    for (kiln_channel_t *ch = list; ch; ch = ch->next) ch->linked = 0;
    s->n_chans = 0;
    for (kiln_channel_t *ch = list, *next; ch; ch = next) {
        next = ch->next;
        kiln_exit(s->rt, ch->pid, 0);
    }
}

typedef struct disc_task {
    kiln_runtime_t *rt;
    _Atomic int left;
    char id[];
} disc_task_t;

static void disconnect_here(void *arg)
{
    disc_task_t *t = arg;
    for (kiln_socket_t *s = live, *next; s; s = next) {
        next = s->live_next; /* closing s may free it, never another socket */
        if (!s->closed && s->id && strcmp(s->id, t->id) == 0) {
            kiln_log(KILN_LOG_INFO, "socket %s: disconnected by id", t->id);
            s->tr->close(s, 1001, "disconnect");
        }
    }
    if (atomic_fetch_sub(&t->left, 1) == 1) free(t);
}

void kiln_socket_disconnect(kiln_runtime_t *rt, const char *id)
{
    int n = kiln_runtime_schedulers(rt);
    disc_task_t *t = malloc(sizeof *t + strlen(id) + 1);
    if (!t) return;
    t->rt = rt;
    atomic_store(&t->left, n);
    strcpy(t->id, id);
    for (int i = 0; i < n; i++)
        if (kiln_sched_post(kiln_sched_get(rt, i), disconnect_here, t) < 0 && atomic_fetch_sub(&t->left, 1) == 1) free(t);
}

uint64_t kiln__sock_drain_here(const kiln_socket_conf_t *app_conf, uint64_t max, int abort, uint64_t *open,
                               uint64_t *live_out)
{
    uint64_t closed = 0, still_open = 0, n = 0;
    for (kiln_socket_t *s = live, *next; s; s = next) {
        next = s->live_next; /* closing s may free it, never another socket */
        if (s->app_conf != app_conf) continue;
        int was_open = !s->closed && !s->drained;
        if (abort) {
            closed += was_open;
            s->drained = 1;
            s->tr->abort(s);
        } else if (was_open && closed < max) {
            closed++;
            s->drained = 1;
            s->tr->close(s, KILN_WS_CLOSE_GOING_AWAY, "going away");
        } else if (was_open) {
            still_open++;
        }
    }
    for (kiln_socket_t *s = live; s; s = s->live_next) n += s->app_conf == app_conf;
    *open = still_open;
    *live_out = n;
    return closed;
}

/* ---- Dispatch --------------------------------------------------------------- */

int kiln__sock_push(kiln_socket_t *s, const char *jr, const char *ref, const char *topic, const char *event,
                    const json_t *payload)
{
    size_t len;
    char *t = kiln_chan_encode(jr, ref, topic, event, payload, &len);
    if (!t) return KILN_EINVAL;
    int rc = s->closed ? KILN_ECLOSED : s->tr->send(s, KILN_WS_TEXT, t, len);
    free(t);
    return rc;
}

static void reply(kiln_socket_t *s, const char *jr, const char *ref, const char *topic, const char *status,
                  const char *reason)
{
    json_t *resp = reason ? json_pack("{s:s}", "reason", reason) : json_object();
    json_t *p = json_pack("{s:s, s:o}", "status", status, "response", resp);
    kiln__sock_push(s, jr, ref, topic, "phx_reply", p);
    json_decref(p);
}

static kiln_channel_t *find(kiln_socket_t *s, const char *topic)
{
    for (kiln_channel_t *ch = s->chans; ch; ch = ch->next)
        if (strcmp(ch->topic, topic) == 0) return ch;
    return NULL;
}

/* Shuts the current instance of a topic down for a new join. */
static void replace(kiln_socket_t *s, kiln_channel_t *old)
{
    kiln__sock_push(s, old->join_ref, old->join_ref, old->topic, "phx_close", NULL);
    if (old->prev) old->prev->next = old->next;
    else s->chans = old->next;
    if (old->next) old->next->prev = old->prev;
    old->linked = 0;
    s->n_chans--;
    kiln_exit(s->rt, old->pid, 0);
}

static void join(kiln_socket_t *s, kiln_chan_frame_t *f)
{
    const kiln_channel_ops_t *ops = kiln__chan_route(s->conf, f->topic);
    if (!ops) {
        kiln_log(KILN_LOG_INFO, "socket %s: join of unmatched topic %s", s->peer, f->topic);
        reply(s, NULL, f->ref, f->topic, "error", "unmatched topic");
        return;
    }
    kiln_channel_t *old = find(s, f->topic);
    if (old) replace(s, old);
    if (s->n_chans >= s->conf->max_channels) {
        kiln_log(KILN_LOG_WARN, "socket %s: too many channels, join of %s refused", s->peer, f->topic);
        reply(s, f->join_ref, f->ref, f->topic, "error", "too many channels joined");
        return;
    }
    kiln_channel_t *ch = calloc(1, sizeof *ch);
    if (!ch) return;
    ch->sock = s;
    ch->ops = ops;
    ch->rt = s->rt;
    ch->topic = f->topic;
    f->topic = NULL;
    ch->join_ref = strdup(f->join_ref ? f->join_ref : (f->ref ? f->ref : ""));
    ch->join_payload = f->payload;
    f->payload = NULL;
    ch->next = s->chans;
    if (s->chans) s->chans->prev = ch;
    s->chans = ch;
    ch->linked = 1;
    s->n_chans++;
    s->refs++;
    if (kiln_spawn(s->rt, s->sched, &kiln__chan_proc_ops, ch, &ch->pid) < 0) {
        reply(s, ch->join_ref, f->ref, ch->topic, "error", "join crashed");
        s->chans = ch->next;
        if (ch->next) ch->next->prev = NULL;
        s->n_chans--;
        s->refs--; /* the transport still holds one */
        free(ch->topic);
        free(ch->join_ref);
        json_decref(ch->join_payload);
        free(ch);
    }
}

static void free_frame(void *p)
{
    kiln_chan_frame_free(p);
    free(p);
}

/* A message for a joined channel goes to its mailbox (the frame moves there). */
static void to_channel(kiln_socket_t *s, kiln_channel_t *ch, int tag, kiln_chan_frame_t *f)
{
    kiln_chan_frame_t *copy = malloc(sizeof *copy);
    if (!copy) return;
    *copy = *f;
    memset(f, 0, sizeof *f);
    /* A channel already exiting drops it: the client treats an unanswered leave as done. */
    kiln_send(s->rt, ch->pid, kiln_msg_wrap(tag, copy, sizeof *copy, free_frame));
}

static void dispatch(kiln_socket_t *s, kiln_chan_frame_t *f)
{
    if (strcmp(f->topic, "phoenix") == 0 && strcmp(f->event, "heartbeat") == 0) {
        reply(s, NULL, f->ref, "phoenix", "ok", NULL);
        return;
    }
    if (strcmp(f->event, "phx_join") == 0) {
        join(s, f);
        return;
    }
    kiln_channel_t *ch = find(s, f->topic);
    int leave = strcmp(f->event, "phx_leave") == 0;
    if (!ch) {
        if (leave) reply(s, f->join_ref, f->ref, f->topic, "ok", NULL);
        else reply(s, NULL, f->ref, f->topic, "error", "unmatched topic");
        return;
    }
    if (f->join_ref && strcmp(f->join_ref, ch->join_ref) != 0) return; /* an older instance's message */
    to_channel(s, ch, leave ? CH_MSG_LEAVE : CH_MSG_IN, f);
}

void kiln__sock_text(kiln_socket_t *s, const char *text, size_t len)
{
    kiln_chan_frame_t f;
    if (kiln_chan_decode(text, len, &f) < 0) {
        kiln_log(KILN_LOG_INFO, "socket %s: malformed message dropped (%zu bytes)", s->peer, len);
        return;
    }
    dispatch(s, &f);
    kiln_chan_frame_free(&f);
}

void kiln__sock_binary(kiln_socket_t *s, const uint8_t *p, size_t len)
{
    kiln_chan_frame_t f;
    if (kiln_chan_decode_binary(p, len, &f) < 0) {
        kiln_log(KILN_LOG_INFO, "socket %s: malformed binary message dropped (%zu bytes)", s->peer, len);
        return;
    }
    dispatch(s, &f);
    kiln_chan_frame_free(&f);
}
