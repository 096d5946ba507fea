/* The params tree (kiln_param_t of kiln/conn.h) and Plug's nested-key rules.
 *
 * A map is a linked list of children in insertion order; lookups are linear.
 * Requests carry at most max_pairs keys (1000 by default) and handlers look
 * up a handful, so a hash table would cost more memory and code than it saves.
 * Every node and string lives in the request arena.
 *
 * Key rules, as Plug.Conn.Query: "a" sets a key (a later duplicate
 * overwrites), "a[b][c]" nests maps, "a[]" appends to a list, and "a[][b]"
 * builds a list of maps, starting a new map when b is already set in the last
 * one. Mixing shapes for one key ("a=1&a[b]=2") is an error rather than a
 * silent overwrite, so that a crafted query cannot change a param's type. */
#include "http/params_int.h"

#include <stdarg.h>
#include <string.h>

void kiln_params_limits_default(kiln_params_limits_t *l)
{
    l->max_pairs = 1000;
    l->max_depth = 32;
    l->max_key = 1024;
    l->max_file = 64u << 20;
    l->max_field = 1u << 20;
    l->tmp_dir = NULL;
}

kiln_param_t *kiln_params_new_map(kiln_arena_t *a)
{
    kiln_param_t *m = kiln_arena_calloc(a, sizeof *m);
    if (m) m->kind = KILN_PARAM_MAP;
    return m;
}

static kiln_param_t *find(const kiln_param_t *map, const char *key, size_t len)
{
    for (kiln_param_t *c = map->u.children; c; c = c->next)
        if (strncmp(c->key, key, len) == 0 && c->key[len] == '\0') return c;
    return NULL;
}

static void append(kiln_param_t *parent, kiln_param_t *child)
{
    kiln_param_t **p = &parent->u.children;
    while (*p) p = &(*p)->next;
    *p = child;
}

static kiln_param_t *last_child(const kiln_param_t *parent)
{
    kiln_param_t *c = parent->u.children;
    while (c && c->next) c = c->next;
    return c;
}

static kiln_param_t *new_node(kiln_arena_t *a, kiln_param_kind_t kind, const char *key, size_t key_len)
{
    kiln_param_t *n = kiln_arena_calloc(a, sizeof *n);
    if (!n) return NULL;
    n->kind = kind;
    if (key && !(n->key = kiln_arena_strndup(a, key, key_len))) return NULL;
    return n;
}

/* The child of map named key, created with `kind` when absent; NULL with *err
 * set when it exists with another kind or memory runs out. */
static kiln_param_t *child_of_kind(kiln_arena_t *a, kiln_param_t *map, const char *key, size_t len,
                                   kiln_param_kind_t kind, int *err)
{
    kiln_param_t *c = find(map, key, len);
    if (c) {
        if (c->kind != kind) *err = KILN_EINVAL;
        return c->kind == kind ? c : NULL;
    }
    if (!(c = new_node(a, kind, key, len))) {
        *err = KILN_ENOMEM;
        return NULL;
    }
    append(map, c);
    return c;
}

/* Walks the bracket segments that follow a key's first name. */
typedef struct key_cursor {
    const char *p, *end;
} key_cursor_t;

/* Stores the next bracket segment in seg and len; returns 1, 0 at the end, or KILN_EINVAL. */
static int next_segment(key_cursor_t *k, const char **seg, size_t *len)
{
    if (k->p == k->end) return 0;
    if (*k->p != '[') return KILN_EINVAL;
    const char *close = memchr(k->p, ']', (size_t)(k->end - k->p));
    if (!close) return KILN_EINVAL;
    *seg = k->p + 1;
    *len = (size_t)(close - k->p - 1);
    if (memchr(*seg, '[', *len)) return KILN_EINVAL;
    k->p = close + 1;
    return 1;
}

