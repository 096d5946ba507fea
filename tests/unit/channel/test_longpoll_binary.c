/* Binary on a long-poll socket. The client sends a binary push as a base64
 * line of the POST body, and handle_in gets its bytes; it cannot receive
 * binary there (PROTOCOL.md §3), so kiln_channel_reply_binary and
 * kiln_channel_push_binary return KILN_EPERM, send nothing, and leave the
 * push open for a JSON answer. Raw HTTP against a real server: a session,
 * a join and pushes in one POST, then polls until the replies arrive. */
#include "kiln_server_test.h"
#include "kiln_test.h"

#include "kiln/channel.h"

#include <sodium.h>

/* Answers `bin` with the codes the binary calls returned, as JSON. */
static int room_in(kiln_channel_t *ch, const char *event, json_t *payload)
{
    (void)payload;
    if (strcmp(event, "size") == 0) { /* a binary push: answer with what arrived */
        size_t n;
        const uint8_t *b = kiln_channel_binary(ch, &n);
        json_t *r = json_pack("{s:b, s:i, s:i}", "binary", b != NULL, "size", (int)n, "last", n ? b[n - 1] : -1);
        kiln_channel_reply(ch, "ok", r);
        json_decref(r);
        return 0;
    }
    if (strcmp(event, "bin") != 0) return 0;
    int push = kiln_channel_push_binary(ch, "blob", "\x00\xff", 2);
    int reply = kiln_channel_reply_binary(ch, "ok", "\x01", 1);
    json_t *r = json_pack("{s:i, s:i}", "push", push, "reply", reply);
    kiln_channel_reply(ch, "ok", r);
    json_decref(r);
    return 0;
}

static const kiln_channel_ops_t room = { .abi = KILN_CHANNEL_ABI, .handle_in = room_in };
static const kiln_channel_route_t routes_ch[] = { { "room:*", &room } };
static const kiln_socket_conf_t sconf = { .channels = routes_ch, .n_channels = 1 };

static int h_lp(kiln_conn_t *c)
{
    return kiln_socket_longpoll(c, &sconf);
}

static const kiln_route_t routes[] = { KILN_GET("/socket/longpoll", h_lp, "lp_get"),
                                       KILN_POST("/socket/longpoll", h_lp, "lp_post") };

/* One long-poll request; returns its JSON body (owned) or NULL. */
static json_t *lp_request(int port, const char *method, const char *token, const char *body)
{
    char req[1024];
    snprintf(req, sizeof req,
             "%s /socket/longpoll?vsn=2.0.0%s%s HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-ndjson\r\n"
             "content-length: %zu\r\nconnection: close\r\n\r\n%s",
             method, token ? "&token=" : "", token ? token : "", body ? strlen(body) : 0, body ? body : "");
    kst_resp_t r;
    int st = kst_roundtrip(port, req, &r);
    if (st < 0) return NULL;
    json_t *j = st == 200 ? json_loads(r.body, 0, NULL) : NULL; /* long-poll answers 200, the status in the body */
    kst_resp_free(&r);
    return j;
}

/* The response of f if it is a reply to ref (owned), else NULL. */
static json_t *reply_to_ref(json_t *f, const char *ref)
{
    json_t *r = json_array_get(f, 1);
    if (!json_is_string(r) || strcmp(json_string_value(r), ref) != 0) return NULL;
    return json_incref(json_object_get(json_array_get(f, 4), "response"));
}

/* Polls until the replies to refs[0..n) have all come (a poll may carry
 * several); out[i] is the response to refs[i] (owned), NULL if it never came. */
static void poll_replies(int port, const char *token, const char *const *refs, json_t **out, size_t n)
{
    size_t got = 0;
    for (size_t i = 0; i < n; i++) out[i] = NULL;
    for (int round = 0; round < 20 && got < n; round++) {
        json_t *b = lp_request(port, "GET", token, NULL), *m;
        size_t k;
        json_array_foreach(json_object_get(b, "messages"), k, m)
        {
            json_t *f = json_loads(json_string_value(m), 0, NULL);
            for (size_t i = 0; i < n; i++)
                if (!out[i] && (out[i] = reply_to_ref(f, refs[i]))) got++;
            json_decref(f);
        }
        json_decref(b);
    }
}

