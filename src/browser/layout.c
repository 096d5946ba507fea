/* Root layouts and kiln_render: the page inside its layout, in one buffer.
 *
 * The layout choice is an assign (put_root_layout), so a pipeline picks it
 * and a handler only renders its page. The HTML goes straight into one
 * bounded buffer that the conn's arena frees after the response: no copy and
 * no per-slot allocation. The default layout is itself a kilnc template
 * (templates/root.kiln), compiled by the build like any app's. */
#include <stdlib.h>

#include "browser_int.h"
#include "templates.h"

#define LAYOUT_ASSIGN "kiln.root_layout"

void kiln_default_root_layout(kiln_tpl_out_t *o, kiln_conn_t *c, const char *title, kiln_tpl_slot_t inner)
{
    kiln_browser_root_assigns_t a = { 0 };
    kiln_browser_root_set_title(&a, title);
    kiln_browser_root_set_csrf_token(&a, kiln_csrf_token(c));
    kiln_browser_root_set_flash_info(&a, kiln_flash_get(c, "info"));
    kiln_browser_root_set_flash_error(&a, kiln_flash_get(c, "error"));
    kiln_browser_root_set_inner_block(&a, inner);
    kiln_browser_root_render_html(o, &a);
}

int kiln_plug_put_root_layout(kiln_conn_t *c, const void *opts)
{
    static const kiln_layout_opts_t def = { kiln_default_root_layout };
    const kiln_layout_opts_t *o = opts && ((const kiln_layout_opts_t *)opts)->layout ? opts : &def;
    int rc = kiln_conn_assign(c, LAYOUT_ASSIGN, (void *)o);
    return rc < 0 ? rc : KILN_PLUG_CONT;
}

int kiln_render(kiln_conn_t *c, int status, const char *title, kiln_tpl_slot_t inner)
{
    const kiln_layout_opts_t *lo = kiln_conn_get_assign(c, LAYOUT_ASSIGN);
    kiln_tpl_out_t o;
    kiln_tpl_out_init(&o, KILN_RENDER_MAX);
    if (lo) lo->layout(&o, c, title, inner);
    else kiln_tpl_slot_html(&o, inner);
    if (o.err || kiln_arena_on_reset(c->arena, free, o.buf.data) < 0) {
        int err = o.err ? o.err : KILN_ENOMEM;
        kiln_tpl_out_free(&o);
        return err;
    }
    return kiln_conn_send_resp(c, status, "text/html; charset=utf-8", o.buf.data ? o.buf.data : "", o.buf.len);
}
