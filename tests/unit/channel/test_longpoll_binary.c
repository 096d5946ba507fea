/* Binary replies and pushes on a long-poll socket: the client cannot receive
 * binary there (PROTOCOL.md §3), so kiln_channel_reply_binary and
 * kiln_channel_push_binary return KILN_EPERM, send nothing, and leave the
 * push open for a JSON answer. Raw HTTP against a real server: a session,
 * a join and a push in one POST, then polls until the reply arrives. */
#include "kiln_server_test.h"
#include "kiln_test.h"

#include "kiln/channel.h"

/* Answers `bin` with the codes the binary calls returned, as JSON. */
static int room_in(kiln_channel_t *ch, const char *event, json_t *payload)
{
    (void)payload;
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

/* Polls until a message is the reply to ref; returns its response (owned). */
static json_t *poll_reply(int port, const char *token, const char *ref)
{
    for (int i = 0; i < 20; i++) {
        json_t *b = lp_request(port, "GET", token, NULL), *m;
        size_t k;
        json_array_foreach(json_object_get(b, "messages"), k, m)
        {
            json_t *f = json_loads(json_string_value(m), 0, NULL);
            if (json_is_array(f) && json_is_string(json_array_get(f, 1)) &&
                strcmp(json_string_value(json_array_get(f, 1)), ref) == 0) {
                json_t *resp = json_incref(json_object_get(json_array_get(f, 4), "response"));
                json_decref(f);
                json_decref(b);
                return resp;
            }
            json_decref(f);
        }
        json_decref(b);
    }
    return NULL;
}

static void test_binary_refused_on_longpoll(void)
{
    kst_server_t s;
    kiln_endpoint_t ep = { .name = "lp" };
    KT_ASSERT_EQ_INT(kiln_router_build(routes, KILN_ARRAY_LEN(routes), &ep.router), 0);
    kiln_server_conf_t conf = { .endpoint = &ep };
    KT_ASSERT_EQ_INT(kst_start(&s, &conf, 1), 0);
    json_t *hello = lp_request(s.port, "GET", NULL, NULL);
    const char *token = json_string_value(json_object_get(hello, "token"));
    KT_ASSERT(token != NULL);
    json_t *posted = lp_request(s.port, "POST", token,
                                "[\"1\",\"1\",\"room:1\",\"phx_join\",{}]\n[\"1\",\"2\",\"room:1\",\"bin\",{}]");
    KT_ASSERT_EQ_INT(json_integer_value(json_object_get(posted, "status")), 200);
    json_t *r = poll_reply(s.port, token, "2");
    KT_ASSERT(r != NULL);
    KT_ASSERT_EQ_INT(json_integer_value(json_object_get(r, "push")), KILN_EPERM);
    KT_ASSERT_EQ_INT(json_integer_value(json_object_get(r, "reply")), KILN_EPERM);
    json_decref(r);
    json_decref(posted);
    json_decref(hello);
    kst_stop(&s);
    kiln_router_free(ep.router);
}

int main(void)
{
    KT_RUN(test_binary_refused_on_longpoll);
    return kt_done();
}
