/* The query builder and its compiler (kiln/query.h).
 *
 * A query is a small tree in its arena: expressions are nodes, clause lists
 * are linked lists appended in order. Builders never fail; the first problem
 * (a name outside the grammar, OOM) sets q->bad, and compile reports it, so
 * call sites stay linear and nothing invalid reaches the database.
 *
 * Compilation walks the tree once into a bounded buffer, numbering
 * placeholders as it goes ($1… on PostgreSQL, ? on SQLite); subqueries compile
 * into the same context, so their parameters are numbered in line. Names are
 * written double-quoted, part by part, after validation. */
#include "kiln/query.h"
#include "data/data_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

typedef enum { E_CMP, E_LIKE, E_ILIKE, E_NULL, E_IN, E_IN_QUERY, E_COL_EQ, E_AND, E_OR, E_NOT } expr_kind_t;

struct kiln_expr {
    expr_kind_t kind;
    const char *op;
    const char *col, *col2;
    kiln_val_t v;
    const kiln_val_t *vals;
    size_t n;
    kiln_query_t *sub;
    kiln_expr_t *a, *b;
};

typedef struct item {
    struct item *next;
    const char *s;
    int dir;
    kiln_join_kind_t join;
    const char *alias;
    kiln_expr_t *on;
} item_t;

struct kiln_query {
    kiln_arena_t *a;
    const kiln_schema_t *schema;
    const char *table;
    bool bad, distinct, for_update;
    kiln_expr_t *where, *having;
    item_t *joins, *order, *group, *select;
    int64_t limit, offset; /* -1: none */
};

/* ---- names ---- */

static size_t ident_len(const char *s)
{
    if (!isalpha((unsigned char)s[0]) && s[0] != '_') return 0;
    size_t n = 1;
    while (isalnum((unsigned char)s[n]) || s[n] == '_') n++;
    return n <= 63 ? n : 0;
}

/* ident or ident.ident; returns its length, 0 if s does not start with one. */
static size_t column_len(const char *s)
{
    size_t n = ident_len(s);
    if (n && s[n] == '.') {
        size_t m = ident_len(s + n + 1);
        return m ? n + 1 + m : 0;
    }
    return n;
}

static const char *const aggregates[] = { "count", "sum", "avg", "min", "max" };

/* "*", a column, or agg(column | *). */
static bool valid_name(const char *s)
{
    if (!s) return false;
    if (!strcmp(s, "*")) return true;
    size_t n = column_len(s);
    if (n && !s[n]) return true;
    for (size_t i = 0; i < KILN_ARRAY_LEN(aggregates); i++) {
        size_t al = strlen(aggregates[i]);
        if (strncasecmp(s, aggregates[i], al) || s[al] != '(') continue;
        const char *in = s + al + 1;
        size_t m = *in == '*' ? 1 : column_len(in);
        return m && in[m] == ')' && !in[m + 1];
    }
    return false;
}

static const char *check(kiln_query_t *q, const char *name)
{
    if (!valid_name(name)) q->bad = true;
    return name;
}

/* ---- building ---- */

static kiln_query_t *new_query(kiln_arena_t *a, const kiln_schema_t *s, const char *table)
{
    kiln_query_t *q = kiln_arena_calloc(a, sizeof *q);
    if (!q) return NULL;
    q->a = a;
    q->schema = s;
    q->table = table;
    q->limit = q->offset = -1;
    q->bad = ident_len(table) != strlen(table);
    return q;
}

kiln_query_t *kiln_from(kiln_arena_t *a, const kiln_schema_t *s)
{
    return new_query(a, s, s->table);
}

kiln_query_t *kiln_from_table(kiln_arena_t *a, const char *table)
{
    return new_query(a, NULL, table);
}

const kiln_schema_t *kiln_query_schema(const kiln_query_t *q)
{
    return q->schema;
}

const char *kiln_query_table(const kiln_query_t *q)
{
    return q->table;
}

static kiln_expr_t *node(kiln_query_t *q, expr_kind_t kind)
{
    kiln_expr_t *e = kiln_arena_calloc(q->a, sizeof *e);
    if (!e) q->bad = true;
    else e->kind = kind;
    return e;
}

static kiln_expr_t *cmp(kiln_query_t *q, const char *op, const char *col, kiln_val_t v)
{
    kiln_expr_t *e = node(q, E_CMP);
    if (!e) return NULL;
    e->op = op;
    e->col = check(q, col);
    e->v = v;
    return e;
}

