/* Kiln ChannelTest: run a channel in-process and assert on what it sends
 * (Phoenix.ChannelTest), without a socket.
 *
 *   kiln_chtest_t *t = kiln_chtest_join(&user_socket, "room:lobby", "{}", NULL);
 *   KT_ASSERT_EQ_STR(t->join_status, "ok");
 *   int ref = kiln_chtest_push(t, "ping", "{\"n\":1}");
 *   json_t *r = kiln_chtest_assert_reply(t, ref, "ok", 1000);       // the response
 *   kiln_chtest_push(t, "shout", "{\"body\":\"hi\"}");
 *   json_t *b = kiln_chtest_assert_broadcast(t, "shout", 1000);     // on the topic
 *   json_t *p = kiln_chtest_assert_push(t, "shout", 1000);          // to this client
 *   kiln_chtest_free(t);
 *
 * The channel is a real process of the runtime ConnTest uses
 * (kiln_test_runtime, one scheduler on a background thread), started exactly
 * as a socket starts it: routed by the socket conf's patterns, its join run in
 * the process, subscribed to its topic; so it may wait (kiln_call, presence),
 * receive broadcasts and its own messages (kiln_send to t->pid). What it would
 * write to its client — replies, pushes, broadcasts it forwards, phx_close and
 * phx_error — is decoded and queued for the test instead. A second process
 * subscribed to the topic before the join records every broadcast on it.
 *
 * Assertions wait up to timeout_ms and take the first matching message out of
 * its queue (others stay, in order); the json_t they return is borrowed and
 * lives until kiln_chtest_free. They return NULL on a timeout and print what
 * was queued instead to stderr. Call everything from the test's own thread (not
 * from a scheduler of the test runtime). Presence needs its process: call
 * kiln_presence_start(kiln_test_runtime(), NULL, NULL) once first. */
#ifndef KILN_CHANNEL_TEST_H
#define KILN_CHANNEL_TEST_H

#include "kiln/channel.h"

typedef struct kiln_chtest {
    const char *join_status; /* "ok" or "error" (NULL: no join reply within 5 s) */
    json_t *join_response;   /* the join reply's response (borrowed) */
    kiln_pid_t pid;          /* the channel's process (0 when unmatched) */
} kiln_chtest_t;

/* Joins topic through conf's channel routes with a payload and connect params
 * (JSON object texts; NULL means {}), waiting for the join reply. A topic no
 * route matches answers error {"reason":"unmatched topic"}, as a socket does.
 * Never NULL (aborts on OOM, on invalid JSON, or if the runtime cannot start).
 * conf must outlive t. */
kiln_chtest_t *kiln_chtest_join(const kiln_socket_conf_t *conf, const char *topic, const char *payload,
                                const char *params);

/* A client push: returns its ref (> 0) for kiln_chtest_assert_reply, or
 * KILN_ECLOSED once the channel has ended (KILN_EINVAL: bad payload JSON). */
int kiln_chtest_push(kiln_chtest_t *t, const char *event, const char *payload);
/* A binary push (an ArrayBuffer from the client): handle_in sees
 * {"binary_size": len} and kiln_channel_binary gives a copy of data. Returns
 * its ref, or errors as kiln_chtest_push. */
int kiln_chtest_push_binary(kiln_chtest_t *t, const char *event, const void *data, size_t len);
/* phx_leave: returns its ref (the channel replies ok, then closes). */
int kiln_chtest_leave(kiln_chtest_t *t);

/* The reply to ref with this status (NULL: any); returns its response. */
json_t *kiln_chtest_assert_reply(kiln_chtest_t *t, int ref, const char *status, int64_t timeout_ms);
/* The next push of event (NULL: any) to this client; returns its payload. */
json_t *kiln_chtest_assert_push(kiln_chtest_t *t, const char *event, int64_t timeout_ms);
/* The same for binary replies (kiln_channel_reply_binary) and pushes
 * (kiln_channel_push_binary): the bytes (borrowed like the json_t above,
 * never NULL when found, even if empty), *len their number. A reply or push
 * that is there but in the other form (JSON for a binary assertion, or binary
 * for a JSON one) is taken and fails the assertion: NULL, and stderr says so. */
const uint8_t *kiln_chtest_assert_reply_binary(kiln_chtest_t *t, int ref, const char *status, int64_t timeout_ms,
                                               size_t *len);
const uint8_t *kiln_chtest_assert_push_binary(kiln_chtest_t *t, const char *event, int64_t timeout_ms, size_t *len);
/* The next broadcast of event (NULL: any) on the topic; returns its payload. */
json_t *kiln_chtest_assert_broadcast(kiln_chtest_t *t, const char *event, int64_t timeout_ms);
/* 1 when no push of event (NULL: any) arrives within timeout_ms, else 0. */
int kiln_chtest_refute_push(kiln_chtest_t *t, const char *event, int64_t timeout_ms);
/* 1 when no reply to ref arrives within timeout_ms, else 0. */
int kiln_chtest_refute_reply(kiln_chtest_t *t, int ref, int64_t timeout_ms);

/* Waits for the channel's process to end: 0 with *reason (0 normal, else the
 * error it crashed with), or KILN_ETIMEDOUT. */
int kiln_chtest_wait_exit(kiln_chtest_t *t, int64_t timeout_ms, int *reason);

/* Ends the channel as a closed socket would (terminate runs) if it still
 * runs, stops the broadcast listener, and frees t and everything it returned. */
void kiln_chtest_free(kiln_chtest_t *t);

#endif
