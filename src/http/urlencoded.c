/* application/x-www-form-urlencoded and query strings (WHATWG URL §5.1 as
 * Plug reads it): pairs split on '&', key and value split on the first '=',
 * '+' is a space, %XX escapes must be complete and the result valid UTF-8.
 * A bad escape or invalid UTF-8 fails the whole input rather than dropping a
 * pair, so that a handler never sees half of what the client sent.
 *
 * Decoded keys and values are written straight into the arena (they are never
 * longer than their encoded form) and the value buffer becomes the leaf's
 * string, so each pair costs one copy. */
#include "http/params_int.h"

#include <string.h>

/* Decodes s into a fresh NUL-terminated arena string; *out_len its length. */
static int decode(kiln_arena_t *a, const char *s, size_t n, char **out, size_t *out_len)
{
    char *d = kiln_arena_alloc(a, n + 1);
    if (!d) return KILN_ENOMEM;
    int rc = kiln_url_decode((kiln_str_t){ s, n }, d, 1);
    if (rc < 0) return rc;
    if (!kiln_utf8_valid(d, (size_t)rc)) return KILN_EINVAL;
    d[rc] = '\0';
    *out = d;
    *out_len = (size_t)rc;
    return 0;
}

static int put_pair(kiln_arena_t *a, const char *pair, size_t n, kiln_param_t *map, const kiln_params_limits_t *l)
{
    const char *eq = memchr(pair, '=', n);
    size_t klen = eq ? (size_t)(eq - pair) : n;
    if (klen > 3 * l->max_key) return KILN_ETOOBIG; /* before decoding: an escape is 3 bytes */
    char *key, *val;
    size_t key_len, val_len;
    int rc = decode(a, pair, klen, &key, &key_len);
    if (rc < 0) return rc;
    rc = eq ? decode(a, eq + 1, n - klen - 1, &val, &val_len) : decode(a, "", 0, &val, &val_len);
    if (rc < 0) return rc;
    if (key_len == 0) return 0; /* "=x": nothing to name it by; Plug drops it too */
    kiln_param_t *leaf = kiln_arena_calloc(a, sizeof *leaf);
    if (!leaf) return KILN_ENOMEM;
    leaf->kind = KILN_PARAM_STRING;
    leaf->u.str = (kiln_str_t){ val, val_len };
    return kiln__params_put_node(a, map, key, key_len, leaf, l);
}

int kiln_params_parse_urlencoded(kiln_arena_t *a, kiln_str_t input, kiln_param_t *map, const kiln_params_limits_t *l)
{
    size_t i = 0, pairs = 0;
    while (i < input.len) {
        const char *p = input.ptr + i, *amp = memchr(p, '&', input.len - i);
        size_t n = amp ? (size_t)(amp - p) : input.len - i;
        i += n + 1;
        if (n == 0) continue; /* "a=1&&b=2" */
        if (++pairs > l->max_pairs) return KILN_ETOOBIG;
        int rc = put_pair(a, p, n, map, l);
        if (rc < 0) return rc;
    }
    return 0;
}
