/* The endpoint: the one entry point the server (and ConnTest) calls per request.
 *
 * kiln_endpoint_call runs the endpoint plugs, matches the router, runs the
 * route's pipelines in scope order and then the handler. It guarantees that a
 * response has been sent when it returns: a plug or handler error, or a handler
 * that answered nothing, becomes a 500 rendered by the default error view. What
 * went wrong (error, cause, plug or handler) is kept in a small on-stack record
 * so that the dev-mode 500 page and the telemetry events can show it without
 * the conn having to carry it.
 *
 * The endpoint logs nothing itself: it reports each request through the
 * kiln.endpoint.* telemetry events (kiln/endpoint.h), and the request log is a
 * handler of those (kiln/logger.h), as Phoenix.Logger is. So one line per
 * request comes from one place, and an app or a test can replace it. */
#include "kiln/endpoint.h"
#include "kiln/router.h"
#include "kiln/telemetry.h"
#include "router_int.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

typedef struct failure {
    int err;           /* the negative error, or KILN_ESTATE when nothing was sent */
    const char *cause; /* what to report: kiln_strerror(err) or a fixed reason; NULL = no failure */
    const char *where; /* plug name, handler name, "router", or a fixed reason */
} failure_t;

/* ---- Telemetry --------------------------------------------------------------- */

/* The request's metadata strings, copied into the arena once per request on the
 * first event that has a listener: the conn's slices are not NUL-terminated,
 * and start, exception and stop would otherwise copy them up to three times. */
typedef struct req_meta {
    int built;
    char method[16];
    const char *path, *remote_ip;
} req_meta_t;

static void meta_build(req_meta_t *rm, kiln_conn_t *c)
{
    if (rm->built) return;
    rm->built = 1;
    snprintf(rm->method, sizeof rm->method, "%.*s", (int)c->method_str.len, c->method_str.ptr);
    rm->path = kiln_arena_strndup(c->arena, c->path.ptr ? c->path.ptr : "", c->path.len);
    rm->remote_ip = kiln_arena_strndup(c->arena, c->remote_ip.ptr ? c->remote_ip.ptr : "", c->remote_ip.len);
    if (!rm->path) rm->path = "";           /* out of memory: the event still goes out */
    if (!rm->remote_ip) rm->remote_ip = "";
}

