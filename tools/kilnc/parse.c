/* kilnc parser: a template's header directives and its HEEx-like body into the
 * AST of kilnc.h.
 *
 * One pass, recursive descent over the source, tracking line and column so that
 * every error names file:line:column. The parser owns the checks that need no C
 * compiler: balanced and matching tags, known components, slots and
 * attributes, declared assigns, valid attribute names, collections only where
 * a collection fits. Type errors inside C expressions are left to the C
 * compiler, which the generated #line directives point back at the template.
 * The first error ends the run (exit 1): a build tool need not recover. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kilnc.h"

typedef struct parser {
    tpl_t *t;
    tpl_t **all;
    int n_all;
    const char *s;
    size_t n, i;
    int line, col;
} parser_t;

/* What ends a list of nodes. */
enum { END_EOF, END_TAG, END_BLOCK, END_COMP, END_SLOT };
typedef struct stop {
    int kind;
    const char *name;   /* END_TAG / END_COMP / END_SLOT */
    int line, col;      /* where the opener was */
} stop_t;
/* What was found. */
enum { GOT_EOF, GOT_CLOSE, GOT_ELSE, GOT_END, GOT_SLOT };

void kilnc_die(const tpl_t *t, int line, int col, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s:%d:%d: error: ", t->path, line, col);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

#define DIE(p, ...) kilnc_die((p)->t, (p)->line, (p)->col, __VA_ARGS__)

static int at(const parser_t *p, const char *lit)
{
    size_t l = strlen(lit);
    return p->i + l <= p->n && memcmp(p->s + p->i, lit, l) == 0;
}

static void adv(parser_t *p, size_t k)
{
    while (k-- && p->i < p->n) {
        if (p->s[p->i++] == '\n') {
            p->line++;
            p->col = 1;
        } else {
            p->col++;
        }
    }
}

static void skip_ws(parser_t *p)
{
    while (p->i < p->n && isspace((unsigned char)p->s[p->i])) adv(p, 1);
}

static char *dup_n(const char *s, size_t n)
{
    char *d = kiln_xmalloc(n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

static int is_ident_start(int c) { return isalpha(c) || c == '_'; }
static int is_ident(int c) { return isalnum(c) || c == '_'; }

int kilnc_find_assign(const tpl_t *t, const char *name, size_t len)
{
    for (int k = 0; k < t->n_as; k++)
        if (strlen(t->as[k].name) == len && memcmp(t->as[k].name, name, len) == 0) return k;
    return -1;
}

/* ---- header: @include, @assign, @slot ------------------------------------ */

static void header_assign(tpl_t *t, int line, char *decl, int slot)
{
    size_t len = strlen(decl);
    while (len && isspace((unsigned char)decl[len - 1])) decl[--len] = '\0';
    int coll = len > 2 && strcmp(decl + len - 2, "[]") == 0;
    if (coll) decl[len -= 2] = '\0';
    size_t e = len;
    while (e && is_ident((unsigned char)decl[e - 1])) e--;
    if (e == len || !is_ident_start((unsigned char)decl[e]))
        kilnc_die(t, line, 1, "expected a name at the end of \"%s\"", decl);
    if (slot ? e != 0 : e == 0) kilnc_die(t, line, 1, slot ? "@slot takes only a name" : "@assign needs a C type before the name");
    if (t->n_as == (int)KILN_ARRAY_LEN(t->as)) kilnc_die(t, line, 1, "more than 64 assigns in one template");
    if (kilnc_find_assign(t, decl + e, len - e) >= 0) kilnc_die(t, line, 1, "assign %s declared twice", decl + e);
    if (strcmp(decl + e, "changed_") == 0) kilnc_die(t, line, 1, "changed_ is reserved for the dirty bits");
    assign_t *a = &t->as[t->n_as++];
    a->name = kiln_xstrdup(decl + e);
    decl[e] = '\0';
    a->type = slot ? kiln_xstrdup("kiln_tpl_slot_t") : kiln_xstrdup(decl);
    size_t tl = strlen(a->type);
    while (tl && isspace((unsigned char)a->type[tl - 1])) a->type[--tl] = '\0';
    a->kind = slot ? A_SLOT : coll ? A_COLL : A_SCALAR;
}

void kilnc_parse_header(tpl_t *t)
{
    size_t i = 0;
    int line = 1;
    while (i < t->len) {
        size_t eol = i;
        while (eol < t->len && t->src[eol] != '\n') eol++;
        size_t j = i;
        while (j < eol && (t->src[j] == ' ' || t->src[j] == '\t' || t->src[j] == '\r')) j++;
        if (j < eol && t->src[j] != '@') break;
        if (j < eol) {
            char *l = dup_n(t->src + j, eol - j);
            size_t ll = strlen(l);
            if (ll && l[ll - 1] == '\r') l[--ll] = '\0';
            if (strncmp(l, "@include ", 9) == 0) {
                char *v = l + 9;
                while (*v == ' ') v++;
                if ((*v != '"' && *v != '<') || strlen(v) < 3)
                    kilnc_die(t, line, 10, "@include takes \"file.h\" or <file.h>");
                if (t->n_inc == (int)KILN_ARRAY_LEN(t->includes)) kilnc_die(t, line, 1, "too many @include lines");
                t->includes[t->n_inc++] = kiln_xstrdup(v);
            } else if (strncmp(l, "@assign ", 8) == 0) {
                header_assign(t, line, l + 8, 0);
            } else if (strncmp(l, "@slot ", 6) == 0) {
                header_assign(t, line, l + 6, 1);
            } else {
                kilnc_die(t, line, (int)(j - i) + 1, "unknown directive \"%s\" (expected @include, @assign or @slot)", l);
            }
            free(l);
        }
        i = eol < t->len ? eol + 1 : eol;
        line++;
    }
    t->body_off = i;
    t->body_line = line;
}

/* ---- AST helpers ---------------------------------------------------------- */

static node_t *node_new(list_t *l, int kind, int line, int col)
{
    node_t *n = kiln_xcalloc(1, sizeof *n);
    n->kind = kind;
    n->line = line;
    n->col = col;
    if (l->tail) l->tail->next = n;
    else l->head = n;
    l->tail = n;
    return n;
}

static void add_static(list_t *l, const char *s, size_t len, int line, int col)
{
    if (!len) return;
    node_t *n = l->tail;
    if (!n || n->kind != N_STATIC) {
        n = node_new(l, N_STATIC, line, col);
        n->text = kiln_xstrdup("");
    }
    n->text = kiln_xrealloc(n->text, n->len + len + 1);
    memcpy(n->text + n->len, s, len);
    n->len += len;
    n->text[n->len] = '\0';
}

static void add_static_c(list_t *l, const char *s) { add_static(l, s, strlen(s), 0, 0); }

/* ---- expressions ---------------------------------------------------------- */

/* Rewrites @name into a->name in a C expression, checking each name is
 * declared; strings and character constants are copied untouched. */
static char *rewrite(parser_t *p, const char *e, int line, int col, uint64_t *deps)
{
    kiln_buf_t b;
    kiln_buf_init(&b, 1 << 20);
    for (size_t i = 0; e[i]; i++) {
        char c = e[i];
        if (c == '"' || c == '\'') {
            size_t j = i + 1;
            while (e[j] && e[j] != c) j += (e[j] == '\\' && e[j + 1]) ? 2 : 1;
            kiln_buf_append(&b, e + i, (e[j] ? j + 1 : j) - i);
            i = e[j] ? j : j - 1;
            continue;
        }
        if (c == '\n') {
            line++;
            col = 0;
        }
        if (c != '@') {
            kiln_buf_append(&b, &c, 1);
            col++;
            continue;
        }
        size_t j = i + 1;
        while (is_ident((unsigned char)e[j])) j++;
        if (j == i + 1) kilnc_die(p->t, line, col, "expected an assign name after @");
        int k = kilnc_find_assign(p->t, e + i + 1, j - i - 1);
        if (k < 0)
            kilnc_die(p->t, line, col, "unknown assign @%.*s (declare it with @assign TYPE %.*s in the header)",
                      (int)(j - i - 1), e + i + 1, (int)(j - i - 1), e + i + 1);
        *deps |= UINT64_C(1) << k;
        kiln_buf_printf(&b, "a->%s", p->t->as[k].name);
        col += (int)(j - i);
        i = j - 1;
    }
    char *r = kiln_xstrdup(b.data ? b.data : "");
    kiln_buf_free(&b);
    return r;
}

/* The assign named by an expression that is exactly "@name" (spaces around
 * allowed), or -1. */
static int lone_assign(const tpl_t *t, const char *e)
{
    while (isspace((unsigned char)*e)) e++;
    if (*e++ != '@') return -1;
    size_t n = 0;
    while (is_ident((unsigned char)e[n])) n++;
    size_t k = n;
    while (isspace((unsigned char)e[k])) k++;
    return e[k] ? -1 : kilnc_find_assign(t, e, n);
}

/* Reads a {...} expression (p at '{'), balancing braces and skipping strings. */
static char *read_braced(parser_t *p)
{
    int line = p->line, col = p->col;
    adv(p, 1);
    size_t start = p->i;
    int depth = 1;
    while (p->i < p->n) {
        char c = p->s[p->i];
        if (c == '"' || c == '\'') {
            adv(p, 1);
            while (p->i < p->n && p->s[p->i] != c) adv(p, p->s[p->i] == '\\' ? 2 : 1);
        } else if (c == '{') {
            depth++;
        } else if (c == '}' && --depth == 0) {
            char *e = dup_n(p->s + start, p->i - start);
            adv(p, 1);
            return e;
        }
        adv(p, 1);
    }
    kilnc_die(p->t, line, col, "unclosed { : expected a matching }");
}

/* "item <- @items" into the loop variable and the collection assign. */
static void parse_for(parser_t *p, const char *e, int line, int col, node_t *n)
{
    while (isspace((unsigned char)*e)) e++;
    size_t v = 0;
    while (is_ident((unsigned char)e[v])) v++;
    const char *arrow = e + v;
    while (isspace((unsigned char)*arrow)) arrow++;
    if (!v || !is_ident_start((unsigned char)*e) || strncmp(arrow, "<-", 2) != 0)
        kilnc_die(p->t, line, col, "expected \"item <- @collection\" in a for");
    int k = lone_assign(p->t, arrow + 2);
    if (k < 0) {
        uint64_t d = 0;
        rewrite(p, arrow + 2, line, col, &d); /* reports an unknown assign precisely */
        kilnc_die(p->t, line, col, "a for loops over a collection assign: \"item <- @items\"");
    }
    if (p->t->as[k].kind != A_COLL)
        kilnc_die(p->t, line, col, "@%s is not a collection (declare it as @assign TYPE %s[])", p->t->as[k].name,
                  p->t->as[k].name);
    n->name = dup_n(e, v);
    n->coll = k;
    n->deps = UINT64_C(1) << k;
}

/* ---- body ----------------------------------------------------------------- */

static int parse_list(parser_t *p, list_t *l, const stop_t *st);

static const char *const void_tags[] = { "area", "base", "br", "col", "embed", "hr", "img", "input",
                                         "link", "meta", "source", "track", "wbr", NULL };
static const char *const url_attrs[] = { "href", "src", "action", "formaction", "poster", "cite", "background",
                                         "longdesc", "data", "xlink:href", "srcset", "ping", "manifest", NULL };

static int in_set(const char *const *set, const char *s)
{
    for (; *set; set++)
        if (strcasecmp(*set, s) == 0) return 1;
    return 0;
}

static char *read_name(parser_t *p, int (*ok)(int))
{
    size_t start = p->i;
    while (p->i < p->n && ok((unsigned char)p->s[p->i])) adv(p, 1);
    return dup_n(p->s + start, p->i - start);
}

static int tag_char(int c) { return isalnum(c) || c == '-' || c == '_' || c == '.' || c == ':'; }
static int attr_char(int c) { return c > ' ' && c != '=' && c != '>' && c != '/' && c != '"' && c != '\'' && c < 127; }

/* HTML attribute names kilnc accepts: [A-Za-z_:][A-Za-z0-9_:.-]*. */
static int attr_name_ok(const char *s)
{
    if (!(isalpha((unsigned char)*s) || *s == '_' || *s == ':')) return 0;
    for (s++; *s; s++)
        if (!(isalnum((unsigned char)*s) || *s == '_' || *s == ':' || *s == '.' || *s == '-')) return 0;
    return 1;
}

typedef struct attr {
    char *name;
    char *value;      /* literal text or expression; NULL for a bare attribute */
    int expr;         /* value was {...} */
    char quote;
    int line, col, vline, vcol;
} attr_t;

/* Reads one attribute; returns 0 at the end of the tag: *end is then 1 after
 * '>', 2 after "/>", and stays 0 at the end of the input. */
static int read_attr(parser_t *p, attr_t *a, int *end)
{
    skip_ws(p);
    if (p->i >= p->n) return 0;
    if (at(p, "/>")) {
        adv(p, 2);
        *end = 2;
        return 0;
    }
    if (at(p, ">")) {
        adv(p, 1);
        *end = 1;
        return 0;
    }
    memset(a, 0, sizeof *a);
    a->line = p->line;
    a->col = p->col;
    a->name = read_name(p, attr_char);
    if (!*a->name) DIE(p, "bad attribute: unexpected '%c' in a tag", p->s[p->i]);
    if (!attr_name_ok(a->name)) kilnc_die(p->t, a->line, a->col, "bad attribute name \"%s\"", a->name);
    skip_ws(p);
    if (!at(p, "=")) return 1;
    adv(p, 1);
    skip_ws(p);
    a->vline = p->line;
    a->vcol = p->col;
    if (at(p, "{")) {
        a->value = read_braced(p);
        a->expr = 1;
    } else if (at(p, "\"") || at(p, "'")) {
        a->quote = p->s[p->i];
        adv(p, 1);
        size_t start = p->i;
        while (p->i < p->n && p->s[p->i] != a->quote) adv(p, 1);
        if (p->i >= p->n) kilnc_die(p->t, a->vline, a->vcol, "unclosed attribute value for %s", a->name);
        a->value = dup_n(p->s + start, p->i - start);
        adv(p, 1);
    } else {
        DIE(p, "bad attribute: the value of %s must be quoted or {an expression}", a->name);
    }
    return 1;
}

/* Wraps the nodes in el into :for / :if nodes as the attributes asked, and
 * appends the result to l. */
static void wrap(parser_t *p, list_t *l, list_t *el, const attr_t *a_if, const attr_t *a_for)
{
    list_t inner = *el;
    if (a_if) {
        list_t w = { 0 };
        node_t *n = node_new(&w, N_IF, a_if->vline, a_if->vcol);
        n->text = rewrite(p, a_if->value, a_if->vline, a_if->vcol, &n->deps);
        n->a = inner;
        inner = w;
    }
    if (a_for) {
        list_t w = { 0 };
        node_t *n = node_new(&w, N_FOR, a_for->vline, a_for->vcol);
        parse_for(p, a_for->value, a_for->vline, a_for->vcol, n);
        n->a = inner;
        inner = w;
    }
    if (!inner.head) return;
    if (l->tail) l->tail->next = inner.head;
    else l->head = inner.head;
    l->tail = inner.tail;
}

static int special_attr(parser_t *p, attr_t *a, attr_t *a_if, attr_t *a_for)
{
    if (a->name[0] != ':') return 0;
    attr_t *dst = strcmp(a->name, ":if") == 0 ? a_if : strcmp(a->name, ":for") == 0 ? a_for : NULL;
    if (!dst) kilnc_die(p->t, a->line, a->col, "bad attribute %s (only :if and :for are special)", a->name);
    if (!a->expr) kilnc_die(p->t, a->line, a->col, "%s takes an expression: %s={...}", a->name, a->name);
    if (dst->name) kilnc_die(p->t, a->line, a->col, "%s given twice", a->name);
    *dst = *a;
    return 1;
}

static void parse_element(parser_t *p, list_t *l)
{
    int line = p->line, col = p->col;
    adv(p, 1);
    char *name = read_name(p, tag_char);
    list_t el = { 0 };
    add_static_c(&el, "<");
    add_static_c(&el, name);
    attr_t a, a_if = { 0 }, a_for = { 0 };
    int end = 0;
    while (read_attr(p, &a, &end)) {
        if (special_attr(p, &a, &a_if, &a_for)) continue;
        if (!a.value) {
            add_static_c(&el, " ");
            add_static_c(&el, a.name);
        } else if (!a.expr) {
            char q[2] = { a.quote, 0 };
            add_static_c(&el, " ");
            add_static_c(&el, a.name);
            add_static_c(&el, "=");
            add_static_c(&el, q);
            add_static_c(&el, a.value);
            add_static_c(&el, q);
        } else {
            if (strncasecmp(a.name, "on", 2) == 0)
                kilnc_die(p->t, a.line, a.col, "bad attribute: %s (an event handler) cannot take a value from data",
                          a.name);
            node_t *n = node_new(&el, N_ATTR, a.vline, a.vcol);
            n->name = a.name;
            n->url = in_set(url_attrs, a.name);
            n->text = rewrite(p, a.value, a.vline, a.vcol, &n->deps);
            int k = lone_assign(p->t, a.value);
            if (k >= 0 && p->t->as[k].kind != A_SCALAR)
                kilnc_die(p->t, a.vline, a.vcol, "bad attribute: @%s is a %s, not a value", p->t->as[k].name,
                          p->t->as[k].kind == A_COLL ? "collection" : "slot");
        }
    }
    if (!end) kilnc_die(p->t, line, col, "unclosed tag <%s: expected >", name);
    add_static_c(&el, ">");
    if (end == 2 || in_set(void_tags, name)) {
        wrap(p, l, &el, a_if.name ? &a_if : NULL, a_for.name ? &a_for : NULL);
        return;
    }
    if (strcasecmp(name, "script") == 0 || strcasecmp(name, "style") == 0) {
        /* raw text: no interpolation, so inline JS and CSS braces stay as written */
        size_t start = p->i;
        while (p->i < p->n && !(p->s[p->i] == '<' && p->s[p->i + 1] == '/' &&
                                strncasecmp(p->s + p->i + 2, name, strlen(name)) == 0))
            adv(p, 1);
        if (p->i >= p->n) kilnc_die(p->t, line, col, "unclosed tag <%s> (no </%s>)", name, name);
        add_static(&el, p->s + start, p->i - start, 0, 0);
        adv(p, 2 + strlen(name));
        skip_ws(p);
        if (!at(p, ">")) DIE(p, "expected > to end </%s", name);
        adv(p, 1);
    } else {
        stop_t st = { END_TAG, name, line, col };
        parse_list(p, &el, &st);
    }
    add_static_c(&el, "</");
    add_static_c(&el, name);
    add_static_c(&el, ">");
    wrap(p, l, &el, a_if.name ? &a_if : NULL, a_for.name ? &a_for : NULL);
}

static tpl_t *find_tpl(parser_t *p, const char *name)
{
    for (int k = 0; k < p->n_all; k++)
        if (strcmp(p->all[k]->name, name) == 0) return p->all[k];
    return NULL;
}

static int list_blank(const list_t *l)
{
    for (node_t *n = l->head; n; n = n->next) {
        if (n->kind != N_STATIC) return 0;
        for (size_t i = 0; i < n->len; i++)
            if (!isspace((unsigned char)n->text[i])) return 0;
    }
    return 1;
}

static void call_attr(parser_t *p, node_t *call, const attr_t *a)
{
    tpl_t *c = call->comp;
    int k = kilnc_find_assign(c, a->name, strlen(a->name));
    if (k < 0) kilnc_die(p->t, a->line, a->col, "unknown attribute %s for <.%s>", a->name, c->name);
    if (c->as[k].kind == A_SLOT)
        kilnc_die(p->t, a->line, a->col, "%s is a slot of <.%s>: pass it as <:%s>...</:%s>", a->name, c->name, a->name,
                  a->name);
    cattr_t *ca = kiln_xcalloc(1, sizeof *ca);
    ca->name = a->name;
    ca->assign = k;
    ca->line = a->vline ? a->vline : a->line;
    if (!a->value) { /* a bare attribute means true */
        ca->value = kiln_xstrdup("1");
    } else if (!a->expr) {
        if (c->as[k].kind != A_SCALAR || !strstr(c->as[k].type, "char"))
            kilnc_die(p->t, a->line, a->col, "attribute %s of <.%s> is %s%s: give it as %s={...}", a->name, c->name,
                      c->as[k].type, c->as[k].kind == A_COLL ? "[]" : "", a->name);
        ca->value = a->value;
        ca->literal = 1;
    } else {
        ca->value = rewrite(p, a->value, a->vline, a->vcol, &call->deps);
        int own = lone_assign(p->t, a->value);
        if (c->as[k].kind == A_COLL && (own < 0 || p->t->as[own].kind != A_COLL))
            kilnc_die(p->t, a->vline, a->vcol, "attribute %s of <.%s> is a collection: give it as %s={@items}", a->name,
                      c->name, a->name);
        if (c->as[k].kind == A_SCALAR && own >= 0 && p->t->as[own].kind != A_SCALAR)
            kilnc_die(p->t, a->vline, a->vcol, "attribute %s of <.%s> takes a value, and @%s is a %s", a->name, c->name,
                      p->t->as[own].name, p->t->as[own].kind == A_COLL ? "collection" : "slot");
    }
    ca->next = call->attrs;
    call->attrs = ca;
}

static cslot_t *add_slot(node_t *call, int k)
{
    cslot_t *s = kiln_xcalloc(1, sizeof *s);
    s->assign = k;
    s->next = call->slots;
    call->slots = s;
    return s;
}

static void parse_call(parser_t *p, list_t *l)
{
    int line = p->line, col = p->col;
    adv(p, 2);
    char *name = read_name(p, tag_char);
    tpl_t *c = find_tpl(p, name);
    if (!c) kilnc_die(p->t, line, col, "unknown component <.%s> (no %s.kiln among the templates)", name, name);
    if (c == p->t) kilnc_die(p->t, line, col, "<.%s> calls itself", name);
    list_t el = { 0 };
    node_t *call = node_new(&el, N_CALL, line, col);
    call->comp = c;
    attr_t a, a_if = { 0 }, a_for = { 0 };
    int end = 0;
    while (read_attr(p, &a, &end))
        if (!special_attr(p, &a, &a_if, &a_for)) call_attr(p, call, &a);
    if (!end) kilnc_die(p->t, line, col, "unclosed tag <.%s: expected >", name);
    if (end == 1) {
        char full[256];
        snprintf(full, sizeof full, ".%s", name);
        stop_t st = { END_COMP, kiln_xstrdup(full), line, col };
        list_t inner = { 0 };
        int got;
        while ((got = parse_list(p, &inner, &st)) == GOT_SLOT) {
            int sl = p->line, sc = p->col;
            adv(p, 2);
            char *sname = read_name(p, tag_char);
            int k = kilnc_find_assign(c, sname, strlen(sname));
            if (k < 0 || c->as[k].kind != A_SLOT)
                kilnc_die(p->t, sl, sc, "unknown slot <:%s> for <.%s> (declare @slot %s in %s)", sname, name, sname,
                          c->path);
            skip_ws(p);
            if (!at(p, ">")) DIE(p, "bad attribute: slots take no attributes (<:%s>)", sname);
            adv(p, 1);
            char sfull[256];
            snprintf(sfull, sizeof sfull, ":%s", sname);
            stop_t sst = { END_SLOT, kiln_xstrdup(sfull), sl, sc };
            parse_list(p, &add_slot(call, k)->body, &sst);
        }
        if (!list_blank(&inner)) {
            int k = kilnc_find_assign(c, "inner_block", 11);
            if (k < 0 || c->as[k].kind != A_SLOT)
                kilnc_die(p->t, line, col, "<.%s> takes no inner content (declare @slot inner_block in %s)", name,
                          c->path);
            add_slot(call, k)->body = inner;
        }
    }
    wrap(p, l, &el, a_if.name ? &a_if : NULL, a_for.name ? &a_for : NULL);
}

/* <% ... %> and <%= ... %>: if/else/end, for, or an output expression. */
static int parse_eex(parser_t *p, list_t *l, const stop_t *st)
{
    int line = p->line, col = p->col;
    adv(p, 2);
    int out = at(p, "=");
    if (out) adv(p, 1);
    size_t start = p->i;
    while (p->i < p->n && !at(p, "%>")) adv(p, 1);
    if (p->i >= p->n) kilnc_die(p->t, line, col, "unclosed <%% : expected %%>");
    char *body = dup_n(p->s + start, p->i - start);
    adv(p, 2);
    char *e = body;
    while (isspace((unsigned char)*e)) e++;
    size_t len = strlen(e);
    while (len && isspace((unsigned char)e[len - 1])) e[--len] = '\0';
    int is_else = strcmp(e, "else") == 0, is_end = strcmp(e, "end") == 0;
    if (is_else || is_end) {
        if (st->kind != END_BLOCK)
            kilnc_die(p->t, line, col, "unexpected <%% %s %%>%s", e,
                      st->kind == END_EOF ? ": no open if or for" : ": close the open tag first");
        return is_else ? GOT_ELSE : GOT_END;
    }
    int is_if = strncmp(e, "if ", 3) == 0, is_for = strncmp(e, "for ", 4) == 0;
    if (is_if || is_for) {
        if (len > 3 && strcmp(e + len - 3, " do") == 0) e[len -= 3] = '\0';
        node_t *n = node_new(l, is_if ? N_IF : N_FOR, line, col);
        if (is_if) n->text = rewrite(p, e + 3, line, col + 4, &n->deps);
        else parse_for(p, e + 4, line, col, n);
        stop_t bst = { END_BLOCK, NULL, line, col };
        int got = parse_list(p, &n->a, &bst);
        if (got == GOT_ELSE) {
            if (is_for) kilnc_die(p->t, line, col, "a for has no <%% else %%>");
            got = parse_list(p, &n->b, &bst);
            if (got == GOT_ELSE) kilnc_die(p->t, line, col, "a second <%% else %%> in this if");
        }
        return -1;
    }
    if (!out) kilnc_die(p->t, line, col, "unknown <%% %s %%>: expected if, for, else, end, or <%%= expression %%>", e);
    node_t *n = node_new(l, N_EXPR, line, col + 3);
    n->text = rewrite(p, e, line, col + 3, &n->deps);
    return -1;
}

/* {expr} in text: an escaped value, raw(...), or a slot ({@footer} or
 * {render_slot(@footer)}). */
static void parse_interp(parser_t *p, list_t *l)
{
    int line = p->line, col = p->col;
    char *e = read_braced(p);
    node_t *n = node_new(l, N_EXPR, line, col + 1);
    char *inner = e;
    while (isspace((unsigned char)*inner)) inner++;
    if (strncmp(inner, "render_slot(", 12) == 0) {
        size_t len = strlen(inner);
        while (len && isspace((unsigned char)inner[len - 1])) len--;
        if (inner[len - 1] != ')') kilnc_die(p->t, line, col, "render_slot takes one slot: render_slot(@footer)");
        inner = dup_n(inner + 12, len - 13);
        int k = lone_assign(p->t, inner);
        if (k < 0 || p->t->as[k].kind != A_SLOT) kilnc_die(p->t, line, col, "render_slot takes a slot: render_slot(@name)");
    }
    int k = lone_assign(p->t, inner);
    n->text = rewrite(p, inner, line, col + 1, &n->deps);
    if (k >= 0 && p->t->as[k].kind == A_COLL)
        kilnc_die(p->t, line, col + 1, "@%s is a collection: loop over it with :for={x <- @%s}", p->t->as[k].name,
                  p->t->as[k].name);
    if (k >= 0 && p->t->as[k].kind == A_SLOT) n->slot = k + 1;
}

static int closes(const stop_t *st, const char *name)
{
    return (st->kind == END_TAG || st->kind == END_COMP || st->kind == END_SLOT) && strcmp(st->name, name) == 0;
}

static const char *stop_desc(const stop_t *st, char *buf, size_t n)
{
    if (st->kind == END_BLOCK) snprintf(buf, n, "the block opened at %d:%d needs <%% end %%> first", st->line, st->col);
    else if (st->kind == END_EOF) snprintf(buf, n, "no tag is open");
    else snprintf(buf, n, "expected </%s> for <%s> opened at %d:%d", st->name, st->name, st->line, st->col);
    return buf;
}

static int parse_close(parser_t *p, const stop_t *st)
{
    int line = p->line, col = p->col;
    adv(p, 2);
    char *name = read_name(p, tag_char);
    skip_ws(p);
    if (!at(p, ">")) DIE(p, "expected > to end </%s", name);
    adv(p, 1);
    char why[160];
    if (!closes(st, name)) kilnc_die(p->t, line, col, "mismatched end tag </%s>: %s", name, stop_desc(st, why, sizeof why));
    return GOT_CLOSE;
}

static int parse_list(parser_t *p, list_t *l, const stop_t *st)
{
    for (;;) {
        if (p->i >= p->n) {
            if (st->kind == END_EOF) return GOT_EOF;
            if (st->kind == END_BLOCK)
                kilnc_die(p->t, st->line, st->col, "unclosed block: this if/for has no <%% end %%>");
            kilnc_die(p->t, st->line, st->col, "unclosed tag <%s>: no </%s> before the end of the file", st->name,
                      st->name);
        }
        int line = p->line, col = p->col;
        if (at(p, "<%!--")) {
            while (p->i < p->n && !at(p, "--%>")) adv(p, 1);
            if (p->i >= p->n) kilnc_die(p->t, line, col, "unclosed comment <%%!-- : expected --%%>");
            adv(p, 4);
        } else if (at(p, "<%")) {
            int got = parse_eex(p, l, st);
            if (got >= 0) return got;
        } else if (at(p, "<!--") || at(p, "<!")) {
            const char *end = at(p, "<!--") ? "-->" : ">";
            size_t start = p->i;
            while (p->i < p->n && !at(p, end)) adv(p, 1);
            if (p->i >= p->n) kilnc_die(p->t, line, col, "unclosed <! : expected %s", end);
            adv(p, strlen(end));
            add_static(l, p->s + start, p->i - start, line, col);
        } else if (at(p, "</")) {
            return parse_close(p, st);
        } else if (at(p, "<.")) {
            parse_call(p, l);
        } else if (at(p, "<:")) {
            if (st->kind != END_COMP) DIE(p, "a slot <:...> must be a direct child of a component <.name>");
            return GOT_SLOT;
        } else if (p->s[p->i] == '<' && p->i + 1 < p->n && isalpha((unsigned char)p->s[p->i + 1])) {
            parse_element(p, l);
        } else if (p->s[p->i] == '{') {
            parse_interp(p, l);
        } else {
            size_t start = p->i;
            adv(p, 1);
            while (p->i < p->n && p->s[p->i] != '<' && p->s[p->i] != '{') adv(p, 1);
            add_static(l, p->s + start, p->i - start, line, col);
        }
    }
}

void kilnc_parse_body(tpl_t *t, tpl_t **all, int n_all)
{
    parser_t p = { .t = t, .all = all, .n_all = n_all, .s = t->src, .n = t->len, .i = t->body_off,
                   .line = t->body_line, .col = 1 };
    stop_t st = { END_EOF, NULL, 0, 0 };
    parse_list(&p, &t->body, &st);
}
