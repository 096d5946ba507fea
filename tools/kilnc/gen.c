/* kilnc generator: the AST of kilnc.h into one C header and one C file.
 *
 * For each template it emits, once, the static fragments of every block (the
 * body, each branch, comprehension body and slot body) with the assigns each
 * dynamic slot reads, and then two walks of the same AST: the HTML writer
 * (straight-line puts, what a normal request runs) and the tree builder (what
 * a live view diffs). Keeping both walks side by side in one file is what
 * keeps them in agreement; the golden tests check they render the same bytes.
 *
 * Every C expression is preceded by a #line directive naming the template,
 * so that the C compiler reports a type error at the template's line. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kilnc.h"

typedef struct scope_var {
    const char *name, *type;
} scope_var_t;

typedef struct gen {
    const char *prefix;
    tpl_t *t;
    int n_blocks, n_slots, n_tmp;
    kiln_buf_t decl;        /* block statics, env structs, slot prototypes */
    kiln_buf_t defs;        /* slot functions */
    scope_var_t scope[32];  /* loop variables in scope */
    int n_scope;
} gen_t;

static void out(kiln_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out(kiln_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char tmp[4096];
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n >= (int)sizeof tmp) { /* long expressions: format again into the heap */
        char *big = kiln_xmalloc((size_t)n + 1);
        va_start(ap, fmt);
        vsnprintf(big, (size_t)n + 1, fmt, ap);
        va_end(ap);
        kiln_buf_append(b, big, (size_t)n);
        free(big);
        return;
    }
    kiln_buf_append(b, tmp, (size_t)n);
}

static void indent(kiln_buf_t *b, int d)
{
    for (int i = 0; i < d; i++) kiln_buf_puts(b, "    ");
}

/* A C string literal for s, split after each newline for readability. */
static void c_string(kiln_buf_t *b, const char *s, size_t n)
{
    kiln_buf_puts(b, "\"");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') out(b, "\\%c", c);
        else if (c == '\n') kiln_buf_puts(b, i + 1 < n ? "\\n\"\n    \"" : "\\n");
        else if (c == '\t') kiln_buf_puts(b, "\\t");
        else if (c < 32 || c == 127 || (c == '?' && i + 1 < n && s[i + 1] == '?')) out(b, "\\%03o", c);
        else kiln_buf_append(b, &c, 1);
    }
    kiln_buf_puts(b, "\"");
}

static void line_dir(gen_t *g, kiln_buf_t *b, int line)
{
    out(b, "#line %d \"%s\"\n", line, g->t->path);
}

/* ---- blocks: statics and deps --------------------------------------------- */

static uint64_t deep_deps(const list_t *l);

static uint64_t node_deps(const node_t *n)
{
    uint64_t d = n->deps;
    d |= deep_deps(&n->a) | deep_deps(&n->b);
    for (const cslot_t *s = n->slots; s; s = s->next) d |= deep_deps(&s->body);
    return d;
}

static uint64_t deep_deps(const list_t *l)
{
    uint64_t d = 0;
    for (const node_t *n = l->head; n; n = n->next) d |= node_deps(n);
    return d;
}

static void emit_block(gen_t *g, list_t *l);

static void emit_children(gen_t *g, node_t *n)
{
    if (n->kind == N_IF) {
        emit_block(g, &n->a);
        emit_block(g, &n->b);
    } else if (n->kind == N_FOR) {
        emit_block(g, &n->a);
    } else if (n->kind == N_CALL) {
        for (cslot_t *s = n->slots; s; s = s->next) emit_block(g, &s->body);
    }
}

/* Joins adjacent static nodes (an element wrapped by :if or :for is spliced
 * in as its own run), so that a block has one static between dynamic slots. */
static void merge_statics(list_t *l)
{
    for (node_t *n = l->head; n && n->next;) {
        node_t *m = n->next;
        if (n->kind != N_STATIC || m->kind != N_STATIC) {
            n = m;
            continue;
        }
        n->text = kiln_xrealloc(n->text, n->len + m->len + 1);
        memcpy(n->text + n->len, m->text, m->len + 1);
        n->len += m->len;
        n->next = m->next;
        if (l->tail == m) l->tail = n;
    }
}

