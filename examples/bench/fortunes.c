/* examples/bench fortunes: TechEmpower's fortunes page from an in-memory list,
 * rendered by a compiled template (/bench/fortunes-mem) and by hand
 * (/bench/fortunes-hand), byte for byte the same, so that the cost of the
 * template engine can be measured (issue 3 §7, bench/template_render.c).
 *
 * Both handlers do the same work around the render: copy the fortunes, add
 * the request-time one, sort by message; both write into a malloc'd buffer
 * that the request arena frees after the response. */
#include <stdlib.h>
#include <string.h>

#include "fortune.h"
#include "templates.h"

static const fortune_t stored[] = {
    { 1, "fortune: No such file or directory" },
    { 2, "A computer scientist is someone who fixes things that aren't broken." },
    { 3, "After enough decimal places, nobody gives a damn." },
    { 4, "A bad random number generator: 1, 1, 1, 1, 1, 4.33e+67, 1, 1, 1" },
    { 5, "A computer program does what you tell it to do, not what you want it to do." },
    { 6, "Emacs is a nice operating system, but I prefer UNIX. — Tom Christaensen" },
    { 7, "Any program that runs right is obsolete." },
    { 8, "A list is only as strong as its weakest link. — Donald Knuth" },
    { 9, "Feature: A bug with seniority." },
    { 10, "Computers make very fast, very accurate mistakes." },
    { 11, "<script>alert(\"This should not be displayed in a browser alert box.\");</script>" },
    { 12, "フレームワークのベンチマーク" },
};

static int by_message(const void *a, const void *b)
{
    return strcmp(((const fortune_t *)a)->message, ((const fortune_t *)b)->message);
}

size_t fortunes_list(fortune_t *out)
{
    size_t n = KILN_ARRAY_LEN(stored);
    memcpy(out, stored, sizeof stored);
    out[n++] = (fortune_t){ 0, "Additional fortune added at request time." };
    qsort(out, n, sizeof *out, by_message);
    return n;
}

void fortunes_render_template(kiln_tpl_out_t *o, const fortune_t *f, size_t n)
{
    tpl_fortunes_assigns_t a = { 0 };
    tpl_fortunes_set_fortunes(&a, f, n);
    tpl_fortunes_render_html(o, &a);
}

/* The hand-written page: what a careful C programmer writes without a template. */
static void put_escaped(kiln_buf_t *b, const char *s)
{
    const char *run = s;
    for (; *s; s++) {
        const char *rep;
        switch (*s) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '"': rep = "&quot;"; break;
        default: continue;
        }
        kiln_buf_append(b, run, (size_t)(s - run));
        kiln_buf_puts(b, rep);
        run = s + 1;
    }
    kiln_buf_append(b, run, (size_t)(s - run));
}

static void put_int(kiln_buf_t *b, int v)
{
    char tmp[12], *p = tmp + sizeof tmp;
    unsigned u = v < 0 ? 0u - (unsigned)v : (unsigned)v;
    do *--p = (char)('0' + u % 10);
    while (u /= 10);
    if (v < 0) *--p = '-';
    kiln_buf_append(b, p, (size_t)(tmp + sizeof tmp - p));
}

void fortunes_render_hand(kiln_buf_t *b, const fortune_t *f, size_t n)
{
    kiln_buf_puts(b, "<!DOCTYPE html><html><head><title>Fortunes</title></head><body><table>"
                     "<tr><th>id</th><th>message</th></tr>");
    for (size_t i = 0; i < n; i++) {
        kiln_buf_puts(b, "<tr><td>");
        put_int(b, f[i].id);
        kiln_buf_puts(b, "</td><td>");
        put_escaped(b, f[i].message);
        kiln_buf_puts(b, "</td></tr>");
    }
    kiln_buf_puts(b, "</table></body></html>\n");
}

static int send_page(kiln_conn_t *c, char *data, size_t len, int err)
{
    if (err || kiln_arena_on_reset(c->arena, free, data) < 0) {
        free(data);
        return err ? err : KILN_ENOMEM;
    }
    return kiln_conn_send_resp(c, 200, "text/html; charset=utf-8", data, len);
}

int fortunes_mem(kiln_conn_t *c)
{
    fortune_t list[KILN_ARRAY_LEN(stored) + 1];
    size_t n = fortunes_list(list);
    kiln_tpl_out_t o;
    kiln_tpl_out_init(&o, 1 << 16);
    fortunes_render_template(&o, list, n);
    return send_page(c, o.buf.data, o.buf.len, o.err);
}

int fortunes_hand(kiln_conn_t *c)
{
    fortune_t list[KILN_ARRAY_LEN(stored) + 1];
    size_t n = fortunes_list(list);
    kiln_buf_t b;
    kiln_buf_init(&b, 1 << 16);
    fortunes_render_hand(&b, list, n);
    return send_page(c, b.data, b.len, 0);
}
