/* Kiln Channels: sockets, channels and their wire protocol, compatible with
 * the official `phoenix` JavaScript client (../shared/PROTOCOL.md; the client
 * source in node_modules/phoenix is the final word).
 *
 * A socket is one client connection, over WebSocket (`<mount>/websocket`) or
 * long-poll (`<mount>/longpoll`); both speak the V2 serializer
 * `[join_ref, ref, topic, event, payload]`. A socket lives on the scheduler
 * that accepted it. Each joined topic is a channel: a runtime process
 * (kiln_spawn) on the socket's scheduler, subscribed to the topic's PubSub,
 * which runs the channel module's callbacks on a borrowed stack — so they may
 * wait (kiln_call, kiln_sleep) and an idle channel owns no stack.
 *
 * Ownership: the socket owns its channels' bookkeeping; a channel's
 * user state (kiln_channel_set_state) is the module's, freed in terminate.
 * Payloads passed to callbacks are borrowed (json_t, jansson) for the call;
 * payloads passed to push/reply/broadcast are borrowed too (serialized at once).
 * All channel functions are called from the channel's own callbacks. */
#ifndef KILN_CHANNEL_H
#define KILN_CHANNEL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include "kiln/conn.h"
#include "kiln/runtime.h"

typedef struct kiln_socket kiln_socket_t;
typedef struct kiln_channel kiln_channel_t;

/* ---- Channel modules ---------------------------------------------------- */

/* join/handle_* results: 0 goes on; KILN_CHANNEL_STOP leaves normally
 * (phx_close); a negative KILN_E* crashes this channel only (phx_error, the
 * client rejoins); other channels of the socket go on. join refuses with
 * KILN_EPERM: the error reply carries *response (e.g. {"reason":"unauthorized"}). */
#define KILN_CHANNEL_STOP 1

typedef struct kiln_channel_ops {
    int abi; /* KILN_CHANNEL_ABI */
    /* Authorizes a join. *response (owned, may stay NULL = {}) is the reply. */
    int (*join)(kiln_channel_t *ch, const char *topic, json_t *payload, json_t **response);
    /* A client push. Reply with kiln_channel_reply (or not at all). */
    int (*handle_in)(kiln_channel_t *ch, const char *event, json_t *payload);
    /* The channel's own messages (kiln_channel_send_self / send_after). May be NULL. */
    int (*handle_info)(kiln_channel_t *ch, kiln_msg_t *msg);
    /* Broadcasts whose event is in `intercept`: forward with kiln_channel_push or drop. */
    int (*handle_out)(kiln_channel_t *ch, const char *event, json_t *payload);
    const char *const *intercept; /* NULL-terminated, or NULL */
    /* Once, for any end: reason 0 (leave, socket closed) or the error. May be NULL. */
    void (*terminate)(kiln_channel_t *ch, int reason);
} kiln_channel_ops_t;
#define KILN_CHANNEL_ABI 1

/* `room:*` matches every topic starting with "room:"; otherwise exact. */
typedef struct kiln_channel_route {
    const char *pattern;
    const kiln_channel_ops_t *ops;
} kiln_channel_route_t;

/* ---- Socket configuration ------------------------------------------------ */

typedef struct kiln_socket_conf {
    const kiln_channel_route_t *channels;
    size_t n_channels;
    /* Sees the connect params (query string, as a JSON object of strings).
     * Return 0 to accept (kiln_socket_set_id may name the socket), anything
     * else to refuse (WebSocket: 403; long-poll: status 403). May be NULL. */
    int (*connect)(kiln_socket_t *s, json_t *params, kiln_conn_t *conn);
    /* check_origin is on unless no_check_origin: a browser Origin must match
     * the request Host, or one of `origins` ("http://host:port", NULL-ended).
     * A request without Origin (not a browser) is allowed. */
    int no_check_origin;
    const char *const *origins;
    /* permessage-deflate (RFC 7692) is accepted when a client offers it,
     * unless no_deflate: client messages may come compressed (inflated within
     * max_message, else 1009); the server sends uncompressed frames. */
    int no_deflate;
    /* Limits; 0 takes the default. */
    uint64_t max_frame;       /* 1 MiB: a bigger frame closes 1009 before its payload is read */
    uint64_t max_message;     /* 1 MiB: the same for a reassembled message */
    size_t max_queue;         /* 1 MiB of unsent bytes: a client that stops reading is cut off;
                               * a single frame over it is not sent (KILN_ETOOBIG to the sender) */
    int64_t timeout_ms;       /* 60000: nothing received for this long closes the socket */
    int64_t longpoll_window_ms; /* 10000: a poll with nothing to say answers 204 */
    uint32_t max_channels;    /* 100 per socket: further joins are refused */
    /* The socket drainer (KILN_SOCKET_DRAINER_CHILD below), as Phoenix's:
     * sockets are closed in batches of drainer_batch_size, one batch every
     * drainer_batch_interval_ms, and whatever is still open
     * drainer_shutdown_ms after the drain began is dropped. */
    uint32_t drainer_batch_size;       /* 10000 */
    int64_t drainer_batch_interval_ms; /* 2000 */
    int64_t drainer_shutdown_ms;       /* 30000 */
} kiln_socket_conf_t;

