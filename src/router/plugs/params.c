/* The params plug: query string and body into the kiln_param_t tree.
 *
 * The urlencoded and multipart parsers are kiln_http's (kiln/params.h); JSON
 * goes through jansson and is converted here. c->query_params and
 * c->body_params keep their own trees; c->params is a new map whose top-level
 * nodes are shallow copies of both (body over query), because a node has a
 * single sibling link and so cannot sit in two maps. Nested values are shared,
 * which is safe: the trees are read-only once built. */
#include "kiln/plugs.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* The media type of the request, lower-cased, without parameters. */
static int media_is(const kiln_str_t *ct, const char *type)
{
    size_t n = strlen(type);
    if (!ct || ct->len < n || strncasecmp(ct->ptr, type, n) != 0) return 0;
    return ct->len == n || ct->ptr[n] == ';' || ct->ptr[n] == ' ' || ct->ptr[n] == '\t';
}

static int is_json(const kiln_str_t *ct)
{
    if (!ct) return 0;
    if (media_is(ct, "application/json")) return 1;
    /* application/vnd.api+json and friends */
    size_t end = 0;
    while (end < ct->len && ct->ptr[end] != ';') end++;
    while (end > 0 && (ct->ptr[end - 1] == ' ' || ct->ptr[end - 1] == '\t')) end--;
    return end >= 5 && strncasecmp(ct->ptr + end - 5, "+json", 5) == 0;
}

/* ---- JSON → params ------------------------------------------------------------- */

static kiln_param_t *new_param(kiln_arena_t *a, kiln_param_kind_t kind, const char *key)
{
    kiln_param_t *p = kiln_arena_calloc(a, sizeof *p);
    if (!p) return NULL;
    p->kind = kind;
    if (key && !(p->key = kiln_arena_strndup(a, key, strlen(key)))) return NULL;
    return p;
}

static int scalar_text(kiln_arena_t *a, json_t *v, kiln_str_t *out)
{
    char num[64];
    const char *s = num;
    size_t len;
    switch (json_typeof(v)) {
    case JSON_STRING: s = json_string_value(v); len = json_string_length(v); break;
    case JSON_INTEGER: len = (size_t)snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v)); break;
    case JSON_REAL: len = (size_t)snprintf(num, sizeof num, "%.17g", json_real_value(v)); break;
    case JSON_TRUE: s = "true"; len = 4; break;
    case JSON_FALSE: s = "false"; len = 5; break;
    default: s = ""; len = 0; break; /* null: there is no null param kind */
    }
    char *d = kiln_arena_strndup(a, s, len);
    if (!d) return KILN_ENOMEM;
    *out = (kiln_str_t){ d, len };
    return 0;
}

static int from_json(kiln_arena_t *a, json_t *v, const char *key, size_t depth, size_t max_depth,
                     kiln_param_t **out);

static int append_child(kiln_arena_t *a, kiln_param_t ***tail, json_t *v, const char *key, size_t depth,
                        size_t max_depth)
{
    kiln_param_t *child;
    int rc = from_json(a, v, key, depth + 1, max_depth, &child);
    if (rc < 0) return rc;
    **tail = child;
    *tail = &child->next;
    return 0;
}

static int from_json(kiln_arena_t *a, json_t *v, const char *key, size_t depth, size_t max_depth,
                     kiln_param_t **out)
{
    if (depth > max_depth) return KILN_ETOOBIG;
    int obj = json_is_object(v), arr = json_is_array(v);
    kiln_param_t *p = new_param(a, obj ? KILN_PARAM_MAP : arr ? KILN_PARAM_LIST : KILN_PARAM_STRING, key);
    if (!p) return KILN_ENOMEM;
    int rc = 0;
    kiln_param_t **tail = &p->u.children;
    *out = p;
    if (obj) {
        const char *k;
        json_t *child;
        json_object_foreach(v, k, child) {
            if ((rc = append_child(a, &tail, child, k, depth, max_depth)) < 0) break;
        }
    } else if (arr) {
        size_t i;
        json_t *child;
        json_array_foreach(v, i, child) {
            if ((rc = append_child(a, &tail, child, NULL, depth, max_depth)) < 0) break;
        }
    } else {
        rc = scalar_text(a, v, &p->u.str);
    }
    return rc;
}

