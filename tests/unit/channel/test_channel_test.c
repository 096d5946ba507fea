/* ChannelTest (kiln/channel_test.h): a channel module joined in-process,
 * pushed to, and asserted on — replies, pushes, broadcasts, intercepted
 * broadcasts, its own messages, connect params, refusals, leave and crash. */
#include "kiln/channel_test.h"
#include "kiln/test.h"
#include "kiln_test.h"

#include <stdlib.h>
#include <string.h>

enum { GREET = KILN_MSG_USER + 1 };

static int room_join(kiln_channel_t *ch, const char *topic, json_t *payload, json_t **response)
{
    if (strcmp(topic, "room:forbidden") == 0) {
        *response = json_pack("{s:s}", "reason", "unauthorized");
        return KILN_EPERM;
    }
    json_t *user = json_object_get(kiln_channel_params(ch), "user_id");
    *response = json_pack("{s:O?, s:O?}", "user", user, "echo", json_object_get(payload, "hello"));
    kiln_channel_send_self(ch, GREET, NULL, 0); /* handled after the ok reply */
    return 0;
}

/* A binary push is echoed as a binary reply, then pushed back reversed;
 * a JSON one is answered JSON, and may not be answered in binary. */
static void echo_bin(kiln_channel_t *ch, json_t *payload)
{
    size_t n;
    const uint8_t *b = kiln_channel_binary(ch, &n);
    if (!b) {
        json_t *r = json_pack("{s:b}", "was_binary", 0);
        kiln_channel_reply(ch, "error", r);
        json_decref(r);
        return;
    }
    uint8_t rev[300];
    if ((size_t)json_integer_value(json_object_get(payload, "binary_size")) != n || n > sizeof rev) return;
    for (size_t i = 0; i < n; i++) rev[i] = b[n - 1 - i];
    char big[300];
    memset(big, 's', sizeof big - 1);
    big[sizeof big - 1] = 0;
    if (kiln_channel_reply_binary(ch, big, b, n) != KILN_EINVAL) return; /* a 299-byte status is refused */
    if (kiln_channel_reply_binary(ch, "ok", b, n) != 0) return;
    if (kiln_channel_reply_binary(ch, "ok", b, n) != KILN_ESTATE) return; /* once per push */
    kiln_channel_push_binary(ch, "reversed", rev, n);
}

static int room_in(kiln_channel_t *ch, const char *event, json_t *payload)
{
    if (strcmp(event, "ping") == 0) return kiln_channel_reply(ch, "ok", payload), 0;
    if (strcmp(event, "shout") == 0) return kiln_channel_broadcast(ch, "shout", payload), 0;
    if (strcmp(event, "secret") == 0) return kiln_channel_broadcast(ch, "secret", payload), 0;
    if (strcmp(event, "quiet") == 0) return 0;
    if (strcmp(event, "crash") == 0) return KILN_EINTERNAL;
    if (strcmp(event, "echo_bin") == 0) return echo_bin(ch, payload), 0;
    json_t *r = json_pack("{s:s}", "reason", "unknown event");
    kiln_channel_reply(ch, "error", r);
    json_decref(r);
    return 0;
}

static int room_info(kiln_channel_t *ch, kiln_msg_t *m)
{
    if (m->tag != GREET) return 0;
    json_t *p = json_pack("{s:s}", "msg", "welcome");
    kiln_channel_push(ch, "greeting", p);
    json_decref(p);
    return 0;
}

/* "secret" broadcasts are intercepted and forwarded redacted. */
static int room_out(kiln_channel_t *ch, const char *event, json_t *payload)
{
    (void)payload;
    json_t *p = json_pack("{s:b}", "redacted", 1);
    kiln_channel_push(ch, event, p);
    json_decref(p);
    return 0;
}

static const char *const intercepts[] = { "secret", NULL };
static const kiln_channel_ops_t room = { .abi = KILN_CHANNEL_ABI, .join = room_join, .handle_in = room_in,
                                         .handle_info = room_info, .handle_out = room_out, .intercept = intercepts };
static const kiln_channel_route_t routes[] = { { "room:*", &room } };
static const kiln_socket_conf_t sock = { .channels = routes, .n_channels = 1 };

