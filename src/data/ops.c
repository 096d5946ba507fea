/* Repo operations on schemas (kiln/data.h): reads through the query
 * compiler, writes built from the schema's field table, preloads and Multi.
 *
 * Write statements are assembled with `?` placeholders and double-quoted
 * names taken from the schema (program text), then translated for the
 * dialect by kiln_repo_sql; values only ever travel as parameters. Inserts
 * and updates use RETURNING (PostgreSQL, and SQLite since 3.35) so that the
 * stored row — defaults, generated id — comes back in the same round trip. */
#include "kiln/data.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "data/schema_int.h"

/* ---- reads ---- */

/* The SQL of a bare kiln_from(s) (kind KILN__SQL_ALL) or of one row by
 * primary key (KILN__SQL_GET), from the SQL cache or compiled and cached. */
static int schema_sql(kiln_repo_t *repo, kiln_arena_t *a, const kiln_schema_t *s, int kind, const char **sql)
{
    kiln__sql_key_t key = { s, kind, kiln_repo_dialect(repo), 0 };
    if ((*sql = kiln__sql_get(&key))) return 0;
    const kiln_field_t *pk = kiln_schema_pk(s);
    kiln_query_t *q = kind == KILN__SQL_ALL || pk ? kiln_from(a, s) : NULL;
    if (!q) return pk || kind == KILN__SQL_ALL ? KILN_ENOMEM : KILN_EINVAL;
    if (kind == KILN__SQL_GET) kiln_where(q, kiln_eq(q, pk->name, KILN_VINT(0)));
    const kiln_val_t *p;
    size_t n;
    int rc = kiln_query_compile(q, kiln_repo_dialect(repo), sql, &p, &n);
    if (rc == 0) *sql = kiln__sql_put(&key, *sql);
    return rc;
}

/* q's SQL and parameters: a bare kiln_from from the SQL cache, else compiled. */
static int query_sql(kiln_repo_t *repo, kiln_arena_t *a, const kiln_query_t *q, const char **sql,
                     const kiln_val_t **p, size_t *n)
{
    *p = NULL;
    *n = 0;
    return kiln__query_bare(q) ? schema_sql(repo, a, kiln_query_schema(q), KILN__SQL_ALL, sql)
                               : kiln_query_compile(q, kiln_repo_dialect(repo), sql, p, n);
}

int kiln_repo_rows(kiln_repo_t *repo, kiln_arena_t *a, const kiln_query_t *q, kiln_rows_t **out)
{
    const char *sql;
    const kiln_val_t *p;
    size_t n;
    int rc = query_sql(repo, a, q, &sql, &p, &n);
    return rc < 0 ? rc : kiln__repo_query(repo, a, kiln_query_table(q), sql, p, n, out);
}

/* Rows are decoded straight into the structs (kiln__repo_query_into). */
int kiln_repo_all(kiln_repo_t *repo, kiln_arena_t *a, const kiln_query_t *q, void **out)
{
    const kiln_schema_t *s = kiln_query_schema(q);
    if (!s) return KILN_EINVAL;
    const char *sql;
    const kiln_val_t *p;
    size_t n;
    int rc = query_sql(repo, a, q, &sql, &p, &n);
    if (rc < 0) return rc;
    kiln__into_t into = { .s = s, .grow = true };
    if ((rc = kiln__repo_query_into(repo, a, kiln_query_table(q), sql, p, n, &into, NULL)) < 0) return rc;
    if (!into.recs && !(into.recs = kiln_arena_calloc(a, s->size))) return KILN_ENOMEM; /* zero rows */
    *out = into.recs;
    return rc;
}

int kiln_repo_one(kiln_repo_t *repo, kiln_arena_t *a, const kiln_query_t *q, void **out)
{
    void *recs;
    int rc = kiln_repo_all(repo, a, q, &recs);
    if (rc < 0) return rc;
    if (rc == 0) return KILN_ENOENT;
    if (rc > 1) return KILN_EMULTIPLE;
    *out = recs;
    return 0;
}

