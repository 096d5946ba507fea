/* Router: trie precedence, 404/405, HEAD, scopes and pipelines, resources,
 * path helpers and the route listing. Requests go through ConnTest. */
#include "kiln/router.h"
#include "kiln/test.h"
#include "kiln_test.h"

#include <stdlib.h>

static int reply(kiln_conn_t *c, const char *what)
{
    const char *id = kiln_param_str(c->path_params, "id");
    const char *rest = kiln_param_str(c->path_params, "rest");
    char *body = kiln_arena_sprintf(c->arena, "%s%s%s%s%s", what, id ? " id=" : "", id ? id : "",
                                    rest ? " rest=" : "", rest ? rest : "");
    return kiln_conn_text(c, 200, body);
}

static int h_root(kiln_conn_t *c) { return reply(c, "root"); }
static int h_new(kiln_conn_t *c) { return reply(c, "users_new"); }
static int h_param(kiln_conn_t *c) { return reply(c, "user"); }
static int h_wild(kiln_conn_t *c) { return reply(c, "files"); }
static int h_post(kiln_conn_t *c) { return reply(c, "post"); }
static int h_api(kiln_conn_t *c) { return reply(c, "api"); }
static int h_order(kiln_conn_t *c) { return kiln_conn_text(c, 200, kiln_conn_get_assign(c, "trace")); }

static int c_index(kiln_conn_t *c) { return reply(c, "index"); }
static int c_show(kiln_conn_t *c) { return reply(c, "show"); }
static int c_new(kiln_conn_t *c) { return reply(c, "new"); }
static int c_create(kiln_conn_t *c) { return reply(c, "create"); }
static int c_edit(kiln_conn_t *c) { return reply(c, "edit"); }
static int c_update(kiln_conn_t *c) { return reply(c, "update"); }
static int c_delete(kiln_conn_t *c) { return reply(c, "delete"); }

/* Appends its name to the "trace" assign, to check pipeline order. */
static int trace_plug(kiln_conn_t *c, const void *opts)
{
    const char *prev = kiln_conn_get_assign(c, "trace");
    return kiln_conn_assign(c, "trace", kiln_arena_sprintf(c->arena, "%s%s,", prev ? prev : "", (const char *)opts));
}

static const kiln_plug_t browser_plugs[] = { KILN_PLUG(trace_plug, "browser"), KILN_PLUG_END };
static const kiln_plug_t auth_plugs[] = { KILN_PLUG(trace_plug, "auth"), KILN_PLUG_END };
static const kiln_plug_t api_plugs[] = { KILN_PLUG(trace_plug, "api1"), KILN_PLUG(trace_plug, "api2"), KILN_PLUG_END };
static const kiln_pipeline_t browser = KILN_PIPELINE("browser", browser_plugs);
static const kiln_pipeline_t auth = KILN_PIPELINE("auth", auth_plugs);
static const kiln_pipeline_t api = KILN_PIPELINE("api", api_plugs);

static const kiln_controller_t user_ctl = { .name = "UserController", .helper = "user", .index = c_index,
                                            .show = c_show, .new_ = c_new, .create = c_create, .edit = c_edit,
                                            .update = c_update, .delete_ = c_delete };
static const kiln_controller_t post_ctl = { .name = "PostController", .helper = "post", .index = c_index,
                                            .show = c_show, .new_ = c_new, .create = c_create, .edit = c_edit,
                                            .update = c_update, .delete_ = c_delete };
static const kiln_controller_t tag_ctl = { .name = "TagController", .helper = "tag", .index = c_index,
                                           .show = c_show, .new_ = c_new, .create = c_create, .edit = c_edit,
                                           .update = c_update, .delete_ = c_delete };

static const kiln_route_t routes[] = {
    KILN_GET("/", h_root, "root"),
    KILN_GET("/u/new", h_new, "u_new"),
    KILN_GET("/u/:id", h_param, "u_show"),
    KILN_POST("/u/:id", h_post, "u_post"),
    KILN_GET("/files/" "*rest", h_wild, "files"),
    KILN_GET("/mixed/:id/" "*rest", h_wild, "mixed"),
    KILN_GET("/mixed/static/x", h_root, NULL),
    KILN_SCOPE("/admin", &browser),
      KILN_SCOPE("/deep", &auth),
        KILN_GET("/order", h_order, "order"),
      KILN_SCOPE_END,
      KILN_RESOURCES("/users", &user_ctl),
    KILN_SCOPE_END,
    KILN_SCOPE("/api/v1", &api, &auth),
      KILN_GET("/ping", h_api, "api_ping"),
      KILN_RESOURCES_ONLY("/posts", &post_ctl, KILN_ACTION_INDEX | KILN_ACTION_SHOW),
      KILN_RESOURCES_EXCEPT("/tags", &tag_ctl, KILN_ACTION_DELETE | KILN_ACTION_EDIT | KILN_ACTION_NEW),
    KILN_SCOPE_END,
};