static void test_join_reply_and_push(void)
{
    kiln_chtest_t *t = kiln_chtest_join(&sock, "room:a", "{\"hello\":\"x\"}", "{\"user_id\":\"42\"}");
    KT_ASSERT_EQ_STR(t->join_status, "ok");
    KT_ASSERT_EQ_STR(json_string_value(json_object_get(t->join_response, "user")), "42");
    KT_ASSERT_EQ_STR(json_string_value(json_object_get(t->join_response, "echo")), "x");
    json_t *g = kiln_chtest_assert_push(t, "greeting", 1000);
    KT_ASSERT(g != NULL);
    KT_ASSERT_EQ_STR(json_string_value(json_object_get(g, "msg")), "welcome");
    int ref = kiln_chtest_push(t, "ping", "{\"n\":7}");
    KT_ASSERT(ref > 0);
    json_t *r = kiln_chtest_assert_reply(t, ref, "ok", 1000);
    KT_ASSERT(r != NULL);
    KT_ASSERT_EQ_INT(json_integer_value(json_object_get(r, "n")), 7);
    ref = kiln_chtest_push(t, "nope", NULL);
    r = kiln_chtest_assert_reply(t, ref, "error", 1000);
    KT_ASSERT_EQ_STR(json_string_value(json_object_get(r, "reason")), "unknown event");
    ref = kiln_chtest_push(t, "quiet", NULL);
    KT_ASSERT(kiln_chtest_refute_reply(t, ref, 50));
    kiln_chtest_free(t);
}

static void test_broadcasts(void)
{
    kiln_chtest_t *a = kiln_chtest_join(&sock, "room:b", NULL, NULL);
    kiln_chtest_t *b = kiln_chtest_join(&sock, "room:b", NULL, NULL);
    KT_ASSERT_EQ_STR(a->join_status, "ok");
    KT_ASSERT_EQ_STR(b->join_status, "ok");
    kiln_chtest_push(a, "shout", "{\"body\":\"hi\"}");
    json_t *p = kiln_chtest_assert_broadcast(a, "shout", 1000);
    KT_ASSERT(p && strcmp(json_string_value(json_object_get(p, "body")), "hi") == 0);
    KT_ASSERT(kiln_chtest_assert_push(a, "shout", 1000) != NULL); /* the sender's client has it */
    KT_ASSERT(kiln_chtest_assert_push(b, "shout", 1000) != NULL); /* and the other subscriber's */
    KT_ASSERT(kiln_chtest_refute_push(a, "shout", 50));
    /* intercepted: handle_out rewrites it for the client; the topic carries the original */
    kiln_chtest_push(b, "secret", "{\"pin\":1234}");
    p = kiln_chtest_assert_broadcast(b, "secret", 1000);
    KT_ASSERT(p && json_integer_value(json_object_get(p, "pin")) == 1234);
    p = kiln_chtest_assert_push(a, "secret", 1000);
    KT_ASSERT(p && json_is_true(json_object_get(p, "redacted")));
    /* from outside any channel (a controller) */
    json_t *e = json_pack("{s:i}", "n", 1);
    KT_ASSERT_EQ_INT(kiln_endpoint_broadcast(kiln_test_runtime(), "room:b", "news", e), 0);
    json_decref(e);
    KT_ASSERT(kiln_chtest_assert_push(b, "news", 1000) != NULL);
    KT_ASSERT(kiln_chtest_assert_broadcast(a, "news", 1000) != NULL);
    kiln_chtest_free(a);
    kiln_chtest_free(b);
}

static void test_refused_and_unmatched(void)
{
    kiln_chtest_t *t = kiln_chtest_join(&sock, "room:forbidden", NULL, NULL);
    KT_ASSERT_EQ_STR(t->join_status, "error");
    KT_ASSERT_EQ_STR(json_string_value(json_object_get(t->join_response, "reason")), "unauthorized");
    KT_ASSERT_EQ_INT(kiln_chtest_wait_exit(t, 1000, NULL), 0);
    KT_ASSERT_EQ_INT(kiln_chtest_push(t, "ping", NULL), KILN_ECLOSED);
    kiln_chtest_free(t);
    t = kiln_chtest_join(&sock, "lobby", NULL, NULL);
    KT_ASSERT_EQ_STR(t->join_status, "error");
    KT_ASSERT_EQ_STR(json_string_value(json_object_get(t->join_response, "reason")), "unmatched topic");
    kiln_chtest_free(t);
}