int kiln_repo_get_by(kiln_repo_t *repo, kiln_arena_t *a, const kiln_schema_t *s, const char *col, kiln_val_t v,
                     void **out)
{
    kiln_query_t *q = kiln_from(a, s);
    if (!q) return KILN_ENOMEM;
    kiln_where(q, kiln_eq(q, col, v));
    return kiln_repo_one(repo, a, q, out);
}

int kiln_repo_get(kiln_repo_t *repo, kiln_arena_t *a, const kiln_schema_t *s, int64_t id, void **out)
{
    const char *sql;
    int rc = schema_sql(repo, a, s, KILN__SQL_GET, &sql);
    if (rc < 0) return rc;
    kiln_val_t key = KILN_VINT(id);
    kiln__into_t into = { s, kiln_arena_calloc(a, s->size), 1, false };
    if (!into.recs) return KILN_ENOMEM;
    kiln_rows_t *rows;
    if ((rc = kiln__repo_query_into(repo, a, s->table, sql, &key, 1, &into, &rows)) < 0) return rc;
    if (rows->n_rows != 1) return rows->n_rows ? KILN_EMULTIPLE : KILN_ENOENT;
    *out = into.recs;
    return 0;
}

int kiln_repo_get_many(kiln_repo_t *repo, kiln_arena_t *a, const kiln_schema_t *s, const int64_t *ids, size_t n,
                       void **out)
{
    const char *sql;
    int rc = schema_sql(repo, a, s, KILN__SQL_GET, &sql);
    if (rc < 0) return rc;
    kiln_stmt_t *st = kiln_arena_alloc(a, (n ? n : 1) * sizeof *st);
    kiln_val_t *vals = kiln_arena_alloc(a, (n ? n : 1) * sizeof *vals);
    char *recs = kiln_arena_calloc(a, (n ? n : 1) * s->size);
    if (!st || !vals || !recs) return KILN_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        vals[i] = KILN_VINT(ids[i]);
        st[i] = (kiln_stmt_t){ sql, &vals[i], 1 };
    }
    kiln_rows_t *rows;
    if ((rc = kiln__repo_batch_into(repo, a, s->table, st, n, s, recs, &rows)) < 0) return rc;
    for (size_t i = 0; i < n; i++)
        if (rows[i].n_rows != 1) return rows[i].n_rows ? KILN_EMULTIPLE : KILN_ENOENT;
    *out = recs;
    return 0;
}

int kiln_repo_aggregate(kiln_repo_t *repo, const kiln_query_t *q, const char *agg, kiln_val_t *out)
{
    const char *sql;
    const kiln_val_t *p;
    size_t n;
    kiln_arena_t *a = kiln__query_arena(q);
    int rc = kiln__query_aggregate(q, kiln_repo_dialect(repo), agg, &sql, &p, &n);
    if (rc < 0) return rc;
    kiln_rows_t *rows;
    rc = kiln__repo_query(repo, a, kiln_query_table(q), sql, p, n, &rows);
    if (rc < 0) return rc;
    *out = rows->n_rows && rows->n_cols ? *kiln_rows_at(rows, 0, 0) : KILN_VNULL;
    return 0;
}

int kiln_repo_exists(kiln_repo_t *repo, const kiln_query_t *q)
{
    const char *sql;
    const kiln_val_t *p;
    size_t n;
    kiln_arena_t *a = kiln__query_arena(q);
    int rc = kiln_query_compile(q, kiln_repo_dialect(repo), &sql, &p, &n);
    if (rc < 0) return rc;
    const char *wrapped = kiln_arena_sprintf(a, "SELECT EXISTS (%s)", sql);
    if (!wrapped) return KILN_ENOMEM;
    kiln_rows_t *rows;
    rc = kiln__repo_query(repo, a, kiln_query_table(q), wrapped, p, n, &rows);
    if (rc < 0) return rc;
    return rows->n_rows && kiln_rows_at(rows, 0, 0)->i ? 1 : 0;
}

