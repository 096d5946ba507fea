/* The V2 serializer (Phoenix.Socket.V2.JSONSerializer): text frames are
 * `[join_ref, ref, topic, event, payload]`; binary frames are
 * `kind, lengths (one byte each), strings, payload` (PROTOCOL.md §2-3).
 *
 * Decoding is strict about shape (exactly five elements, refs string or null,
 * topic and event strings, an object payload; in both forms every string is
 * UTF-8 without NUL) because everything after it trusts the frame; what the
 * values mean is the socket's business. Encoding writes the envelope by hand
 * around jansson's dump of the payload, so the frame is built once with one
 * allocation for the payload text. */
#include "kiln/channel.h"
#include "kiln/params.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static char *dup_n(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

void kiln_chan_frame_free(kiln_chan_frame_t *f)
{
    free(f->join_ref);
    free(f->ref);
    free(f->topic);
    free(f->event);
    free(f->bin);
    if (f->payload) json_decref(f->payload);
    memset(f, 0, sizeof *f);
}

/* A ref is a string or null; Phoenix clients send strings, never numbers. */
static int take_ref(json_t *v, char **out)
{
    *out = NULL;
    if (json_is_null(v)) return 0;
    if (!json_is_string(v)) return KILN_EINVAL;
    *out = dup_n(json_string_value(v), json_string_length(v));
    return *out ? 0 : KILN_ENOMEM;
}

static int take_str(json_t *v, char **out)
{
    *out = NULL;
    if (!json_is_string(v) || json_string_length(v) == 0) return KILN_EINVAL;
    if (memchr(json_string_value(v), 0, json_string_length(v))) return KILN_EINVAL;
    *out = dup_n(json_string_value(v), json_string_length(v));
    return *out ? 0 : KILN_ENOMEM;
}

int kiln_chan_decode(const char *text, size_t len, kiln_chan_frame_t *out)
{
    memset(out, 0, sizeof *out);
    json_t *a = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
    if (!a) return KILN_EINVAL;
    int rc = KILN_EINVAL;
    if (json_is_array(a) && json_array_size(a) == 5 && json_is_object(json_array_get(a, 4))) {
        rc = take_ref(json_array_get(a, 0), &out->join_ref);
        if (rc == 0) rc = take_ref(json_array_get(a, 1), &out->ref);
        if (rc == 0) rc = take_str(json_array_get(a, 2), &out->topic);
        if (rc == 0) rc = take_str(json_array_get(a, 3), &out->event);
        if (rc == 0) out->payload = json_incref(json_array_get(a, 4));
    }
    json_decref(a);
    if (rc < 0) kiln_chan_frame_free(out);
    return rc;
}

/* Reads n length-prefixed strings (their lengths at p[1..n], the strings from
 * p[1 + n]) into dst, each UTF-8 without NUL, then the rest of the frame into
 * out->bin (allocated even when empty, so a binary frame always has one).
 * nonempty: a bit mask of the fields that may not be empty. */
static int take_fields(const uint8_t *p, size_t len, int n, char **const dst[], unsigned nonempty,
                       kiln_chan_frame_t *out)
{
    size_t pos = 1 + (size_t)n;
    if (len < pos) return KILN_EINVAL;
    for (int i = 0; i < n; i++) {
        size_t l = p[1 + i];
        if (pos + l > len || (l == 0 && (nonempty >> i & 1))) return KILN_EINVAL;
        /* UTF-8, as in a text frame (PROTOCOL.md §3): replies, pushes and the
         * channel's handlers carry these strings on as JSON strings, so one
         * that is not UTF-8 would make every answer to it fail to encode */
        if (memchr(p + pos, 0, l) || !kiln_utf8_valid((const char *)p + pos, l)) return KILN_EINVAL;
        if (!(*dst[i] = dup_n((const char *)p + pos, l))) return KILN_ENOMEM;
        pos += l;
    }
    out->bin_len = len - pos;
    out->bin = malloc(out->bin_len ? out->bin_len : 1);
    if (!out->bin) return KILN_ENOMEM;
    memcpy(out->bin, p + pos, out->bin_len);
    return 0;
}

int kiln_chan_decode_binary(const uint8_t *p, size_t len, kiln_chan_frame_t *out)
{
    memset(out, 0, sizeof *out);
    char **const dst[4] = { &out->join_ref, &out->ref, &out->topic, &out->event };
    if (len < 1 || p[0] != 0 || take_fields(p, len, 4, dst, 0xc, out) < 0) {
        kiln_chan_frame_free(out);
        return KILN_EINVAL;
    }
    return 0;
}

