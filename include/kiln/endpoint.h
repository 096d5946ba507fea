/* Kiln endpoint, plugs and router glue: what the server calls for each request.
 *
 * A plug is a function over the conn with its own options; it returns
 * KILN_PLUG_CONT to go on, KILN_PLUG_HALT after it has answered (or called
 * kiln_conn_halt), or a negative KILN_E* error, which the endpoint turns into a
 * 500 (reported with the request id in the request events). Pipelines are NULL-terminated const arrays
 * (STYLE.md §6). The router itself is kiln/router.h. */
#ifndef KILN_ENDPOINT_H
#define KILN_ENDPOINT_H

#include "kiln/conn.h"

enum kiln_plug_result { KILN_PLUG_CONT = 0, KILN_PLUG_HALT = 1 };

typedef int (*kiln_plug_fn)(kiln_conn_t *c, const void *opts);
typedef struct kiln_plug {
    const char *name;
    kiln_plug_fn fn;
    const void *opts;
} kiln_plug_t;
#define KILN_PLUG(fn, opts) { #fn, (fn), (opts) }
#define KILN_PLUG_END { NULL, NULL, NULL }

typedef struct kiln_router kiln_router_t;

typedef struct kiln_endpoint {
    const char *name;            /* app name */
    const kiln_plug_t *plugs;    /* endpoint plugs, run before the router (static, request id, params, ...) */
    kiln_router_t *router;       /* may be NULL: then an unhandled request gets 404 */
    int dev;                     /* dev mode: error pages show the cause */
} kiln_endpoint_t;

/* The request events (kiln/telemetry.h), Phoenix's [:phoenix, :endpoint, ...]:
 * the request as the application saw it, whatever the adapter (the server or
 * ConnTest). The request log (kiln/logger.h) and request metrics attach here.
 *
 *   start      measurements system_time_ns (wall clock);
 *              metadata method, path, remote_ip
 *   stop       every request, once, after its response was handed to the
 *              adapter: measurements duration_us (since the request head was
 *              complete), status; metadata method, path, route, route_name,
 *              request_id, remote_ip, error and in (both "" unless it failed)
 *   exception  before stop, when the request failed (a plug or handler error,
 *              or nothing sent): the same as stop, with error the cause
 *              ("i/o error", "no response sent") and in the failing plug,
 *              handler or "router"; status is the 500 sent, or the status
 *              already sent when it was too late for an error page
 *
 * The server's kiln.http.request.* events are distinct: they describe the HTTP
 * exchange on the socket (kiln/server.h). Metadata strings are borrowed for the
 * duration of the handler call. */
#define KILN_EVENT_ENDPOINT "kiln.endpoint"
#define KILN_EVENT_ENDPOINT_START "kiln.endpoint.start"
#define KILN_EVENT_ENDPOINT_STOP "kiln.endpoint.stop"
#define KILN_EVENT_ENDPOINT_EXCEPTION "kiln.endpoint.exception"

/* Runs c through the endpoint plugs, then the router and the route's handler.
 * Whatever happens, a response has been sent when it returns: a handler or plug
 * error becomes a 500 (HTML or JSON by c->format), and a handler that sent
 * nothing gets a 500 too. Returns 0, or the error that caused a 500
 * (KILN_ESTATE when nothing was sent). Emits the request events above; it logs
 * nothing itself: the cause of a 500 reaches the log through the request
 * logger's handler. */
int kiln_endpoint_call(const kiln_endpoint_t *ep, kiln_conn_t *c);

/* Runs a KILN_PLUG_END-terminated pipeline over c: stops at the first plug that
 * halts (or sends), and returns KILN_PLUG_CONT, KILN_PLUG_HALT, or the first
 * negative error (then *failed, if not NULL, names the plug). */
int kiln_plugs_run(const kiln_plug_t *plugs, kiln_conn_t *c, const char **failed);

/* Sends the default error view for status (4xx/5xx) and halts: a small HTML
 * page, or {"errors":{"detail":"Not Found"}} when c->format is "json" (or,
 * with no format yet, when Accept prefers JSON). message, if not NULL, is shown
 * too (it must not contain secrets: it reaches the client). Returns what the
 * send returned. */
int kiln_conn_send_error(kiln_conn_t *c, int status, const char *message);

#endif