kiln_expr_t *kiln_eq(kiln_query_t *q, const char *col, kiln_val_t v) { return cmp(q, " = ", col, v); }
kiln_expr_t *kiln_ne(kiln_query_t *q, const char *col, kiln_val_t v) { return cmp(q, " <> ", col, v); }
kiln_expr_t *kiln_lt(kiln_query_t *q, const char *col, kiln_val_t v) { return cmp(q, " < ", col, v); }
kiln_expr_t *kiln_le(kiln_query_t *q, const char *col, kiln_val_t v) { return cmp(q, " <= ", col, v); }
kiln_expr_t *kiln_gt(kiln_query_t *q, const char *col, kiln_val_t v) { return cmp(q, " > ", col, v); }
kiln_expr_t *kiln_ge(kiln_query_t *q, const char *col, kiln_val_t v) { return cmp(q, " >= ", col, v); }

kiln_expr_t *kiln_like(kiln_query_t *q, const char *col, kiln_val_t pattern)
{
    kiln_expr_t *e = cmp(q, " LIKE ", col, pattern);
    if (e) e->kind = E_LIKE;
    return e;
}

kiln_expr_t *kiln_ilike(kiln_query_t *q, const char *col, kiln_val_t pattern)
{
    kiln_expr_t *e = cmp(q, " ILIKE ", col, pattern);
    if (e) e->kind = E_ILIKE;
    return e;
}

kiln_expr_t *kiln_is_null(kiln_query_t *q, const char *col)
{
    kiln_expr_t *e = node(q, E_NULL);
    if (e) e->col = check(q, col);
    return e;
}

kiln_expr_t *kiln_in(kiln_query_t *q, const char *col, const kiln_val_t *vals, size_t n)
{
    kiln_expr_t *e = node(q, E_IN);
    if (!e) return NULL;
    e->col = check(q, col);
    kiln_val_t *copy = kiln_arena_alloc(q->a, (n ? n : 1) * sizeof *copy);
    if (!copy) q->bad = true;
    else if (n) memcpy(copy, vals, n * sizeof *copy);
    e->vals = copy;
    e->n = n;
    return e;
}

kiln_expr_t *kiln_in_query(kiln_query_t *q, const char *col, kiln_query_t *sub)
{
    kiln_expr_t *e = node(q, E_IN_QUERY);
    if (!e) return NULL;
    e->col = check(q, col);
    e->sub = sub;
    if (!sub || sub->bad) q->bad = true;
    return e;
}

kiln_expr_t *kiln_col_eq(kiln_query_t *q, const char *col, const char *other_col)
{
    kiln_expr_t *e = node(q, E_COL_EQ);
    if (!e) return NULL;
    e->col = check(q, col);
    e->col2 = check(q, other_col);
    return e;
}

static kiln_expr_t *binary(kiln_query_t *q, expr_kind_t kind, kiln_expr_t *a, kiln_expr_t *b)
{
    kiln_expr_t *e = node(q, kind);
    if (!e) return NULL;
    if (!a || (kind != E_NOT && !b)) q->bad = true;
    e->a = a;
    e->b = b;
    return e;
}

kiln_expr_t *kiln_and(kiln_query_t *q, kiln_expr_t *a, kiln_expr_t *b) { return binary(q, E_AND, a, b); }
kiln_expr_t *kiln_or(kiln_query_t *q, kiln_expr_t *a, kiln_expr_t *b) { return binary(q, E_OR, a, b); }
kiln_expr_t *kiln_not(kiln_query_t *q, kiln_expr_t *e) { return binary(q, E_NOT, e, NULL); }

void kiln_where(kiln_query_t *q, kiln_expr_t *e)
{
    if (!e) q->bad = true;
    q->where = q->where ? kiln_and(q, q->where, e) : e;
}

void kiln_having(kiln_query_t *q, kiln_expr_t *e)
{
    if (!e) q->bad = true;
    q->having = q->having ? kiln_and(q, q->having, e) : e;
}

static item_t *append(kiln_query_t *q, item_t **list, const char *s)
{
    item_t *it = kiln_arena_calloc(q->a, sizeof *it);
    if (!it) {
        q->bad = true;
        return NULL;
    }
    it->s = s;
    while (*list) list = &(*list)->next;
    *list = it;
    return it;
}

void kiln_join(kiln_query_t *q, kiln_join_kind_t kind, const char *table, const char *alias, kiln_expr_t *on)
{
    if (!table || ident_len(table) != strlen(table) || (alias && ident_len(alias) != strlen(alias)) || !on)
        q->bad = true;
    item_t *it = append(q, &q->joins, table);
    if (!it) return;
    it->join = kind;
    it->alias = alias;
    it->on = on;
}

void kiln_order_by(kiln_query_t *q, const char *col, kiln_order_t dir)
{
    item_t *it = append(q, &q->order, check(q, col));
    if (it) it->dir = dir;
}

