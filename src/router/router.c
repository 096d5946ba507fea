/* The router: compiles a const route table into a segment trie, matches
 * requests against it, builds paths from route names, and lists the routes.
 *
 * Build (kiln_router_build) walks the table once with a scope stack, expands
 * resources into their seven actions, and inserts every route into a trie whose
 * nodes have sorted static edges (binary search), one param child and one
 * wildcard child, plus a per-method route slot. Everything the router owns lives
 * in its own arena, so freeing it is one call.
 *
 * Match splits the raw path on '/' (empty segments are skipped, as Plug does),
 * decodes only segments that contain '%', and searches the trie depth first:
 * static, then param, then wildcard, backtracking on a dead end. Captures are
 * not recorded during the search: once a route is found its own pattern is
 * walked beside the path segments to pull the values out, which keeps the
 * search itself allocation-free. When no route takes the method, the methods of
 * every node the path reached are collected for the 405 allow header. */
#include "kiln/router.h"
#include "kiln/params.h"
#include "router/router_int.h"

#include <stdlib.h>
#include <string.h>

#define MAX_SEGS 64      /* deeper request paths are a 404 */
#define MAX_SCOPES 16
#define N_METHODS (KILN_METHOD_CONNECT + 1)

typedef enum { SEG_STATIC, SEG_PARAM, SEG_WILD } seg_kind_t;

typedef struct pseg {
    seg_kind_t kind;
    kiln_str_t text; /* static text, or the param name without ':' / '*' */
} pseg_t;

typedef struct route {
    kiln_route_info_t info; /* first: kiln_router_route hands out &info */
    pseg_t *segs;
    size_t n_segs;
} route_t;

typedef struct node node_t;
typedef struct edge {
    kiln_str_t seg;
    node_t *child;
} edge_t;

struct node {
    edge_t *statics;
    size_t n_statics;
    node_t *param, *wild;
    route_t *by_method[N_METHODS];
};

struct kiln_router {
    kiln_arena_t arena;
    node_t *root;
    route_t *routes;
    size_t n_routes, cap_routes;
};

/* ---- Building ---------------------------------------------------------------- */

typedef struct scope {
    const char *prefix;                       /* joined, arena */
    const kiln_pipeline_t **pipes;            /* accumulated, NULL-terminated */
    size_t n_pipes;
} scope_t;

/* Joins two path patterns, normalising slashes: ("/", "/") → "/", ("/api", "/x/") → "/api/x". */
static char *join_path(kiln_arena_t *a, const char *prefix, const char *path)
{
    size_t lp = strlen(prefix), lq = strlen(path);
    char *out = kiln_arena_alloc(a, lp + lq + 3);
    if (!out) return NULL;
    size_t n = 0;
    const char *parts[2] = { prefix, path };
    for (int k = 0; k < 2; k++)
        for (const char *p = parts[k]; *p;) {
            while (*p == '/') p++;
            if (!*p) break;
            out[n++] = '/';
            while (*p && *p != '/') out[n++] = *p++;
        }
    if (n == 0) out[n++] = '/';
    out[n] = '\0';
    return out;
}

/* Splits a normalised pattern into segments; KILN_EINVAL for bad names or a non-final wildcard. */
static int parse_pattern(kiln_arena_t *a, const char *path, pseg_t **out, size_t *n_out)
{
    size_t cap = 1;
    for (const char *p = path; *p; p++) cap += *p == '/';
    pseg_t *segs = kiln_arena_alloc(a, cap * sizeof *segs);
    if (!segs) return KILN_ENOMEM;
    size_t n = 0;
    for (const char *p = path; *p;) {
        if (*p == '/') { p++; continue; }
        const char *s = p;
        while (*p && *p != '/') p++;
        pseg_t g = { SEG_STATIC, { s, (size_t)(p - s) } };
        if (*s == ':' || *s == '*') {
            g.kind = *s == ':' ? SEG_PARAM : SEG_WILD;
            g.text = (kiln_str_t){ s + 1, (size_t)(p - s - 1) };
            if (g.text.len == 0) return KILN_EINVAL;
            if (g.kind == SEG_WILD && *p) return KILN_EINVAL;
        }
        segs[n++] = g;
    }
    *out = segs;
    *n_out = n;
    return 0;
}

static node_t *new_node(kiln_arena_t *a)
{
    return kiln_arena_calloc(a, sizeof(node_t));
}

