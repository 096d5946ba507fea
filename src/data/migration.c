/* Migrations (kiln/migration.h): the DDL builders, the SQLite table rebuild,
 * the runners behind `APP migrate | rollback [N] | migrations`.
 *
 * Builders execute at once on the migration's transaction; the first failure
 * is kept in the kiln_mig_t (error, message, statement) and turns every later
 * builder into a no-op, so a migration body reads as a straight list of
 * steps. Names are program text, double-quoted as written.
 *
 * Each migration (or rollback step) is one transaction that first takes the
 * migration lock (PostgreSQL: pg_advisory_xact_lock; SQLite: BEGIN IMMEDIATE
 * already excludes every other writer), then creates schema_migrations if
 * needed and re-reads it, so a migrator that waited behind another finds the
 * work done and skips it. */
#include "kiln/data.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MIGRATION_LOCK_KEY "7301846015"

struct kiln_mig {
    kiln_repo_t *tx;
    kiln_arena_t *a;
    int err;
    char message[256];
    char statement[512];
};

kiln_repo_t *kiln_mig_repo(kiln_mig_t *m) { return m->tx; }
kiln_dialect_t kiln_mig_dialect(const kiln_mig_t *m) { return kiln_repo_dialect(m->tx); }

static int exec_sql(kiln_mig_t *m, const char *sql)
{
    if (m->err) return m->err;
    if (!sql) return m->err = KILN_ENOMEM;
    kiln_rows_t *rows;
    int rc = kiln_repo_query(m->tx, m->a, sql, NULL, 0, &rows);
    if (rc < 0) {
        m->err = rc;
        snprintf(m->message, sizeof m->message, "%s", rows->error.message[0] ? rows->error.message : kiln_repo_strerror(rc));
        snprintf(m->statement, sizeof m->statement, "%s", sql);
        return rc;
    }
    return 0;
}

static const char *type_sql(kiln_dialect_t d, kiln_type_t t)
{
    static const char *const lite[] = { "", "INTEGER", "REAL", "BOOLEAN", "TEXT", "BLOB", "TEXT", "TEXT", "TEXT", "TEXT" };
    static const char *const pg[] = { "", "BIGINT", "DOUBLE PRECISION", "BOOLEAN", "TEXT", "BYTEA",
                                      "DATE", "TIMESTAMP(0)", "JSONB", "NUMERIC" };
    return (t < 1 || t > KILN_T_DECIMAL) ? "TEXT" : d == KILN_DB_SQLITE ? lite[t] : pg[t];
}

static void column_def(kiln_buf_t *b, kiln_dialect_t d, const char *table, const kiln_column_t *c)
{
    kiln_buf_printf(b, "\"%s\" %s", c->name, type_sql(d, c->type));
    if (c->not_null) kiln_buf_puts(b, " NOT NULL");
    if (c->default_sql) kiln_buf_printf(b, " DEFAULT %s", c->default_sql);
    if (c->references) {
        kiln_buf_printf(b, " CONSTRAINT \"%s_%s_fkey\" REFERENCES \"%s\"(\"id\")", table, c->name, c->references);
        if (c->on_delete) kiln_buf_printf(b, " ON DELETE %s", c->on_delete);
    }
    if (c->check) kiln_buf_printf(b, " CONSTRAINT \"%s_%s_check\" CHECK (%s)", table, c->name, c->check);
}

static int exec_buf(kiln_mig_t *m, kiln_buf_t *b)
{
    int rc = exec_sql(m, b->data ? kiln_arena_strndup(m->a, b->data, b->len) : NULL);
    kiln_buf_free(b);
    return rc;
}

