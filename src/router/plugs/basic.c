/* Small plugs that only rewrite the method or add headers: method override,
 * head, and secure browser headers. */
#include "kiln/plugs.h"

#include <strings.h>

int kiln_plug_method_override(kiln_conn_t *c, const void *opts)
{
    (void)opts;
    if (c->method != KILN_METHOD_POST) return KILN_PLUG_CONT;
    const char *m = kiln_param_str(c->body_params, "_method");
    if (!m) return KILN_PLUG_CONT;
    /* Only the methods a browser form cannot send: never GET, so that a form
     * cannot turn a state-changing POST into a cacheable request. */
    if (!strcasecmp(m, "PUT")) c->method = KILN_METHOD_PUT;
    else if (!strcasecmp(m, "PATCH")) c->method = KILN_METHOD_PATCH;
    else if (!strcasecmp(m, "DELETE")) c->method = KILN_METHOD_DELETE;
    return KILN_PLUG_CONT;
}

int kiln_plug_head(kiln_conn_t *c, const void *opts)
{
    (void)opts;
    if (c->method == KILN_METHOD_HEAD) c->method = KILN_METHOD_GET;
    return KILN_PLUG_CONT;
}

int kiln_plug_secure_headers(kiln_conn_t *c, const void *opts)
{
    const kiln_secure_headers_opts_t *o = opts;
    const char *csp = o && o->csp ? o->csp : "base-uri 'self'; frame-ancestors 'self';";
    static const char *const defaults[] = {
        "x-frame-options", "SAMEORIGIN", "x-content-type-options", "nosniff",
        "referrer-policy", "strict-origin-when-cross-origin", "x-permitted-cross-domain-policies", "none",
    };
    int rc = *csp ? kiln_conn_put_resp_header(c, "content-security-policy", csp) : 0;
    for (size_t i = 0; rc == 0 && i < KILN_ARRAY_LEN(defaults); i += 2)
        rc = kiln_conn_put_resp_header(c, defaults[i], defaults[i + 1]);
    for (size_t i = 0; rc == 0 && o && o->extra && o->extra[i] && o->extra[i + 1]; i += 2)
        rc = kiln_conn_put_resp_header(c, o->extra[i], o->extra[i + 1]);
    return rc < 0 ? rc : KILN_PLUG_CONT;
}