static int seg_cmp(kiln_str_t a, kiln_str_t b)
{
    if (a.len != b.len) return a.len < b.len ? -1 : 1;
    return memcmp(a.ptr, b.ptr, a.len);
}

/* Finds the static edge for seg; *pos is where it would be inserted. */
static node_t *find_static(const node_t *n, kiln_str_t seg, size_t *pos)
{
    size_t lo = 0, hi = n->n_statics;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = seg_cmp(seg, n->statics[mid].seg);
        if (c == 0) return n->statics[mid].child;
        if (c < 0) hi = mid;
        else lo = mid + 1;
    }
    if (pos) *pos = lo;
    return NULL;
}

static node_t *static_child(kiln_arena_t *a, node_t *n, kiln_str_t seg)
{
    size_t pos = 0;
    node_t *c = find_static(n, seg, &pos);
    if (c) return c;
    /* Build-time only: copying the edge array on each insert keeps nodes compact. */
    edge_t *e = kiln_arena_alloc(a, (n->n_statics + 1) * sizeof *e);
    if (!e || !(c = new_node(a))) return NULL;
    if (pos) memcpy(e, n->statics, pos * sizeof *e);
    e[pos] = (edge_t){ seg, c };
    if (n->n_statics > pos) memcpy(e + pos + 1, n->statics + pos, (n->n_statics - pos) * sizeof *e);
    n->statics = e;
    n->n_statics++;
    return c;
}

static int insert(kiln_router_t *r, route_t *rt)
{
    node_t *n = r->root;
    for (size_t i = 0; i < rt->n_segs && n; i++) {
        node_t **slot = rt->segs[i].kind == SEG_PARAM ? &n->param : rt->segs[i].kind == SEG_WILD ? &n->wild : NULL;
        if (!slot) n = static_child(&r->arena, n, rt->segs[i].text);
        else n = *slot ? *slot : (*slot = new_node(&r->arena));
    }
    if (!n) return KILN_ENOMEM;
    if (n->by_method[rt->info.method]) {
        kiln_log(KILN_LOG_ERROR, "router: duplicate route %s %s", kiln_http_method_name(rt->info.method), rt->info.path);
        return KILN_EINVAL;
    }
    n->by_method[rt->info.method] = rt;
    return 0;
}

static int add_route(kiln_router_t *r, const scope_t *sc, kiln_method_t m, const char *path, kiln_handler_fn h,
                     const char *name, const char *handler_name)
{
    if (!path || path[0] != '/' || !h || m <= KILN_METHOD_OTHER || m >= N_METHODS) {
        kiln_log(KILN_LOG_ERROR, "router: bad route %s (needs a '/' path, a method and a handler)", path ? path : "(null)");
        return KILN_EINVAL;
    }
    if (r->n_routes == r->cap_routes) return KILN_EINTERNAL; /* counted in advance */
    route_t *rt = &r->routes[r->n_routes];
    rt->info = (kiln_route_info_t){ m, join_path(&r->arena, sc->prefix, path), name, handler_name, h,
                                    (const kiln_pipeline_t *const *)sc->pipes };
    if (!rt->info.path) return KILN_ENOMEM;
    int rc = parse_pattern(&r->arena, rt->info.path, &rt->segs, &rt->n_segs);
    if (rc == KILN_EINVAL) kiln_log(KILN_LOG_ERROR, "router: bad pattern %s", rt->info.path);
    if (rc == 0) rc = insert(r, rt);
    if (rc == 0) r->n_routes++;
    return rc;
}