/* ---- statement assembly ---- */

/* With no_text set (the text is cached), only the parameters are collected. */
typedef struct stmt {
    kiln_buf_t sql;
    kiln_val_t *params;
    size_t n, cap;
    bool no_text;
} stmt_t;

static void st_init(stmt_t *st) { *st = (stmt_t){ 0 }; kiln_buf_init(&st->sql, 16 << 20); }
static void st_free(stmt_t *st) { kiln_buf_free(&st->sql); free(st->params); }
static void st_put(stmt_t *st, const char *s) { if (!st->no_text) kiln_buf_puts(&st->sql, s); }

static void st_name(stmt_t *st, const char *s)
{
    st_put(st, "\"");
    st_put(st, s);
    st_put(st, "\"");
}

static void st_param(stmt_t *st, kiln_val_t v)
{
    if (st->n == st->cap) {
        st->cap = st->cap ? st->cap * 2 : 16;
        st->params = kiln_xrealloc(st->params, st->cap * sizeof *st->params);
    }
    st->params[st->n++] = v;
    st_put(st, "?");
}

static void st_returning(stmt_t *st, const kiln_schema_t *s)
{
    st_put(st, " RETURNING ");
    for (size_t i = 0; i < s->n_fields; i++) {
        if (i) st_put(st, ", ");
        st_name(st, s->fields[i].name);
    }
}

/* Runs st; the buffer's ETOOBIG (16 MiB of SQL) surfaces as KILN_ETOOBIG. */
static int st_run(kiln_repo_t *repo, kiln_arena_t *a, const char *source, stmt_t *st, kiln_rows_t **rows)
{
    if (!st->sql.data || st->sql.len + 1 >= st->sql.max) return KILN_ETOOBIG;
    const char *sql = kiln_repo_sql(repo, a, st->sql.data);
    if (!sql) return KILN_ENOMEM;
    return kiln__repo_query(repo, a, source, sql, st->params, st->n, rows);
}

static bool is_pk(const kiln_schema_t *s, const kiln_field_t *f)
{
    return f == kiln_schema_pk(s);
}

static int64_t now_s(void)
{
    return (int64_t)time(NULL);
}

static void stamp(const kiln_schema_t *s, void *rec, const char *field, bool only_if_zero)
{
    const kiln_field_t *f = s->timestamps ? kiln_schema_field(s, field, NULL) : NULL;
    if (!f || f->type != KILN_T_UTC) return;
    int64_t *p = (int64_t *)(void *)((char *)rec + f->offset);
    if (!only_if_zero || !*p) *p = now_s();
}

/* Whether an insert sends f: not a zero primary key (the database assigns
 * it), not a NULL text-like field (column defaults apply). */
static bool inserts(const kiln_schema_t *s, const kiln_field_t *f, const void *rec)
{
    const char *p = (const char *)rec + f->offset;
    if (is_pk(s, f)) return *(const int64_t *)(const void *)p != 0;
    switch (f->type) {
    case KILN_T_TEXT: case KILN_T_JSON: case KILN_T_DECIMAL: case KILN_T_DATE:
        return *(const char *const *)(const void *)p != NULL;
    default: return true;
    }
}

static void prepare_insert(const kiln_schema_t *s, void *rec)
{
    stamp(s, rec, "inserted_at", true);
    stamp(s, rec, "updated_at", true);
    const kiln_field_t *lf = s->lock_field ? kiln_schema_field(s, s->lock_field, NULL) : NULL;
    if (lf && !*(int64_t *)(void *)((char *)rec + lf->offset)) *(int64_t *)(void *)((char *)rec + lf->offset) = 1;
}

