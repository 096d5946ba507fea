/* Kiln migrations: versioned, database-neutral schema changes compiled into
 * the app (Ecto.Migration). Every app binary runs them:
 *
 *   APP migrate          apply every pending migration, in version order
 *   APP rollback [N]     revert the last N applied migrations (default 1)
 *   APP migrations       list each migration with its status
 *
 *   static int create_users(kiln_mig_t *m) {
 *       return kiln_mig_create_table(m, "users", (kiln_column_t[]){
 *           { .name = "email", .type = KILN_T_TEXT, .not_null = 1 },
 *           { .name = "org_id", .type = KILN_T_INTEGER, .references = "orgs", .on_delete = "CASCADE" },
 *       }, 2, KILN_MIG_TIMESTAMPS);
 *   }
 *   static int drop_users(kiln_mig_t *m) { return kiln_mig_drop_table(m, "users"); }
 *   const kiln_migration_t app_migrations[] = { { 20240101120000, "create_users", create_users, drop_users } };
 *
 * Each migration runs in its own transaction together with its row in
 * schema_migrations, under a lock that serialises concurrent migrators
 * (PostgreSQL: an advisory lock; SQLite: BEGIN IMMEDIATE), and is skipped if
 * another migrator applied it meanwhile. The first failing statement stops the
 * migration: the transaction rolls back, nothing is recorded, and the error
 * names the statement. Each kiln_mig_* call returns 0 or that error, and does
 * nothing once the migration has failed, so a body may chain calls and return
 * the last result. */
#ifndef KILN_MIGRATION_H
#define KILN_MIGRATION_H

#include <stdio.h>
#include "kiln/repo.h"
#include "kiln/schema.h"

typedef struct kiln_mig kiln_mig_t;

typedef struct kiln_migration {
    int64_t version; /* unique, increasing: e.g. a timestamp 20240101120000 */
    const char *name;
    int (*up)(kiln_mig_t *m);
    int (*down)(kiln_mig_t *m); /* NULL: irreversible (rollback stops there) */
} kiln_migration_t;

/* A column. Every table gets "id" (an auto-incrementing integer primary key)
 * unless created with KILN_MIG_NO_ID. default_sql is SQL text written by the
 * programmer (e.g. "0", "'draft'"), never data. */
typedef struct kiln_column {
    const char *name;
    kiln_type_t type;
    int not_null;
    const char *default_sql;
    const char *references; /* a table: a foreign key to its id */
    const char *on_delete;  /* "CASCADE", "SET NULL", "RESTRICT"; NULL = NO ACTION */
    const char *check;      /* a CHECK expression (program text), named <table>_<column>_check */
} kiln_column_t;

enum { KILN_MIG_TIMESTAMPS = 1, KILN_MIG_NO_ID = 2 };

int kiln_mig_create_table(kiln_mig_t *m, const char *table, const kiln_column_t *cols, size_t n, int flags);
int kiln_mig_drop_table(kiln_mig_t *m, const char *table);
int kiln_mig_rename_table(kiln_mig_t *m, const char *from, const char *to);
int kiln_mig_add_column(kiln_mig_t *m, const char *table, const kiln_column_t *col);
int kiln_mig_remove_column(kiln_mig_t *m, const char *table, const char *column);
int kiln_mig_rename_column(kiln_mig_t *m, const char *table, const char *from, const char *to);
/* Changes a column's type (and NOT NULL). PostgreSQL alters it in place;
 * SQLite cannot, so the table is rebuilt as SQLite documents (create the new
 * table, copy, drop, rename, recreate its indexes). */
int kiln_mig_alter_column(kiln_mig_t *m, const char *table, const kiln_column_t *col);
/* name NULL = <table>_<col>[_<col>]_index. where_sql (program text) makes it partial. */
int kiln_mig_create_index(kiln_mig_t *m, const char *table, const char *const *cols, int unique, const char *name,
                          const char *where_sql);
int kiln_mig_drop_index(kiln_mig_t *m, const char *name);
/* Raw SQL per database (NULL = nothing on that one). */
int kiln_mig_execute(kiln_mig_t *m, const char *sqlite_sql, const char *postgres_sql);
/* The migration's transaction, for data changes (seeds, backfills). */
kiln_repo_t *kiln_mig_repo(kiln_mig_t *m);
kiln_dialect_t kiln_mig_dialect(const kiln_mig_t *m);

/* Runners. They write progress lines to log (may be NULL) and return 0, or a
 * negative error after writing the reason to log. */
int kiln_migrate(kiln_repo_t *repo, const kiln_migration_t *migs, size_t n, FILE *log);
int kiln_rollback(kiln_repo_t *repo, const kiln_migration_t *migs, size_t n, int steps, FILE *log);
int kiln_migrations_status(kiln_repo_t *repo, const kiln_migration_t *migs, size_t n, FILE *out);

/* The command line (called by kiln_main): cmd is "migrate", "rollback" or
 * "migrations", arg the optional N. Returns the process exit code. */
int kiln_migration_command(const char *app, const char *database_url, const char *cmd, const char *arg,
                           const kiln_migration_t *migs, size_t n);

#endif