/* Phoenix's resources order, paths and names. */
static int add_resources(kiln_router_t *r, const scope_t *sc, const kiln_route_t *e)
{
    const kiln_controller_t *ctl = e->controller;
    if (!ctl || !e->path) return KILN_EINVAL;
    struct { unsigned bit; kiln_method_t m; const char *suffix, *action; kiln_handler_fn h; } acts[] = {
        { KILN_ACTION_INDEX, KILN_METHOD_GET, "", "index", ctl->index },
        { KILN_ACTION_EDIT, KILN_METHOD_GET, "/:id/edit", "edit", ctl->edit },
        { KILN_ACTION_NEW, KILN_METHOD_GET, "/new", "new", ctl->new_ },
        { KILN_ACTION_SHOW, KILN_METHOD_GET, "/:id", "show", ctl->show },
        { KILN_ACTION_CREATE, KILN_METHOD_POST, "", "create", ctl->create },
        { KILN_ACTION_UPDATE, KILN_METHOD_PATCH, "/:id", "update", ctl->update },
        { KILN_ACTION_UPDATE, KILN_METHOD_PUT, "/:id", "update", ctl->update },
        { KILN_ACTION_DELETE, KILN_METHOD_DELETE, "/:id", "delete", ctl->delete_ },
    };
    const char *stem = ctl->helper ? ctl->helper : "resource";
    const char *cname = ctl->name ? ctl->name : stem;
    for (size_t i = 0; i < KILN_ARRAY_LEN(acts); i++) {
        if (!(e->actions & acts[i].bit) || !acts[i].h) continue;
        char *path = kiln_arena_sprintf(&r->arena, "%s%s", e->path, acts[i].suffix);
        char *name = kiln_arena_sprintf(&r->arena, "%s_%s", stem, acts[i].action);
        char *hname = kiln_arena_sprintf(&r->arena, "%s :%s", cname, acts[i].action);
        if (!path || !name || !hname) return KILN_ENOMEM;
        int rc = add_route(r, sc, acts[i].m, path, acts[i].h, name, hname);
        if (rc < 0) return rc;
    }
    return 0;
}

static int push_scope(kiln_router_t *r, scope_t *stack, size_t *depth, const kiln_route_t *e)
{
    if (*depth + 1 >= MAX_SCOPES || !e->path) return KILN_EINVAL;
    const scope_t *outer = &stack[*depth];
    size_t extra = 0;
    while (e->pipelines && e->pipelines[extra]) extra++;
    scope_t *s = &stack[++*depth];
    s->prefix = join_path(&r->arena, outer->prefix, e->path);
    s->n_pipes = outer->n_pipes + extra;
    s->pipes = kiln_arena_alloc(&r->arena, (s->n_pipes + 1) * sizeof *s->pipes);
    if (!s->prefix || !s->pipes) return KILN_ENOMEM;
    if (outer->n_pipes) memcpy(s->pipes, outer->pipes, outer->n_pipes * sizeof *s->pipes);
    if (extra) memcpy(s->pipes + outer->n_pipes, e->pipelines, extra * sizeof *s->pipes);
    s->pipes[s->n_pipes] = NULL;
    return 0;
}

static size_t count_routes(const kiln_route_t *t, size_t n)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += t[i].kind == KILN_ROUTE_MATCH ? 1 : t[i].kind == KILN_ROUTE_RESOURCES ? 8 : 0;
    return total;
}

static int build_table(kiln_router_t *r, const kiln_route_t *t, size_t n)
{
    scope_t stack[MAX_SCOPES];
    size_t depth = 0;
    stack[0] = (scope_t){ "/", kiln_arena_calloc(&r->arena, sizeof(void *)), 0 };
    if (!stack[0].pipes) return KILN_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const kiln_route_t *e = &t[i];
        int rc = 0;
        switch (e->kind) {
        case KILN_ROUTE_MATCH:
            rc = add_route(r, &stack[depth], e->method, e->path, e->handler, e->name, e->handler_name);
            break;
        case KILN_ROUTE_RESOURCES: rc = add_resources(r, &stack[depth], e); break;
        case KILN_ROUTE_SCOPE: rc = push_scope(r, stack, &depth, e); break;
        case KILN_ROUTE_SCOPE_END: rc = depth > 0 ? (depth--, 0) : KILN_EINVAL; break;
        default: rc = KILN_EINVAL;
        }
        if (rc < 0) {
            kiln_log(KILN_LOG_ERROR, "router: table entry %zu is invalid (%s)", i, kiln_strerror(rc));
            return rc;
        }
    }
    if (depth != 0) {
        kiln_log(KILN_LOG_ERROR, "router: %zu scope(s) not closed with KILN_SCOPE_END", depth);
        return KILN_EINVAL;
    }
    return 0;
}