/* Route handlers. Mount them under any prefix (conventionally /socket):
 *   KILN_GET("/socket/websocket", h) with h calling kiln_socket_websocket(c, &conf)
 *   KILN_GET and KILN_POST("/socket/longpoll", h) calling kiln_socket_longpoll(c, &conf)
 * conf must outlive the server. They answer the request themselves. */
int kiln_socket_websocket(kiln_conn_t *c, const kiln_socket_conf_t *conf);
int kiln_socket_longpoll(kiln_conn_t *c, const kiln_socket_conf_t *conf);

/* Inside connect: names the socket (e.g. "user_socket:42"); copied. */
int kiln_socket_set_id(kiln_socket_t *s, const char *id);
const char *kiln_socket_id(const kiln_socket_t *s); /* or NULL */
/* The connect params (borrowed, lives as long as the socket). */
json_t *kiln_socket_params(const kiln_socket_t *s);
/* Closes every socket named id on every scheduler (logout). Thread-safe. */
void kiln_socket_disconnect(kiln_runtime_t *rt, const char *id);

/* ---- Draining at shutdown ------------------------------------------------- */

/* The socket drainer, a child for the app's supervisor (Phoenix's socket
 * drainer). Upgraded WebSockets and long-poll sessions are not HTTP requests,
 * so the server's drain does not wait for them; this child ends them. Put it
 * LAST in kiln_app_t.children: children stop in reverse order, so it is
 * stopped first, right after the HTTP drain and while the children the
 * channels use (e.g. presence) still run:
 *
 *   static const kiln_child_spec_t children[] = {
 *       { .name = "presence", .start = kiln_presence_start },
 *       KILN_SOCKET_DRAINER_CHILD(&user_socket),
 *   };
 *
 * Stopping it drains the sockets made with conf (the same pointer the route
 * handlers take): each WebSocket gets a close frame 1001 "going away" and a
 * long-poll session ends (a waiting poll answers 410), in batches (see the
 * drainer_* fields); every channel exits (its terminate runs, presence
 * untracks it). It returns once every such socket is freed, or at the
 * drainer_shutdown_ms deadline, where the rest are dropped without a
 * handshake (logged and counted). The supervisor waits for it without a
 * limit of its own (shutdown_ms), since the drainer bounds itself. While
 * running it holds nothing; conf must outlive it. */
int kiln_socket_drainer_start(kiln_runtime_t *rt, void *conf, kiln_pid_t *out);
#define KILN_SOCKET_DRAINER_CHILD(conf)                                                                     \
    {                                                                                                       \
        .name = "socket_drainer", .start = kiln_socket_drainer_start, .arg = (void *)(conf),                \
        .restart = KILN_RESTART_PERMANENT, .shutdown_ms = 0x7fffffff                                       \
    }

/* ---- Inside a channel ---------------------------------------------------- */

const char *kiln_channel_topic(const kiln_channel_t *ch);
kiln_socket_t *kiln_channel_socket(const kiln_channel_t *ch); /* NULL in ChannelTest */
json_t *kiln_channel_params(const kiln_channel_t *ch);       /* the socket's connect params */
kiln_pid_t kiln_channel_pid(const kiln_channel_t *ch);
kiln_runtime_t *kiln_channel_runtime(const kiln_channel_t *ch);
void *kiln_channel_state(const kiln_channel_t *ch);
void kiln_channel_set_state(kiln_channel_t *ch, void *state);

/* Replies to the push being handled (handle_in), once: status "ok", "error"...
 * The push counts as answered once a reply went out (0); after a failure
 * nothing was sent and it may still be answered, e.g. with an error.
 * KILN_ESTATE: no push under way, or it was answered already. */
int kiln_channel_reply(kiln_channel_t *ch, const char *status, json_t *response);
/* Pushes an event to this channel's client only. */
int kiln_channel_push(kiln_channel_t *ch, const char *event, json_t *payload);