static void conflict_clause(stmt_t *st, const kiln_schema_t *s, kiln_conflict_t action, const char *const *target)
{
    if (action == KILN_CONFLICT_RAISE) return;
    st_put(st, " ON CONFLICT");
    if (target && target[0]) {
        st_put(st, " (");
        for (size_t i = 0; target[i]; i++) {
            if (i) st_put(st, ", ");
            st_name(st, target[i]);
        }
        st_put(st, ")");
    }
    if (action == KILN_CONFLICT_NOTHING) return st_put(st, " DO NOTHING");
    st_put(st, " DO UPDATE SET ");
    bool first = true;
    for (size_t i = 0; i < s->n_fields; i++) {
        const kiln_field_t *f = &s->fields[i];
        if (is_pk(s, f) || (s->timestamps && !strcmp(f->name, "inserted_at"))) continue;
        if (!first) st_put(st, ", ");
        first = false;
        st_name(st, f->name);
        st_put(st, " = excluded.");
        st_name(st, f->name);
    }
}

/* ---- writes ---- */

/* A database error on a changeset: a declared constraint becomes a field error. */
static int constraint_error(kiln_changeset_t *cs, int rc, const kiln_rows_t *rows)
{
    if (rc == KILN_ECONSTRAINT && kiln_cs_apply_db_error(cs, &rows->error)) return KILN_EINVALID;
    return rc;
}

static int decode_one(const kiln_schema_t *s, kiln_rows_t *rows, kiln_arena_t *a, void **out)
{
    void *recs = NULL;
    int rc = kiln__decode_rows(s, rows, a, &recs);
    if (rc < 0) return rc;
    if (out) *out = rc ? recs : NULL;
    return 0;
}

int kiln_repo_insert_on_conflict(kiln_repo_t *repo, kiln_changeset_t *cs, kiln_conflict_t action,
                                 const char *const *target, void **out)
{
    if (!cs->valid) return KILN_EINVALID;
    const kiln_schema_t *s = cs->schema;
    prepare_insert(s, cs->changes);
    stmt_t st;
    st_init(&st);
    st_put(&st, "INSERT INTO ");
    st_name(&st, s->table);
    st_put(&st, " (");
    size_t k = 0;
    for (size_t i = 0; i < s->n_fields; i++) {
        if (!inserts(s, &s->fields[i], cs->changes)) continue;
        if (k++) st_put(&st, ", ");
        st_name(&st, s->fields[i].name);
    }
    st_put(&st, k ? ") VALUES (" : ") DEFAULT VALUES");
    if (!k) st.sql.len -= 3, st.sql.data[st.sql.len] = 0; /* "INSERT INTO t DEFAULT VALUES" */
    k = 0;
    for (size_t i = 0; i < s->n_fields; i++) {
        if (!inserts(s, &s->fields[i], cs->changes)) continue;
        if (k++) st_put(&st, ", ");
        st_param(&st, kiln__field_get(&s->fields[i], cs->changes, cs->arena));
    }
    if (k) st_put(&st, ")");
    conflict_clause(&st, s, action, target);
    st_returning(&st, s);
    kiln_rows_t *rows;
    int rc = st_run(repo, cs->arena, s->table, &st, &rows);
    st_free(&st);
    if (rc < 0) return constraint_error(cs, rc, rows);
    return decode_one(s, rows, cs->arena, out);
}

int kiln_repo_insert(kiln_repo_t *repo, kiln_changeset_t *cs, void **out)
{
    return kiln_repo_insert_on_conflict(repo, cs, KILN_CONFLICT_RAISE, NULL, out);
}