static kiln_router_t *router;
static kiln_endpoint_t ep = { .name = "test" };

static void expect(const char *method, const char *target, int status, const char *body)
{
    kiln_test_conn_t *t = kiln_test_request(&ep, method, target);
    int st = t->status;
    int same = !body || strcmp(t->body, body) == 0;
    if (st != status || !same)
        fprintf(stderr, "  %s %s -> %d \"%s\" (wanted %d \"%s\")\n", method, target, st, t->body, status,
                body ? body : "*");
    kiln_test_free(t);
    KT_ASSERT_EQ_INT(st, status);
    KT_ASSERT(same);
}

static void test_precedence(void)
{
    expect("GET", "/", 200, "root");
    expect("GET", "/u/new", 200, "users_new");
    expect("GET", "/u/42", 200, "user id=42");
    expect("GET", "/u/new/", 200, "users_new"); /* trailing slash, as Plug */
    expect("GET", "//u//7", 200, "user id=7");  /* empty segments skipped */
    expect("GET", "/files/a/b/c.txt", 200, "files rest=a/b/c.txt");
    expect("GET", "/mixed/static/x", 200, "root");
    expect("GET", "/mixed/static/y", 200, "files id=static rest=y"); /* backtracks from the static branch */
    expect("GET", "/u/caf%C3%A9%2Fx", 200, "user id=caf\xc3\xa9/x");  /* decoded after the split */
}

static void test_misses(void)
{
    expect("GET", "/nope", 404, NULL);
    expect("GET", "/files", 404, NULL); /* a wildcard needs at least one segment */
    expect("GET", "/u/1/2", 404, NULL);
    expect("GET", "/u/%ZZ", 400, NULL);
    expect("GET", "/u/%FF", 400, NULL); /* invalid UTF-8 after decoding */
    kiln_test_conn_t *t = kiln_test_request(&ep, "DELETE", "/u/1");
    KT_ASSERT_EQ_INT(t->status, 405);
    KT_ASSERT_EQ_STR(kiln_test_resp_header(t, "allow"), "GET, HEAD, POST");
    kiln_test_free(t);
}

static void test_head(void)
{
    kiln_test_conn_t *t = kiln_test_request(&ep, "HEAD", "/u/5");
    KT_ASSERT_EQ_INT(t->status, 200);
    KT_ASSERT_EQ_INT(t->body_len, 0);
    KT_ASSERT(strstr(t->head, "content-length: 9\r\n") != NULL); /* "user id=5" */
    kiln_test_free(t);
}

static void test_pipelines(void)
{
    expect("GET", "/admin/deep/order", 200, "browser,auth,");
    kiln_test_conn_t *t = kiln_test_request(&ep, "GET", "/api/v1/ping");
    KT_ASSERT_EQ_STR(kiln_test_assign(t, "trace"), "api1,api2,auth,");
    KT_ASSERT_EQ_STR(t->conn->route_name, "api_ping");
    KT_ASSERT_EQ_STR(t->conn->route_path, "/api/v1/ping");
    KT_ASSERT_EQ_STR(t->conn->format, "html");
    kiln_test_free(t);
}

static void test_resources(void)
{
    expect("GET", "/admin/users", 200, "index");
    expect("GET", "/admin/users/new", 200, "new");
    expect("GET", "/admin/users/3", 200, "show id=3");
    expect("GET", "/admin/users/3/edit", 200, "edit id=3");
    expect("POST", "/admin/users", 200, "create");
    expect("PATCH", "/admin/users/3", 200, "update id=3");
    expect("PUT", "/admin/users/3", 200, "update id=3");
    expect("DELETE", "/admin/users/3", 200, "delete id=3");
    expect("GET", "/api/v1/posts", 200, "index");
    expect("GET", "/api/v1/posts/9", 200, "show id=9");
    expect("POST", "/api/v1/posts", 405, NULL);
    expect("GET", "/api/v1/posts/new", 200, "show id=new"); /* only index+show: "new" is an id */
    expect("DELETE", "/api/v1/tags/1", 405, NULL);
    expect("PUT", "/api/v1/tags/1", 200, "update id=1");
}

