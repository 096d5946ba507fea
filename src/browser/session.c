/* Cookie sessions: a small string map sealed into one cookie.
 *
 * Sealing is libsodium's XChaCha20-Poly1305 (ADR 0010): encryption and
 * authentication in one primitive, and a 24-byte nonce that is safe to pick
 * at random for every write. The key is derived from SECRET_KEY_BASE with
 * BLAKE2b (crypto_generichash) and crypto_kdf, so the session key is never the
 * secret itself and other subsystems can derive their own keys. The cookie
 * name is the associated data: a cookie sealed for one name does not open
 * under another. The plaintext starts with the issue time (8 bytes, big
 * endian), which is how max_age is enforced server-side whatever the browser
 * does with Max-Age.
 *
 * Reading never fails a request: anything that does not open is an empty
 * session. The map lives in the conn's arena and is written back by a
 * before-send callback only when it changed. */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "browser_int.h"
#include "kiln/params.h"

#define SESSION_ASSIGN "kiln.session"
#define DEFAULT_MAX_AGE (14 * 24 * 3600)
#define DEFAULT_MAX_SIZE 4096
#define NONCE_LEN crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define MAC_LEN crypto_aead_xchacha20poly1305_ietf_ABYTES

static const char *cookie_name(const kiln_session_opts_t *o) { return o->key ? o->key : "_kiln_session"; }
static int64_t max_age(const kiln_session_opts_t *o) { return o->max_age > 0 ? o->max_age : DEFAULT_MAX_AGE; }

/* The session key: KDF(BLAKE2b(secret_key_base), id 1, context "kilnsess"). */
static int session_key(const kiln_session_opts_t *o, unsigned char key[crypto_aead_xchacha20poly1305_ietf_KEYBYTES])
{
    if (!o->secret_key_base || strlen(o->secret_key_base) < 64 || sodium_init() < 0) return KILN_EINVAL;
    unsigned char master[crypto_kdf_KEYBYTES];
    crypto_generichash(master, sizeof master, (const unsigned char *)o->secret_key_base, strlen(o->secret_key_base),
                       NULL, 0);
    int rc = crypto_kdf_derive_from_key(key, crypto_aead_xchacha20poly1305_ietf_KEYBYTES, 1, "kilnsess", master);
    sodium_memzero(master, sizeof master);
    return rc == 0 ? 0 : KILN_EINTERNAL;
}