int kiln_router_build(const kiln_route_t *table, size_t n, kiln_router_t **out)
{
    kiln_router_t *r = kiln_xcalloc(1, sizeof *r);
    kiln_arena_init(&r->arena, 16384);
    r->cap_routes = count_routes(table, n);
    r->routes = kiln_arena_calloc(&r->arena, (r->cap_routes + 1) * sizeof *r->routes);
    r->root = new_node(&r->arena);
    int rc = r->routes && r->root ? build_table(r, table, n) : KILN_ENOMEM;
    if (rc < 0) {
        kiln_router_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

void kiln_router_free(kiln_router_t *r)
{
    if (!r) return;
    kiln_arena_destroy(&r->arena);
    free(r);
}

size_t kiln_router_count(const kiln_router_t *r)
{
    return r->n_routes;
}

const kiln_route_info_t *kiln_router_route(const kiln_router_t *r, size_t i)
{
    return i < r->n_routes ? &r->routes[i].info : NULL;
}

/* ---- Matching ---------------------------------------------------------------- */

typedef struct search {
    const kiln_str_t *segs;
    size_t n;
    kiln_method_t method;
    unsigned allow; /* bit per method of every node the whole path reached */
} search_t;

static const route_t *pick(const node_t *n, kiln_method_t m)
{
    const route_t *rt = n->by_method[m];
    if (!rt && m == KILN_METHOD_HEAD) rt = n->by_method[KILN_METHOD_GET];
    return rt;
}

static void note_allow(search_t *s, const node_t *n)
{
    for (int m = 1; m < N_METHODS; m++)
        if (n->by_method[m]) s->allow |= 1u << m;
}

static const route_t *search(search_t *s, const node_t *n, size_t i)
{
    if (i == s->n) {
        const route_t *rt = pick(n, s->method);
        if (!rt) note_allow(s, n);
        return rt;
    }
    const node_t *c = find_static(n, s->segs[i], NULL);
    const route_t *rt = c ? search(s, c, i + 1) : NULL;
    if (!rt && n->param) rt = search(s, n->param, i + 1);
    if (!rt && n->wild) {
        rt = pick(n->wild, s->method);
        if (!rt) note_allow(s, n->wild);
    }
    return rt;
}

int kiln__path_split(kiln_str_t path, kiln_str_t *segs, int max)
{
    int n = 0;
    const char *p = path.ptr, *end = path.ptr + path.len;
    const char *q = memchr(p, '?', path.len);
    if (q) end = q;
    while (p < end) {
        while (p < end && *p == '/') p++;
        if (p == end) break;
        const char *s = p;
        while (p < end && *p != '/') p++;
        if (n == max) return -1;
        segs[n++] = (kiln_str_t){ s, (size_t)(p - s) };
    }
    return n;
}

const kiln_route_info_t *kiln_router_lookup(const kiln_router_t *r, kiln_method_t method, kiln_str_t path)
{
    kiln_str_t segs[MAX_SEGS];
    int n = kiln__path_split(path, segs, MAX_SEGS);
    if (n < 0) return NULL;
    search_t s = { segs, (size_t)n, method, 0 };
    const route_t *rt = search(&s, r->root, 0);
    return rt ? &rt->info : NULL;
}

/* Decodes in place (into the arena) the segments that carry escapes. */
static int decode_segs(kiln_arena_t *a, kiln_str_t *segs, int n)
{
    for (int i = 0; i < n; i++) {
        if (!memchr(segs[i].ptr, '%', segs[i].len)) continue;
        char *d = kiln_arena_alloc(a, segs[i].len + 1);
        if (!d) return KILN_ENOMEM;
        int len = kiln_url_decode(segs[i], d, 0);
        if (len < 0 || !kiln_utf8_valid(d, (size_t)len)) return KILN_EINVAL;
        d[len] = '\0';
        segs[i] = (kiln_str_t){ d, (size_t)len };
    }
    return 0;
}

static kiln_param_t *new_str_param(kiln_arena_t *a, const char *key, size_t klen, kiln_str_t v)
{
    kiln_param_t *p = kiln_arena_calloc(a, sizeof *p);
    char *k = kiln_arena_strndup(a, key, klen);
    char *val = kiln_arena_strndup(a, v.ptr ? v.ptr : "", v.len);
    if (!p || !k || !val) return NULL;
    p->kind = KILN_PARAM_STRING;
    p->key = k;
    p->u.str = (kiln_str_t){ val, v.len };
    return p;
}

/* Appends p to map, replacing a same-key child (path params win, as in Phoenix). */
static void map_put(kiln_param_t *map, kiln_param_t *p)
{
    kiln_param_t **pp = &map->u.children;
    while (*pp) {
        if ((*pp)->key && strcmp((*pp)->key, p->key) == 0) *pp = (*pp)->next;
        else pp = &(*pp)->next;
    }
    p->next = NULL;
    *pp = p;
}

/* A wildcard's value: the remaining (decoded) segments joined with '/'. */
static kiln_str_t join_rest(kiln_arena_t *a, const kiln_str_t *segs, size_t from, size_t n)
{
    size_t len = 0;
    for (size_t i = from; i < n; i++) len += segs[i].len + 1;
    char *d = kiln_arena_alloc(a, len + 1);
    if (!d) return (kiln_str_t){ NULL, 0 };
    size_t o = 0;
    for (size_t i = from; i < n; i++) {
        if (i > from) d[o++] = '/';
        memcpy(d + o, segs[i].ptr, segs[i].len);
        o += segs[i].len;
    }
    d[o] = '\0';
    return (kiln_str_t){ d, o };
}

static int set_path_params(kiln_conn_t *c, const route_t *rt, const kiln_str_t *segs, size_t n)
{
    kiln_param_t *pp = kiln_params_new_map(c->arena);
    if (!pp) return KILN_ENOMEM;
    if (!c->params && !(c->params = kiln_params_new_map(c->arena))) return KILN_ENOMEM;
    for (size_t i = 0; i < rt->n_segs; i++) {
        const pseg_t *g = &rt->segs[i];
        if (g->kind == SEG_STATIC) continue;
        kiln_str_t v = g->kind == SEG_WILD ? join_rest(c->arena, segs, i, n) : segs[i];
        kiln_param_t *a = v.ptr ? new_str_param(c->arena, g->text.ptr, g->text.len, v) : NULL;
        kiln_param_t *b = v.ptr ? new_str_param(c->arena, g->text.ptr, g->text.len, v) : NULL;
        if (!a || !b) return KILN_ENOMEM;
        map_put(pp, a);
        map_put(c->params, b);
    }
    c->path_params = pp;
    return 0;
}

static void format_allow(unsigned mask, char *out, size_t cap)
{
    static const kiln_method_t order[] = { KILN_METHOD_GET, KILN_METHOD_HEAD, KILN_METHOD_POST,
                                           KILN_METHOD_PUT, KILN_METHOD_PATCH, KILN_METHOD_DELETE,
                                           KILN_METHOD_OPTIONS, KILN_METHOD_TRACE, KILN_METHOD_CONNECT };
    if (mask & (1u << KILN_METHOD_GET)) mask |= 1u << KILN_METHOD_HEAD;
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < KILN_ARRAY_LEN(order); i++) {
        if (!(mask & (1u << order[i]))) continue;
        const char *name = kiln_http_method_name(order[i]);
        size_t need = strlen(name) + (o ? 2 : 0);
        if (o + need + 1 > cap) break;
        o += (size_t)snprintf(out + o, cap - o, "%s%s", o ? ", " : "", name);
    }
}

int kiln_router_match(const kiln_router_t *r, kiln_conn_t *c, kiln_match_t *m)
{
    m->route = NULL;
    m->allow[0] = '\0';
    kiln_str_t segs[MAX_SEGS];
    kiln_str_t raw = c->raw_path.len ? c->raw_path : c->path;
    int n = kiln__path_split(raw, segs, MAX_SEGS);
    m->status = 404;
    if (n < 0) return KILN_ENOENT;
    int rc = decode_segs(c->arena, segs, n);
    if (rc < 0) return rc;
    search_t s = { segs, (size_t)n, c->method, 0 };
    const route_t *rt = search(&s, r->root, 0);
    if (!rt) {
        if (s.allow) {
            m->status = 405;
            format_allow(s.allow, m->allow, sizeof m->allow);
        }
        return KILN_ENOENT;
    }
    rc = set_path_params(c, rt, segs, (size_t)n);
    if (rc < 0) return rc;
    m->route = &rt->info;
    m->status = 0;
    c->route_name = rt->info.name;
    c->route_path = rt->info.path;
    return 0;
}

/* ---- Path helpers -------------------------------------------------------------- */

static int is_unreserved(unsigned char ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' ||
           ch == '.' || ch == '_' || ch == '~';
}

static int encode(kiln_buf_t *b, const char *s, size_t n, int form)
{
    static const char hex[] = "0123456789ABCDEF";
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (is_unreserved(ch)) rc = kiln_buf_append(b, s + i, 1);
        else if (form && ch == ' ') rc = kiln_buf_append(b, "+", 1);
        else {
            char e[3] = { '%', hex[ch >> 4], hex[ch & 15] };
            rc = kiln_buf_append(b, e, 3);
        }
    }
    return rc;
}

