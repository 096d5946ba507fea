/* Internals shared by the channel files: the socket (transport-independent
 * part), the transport seam, the channel record and the broadcast layout.
 *
 * Threading: a socket, its channels and their processes all live on one
 * scheduler (channels are spawned there), so none of this takes a lock; the
 * only cross-thread entries are PubSub broadcasts (shared, read-only),
 * kiln_socket_disconnect and the socket drainer (tasks posted to each
 * scheduler, which walk that scheduler's registry of live sockets).
 *
 * Lifetime: the socket is refcounted: one reference for its transport, one
 * per live channel process. Closing a socket detaches its channels and asks
 * their processes to exit; the memory goes when the last reference does. */
#ifndef KILN_CHANNEL_INT_H
#define KILN_CHANNEL_INT_H

#include "kiln/channel.h"
#include "kiln/pubsub.h"
#include "kiln/websocket.h"

typedef struct sock_transport {
    int abi;
    const char *name; /* "websocket", "longpoll" */
    /* Queues one frame (copied): opcode KILN_WS_TEXT (JSON) or KILN_WS_BINARY
     * (the binary serializer), on any transport. KILN_EPERM: this transport
     * cannot carry binary; KILN_ETOOBIG: the frame alone exceeds max_queue. */
    int (*send)(kiln_socket_t *s, int opcode, const void *p, size_t len);
    /* Queues a broadcast (see the layout below); takes its own reference if it keeps m. */
    int (*send_shared)(kiln_socket_t *s, kiln_pubsub_msg_t *m);
    /* Closes the connection (code: a WebSocket close code); then sock_closed. */
    void (*close)(kiln_socket_t *s, int code, const char *why);
    /* Drops the connection now, without waiting for the peer (the drain
     * deadline); then sock_closed. Harmless on a connection already gone. */
    void (*abort)(kiln_socket_t *s);
    /* Frees the transport and the socket it embeds (refs reached 0). */
    void (*free)(kiln_socket_t *s);
} sock_transport_t;

typedef struct chan_rec chan_rec_t;

/* ChannelTest's seam (channel_test.c): a channel started with hooks sends its
 * frames (pushes, replies, forwarded broadcasts, phx_close/phx_error) to
 * out() instead of a socket, reads its connect params here, and reports its
 * end through exited(), called last, after the channel's memory is gone.
 * Both run on the channel's scheduler. Owned by the test, outlives the channel. */
typedef struct chan_test_hooks {
    void (*out)(void *ud, int opcode, const void *p, size_t len); /* as sock_transport_t.send */
    void (*exited)(void *ud, int reason);
    json_t *params;
    void *ud;
} chan_test_hooks_t;

struct kiln_socket {
    const sock_transport_t *tr;
    const kiln_socket_conf_t *conf;       /* the transport's copy, defaults filled in */
    const kiln_socket_conf_t *app_conf;   /* the app's (identity for its drainer) */
    kiln_runtime_t *rt;
    kiln_sched_t *sched;
    int refs;
    unsigned closed : 1;
    unsigned drained : 1;                 /* closed by the drainer (a long-poll's closed comes later) */
    uint32_t n_chans;
    kiln_channel_t *chans;                /* joined or joining channels */
    json_t *params;                       /* connect params */
    char *id;                             /* kiln_socket_set_id, or NULL */
    kiln_socket_t *live_prev, *live_next; /* the scheduler's registry, from init to the last unref */
    char peer[48];                        /* for log lines */
};

/* A channel: the state of its process. */
struct kiln_channel {
    kiln_channel_t *next, *prev;  /* socket list, while linked */
    kiln_socket_t *sock;          /* holds a reference; NULL in ChannelTest */
    const kiln_channel_ops_t *ops;
    kiln_runtime_t *rt;
    kiln_pid_t pid;
    char *topic, *join_ref;
    char *cur_ref;                /* ref of the push being handled, until replied */
    const uint8_t *cur_bin;       /* its binary payload (borrowed from the frame), or NULL */
    size_t cur_bin_len;
    json_t *join_payload;         /* until init */
    void *state;
    unsigned linked : 1, joined : 1;
    const chan_test_hooks_t *test; /* ChannelTest, else NULL */
};

enum { CH_MSG_IN = 60, CH_MSG_LEAVE = 61 };

/* Broadcast payload (PubSub data), built once per broadcast:
 *   [0..4)   json_len (native u32)
 *   [4]      ws_len: the WebSocket header length
 *   [5..15)  the header, right-aligned so that it ends where the JSON starts
 *   [15..)   the JSON text, NUL, the event name, NUL
 * A WebSocket sends data + 15 - ws_len (ws_len + json_len bytes) as is; a
 * long-poll reads the JSON; an intercepting channel reads the event. */
#define BC_JSON_OFF 15
typedef struct bc_view {
    const char *json, *event, *frame;
    size_t json_len, frame_len;
} bc_view_t;
int kiln__bc_view(const kiln_pubsub_msg_t *m, bc_view_t *v);
/* Encodes and broadcasts; from = 0 for everyone. */
int kiln__bc_send(kiln_runtime_t *rt, kiln_pid_t except, const char *topic, const char *event, const json_t *payload);

/* socket.c: the protocol, for transports. */
void kiln__sock_init(kiln_socket_t *s, const sock_transport_t *tr, const kiln_socket_conf_t *conf, json_t *params);
/* One text frame received. */
void kiln__sock_text(kiln_socket_t *s, const char *text, size_t len);
void kiln__sock_binary(kiln_socket_t *s, const uint8_t *p, size_t len);
/* The transport stopped: channels exit (the transport still holds its
 * reference and drops it with kiln__sock_unref when it has torn down). */
void kiln__sock_closed(kiln_socket_t *s);
void kiln__sock_unref(kiln_socket_t *s);
/* Sends [jr, ref, topic, event, payload] on s. */
int kiln__sock_push(kiln_socket_t *s, const char *jr, const char *ref, const char *topic, const char *event,
                    const json_t *payload);
/* The drainer's walk of this scheduler's registry (drainer.c): sockets made
 * with app_conf, which closes up to max of those still open with 1001
 * (abort: drops all of them at once). Returns the number closed; *open gets
 * how many are still open after it, *live how many are not yet freed. Runs
 * on the scheduler's thread. */
uint64_t kiln__sock_drain_here(const kiln_socket_conf_t *app_conf, uint64_t max, int abort, uint64_t *open,
                               uint64_t *live);
/* Runs the connect callback and check_origin for a transport request.
 * Returns 0, or the HTTP status to refuse with (403). *params gets the
 * connect params (owned). */
int kiln__sock_admit(kiln_conn_t *c, const kiln_socket_conf_t *conf, kiln_socket_t *s, json_t **params);
/* check_origin: true when the request has no Origin (not a browser), or one that
 * matches the Host header or the configured list. */
int kiln__sock_origin_ok(kiln_conn_t *c, const kiln_socket_conf_t *conf);
const kiln_socket_conf_t *kiln__sock_conf_defaults(const kiln_socket_conf_t *in, kiln_socket_conf_t *out);

/* channel.c */
extern const kiln_proc_ops_t kiln__chan_proc_ops;
const kiln_channel_ops_t *kiln__chan_route(const kiln_socket_conf_t *conf, const char *topic);
/* Sends an already-encoded frame (opcode as sock_transport_t.send) to the
 * channel's client (socket or test sink). */
int kiln__chan_out(kiln_channel_t *ch, int opcode, const void *p, size_t len);

#endif
