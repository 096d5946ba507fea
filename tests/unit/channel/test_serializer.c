/* The V2 JSON and binary serializers, against frames the official client
 * sends and expects (PROTOCOL.md §2-3). */
#include "kiln/channel.h"
#include "kiln_test.h"

#include <stdlib.h>

static void test_decode_join(void)
{
    const char *t = "[\"3\",\"3\",\"room:lobby\",\"phx_join\",{\"x\":1}]";
    kiln_chan_frame_t f;
    KT_ASSERT_EQ_INT(kiln_chan_decode(t, strlen(t), &f), 0);
    KT_ASSERT_EQ_STR(f.join_ref, "3");
    KT_ASSERT_EQ_STR(f.topic, "room:lobby");
    KT_ASSERT_EQ_STR(f.event, "phx_join");
    KT_ASSERT_EQ_INT(json_integer_value(json_object_get(f.payload, "x")), 1);
    kiln_chan_frame_free(&f);
    const char *hb = "[null,\"7\",\"phoenix\",\"heartbeat\",{}]";
    KT_ASSERT_EQ_INT(kiln_chan_decode(hb, strlen(hb), &f), 0);
    KT_ASSERT(f.join_ref == NULL);
    KT_ASSERT_EQ_STR(f.ref, "7");
    kiln_chan_frame_free(&f);
}

static void test_decode_rejects_malformed(void)
{
    const char *bad[] = { "", "[", "{}", "[1,2,3,4,5]", "[null,null,\"t\",\"e\"]", "[null,null,\"t\",\"e\",[]]",
                          "[null,null,\"\",\"e\",{}]", "[null,null,\"t\",\"e\",{},6]", "[5,null,\"t\",\"e\",{}]",
                          "[null,null,\"t\\u0000x\",\"e\",{}]", "[null,null,\"t\",\"e\",{\"a\":1,\"a\":2}]" };
    for (size_t i = 0; i < KILN_ARRAY_LEN(bad); i++) {
        kiln_chan_frame_t f;
        KT_ASSERT_EQ_INT(kiln_chan_decode(bad[i], strlen(bad[i]), &f), KILN_EINVAL);
    }
}

static void test_encode_reply_and_broadcast(void)
{
    json_t *p = json_pack("{s:s, s:{}}", "status", "ok", "response");
    size_t n;
    char *t = kiln_chan_encode("3", "4", "room:lobby", "phx_reply", p, &n);
    KT_ASSERT_EQ_STR(t, "[\"3\",\"4\",\"room:lobby\",\"phx_reply\",{\"status\":\"ok\",\"response\":{}}]");
    KT_ASSERT_EQ_INT(n, strlen(t));
    free(t);
    t = kiln_chan_encode(NULL, NULL, "room:\"q\"", "shout", NULL, &n);
    KT_ASSERT_EQ_STR(t, "[null,null,\"room:\\\"q\\\"\",\"shout\",{}]");
    free(t);
    json_decref(p);
}

static void test_binary_roundtrip(void)
{
    /* A client push: kind 0, lengths, join_ref ref topic event, payload. */
    const uint8_t in[] = { 0, 1, 1, 3, 4, '1', '2', 'r', ':', 'a', 'p', 'i', 'n', 'g', 0xde, 0xad };
    kiln_chan_frame_t f;
    KT_ASSERT_EQ_INT(kiln_chan_decode_binary(in, sizeof in, &f), 0);
    KT_ASSERT_EQ_STR(f.ref, "2");
    KT_ASSERT_EQ_STR(f.event, "ping");
    KT_ASSERT_EQ_INT(f.bin_len, 2);
    KT_ASSERT(f.bin[0] == 0xde);
    kiln_chan_frame_free(&f);
    KT_ASSERT_EQ_INT(kiln_chan_decode_binary(in, 10, &f), KILN_EINVAL); /* lengths past the end */
    size_t n;
    uint8_t *r = kiln_chan_encode_binary(1, "1", "2", "r:a", "ok", "\x01", 1, &n);
    const uint8_t want[] = { 1, 1, 1, 3, 2, '1', '2', 'r', ':', 'a', 'o', 'k', 1 };
    KT_ASSERT_EQ_INT(n, sizeof want);
    KT_ASSERT(memcmp(r, want, n) == 0);
    free(r);
    uint8_t *b = kiln_chan_encode_binary(2, NULL, NULL, "t", "e", "xy", 2, &n);
    const uint8_t wb[] = { 2, 1, 1, 't', 'e', 'x', 'y' };
    KT_ASSERT(n == sizeof wb && memcmp(b, wb, n) == 0);
    free(b);
}

/* Found by fuzz_phx_message: a binary push whose strings were not UTF-8 was
 * accepted, and then no reply to it (a JSON phx_reply echoing its refs and
 * topic) could be encoded; a channel joined that way could answer nothing. */
static void test_binary_rejects_non_utf8(void)
{
    const uint8_t bad[][10] = {
        { 0, 0, 1, 1, 1, 0xd6, 't', 'e' },             /* ref: a truncated sequence */
        { 0, 0, 0, 1, 1, 0xff, 'e' },                  /* topic: never in UTF-8 */
        { 0, 0, 0, 1, 2, 't', 0xc0, 0xaf },            /* event: an overlong '/' */
        { 0, 3, 0, 1, 1, 0xed, 0xa0, 0x80, 't', 'e' }, /* join_ref: a surrogate */
    };
    const size_t lens[] = { 8, 7, 8, 10 };
    for (size_t i = 0; i < KILN_ARRAY_LEN(lens); i++) {
        kiln_chan_frame_t f;
        KT_ASSERT_EQ_INT(kiln_chan_decode_binary(bad[i], lens[i], &f), KILN_EINVAL);
        KT_ASSERT(f.join_ref == NULL && f.ref == NULL && f.topic == NULL && f.event == NULL && f.bin == NULL);
    }
    const uint8_t ok[] = { 0, 0, 1, 8, 1, '1', 'r', ':', 0xce, 0xba, 0xcf, 0x8c, 0xcf, 0x83, 'e', 0xff };
    kiln_chan_frame_t f;
    KT_ASSERT_EQ_INT(kiln_chan_decode_binary(ok, sizeof ok, &f), 0); /* UTF-8 strings, any payload bytes */
    KT_ASSERT_EQ_STR(f.topic, "r:\xce\xba\xcf\x8c\xcf\x83");
    char *t = kiln_chan_encode(f.join_ref, f.ref, f.topic, "phx_reply", NULL, NULL);
    KT_ASSERT(t != NULL);
    free(t);
    kiln_chan_frame_free(&f);
}

