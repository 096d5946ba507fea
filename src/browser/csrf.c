/* CSRF protection (Plug.CSRFProtection): a per-session secret, masked per form.
 *
 * The secret (32 random bytes) lives in the session. Each token handed to a
 * page is mask || (secret XOR mask) with a fresh mask, so that the bytes on
 * the page change on every render and compression side channels (BREACH)
 * learn nothing; any such token unmasks to the same secret. The check runs on
 * every state-changing method, whatever the headers say: a cross-site form
 * post can set neither the session cookie's secret nor a matching token. */
#include <sodium.h>
#include <string.h>

#include "browser_int.h"

#define SECRET_KEY "_csrf_token"
#define SECRET_LEN 32
#define B64 sodium_base64_VARIANT_URLSAFE_NO_PADDING

/* Decodes exactly n bytes of base64url, else returns -1. */
static int decode(const char *s, unsigned char *out, size_t n)
{
    size_t got;
    if (!s || sodium_base642bin(out, n, s, strlen(s), NULL, &got, NULL, B64) != 0) return -1;
    return got == n ? 0 : -1;
}

const char *kiln_csrf_token(kiln_conn_t *c)
{
    unsigned char secret[SECRET_LEN], box[2 * SECRET_LEN];
    const char *stored = kiln_session_get(c, SECRET_KEY);
    if (sodium_init() < 0 || !kiln_browser_session(c)) return NULL;
    if (decode(stored, secret, SECRET_LEN) < 0) {
        char enc[sodium_base64_ENCODED_LEN(SECRET_LEN, B64)];
        randombytes_buf(secret, SECRET_LEN);
        sodium_bin2base64(enc, sizeof enc, secret, SECRET_LEN, B64);
        if (kiln_session_put(c, SECRET_KEY, enc) < 0) return NULL;
    }
    randombytes_buf(box, SECRET_LEN);
    for (size_t i = 0; i < SECRET_LEN; i++) box[SECRET_LEN + i] = secret[i] ^ box[i];
    size_t len = sodium_base64_ENCODED_LEN(sizeof box, B64);
    char *out = kiln_arena_alloc(c->arena, len);
    return out ? sodium_bin2base64(out, len, box, sizeof box, B64) : NULL;
}

static int state_changing(const kiln_conn_t *c)
{
    static const char *const methods[] = { "POST", "PUT", "PATCH", "DELETE" };
    if (c->method == KILN_METHOD_POST || c->method == KILN_METHOD_PUT || c->method == KILN_METHOD_PATCH ||
        c->method == KILN_METHOD_DELETE)
        return 1;
    for (size_t i = 0; i < KILN_ARRAY_LEN(methods); i++)
        if (kiln_str_ieq_c(c->method_str, methods[i])) return 1;
    return 0;
}

/* The token the request carries: the form field, else the header. */
static const char *sent_token(kiln_conn_t *c)
{
    const char *t = kiln_param_str(c->body_params, "_csrf_token");
    if (t) return t;
    const kiln_str_t *h = kiln_conn_req_header(c, "x-csrf-token");
    return h ? kiln_arena_strndup(c->arena, h->ptr, h->len) : NULL;
}

static int refuse(kiln_conn_t *c, const char *why)
{
    int rc = kiln_conn_send_error(c, 403, why);
    return rc < 0 ? rc : KILN_PLUG_HALT;
}

int kiln_plug_csrf(kiln_conn_t *c, const void *opts)
{
    (void)opts;
    if (!state_changing(c)) return KILN_PLUG_CONT;
    if (!kiln_browser_session(c)) return KILN_ESTATE; /* a pipeline bug: the session plug must come first */
    const char *sent = sent_token(c);
    if (!sent || !*sent)
        return refuse(c, "Forbidden: missing CSRF token. Send the _csrf_token form field or the x-csrf-token header.");
    unsigned char secret[SECRET_LEN], box[2 * SECRET_LEN];
    if (decode(kiln_session_get(c, SECRET_KEY), secret, SECRET_LEN) < 0)
        return refuse(c, "Forbidden: invalid CSRF token: the session has none (cookies blocked or session expired?). "
                         "Reload the form and try again.");
    if (decode(sent, box, sizeof box) < 0) return refuse(c, "Forbidden: invalid CSRF token.");
    for (size_t i = 0; i < SECRET_LEN; i++) box[SECRET_LEN + i] ^= box[i];
    if (sodium_memcmp(box + SECRET_LEN, secret, SECRET_LEN) != 0) return refuse(c, "Forbidden: invalid CSRF token.");
    return KILN_PLUG_CONT;
}
