/* libFuzzer target: the Phoenix V2 serializer (src/channel/serializer.c).
 * Every input goes to both decoders: the JSON text form
 * `[join_ref, ref, topic, event, payload]` (WebSocket text frames, and each
 * `[` line of a long-poll POST, which longpoll.c hands to the same decoder)
 * and the binary client push `0, 4 lengths, join_ref ref topic event, data`.
 *
 * On success it checks the frame's shape (topic and event non-empty, refs
 * present or null, a text frame's payload an object and no binary data, a
 * binary frame's strings and data exactly the bytes its lengths point at),
 * that every string is valid UTF-8 and whole (the same length jansson sees,
 * so nothing was cut at a NUL), that the server can always answer it (a
 * phx_reply with its refs and topic encodes), and the round trip: encoding
 * the frame and decoding that again gives the same frame, and encoding is
 * stable (the second encoding is byte-identical). A binary push re-encodes
 * as a kind-1 reply, which has the same layout. On failure the frame must be
 * left empty; ASan's leak check catches anything not freed. */
#include "kiln/channel.h"
#include "kiln/params.h"

#include <stdlib.h>
#include <string.h>

static int str_eq(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

static int utf8_ok(const char *s)
{
    return !s || kiln_utf8_valid(s, strlen(s));
}

static void check_empty(const kiln_chan_frame_t *f)
{
    if (f->join_ref || f->ref || f->topic || f->event || f->payload || f->bin || f->bin_len) abort();
}

static void check_same(const kiln_chan_frame_t *a, const kiln_chan_frame_t *b)
{
    if (!str_eq(a->join_ref, b->join_ref) || !str_eq(a->ref, b->ref)) abort();
    if (!str_eq(a->topic, b->topic) || !str_eq(a->event, b->event)) abort();
}

/* What any decoded frame must satisfy, whichever form it came in. */
static void check_common(const kiln_chan_frame_t *f)
{
    if (!f->topic || !f->topic[0] || !f->event || !f->event[0]) abort();
    if (!utf8_ok(f->join_ref) || !utf8_ok(f->ref) || !utf8_ok(f->topic) || !utf8_ok(f->event)) abort();
    /* the socket answers pushes with a phx_reply carrying these strings */
    json_t *resp = json_pack("{s:s, s:{}}", "status", "ok", "response");
    char *t = kiln_chan_encode(f->join_ref, f->ref, f->topic, "phx_reply", resp, NULL);
    if (!t) abort();
    free(t);
    json_decref(resp);
}

/* A JSON string element's length as jansson sees it against the C string kept. */
static void check_len(json_t *v, const char *s)
{
    if (json_is_null(v) ? s != NULL : (!s || strlen(s) != json_string_length(v))) abort();
}

static void text_round_trip(const kiln_chan_frame_t *f)
{
    size_t n1, n2;
    char *t1 = kiln_chan_encode(f->join_ref, f->ref, f->topic, f->event, f->payload, &n1);
    if (!t1 || n1 != strlen(t1)) abort();
    kiln_chan_frame_t g;
    if (kiln_chan_decode(t1, n1, &g) != 0) abort();
    check_same(f, &g);
    if (!json_equal(f->payload, g.payload)) abort();
    char *t2 = kiln_chan_encode(g.join_ref, g.ref, g.topic, g.event, g.payload, &n2);
    if (!t2 || n2 != n1 || memcmp(t1, t2, n1) != 0) abort();
    free(t1);
    free(t2);
    kiln_chan_frame_free(&g);
}

static void check_text(const char *p, size_t len)
{
    kiln_chan_frame_t f;
    if (kiln_chan_decode(p, len, &f) != 0) {
        check_empty(&f);
        return;
    }
    check_common(&f);
    if (!json_is_object(f.payload) || f.bin || f.bin_len) abort();
    json_t *a = json_loadb(p, len, JSON_REJECT_DUPLICATES, NULL); /* jansson's own view of the same text */
    if (!a || json_array_size(a) != 5) abort();
    check_len(json_array_get(a, 0), f.join_ref);
    check_len(json_array_get(a, 1), f.ref);
    check_len(json_array_get(a, 2), f.topic);
    check_len(json_array_get(a, 3), f.event);
    if (!json_equal(json_array_get(a, 4), f.payload)) abort();
    json_decref(a);
    text_round_trip(&f);
    kiln_chan_frame_free(&f);
}

/* Server frames read back as the client reads them: the reply e (kind 1),
 * then a push (kind 0 S->C, no ref) of the same strings and bytes. */
static void server_round_trip(const kiln_chan_frame_t *f, const uint8_t *e, size_t n)
{
    kiln_chan_frame_t g;
    if (kiln_chan_decode_server_binary(e, n, &g) != 0) abort();
    const char *st = json_string_value(json_object_get(g.payload, "status"));
    if (strcmp(g.ref, f->ref) != 0 || strcmp(g.topic, f->topic) != 0 || !st || strcmp(st, f->event) != 0 ||
        strcmp(g.event, "phx_reply") != 0 || g.bin_len != f->bin_len || memcmp(g.bin, f->bin, f->bin_len) != 0)
        abort();
    kiln_chan_frame_free(&g);
    size_t m;
    uint8_t *push = kiln_chan_encode_binary(0, f->join_ref, NULL, f->topic, f->event, f->bin, f->bin_len, &m);
    if (!push || m != n - 1 - strlen(f->ref) || kiln_chan_decode_server_binary(push, m, &g) != 0) abort();
    if (g.ref || strcmp(g.join_ref, f->join_ref) != 0 || strcmp(g.topic, f->topic) != 0 ||
        strcmp(g.event, f->event) != 0 || g.bin_len != f->bin_len || memcmp(g.bin, f->bin, f->bin_len) != 0)
        abort();
    kiln_chan_frame_free(&g);
    free(push);
}

static void binary_round_trip(const kiln_chan_frame_t *f, const uint8_t *p, size_t len)
{
    size_t n;
    uint8_t *e = kiln_chan_encode_binary(1, f->join_ref, f->ref, f->topic, f->event, f->bin, f->bin_len, &n);
    if (!e || n != len || e[0] != 1 || memcmp(e + 1, p + 1, len - 1) != 0) abort();
    server_round_trip(f, e, n);
    e[0] = 0; /* a reply's layout is a client push's: read it back as one */
    kiln_chan_frame_t g;
    if (kiln_chan_decode_binary(e, n, &g) != 0) abort();
    check_same(f, &g);
    if (g.bin_len != f->bin_len || memcmp(g.bin, f->bin, f->bin_len) != 0) abort();
    free(e);
    kiln_chan_frame_free(&g);
}

static void check_binary(const uint8_t *p, size_t len)
{
    kiln_chan_frame_t f;
    if (kiln_chan_decode_binary(p, len, &f) != 0) {
        check_empty(&f);
        return;
    }
    check_common(&f);
    if (len < 5 || p[0] != 0 || f.payload || !f.bin || !f.join_ref || !f.ref) abort();
    const char *s[4] = { f.join_ref, f.ref, f.topic, f.event };
    size_t pos = 5;
    for (int i = 0; i < 4; i++) {
        if (strlen(s[i]) != p[1 + i] || memcmp(s[i], p + pos, p[1 + i]) != 0) abort();
        pos += p[1 + i];
    }
    if (f.bin_len != len - pos || memcmp(f.bin, p + pos, f.bin_len) != 0) abort();
    binary_round_trip(&f, p, len);
    kiln_chan_frame_free(&f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *p = malloc(size ? size : 1); /* exact size: ASan sees any read past the end */
    memcpy(p, data, size);
    check_text((const char *)p, size);
    check_binary(p, size);
    free(p);
    return 0;
}