/* Server frames as the official client decodes them (serializer.js
 * decodePush / decodeReply / decodeBroadcast): every byte value survives. */
static void test_server_binary_roundtrip(void)
{
    uint8_t data[256 + 4];
    for (int i = 0; i < 256; i++) data[i] = (uint8_t)i;
    memcpy(data + 256, "\0\0\0\xff", 4);
    size_t n;
    uint8_t *e = kiln_chan_encode_binary(0, "3", NULL, "room:a", "blob", data, sizeof data, &n);
    const uint8_t head[] = { 0, 1, 6, 4, '3', 'r', 'o', 'o', 'm', ':', 'a', 'b', 'l', 'o', 'b' };
    KT_ASSERT(e && n == sizeof head + sizeof data && memcmp(e, head, sizeof head) == 0); /* kind 0 S->C: no ref */
    kiln_chan_frame_t f;
    KT_ASSERT_EQ_INT(kiln_chan_decode_server_binary(e, n, &f), 0);
    KT_ASSERT_EQ_STR(f.join_ref, "3");
    KT_ASSERT(f.ref == NULL && f.payload == NULL);
    KT_ASSERT_EQ_STR(f.topic, "room:a");
    KT_ASSERT_EQ_STR(f.event, "blob");
    KT_ASSERT(f.bin_len == sizeof data && memcmp(f.bin, data, sizeof data) == 0);
    kiln_chan_frame_free(&f);
    free(e);

    e = kiln_chan_encode_binary(1, "3", "17", "room:a", "ok", data, sizeof data, &n);
    KT_ASSERT_EQ_INT(kiln_chan_decode_server_binary(e, n, &f), 0);
    KT_ASSERT_EQ_STR(f.ref, "17");
    KT_ASSERT_EQ_STR(f.event, "phx_reply");
    KT_ASSERT_EQ_STR(json_string_value(json_object_get(f.payload, "status")), "ok");
    KT_ASSERT(f.bin_len == sizeof data && memcmp(f.bin, data, sizeof data) == 0);
    kiln_chan_frame_free(&f);
    free(e);

    e = kiln_chan_encode_binary(1, "3", "18", "room:a", "ok", NULL, 0, &n); /* an empty response */
    KT_ASSERT_EQ_INT(n, 1 + 4 + 1 + 2 + 6 + 2);
    KT_ASSERT_EQ_INT(kiln_chan_decode_server_binary(e, n, &f), 0);
    KT_ASSERT(f.bin != NULL && f.bin_len == 0);
    kiln_chan_frame_free(&f);
    free(e);

    KT_ASSERT_EQ_INT(kiln_chan_decode_server_binary((const uint8_t *)"\x03\x01\x01te", 5, &f), KILN_EINVAL);
    KT_ASSERT_EQ_INT(kiln_chan_decode_server_binary((const uint8_t *)"\x01\x01\x01\x01", 4, &f), KILN_EINVAL);
}

/* A length byte says at most 255: a longer string is refused, not cut. */
static void test_binary_field_limits(void)
{
    char s255[256], s256[257];
    memset(s255, 'a', 255);
    s255[255] = 0;
    memset(s256, 'a', 256);
    s256[256] = 0;
    size_t n = 0;
    uint8_t *e = kiln_chan_encode_binary(1, s255, s255, s255, s255, "x", 1, &n);
    KT_ASSERT(e != NULL && n == 1 + 4 + 4 * 255 + 1);
    kiln_chan_frame_t f;
    KT_ASSERT_EQ_INT(kiln_chan_decode_server_binary(e, n, &f), 0);
    KT_ASSERT_EQ_INT(strlen(f.topic), 255);
    kiln_chan_frame_free(&f);
    free(e);
    const char *four[4] = { s255, s255, s255, s255 };
    for (int i = 0; i < 4; i++) { /* each of join_ref, ref, topic, status in turn */
        const char *v[4] = { four[0], four[1], four[2], four[3] };
        v[i] = s256;
        KT_ASSERT(kiln_chan_encode_binary(1, v[0], v[1], v[2], v[3], "x", 1, &n) == NULL);
    }
    KT_ASSERT(kiln_chan_encode_binary(0, s256, NULL, "t", "e", "x", 1, &n) == NULL);
    KT_ASSERT(kiln_chan_encode_binary(0, "1", NULL, "t", s256, "x", 1, &n) == NULL);
    KT_ASSERT(kiln_chan_encode_binary(2, NULL, NULL, s256, "e", "x", 1, &n) == NULL);
}

int main(void)
{
    KT_RUN(test_decode_join);
    KT_RUN(test_decode_rejects_malformed);
    KT_RUN(test_encode_reply_and_broadcast);
    KT_RUN(test_binary_roundtrip);
    KT_RUN(test_binary_rejects_non_utf8);
    KT_RUN(test_server_binary_roundtrip);
    KT_RUN(test_binary_field_limits);
    return kt_done();
}
