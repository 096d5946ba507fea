/* Kiln repo: one API over SQLite and PostgreSQL (issue 4, docs/guides/data.md).
 *
 * A repo is opened from a DATABASE_URL and hands each statement to an adapter
 * (a const ops struct, src/data/data_int.h). Values always travel as bound
 * parameters (kiln_val_t); no function here or in kiln/query.h puts a value
 * into SQL text. Results come back as kiln_rows_t, every byte of which lives in
 * the caller's arena.
 *
 * Waiting: called on a coroutine (a request handler, a process), a database
 * call parks that coroutine and never blocks the scheduler thread (PostgreSQL:
 * libpq's socket in the event loop; SQLite: see docs/adr/0020). Called from a
 * plain thread (the `migrate` command, a test's main), it blocks that thread.
 *
 * Transactions: kiln_repo_transaction gives its callback a repo handle bound to
 * one connection; statements inside the transaction must go through that
 * handle. Nested calls on that handle become savepoints. */
#ifndef KILN_REPO_H
#define KILN_REPO_H

#include <stdint.h>
#include <string.h>
#include "kiln/core.h"

/* Errors of the data layer, beyond core's KILN_E* (negative, disjoint). */
enum {
    KILN_EDB = -40,         /* the database refused the statement; see kiln_rows_t.error */
    KILN_ECONSTRAINT = -41, /* a unique / foreign-key / check / not-null constraint failed */
    KILN_ESTALE = -42,      /* optimistic locking: the row changed (or vanished) since it was read */
    KILN_EMULTIPLE = -43,   /* kiln_repo_one: more than one row */
    KILN_EINVALID = -44     /* a changeset with errors was given to insert/update: nothing was sent */
};
/* kiln_strerror for data errors too (falls back to kiln_strerror). */
const char *kiln_repo_strerror(int err);

/* ---- DATABASE_URL ------------------------------------------------------- */

typedef enum { KILN_DB_SQLITE = 1, KILN_DB_POSTGRES = 2 } kiln_dialect_t;

/* A parsed DATABASE_URL; strings owned by it (kiln_db_url_free). */
typedef struct kiln_db_url {
    kiln_dialect_t dialect;
    char *path;             /* SQLite: absolute path, or NULL for sqlite::memory: */
    char *user, *password;  /* PostgreSQL: percent-decoded; NULL when absent */
    char *host;             /* NULL = libpq's default (the local socket) */
    int port;               /* 0 = 5432 */
    char *dbname;
    char *sslmode;          /* ?sslmode=…, NULL = libpq's default */
    int pool_size;          /* ?pool_size=N: PostgreSQL connections; 0 -> 10 */
    int checkout_timeout_ms;/* ?checkout_timeout=MS: wait for a pool connection; 0 -> 5000 */
    int busy_timeout_ms;    /* ?busy_timeout=MS (SQLite): give up on a lock after; 0 -> 5000 */
    int inline_budget_ms;   /* ?inline_budget=MS (SQLite): a read on the scheduler thread longer
                               than this moves to the blocking pool; 0 -> 2 */
    int slow_ms;            /* ?slow_ms=MS: slow-query log threshold; 0 -> 200, -1 = off */
    int timeout_ms;         /* ?timeout=MS (PostgreSQL): longest wait for the server during one
                               statement before the connection is given up; 0 -> 15000 */
} kiln_db_url_t;

/* Parses url (rules in docs/guides/data.md). Relative SQLite paths are made
 * absolute against the working directory. Returns 0, or KILN_EINVAL with a
 * one-line reason in err. */
int kiln_db_url_parse(const char *url, kiln_db_url_t *out, char *err, size_t errlen);
void kiln_db_url_free(kiln_db_url_t *u);

/* ---- Values and rows ---------------------------------------------------- */

typedef enum { KILN_VAL_NULL, KILN_VAL_INT, KILN_VAL_FLOAT, KILN_VAL_TEXT, KILN_VAL_BLOB } kiln_val_kind_t;

/* A bound parameter or a result cell. s/len borrow bytes (TEXT is also
 * NUL-terminated in results). Booleans are INT 0/1. */
typedef struct kiln_val {
    kiln_val_kind_t kind;
    int64_t i;
    double f;
    const char *s;
    size_t len;
} kiln_val_t;

#define KILN_VNULL ((kiln_val_t){ .kind = KILN_VAL_NULL })
#define KILN_VINT(x) ((kiln_val_t){ .kind = KILN_VAL_INT, .i = (int64_t)(x) })
#define KILN_VFLOAT(x) ((kiln_val_t){ .kind = KILN_VAL_FLOAT, .f = (double)(x) })
#define KILN_VTEXT(str) ((kiln_val_t){ .kind = KILN_VAL_TEXT, .s = (str), .len = strlen(str) })
#define KILN_VTEXTN(p, n) ((kiln_val_t){ .kind = KILN_VAL_TEXT, .s = (p), .len = (n) })
#define KILN_VBLOB(p, n) ((kiln_val_t){ .kind = KILN_VAL_BLOB, .s = (const char *)(p), .len = (n) })

/* What the database said when a statement failed. */
typedef enum {
    KILN_DBERR_NONE,
    KILN_DBERR_UNIQUE,
    KILN_DBERR_FOREIGN_KEY,
    KILN_DBERR_CHECK,
    KILN_DBERR_NOT_NULL,
    KILN_DBERR_BUSY,       /* SQLite: still locked after busy_timeout */
    KILN_DBERR_CONNECTION, /* the connection broke: the pool replaces it */
    KILN_DBERR_OTHER
} kiln_dberr_kind_t;

