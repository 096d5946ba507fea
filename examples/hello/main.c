/* examples/hello: the first Kiln app to read.
 *
 * It shows the pieces every app has: an endpoint (plugs every request goes
 * through), a router with scopes and pipelines, handlers that answer HTML and
 * JSON, and static files found relative to the executable. kiln_main logs one
 * line per request (the request log, kiln/logger.h); set .no_request_log = 1
 * in the app to leave it out. Run it with `make run` and open
 * http://127.0.0.1:4000/. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln/app.h"
#include "kiln/plugs.h"
#include "kiln/router.h"

/* ---- handlers ---- */

/* Escapes text for HTML; the template engine (docs/guides/templates.md) will do
 * this for every interpolation. The result lives in the request arena. */
static const char *html_escape(kiln_conn_t *c, const char *s)
{
    kiln_buf_t b;
    kiln_buf_init(&b, 4096);
    for (; *s; s++) {
        const char *rep = NULL;
        switch (*s) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '"': rep = "&quot;"; break;
        case '\'': rep = "&#39;"; break;
        }
        if ((rep ? kiln_buf_puts(&b, rep) : kiln_buf_append(&b, s, 1)) < 0) break;
    }
    char *out = kiln_arena_strndup(c->arena, b.data ? b.data : "", b.len);
    kiln_buf_free(&b);
    return out;
}

static int page_index(kiln_conn_t *c)
{
    const char *name = kiln_param_str(c->params, "name");
    char *html = kiln_arena_sprintf(c->arena,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<title>Hello from Kiln</title><link rel=\"stylesheet\" href=\"/app.css\"></head>\n"
        "<body><main><h1>Hello, %s!</h1>\n"
        "<p>This page is served by <code>examples/hello</code>.</p>\n"
        "<ul><li><a href=\"/api/status\">/api/status</a> (JSON)</li>"
        "<li><a href=\"%s\">/hello/kiln</a> (a path parameter)</li></ul>\n"
        "<form method=\"post\" action=\"/api/echo\"><input name=\"msg\" value=\"hi\"><button>echo</button></form>\n"
        "</main></body></html>\n",
        html_escape(c, name ? name : "world"),
        kiln_conn_path(c, "hello_show", KILN_SEGS("kiln"), NULL));
    return html ? kiln_conn_html(c, 200, html) : KILN_ENOMEM;
}

static int hello_show(kiln_conn_t *c)
{
    const char *name = kiln_param_str(c->path_params, "name");
    char *html = kiln_arena_sprintf(c->arena, "<!doctype html><html><body><h1>Hello, %s!</h1></body></html>\n",
                                    html_escape(c, name));
    return html ? kiln_conn_html(c, 200, html) : KILN_ENOMEM;
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

static const kiln_plug_t browser_plugs[] = {
    KILN_PLUG(kiln_plug_accepts, &(kiln_accepts_opts_t){ .formats = "html" }),
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
    endpoint.dev = cfg->dev;
    return 0;
}

int main(int argc, char **argv)
{
    if (kiln_router_build(routes, KILN_ARRAY_LEN(routes), &endpoint.router) < 0) return 1;
    const kiln_app_t app = { .name = "hello", .endpoint = &endpoint, .configure = configure };
    int code = kiln_main(argc, argv, &app);
    kiln_router_free(endpoint.router);
    return code;
}