int kiln_mig_create_table(kiln_mig_t *m, const char *table, const kiln_column_t *cols, size_t n, int flags)
{
    kiln_dialect_t d = kiln_mig_dialect(m);
    kiln_buf_t b;
    kiln_buf_init(&b, 1 << 20);
    kiln_buf_printf(&b, "CREATE TABLE \"%s\" (", table);
    const char *sep = "";
    if (!(flags & KILN_MIG_NO_ID)) {
        kiln_buf_puts(&b, d == KILN_DB_SQLITE ? "\"id\" INTEGER PRIMARY KEY" : "\"id\" BIGSERIAL PRIMARY KEY");
        sep = ", ";
    }
    for (size_t i = 0; i < n; i++) {
        kiln_buf_puts(&b, sep);
        column_def(&b, d, table, &cols[i]);
        sep = ", ";
    }
    if (flags & KILN_MIG_TIMESTAMPS)
        kiln_buf_printf(&b, "%s\"inserted_at\" %s NOT NULL, \"updated_at\" %s NOT NULL", sep, type_sql(d, KILN_T_UTC),
                        type_sql(d, KILN_T_UTC));
    kiln_buf_puts(&b, ")");
    return exec_buf(m, &b);
}

static int exec_fmt(kiln_mig_t *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int exec_fmt(kiln_mig_t *m, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *sql = NULL;
    int n = vasprintf(&sql, fmt, ap);
    va_end(ap);
    const char *copy = n >= 0 ? kiln_arena_strndup(m->a, sql, (size_t)n) : NULL;
    free(sql);
    return exec_sql(m, copy);
}

int kiln_mig_drop_table(kiln_mig_t *m, const char *table)
{
    return exec_fmt(m, "DROP TABLE \"%s\"", table);
}

int kiln_mig_rename_table(kiln_mig_t *m, const char *from, const char *to)
{
    return exec_fmt(m, "ALTER TABLE \"%s\" RENAME TO \"%s\"", from, to);
}

int kiln_mig_add_column(kiln_mig_t *m, const char *table, const kiln_column_t *col)
{
    kiln_buf_t b;
    kiln_buf_init(&b, 1 << 16);
    kiln_buf_printf(&b, "ALTER TABLE \"%s\" ADD COLUMN ", table);
    column_def(&b, kiln_mig_dialect(m), table, col);
    return exec_buf(m, &b);
}

int kiln_mig_remove_column(kiln_mig_t *m, const char *table, const char *column)
{
    return exec_fmt(m, "ALTER TABLE \"%s\" DROP COLUMN \"%s\"", table, column);
}

int kiln_mig_rename_column(kiln_mig_t *m, const char *table, const char *from, const char *to)
{
    return exec_fmt(m, "ALTER TABLE \"%s\" RENAME COLUMN \"%s\" TO \"%s\"", table, from, to);
}

/* SQLite's documented procedure (https://sqlite.org/lang_altertable.html,
 * "other kinds of table schema changes"): new table, copy, drop, rename,
 * recreate indexes. Column types, NOT NULL, defaults, the primary key and
 * foreign keys are carried over from PRAGMA table_info / foreign_key_list;
 * CHECK constraints are not (see docs/guides/data.md). */
static int rebuild_sqlite(kiln_mig_t *m, const char *table, const kiln_column_t *col)
{
    kiln_rows_t *cols, *fks, *idx;
    const char *t = kiln_arena_sprintf(m->a, "%s", table);
    if (m->err) return m->err;
    if (kiln_repo_query(m->tx, m->a, "SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_info(?)",
                        &KILN_VTEXT(t), 1, &cols) < 0 ||
        kiln_repo_query(m->tx, m->a, "SELECT \"from\", \"table\", on_delete FROM pragma_foreign_key_list(?)",
                        &KILN_VTEXT(t), 1, &fks) < 0 ||
        kiln_repo_query(m->tx, m->a, "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL",
                        &KILN_VTEXT(t), 1, &idx) < 0 || !cols->n_rows) {
        snprintf(m->message, sizeof m->message, "cannot read the definition of table %s", table);
        return m->err = KILN_EDB;
    }
    kiln_buf_t b, names;
    kiln_buf_init(&b, 1 << 20);
    kiln_buf_init(&names, 1 << 16);
    kiln_buf_printf(&b, "CREATE TABLE \"kiln_new_%s\" (", table);
    for (size_t i = 0; i < cols->n_rows; i++) {
        const char *name = kiln_rows_at(cols, i, 0)->s;
        kiln_buf_printf(&names, "%s\"%s\"", i ? ", " : "", name);
        if (i) kiln_buf_puts(&b, ", ");
        if (!strcmp(name, col->name)) {
            column_def(&b, KILN_DB_SQLITE, table, col);
            continue;
        }
        kiln_buf_printf(&b, "\"%s\" %s", name, kiln_rows_at(cols, i, 1)->s);
        if (kiln_rows_at(cols, i, 4)->i) kiln_buf_puts(&b, " PRIMARY KEY");
        if (kiln_rows_at(cols, i, 2)->i) kiln_buf_puts(&b, " NOT NULL");
        if (kiln_rows_at(cols, i, 3)->kind == KILN_VAL_TEXT) kiln_buf_printf(&b, " DEFAULT %s", kiln_rows_at(cols, i, 3)->s);
        for (size_t f = 0; f < fks->n_rows; f++)
            if (!strcmp(kiln_rows_at(fks, f, 0)->s, name))
                kiln_buf_printf(&b, " CONSTRAINT \"%s_%s_fkey\" REFERENCES \"%s\"(\"id\") ON DELETE %s", table, name,
                                kiln_rows_at(fks, f, 1)->s, kiln_rows_at(fks, f, 2)->s);
    }
    kiln_buf_puts(&b, ")");
    exec_buf(m, &b);
    exec_fmt(m, "INSERT INTO \"kiln_new_%s\" (%s) SELECT %s FROM \"%s\"", table, names.data, names.data, table);
    kiln_buf_free(&names);
    exec_fmt(m, "DROP TABLE \"%s\"", table);
    exec_fmt(m, "ALTER TABLE \"kiln_new_%s\" RENAME TO \"%s\"", table, table);
    for (size_t i = 0; i < idx->n_rows; i++) exec_sql(m, kiln_rows_at(idx, i, 0)->s);
    return m->err;
}

int kiln_mig_alter_column(kiln_mig_t *m, const char *table, const kiln_column_t *col)
{
    if (kiln_mig_dialect(m) == KILN_DB_SQLITE) return m->err ? m->err : rebuild_sqlite(m, table, col);
    const char *type = type_sql(KILN_DB_POSTGRES, col->type);
    exec_fmt(m, "ALTER TABLE \"%s\" ALTER COLUMN \"%s\" TYPE %s USING \"%s\"::%s", table, col->name, type, col->name,
             type);
    return exec_fmt(m, "ALTER TABLE \"%s\" ALTER COLUMN \"%s\" %s NOT NULL", table, col->name,
                    col->not_null ? "SET" : "DROP");
}

int kiln_mig_create_index(kiln_mig_t *m, const char *table, const char *const *cols, int unique, const char *name,
                          const char *where_sql)
{
    kiln_buf_t b, auto_name;
    kiln_buf_init(&b, 1 << 16);
    kiln_buf_init(&auto_name, 1 << 12);
    kiln_buf_puts(&auto_name, table);
    for (size_t i = 0; cols[i]; i++) kiln_buf_printf(&auto_name, "_%s", cols[i]);
    kiln_buf_puts(&auto_name, "_index");
    kiln_buf_printf(&b, "CREATE %sINDEX \"%s\" ON \"%s\" (", unique ? "UNIQUE " : "", name ? name : auto_name.data,
                    table);
    for (size_t i = 0; cols[i]; i++) kiln_buf_printf(&b, "%s\"%s\"", i ? ", " : "", cols[i]);
    kiln_buf_puts(&b, ")");
    if (where_sql) kiln_buf_printf(&b, " WHERE %s", where_sql);
    kiln_buf_free(&auto_name);
    return exec_buf(m, &b);
}

int kiln_mig_drop_index(kiln_mig_t *m, const char *name)
{
    return exec_fmt(m, "DROP INDEX \"%s\"", name);
}

int kiln_mig_execute(kiln_mig_t *m, const char *sqlite_sql, const char *postgres_sql)
{
    const char *sql = kiln_mig_dialect(m) == KILN_DB_SQLITE ? sqlite_sql : postgres_sql;
    return sql ? exec_sql(m, sql) : m->err;
}

/* ---- runners ---- */

typedef struct step {
    const kiln_migration_t *mig;
    int up;
    int skipped;
    kiln_mig_t m;
} step_t;

static int prologue(kiln_repo_t *tx, kiln_arena_t *a)
{
    if (kiln_repo_dialect(tx) == KILN_DB_POSTGRES &&
        kiln_repo_query(tx, a, "SELECT pg_advisory_xact_lock(" MIGRATION_LOCK_KEY ")", NULL, 0, NULL) < 0)
        return KILN_EDB;
    return kiln_repo_query(tx, a,
                           "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, "
                           "name TEXT NOT NULL, inserted_at TEXT NOT NULL)",
                           NULL, 0, NULL);
}

static int prologue_tx(kiln_repo_t *tx, void *arena)
{
    return prologue(tx, arena);
}

static int is_applied(kiln_repo_t *tx, kiln_arena_t *a, int64_t version)
{
    kiln_rows_t *rows;
    int rc = kiln_repo_query(tx, a, kiln_repo_sql(tx, a, "SELECT 1 FROM schema_migrations WHERE version = ?"),
                             &KILN_VINT(version), 1, &rows);
    return rc < 0 ? rc : rows->n_rows > 0;
}

static int run_step(kiln_repo_t *tx, void *ud)
{
    step_t *s = ud;
    int rc = prologue(tx, s->m.a);
    if (rc < 0) {
        snprintf(s->m.message, sizeof s->m.message, "cannot take the migration lock or create schema_migrations");
        return rc;
    }
    rc = is_applied(tx, s->m.a, s->mig->version);
    if (rc < 0) return rc;
    if (rc == s->up) {
        s->skipped = 1; /* another migrator got there first */
        return 0;
    }
    s->m.tx = tx;
    rc = s->up ? s->mig->up(&s->m) : s->mig->down(&s->m);
    if (rc < 0 || s->m.err < 0) return s->m.err < 0 ? s->m.err : rc;
    char now[20];
    kiln_utc_format((int64_t)time(NULL), now);
    kiln_val_t p[] = { KILN_VINT(s->mig->version), KILN_VTEXT(s->mig->name), KILN_VTEXT(now) };
    const char *sql = s->up ? "INSERT INTO schema_migrations (version, name, inserted_at) VALUES (?, ?, ?)"
                            : "DELETE FROM schema_migrations WHERE version = ?";
    rc = kiln_repo_query(tx, s->m.a, kiln_repo_sql(tx, s->m.a, sql), p, s->up ? 3 : 1, NULL);
    return rc < 0 ? rc : 0;
}

static int apply(kiln_repo_t *repo, const kiln_migration_t *mig, int up, FILE *log)
{
    kiln_arena_t a;
    kiln_arena_init(&a, 8192);
    step_t s = { .mig = mig, .up = up, .m = { .a = &a } };
    int64_t t0 = kiln_now_ms();
    int rc = kiln_repo_transaction(repo, run_step, &s);
    if (rc < 0 && log) {
        fprintf(log, "migration %lld %s failed (%s): %s\n", (long long)mig->version, mig->name,
                up ? "up" : "down", s.m.message[0] ? s.m.message : kiln_repo_strerror(rc));
        if (s.m.statement[0]) fprintf(log, "  statement: %s\n", s.m.statement);
        fprintf(log, "  rolled back: nothing was recorded\n");
    } else if (log && !s.skipped) {
        fprintf(log, "== %lld %s: %s (%lld ms)\n", (long long)mig->version, mig->name, up ? "migrated" : "reverted",
                (long long)(kiln_now_ms() - t0));
    }
    kiln_arena_destroy(&a);
    return rc < 0 ? rc : 0;
}

static int by_version(const void *a, const void *b)
{
    int64_t x = (*(const kiln_migration_t *const *)a)->version, y = (*(const kiln_migration_t *const *)b)->version;
    return x < y ? -1 : x > y;
}

/* The migrations in version order (an array of pointers; free it). */
static const kiln_migration_t **sorted(const kiln_migration_t *migs, size_t n)
{
    const kiln_migration_t **v = kiln_xmalloc((n ? n : 1) * sizeof *v);
    for (size_t i = 0; i < n; i++) v[i] = &migs[i];
    qsort(v, n, sizeof *v, by_version);
    return v;
}

/* Applied versions, ascending, in a (via *rows). */
static int applied(kiln_repo_t *repo, kiln_arena_t *a, kiln_rows_t **rows)
{
    int rc = kiln_repo_transaction(repo, prologue_tx, a);
    if (rc < 0) return rc;
    return kiln_repo_query(repo, a, "SELECT version, name FROM schema_migrations ORDER BY version", NULL, 0, rows);
}

int kiln_migrate(kiln_repo_t *repo, const kiln_migration_t *migs, size_t n, FILE *log)
{
    const kiln_migration_t **v = sorted(migs, n);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) rc = apply(repo, v[i], 1, log);
    free(v);
    return rc;
}