static void emit_start(kiln_conn_t *c, req_meta_t *rm)
{
    if (!kiln_telemetry_enabled(KILN_EVENT_ENDPOINT_START)) return;
    meta_build(rm, c);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    double now_ns = (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
    kiln_telemetry_execute(KILN_EVENT_ENDPOINT_START, KILN_MEASUREMENTS({ "system_time_ns", now_ns }),
                           KILN_METADATA({ "method", rm->method }, { "path", rm->path },
                                         { "remote_ip", rm->remote_ip }));
}

/* stop and exception carry the same fields; f is NULL for a request that did
 * not fail. */
static void emit_end(const char *event, kiln_conn_t *c, req_meta_t *rm, const failure_t *f)
{
    if (!kiln_telemetry_enabled(event)) return;
    meta_build(rm, c);
    double us = (double)(kiln_now_ns() - c->start_ns) / 1000.0;
    kiln_telemetry_execute(event, KILN_MEASUREMENTS({ "duration_us", us }, { "status", (double)c->status }),
                           KILN_METADATA({ "method", rm->method }, { "path", rm->path },
                                         { "route", c->route_path ? c->route_path : "" },
                                         { "route_name", c->route_name ? c->route_name : "" },
                                         { "request_id", c->request_id ? c->request_id : "" },
                                         { "remote_ip", rm->remote_ip },
                                         { "error", f && f->cause ? f->cause : "" },
                                         { "in", f && f->where ? f->where : "" }));
}

/* ---- Plug pipelines ------------------------------------------------------------ */

int kiln_plugs_run(const kiln_plug_t *plugs, kiln_conn_t *c, const char **failed)
{
    for (const kiln_plug_t *p = plugs; p && p->fn; p++) {
        int rc = p->fn(c, p->opts);
        if (rc < 0) {
            if (failed) *failed = p->name;
            return rc;
        }
        /* A plug that sent a response without halting is treated as halting:
         * nothing after it could answer anyway. */
        if (rc == KILN_PLUG_HALT || c->halted || c->state != KILN_CONN_UNSENT) {
            c->halted = 1;
            return KILN_PLUG_HALT;
        }
    }
    return KILN_PLUG_CONT;
}

/* ---- Error views -------------------------------------------------------------- */

static int wants_json(const kiln_conn_t *c)
{
    if (c->format) return strcmp(c->format, "json") == 0;
    const kiln_str_t *accept = kiln_conn_req_header(c, "accept");
    if (!accept) return 0;
    kiln_str_t a = *accept;
    int json = 0, html = 0;
    for (size_t i = 0; i + 4 <= a.len; i++) {
        if (!strncmp(a.ptr + i, "json", 4)) json = 1;
        if (!strncmp(a.ptr + i, "html", 4)) html = 1;
    }
    return json && !html;
}

static int json_escape(kiln_buf_t *b, const char *s)
{
    int rc = 0;
    for (; *s && rc == 0; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') rc = kiln_buf_printf(b, "\\%c", ch);
        else if (ch < 0x20) rc = kiln_buf_printf(b, "\\u%04x", ch);
        else rc = kiln_buf_append(b, s, 1);
    }
    return rc;
}

/* Dev-mode details, as (label, value) pairs; NULL values are skipped. */
typedef struct detail {
    const char *label, *value;
} detail_t;

static int render_json(kiln_buf_t *b, int status, const char *message, const detail_t *d, size_t nd)
{
    int rc = kiln_buf_puts(b, "{\"errors\":{\"detail\":\"");
    if (rc == 0) rc = json_escape(b, kiln_http_status_text(status));
    if (rc == 0 && message) rc = kiln_buf_puts(b, "\",\"message\":\"");
    if (rc == 0 && message) rc = json_escape(b, message);
    for (size_t i = 0; rc == 0 && i < nd; i++) {
        if (!d[i].value) continue;
        rc = kiln_buf_printf(b, "\",\"%s\":\"", d[i].label);
        if (rc == 0) rc = json_escape(b, d[i].value);
    }
    if (rc == 0) rc = kiln_buf_puts(b, "\"}}");
    return rc;
}

static int render_html(kiln_buf_t *b, int status, const char *message, const detail_t *d, size_t nd)
{
    const char *text = kiln_http_status_text(status);
    int rc = kiln_buf_printf(b, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>%d %s</title></head>"
                                "<body><h1>%s</h1>", status, text, text);
    if (rc == 0 && message) rc = kiln_buf_puts(b, "<p>");
    if (rc == 0 && message) rc = kiln__html_escape(b, message);
    if (rc == 0 && message) rc = kiln_buf_puts(b, "</p>");
    if (rc == 0 && nd) rc = kiln_buf_puts(b, "<table>");
    for (size_t i = 0; rc == 0 && i < nd; i++) {
        if (!d[i].value) continue;
        rc = kiln_buf_printf(b, "<tr><th>%s</th><td>", d[i].label);
        if (rc == 0) rc = kiln__html_escape(b, d[i].value);
        if (rc == 0) rc = kiln_buf_puts(b, "</td></tr>");
    }
    if (rc == 0 && nd) rc = kiln_buf_puts(b, "</table>");
    if (rc == 0) rc = kiln_buf_puts(b, "</body></html>\n");
    return rc;
}

static int send_view(kiln_conn_t *c, int status, const char *message, const detail_t *d, size_t nd)
{
    int json = wants_json(c);
    kiln_buf_t b;
    kiln_buf_init(&b, 65536);
    int rc = json ? render_json(&b, status, message, d, nd) : render_html(&b, status, message, d, nd);
    char *body = rc == 0 ? kiln_arena_strndup(c->arena, b.data, b.len) : NULL;
    size_t len = b.len;
    kiln_buf_free(&b);
    if (!body) return rc < 0 ? rc : KILN_ENOMEM;
    kiln_conn_halt(c);
    const char *type = json ? "application/json" : "text/html; charset=utf-8";
    return kiln_conn_send_resp(c, status, type, body, len);
}

int kiln_conn_send_error(kiln_conn_t *c, int status, const char *message)
{
    return send_view(c, status, message, NULL, 0);
}

/* The 500. The page shows the cause only in dev; the log gets it through the
 * exception and stop events. */
static void send_500(const kiln_endpoint_t *ep, kiln_conn_t *c, const failure_t *f)
{
    if (c->state != KILN_CONN_UNSENT) return; /* too late for an error page: the adapter closes */
    c->status = 500;
    if (!ep->dev) {
        send_view(c, 500, NULL, NULL, 0);
        return;
    }
    const detail_t d[] = { { "error", f->cause }, { "in", f->where }, { "route", c->route_path },
                           { "route_name", c->route_name }, { "request_id", c->request_id } };
    send_view(c, 500, "An error occurred while handling this request.", d, KILN_ARRAY_LEN(d));
}

/* ---- The call --------------------------------------------------------------------- */

static int run_route(kiln_conn_t *c, const kiln_route_info_t *rt, failure_t *f)
{
    for (size_t i = 0; rt->pipelines && rt->pipelines[i]; i++) {
        int rc = kiln_plugs_run(rt->pipelines[i]->plugs, c, &f->where);
        if (rc != KILN_PLUG_CONT) return rc;
    }
    if (!c->format) c->format = "html";
    f->where = rt->handler_name ? rt->handler_name : "handler";
    return rt->handler(c);
}

static int dispatch(const kiln_endpoint_t *ep, kiln_conn_t *c, failure_t *f)
{
    if (!ep->router) return kiln_conn_send_error(c, 404, NULL);
    kiln_match_t m;
    int rc = kiln_router_match(ep->router, c, &m);
    if (rc == KILN_EINVAL) return kiln_conn_send_error(c, 400, "Malformed path.");
    if (rc == KILN_ENOENT && m.status == 405) {
        int hr = kiln_conn_put_resp_header(c, "allow", m.allow);
        return hr < 0 ? hr : kiln_conn_send_error(c, 405, NULL);
    }
    if (rc == KILN_ENOENT) return kiln_conn_send_error(c, 404, NULL);
    if (rc < 0) {
        f->where = "router";
        return rc;
    }
    return run_route(c, m.route, f);
}

int kiln_endpoint_call(const kiln_endpoint_t *ep, kiln_conn_t *c)
{
    failure_t f = { 0, NULL, NULL };
    req_meta_t rm = { 0 };
    c->endpoint = (void *)ep;
    if (!c->start_ns) c->start_ns = kiln_now_ns();
    emit_start(c, &rm);
    int rc = kiln_plugs_run(ep->plugs, c, &f.where);
    if (rc == KILN_PLUG_CONT) rc = dispatch(ep, c, &f);
    if (rc < 0) {
        f.err = rc;
        f.cause = kiln_strerror(rc);
    } else if (c->state == KILN_CONN_UNSENT) {
        f.err = KILN_ESTATE;
        f.cause = "no response sent";
        f.where = c->halted ? (f.where ? f.where : "a halting plug") : (f.where ? f.where : "handler");
    }
    if (f.cause) {
        send_500(ep, c, &f);
        emit_end(KILN_EVENT_ENDPOINT_EXCEPTION, c, &rm, &f);
    }
    emit_end(KILN_EVENT_ENDPOINT_STOP, c, &rm, f.cause ? &f : NULL);
    return f.err;
}