int kiln_chan_decode_server_binary(const uint8_t *p, size_t len, kiln_chan_frame_t *out)
{
    memset(out, 0, sizeof *out);
    char *status = NULL;
    char **const push[3] = { &out->join_ref, &out->topic, &out->event };
    char **const reply[4] = { &out->join_ref, &out->ref, &out->topic, &status };
    char **const bcast[2] = { &out->topic, &out->event };
    int rc = KILN_EINVAL;
    if (len >= 1 && p[0] == 0) rc = take_fields(p, len, 3, push, 0x6, out);
    else if (len >= 1 && p[0] == 1) rc = take_fields(p, len, 4, reply, 0xc, out);
    else if (len >= 1 && p[0] == 2) rc = take_fields(p, len, 2, bcast, 0x3, out);
    if (rc == 0 && status) { /* the client's shape: phx_reply, {status, response: the bytes} */
        out->payload = json_pack("{s:s}", "status", status);
        out->event = dup_n("phx_reply", 9);
        if (!out->payload || !out->event) rc = KILN_ENOMEM;
    }
    free(status);
    if (rc < 0) kiln_chan_frame_free(out);
    return rc < 0 ? KILN_EINVAL : 0;
}

/* Appends a JSON string literal (or null) for s. */
static int put_json_str(kiln_buf_t *b, const char *s)
{
    if (!s) return kiln_buf_puts(b, "null");
    json_t *j = json_string(s);
    if (!j) return KILN_EINVAL; /* not UTF-8 */
    char *t = json_dumps(j, JSON_ENCODE_ANY);
    json_decref(j);
    if (!t) return KILN_ENOMEM;
    int rc = kiln_buf_puts(b, t);
    free(t);
    return rc;
}

char *kiln_chan_encode(const char *join_ref, const char *ref, const char *topic, const char *event,
                       const json_t *payload, size_t *len)
{
    kiln_buf_t b;
    kiln_buf_init(&b, SIZE_MAX - 1); /* bounded by the payload, which the caller built */
    char *p = payload ? json_dumps(payload, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    int rc = kiln_buf_puts(&b, "[");
    if (rc == 0) rc = put_json_str(&b, join_ref);
    if (rc == 0) rc = kiln_buf_puts(&b, ",");
    if (rc == 0) rc = put_json_str(&b, ref);
    if (rc == 0) rc = kiln_buf_puts(&b, ",");
    if (rc == 0) rc = put_json_str(&b, topic);
    if (rc == 0) rc = kiln_buf_puts(&b, ",");
    if (rc == 0) rc = put_json_str(&b, event);
    if (rc == 0) rc = kiln_buf_printf(&b, ",%s]", p ? p : "{}");
    free(p);
    if (rc < 0 || (payload && !p)) {
        kiln_buf_free(&b);
        return NULL;
    }
    if (len) *len = b.len;
    return b.data;
}

uint8_t *kiln_chan_encode_binary(int kind, const char *join_ref, const char *ref, const char *topic,
                                 const char *event_or_status, const void *payload, size_t plen, size_t *len)
{
    const char *s[4];
    int n = 0;
    if (kind == 0) s[n++] = join_ref ? join_ref : "", s[n++] = topic, s[n++] = event_or_status;
    else if (kind == 1) s[n++] = join_ref ? join_ref : "", s[n++] = ref ? ref : "", s[n++] = topic, s[n++] = event_or_status;
    else if (kind == 2) s[n++] = topic, s[n++] = event_or_status;
    else return NULL;
    if (plen > SIZE_MAX - 1 - 4 * 256) return NULL; /* the total below cannot wrap */
    size_t total = 1 + (size_t)n + plen;
    for (int i = 0; i < n; i++) {
        if (!s[i] || strlen(s[i]) > 255) return NULL; /* a length byte cannot say more: refuse, never truncate */
        total += strlen(s[i]);
    }
    uint8_t *out = malloc(total ? total : 1), *w = out;
    if (!out) return NULL;
    *w++ = (uint8_t)kind;
    for (int i = 0; i < n; i++) *w++ = (uint8_t)strlen(s[i]);
    for (int i = 0; i < n; i++) w = (uint8_t *)memcpy(w, s[i], strlen(s[i])) + strlen(s[i]);
    if (plen) memcpy(w, payload, plen);
    *len = total;
    return out;
}