/* WHERE pk = ? [AND lock = ?] */
static int where_row(stmt_t *st, const kiln_schema_t *s, const void *rec, kiln_arena_t *a)
{
    const kiln_field_t *pk = kiln_schema_pk(s);
    if (!pk) return KILN_EINVAL;
    st_put(st, " WHERE ");
    st_name(st, pk->name);
    st_put(st, " = ");
    st_param(st, kiln__field_get(pk, rec, a));
    const kiln_field_t *lf = s->lock_field ? kiln_schema_field(s, s->lock_field, NULL) : NULL;
    if (lf) {
        st_put(st, " AND ");
        st_name(st, lf->name);
        st_put(st, " = ");
        st_param(st, kiln__field_get(lf, rec, a));
    }
    return 0;
}

/* An update sends RETURNING only when the caller wants the stored row; its
 * text depends on the schema, the changed-field mask and that, so it is
 * cached by them and only the parameters are collected per call. */
int kiln_repo_update(kiln_repo_t *repo, kiln_changeset_t *cs, void **out)
{
    if (!cs->valid) return KILN_EINVALID;
    const kiln_schema_t *s = cs->schema;
    if (!cs->changed) {
        if (out) *out = cs->changes;
        return 0;
    }
    stamp(s, cs->changes, "updated_at", false);
    kiln__sql_key_t key = { s, out ? KILN__SQL_UPDATE_RETURNING : KILN__SQL_UPDATE, kiln_repo_dialect(repo),
                            cs->changed };
    const char *sql = kiln__sql_get(&key);
    stmt_t st;
    st_init(&st);
    st.no_text = sql != NULL;
    st_put(&st, "UPDATE ");
    st_name(&st, s->table);
    st_put(&st, " SET ");
    size_t k = 0;
    for (size_t i = 0; i < s->n_fields; i++) {
        const kiln_field_t *f = &s->fields[i];
        bool upd = (cs->changed >> i & 1) || (s->timestamps && !strcmp(f->name, "updated_at"));
        if (!upd || (s->lock_field && !strcmp(f->name, s->lock_field))) continue;
        if (k++) st_put(&st, ", ");
        st_name(&st, f->name);
        st_put(&st, " = ");
        st_param(&st, kiln__field_get(f, cs->changes, cs->arena));
    }
    if (s->lock_field) {
        if (k) st_put(&st, ", ");
        st_name(&st, s->lock_field);
        st_put(&st, " = ");
        st_name(&st, s->lock_field);
        st_put(&st, " + 1");
    }
    int rc = where_row(&st, s, cs->data, cs->arena);
    if (out) st_returning(&st, s);
    kiln_rows_t *rows = NULL;
    if (rc == 0 && !sql) {
        if (!st.sql.data || st.sql.len + 1 >= st.sql.max) rc = KILN_ETOOBIG;
        else if (!(sql = kiln_repo_sql(repo, cs->arena, st.sql.data))) rc = KILN_ENOMEM;
        else sql = kiln__sql_put(&key, sql);
    }
    if (rc == 0) rc = kiln__repo_query(repo, cs->arena, s->table, sql, st.params, st.n, &rows);
    st_free(&st);
    if (rc < 0) return rows ? constraint_error(cs, rc, rows) : rc;
    if (!out) return rows->changes ? 0 : KILN_ESTALE;
    if (rows->n_rows == 0) return KILN_ESTALE;
    return decode_one(s, rows, cs->arena, out);
}

int kiln_repo_delete(kiln_repo_t *repo, const kiln_schema_t *s, const void *rec)
{
    kiln_arena_t a;
    kiln_arena_init(&a, 1024);
    stmt_t st;
    st_init(&st);
    kiln_buf_printf(&st.sql, "DELETE FROM \"%s\"", s->table);
    int rc = where_row(&st, s, rec, &a);
    if (rc == 0) rc = st_run(repo, &a, s->table, &st, NULL);
    st_free(&st);
    kiln_arena_destroy(&a);
    return rc < 0 ? rc : rc == 0 ? KILN_ESTALE : 0;
}