static int parse_json(kiln_conn_t *c, kiln_param_t *map, const kiln_params_limits_t *l, const char **why)
{
    json_error_t jerr;
    /* jansson validates UTF-8 and refuses \u0000 without JSON_ALLOW_NUL. */
    json_t *root = json_loadb(c->body.ptr, c->body.len, JSON_DECODE_ANY, &jerr);
    if (!root) {
        *why = kiln_arena_sprintf(c->arena, "Malformed JSON body: %s", jerr.text);
        return KILN_EINVAL;
    }
    kiln_param_t *p = NULL;
    int object = json_is_object(root);
    int rc = from_json(c->arena, root, object ? NULL : "_json", 0, l->max_depth, &p);
    json_decref(root);
    if (rc < 0) {
        *why = rc == KILN_ETOOBIG ? "JSON body nested too deeply." : *why;
        return rc;
    }
    map->u.children = object ? p->u.children : p;
    return 0;
}

/* ---- The plug -------------------------------------------------------------------- */

static int parse_body(kiln_conn_t *c, kiln_param_t *map, const kiln_params_limits_t *l, const char **why)
{
    const kiln_str_t *ct = kiln_conn_req_header(c, "content-type");
    if (c->body.len == 0 || !ct) return 0;
    if (media_is(ct, "application/x-www-form-urlencoded")) {
        *why = "Malformed form body (bad escape, key or UTF-8).";
        return kiln_params_parse_urlencoded(c->arena, c->body, map, l);
    }
    if (media_is(ct, "multipart/form-data")) {
        *why = "Malformed multipart body.";
        int err = 0;
        kiln_multipart_t *m = kiln_multipart_new(c->arena, *ct, map, l, &err);
        if (!m) return err ? err : KILN_ENOMEM;
        int rc = kiln_multipart_feed(m, c->body.ptr, c->body.len);
        return rc < 0 ? rc : kiln_multipart_finish(m);
    }
    if (is_json(ct)) return parse_json(c, map, l, why);
    return 0;
}

/* Shallow-copies the top-level nodes of src into dst, replacing same keys. */
static int merge_into(kiln_arena_t *a, kiln_param_t *dst, const kiln_param_t *src)
{
    for (const kiln_param_t *s = src ? src->u.children : NULL; s; s = s->next) {
        kiln_param_t *copy = kiln_arena_alloc(a, sizeof *copy);
        if (!copy) return KILN_ENOMEM;
        *copy = *s;
        copy->next = NULL;
        kiln_param_t **pp = &dst->u.children;
        while (*pp) {
            if (copy->key && (*pp)->key && !strcmp((*pp)->key, copy->key)) *pp = (*pp)->next;
            else pp = &(*pp)->next;
        }
        *pp = copy;
    }
    return 0;
}

static int reject(kiln_conn_t *c, int err, const char *why)
{
    int status = err == KILN_ETOOBIG ? 413 : 400;
    int rc = kiln_conn_send_error(c, status, why);
    return rc < 0 ? rc : KILN_PLUG_HALT;
}

int kiln_plug_params(kiln_conn_t *c, const void *opts)
{
    const kiln_params_opts_t *o = opts;
    kiln_params_limits_t def;
    kiln_params_limits_default(&def);
    const kiln_params_limits_t *l = o && o->limits ? o->limits : &def;
    kiln_param_t *q = kiln_params_new_map(c->arena), *b = kiln_params_new_map(c->arena);
    kiln_param_t *all = kiln_params_new_map(c->arena);
    if (!q || !b || !all) return KILN_ENOMEM;
    int rc = c->query_string.len ? kiln_params_parse_urlencoded(c->arena, c->query_string, q, l) : 0;
    if (rc == KILN_ENOMEM) return rc;
    if (rc < 0) return reject(c, rc, "Malformed query string (bad escape, key or UTF-8).");
    const char *why = "Malformed body.";
    rc = parse_body(c, b, l, &why);
    if (rc == KILN_ENOMEM || rc == KILN_EIO) return rc;
    if (rc < 0) return reject(c, rc, why);
    c->query_params = q;
    c->body_params = b;
    if ((rc = merge_into(c->arena, all, q)) < 0 || (rc = merge_into(c->arena, all, b)) < 0) return rc;
    if (c->params && (rc = merge_into(c->arena, all, c->params)) < 0) return rc;
    c->params = all;
    return KILN_PLUG_CONT;
}