static kst_server_t srv; /* one server for both tests: sessions are apart by token */

static void test_binary_refused_on_longpoll(void)
{
    json_t *hello = lp_request(srv.port, "GET", NULL, NULL);
    const char *token = json_string_value(json_object_get(hello, "token"));
    KT_ASSERT(token != NULL);
    json_t *posted = lp_request(srv.port, "POST", token,
                                "[\"1\",\"1\",\"room:1\",\"phx_join\",{}]\n[\"1\",\"2\",\"room:1\",\"bin\",{}]");
    KT_ASSERT_EQ_INT(json_integer_value(json_object_get(posted, "status")), 200);
    json_t *r;
    poll_replies(srv.port, token, (const char *[]){ "2" }, &r, 1);
    KT_ASSERT(r != NULL);
    KT_ASSERT_EQ_INT(json_integer_value(json_object_get(r, "push")), KILN_EPERM);
    KT_ASSERT_EQ_INT(json_integer_value(json_object_get(r, "reply")), KILN_EPERM);
    json_decref(r);
    json_decref(posted);
    json_decref(hello);
}

/* The binary push frame [kind 0, lengths, "1", "3", "room:1", "size", 00 ff 7f]
 * in base64, as the client's btoa() sends it, between a line that is not
 * base64 (skipped) and a JSON push that must still be answered. */
static void test_base64_push_reaches_handle_in(void)
{
    static const uint8_t frame[] = { 0, 1, 1, 6, 4, '1', '3', 'r', 'o', 'o', 'm', ':', '1', 's', 'i', 'z', 'e', 0x00,
                                     0xff, 0x7f };
    char b64[64], body[512];
    sodium_bin2base64(b64, sizeof b64, frame, sizeof frame, sodium_base64_VARIANT_ORIGINAL);
    snprintf(body, sizeof body, "[\"1\",\"1\",\"room:1\",\"phx_join\",{}]\n%s\n#not base64#\n[\"1\",\"4\",\"room:1\",\"size\",{}]",
             b64);
    json_t *hello = lp_request(srv.port, "GET", NULL, NULL);
    const char *token = json_string_value(json_object_get(hello, "token"));
    KT_ASSERT(token != NULL);
    json_t *posted = lp_request(srv.port, "POST", token, body);
    KT_ASSERT_EQ_INT(json_integer_value(json_object_get(posted, "status")), 200);
    json_t *got[2];
    poll_replies(srv.port, token, (const char *[]){ "3", "4" }, got, 2);
    json_t *bin = got[0], *text = got[1];
    KT_ASSERT(bin != NULL && text != NULL);
    KT_ASSERT(json_is_true(json_object_get(bin, "binary")));
    KT_ASSERT_EQ_INT(json_integer_value(json_object_get(bin, "size")), 3);
    KT_ASSERT_EQ_INT(json_integer_value(json_object_get(bin, "last")), 0x7f);
    KT_ASSERT(json_is_false(json_object_get(text, "binary")));
    json_decref(bin);
    json_decref(text);
    json_decref(posted);
    json_decref(hello);
}

int main(void)
{
    kiln_endpoint_t ep = { .name = "lp" };
    if (kiln_router_build(routes, KILN_ARRAY_LEN(routes), &ep.router) < 0) return 1;
    kiln_server_conf_t conf = { .endpoint = &ep };
    if (kst_start(&srv, &conf, 1) < 0) return 1;
    KT_RUN(test_binary_refused_on_longpoll);
    KT_RUN(test_base64_push_reaches_handle_in);
    kst_stop(&srv);
    kiln_router_free(ep.router);
    return kt_done();
}
