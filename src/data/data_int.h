/* Internal interfaces of the data layer: the adapter ops struct every database
 * implements, the repo handle, and the waiting primitives the adapters share
 * (a lock and an fd wait that park a coroutine, or block a plain thread). */
#ifndef KILN_DATA_INT_H
#define KILN_DATA_INT_H

#include <pthread.h>
#include <stdbool.h>

#include "kiln/repo.h"
#include "kiln/runtime.h"

typedef struct kiln__db_conn kiln__db_conn_t; /* an adapter's connection */

/* Where exec_into decodes rows: structs of schema s at recs (zeroed), room
 * for cap of them. With grow set, recs may start NULL and is replaced by a
 * bigger zeroed array in the arena as rows come; without it, rows past cap
 * are counted in out->n_rows but not decoded. */
typedef struct kiln_schema kiln_schema_t;
typedef struct kiln__into {
    const kiln_schema_t *s;
    char *recs;
    size_t cap;
    bool grow;
} kiln__into_t;

/* An adapter. exec with conn == NULL lets the adapter choose a connection
 * (SQLite: a reader for a read, the writer for a write; PostgreSQL: a pooled
 * one for the one statement); with a conn it runs there (a transaction).
 * exec fills out (allocated by the caller) in arena a and returns as
 * kiln_repo_query does. */
#define KILN__DB_ADAPTER_ABI 4
typedef struct kiln__db_adapter {
    int abi;
    const char *name;
    kiln_dialect_t dialect;
    const char *begin_sql; /* "BEGIN IMMEDIATE" / "BEGIN" */
    /* Statements outside a transaction take a pooled connection each, so
       kiln_repo_checkout can save the pool round trips by holding one. False
       where holding one would serialize others (SQLite's single writer). */
    bool pooled;
    int (*open)(const kiln_db_url_t *url, void **state, char *err, size_t errlen);
    void (*close)(void *state);
    /* A connection held for a transaction, until checkin. */
    int (*checkout)(void *state, kiln__db_conn_t **out, int64_t *queue_ns);
    void (*checkin)(void *state, kiln__db_conn_t *conn);
    int (*exec)(void *state, kiln__db_conn_t *conn, kiln_arena_t *a, const char *sql, const kiln_val_t *params,
                size_t n, kiln_rows_t *out);
    /* Independent statements as one batch, out[i] for stmts[i] (kiln_repo_query_batch);
       NULL: the repo runs them one by one through exec. into: NULL, or one per
       statement, statement i's rows decoded into into[i] as exec_into does (an
       adapter with exec_batch has exec_into). Returns 0 or the first error. */
    int (*exec_batch)(void *state, kiln__db_conn_t *conn, kiln_arena_t *a, const kiln_stmt_t *stmts, size_t n,
                      kiln__into_t *into, kiln_rows_t *out);
    /* exec with the rows decoded straight into structs (into), without out->vals
       or out->cols; NULL: the repo runs exec and decodes the values
       (kiln__repo_query_into). */
    int (*exec_into)(void *state, kiln__db_conn_t *conn, kiln_arena_t *a, const char *sql, const kiln_val_t *params,
                     size_t n, kiln__into_t *into, kiln_rows_t *out);
} kiln__db_adapter_t;

extern const kiln__db_adapter_t kiln__sqlite_adapter;
extern const kiln__db_adapter_t kiln__postgres_adapter;

struct kiln_repo {
    const kiln__db_adapter_t *ad;
    void *state;               /* the adapter's, shared by every handle of this repo */
    kiln_repo_t *root;         /* the handle kiln_repo_open returned */
    kiln__db_conn_t *conn;     /* set on transaction and checkout handles */
    bool held;                 /* conn belongs to an enclosing kiln_repo_checkout */
    int depth;                 /* 0 outside a transaction, 1 in it, 2+ in savepoints */
    int slow_ms;
};

/* kiln_repo_query with a telemetry source name (a table, or "raw"). */
int kiln__repo_query(kiln_repo_t *repo, kiln_arena_t *a, const char *source, const char *sql,
                     const kiln_val_t *params, size_t n, kiln_rows_t **out);

/* kiln__repo_query with the rows decoded into into's structs (kiln__into_t).
 * Returns the number of rows, as kiln__repo_query. */
int kiln__repo_query_into(kiln_repo_t *repo, kiln_arena_t *a, const char *source, const char *sql,
                          const kiln_val_t *params, size_t n, kiln__into_t *into, kiln_rows_t **out);

