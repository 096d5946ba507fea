/* Kiln router: routes declared as a const table, compiled into a segment trie.
 *
 * An app declares its routes as data (STYLE.md §2.10), Phoenix-style:
 *
 *   static const kiln_plug_t browser_plugs[] = { KILN_PLUG(kiln_plug_accepts, &html_only), KILN_PLUG_END };
 *   static const kiln_pipeline_t browser = KILN_PIPELINE("browser", browser_plugs);
 *
 *   static const kiln_controller_t user_controller = {
 *       .name = "UserController", .helper = "user",
 *       .index = user_index, .show = user_show, .create = user_create,
 *   };
 *
 *   static const kiln_route_t routes[] = {
 *       KILN_SCOPE("/", &browser),
 *         KILN_GET("/", page_index, "page_index"),
 *         KILN_RESOURCES("/users", &user_controller),
 *       KILN_SCOPE_END,
 *       KILN_SCOPE("/api", &api, &auth),          // several pipelines, run in order
 *         KILN_RESOURCES_ONLY("/posts", &post_controller, KILN_ACTION_INDEX | KILN_ACTION_SHOW),
 *         KILN_GET("/files/" "*path", file_show, "file_show"),   // "*path": the rest
 *       KILN_SCOPE_END,
 *   };
 *   kiln_router_t *r;
 *   int rc = kiln_router_build(routes, KILN_ARRAY_LEN(routes), &r);
 *
 * Paths have static segments, ":name" params (one whole segment) and a final
 * "*name" wildcard (the rest of the path, at least one segment). At a node,
 * static children win over a param, and a param over a wildcard; matching
 * backtracks, so "/users/new" and "/users/:id" coexist. Scopes nest: their
 * prefixes concatenate and their pipelines run outer first. HEAD requests match
 * GET routes. A path that matches no route gives 404; one that matches only
 * with other methods gives 405 with an allow header.
 *
 * The table and everything it points to (pipelines, controllers, names) must
 * outlive the router: the router keeps pointers, never copies. */
#ifndef KILN_ROUTER_H
#define KILN_ROUTER_H

#include <stdio.h>
#include "kiln/endpoint.h"

/* A handler answers the request (one of the kiln_conn_send* functions) and
 * returns 0, or a negative KILN_E* that the endpoint turns into a 500. */
typedef int (*kiln_handler_fn)(kiln_conn_t *c);

/* A named pipeline: a KILN_PLUG_END-terminated plug array. */
typedef struct kiln_pipeline {
    const char *name;
    const kiln_plug_t *plugs;
} kiln_pipeline_t;
#define KILN_PIPELINE(name, plugs) { (name), (plugs) }

/* A resource controller: NULL actions get no route. `name` is shown by the
 * route listing; `helper` is the route-name stem ("user" → user_index,
 * user_show, user_new, user_create, user_edit, user_update, user_delete). */
typedef struct kiln_controller {
    const char *name;
    const char *helper;
    kiln_handler_fn index, show, new_, create, edit, update, delete_;
} kiln_controller_t;

enum {
    KILN_ACTION_INDEX = 1 << 0, KILN_ACTION_SHOW = 1 << 1, KILN_ACTION_NEW = 1 << 2, KILN_ACTION_CREATE = 1 << 3,
    KILN_ACTION_EDIT = 1 << 4, KILN_ACTION_UPDATE = 1 << 5, KILN_ACTION_DELETE = 1 << 6, KILN_ACTION_ALL = 0x7f
};

typedef enum { KILN_ROUTE_MATCH, KILN_ROUTE_SCOPE, KILN_ROUTE_SCOPE_END, KILN_ROUTE_RESOURCES } kiln_route_kind_t;

/* One table entry. Use the macros below rather than filling it by hand. */
typedef struct kiln_route {
    kiln_route_kind_t kind;
    kiln_method_t method;                      /* KILN_ROUTE_MATCH */
    const char *path;                          /* pattern, or scope/resources prefix */
    kiln_handler_fn handler;                   /* KILN_ROUTE_MATCH */
    const char *name;                          /* route name (helper), may be NULL */
    const char *handler_name;                  /* for the listing: the handler's C name */
    const kiln_pipeline_t *const *pipelines;   /* KILN_ROUTE_SCOPE: NULL-terminated */
    const kiln_controller_t *controller;       /* KILN_ROUTE_RESOURCES */
    unsigned actions;                          /* KILN_ROUTE_RESOURCES: KILN_ACTION_* mask */
} kiln_route_t;