/* Numbers a block and writes its statics, deps and kiln_tpl_block_t, children first. */
static void emit_block(gen_t *g, list_t *l)
{
    merge_statics(l);
    l->block = g->n_blocks++;
    l->n_dyn = 0;
    for (node_t *n = l->head; n; n = n->next) {
        if (n->kind != N_STATIC) l->n_dyn++;
        emit_children(g, n);
    }
    const char *P = g->prefix, *N = g->t->name;
    out(&g->decl, "static const kiln_str_t %s_%s_b%d_s[] = {\n", P, N, l->block);
    int pending = 0; /* whether the current static has been written */
    for (node_t *n = l->head; n; n = n->next) {
        if (n->kind == N_STATIC) {
            out(&g->decl, "    { ");
            c_string(&g->decl, n->text, n->len);
            out(&g->decl, ", %zu },\n", n->len);
            pending = 1;
        } else {
            if (!pending) out(&g->decl, "    { \"\", 0 },\n");
            pending = 0;
        }
    }
    if (!pending) out(&g->decl, "    { \"\", 0 },\n");
    out(&g->decl, "};\n");
    if (l->n_dyn) {
        out(&g->decl, "static const uint64_t %s_%s_b%d_d[] = {", P, N, l->block);
        for (node_t *n = l->head; n; n = n->next)
            if (n->kind != N_STATIC) out(&g->decl, " UINT64_C(0x%llx),", (unsigned long long)node_deps(n));
        out(&g->decl, " };\n");
    }
    out(&g->decl, "static const kiln_tpl_block_t %s_%s_b%d = { \"%s:%d\", %s_%s_b%d_s, %d, ", P, N, l->block, N, l->block,
        P, N, l->block, l->n_dyn);
    if (l->n_dyn) out(&g->decl, "%s_%s_b%d_d };\n\n", P, N, l->block);
    else out(&g->decl, "NULL };\n\n");
}

/* ---- shared pieces of both walks ------------------------------------------ */

static void gen_html(gen_t *g, kiln_buf_t *b, const list_t *l, int d);
static void gen_tree(gen_t *g, kiln_buf_t *b, const list_t *l, const char *nv, int d);
static void gen_slot_fns(gen_t *g, cslot_t *s);

/* Declares and fills the component's assigns c<k> (and envs for its slots). */
static void gen_call_setup(gen_t *g, kiln_buf_t *b, node_t *n, int k, int d)
{
    const char *P = g->prefix;
    tpl_t *c = n->comp;
    indent(b, d);
    out(b, "%s_%s_assigns_t c%d = { 0 };\n", P, c->name, k);
    for (cattr_t *a = n->attrs; a; a = a->next) {
        const assign_t *as = &c->as[a->assign];
        if (a->literal) {
            indent(b, d);
            out(b, "c%d.%s = ", k, as->name);
            c_string(b, a->value, strlen(a->value));
            out(b, ";\n");
        } else if (as->kind == A_COLL) {
            indent(b, d);
            out(b, "c%d.%s = %s;\n", k, as->name, a->value);
            indent(b, d);
            out(b, "c%d.%s_len = %s_len;\n", k, as->name, a->value);
        } else {
            line_dir(g, b, a->line);
            indent(b, d);
            out(b, "c%d.%s = (%s);\n", k, as->name, a->value);
        }
    }
    for (cslot_t *s = n->slots; s; s = s->next) {
        if (!s->id) gen_slot_fns(g, s);
        indent(b, d);
        out(b, "struct %s_%s_env%d env%d_%d = { a", P, g->t->name, s->id, k, s->id);
        for (int v = 0; v < g->n_scope; v++) out(b, ", %s", g->scope[v].name);
        out(b, " };\n");
        indent(b, d);
        out(b, "c%d.%s = (kiln_tpl_slot_t){ %s_%s_slot%d_html, %s_%s_slot%d_tree, &env%d_%d };\n", k,
            c->as[s->assign].name, P, g->t->name, s->id, P, g->t->name, s->id, k, s->id);
    }
}