static void test_path_helpers(void)
{
    kiln_arena_t a;
    kiln_arena_init(&a, 0);
    int err = 0;
    KT_ASSERT_EQ_STR(kiln_router_path(router, &a, "user_show", KILN_SEGS("42"), NULL, &err), "/admin/users/42");
    KT_ASSERT_EQ_STR(kiln_router_path(router, &a, "user_index", NULL, KILN_QUERY("q", "a b&c", "page", "2"), NULL),
                     "/admin/users?q=a+b%26c&page=2");
    KT_ASSERT_EQ_STR(kiln_router_path(router, &a, "root", NULL, NULL, NULL), "/");
    KT_ASSERT_EQ_STR(kiln_router_path(router, &a, "files", KILN_SEGS("a b/c?d"), NULL, NULL), "/files/a%20b/c%3Fd");
    KT_ASSERT_EQ_STR(kiln_router_path(router, &a, "u_show", KILN_SEGS("x/y"), NULL, NULL), "/u/x%2Fy");
    KT_ASSERT(kiln_router_path(router, &a, "nope", NULL, NULL, &err) == NULL && err == KILN_ENOENT);
    KT_ASSERT(kiln_router_path(router, &a, "user_show", NULL, NULL, &err) == NULL && err == KILN_EINVAL);
    KT_ASSERT(kiln_router_path(router, &a, "user_show", KILN_SEGS("1", "2"), NULL, &err) == NULL && err == KILN_EINVAL);
    /* round trip: the helper's path routes back to the same route and params */
    char *p = kiln_router_path(router, &a, "u_show", KILN_SEGS("caf\xc3\xa9 /1"), NULL, NULL);
    kiln_test_conn_t *t = kiln_test_request(&ep, "GET", p);
    KT_ASSERT_EQ_STR(t->conn->route_name, "u_show");
    KT_ASSERT_EQ_STR(kiln_param_str(t->conn->params, "id"), "caf\xc3\xa9 /1");
    kiln_test_free(t);
    kiln_arena_destroy(&a);
}

static void test_listing(void)
{
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    kiln_router_print(router, f);
    fclose(f);
    KT_ASSERT(strstr(out, "   user_show  GET     /admin/users/:id       UserController :show\n") != NULL);
    KT_ASSERT(strstr(out, "  user_update  PUT     /admin/users/:id       UserController :update\n") != NULL);
    KT_ASSERT(strstr(out, "        files  GET     /files/*rest           h_wild\n") != NULL);
    /* resources come in Phoenix's order: index, edit, new, show, create, update x2, delete */
    const char *i = strstr(out, "user_index"), *e = strstr(out, "user_edit"), *n = strstr(out, "user_new");
    KT_ASSERT(i && e && n && i < e && e < n);
    free(out);
    KT_ASSERT_EQ_INT(kiln_router_count(router), 7 + 1 + 8 + 1 + 2 + 5);
}

static int h_dummy(kiln_conn_t *c) { return kiln_conn_text(c, 200, "x"); }

static void test_build_errors(void)
{
    kiln_router_t *r = NULL;
    const kiln_route_t unbalanced[] = { KILN_SCOPE_NOPIPE("/a"), KILN_GET("/", h_dummy, NULL) };
    KT_ASSERT_EQ_INT(kiln_router_build(unbalanced, KILN_ARRAY_LEN(unbalanced), &r), KILN_EINVAL);
    const kiln_route_t extra_end[] = { KILN_GET("/", h_dummy, NULL), KILN_SCOPE_END };
    KT_ASSERT_EQ_INT(kiln_router_build(extra_end, KILN_ARRAY_LEN(extra_end), &r), KILN_EINVAL);
    const kiln_route_t dup[] = { KILN_GET("/a/:x", h_dummy, NULL), KILN_GET("/a/:y", h_dummy, NULL) };
    KT_ASSERT_EQ_INT(kiln_router_build(dup, KILN_ARRAY_LEN(dup), &r), KILN_EINVAL);
    const kiln_route_t wild[] = { KILN_GET("/a/" "*x/b", h_dummy, NULL) };
    KT_ASSERT_EQ_INT(kiln_router_build(wild, KILN_ARRAY_LEN(wild), &r), KILN_EINVAL);
    const kiln_route_t noslash[] = { KILN_GET("a", h_dummy, NULL) };
    KT_ASSERT_EQ_INT(kiln_router_build(noslash, KILN_ARRAY_LEN(noslash), &r), KILN_EINVAL);
    const kiln_route_t empty_param[] = { KILN_GET("/a/:", h_dummy, NULL) };
    KT_ASSERT_EQ_INT(kiln_router_build(empty_param, KILN_ARRAY_LEN(empty_param), &r), KILN_EINVAL);
}

static void test_lookup(void)
{
    const kiln_route_info_t *ri = kiln_router_lookup(router, KILN_METHOD_GET, KILN_STR("/admin/users/1/edit?x=1"));
    KT_ASSERT(ri && strcmp(ri->name, "user_edit") == 0);
    KT_ASSERT(kiln_router_lookup(router, KILN_METHOD_PATCH, KILN_STR("/")) == NULL);
}

int main(void)
{
    kiln_log_set_level(KILN_LOG_ERROR);
    if (kiln_router_build(routes, KILN_ARRAY_LEN(routes), &router) != 0) return 1;
    ep.router = router;
    KT_RUN(test_precedence);
    KT_RUN(test_misses);
    KT_RUN(test_head);
    KT_RUN(test_pipelines);
    KT_RUN(test_resources);
    KT_RUN(test_path_helpers);
    KT_RUN(test_listing);
    KT_RUN(test_build_errors);
    KT_RUN(test_lookup);
    kiln_router_free(router);
    return kt_done();
}