int kiln_rollback(kiln_repo_t *repo, const kiln_migration_t *migs, size_t n, int steps, FILE *log)
{
    kiln_arena_t a;
    kiln_arena_init(&a, 4096);
    kiln_rows_t *rows;
    int rc = applied(repo, &a, &rows);
    for (size_t k = rows && rc >= 0 ? rows->n_rows : 0, done = 0; rc >= 0 && k > 0 && done < (size_t)steps; k--, done++) {
        int64_t version = kiln_rows_at(rows, k - 1, 0)->i;
        const kiln_migration_t *mig = NULL;
        for (size_t i = 0; i < n; i++)
            if (migs[i].version == version) mig = &migs[i];
        if (!mig || !mig->down) {
            if (log) fprintf(log, "migration %lld cannot be rolled back: %s\n", (long long)version,
                             mig ? "it has no down" : "it is not in this binary");
            rc = KILN_EINVAL;
            break;
        }
        rc = apply(repo, mig, 0, log);
    }
    kiln_arena_destroy(&a);
    return rc < 0 ? rc : 0;
}

int kiln_migrations_status(kiln_repo_t *repo, const kiln_migration_t *migs, size_t n, FILE *out)
{
    kiln_arena_t a;
    kiln_arena_init(&a, 4096);
    kiln_rows_t *rows;
    int rc = applied(repo, &a, &rows);
    if (rc >= 0) {
        const kiln_migration_t **v = sorted(migs, n);
        fprintf(out, "status  version         name\n");
        for (size_t i = 0; i < n; i++) {
            bool up = false;
            for (size_t r = 0; r < rows->n_rows; r++) up = up || kiln_rows_at(rows, r, 0)->i == v[i]->version;
            fprintf(out, "%-7s %-15lld %s\n", up ? "up" : "down", (long long)v[i]->version, v[i]->name);
        }
        for (size_t r = 0; r < rows->n_rows; r++) {
            bool known = false;
            for (size_t i = 0; i < n; i++) known = known || migs[i].version == kiln_rows_at(rows, r, 0)->i;
            if (!known)
                fprintf(out, "%-7s %-15lld %s (not in this binary)\n", "up", (long long)kiln_rows_at(rows, r, 0)->i,
                        kiln_rows_at(rows, r, 1)->s);
        }
        free(v);
    }
    kiln_arena_destroy(&a);
    return rc < 0 ? rc : 0;
}