typedef struct kiln_db_error {
    kiln_dberr_kind_t kind;
    char sqlstate[6];      /* PostgreSQL SQLSTATE, "" on SQLite */
    char constraint[128];  /* PG: constraint name; SQLite: "table.col[,table.col]" or the CHECK name */
    char message[256];
} kiln_db_error_t;

/* A statement's result, in the caller's arena. */
typedef struct kiln_rows {
    size_t n_rows, n_cols;
    const char **cols; /* n_cols names */
    kiln_val_t *vals;  /* n_rows * n_cols, row-major */
    int64_t changes;   /* rows inserted/updated/deleted by a write */
    kiln_db_error_t error;
    /* Timing, for telemetry: waiting for a connection or the writer, running, converting. */
    int64_t queue_ns, query_ns, decode_ns;
} kiln_rows_t;

static inline const kiln_val_t *kiln_rows_at(const kiln_rows_t *r, size_t row, size_t col)
{
    return &r->vals[row * r->n_cols + col];
}
/* The index of column name, or -1. */
int kiln_rows_col(const kiln_rows_t *r, const char *name);

/* ---- The repo ----------------------------------------------------------- */

typedef struct kiln_repo kiln_repo_t;

/* Opens the database url names. SQLite opens (and creates) the file now;
 * PostgreSQL connects lazily, on first use. Owned by the caller: close with
 * kiln_repo_close once no call is running. Returns 0 or KILN_EINVAL / KILN_EDB
 * with a one-line reason in err. */
int kiln_repo_open(const char *url, kiln_repo_t **out, char *err, size_t errlen);
void kiln_repo_close(kiln_repo_t *repo);
kiln_dialect_t kiln_repo_dialect(const kiln_repo_t *repo);

/* Runs one statement with bound parameters (SQLite `?`, PostgreSQL `$1`; or
 * write `?` everywhere and call kiln_repo_sql to translate). *out (may be NULL)
 * gets the result, also on a database error (then out->error says why).
 * Returns the number of rows (reads) or changes (writes), KILN_EDB,
 * KILN_ECONSTRAINT, KILN_ECLOSED (connection lost), KILN_ETIMEDOUT (no pool
 * connection in time) or KILN_EAGAIN (PostgreSQL reconnecting: backoff). */
int kiln_repo_query(kiln_repo_t *repo, kiln_arena_t *a, const char *sql, const kiln_val_t *params, size_t n,
                    kiln_rows_t **out);
/* One statement of a batch: sql with its n bound parameters (all borrowed). */
typedef struct kiln_stmt {
    const char *sql;
    const kiln_val_t *params;
    size_t n;
} kiln_stmt_t;
/* Runs n independent statements and gives each its own result: *out (may be
 * NULL) gets an array of n kiln_rows_t in a, out[i] for stmts[i], errors
 * included. On PostgreSQL they go in one pipeline on one connection (libpq
 * pipeline mode: one round trip, each statement followed by its own sync, so
 * outside a transaction each commits or fails on its own); on SQLite they run
 * one after another. Every statement runs even when an earlier one failed
 * (unless the connection broke). Returns 0 when all succeeded, else the first
 * failure's error as kiln_repo_query returns it. */
int kiln_repo_query_batch(kiln_repo_t *repo, kiln_arena_t *a, const kiln_stmt_t *stmts, size_t n, kiln_rows_t **out);
/* sql with each `?` outside quotes rewritten to the repo's placeholder ($1…),
 * in arena a. Raw-SQL convenience for code that targets both databases. */
const char *kiln_repo_sql(const kiln_repo_t *repo, kiln_arena_t *a, const char *sql);

/* Runs fn(tx, ud) in a transaction (a savepoint when repo is already a
 * transaction handle). fn returning >= 0 commits, < 0 rolls back; returns fn's
 * result, or the commit's error. tx is valid only inside fn. */
int kiln_repo_transaction(kiln_repo_t *repo, int (*fn)(kiln_repo_t *tx, void *ud), void *ud);
/* Runs fn(held, ud) with one connection checked out for all of fn's
 * statements through held (Ecto's Repo.checkout): a handler that runs many
 * statements waits for the pool once instead of once per statement. No
 * transaction is opened: each statement commits on its own, and
 * kiln_repo_transaction(held, ...) runs on the held connection. On SQLite
 * (one writer, per-thread readers) fn simply gets repo. held is valid only
 * inside fn. Returns fn's result, or the pool's error (KILN_ETIMEDOUT …). */
int kiln_repo_checkout(kiln_repo_t *repo, int (*fn)(kiln_repo_t *held, void *ud), void *ud);
/* Non-zero when repo is a transaction handle. */
int kiln_repo_in_transaction(const kiln_repo_t *repo);

/* The test sandbox (Phoenix's DataCase): begin opens a transaction that end
 * always rolls back, and gives a handle for the test to use; nested
 * transactions inside it are savepoints. Returns 0 or an error. */
int kiln_repo_sandbox_begin(kiln_repo_t *repo, kiln_repo_t **sandbox);
void kiln_repo_sandbox_end(kiln_repo_t *sandbox);

/* Telemetry: every statement emits KILN_REPO_EVENT with measurements
 * queue_us, query_us, decode_us, total_us, rows and metadata source (the
 * table, or "raw"), result ("ok" or an error name), repo ("sqlite"/"postgres")
 * and sql. Statements slower than the URL's slow_ms log one warn line. */
#define KILN_REPO_EVENT "kiln.repo.query"

#endif