int kiln_repo_insert_all(kiln_repo_t *repo, kiln_arena_t *a, const kiln_schema_t *s, const void *recs, size_t n,
                         kiln_conflict_t action, const char *const *target)
{
    if (!n) return 0;
    stmt_t st;
    st_init(&st);
    kiln_buf_printf(&st.sql, "INSERT INTO \"%s\" (", s->table);
    size_t k = 0;
    for (size_t i = 0; i < s->n_fields; i++) {
        if (is_pk(s, &s->fields[i])) continue;
        if (k++) st_put(&st, ", ");
        st_name(&st, s->fields[i].name);
    }
    st_put(&st, ") VALUES ");
    char *tmp = kiln_arena_alloc(a, s->size);
    if (!tmp) {
        st_free(&st);
        return KILN_ENOMEM;
    }
    for (size_t r = 0; r < n; r++) {
        memcpy(tmp, (const char *)recs + r * s->size, s->size);
        prepare_insert(s, tmp);
        st_put(&st, r ? ", (" : "(");
        k = 0;
        for (size_t i = 0; i < s->n_fields; i++) {
            if (is_pk(s, &s->fields[i])) continue;
            if (k++) st_put(&st, ", ");
            st_param(&st, kiln__field_get(&s->fields[i], tmp, a));
        }
        st_put(&st, ")");
    }
    conflict_clause(&st, s, action, target);
    int rc = st_run(repo, a, s->table, &st, NULL);
    st_free(&st);
    return rc;
}

int kiln_repo_update_all(kiln_repo_t *repo, const kiln_query_t *q, const kiln_set_t *set, size_t n)
{
    kiln_arena_t *a = kiln__query_arena(q);
    kiln_buf_t head;
    kiln_buf_init(&head, 1 << 20);
    kiln_buf_printf(&head, "UPDATE \"%s\" SET ", kiln_query_table(q));
    kiln_val_t *pre = kiln_arena_alloc(a, (n ? n : 1) * sizeof *pre);
    kiln_query_t *names = kiln_from_table(a, kiln_query_table(q)); /* validates the column names */
    for (size_t i = 0; pre && names && i < n; i++) {
        kiln_where(names, kiln_is_null(names, set[i].col));
        if (kiln_repo_dialect(repo) == KILN_DB_POSTGRES)
            kiln_buf_printf(&head, "%s\"%s\" = $%zu", i ? ", " : "", set[i].col, i + 1);
        else kiln_buf_printf(&head, "%s\"%s\" = ?", i ? ", " : "", set[i].col);
        pre[i] = set[i].val;
    }
    const char *sql, *tmp_sql;
    const kiln_val_t *p, *tmp_p;
    size_t np, tmp_n;
    int rc = !pre || !names || !n ? KILN_EINVAL : kiln_query_compile(names, kiln_repo_dialect(repo), &tmp_sql, &tmp_p, &tmp_n);
    if (rc == 0)
        rc = kiln__query_compile(q, kiln_repo_dialect(repo), KILN__Q_WHERE, head.data, pre, n, &sql, &p, &np);
    kiln_buf_free(&head);
    return rc < 0 ? rc : kiln__repo_query(repo, a, kiln_query_table(q), sql, p, np, NULL);
}

int kiln_repo_delete_all(kiln_repo_t *repo, const kiln_query_t *q)
{
    kiln_arena_t *a = kiln__query_arena(q);
    const char *head = kiln_arena_sprintf(a, "DELETE FROM \"%s\"", kiln_query_table(q));
    const char *sql;
    const kiln_val_t *p;
    size_t np;
    int rc = head ? kiln__query_compile(q, kiln_repo_dialect(repo), KILN__Q_WHERE, head, NULL, 0, &sql, &p, &np)
                  : KILN_ENOMEM;
    return rc < 0 ? rc : kiln__repo_query(repo, a, kiln_query_table(q), sql, p, np, NULL);
}

/* ---- preload ---- */

static int64_t int_at(const void *rec, const kiln_field_t *f)
{
    return *(const int64_t *)(const void *)((const char *)rec + f->offset);
}

