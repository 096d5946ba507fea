/* Form helpers over a map of field values and a map of field errors.
 *
 * Each helper returns a kiln_tpl_raw_t so a template writes it with {...}:
 * the helpers escape every value themselves, with the template runtime's
 * escaping, and the raw wrapper only says "already HTML". Field ids and
 * names are derived from the form and field names the code chose, never from
 * the request. */
#include <strings.h>

#include "browser_int.h"

static kiln_tpl_raw_t finish(const kiln_form_t *f, kiln_tpl_out_t *o)
{
    char *s = o->err ? NULL : kiln_arena_strndup(f->conn->arena, o->buf.data ? o->buf.data : "", o->buf.len);
    kiln_tpl_out_free(o);
    return kiln_raw(s ? s : "");
}

#define PUT(o, lit) kiln_tpl_put((o), (lit), sizeof(lit) - 1)

kiln_tpl_raw_t kiln_form_open(const kiln_form_t *f, const char *action, const char *method)
{
    kiln_tpl_out_t o;
    kiln_tpl_out_init(&o, 1 << 16);
    PUT(&o, "<form");
    KILN_TPL_ATTR(&o, " action=\"", 1, action);
    PUT(&o, " method=\"post\">");
    KILN_TPL_ATTR(&o, "<input type=\"hidden\" name=\"_csrf_token\" value=\"", 0, kiln_csrf_token(f->conn));
    PUT(&o, ">");
    if (method && strcasecmp(method, "get") != 0 && strcasecmp(method, "post") != 0) {
        KILN_TPL_ATTR(&o, "<input type=\"hidden\" name=\"_method\" value=\"", 0, method);
        PUT(&o, ">");
    }
    return finish(f, &o);
}

kiln_tpl_raw_t kiln_form_close(const kiln_form_t *f)
{
    (void)f;
    return kiln_raw("</form>");
}

const char *kiln_form_error(const kiln_form_t *f, const char *field)
{
    return f->errors ? kiln_param_str(f->errors, field) : NULL;
}

kiln_tpl_raw_t kiln_form_input(const kiln_form_t *f, const char *field, const char *label, const char *type)
{
    const char *id = kiln_arena_sprintf(f->conn->arena, "%s_%s", f->name, field);
    const char *name = kiln_arena_sprintf(f->conn->arena, "%s[%s]", f->name, field);
    const char *value = f->values ? kiln_param_str(f->values, field) : NULL;
    const char *error = kiln_form_error(f, field);
    kiln_tpl_out_t o;
    kiln_tpl_out_init(&o, 1 << 20);
    PUT(&o, "<div class=\"field\"><label");
    KILN_TPL_ATTR(&o, " for=\"", 0, id);
    PUT(&o, ">");
    KILN_TPL_TEXT(&o, label);
    PUT(&o, "</label>");
    int textarea = type && strcmp(type, "textarea") == 0;
    if (textarea) {
        PUT(&o, "<textarea");
    } else {
        PUT(&o, "<input");
        KILN_TPL_ATTR(&o, " type=\"", 0, type ? type : "text");
    }
    KILN_TPL_ATTR(&o, " id=\"", 0, id);
    KILN_TPL_ATTR(&o, " name=\"", 0, name);
    if (error) KILN_TPL_ATTR(&o, " aria-describedby=\"", 0, kiln_arena_sprintf(f->conn->arena, "%s-error", id));
    if (textarea) {
        PUT(&o, ">");
        KILN_TPL_TEXT(&o, value);
        PUT(&o, "</textarea>");
    } else {
        KILN_TPL_ATTR(&o, " value=\"", 0, value);
        PUT(&o, ">");
    }
    if (error) {
        KILN_TPL_ATTR(&o, "<p class=\"error\" id=\"", 0, kiln_arena_sprintf(f->conn->arena, "%s-error", id));
        PUT(&o, ">");
        KILN_TPL_TEXT(&o, error);
        PUT(&o, "</p>");
    }
    PUT(&o, "</div>");
    return finish(f, &o);
}