/* A wildcard value keeps its '/' separators; each piece is encoded. */
static int encode_wild(kiln_buf_t *b, const char *v)
{
    int rc = 0;
    for (const char *p = v; rc == 0;) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        rc = encode(b, p, len, 0);
        if (!slash) break;
        if (rc == 0) rc = kiln_buf_append(b, "/", 1);
        p = slash + 1;
    }
    return rc;
}

static const route_t *find_named(const kiln_router_t *r, const char *name)
{
    for (size_t i = 0; i < r->n_routes; i++)
        if (r->routes[i].info.name && strcmp(r->routes[i].info.name, name) == 0) return &r->routes[i];
    return NULL;
}

static int build_path(kiln_buf_t *b, const route_t *rt, const char *const *segs, const char *const *query)
{
    size_t used = 0;
    int rc = 0;
    for (size_t i = 0; i < rt->n_segs && rc == 0; i++) {
        const pseg_t *g = &rt->segs[i];
        rc = kiln_buf_append(b, "/", 1);
        if (rc < 0) break;
        if (g->kind == SEG_STATIC) {
            rc = kiln_buf_append(b, g->text.ptr, g->text.len);
            continue;
        }
        const char *v = segs ? segs[used] : NULL;
        if (!v || !*v) return KILN_EINVAL;
        used++;
        rc = g->kind == SEG_WILD ? encode_wild(b, v) : encode(b, v, strlen(v), 0);
    }
    if (rc == 0 && rt->n_segs == 0) rc = kiln_buf_append(b, "/", 1);
    if (rc == 0 && segs && segs[used]) return KILN_EINVAL; /* too many segments */
    for (size_t i = 0; rc == 0 && query && query[i]; i += 2) {
        if (!query[i + 1]) return KILN_EINVAL;
        rc = kiln_buf_append(b, i ? "&" : "?", 1);
        if (rc == 0) rc = encode(b, query[i], strlen(query[i]), 1);
        if (rc == 0) rc = kiln_buf_append(b, "=", 1);
        if (rc == 0) rc = encode(b, query[i + 1], strlen(query[i + 1]), 1);
    }
    return rc < 0 ? KILN_ETOOBIG : 0;
}