static void gen_for_head(gen_t *g, kiln_buf_t *b, const node_t *n, int k, int d)
{
    const assign_t *as = &g->t->as[n->coll];
    indent(b, d);
    out(b, "for (size_t i%d = 0; i%d < a->%s_len; i%d++) {\n", k, k, as->name, k);
    indent(b, d + 1);
    out(b, "%s const %s = a->%s[i%d];\n", as->type, n->name, as->name, k);
    indent(b, d + 1);
    out(b, "(void)%s;\n", n->name);
    g->scope[g->n_scope].name = n->name;
    g->scope[g->n_scope].type = as->type;
    g->n_scope++;
}

/* The prologue of a slot function: its env back into a and the loop variables. */
static void gen_env_prologue(gen_t *g, kiln_buf_t *b, int id)
{
    out(b, "    const struct %s_%s_env%d *env = env_;\n", g->prefix, g->t->name, id);
    out(b, "    const %s_%s_assigns_t *a = env->a;\n    (void)a;\n", g->prefix, g->t->name);
    for (int v = 0; v < g->n_scope; v++)
        out(b, "    %s const %s = env->%s;\n    (void)%s;\n", g->scope[v].type, g->scope[v].name, g->scope[v].name,
            g->scope[v].name);
}

/* A slot body becomes two functions over an env struct capturing a and the
 * loop variables in scope where the slot is given. */
static void gen_slot_fns(gen_t *g, cslot_t *s)
{
    const char *P = g->prefix, *N = g->t->name;
    s->id = ++g->n_slots;
    out(&g->decl, "struct %s_%s_env%d {\n    const %s_%s_assigns_t *a;\n", P, N, s->id, P, N);
    for (int v = 0; v < g->n_scope; v++) out(&g->decl, "    %s %s;\n", g->scope[v].type, g->scope[v].name);
    out(&g->decl, "};\n");
    out(&g->decl, "static void %s_%s_slot%d_html(kiln_tpl_out_t *o, const void *env_);\n", P, N, s->id);
    out(&g->decl, "static kiln_tpl_node_t *%s_%s_slot%d_tree(kiln_tpl_tree_t *t, const void *env_);\n\n", P, N, s->id);
    kiln_buf_t b;
    kiln_buf_init(&b, 1 << 26);
    out(&b, "static void %s_%s_slot%d_html(kiln_tpl_out_t *o, const void *env_)\n{\n", P, N, s->id);
    gen_env_prologue(g, &b, s->id);
    gen_html(g, &b, &s->body, 1);
    out(&b, "}\n\nstatic kiln_tpl_node_t *%s_%s_slot%d_tree(kiln_tpl_tree_t *t, const void *env_)\n{\n", P, N, s->id);
    gen_env_prologue(g, &b, s->id);
    out(&b, "    kiln_tpl_node_t *n%d = kiln_tpl_node_new(t, &%s_%s_b%d);\n    if (!n%d) return NULL;\n", s->body.block,
        P, N, s->body.block, s->body.block);
    char nv[16];
    snprintf(nv, sizeof nv, "n%d", s->body.block);
    gen_tree(g, &b, &s->body, nv, 1);
    out(&b, "    return t->err ? NULL : %s;\n}\n\n", nv);
    kiln_buf_append(&g->defs, b.data, b.len);
    kiln_buf_free(&b);
}

/* ---- the HTML walk -------------------------------------------------------- */