#define KILN_ROUTE(m, p, h, n) { .kind = KILN_ROUTE_MATCH, .method = (m), .path = (p), .handler = (h), .name = (n), .handler_name = #h }
#define KILN_GET(p, h, n) KILN_ROUTE(KILN_METHOD_GET, p, h, n)
#define KILN_POST(p, h, n) KILN_ROUTE(KILN_METHOD_POST, p, h, n)
#define KILN_PUT(p, h, n) KILN_ROUTE(KILN_METHOD_PUT, p, h, n)
#define KILN_PATCH(p, h, n) KILN_ROUTE(KILN_METHOD_PATCH, p, h, n)
#define KILN_DELETE(p, h, n) KILN_ROUTE(KILN_METHOD_DELETE, p, h, n)
#define KILN_OPTIONS(p, h, n) KILN_ROUTE(KILN_METHOD_OPTIONS, p, h, n)
#define KILN_HEAD(p, h, n) KILN_ROUTE(KILN_METHOD_HEAD, p, h, n)
/* A scope: a path prefix plus the pipelines to pipe_through (outer first, in order). */
#define KILN_SCOPE(p, ...) { .kind = KILN_ROUTE_SCOPE, .path = (p), .pipelines = (const kiln_pipeline_t *const[]){ __VA_ARGS__, NULL } }
#define KILN_SCOPE_NOPIPE(p) { .kind = KILN_ROUTE_SCOPE, .path = (p) }
#define KILN_SCOPE_END { .kind = KILN_ROUTE_SCOPE_END }
#define KILN_RESOURCES(p, ctl) { .kind = KILN_ROUTE_RESOURCES, .path = (p), .controller = (ctl), .actions = KILN_ACTION_ALL }
#define KILN_RESOURCES_ONLY(p, ctl, mask) { .kind = KILN_ROUTE_RESOURCES, .path = (p), .controller = (ctl), .actions = (mask) }
#define KILN_RESOURCES_EXCEPT(p, ctl, mask) { .kind = KILN_ROUTE_RESOURCES, .path = (p), .controller = (ctl), .actions = KILN_ACTION_ALL & ~(unsigned)(mask) }

typedef struct kiln_router kiln_router_t;

/* Compiles the table into a router (the finalize step). Returns 0 and *out
 * (free with kiln_router_free), or KILN_EINVAL, with a log line naming the
 * entry, for: an unbalanced scope, a pattern not starting with '/', an empty
 * ":" or "*" name, a wildcard that is not last, a duplicate method + pattern. */
int kiln_router_build(const kiln_route_t *table, size_t n, kiln_router_t **out);
void kiln_router_free(kiln_router_t *r);

/* One compiled route (read-only view for the endpoint, listing and tests). */
typedef struct kiln_route_info {
    kiln_method_t method;
    const char *path;                          /* full pattern with scope prefixes */
    const char *name;
    const char *handler_name;                  /* "user_show" or "UserController :show" */
    kiln_handler_fn handler;
    const kiln_pipeline_t *const *pipelines;   /* outer scope first; NULL-terminated */
} kiln_route_info_t;

/* The result of a match. */
typedef struct kiln_match {
    const kiln_route_info_t *route;  /* NULL on a miss */
    int status;                      /* 0 on a hit, else 404 or 405 */
    char allow[96];                  /* for 405: "GET, HEAD, POST" */
} kiln_match_t;

/* Matches c's method and path. On a hit sets c->route_name, c->route_path and
 * c->path_params (a map in the arena; decoded segment values; a wildcard's
 * value is the rest of the path joined with '/'), and merges the path params
 * into c->params (created if NULL). Returns 0 (hit), KILN_ENOENT (m->status
 * is 404 or 405), KILN_EINVAL (a segment with a bad percent escape or invalid
 * UTF-8: answer 400) or KILN_ENOMEM. */
int kiln_router_match(const kiln_router_t *r, kiln_conn_t *c, kiln_match_t *m);

/* Matches without a conn or allocation (benchmarks, tools): returns the route
 * or NULL. path is the raw path; params are not decoded. */
const kiln_route_info_t *kiln_router_lookup(const kiln_router_t *r, kiln_method_t method, kiln_str_t path);

/* Builds the path of the route called `name`: segs fills the ":x" and "*x"
 * segments in order (NULL-terminated; a wildcard value may contain '/', each
 * piece is encoded), query is NULL or NULL-terminated key, value pairs
 * appended as "?k=v&..." (form-encoded). Every value is percent-encoded.
 * Returns the path in arena a, or NULL (and *err if err) for KILN_ENOENT (no
 * such name), KILN_EINVAL (wrong number of segments, empty segment) or KILN_ENOMEM. */
char *kiln_router_path(const kiln_router_t *r, kiln_arena_t *a, const char *name, const char *const *segs,
                       const char *const *query, int *err);
#define KILN_SEGS(...) ((const char *const[]){ __VA_ARGS__, NULL })
#define KILN_QUERY(...) ((const char *const[]){ __VA_ARGS__, NULL })

/* The path helper from a handler: uses the router of c's endpoint and c's arena. */
char *kiln_conn_path(kiln_conn_t *c, const char *name, const char *const *segs, const char *const *query);

/* Prints every route in `mix phx.routes` style, one per line:
 *   "  user_show  GET     /users/:id       UserController :show" */
void kiln_router_print(const kiln_router_t *r, FILE *out);

/* The compiled routes in declaration order. */
size_t kiln_router_count(const kiln_router_t *r);
const kiln_route_info_t *kiln_router_route(const kiln_router_t *r, size_t i);

#endif
