/* The CORS plug. Decisions follow the Fetch standard's CORS protocol: an
 * allowed origin is echoed (or "*" when any origin is allowed and no
 * credentials are involved, since browsers refuse "*" with credentials), and
 * vary: origin is added whenever the answer depends on the origin, so that
 * caches keep the variants apart. */
#include "kiln/plugs.h"

#include <stdio.h>
#include <string.h>

static int origin_allowed(const kiln_cors_opts_t *o, kiln_str_t origin, int *any)
{
    *any = 0;
    if (!o || !o->origins) {
        *any = 1;
        return 1;
    }
    for (const char *const *p = o->origins; *p; p++) {
        if (!strcmp(*p, "*")) {
            *any = 1;
            return 1;
        }
        if (kiln_str_eq_c(origin, *p)) return 1;
    }
    return 0;
}

static int put_origin(kiln_conn_t *c, const kiln_cors_opts_t *o, const char *origin, int any)
{
    int creds = o && o->credentials;
    int rc = kiln_conn_put_resp_header(c, "access-control-allow-origin", any && !creds ? "*" : origin);
    if (rc == 0 && !(any && !creds)) rc = kiln_conn_add_resp_header(c, "vary", "origin");
    if (rc == 0 && creds) rc = kiln_conn_put_resp_header(c, "access-control-allow-credentials", "true");
    return rc;
}

static int preflight(kiln_conn_t *c, const kiln_cors_opts_t *o)
{
    const char *methods = o && o->methods ? o->methods : "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS";
    const kiln_str_t *req_h = kiln_conn_req_header(c, "access-control-request-headers");
    char *headers = o && o->headers ? (char *)o->headers
                    : req_h         ? kiln_arena_strndup(c->arena, req_h->ptr, req_h->len)
                                    : NULL;
    char max_age[24];
    snprintf(max_age, sizeof max_age, "%d", o && o->max_age > 0 ? o->max_age : 86400);
    int rc = kiln_conn_put_resp_header(c, "access-control-allow-methods", methods);
    if (rc == 0 && headers && *headers) rc = kiln_conn_put_resp_header(c, "access-control-allow-headers", headers);
    if (rc == 0) rc = kiln_conn_put_resp_header(c, "access-control-max-age", max_age);
    if (rc == 0) rc = kiln_conn_send_resp(c, 204, NULL, NULL, 0);
    kiln_conn_halt(c);
    return rc < 0 ? rc : KILN_PLUG_HALT;
}

int kiln_plug_cors(kiln_conn_t *c, const void *opts)
{
    const kiln_cors_opts_t *o = opts;
    const kiln_str_t *origin = kiln_conn_req_header(c, "origin");
    if (!origin) return KILN_PLUG_CONT;
    int is_preflight = c->method == KILN_METHOD_OPTIONS && kiln_conn_req_header(c, "access-control-request-method");
    int any;
    if (!origin_allowed(o, *origin, &any)) {
        if (!is_preflight) return KILN_PLUG_CONT; /* the browser blocks the response itself */
        int rc = kiln_conn_send_error(c, 403, "Origin not allowed.");
        return rc < 0 ? rc : KILN_PLUG_HALT;
    }
    char *org = kiln_arena_strndup(c->arena, origin->ptr, origin->len);
    if (!org) return KILN_ENOMEM;
    int rc = put_origin(c, o, org, any);
    if (rc < 0) return rc;
    if (is_preflight) return preflight(c, o);
    if (o && o->expose) rc = kiln_conn_put_resp_header(c, "access-control-expose-headers", o->expose);
    return rc < 0 ? rc : KILN_PLUG_CONT;
}