void kiln_group_by(kiln_query_t *q, const char *col) { append(q, &q->group, check(q, col)); }
void kiln_select(kiln_query_t *q, const char *col) { append(q, &q->select, check(q, col)); }
void kiln_limit(kiln_query_t *q, int64_t n) { q->limit = n < 0 ? 0 : n; }
void kiln_offset(kiln_query_t *q, int64_t n) { q->offset = n < 0 ? 0 : n; }
void kiln_distinct(kiln_query_t *q) { q->distinct = true; }
void kiln_lock_for_update(kiln_query_t *q) { q->for_update = true; }

/* ---- compiling ---- */

typedef struct ctx {
    kiln_buf_t sql;
    kiln_val_t *params;
    size_t n, cap;
    kiln_dialect_t d;
    int err;
} ctx_t;

static void put(ctx_t *c, const char *s)
{
    if (!c->err && kiln_buf_puts(&c->sql, s) < 0) c->err = KILN_ETOOBIG;
}

static void put_quoted(ctx_t *c, const char *s, size_t n)
{
    put(c, "\"");
    if (!c->err && kiln_buf_append(&c->sql, s, n) < 0) c->err = KILN_ETOOBIG;
    put(c, "\"");
}

/* A validated column: quoted part by part. */
static void put_column(ctx_t *c, const char *s)
{
    if (!strcmp(s, "*")) return put(c, "*");
    size_t n = ident_len(s);
    put_quoted(c, s, n);
    if (s[n] == '.') {
        put(c, ".");
        put_quoted(c, s + n + 1, ident_len(s + n + 1));
    }
}

/* A validated name: a column or agg(column). */
static void put_name(ctx_t *c, const char *s)
{
    size_t n = column_len(s);
    if (!strcmp(s, "*") || (n && !s[n])) return put_column(c, s);
    const char *open = strchr(s, '(');
    if (!c->err && kiln_buf_append(&c->sql, s, (size_t)(open - s + 1)) < 0) c->err = KILN_ETOOBIG;
    char inner[130];
    snprintf(inner, sizeof inner, "%.*s", (int)strcspn(open + 1, ")"), open + 1);
    put_column(c, inner);
    put(c, ")");
}

static void put_param(ctx_t *c, kiln_val_t v)
{
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 8;
        c->params = kiln_xrealloc(c->params, c->cap * sizeof *c->params);
    }
    c->params[c->n++] = v;
    if (c->d == KILN_DB_SQLITE) return put(c, "?");
    char ph[16];
    snprintf(ph, sizeof ph, "$%zu", c->n);
    put(c, ph);
}

static void compile_select(ctx_t *c, const kiln_query_t *q);

static void compile_expr(ctx_t *c, const kiln_expr_t *e)
{
    switch (e->kind) {
    case E_ILIKE:
        if (c->d == KILN_DB_SQLITE) {
            put(c, "lower(");
            put_name(c, e->col);
            put(c, ") LIKE lower(");
            put_param(c, e->v);
            return put(c, ")");
        }
        /* fall through */
    case E_CMP:
    case E_LIKE:
        put_name(c, e->col);
        put(c, e->op);
        return put_param(c, e->v);
    case E_NULL:
        put_name(c, e->col);
        return put(c, " IS NULL");
    case E_IN:
        if (!e->n) return put(c, "1 = 0");
        put_name(c, e->col);
        put(c, " IN (");
        for (size_t i = 0; i < e->n; i++) {
            if (i) put(c, ", ");
            put_param(c, e->vals[i]);
        }
        return put(c, ")");
    case E_IN_QUERY:
        put_name(c, e->col);
        put(c, " IN (");
        compile_select(c, e->sub);
        return put(c, ")");
    case E_COL_EQ:
        put_name(c, e->col);
        put(c, " = ");
        return put_name(c, e->col2);
    case E_NOT:
        put(c, "NOT (");
        compile_expr(c, e->a);
        return put(c, ")");
    case E_AND:
    case E_OR:
        put(c, "(");
        compile_expr(c, e->a);
        put(c, e->kind == E_AND ? ") AND (" : ") OR (");
        compile_expr(c, e->b);
        return put(c, ")");
    }
}

static void compile_columns(ctx_t *c, const kiln_query_t *q)
{
    if (q->select) {
        for (const item_t *it = q->select; it; it = it->next) {
            put_name(c, it->s);
            if (it->next) put(c, ", ");
        }
        return;
    }
    if (!q->schema) return put(c, "*");
    for (size_t i = 0; i < q->schema->n_fields; i++) {
        if (i) put(c, ", ");
        put_quoted(c, q->table, strlen(q->table));
        put(c, ".");
        put_quoted(c, q->schema->fields[i].name, strlen(q->schema->fields[i].name));
    }
}