static void test_leave_and_crash(void)
{
    kiln_chtest_t *t = kiln_chtest_join(&sock, "room:c", NULL, NULL);
    int ref = kiln_chtest_leave(t);
    KT_ASSERT(kiln_chtest_assert_reply(t, ref, "ok", 1000) != NULL);
    KT_ASSERT(kiln_chtest_assert_push(t, "phx_close", 1000) != NULL);
    int reason = -1;
    KT_ASSERT_EQ_INT(kiln_chtest_wait_exit(t, 1000, &reason), 0);
    KT_ASSERT_EQ_INT(reason, 0);
    kiln_chtest_free(t);

    t = kiln_chtest_join(&sock, "room:c", NULL, NULL);
    kiln_chtest_push(t, "crash", NULL);
    KT_ASSERT(kiln_chtest_assert_push(t, "phx_error", 1000) != NULL);
    KT_ASSERT_EQ_INT(kiln_chtest_wait_exit(t, 1000, &reason), 0);
    KT_ASSERT_EQ_INT(reason, KILN_EINTERNAL);
    kiln_chtest_free(t);
}

static void test_binary(void)
{
    kiln_chtest_t *t = kiln_chtest_join(&sock, "room:bin", NULL, NULL);
    KT_ASSERT_EQ_STR(t->join_status, "ok");
    KT_ASSERT(kiln_chtest_assert_push(t, "greeting", 1000) != NULL);
    uint8_t data[260];
    for (int i = 0; i < 256; i++) data[i] = (uint8_t)i;
    memcpy(data + 256, "\0\0\0\xff", 4);
    int ref = kiln_chtest_push_binary(t, "echo_bin", data, sizeof data);
    KT_ASSERT(ref > 0);
    size_t n = 0;
    const uint8_t *r = kiln_chtest_assert_reply_binary(t, ref, "ok", 1000, &n);
    KT_ASSERT(r != NULL && n == sizeof data && memcmp(r, data, n) == 0);
    const uint8_t *p = kiln_chtest_assert_push_binary(t, "reversed", 1000, &n);
    KT_ASSERT(p != NULL && n == sizeof data && p[0] == 0xff && p[4] == 0xff && p[259] == 0);
    KT_ASSERT(kiln_chtest_refute_reply(t, ref, 50)); /* the second reply was refused */

    ref = kiln_chtest_push_binary(t, "echo_bin", NULL, 0); /* empty: still binary */
    r = kiln_chtest_assert_reply_binary(t, ref, "ok", 1000, &n);
    KT_ASSERT(r != NULL && n == 0);
    KT_ASSERT(kiln_chtest_assert_push_binary(t, "reversed", 1000, &n) != NULL && n == 0);

    ref = kiln_chtest_push(t, "echo_bin", "{}"); /* JSON: kiln_channel_binary is NULL */
    json_t *e = kiln_chtest_assert_reply(t, ref, "error", 1000);
    KT_ASSERT(e && json_is_false(json_object_get(e, "was_binary")));
    ref = kiln_chtest_push_binary(t, "ping", "ab", 2); /* a JSON reply to a binary push */
    json_t *j = kiln_chtest_assert_reply(t, ref, "ok", 1000);
    KT_ASSERT(j && json_integer_value(json_object_get(j, "binary_size")) == 2);
    ref = kiln_chtest_push_binary(t, "echo_bin", "xy", 2); /* a binary reply is not a JSON one */
    KT_ASSERT(kiln_chtest_assert_reply(t, ref, "ok", 1000) == NULL);
    kiln_chtest_free(t);
}

int main(void)
{
    KT_RUN(test_join_reply_and_push);
    KT_RUN(test_broadcasts);
    KT_RUN(test_refused_and_unmatched);
    KT_RUN(test_leave_and_crash);
    KT_RUN(test_binary);
    return kt_done();
}
