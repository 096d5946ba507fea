/* The request-id plug: every request gets an id that ties its log lines
 * together. A client or proxy may pass its own (so that ids follow a request
 * across services), but only if it looks like one of ours: a bounded length of
 * base64 characters, so that it is safe in a header and in a log line. */
#include "kiln/plugs.h"

#include <string.h>
#include <sys/random.h>

static int valid_id(kiln_str_t v)
{
    if (v.len < 20 || v.len > 200) return 0;
    for (size_t i = 0; i < v.len; i++) {
        char ch = v.ptr[i];
        int ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '+' ||
                 ch == '/' || ch == '=' || ch == '_' || ch == '-';
        if (!ok) return 0;
    }
    return 1;
}

/* 20 random bytes as unpadded base64url: 27 characters. */
static char *generate_id(kiln_arena_t *a)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char raw[21] = { 0 };
    if (getrandom(raw, 20, 0) != 20) return NULL;
    char *out = kiln_arena_alloc(a, 29);
    if (!out) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < 21; i += 3) {
        uint32_t v = (uint32_t)raw[i] << 16 | (uint32_t)raw[i + 1] << 8 | raw[i + 2];
        for (int k = 18; k >= 0; k -= 6) out[o++] = alphabet[(v >> k) & 63];
    }
    out[27] = '\0'; /* 20 bytes encode to 27 characters; the rest is padding */
    return out;
}

int kiln_plug_request_id(kiln_conn_t *c, const void *opts)
{
    const kiln_request_id_opts_t *o = opts;
    const char *header = o && o->header ? o->header : "x-request-id";
    const kiln_str_t *in = kiln_conn_req_header(c, header);
    char *id = in && valid_id(*in) ? kiln_arena_strndup(c->arena, in->ptr, in->len) : generate_id(c->arena);
    if (!id) return KILN_EIO;
    c->request_id = id;
    return kiln_conn_put_resp_header(c, header, id);
}