/* Binary payloads (Phoenix's {:binary, data}; PROTOCOL.md §3). A client
 * pushing an ArrayBuffer sends a binary frame: handle_in then gets
 * {"binary_size": n} as its payload and the bytes from kiln_channel_binary.
 * Binary replies and pushes go out as WebSocket binary frames, which the
 * client hands to receive()/on() as an ArrayBuffer; they are not available on
 * a long-poll socket (the client cannot receive binary there). */

/* Inside handle_in: the bytes of the binary push being handled (*len gets
 * their number, possibly 0), or NULL for a JSON push. Borrowed from the
 * frame: valid only until handle_in returns; copy what must outlive it. */
const uint8_t *kiln_channel_binary(const kiln_channel_t *ch, size_t *len);
/* Replies to the push being handled with status and the bytes as the
 * response (a binary reply frame); data is copied. Once per push, as
 * kiln_channel_reply: a failed reply leaves the push unanswered. Returns 0;
 * KILN_ESTATE (no push under way, or answered); KILN_EINVAL (status, or the
 * refs and topic, over 255 bytes); KILN_EPERM (a long-poll socket: binary is
 * not permitted on its transport, so answer with JSON); KILN_ETOOBIG (the
 * frame alone is over the socket's max_queue: it is not sent and the socket
 * goes on); KILN_ECLOSED; KILN_ENOMEM. */
int kiln_channel_reply_binary(kiln_channel_t *ch, const char *status, const void *data, size_t len);
/* Pushes event with the bytes as its payload to this channel's client only
 * (a binary push frame, no ref); data is copied. Errors as
 * kiln_channel_reply_binary, KILN_EINVAL also for a NULL event. */
int kiln_channel_push_binary(kiln_channel_t *ch, const char *event, const void *data, size_t len);
/* Broadcasts to every subscriber of the channel's topic (this client too), or
 * all but this channel (broadcast_from). Encoded once for all recipients. */
int kiln_channel_broadcast(kiln_channel_t *ch, const char *event, json_t *payload);
int kiln_channel_broadcast_from(kiln_channel_t *ch, const char *event, json_t *payload);
/* Broadcasts from anywhere (a controller, another process). Thread-safe. */
int kiln_endpoint_broadcast(kiln_runtime_t *rt, const char *topic, const char *event, json_t *payload);
/* A message to this channel's handle_info, now or after ms. data copied. */
int kiln_channel_send_self(kiln_channel_t *ch, int tag, const void *data, size_t len);
kiln_ref_t kiln_channel_send_after(kiln_channel_t *ch, int tag, uint64_t ms);

/* ---- Serializer (V2 JSON and binary), exposed for tests and transports ---- */

typedef struct kiln_chan_frame {
    char *join_ref, *ref, *topic, *event; /* owned (malloc); join_ref/ref may be NULL */
    json_t *payload;                      /* owned; an object for JSON frames */
    uint8_t *bin;                         /* binary payload (binary frames), owned */
    size_t bin_len;
} kiln_chan_frame_t;

/* Decodes a text frame. Returns 0 or KILN_EINVAL (not a 5-array of the right types). */
int kiln_chan_decode(const char *text, size_t len, kiln_chan_frame_t *out);
/* Decodes a binary client push (kind 0). Returns 0 or KILN_EINVAL (also for a
 * string that is not UTF-8 or holds a NUL). */
int kiln_chan_decode_binary(const uint8_t *p, size_t len, kiln_chan_frame_t *out);
void kiln_chan_frame_free(kiln_chan_frame_t *f);
/* Encodes [join_ref, ref, topic, event, payload] (NULL refs become null,
 * payload NULL becomes {}). Returns a malloc'd NUL-terminated string or NULL. */
char *kiln_chan_encode(const char *join_ref, const char *ref, const char *topic, const char *event,
                       const json_t *payload, size_t *len);
/* Binary server frames: push (kind 0), reply (1), broadcast (2). Returns a
 * malloc'd buffer or NULL (a string over 255 bytes, which its one length byte
 * cannot describe, is refused, never truncated: KILN_EINVAL semantics). */
uint8_t *kiln_chan_encode_binary(int kind, const char *join_ref, const char *ref, const char *topic,
                                 const char *event_or_status, const void *payload, size_t plen, size_t *len);
/* Decodes a binary server frame as the official client does (kinds 0, 1, 2),
 * for tests: the bytes go to bin (never NULL, even when empty); a reply
 * (kind 1) becomes event "phx_reply" with payload {"status": status}, its
 * response being bin. Returns 0 or KILN_EINVAL (as kiln_chan_decode_binary). */
int kiln_chan_decode_server_binary(const uint8_t *p, size_t len, kiln_chan_frame_t *out);

#endif
