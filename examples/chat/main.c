/* examples/chat: rooms, shouts and a live "who is online" list over Kiln
 * Channels, driven in the browser by the unmodified official phoenix client
 * (bundled with esbuild from node_modules at build time into
 * priv/chat/static/app.js; the page is priv/chat/static/index.html).
 *
 * This app is a contract other tools test against (issue 5 §5):
 *   socket /socket (websocket and longpoll, vsn=2.0.0); a user_id connect
 *     param is kept when present, connections without it are accepted too;
 *   room:*         joinable with any payload except room:forbidden
 *                  ({"reason":"unauthorized"}); `ping` replies ok with its
 *                  payload; `shout` broadcasts `shout` to every subscriber,
 *                  the sender included, and sends no reply; `binary_echo`
 *                  with a binary payload (an ArrayBuffer, WebSocket only)
 *                  replies ok with the same bytes as a binary reply (the
 *                  client's response is an ArrayBuffer), or error
 *                  {"reason":"too big"} when that reply frame would exceed
 *                  the socket's max_queue (1 MiB; so would a message of
 *                  exactly max_message, 1 MiB), or {"reason":"websocket
 *                  only"} over long-poll (the push arrives, base64, but the
 *                  client cannot receive binary there); with a JSON payload
 *                  it replies error {"reason":"binary only"};
 *   presence:lobby joined with {"user_id": ID} (a number becomes a string;
 *                  else the user_id connect param; else refused): tracks ID,
 *                  pushes presence_state after the ok reply, and every join
 *                  and leave goes out as presence_diff;
 *   anything else  {"reason":"unmatched topic"} (the socket answers it);
 *   on SIGTERM     after the HTTP drain, every WebSocket gets a close 1001
 *                  and every long-poll session ends (the socket drainer). */
#include "kiln/app.h"
#include "kiln/channel.h"
#include "kiln/plugs.h"
#include "kiln/presence.h"
#include "kiln/router.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { AFTER_JOIN = KILN_MSG_USER + 1 };

/* ---- room:* ---------------------------------------------------------------- */

static int room_join(kiln_channel_t *ch, const char *topic, json_t *payload, json_t **response)
{
    (void)ch;
    (void)payload;
    if (strcmp(topic, "room:forbidden") == 0) {
        *response = json_pack("{s:s}", "reason", "unauthorized");
        return KILN_EPERM;
    }
    return 0;
}

static void reply_error(kiln_channel_t *ch, const char *reason)
{
    json_t *r = json_pack("{s:s}", "reason", reason);
    kiln_channel_reply(ch, "error", r);
    json_decref(r);
}

/* Phoenix's handle_in("binary_echo", {:binary, data}, socket) ->
 * {:reply, {:ok, {:binary, data}}, socket}. A reply that cannot go out
 * leaves the push unanswered, so it can still get an error. */
static void binary_echo(kiln_channel_t *ch)
{
    size_t n;
    const uint8_t *bytes = kiln_channel_binary(ch, &n);
    if (!bytes) {
        reply_error(ch, "binary only");
        return;
    }
    int rc = kiln_channel_reply_binary(ch, "ok", bytes, n);
    if (rc == KILN_ETOOBIG) reply_error(ch, "too big");
    else if (rc == KILN_EPERM) reply_error(ch, "websocket only"); /* long-poll: the client cannot receive binary */
}

static int room_in(kiln_channel_t *ch, const char *event, json_t *payload)
{
    if (strcmp(event, "ping") == 0) return kiln_channel_reply(ch, "ok", payload), 0;
    if (strcmp(event, "shout") == 0) return kiln_channel_broadcast(ch, "shout", payload), 0;
    if (strcmp(event, "binary_echo") == 0) return binary_echo(ch), 0;
    reply_error(ch, "unknown event");
    return 0;
}

static const kiln_channel_ops_t room_channel = { .abi = KILN_CHANNEL_ABI, .join = room_join, .handle_in = room_in };

/* ---- presence:* -------------------------------------------------------------- */

/* The user id as a string: a string as is, an integer or real formatted. */
static char *user_id_of(json_t *v)
{
    char buf[64];
    if (json_is_string(v) && json_string_length(v) > 0) return strdup(json_string_value(v));
    if (json_is_integer(v)) snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v)) snprintf(buf, sizeof buf, "%g", json_real_value(v));
    else return NULL;
    return strdup(buf);
}

static int lobby_join(kiln_channel_t *ch, const char *topic, json_t *payload, json_t **response)
{
    (void)topic;
    char *id = user_id_of(json_object_get(payload, "user_id"));
    if (!id) id = user_id_of(json_object_get(kiln_channel_params(ch), "user_id"));
    if (!id) {
        *response = json_pack("{s:s}", "reason", "user_id required");
        return KILN_EPERM;
    }
    kiln_channel_set_state(ch, id);
    kiln_channel_send_self(ch, AFTER_JOIN, NULL, 0); /* runs after the ok reply went out */
    return 0;
}