/* The related rows whose `col` is one of the n keys. */
static int fetch_related(kiln_repo_t *repo, kiln_arena_t *a, const kiln_schema_t *rel, const char *col,
                         const kiln_val_t *keys, size_t n, void **out)
{
    kiln_query_t *q = kiln_from(a, rel);
    if (!q) return KILN_ENOMEM;
    kiln_where(q, kiln_in(q, col, keys, n));
    const kiln_field_t *pk = kiln_schema_pk(rel);
    if (pk) kiln_order_by(q, pk->name, KILN_ASC);
    return kiln_repo_all(repo, a, q, out);
}

static int preload_belongs_to(kiln_repo_t *repo, kiln_arena_t *a, const kiln_schema_t *s, char *recs, size_t n,
                              const kiln_assoc_t *as)
{
    const kiln_field_t *fk = kiln_schema_field(s, as->foreign_key, NULL), *rpk = kiln_schema_pk(as->related);
    kiln_val_t *keys = kiln_arena_alloc(a, n * sizeof *keys);
    if (!fk || !rpk || !keys) return KILN_EINVAL;
    for (size_t i = 0; i < n; i++) keys[i] = KILN_VINT(int_at(recs + i * s->size, fk));
    char *rel;
    int m = fetch_related(repo, a, as->related, rpk->name, keys, n, (void **)&rel);
    if (m < 0) return m;
    for (size_t i = 0; i < n; i++) {
        void **slot = (void **)(void *)(recs + i * s->size + as->offset);
        *slot = NULL;
        for (int j = 0; j < m; j++)
            if (int_at(rel + (size_t)j * as->related->size, rpk) == keys[i].i) *slot = rel + (size_t)j * as->related->size;
    }
    return 0;
}

static int preload_has(kiln_repo_t *repo, kiln_arena_t *a, const kiln_schema_t *s, char *recs, size_t n,
                       const kiln_assoc_t *as)
{
    const kiln_schema_t *rs = as->related;
    const kiln_field_t *pk = kiln_schema_pk(s), *fk = kiln_schema_field(rs, as->foreign_key, NULL);
    kiln_val_t *keys = kiln_arena_alloc(a, n * sizeof *keys);
    if (!pk || !fk || !keys) return KILN_EINVAL;
    for (size_t i = 0; i < n; i++) keys[i] = KILN_VINT(int_at(recs + i * s->size, pk));
    char *rel;
    int m = fetch_related(repo, a, rs, fk->name, keys, n, (void **)&rel);
    if (m < 0) return m;
    for (size_t i = 0; i < n; i++) {
        size_t count = 0;
        for (int j = 0; j < m; j++) count += int_at(rel + (size_t)j * rs->size, fk) == keys[i].i;
        char *items = count ? kiln_arena_alloc(a, count * rs->size) : NULL;
        if (count && !items) return KILN_ENOMEM;
        size_t k = 0;
        for (int j = 0; j < m; j++)
            if (int_at(rel + (size_t)j * rs->size, fk) == keys[i].i)
                memcpy(items + k++ * rs->size, rel + (size_t)j * rs->size, rs->size);
        void *slot = recs + i * s->size + as->offset;
        if (as->kind == KILN_HAS_ONE) *(void **)slot = items;
        else *(kiln_many_t *)slot = (kiln_many_t){ items, count };
    }
    return 0;
}