static void gen_html(gen_t *g, kiln_buf_t *b, const list_t *l, int d)
{
    const char *P = g->prefix, *N = g->t->name;
    int slot = 0;
    for (node_t *n = l->head; n; n = n->next) {
        if (n->kind == N_STATIC) {
            indent(b, d);
            out(b, "KILN_TPL_STATIC(o, %s_%s_b%d_s[%d]);\n", P, N, l->block, slot);
            continue;
        }
        slot++;
        int k = ++g->n_tmp;
        switch (n->kind) {
        case N_EXPR:
            line_dir(g, b, n->line);
            indent(b, d);
            if (n->slot) out(b, "kiln_tpl_slot_html(o, a->%s);\n", g->t->as[n->slot - 1].name);
            else out(b, "KILN_TPL_TEXT(o, (%s));\n", n->text);
            break;
        case N_ATTR:
            line_dir(g, b, n->line);
            indent(b, d);
            out(b, "KILN_TPL_ATTR(o, \" %s=\\\"\", %d, (%s));\n", n->name, n->url, n->text);
            break;
        case N_IF:
            line_dir(g, b, n->line);
            indent(b, d);
            out(b, "if (%s) {\n", n->text);
            gen_html(g, b, &n->a, d + 1);
            if (n->b.head) {
                indent(b, d);
                out(b, "} else {\n");
                gen_html(g, b, &n->b, d + 1);
            }
            indent(b, d);
            out(b, "}\n");
            break;
        case N_FOR:
            gen_for_head(g, b, n, k, d);
            gen_html(g, b, &n->a, d + 1);
            g->n_scope--;
            indent(b, d);
            out(b, "}\n");
            break;
        case N_CALL:
            indent(b, d);
            out(b, "{\n");
            gen_call_setup(g, b, n, k, d + 1);
            indent(b, d + 1);
            out(b, "%s_%s_render_html(o, &c%d);\n", P, n->comp->name, k);
            indent(b, d);
            out(b, "}\n");
            break;
        }
    }
}

/* ---- the tree walk -------------------------------------------------------- */

static void gen_tree_block(gen_t *g, kiln_buf_t *b, const list_t *l, const char *dyn, int d)
{
    indent(b, d);
    out(b, "kiln_tpl_node_t *n%d = kiln_tpl_node_new(t, &%s_%s_b%d);\n", l->block, g->prefix, g->t->name, l->block);
    indent(b, d);
    out(b, "if (!n%d) return NULL;\n", l->block);
    char nv[16];
    snprintf(nv, sizeof nv, "n%d", l->block);
    gen_tree(g, b, l, nv, d);
    indent(b, d);
    out(b, "kiln_tpl_dyn_node(%s, n%d);\n", dyn, l->block);
}

static void gen_tree(gen_t *g, kiln_buf_t *b, const list_t *l, const char *nv, int d)
{
    const char *P = g->prefix, *N = g->t->name;
    int slot = 0;
    for (node_t *n = l->head; n; n = n->next) {
        if (n->kind == N_STATIC) continue;
        int i = slot++, k = ++g->n_tmp;
        char dyn[48];
        snprintf(dyn, sizeof dyn, "&%s->dyn[%d]", nv, i);
        indent(b, d);
        out(b, "if (KILN_TPL_WANT(t, a, UINT64_C(0x%llx))) {\n", (unsigned long long)node_deps(n));
        switch (n->kind) {
        case N_EXPR:
        case N_ATTR:
            if (n->slot) {
                indent(b, d + 1);
                out(b, "kiln_tpl_dyn_slot(t, %s, a->%s);\n", dyn, g->t->as[n->slot - 1].name);
                break;
            }
            indent(b, d + 1);
            out(b, "kiln_tpl_dyn_begin(t);\n");
            line_dir(g, b, n->line);
            indent(b, d + 1);
            if (n->kind == N_EXPR) out(b, "KILN_TPL_TEXT(&t->scratch, (%s));\n", n->text);
            else out(b, "KILN_TPL_ATTR(&t->scratch, \" %s=\\\"\", %d, (%s));\n", n->name, n->url, n->text);
            indent(b, d + 1);
            out(b, "kiln_tpl_dyn_text(t, %s);\n", dyn);
            break;
        case N_IF:
            indent(b, d + 1);
            out(b, "int full%d = kiln_tpl_full_enter(t);\n", k);
            line_dir(g, b, n->line);
            indent(b, d + 1);
            out(b, "if (%s) {\n", n->text);
            gen_tree_block(g, b, &n->a, dyn, d + 2);
            indent(b, d + 1);
            out(b, "} else {\n");
            gen_tree_block(g, b, &n->b, dyn, d + 2);
            indent(b, d + 1);
            out(b, "}\n");
            indent(b, d + 1);
            out(b, "t->full = full%d;\n", k);
            break;
        case N_FOR:
            indent(b, d + 1);
            out(b, "int full%d = kiln_tpl_full_enter(t);\n", k);
            indent(b, d + 1);
            out(b, "if (kiln_tpl_list_init(t, %s, &%s_%s_b%d, a->%s_len) < 0) return NULL;\n", dyn, P, N, n->a.block,
                g->t->as[n->coll].name);
            gen_for_head(g, b, n, k, d + 1);
            indent(b, d + 2);
            out(b, "kiln_tpl_node_t *n%d = kiln_tpl_list_add(t, %s);\n", n->a.block, dyn);
            indent(b, d + 2);
            out(b, "if (!n%d) return NULL;\n", n->a.block);
            {
                char inner[16];
                snprintf(inner, sizeof inner, "n%d", n->a.block);
                gen_tree(g, b, &n->a, inner, d + 2);
            }
            g->n_scope--;
            indent(b, d + 1);
            out(b, "}\n");
            indent(b, d + 1);
            out(b, "t->full = full%d;\n", k);
            break;
        case N_CALL:
            indent(b, d + 1);
            out(b, "int full%d = kiln_tpl_full_enter(t);\n", k);
            gen_call_setup(g, b, n, k, d + 1);
            indent(b, d + 1);
            out(b, "kiln_tpl_dyn_node(%s, %s_%s_render(t, &c%d));\n", dyn, P, n->comp->name, k);
            indent(b, d + 1);
            out(b, "t->full = full%d;\n", k);
            break;
        }
        indent(b, d);
        out(b, "}\n");
    }
}

