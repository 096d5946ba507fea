/* kilnc internals: the template AST shared by the parser (parse.c) and the
 * C generator (gen.c). See docs/internals/template.md.
 *
 * Memory: kilnc is a short-lived build tool, so the AST is allocated with
 * kiln_x* and never freed; the process exit releases it. */
#ifndef KILNC_H
#define KILNC_H

#include <stdint.h>
#include <stddef.h>
#include "kiln/core.h"

enum { A_SCALAR, A_COLL, A_SLOT };
typedef struct assign {
    char *type; /* the field type; for A_COLL the element type */
    char *name;
    int kind;
} assign_t;

enum { N_STATIC, N_EXPR, N_ATTR, N_IF, N_FOR, N_CALL };

typedef struct node node_t;
typedef struct list {
    node_t *head, *tail;
    int block;          /* block id, set by the generator */
    int n_dyn;          /* dynamic slots in this block */
} list_t;

typedef struct tpl tpl_t;

typedef struct cattr {  /* an attribute given to a component */
    char *name;
    char *value;        /* C expression, or the literal's text */
    int literal;        /* value is a literal string ("..."), else a C expression */
    int assign;         /* index in the component's assigns */
    int line;
    struct cattr *next;
} cattr_t;

typedef struct cslot {  /* a slot body given to a component */
    int assign;         /* the component's slot assign */
    list_t body;
    int id;             /* slot function number, set by the generator */
    struct cslot *next;
} cslot_t;

struct node {
    int kind;
    int line, col;
    char *text;          /* STATIC: HTML; EXPR/ATTR/IF: the C expression (assigns rewritten) */
    size_t len;          /* STATIC */
    char *name;          /* ATTR: attribute name; FOR: loop variable */
    int url;             /* ATTR: a URL attribute */
    int slot;            /* EXPR: renders slot assign number slot-1 (0 = text) */
    uint64_t deps;       /* assigns read by this node itself (not its children) */
    list_t a, b;         /* IF: then, else; FOR: body */
    int coll;            /* FOR: collection assign */
    tpl_t *comp;         /* CALL */
    cattr_t *attrs;
    cslot_t *slots;
    node_t *next;
};

struct tpl {
    char *path;          /* as given on the command line */
    char *name;          /* C identifier: file name up to its first '.' */
    char *src;
    size_t len;
    int body_line;       /* where the body starts (after the header directives) */
    size_t body_off;
    assign_t as[64];
    int n_as;
    char *includes[32];
    int n_inc;
    list_t body;
};

/* parse.c */
void kilnc_parse_header(tpl_t *t);
void kilnc_parse_body(tpl_t *t, tpl_t **all, int n_all);
int kilnc_find_assign(const tpl_t *t, const char *name, size_t len);
_Noreturn void kilnc_die(const tpl_t *t, int line, int col, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* gen.c: writes <out>/templates.h and <out>/templates.c. Returns 0 or -1. */
int kilnc_generate(tpl_t **all, int n, const char *prefix, const char *out_dir);

#endif