/* many_to_many: one query through the join table, carrying the owner key. */
static int preload_m2m(kiln_repo_t *repo, kiln_arena_t *a, const kiln_schema_t *s, char *recs, size_t n,
                       const kiln_assoc_t *as)
{
    const kiln_schema_t *rs = as->related;
    const kiln_field_t *pk = kiln_schema_pk(s), *rpk = kiln_schema_pk(rs);
    if (!pk || !rpk || !as->join_table) return KILN_EINVAL;
    stmt_t st;
    st_init(&st);
    st_put(&st, "SELECT ");
    for (size_t i = 0; i < rs->n_fields; i++)
        kiln_buf_printf(&st.sql, "\"%s\".\"%s\", ", rs->table, rs->fields[i].name);
    kiln_buf_printf(&st.sql, "\"%s\".\"%s\" AS kiln_owner FROM \"%s\" JOIN \"%s\" ON \"%s\".\"%s\" = \"%s\".\"%s\" WHERE \"%s\".\"%s\" IN (",
                    as->join_table, as->join_keys[0], rs->table, as->join_table, as->join_table, as->join_keys[1],
                    rs->table, rpk->name, as->join_table, as->join_keys[0]);
    for (size_t i = 0; i < n; i++) {
        if (i) st_put(&st, ", ");
        st_param(&st, KILN_VINT(int_at(recs + i * s->size, pk)));
    }
    st_put(&st, ")");
    kiln_rows_t *rows;
    int rc = st_run(repo, a, rs->table, &st, &rows);
    st_free(&st);
    char *rel;
    if (rc >= 0) rc = kiln__decode_rows(rs, rows, a, (void **)&rel);
    if (rc < 0) return rc;
    int owner = kiln_rows_col(rows, "kiln_owner");
    for (size_t i = 0; i < n; i++) {
        int64_t key = int_at(recs + i * s->size, pk);
        size_t count = 0, k = 0;
        for (size_t j = 0; j < rows->n_rows; j++) count += kiln_rows_at(rows, j, (size_t)owner)->i == key;
        char *items = count ? kiln_arena_alloc(a, count * rs->size) : NULL;
        if (count && !items) return KILN_ENOMEM;
        for (size_t j = 0; j < rows->n_rows; j++)
            if (kiln_rows_at(rows, j, (size_t)owner)->i == key) memcpy(items + k++ * rs->size, rel + j * rs->size, rs->size);
        *(kiln_many_t *)(void *)(recs + i * s->size + as->offset) = (kiln_many_t){ items, count };
    }
    return 0;
}

int kiln_repo_preload(kiln_repo_t *repo, kiln_arena_t *a, const kiln_schema_t *s, void *recs, size_t n,
                      const char *assoc)
{
    const kiln_assoc_t *as = kiln_schema_assoc(s, assoc);
    if (!as) return KILN_ENOENT;
    if (!n) return 0;
    switch (as->kind) {
    case KILN_BELONGS_TO: return preload_belongs_to(repo, a, s, recs, n, as);
    case KILN_MANY_TO_MANY: return preload_m2m(repo, a, s, recs, n, as);
    default: return preload_has(repo, a, s, recs, n, as);
    }
}

/* ---- Multi ---- */

typedef struct multi_run {
    const kiln_multi_step_t *steps;
    size_t n;
    kiln_multi_result_t *res;
} multi_run_t;

static int run_steps(kiln_repo_t *tx, void *ud)
{
    multi_run_t *m = ud;
    for (size_t i = 0; i < m->n; i++) {
        int rc = m->steps[i].run(tx, m->steps[i].ud, &m->res->results[i], m->res->results);
        if (rc < 0) {
            m->res->failed_step = m->steps[i].name;
            m->res->error = rc;
            return rc;
        }
    }
    return 0;
}

int kiln_repo_multi(kiln_repo_t *repo, kiln_arena_t *a, const kiln_multi_step_t *steps, size_t n,
                    kiln_multi_result_t *res)
{
    *res = (kiln_multi_result_t){ .results = kiln_arena_calloc(a, (n ? n : 1) * sizeof(void *)) };
    if (!res->results) return KILN_ENOMEM;
    multi_run_t m = { steps, n, res };
    int rc = kiln_repo_transaction(repo, run_steps, &m);
    if (rc < 0 && !res->failed_step) res->error = rc; /* the commit failed */
    return rc < 0 ? rc : 0;
}