int kiln_migration_command(const char *app, const char *database_url, const char *cmd, const char *arg,
                           const kiln_migration_t *migs, size_t n)
{
    if (!database_url) {
        fprintf(stderr, "%s: %s needs DATABASE_URL (e.g. sqlite:data/%s.db)\n", app, cmd, app);
        return 1;
    }
    int steps = 1;
    if (arg) {
        char *end;
        long x = strtol(arg, &end, 10);
        if (strcmp(cmd, "rollback") || !*arg || *end || x < 1 || x > 1000000) {
            fprintf(stderr, "%s: %s: bad argument \"%s\"\n", app, cmd, arg);
            return 2;
        }
        steps = (int)x;
    }
    char err[256];
    kiln_repo_t *repo;
    if (kiln_repo_open(database_url, &repo, err, sizeof err) < 0) {
        fprintf(stderr, "%s: %s\n", app, err);
        return 1;
    }
    int rc = !strcmp(cmd, "migrate")    ? kiln_migrate(repo, migs, n, stderr)
             : !strcmp(cmd, "rollback") ? kiln_rollback(repo, migs, n, steps, stderr)
                                        : kiln_migrations_status(repo, migs, n, stdout);
    kiln_repo_close(repo);
    if (rc < 0) fprintf(stderr, "%s: %s failed: %s\n", app, cmd, kiln_repo_strerror(rc));
    return rc < 0 ? 1 : 0;
}
