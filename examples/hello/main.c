/* examples/hello: the first Kiln app to read.
 *
 * It shows the pieces every app has: an endpoint (plugs every request goes
 * through), a router with scopes and pipelines, handlers that answer HTML and
 * JSON, and static files found relative to the executable. Its pages are
 * compiled templates (templates/: a root layout, an app layout component with
 * slots, the pages) rendered through the browser pipeline (session, flash,
 * CSRF), and guestbook.c is a complete form round trip stored in the database
 * (DATABASE_URL, or hello's own SQLite file, migrated at boot). kiln_main logs one
 * line per request (the request log, kiln/logger.h); set .no_request_log = 1
 * in the app to leave it out. Run it with `make run` and open
 * http://127.0.0.1:4000/. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guestbook.h"
#include "kiln/app.h"
#include "kiln/browser.h"
#include "kiln/plugs.h"
#include "kiln/router.h"
#include "templates.h"

/* ---- handlers ---- */

/* The root layout (templates/root.kiln) around every browser page: it shows
 * the flash and carries the CSRF token for scripts. */
static void root_layout(kiln_tpl_out_t *o, kiln_conn_t *c, const char *title, kiln_tpl_slot_t inner)
{
    tpl_root_assigns_t a = { 0 };
    tpl_root_set_title(&a, title);
    tpl_root_set_csrf_token(&a, kiln_csrf_token(c));
    tpl_root_set_flash_info(&a, kiln_flash_get(c, "info"));
    tpl_root_set_flash_error(&a, kiln_flash_get(c, "error"));
    tpl_root_set_inner_block(&a, inner);
    tpl_root_render_html(o, &a);
}

static int page_index(kiln_conn_t *c)
{
    const char *name = kiln_param_str(c->params, "name");
    tpl_home_assigns_t a = { 0 };
    tpl_home_set_heading(&a, kiln_arena_sprintf(c->arena, "Hello, %s!", name ? name : "world"));
    tpl_home_set_hello_path(&a, kiln_conn_path(c, "hello_show", KILN_SEGS("kiln"), NULL));
    return kiln_render(c, 200, "Hello from Kiln", tpl_home_slot(&a));
}

static int hello_show(kiln_conn_t *c)
{
    const char *name = kiln_param_str(c->path_params, "name");
    tpl_home_assigns_t a = { 0 };
    tpl_home_set_heading(&a, kiln_arena_sprintf(c->arena, "Hello, %s!", name));
    tpl_home_set_hello_path(&a, kiln_conn_path(c, "hello_show", KILN_SEGS("kiln"), NULL));
    tpl_home_set_back(&a, kiln_param_str(c->params, "back")); /* ?back=URL: untrusted, filtered by the template */
    return kiln_render(c, 200, "Hello from Kiln", tpl_home_slot(&a));
}

/* Sends a jansson value as the JSON response and releases it. */
static int send_json(kiln_conn_t *c, int status, json_t *v)
{
    char *s = v ? json_dumps(v, JSON_COMPACT) : NULL;
    json_decref(v);
    if (!s) return KILN_ENOMEM;
    int rc = kiln_conn_json_raw(c, status, s);
    free(s);
    return rc;
}

static int api_status(kiln_conn_t *c)
{
    return send_json(c, 200, json_pack("{s:s, s:s, s:s}", "status", "ok", "version", KILN_VERSION,
                                       "request_id", c->request_id ? c->request_id : ""));
}

/* The params tree as JSON: maps become objects, lists arrays, uploads a summary. */
static json_t *params_json(const kiln_param_t *p)
{
    switch (p->kind) {
    case KILN_PARAM_STRING: return json_stringn(p->u.str.ptr, p->u.str.len);
    case KILN_PARAM_FILE:
        return json_pack("{s:s, s:I}", "filename", p->u.upload.filename ? p->u.upload.filename : "", "size",
                         (json_int_t)p->u.upload.size);
    case KILN_PARAM_LIST: {
        json_t *a = json_array();
        for (const kiln_param_t *it = p->u.children; it; it = it->next) json_array_append_new(a, params_json(it));
        return a;
    }
    case KILN_PARAM_MAP: {
        json_t *o = json_object();
        for (const kiln_param_t *it = p->u.children; it; it = it->next) json_object_set_new(o, it->key, params_json(it));
        return o;
    }
    }
    return json_null();
}

static int api_echo(kiln_conn_t *c)
{
    return send_json(c, 200, json_pack("{s:o}", "params", params_json(c->params)));
}

/* ---- endpoint and router ---- */

static kiln_static_opts_t static_opts = { .at = "/", .gzip = 1, .brotli = 1 }; /* .from set in configure */

static const kiln_plug_t endpoint_plugs[] = {
    KILN_PLUG(kiln_plug_static, &static_opts),
    KILN_PLUG(kiln_plug_request_id, NULL),
    KILN_PLUG(kiln_plug_params, NULL),
    KILN_PLUG(kiln_plug_method_override, NULL),
    KILN_PLUG(kiln_plug_head, NULL),
    KILN_PLUG_END
};

static kiln_session_opts_t session_opts = { .key = "_hello_key" }; /* .secret_key_base set in configure */

static const kiln_plug_t browser_plugs[] = {
    KILN_PLUG(kiln_plug_accepts, &(kiln_accepts_opts_t){ .formats = "html" }),
    KILN_PLUG(kiln_plug_session, &session_opts),
    KILN_PLUG(kiln_plug_flash, NULL),
    KILN_PLUG(kiln_plug_csrf, NULL),
    KILN_PLUG(kiln_plug_put_root_layout, &(kiln_layout_opts_t){ .layout = root_layout }),
    KILN_PLUG(kiln_plug_secure_headers, NULL),
    KILN_PLUG_END
};
static const kiln_plug_t api_plugs[] = {
    KILN_PLUG(kiln_plug_accepts, &(kiln_accepts_opts_t){ .formats = "json" }),
    KILN_PLUG_END
};
static const kiln_pipeline_t browser = KILN_PIPELINE("browser", browser_plugs);
static const kiln_pipeline_t api = KILN_PIPELINE("api", api_plugs);

static const kiln_route_t routes[] = {
    KILN_SCOPE("/", &browser),
        KILN_GET("/", page_index, "page_index"),
        KILN_GET("/hello/:name", hello_show, "hello_show"),
        KILN_GET("/guestbook", guestbook_index, "guestbook_index"),
        KILN_POST("/guestbook", guestbook_create, "guestbook_create"),
    KILN_SCOPE_END,
    KILN_SCOPE("/api", &api),
        KILN_GET("/status", api_status, "api_status"),
        KILN_POST("/echo", api_echo, "api_echo"),
    KILN_SCOPE_END,
};

static kiln_endpoint_t endpoint = { .name = "hello", .plugs = endpoint_plugs };

static int configure(const kiln_config_t *cfg)
{
    static char root[4096];
    snprintf(root, sizeof root, "%s/static", cfg->priv_dir);
    static_opts.from = root;
    session_opts.secret_key_base = cfg->secret_key_base;
    endpoint.dev = cfg->dev;
    return guestbook_open(cfg);
}

int main(int argc, char **argv)
{
    if (guestbook_default_database() < 0) return 1;
    if (kiln_router_build(routes, KILN_ARRAY_LEN(routes), &endpoint.router) < 0) return 1;
    const kiln_app_t app = { .name = "hello", .endpoint = &endpoint, .configure = configure,
                             .migrations = guestbook_migrations, .n_migrations = guestbook_n_migrations };
    int code = kiln_main(argc, argv, &app);
    kiln_router_free(endpoint.router);
    guestbook_close();
    return code;
}
