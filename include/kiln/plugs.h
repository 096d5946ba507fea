/* Kiln built-in plugs: the Plug/Phoenix standard set, as kiln_plug_fn functions
 * with const option structs (NULL options mean the documented defaults).
 *
 * A typical endpoint and browser pipeline:
 *
 *   static const kiln_static_opts_t static_opts = { .at = "/", .from = "priv/static",
 *                                                   .only = (const char *const[]){ "assets", "favicon.ico", NULL } };
 *   static const kiln_plug_t endpoint_plugs[] = {
 *       KILN_PLUG(kiln_plug_static, &static_opts),
 *       KILN_PLUG(kiln_plug_request_id, NULL),
 *       KILN_PLUG(kiln_plug_params, NULL),
 *       KILN_PLUG(kiln_plug_method_override, NULL),
 *       KILN_PLUG(kiln_plug_head, NULL),
 *       KILN_PLUG_END
 *   };
 *   static const kiln_plug_t browser_plugs[] = {
 *       KILN_PLUG(kiln_plug_accepts, &(kiln_accepts_opts_t){ .formats = "html" }),
 *       KILN_PLUG(kiln_plug_secure_headers, NULL),
 *       KILN_PLUG_END
 *   };
 *
 * Every plug returns KILN_PLUG_CONT, KILN_PLUG_HALT after answering (400, 403,
 * 406, 304, a file...), or a negative KILN_E* (the endpoint answers 500).
 * There is no logger plug: the request log is a telemetry handler
 * (kiln/logger.h), attached by kiln_main. */
#ifndef KILN_PLUGS_H
#define KILN_PLUGS_H

#include "kiln/endpoint.h"
#include "kiln/params.h"

/* x-request-id: keeps a valid incoming id (20..200 chars of [A-Za-z0-9+/=_-]),
 * else makes a random 27-char base64url one; sets c->request_id and the
 * response header. opts: NULL, or a kiln_request_id_opts_t. */
typedef struct kiln_request_id_opts {
    const char *header; /* default "x-request-id" */
} kiln_request_id_opts_t;
int kiln_plug_request_id(kiln_conn_t *c, const void *opts);

/* Parses the query string, then the body by content type into
 * c->query_params, c->body_params and the merged c->params (body over query;
 * the router later adds path params over both):
 *  - application/x-www-form-urlencoded, with Plug's nested keys;
 *  - multipart/form-data (file parts become KILN_PARAM_FILE temp files);
 *  - application/json and *+json (objects → maps, arrays → lists, other
 *    values → strings: numbers as written, true/false, null → ""); a
 *    top level that is not an object goes under "_json".
 * Malformed input or invalid UTF-8 answers 400 with the reason and halts; a
 * limit exceeded answers 413. Other content types leave body_params empty.
 * opts: NULL (kiln_params_limits_default) or a kiln_params_opts_t. */
typedef struct kiln_params_opts {
    const kiln_params_limits_t *limits;
} kiln_params_opts_t;
int kiln_plug_params(kiln_conn_t *c, const void *opts);

/* POST with a "_method" body param of PUT, PATCH or DELETE (any case) becomes
 * that method for routing (c->method; c->method_str keeps "POST"). Put it after
 * kiln_plug_params. opts: NULL. */
int kiln_plug_method_override(kiln_conn_t *c, const void *opts);

/* HEAD becomes GET for the plugs and handler that follow; the adapter still
 * sends no body (kiln_conn_is_head). The router matches HEAD to GET routes even
 * without it. opts: NULL. */
int kiln_plug_head(kiln_conn_t *c, const void *opts);

/* Phoenix's put_secure_browser_headers: content-security-policy,
 * x-frame-options SAMEORIGIN, x-content-type-options nosniff, referrer-policy
 * strict-origin-when-cross-origin, x-permitted-cross-domain-policies none.
 * opts: NULL or a kiln_secure_headers_opts_t. */
typedef struct kiln_secure_headers_opts {
    const char *csp;                 /* NULL = "base-uri 'self'; frame-ancestors 'self';", "" = none */
    const char *const *extra;        /* NULL-terminated name, value pairs added after the defaults */
} kiln_secure_headers_opts_t;
int kiln_plug_secure_headers(kiln_conn_t *c, const void *opts);

/* CORS. Requests without Origin pass untouched. For an allowed origin it adds
 * access-control-allow-origin (+ vary: origin, credentials, expose headers);
 * a preflight (OPTIONS with access-control-request-method) is answered 204
 * with the allowed methods, headers and max-age, and halts. A preflight from
 * an origin not in the list gets 403. Put it in the endpoint plugs, before the
 * router, so that preflights need no OPTIONS routes. */
typedef struct kiln_cors_opts {
    const char *const *origins;  /* NULL-terminated exact origins; "*" allows any; NULL = any */
    const char *methods;         /* default "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS" */
    const char *headers;         /* allowed request headers; NULL = echo access-control-request-headers */
    const char *expose;          /* access-control-expose-headers, or NULL */
    int max_age;                 /* seconds; 0 = 86400 */
    int credentials;             /* send access-control-allow-credentials: true (the origin is then echoed) */
} kiln_cors_opts_t;
int kiln_plug_cors(kiln_conn_t *c, const void *opts);

/* Content negotiation: sets c->format to one of opts->formats ("html,json"),
 * chosen from a "_format" param, else the Accept header (q-values honoured;
 * * / * picks the first format), else the first format when there is no
 * Accept. Answers 406 and halts when nothing acceptable is allowed. */
typedef struct kiln_accepts_opts {
    const char *formats; /* comma-separated: html, json, text, xml, csv, js, css, ... */
} kiln_accepts_opts_t;
int kiln_plug_accepts(kiln_conn_t *c, const void *opts);

/* Static files (Plug.Static). Serves GET/HEAD requests under `at` from the
 * directory `from`; other requests, and paths that name no file, pass on.
 *  - only: NULL-terminated first path segments allowed ("assets", "robots.txt");
 *    NULL allows everything under `at`;
 *  - ETag (size + mtime) with If-None-Match, Last-Modified with
 *    If-Modified-Since → 304;
 *  - Range: bytes=a-b, a-, -n → 206 + content-range; unsatisfiable → 416;
 *    several ranges → the whole file, 200;
 *  - .br / .gz siblings when Accept-Encoding allows (vary: accept-encoding);
 *  - cache-control "public, max-age=31536000, immutable" for digested names
 *    (name-<32 hex>.ext), else `cache_control` (default "public, max-age=3600");
 *  - never leaves the root: ".." segments, encoded slashes/dots/backslashes,
 *    NUL and symlinks are refused (400 for a malformed path, else pass on). */
typedef struct kiln_static_opts {
    const char *at;                /* URL prefix, default "/" */
    const char *from;              /* root directory (required) */
    const char *const *only;
    int gzip, brotli;              /* look for .gz / .br siblings */
    const char *cache_control;
} kiln_static_opts_t;
int kiln_plug_static(kiln_conn_t *c, const void *opts);

/* The MIME type for a file name by extension ("application/octet-stream" if unknown). */
const char *kiln_mime_type(const char *filename);

#endif