static int set_leaf(kiln_param_t *map, const char *name, size_t len, kiln_param_t *leaf, kiln_arena_t *a)
{
    kiln_param_t *old = find(map, name, len);
    if (!old) {
        if (!(leaf->key = kiln_arena_strndup(a, name, len))) return KILN_ENOMEM;
        append(map, leaf);
        return 0;
    }
    if (old->kind == KILN_PARAM_MAP || old->kind == KILN_PARAM_LIST) return KILN_EINVAL;
    old->kind = leaf->kind; /* a later plain duplicate overwrites, keeping its place */
    old->u = leaf->u;
    return 0;
}

static int check_key(const char *key, size_t key_len, const kiln_params_limits_t *l, size_t *first_len)
{
    if (key_len > l->max_key) return KILN_ETOOBIG;
    if (memchr(key, '\0', key_len)) return KILN_EINVAL; /* keys are C strings */
    const char *br = memchr(key, '[', key_len);
    *first_len = br ? (size_t)(br - key) : key_len;
    if (*first_len == 0 || memchr(key, ']', *first_len)) return KILN_EINVAL;
    size_t depth = 0;
    for (size_t i = *first_len; i < key_len; i++) depth += key[i] == '[';
    return depth > l->max_depth ? KILN_ETOOBIG : 0;
}

int kiln__params_put_node(kiln_arena_t *a, kiln_param_t *map, const char *key, size_t key_len, kiln_param_t *leaf,
                          const kiln_params_limits_t *l)
{
    size_t len;
    int rc = check_key(key, key_len, l, &len);
    if (rc < 0) return rc;
    if (!map || map->kind != KILN_PARAM_MAP) return KILN_EINVAL;
    key_cursor_t k = { key + len, key + key_len };
    const char *name = key, *seg;
    size_t seg_len;
    for (;;) {
        if ((rc = next_segment(&k, &seg, &seg_len)) < 0) return rc;
        if (rc == 0) return set_leaf(map, name, len, leaf, a);
        if (seg_len > 0) { /* "[b]": descend into a map */
            if (!(map = child_of_kind(a, map, name, len, KILN_PARAM_MAP, &rc))) return rc;
            name = seg, len = seg_len;
            continue;
        }
        /* "[]": a list; either the leaf goes in it, or a map does ("a[][b]") */
        kiln_param_t *list = child_of_kind(a, map, name, len, KILN_PARAM_LIST, &rc);
        if (!list) return rc;
        if ((rc = next_segment(&k, &seg, &seg_len)) < 0) return rc;
        if (rc == 0) {
            leaf->key = NULL;
            append(list, leaf);
            return 0;
        }
        if (seg_len == 0) return KILN_EINVAL; /* lists of lists are not supported, as in Plug */
        kiln_param_t *last = last_child(list);
        if (!last || last->kind != KILN_PARAM_MAP || find(last, seg, seg_len)) {
            if (!(last = new_node(a, KILN_PARAM_MAP, NULL, 0))) return KILN_ENOMEM;
            append(list, last);
        }
        map = last;
        name = seg, len = seg_len;
    }
}

int kiln_params_put(kiln_arena_t *a, kiln_param_t *map, const char *key, size_t key_len, const char *value,
                    size_t value_len, const kiln_params_limits_t *l)
{
    kiln_param_t *leaf = new_node(a, KILN_PARAM_STRING, NULL, 0);
    char *v = leaf ? kiln_arena_strndup(a, value, value_len) : NULL;
    if (!v) return KILN_ENOMEM;
    leaf->u.str = (kiln_str_t){ v, value_len };
    return kiln__params_put_node(a, map, key, key_len, leaf, l);
}

const kiln_param_t *kiln_param_get(const kiln_param_t *map, const char *key)
{
    if (!map || map->kind != KILN_PARAM_MAP || !key) return NULL;
    return find(map, key, strlen(key));
}

const kiln_param_t *kiln_param_path(const kiln_param_t *map, ...)
{
    va_list ap;
    va_start(ap, map);
    const char *key;
    while (map && (key = va_arg(ap, const char *)) != NULL) map = kiln_param_get(map, key);
    va_end(ap);
    return map;
}

const char *kiln_param_str(const kiln_param_t *map, const char *key)
{
    const kiln_param_t *p = kiln_param_get(map, key);
    return p && p->kind == KILN_PARAM_STRING ? p->u.str.ptr : NULL;
}