/* n statements that each read one row of schema s, decoded into recs + i *
 * s->size (zeroed): as one exec_batch with a kiln__into_t per statement where
 * the adapter has it (a PostgreSQL pipeline), else one by one through
 * exec_into (or exec and a decode). (*out)[i].n_rows tells how many rows
 * statement i found (only the first is decoded). Returns 0 or the first
 * error. */
int kiln__repo_batch_into(kiln_repo_t *repo, kiln_arena_t *a, const char *source, const kiln_stmt_t *stmts, size_t n,
                          const kiln_schema_t *s, char *recs, kiln_rows_t **out);

/* kiln_repo_query_batch with a telemetry source name. */
int kiln__repo_query_batch(kiln_repo_t *repo, kiln_arena_t *a, const char *source, const kiln_stmt_t *stmts, size_t n,
                           kiln_rows_t **out);

/* Compiles q: KILN__Q_SELECT as kiln_query_compile does; KILN__Q_WHERE emits
 * head then only q's WHERE clause (UPDATE/DELETE … WHERE), with n_pre params
 * (head's own placeholders) numbered first. */
enum { KILN__Q_SELECT, KILN__Q_WHERE };
typedef struct kiln_query kiln_query_t;
int kiln__query_compile(const kiln_query_t *q, kiln_dialect_t d, int mode, const char *head, const kiln_val_t *pre,
                        size_t n_pre, const char **sql, const kiln_val_t **params, size_t *n);

/* Compiles q with its select list replaced by agg, without order/limit. */
int kiln__query_aggregate(const kiln_query_t *q, kiln_dialect_t d, const char *agg, const char **sql,
                          const kiln_val_t **params, size_t *n);
kiln_arena_t *kiln__query_arena(const kiln_query_t *q);

/* ---- the SQL cache (sql_cache.c) ---- */

/* What a cached text is for: the schema it was built from, the dialect, the
 * statement kind and shape bits (e.g. an update's changed-field mask). */
enum { KILN__SQL_GET, KILN__SQL_ALL, KILN__SQL_UPDATE, KILN__SQL_UPDATE_RETURNING };
typedef struct kiln__sql_key {
    const void *schema;
    int kind;
    kiln_dialect_t dialect;
    uint64_t bits;
} kiln__sql_key_t;
/* The cached text for k, or NULL. */
const char *kiln__sql_get(const kiln__sql_key_t *k);
/* Caches a copy of sql for k and returns it (or the copy another thread put
 * first); returns sql itself when the cache is full. */
const char *kiln__sql_put(const kiln__sql_key_t *k, const char *sql);
/* Whether sql is a cached text: fixed for the life of the process, so its
 * address identifies it. */
bool kiln__sql_stable(const char *sql);

/* Whether q is a bare kiln_from(schema): no clause, so its SQL depends only
 * on the schema. */
bool kiln__query_bare(const kiln_query_t *q);

/* ---- waiting ---- */

/* A FIFO lock whose waiters are coroutines (parked) or plain threads
 * (blocked on cv). The holder is recorded so that a coroutine that already
 * holds it gets KILN_ESTATE instead of a deadlock. */
typedef struct kiln__waiter kiln__waiter_t;
typedef struct kiln__lock {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool held;
    const void *owner;
    kiln__waiter_t *head, *tail;
} kiln__lock_t;
void kiln__lock_init(kiln__lock_t *l);
void kiln__lock_destroy(kiln__lock_t *l);
/* Returns 0 once held, or KILN_ESTATE when the caller holds it already. */
int kiln__lock_acquire(kiln__lock_t *l);
void kiln__lock_release(kiln__lock_t *l);
/* Whether the caller holds l. */
bool kiln__lock_mine(kiln__lock_t *l);
/* The caller's identity: its coroutine, or its thread. */
const void *kiln__self_id(void);

/* Waits until fd is ready for events (KILN_IO_*) or timeout_ms passes (< 0:
 * forever). Parks a coroutine, polls on a plain thread. Returns 0,
 * KILN_ETIMEDOUT or KILN_EIO. */
int kiln__wait_fd(int fd, unsigned events, int64_t timeout_ms);
/* Sleeps ms: kiln_sleep on a coroutine, nanosleep elsewhere. */
void kiln__nap(int64_t ms);

/* ---- small helpers ---- */
kiln_val_t *kiln__rows_alloc(kiln_arena_t *a, kiln_rows_t *out, size_t n_rows, size_t n_cols);
void kiln__err_set(kiln_db_error_t *e, kiln_dberr_kind_t kind, const char *constraint, const char *msg);
int kiln__rc_for(kiln_dberr_kind_t kind);

#endif