static int lobby_info(kiln_channel_t *ch, kiln_msg_t *m)
{
    if (m->tag != AFTER_JOIN) return 0;
    json_t *meta = json_pack("{s:I}", "online_at", (json_int_t)time(NULL));
    int rc = kiln_presence_track(ch, kiln_channel_state(ch), meta);
    json_decref(meta);
    if (rc < 0) return rc;
    json_t *state = kiln_presence_list(kiln_channel_runtime(ch), kiln_channel_topic(ch));
    if (!state) return KILN_EINTERNAL;
    kiln_channel_push(ch, "presence_state", state);
    json_decref(state);
    return 0;
}

static int lobby_in(kiln_channel_t *ch, const char *event, json_t *payload)
{
    return room_in(ch, event, payload);
}

/* presence_diff is intercepted only for its ordering: an intercepted broadcast
 * comes through this channel's mailbox, so the diff of our own join (broadcast
 * while lobby_info waits in kiln_presence_track) goes out after the
 * presence_state that lobby_info pushes, as the contract promises, instead of
 * overtaking it on the broadcast fastlane. */
static int lobby_out(kiln_channel_t *ch, const char *event, json_t *payload)
{
    return kiln_channel_push(ch, event, payload);
}

static void lobby_terminate(kiln_channel_t *ch, int reason)
{
    (void)reason;
    free(kiln_channel_state(ch)); /* the presence process untracks us when we exit */
}

static const kiln_channel_ops_t lobby_channel = {
    .abi = KILN_CHANNEL_ABI, .join = lobby_join, .handle_in = lobby_in, .handle_info = lobby_info,
    .handle_out = lobby_out, .intercept = (const char *const[]){ "presence_diff", NULL },
    .terminate = lobby_terminate
};

/* ---- socket ------------------------------------------------------------------ */

static const kiln_channel_route_t channels[] = {
    { "room:*", &room_channel },
    { "presence:*", &lobby_channel },
};

/* Not const: configure bounds the socket drain by KILN_DRAIN_TIMEOUT. */
static kiln_socket_conf_t user_socket = { .channels = channels, .n_channels = KILN_ARRAY_LEN(channels) };

static int socket_ws(kiln_conn_t *c)
{
    return kiln_socket_websocket(c, &user_socket);
}

static int socket_lp(kiln_conn_t *c)
{
    return kiln_socket_longpoll(c, &user_socket);
}

/* ---- page and endpoint --------------------------------------------------------- */

static char static_root[4096], index_path[4200];

static int page_index(kiln_conn_t *c)
{
    kiln_conn_put_resp_header(c, "content-type", "text/html; charset=utf-8");
    return kiln_conn_send_file(c, 200, index_path, 0, 0);
}

static kiln_static_opts_t static_opts = { .at = "/static" }; /* .from set in configure */

static const kiln_plug_t endpoint_plugs[] = {
    KILN_PLUG(kiln_plug_static, &static_opts),
    KILN_PLUG(kiln_plug_request_id, NULL),
    KILN_PLUG_END
};

static const kiln_route_t routes[] = {
    KILN_GET("/", page_index, "page_index"),
    KILN_GET("/socket/websocket", socket_ws, "socket_websocket"),
    KILN_GET("/socket/longpoll", socket_lp, "socket_longpoll_get"),
    KILN_POST("/socket/longpoll", socket_lp, "socket_longpoll_post"),
};

static kiln_endpoint_t endpoint = { .name = "chat", .plugs = endpoint_plugs };

static int configure(const kiln_config_t *cfg)
{
    snprintf(static_root, sizeof static_root, "%s/static", cfg->priv_dir);
    snprintf(index_path, sizeof index_path, "%s/index.html", static_root);
    static_opts.from = static_root;
    endpoint.dev = cfg->dev;
    user_socket.drainer_shutdown_ms = cfg->drain_timeout_ms; /* the sockets' drain, after the HTTP one */
    return 0;
}

/* The drainer last: stopped first, right after the HTTP drain, so channels
 * terminate (and untrack) while presence still runs. */
static const kiln_child_spec_t children[] = {
    { .name = "presence", .start = kiln_presence_start, .restart = KILN_RESTART_PERMANENT },
    KILN_SOCKET_DRAINER_CHILD(&user_socket),
};

int main(int argc, char **argv)
{
    if (kiln_router_build(routes, KILN_ARRAY_LEN(routes), &endpoint.router) < 0) return 1;
    const kiln_app_t app = { .name = "chat", .endpoint = &endpoint, .configure = configure, .children = children,
                             .n_children = KILN_ARRAY_LEN(children) };
    int code = kiln_main(argc, argv, &app);
    kiln_router_free(endpoint.router);
    return code;
}
