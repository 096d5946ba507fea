/* The accepts plug: content negotiation into c->format.
 *
 * A "_format" param wins (as in Phoenix, so that a link can force a format),
 * then the Accept header: its media ranges are read with their q-values and the
 * best one that maps to an allowed format is taken; ties keep header order.
 * Media types map to format names by a small table (MIME.extensions in Elixir
 * is the model); "+json" suffixes count as json. */
#include "kiln/plugs.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct { const char *type, *format; } types[] = {
    { "text/html", "html" }, { "application/xhtml+xml", "html" }, { "application/json", "json" },
    { "text/plain", "text" }, { "application/xml", "xml" }, { "text/xml", "xml" }, { "text/csv", "csv" },
    { "application/javascript", "js" }, { "text/javascript", "js" }, { "text/css", "css" },
    { "text/event-stream", "event-stream" },
};

/* Is `format` in the comma-separated list? */
static int listed(const char *list, const char *format, size_t flen)
{
    for (const char *p = list; *p;) {
        while (*p == ',' || *p == ' ') p++;
        const char *s = p;
        while (*p && *p != ',' && *p != ' ') p++;
        if ((size_t)(p - s) == flen && !strncmp(s, format, flen)) return 1;
    }
    return 0;
}

/* The first allowed format, copied out of the list (arena). */
static const char *first_format(kiln_arena_t *a, const char *list)
{
    while (*list == ',' || *list == ' ') list++;
    size_t n = strcspn(list, ", ");
    return n ? kiln_arena_strndup(a, list, n) : NULL;
}

/* The allowed format a media range selects, or NULL. */
static const char *range_format(kiln_arena_t *a, const char *list, kiln_str_t range)
{
    if (kiln_str_eq_c(range, "*/*")) return first_format(a, list);
    for (size_t i = 0; i < KILN_ARRAY_LEN(types); i++) {
        size_t tl = strlen(types[i].type);
        int wild = range.len >= 2 && range.ptr[range.len - 1] == '*' && range.ptr[range.len - 2] == '/';
        /* a wildcard selects a format by its primary type only (the first table row) */
        int primary = i == 0 || strcmp(types[i - 1].format, types[i].format) != 0;
        int match = wild ? primary && !strncasecmp(types[i].type, range.ptr, range.len - 1)
                         : range.len == tl && !strncasecmp(types[i].type, range.ptr, tl);
        if (match && listed(list, types[i].format, strlen(types[i].format))) return types[i].format;
    }
    if (range.len > 5 && !strncasecmp(range.ptr + range.len - 5, "+json", 5) && listed(list, "json", 4)) return "json";
    return NULL;
}

static double q_value(const char *params, const char *end)
{
    for (const char *p = params; p < end; p++)
        if ((*p == 'q' || *p == 'Q') && p + 1 < end && p[1] == '=' && (p == params || p[-1] == ';' || p[-1] == ' '))
            return strtod(p + 2, NULL);
    return 1.0;
}

static const char *negotiate(kiln_arena_t *a, const char *list, kiln_str_t accept)
{
    const char *best = NULL;
    double best_q = 0.0;
    size_t i = 0;
    while (i < accept.len) {
        size_t start = i;
        while (i < accept.len && accept.ptr[i] != ',') i++;
        kiln_str_t item = { accept.ptr + start, i - start };
        i++; /* past the comma */
        while (item.len && (item.ptr[0] == ' ' || item.ptr[0] == '\t')) item.ptr++, item.len--;
        size_t tlen = 0;
        while (tlen < item.len && item.ptr[tlen] != ';') tlen++;
        int has_params = tlen < item.len;
        double q = has_params ? q_value(item.ptr + tlen + 1, item.ptr + item.len) : 1.0;
        while (tlen && (item.ptr[tlen - 1] == ' ' || item.ptr[tlen - 1] == '\t')) tlen--;
        const char *f = q > 0 ? range_format(a, list, (kiln_str_t){ item.ptr, tlen }) : NULL;
        if (f && q > best_q) {
            best = f;
            best_q = q;
        }
    }
    return best;
}

int kiln_plug_accepts(kiln_conn_t *c, const void *opts)
{
    const kiln_accepts_opts_t *o = opts;
    const char *list = o && o->formats ? o->formats : "html";
    const char *forced = kiln_param_str(c->params, "_format");
    if (!forced) forced = kiln_param_str(c->query_params, "_format");
    const kiln_str_t *accept = kiln_conn_req_header(c, "accept");
    const char *f = NULL;
    if (forced) f = listed(list, forced, strlen(forced)) ? forced : NULL;
    else if (!accept || accept->len == 0) f = first_format(c->arena, list);
    else f = negotiate(c->arena, list, *accept);
    if (!f) {
        int rc = kiln_conn_send_error(c, 406, "No acceptable format.");
        return rc < 0 ? rc : KILN_PLUG_HALT;
    }
    c->format = f;
    return KILN_PLUG_CONT;
}