char *kiln_router_path(const kiln_router_t *r, kiln_arena_t *a, const char *name, const char *const *segs,
                       const char *const *query, int *err)
{
    const route_t *rt = r && name ? find_named(r, name) : NULL;
    int rc = rt ? 0 : KILN_ENOENT;
    kiln_buf_t b;
    kiln_buf_init(&b, 65536);
    if (rc == 0) rc = build_path(&b, rt, segs, query);
    char *out = rc == 0 ? kiln_arena_strndup(a, b.data, b.len) : NULL;
    if (rc == 0 && !out) rc = KILN_ENOMEM;
    kiln_buf_free(&b);
    if (err) *err = rc;
    return out;
}

char *kiln_conn_path(kiln_conn_t *c, const char *name, const char *const *segs, const char *const *query)
{
    const kiln_endpoint_t *ep = c->endpoint;
    return kiln_router_path(ep ? ep->router : NULL, c->arena, name, segs, query, NULL);
}

/* ---- Listing ---------------------------------------------------------------------- */

void kiln_router_print(const kiln_router_t *r, FILE *out)
{
    int wn = 0, wm = 0, wp = 0;
    for (size_t i = 0; i < r->n_routes; i++) {
        const kiln_route_info_t *ri = &r->routes[i].info;
        int ln = ri->name ? (int)strlen(ri->name) : 0, lm = (int)strlen(kiln_http_method_name(ri->method));
        int lp = (int)strlen(ri->path);
        wn = ln > wn ? ln : wn;
        wm = lm > wm ? lm : wm;
        wp = lp > wp ? lp : wp;
    }
    for (size_t i = 0; i < r->n_routes; i++) {
        const kiln_route_info_t *ri = &r->routes[i].info;
        fprintf(out, "  %*s  %-*s  %-*s  %s\n", wn, ri->name ? ri->name : "", wm, kiln_http_method_name(ri->method),
                wp, ri->path, ri->handler_name ? ri->handler_name : "");
    }
}