/* ---- files ---------------------------------------------------------------- */

static void gen_header(kiln_buf_t *h, tpl_t **all, int n_all, const char *P)
{
    out(h, "/* Generated by kilnc from");
    for (int i = 0; i < n_all; i++) out(h, " %s", all[i]->path);
    out(h, ". Do not edit: change the templates. */\n#ifndef KILN_TEMPLATES_%s_H\n#define KILN_TEMPLATES_%s_H\n\n", P, P);
    out(h, "#include <stddef.h>\n#include <stdint.h>\n#include \"kiln/template.h\"\n");
    for (int i = 0; i < n_all; i++)
        for (int k = 0; k < all[i]->n_inc; k++) {
            int seen = 0;
            for (int j = 0; j < i && !seen; j++)
                for (int m = 0; m < all[j]->n_inc; m++) seen |= strcmp(all[j]->includes[m], all[i]->includes[k]) == 0;
            if (!seen) out(h, "#include %s\n", all[i]->includes[k]);
        }
    for (int i = 0; i < n_all; i++) {
        tpl_t *t = all[i];
        const char *N = t->name;
        out(h, "\n/* %s: assigns (changed_ holds one dirty bit per assign, in declaration order) */\n", t->path);
        out(h, "typedef struct %s_%s_assigns {\n    uint64_t changed_;\n", P, N);
        for (int k = 0; k < t->n_as; k++) {
            const assign_t *a = &t->as[k];
            if (a->kind == A_COLL) out(h, "    %s const *%s;\n    size_t %s_len;\n", a->type, a->name, a->name);
            else out(h, "    %s %s;\n", a->type, a->name);
        }
        out(h, "} %s_%s_assigns_t;\n", P, N);
        for (int k = 0; k < t->n_as; k++) {
            const assign_t *a = &t->as[k];
            if (a->kind == A_COLL)
                out(h, "static inline void %s_%s_set_%s(%s_%s_assigns_t *a, %s const *v, size_t n)\n"
                       "{\n    a->%s = v;\n    a->%s_len = n;\n    a->changed_ |= UINT64_C(1) << %d;\n}\n",
                    P, N, a->name, P, N, a->type, a->name, a->name, k);
            else
                out(h, "static inline void %s_%s_set_%s(%s_%s_assigns_t *a, %s v)\n"
                       "{\n    a->%s = v;\n    a->changed_ |= UINT64_C(1) << %d;\n}\n",
                    P, N, a->name, P, N, a->type, a->name, k);
        }
        out(h, "/* Writes the page as HTML into o (errors are sticky in o->err). */\n");
        out(h, "void %s_%s_render_html(kiln_tpl_out_t *o, const %s_%s_assigns_t *a);\n", P, N, P, N);
        out(h, "/* Builds the rendered tree in t's arena; skips clean slots unless t->full. NULL on error (t->err). */\n");
        out(h, "kiln_tpl_node_t *%s_%s_render(kiln_tpl_tree_t *t, const %s_%s_assigns_t *a);\n", P, N, P, N);
        out(h, "/* The template as a slot (a page inside a layout); a must outlive the render. */\n");
        out(h, "kiln_tpl_slot_t %s_%s_slot(const %s_%s_assigns_t *a);\n", P, N, P, N);
    }
    out(h, "\n#endif\n");
}