/* WHERE … (shared by SELECT, UPDATE and DELETE). */
static void compile_where(ctx_t *c, const kiln_query_t *q)
{
    if (!q->where) return;
    put(c, " WHERE ");
    compile_expr(c, q->where);
}

static void compile_select(ctx_t *c, const kiln_query_t *q)
{
    put(c, q->distinct ? "SELECT DISTINCT " : "SELECT ");
    compile_columns(c, q);
    put(c, " FROM ");
    put_quoted(c, q->table, strlen(q->table));
    for (const item_t *j = q->joins; j; j = j->next) {
        put(c, j->join == KILN_JOIN_LEFT ? " LEFT JOIN " : " JOIN ");
        put_quoted(c, j->s, strlen(j->s));
        if (j->alias) {
            put(c, " AS ");
            put_quoted(c, j->alias, strlen(j->alias));
        }
        put(c, " ON ");
        compile_expr(c, j->on);
    }
    compile_where(c, q);
    for (const item_t *g = q->group; g; g = g->next) {
        put(c, g == q->group ? " GROUP BY " : ", ");
        put_name(c, g->s);
    }
    if (q->having) {
        put(c, " HAVING ");
        compile_expr(c, q->having);
    }
    for (const item_t *o = q->order; o; o = o->next) {
        put(c, o == q->order ? " ORDER BY " : ", ");
        put_name(c, o->s);
        put(c, o->dir == KILN_DESC ? " DESC" : " ASC");
    }
    if (q->limit >= 0 || q->offset >= 0) {
        put(c, " LIMIT ");
        put_param(c, KILN_VINT(q->limit >= 0 ? q->limit : -1)); /* SQLite: -1 = no limit */
        if (q->limit < 0 && c->d == KILN_DB_POSTGRES) c->params[c->n - 1] = KILN_VNULL; /* PG: NULL = ALL */
    }
    if (q->offset >= 0) {
        put(c, " OFFSET ");
        put_param(c, KILN_VINT(q->offset));
    }
    if (q->for_update && c->d == KILN_DB_POSTGRES) put(c, " FOR UPDATE");
}

int kiln__query_compile(const kiln_query_t *q, kiln_dialect_t d, int mode, const char *head, const kiln_val_t *pre,
                        size_t n_pre, const char **sql, const kiln_val_t **params, size_t *n)
{
    if (!q || q->bad) return KILN_EINVAL;
    ctx_t c = { .d = d };
    kiln_buf_init(&c.sql, 1 << 20);
    for (size_t i = 0; i < n_pre; i++) {
        if (c.n == c.cap) {
            c.cap = c.cap ? c.cap * 2 : 8;
            c.params = kiln_xrealloc(c.params, c.cap * sizeof *c.params);
        }
        c.params[c.n++] = pre[i];
    }
    if (head) put(&c, head);
    if (mode == KILN__Q_SELECT) compile_select(&c, q);
    else compile_where(&c, q);
    if (!c.err) {
        *sql = kiln_arena_strndup(q->a, c.sql.data ? c.sql.data : "", c.sql.len);
        kiln_val_t *p = kiln_arena_alloc(q->a, (c.n ? c.n : 1) * sizeof *p);
        if (!*sql || !p) c.err = KILN_ENOMEM;
        else {
            if (c.n) memcpy(p, c.params, c.n * sizeof *p);
            *params = p;
            *n = c.n;
        }
    }
    kiln_buf_free(&c.sql);
    free(c.params);
    return c.err;
}

int kiln_query_compile(const kiln_query_t *q, kiln_dialect_t d, const char **sql, const kiln_val_t **params,
                       size_t *n)
{
    return kiln__query_compile(q, d, KILN__Q_SELECT, NULL, NULL, 0, sql, params, n);
}

int kiln__query_aggregate(const kiln_query_t *q, kiln_dialect_t d, const char *agg, const char **sql,
                          const kiln_val_t **params, size_t *n)
{
    if (!q || !valid_name(agg)) return KILN_EINVAL;
    kiln_query_t copy = *q;
    item_t it = { .s = agg };
    copy.select = &it;
    copy.order = NULL;
    copy.limit = copy.offset = -1;
    return kiln__query_compile(&copy, d, KILN__Q_SELECT, NULL, NULL, 0, sql, params, n);
}

bool kiln__query_bare(const kiln_query_t *q)
{
    return q->schema && !q->bad && !q->distinct && !q->for_update && !q->where && !q->having && !q->joins &&
           !q->order && !q->group && !q->select && q->limit < 0 && q->offset < 0;
}

kiln_arena_t *kiln__query_arena(const kiln_query_t *q)
{
    return q->a;
}