const char *kiln_session_seal(kiln_arena_t *a, const kiln_session_opts_t *o, const char *plain, size_t len,
                              int64_t issued_at)
{
    unsigned char key[crypto_aead_xchacha20poly1305_ietf_KEYBYTES];
    if (session_key(o, key) < 0) return NULL;
    size_t mlen = 8 + len, blen = NONCE_LEN + mlen + MAC_LEN;
    unsigned char *m = kiln_arena_alloc(a, mlen), *box = kiln_arena_alloc(a, blen);
    size_t b64len = sodium_base64_encoded_len(blen, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char *out = kiln_arena_alloc(a, b64len);
    if (!m || !box || !out) return NULL;
    for (int i = 0; i < 8; i++) m[i] = (unsigned char)((uint64_t)issued_at >> (56 - 8 * i));
    memcpy(m + 8, plain, len);
    randombytes_buf(box, NONCE_LEN);
    const char *ad = cookie_name(o);
    crypto_aead_xchacha20poly1305_ietf_encrypt(box + NONCE_LEN, NULL, m, mlen, (const unsigned char *)ad, strlen(ad),
                                               NULL, box, key);
    sodium_memzero(key, sizeof key);
    return sodium_bin2base64(out, b64len, box, blen, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

const char *kiln_session_open(kiln_arena_t *a, const kiln_session_opts_t *o, const char *cookie, int64_t now,
                              size_t *len)
{
    unsigned char key[crypto_aead_xchacha20poly1305_ietf_KEYBYTES];
    size_t clen = strlen(cookie), blen;
    unsigned char *box = kiln_arena_alloc(a, clen + 1);
    if (!box || session_key(o, key) < 0) return NULL;
    if (sodium_base642bin(box, clen, cookie, clen, NULL, &blen, NULL, sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        blen < NONCE_LEN + 8 + MAC_LEN)
        return NULL;
    char *m = kiln_arena_alloc(a, blen);
    unsigned long long mlen;
    const char *ad = cookie_name(o);
    int rc = m ? crypto_aead_xchacha20poly1305_ietf_decrypt((unsigned char *)m, &mlen, NULL, box + NONCE_LEN,
                                                             blen - NONCE_LEN, (const unsigned char *)ad, strlen(ad),
                                                             box, key)
               : -1;
    sodium_memzero(key, sizeof key);
    if (rc != 0) return NULL;
    uint64_t issued = 0;
    for (int i = 0; i < 8; i++) issued = issued << 8 | (unsigned char)m[i];
    if ((int64_t)issued > now + 60 || now - (int64_t)issued > max_age(o)) return NULL; /* 60 s of clock skew */
    m[mlen] = '\0';
    *len = (size_t)mlen - 8;
    return m + 8;
}

/* ---- the map ---- */

session_t *kiln_browser_session(kiln_conn_t *c)
{
    return kiln_conn_get_assign(c, SESSION_ASSIGN);
}

static kv_t **find(session_t *s, const char *key)
{
    kv_t **p = &s->head;
    while (*p && strcmp((*p)->key, key) != 0) p = &(*p)->next;
    return p;
}

const char *kiln_session_get(kiln_conn_t *c, const char *key)
{
    session_t *s = kiln_browser_session(c);
    kv_t *kv = s ? *find(s, key) : NULL;
    return kv ? kv->value : NULL;
}

int kiln_session_put(kiln_conn_t *c, const char *key, const char *value)
{
    session_t *s = kiln_browser_session(c);
    if (!s) return KILN_ESTATE;
    kv_t **p = find(s, key);
    if (!*p) {
        *p = kiln_arena_calloc(c->arena, sizeof **p);
        if (!*p || !((*p)->key = kiln_arena_strndup(c->arena, key, strlen(key)))) return KILN_ENOMEM;
    }
    (*p)->value = kiln_arena_strndup(c->arena, value, strlen(value));
    s->dirty = 1;
    return (*p)->value ? 0 : KILN_ENOMEM;
}

int kiln_session_delete(kiln_conn_t *c, const char *key)
{
    session_t *s = kiln_browser_session(c);
    if (!s) return KILN_ESTATE;
    kv_t **p = find(s, key);
    if (*p) {
        *p = (*p)->next;
        s->dirty = 1;
    }
    return 0;
}

void kiln_session_clear(kiln_conn_t *c)
{
    session_t *s = kiln_browser_session(c);
    if (s) {
        s->head = NULL;
        s->dirty = 1;
    }
}

/* ---- the cookie ---- */

static void encode_component(kiln_buf_t *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
            ch == '_' || ch == '.' || ch == '~') {
            kiln_buf_append(b, s, 1);
        } else {
            char e[3] = { '%', hex[ch >> 4], hex[ch & 15] };
            kiln_buf_append(b, e, 3);
        }
    }
}

static void write_cookie(kiln_conn_t *c, void *ud)
{
    session_t *s = ud;
    if (!s->dirty) return;
    kiln_cookie_opts_t co = kiln_cookie_opts_default();
    co.secure = c->scheme && strcmp(c->scheme, "https") == 0;
    if (!s->head) {
        if (s->had_cookie) kiln_conn_delete_resp_cookie(c, cookie_name(s->opts), &co);
        return;
    }
    kiln_buf_t b;
    kiln_buf_init(&b, 1 << 20);
    for (kv_t *kv = s->head; kv; kv = kv->next) {
        if (b.len) kiln_buf_append(&b, "&", 1);
        encode_component(&b, kv->key);
        kiln_buf_append(&b, "=", 1);
        encode_component(&b, kv->value);
    }
    const char *v = kiln_session_seal(c->arena, s->opts, b.data ? b.data : "", b.len, time(NULL));
    kiln_buf_free(&b);
    size_t limit = s->opts->max_size ? s->opts->max_size : DEFAULT_MAX_SIZE;
    if (!v) {
        kiln_log(KILN_LOG_ERROR, "session: cannot seal the session cookie (is SECRET_KEY_BASE set?)");
    } else if (strlen(v) > limit) {
        kiln_log(KILN_LOG_ERROR, "session: cookie %s of %zu bytes exceeds the %zu-byte limit; not written",
                 cookie_name(s->opts), strlen(v), limit);
    } else {
        co.max_age = max_age(s->opts);
        kiln_conn_put_resp_cookie(c, cookie_name(s->opts), v, &co);
    }
}

/* Fills s from the request cookie; anything invalid leaves it empty. */
static void load(kiln_conn_t *c, session_t *s)
{
    const char *cookie = kiln_conn_cookie(c, cookie_name(s->opts));
    if (!cookie) return;
    s->had_cookie = 1;
    size_t len;
    const char *plain = kiln_session_open(c->arena, s->opts, cookie, time(NULL), &len);
    kiln_param_t *map = plain ? kiln_params_new_map(c->arena) : NULL;
    kiln_params_limits_t l;
    kiln_params_limits_default(&l);
    if (!map || kiln_params_parse_urlencoded(c->arena, (kiln_str_t){ plain, len }, map, &l) < 0) {
        if (!plain) kiln_log(KILN_LOG_DEBUG, "session: cookie %s did not open; empty session", cookie_name(s->opts));
        return;
    }
    kv_t **tail = &s->head;
    for (kiln_param_t *p = map->u.children; p; p = p->next) {
        if (p->kind != KILN_PARAM_STRING) continue;
        kv_t *kv = kiln_arena_calloc(c->arena, sizeof *kv);
        if (!kv) return;
        kv->key = p->key;
        kv->value = p->u.str.ptr;
        *tail = kv;
        tail = &kv->next;
    }
}

int kiln_plug_session(kiln_conn_t *c, const void *opts)
{
    const kiln_session_opts_t *o = opts;
    if (!o || !o->secret_key_base) return KILN_EINVAL;
    session_t *s = kiln_arena_calloc(c->arena, sizeof *s);
    if (!s) return KILN_ENOMEM;
    s->opts = o;
    load(c, s);
    int rc = kiln_conn_assign(c, SESSION_ASSIGN, s);
    if (rc == 0) rc = kiln_conn_register_before_send(c, write_cookie, s);
    return rc < 0 ? rc : KILN_PLUG_CONT;
}