static void gen_template(kiln_buf_t *c, tpl_t *t, const char *P)
{
    gen_t g = { .prefix = P, .t = t };
    kiln_buf_init(&g.decl, 1 << 26);
    kiln_buf_init(&g.defs, 1 << 26);
    const char *N = t->name;
    emit_block(&g, &t->body);
    kiln_buf_t body;
    kiln_buf_init(&body, 1 << 26);
    out(&body, "void %s_%s_render_html(kiln_tpl_out_t *o, const %s_%s_assigns_t *a)\n{\n    (void)a;\n", P, N, P, N);
    gen_html(&g, &body, &t->body, 1);
    out(&body, "}\n\nkiln_tpl_node_t *%s_%s_render(kiln_tpl_tree_t *t, const %s_%s_assigns_t *a)\n{\n", P, N, P, N);
    out(&body, "    kiln_tpl_node_t *n0 = kiln_tpl_node_new(t, &%s_%s_b0);\n    if (!n0) return NULL;\n", P, N);
    gen_tree(&g, &body, &t->body, "n0", 1);
    out(&body, "    return t->err ? NULL : n0;\n}\n\n");
    out(&body, "static void %s_%s_slot_html(kiln_tpl_out_t *o, const void *a)\n{\n    %s_%s_render_html(o, a);\n}\n\n",
        P, N, P, N);
    out(&body, "static kiln_tpl_node_t *%s_%s_slot_tree(kiln_tpl_tree_t *t, const void *a)\n{\n"
               "    return %s_%s_render(t, a);\n}\n\n", P, N, P, N);
    out(&body, "kiln_tpl_slot_t %s_%s_slot(const %s_%s_assigns_t *a)\n{\n"
               "    return (kiln_tpl_slot_t){ %s_%s_slot_html, %s_%s_slot_tree, a };\n}\n\n",
        P, N, P, N, P, N, P, N);
    out(c, "\n/* ---- %s ---- */\n\n", t->path);
    kiln_buf_append(c, g.decl.data, g.decl.len);
    if (g.defs.len) kiln_buf_append(c, g.defs.data, g.defs.len);
    kiln_buf_append(c, body.data, body.len);
    kiln_buf_free(&g.decl);
    kiln_buf_free(&g.defs);
    kiln_buf_free(&body);
}

static int write_file(const char *dir, const char *name, const kiln_buf_t *b)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "kilnc: cannot write %s\n", path);
        return -1;
    }
    int ok = fwrite(b->data, 1, b->len, f) == b->len;
    ok &= fclose(f) == 0;
    if (!ok) fprintf(stderr, "kilnc: cannot write %s\n", path);
    return ok ? 0 : -1;
}

int kilnc_generate(tpl_t **all, int n, const char *prefix, const char *out_dir)
{
    kiln_buf_t h, c;
    kiln_buf_init(&h, 1 << 26);
    kiln_buf_init(&c, 1 << 28);
    gen_header(&h, all, n, prefix);
    out(&c, "/* Generated by kilnc. Do not edit: change the templates. */\n#include \"templates.h\"\n\n");
    out(&c, "/* Template helpers: raw(html) is the only way around escaping. */\n");
    out(&c, "#define raw(html) kiln_raw(html)\n#define static_path(p) kiln_static_path(p)\n");
    for (int i = 0; i < n; i++) gen_template(&c, all[i], prefix);
    int rc = write_file(out_dir, "templates.h", &h) < 0 || write_file(out_dir, "templates.c", &c) < 0 ? -1 : 0;
    kiln_buf_free(&h);
    kiln_buf_free(&c);
    return rc;
}
