/* Template output: the bounded HTML buffer, escaping and the typed writers that
 * KILN_TPL_TEXT / KILN_TPL_ATTR select (include/kiln/template.h).
 *
 * Rendering must cost little more than a hand-written page (issue 3 §7), so the
 * common path is an inline memcpy into spare capacity and escaping copies runs
 * of safe bytes at once; only growth and entities take a call. Errors are
 * sticky in the output so generated code checks nothing per write. */
#include <stdio.h>

#include "kiln/template.h"

void kiln_tpl_out_init(kiln_tpl_out_t *o, size_t max)
{
    kiln_buf_init(&o->buf, max);
    o->err = 0;
}

void kiln_tpl_out_reset(kiln_tpl_out_t *o)
{
    o->buf.len = 0;
    o->err = 0;
}

void kiln_tpl_out_free(kiln_tpl_out_t *o)
{
    kiln_buf_free(&o->buf);
}

void kiln_tpl_put_slow(kiln_tpl_out_t *o, const char *s, size_t n)
{
    if (o->err) return;
    int rc = kiln_buf_append(&o->buf, s, n);
    if (rc < 0) o->err = rc;
}

/* 0 for bytes that pass through, else the index of the entity below. Text
 * needs & < > (and " costs nothing); attribute values, which Kiln always
 * double-quotes, also get ' and ` so that a value stays inert even if pasted
 * into a single-quoted or legacy context. Leaving ' alone in text keeps
 * messages such as "can't be blank" readable in the page source. */
static const uint8_t text_class[256] = {
    ['&'] = 1, ['<'] = 2, ['>'] = 3, ['"'] = 4,
};
static const uint8_t attr_class[256] = {
    ['&'] = 1, ['<'] = 2, ['>'] = 3, ['"'] = 4, ['\''] = 5, ['`'] = 6,
};
static const kiln_str_t entities[] = {
    { "", 0 }, KILN_STR("&amp;"), KILN_STR("&lt;"), KILN_STR("&gt;"),
    KILN_STR("&quot;"), KILN_STR("&#39;"), KILN_STR("&#96;"),
};

static void escape(kiln_tpl_out_t *o, const uint8_t *cls, const char *s, size_t n)
{
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t k = cls[(unsigned char)s[i]];
        if (!k) continue;
        kiln_tpl_put(o, s + run, i - run);
        kiln_tpl_put(o, entities[k].ptr, entities[k].len);
        run = i + 1;
    }
    kiln_tpl_put(o, s + run, n - run);
}

void kiln_tpl_escape(kiln_tpl_out_t *o, const char *s, size_t n)
{
    escape(o, text_class, s, n);
}

void kiln_tpl_escape_attr(kiln_tpl_out_t *o, const char *s, size_t n)
{
    escape(o, attr_class, s, n);
}

void kiln_tpl_text_cstr(kiln_tpl_out_t *o, const char *s)
{
    if (s) kiln_tpl_escape(o, s, strlen(s));
}

void kiln_tpl_text_str(kiln_tpl_out_t *o, kiln_str_t s)
{
    if (s.ptr) kiln_tpl_escape(o, s.ptr, s.len);
}

void kiln_tpl_text_raw(kiln_tpl_out_t *o, kiln_tpl_raw_t r)
{
    if (r.html) kiln_tpl_put(o, r.html, strlen(r.html));
}

void kiln_tpl_text_u64(kiln_tpl_out_t *o, unsigned long long v)
{
    char tmp[24];
    char *p = tmp + sizeof tmp;
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    kiln_tpl_put(o, p, (size_t)(tmp + sizeof tmp - p));
}

void kiln_tpl_text_i64(kiln_tpl_out_t *o, long long v)
{
    if (v < 0) {
        kiln_tpl_put(o, "-", 1);
        kiln_tpl_text_u64(o, 0ull - (unsigned long long)v); /* also right for LLONG_MIN */
    } else {
        kiln_tpl_text_u64(o, (unsigned long long)v);
    }
}

void kiln_tpl_text_double(kiln_tpl_out_t *o, double v)
{
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, "%g", v);
    kiln_tpl_put(o, tmp, (size_t)n);
}

void kiln_tpl_text_bool(kiln_tpl_out_t *o, bool v)
{
    if (v) kiln_tpl_put(o, "true", 4);
    else kiln_tpl_put(o, "false", 5);
}

/* ---- attributes ---- */

static void attr_value(kiln_tpl_out_t *o, const char *pre, size_t pre_len, int url, const char *v, size_t n)
{
    kiln_tpl_put(o, pre, pre_len);
    if (url && !kiln_tpl_url_safe(v, n)) {
        /* pre is ` name="`: name it without the value, which may be hostile. */
        kiln_log(KILN_LOG_WARN, "template: unsafe URL in%.*s attribute replaced by #", (int)(pre_len - 2), pre);
        kiln_tpl_put(o, "#", 1);
    } else {
        kiln_tpl_escape_attr(o, v, n);
    }
    kiln_tpl_put(o, "\"", 1);
}

void kiln_tpl_attr_cstr(kiln_tpl_out_t *o, const char *pre, size_t pre_len, int url, const char *v)
{
    if (v) attr_value(o, pre, pre_len, url, v, strlen(v));
}

void kiln_tpl_attr_str(kiln_tpl_out_t *o, const char *pre, size_t pre_len, int url, kiln_str_t v)
{
    if (v.ptr) attr_value(o, pre, pre_len, url, v.ptr, v.len);
}

void kiln_tpl_attr_i64(kiln_tpl_out_t *o, const char *pre, size_t pre_len, int url, long long v)
{
    (void)url; /* a number is a relative URL at worst */
    kiln_tpl_put(o, pre, pre_len);
    kiln_tpl_text_i64(o, v);
    kiln_tpl_put(o, "\"", 1);
}

void kiln_tpl_attr_u64(kiln_tpl_out_t *o, const char *pre, size_t pre_len, int url, unsigned long long v)
{
    (void)url;
    kiln_tpl_put(o, pre, pre_len);
    kiln_tpl_text_u64(o, v);
    kiln_tpl_put(o, "\"", 1);
}

void kiln_tpl_attr_bool(kiln_tpl_out_t *o, const char *pre, size_t pre_len, int url, bool v)
{
    (void)url;
    if (v) kiln_tpl_put(o, pre, pre_len - 2); /* ` disabled`, without `="` */
}
