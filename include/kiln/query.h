/* Kiln queries: a composable builder compiled to each dialect's SQL with
 * placeholders (Ecto.Query).
 *
 *   kiln_query_t *q = kiln_from(arena, &user_schema);
 *   kiln_where(q, kiln_and(q, kiln_ge(q, "age", KILN_VINT(18)), kiln_ilike(q, "email", KILN_VTEXT("%@x.org"))));
 *   kiln_order_by(q, "inserted_at", KILN_DESC);
 *   kiln_limit(q, 20);
 *
 * Safety: values only ever become bound parameters. Column, table and alias
 * names are program text, checked against a strict grammar (identifier,
 * table.identifier, or an aggregate count/sum/avg/min/max of one, or "*");
 * a name outside it poisons the query, whose compile then fails with
 * KILN_EINVAL. So no path of this API puts data into SQL text.
 *
 * Builders allocate in the query's arena and never fail: errors (OOM, a bad
 * name) are sticky and reported by kiln_query_compile. */
#ifndef KILN_QUERY_H
#define KILN_QUERY_H

#include "kiln/repo.h"
#include "kiln/schema.h"

typedef struct kiln_query kiln_query_t;
typedef struct kiln_expr kiln_expr_t;

kiln_query_t *kiln_from(kiln_arena_t *a, const kiln_schema_t *s);
kiln_query_t *kiln_from_table(kiln_arena_t *a, const char *table);

/* Comparisons of a column with a bound value. */
kiln_expr_t *kiln_eq(kiln_query_t *q, const char *col, kiln_val_t v);
kiln_expr_t *kiln_ne(kiln_query_t *q, const char *col, kiln_val_t v);
kiln_expr_t *kiln_lt(kiln_query_t *q, const char *col, kiln_val_t v);
kiln_expr_t *kiln_le(kiln_query_t *q, const char *col, kiln_val_t v);
kiln_expr_t *kiln_gt(kiln_query_t *q, const char *col, kiln_val_t v);
kiln_expr_t *kiln_ge(kiln_query_t *q, const char *col, kiln_val_t v);
kiln_expr_t *kiln_like(kiln_query_t *q, const char *col, kiln_val_t pattern);  /* case-sensitive */
kiln_expr_t *kiln_ilike(kiln_query_t *q, const char *col, kiln_val_t pattern); /* case-insensitive (ASCII on SQLite) */
kiln_expr_t *kiln_is_null(kiln_query_t *q, const char *col);
kiln_expr_t *kiln_in(kiln_query_t *q, const char *col, const kiln_val_t *vals, size_t n); /* n == 0: false */
kiln_expr_t *kiln_in_query(kiln_query_t *q, const char *col, kiln_query_t *sub);         /* col IN (subquery) */
kiln_expr_t *kiln_col_eq(kiln_query_t *q, const char *col, const char *other_col);      /* for joins */
kiln_expr_t *kiln_and(kiln_query_t *q, kiln_expr_t *a, kiln_expr_t *b);
kiln_expr_t *kiln_or(kiln_query_t *q, kiln_expr_t *a, kiln_expr_t *b);
kiln_expr_t *kiln_not(kiln_query_t *q, kiln_expr_t *e);

/* Each call ANDs onto the previous ones. */
void kiln_where(kiln_query_t *q, kiln_expr_t *e);
typedef enum { KILN_JOIN_INNER, KILN_JOIN_LEFT } kiln_join_kind_t;
/* JOIN table [AS alias] ON on. */
void kiln_join(kiln_query_t *q, kiln_join_kind_t kind, const char *table, const char *alias, kiln_expr_t *on);
typedef enum { KILN_ASC, KILN_DESC } kiln_order_t;
void kiln_order_by(kiln_query_t *q, const char *col, kiln_order_t dir);
void kiln_limit(kiln_query_t *q, int64_t n);
void kiln_offset(kiln_query_t *q, int64_t n);
void kiln_group_by(kiln_query_t *q, const char *col);
void kiln_having(kiln_query_t *q, kiln_expr_t *e);
/* Selects these columns (or aggregates, "count(*)", "sum(amount)") instead
 * of the schema's fields; call repeatedly to add. Results are then plain rows. */
void kiln_select(kiln_query_t *q, const char *col);
void kiln_distinct(kiln_query_t *q);
/* FOR UPDATE on PostgreSQL; on SQLite a transaction already holds the only
 * write lock, so it compiles to nothing there. */
void kiln_lock_for_update(kiln_query_t *q);

/* Compiles q. *sql and *params (n of them) live in q's arena. Returns 0 or
 * KILN_EINVAL (a bad name was given to a builder) / KILN_ENOMEM. */
int kiln_query_compile(const kiln_query_t *q, kiln_dialect_t d, const char **sql, const kiln_val_t **params,
                       size_t *n);
/* The schema of a kiln_from query (NULL for kiln_from_table). */
const kiln_schema_t *kiln_query_schema(const kiln_query_t *q);
const char *kiln_query_table(const kiln_query_t *q);

#endif
