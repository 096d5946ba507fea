/* The repo: adapter dispatch, transactions and savepoints, the test sandbox,
 * and per-statement telemetry.
 *
 * A repo handle is either the root (kiln_repo_open's, shared by every
 * coroutine: it owns the adapter state) or a transaction handle, which lives
 * on the stack of kiln_repo_transaction for the duration of the callback and
 * holds one checked-out connection. Savepoints reuse the parent's connection
 * with a deeper handle, so that each level rolls back on its own.
 *
 * Telemetry is computed only when a handler listens or the slow-query log may
 * fire, since the clock reads are most of its cost. Adapters that time the
 * phases of a statement (queue, query, decode) do so only when a handler
 * listens (kiln_telemetry_enabled); otherwise the repo's own two clock reads
 * per statement (one per statement in a run of them) feed the slow-query log,
 * whose "query" then includes decoding. */
#include "data/schema_int.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln/telemetry.h"

const char *kiln_repo_strerror(int err)
{
    switch (err) {
    case KILN_EDB: return "database error";
    case KILN_ECONSTRAINT: return "constraint violation";
    case KILN_ESTALE: return "stale record (optimistic lock)";
    case KILN_EMULTIPLE: return "more than one row";
    case KILN_EINVALID: return "invalid changeset";
    default: return kiln_strerror(err);
    }
}

int kiln_rows_col(const kiln_rows_t *r, const char *name)
{
    for (size_t i = 0; i < r->n_cols; i++)
        if (!strcmp(r->cols[i], name)) return (int)i;
    return -1;
}

kiln_val_t *kiln__rows_alloc(kiln_arena_t *a, kiln_rows_t *out, size_t n_rows, size_t n_cols)
{
    out->n_rows = n_rows;
    out->n_cols = n_cols;
    if (!n_rows || !n_cols) return out->vals = NULL, (kiln_val_t *)out;
    if (n_rows > SIZE_MAX / n_cols / sizeof(kiln_val_t)) return NULL;
    out->vals = kiln_arena_alloc(a, n_rows * n_cols * sizeof(kiln_val_t));
    return out->vals;
}

/* n empty results in a: every field zero, the error's strings empty (the
 * string buffers themselves are not cleared: most of the struct's size). */
static kiln_rows_t *rows_new(kiln_arena_t *a, size_t n)
{
    kiln_rows_t *r = kiln_arena_alloc(a, (n ? n : 1) * sizeof *r);
    for (size_t i = 0; r && i < (n ? n : 1); i++) {
        memset(&r[i], 0, offsetof(kiln_rows_t, error));
        r[i].error.kind = KILN_DBERR_NONE;
        r[i].error.sqlstate[0] = r[i].error.constraint[0] = r[i].error.message[0] = 0;
        r[i].queue_ns = r[i].query_ns = r[i].decode_ns = 0;
    }
    return r;
}

void kiln__err_set(kiln_db_error_t *e, kiln_dberr_kind_t kind, const char *constraint, const char *msg)
{
    e->kind = kind;
    snprintf(e->constraint, sizeof e->constraint, "%s", constraint ? constraint : "");
    snprintf(e->message, sizeof e->message, "%s", msg ? msg : "");
}

int kiln__rc_for(kiln_dberr_kind_t kind)
{
    switch (kind) {
    case KILN_DBERR_NONE: return 0;
    case KILN_DBERR_UNIQUE:
    case KILN_DBERR_FOREIGN_KEY:
    case KILN_DBERR_CHECK:
    case KILN_DBERR_NOT_NULL: return KILN_ECONSTRAINT;
    case KILN_DBERR_CONNECTION: return KILN_ECLOSED;
    default: return KILN_EDB;
    }
}

int kiln_repo_open(const char *url, kiln_repo_t **out, char *err, size_t errlen)
{
    kiln_db_url_t u;
    int rc = kiln_db_url_parse(url, &u, err, errlen);
    if (rc < 0) return rc;
    kiln_repo_t *r = kiln_xcalloc(1, sizeof *r);
    r->ad = u.dialect == KILN_DB_SQLITE ? &kiln__sqlite_adapter : &kiln__postgres_adapter;
    r->root = r;
    r->slow_ms = u.slow_ms;
    rc = r->ad->open(&u, &r->state, err, errlen);
    kiln_db_url_free(&u);
    if (rc < 0) {
        free(r);
        return rc;
    }
    *out = r;
    return 0;
}

void kiln_repo_close(kiln_repo_t *repo)
{
    if (!repo) return;
    repo->ad->close(repo->state);
    free(repo);
}

kiln_dialect_t kiln_repo_dialect(const kiln_repo_t *repo)
{
    return repo->ad->dialect;
}

int kiln_repo_in_transaction(const kiln_repo_t *repo)
{
    return repo->depth > 0;
}

static const char *result_name(int rc, const kiln_rows_t *r)
{
    if (rc >= 0) return "ok";
    if (rc == KILN_ECONSTRAINT) {
        switch (r->error.kind) {
        case KILN_DBERR_UNIQUE: return "unique_violation";
        case KILN_DBERR_FOREIGN_KEY: return "foreign_key_violation";
        case KILN_DBERR_CHECK: return "check_violation";
        default: return "not_null_violation";
        }
    }
    return kiln_repo_strerror(rc);
}

static void report(const kiln_repo_t *repo, const char *source, const char *sql, int rc, const kiln_rows_t *r,
                   int64_t total_ns)
{
    double us = 1e-3;
    if (kiln_telemetry_enabled(KILN_REPO_EVENT)) {
        kiln_telemetry_execute(KILN_REPO_EVENT,
                               KILN_MEASUREMENTS({ "queue_us", (double)r->queue_ns * us },
                                                 { "query_us", (double)r->query_ns * us },
                                                 { "decode_us", (double)r->decode_ns * us },
                                                 { "total_us", (double)total_ns * us },
                                                 { "rows", (double)(r->n_rows ? r->n_rows : (size_t)r->changes) }),
                               KILN_METADATA({ "source", source }, { "result", result_name(rc, r) },
                                             { "repo", repo->ad->name }, { "sql", sql }));
    }
    if (repo->slow_ms >= 0 && total_ns >= (int64_t)repo->slow_ms * 1000000) {
        int64_t query_ns = r->query_ns ? r->query_ns : total_ns - r->queue_ns - r->decode_ns; /* untimed phases */
        kiln_log(KILN_LOG_WARN, "slow query: %.1f ms (queue %.1f, query %.1f, decode %.1f) source=%s rows=%zu: %.200s",
                 (double)total_ns / 1e6, (double)r->queue_ns / 1e6, (double)query_ns / 1e6,
                 (double)r->decode_ns / 1e6, source, r->n_rows, sql);
    }
}

/* Whether a statement of a batch that took total_ns is reported: a handler
 * listens (listen, asked once for the batch: a handler attached meanwhile sees
 * the next batch) or the statement is slow. Saves report()'s telemetry check
 * per statement when nobody listens. */
static bool to_report(const kiln_repo_t *repo, bool listen, int64_t total_ns)
{
    return listen || (repo->slow_ms >= 0 && total_ns >= (int64_t)repo->slow_ms * 1000000);
}

/* Runs a batch through the adapter's exec_batch (into: NULL or one per
 * statement) and reports each statement. */
static int exec_batch(kiln_repo_t *repo, kiln_arena_t *a, const char *source, const kiln_stmt_t *stmts, size_t n,
                      kiln__into_t *into, kiln_rows_t *r)
{
    /* A pipelined statement's query time runs from the batch's send to its result. */
    int rc = repo->ad->exec_batch(repo->state, repo->conn, a, stmts, n, into, r);
    bool listen = kiln_telemetry_enabled(KILN_REPO_EVENT);
    for (size_t i = 0; i < n; i++) {
        int64_t total_ns = r[i].queue_ns + r[i].query_ns + r[i].decode_ns;
        if (to_report(repo, listen, total_ns))
            report(repo, source, stmts[i].sql, kiln__rc_for(r[i].error.kind), &r[i], total_ns);
    }
    return rc;
}

int kiln__repo_query(kiln_repo_t *repo, kiln_arena_t *a, const char *source, const char *sql,
                     const kiln_val_t *params, size_t n, kiln_rows_t **out)
{
    kiln_rows_t *r = rows_new(a, 1);
    if (!r) return KILN_ENOMEM;
    if (out) *out = r;
    int64_t t0 = kiln_now_ns();
    int rc = repo->ad->exec(repo->state, repo->conn, a, sql, params, n, r);
    report(repo, source, sql, rc, r, kiln_now_ns() - t0);
    return rc;
}

/* One statement into structs through exec and a decode of the values, for an
 * adapter without exec_into. */
static int exec_decode(kiln_repo_t *repo, kiln_arena_t *a, const char *sql, const kiln_val_t *params, size_t n,
                       kiln__into_t *into, kiln_rows_t *r)
{
    int rc = repo->ad->exec(repo->state, repo->conn, a, sql, params, n, r);
    if (rc < 0) return rc;
    if (into->grow && r->n_rows > into->cap) {
        into->cap = r->n_rows;
        if (!(into->recs = kiln_arena_calloc(a, into->cap * into->s->size))) return KILN_ENOMEM;
    }
    kiln_rows_t head = *r; /* only the rows there is room for */
    if (head.n_rows > into->cap) head.n_rows = into->cap;
    int drc = kiln__decode_into(into->s, &head, a, into->recs);
    r->decode_ns = head.decode_ns;
    return drc < 0 ? drc : rc;
}

/* One statement into structs: the adapter's exec_into, else exec_decode. Kept
 * apart from exec_decode so that it inlines into get_many's loop. */
static int exec_into(kiln_repo_t *repo, kiln_arena_t *a, const char *sql, const kiln_val_t *params, size_t n,
                     kiln__into_t *into, kiln_rows_t *r)
{
    if (repo->ad->exec_into) return repo->ad->exec_into(repo->state, repo->conn, a, sql, params, n, into, r);
    return exec_decode(repo, a, sql, params, n, into, r);
}

int kiln__repo_query_into(kiln_repo_t *repo, kiln_arena_t *a, const char *source, const char *sql,
                          const kiln_val_t *params, size_t n, kiln__into_t *into, kiln_rows_t **out)
{
    kiln_rows_t *r = rows_new(a, 1);
    if (!r) return KILN_ENOMEM;
    if (out) *out = r;
    int64_t t0 = kiln_now_ns();
    int rc = exec_into(repo, a, sql, params, n, into, r);
    report(repo, source, sql, rc, r, kiln_now_ns() - t0);
    return rc;
}

int kiln__repo_batch_into(kiln_repo_t *repo, kiln_arena_t *a, const char *source, const kiln_stmt_t *stmts, size_t n,
                          const kiln_schema_t *s, char *recs, kiln_rows_t **out)
{
    kiln_rows_t *r = rows_new(a, n);
    if (!r) return KILN_ENOMEM;
    *out = r;
    if (repo->ad->exec_batch) {
        kiln__into_t *into = kiln_arena_alloc(a, (n ? n : 1) * sizeof *into);
        if (!into) return KILN_ENOMEM;
        for (size_t i = 0; i < n; i++) into[i] = (kiln__into_t){ s, recs + i * s->size, 1, false };
        return exec_batch(repo, a, source, stmts, n, into, r);
    }
    int first = 0;
    bool listen = kiln_telemetry_enabled(KILN_REPO_EVENT);
    int64_t t = kiln_now_ns(); /* one clock read per statement: each ends where the next starts */
    for (size_t i = 0; i < n; i++) {
        kiln__into_t into = { s, recs + i * s->size, 1, false };
        int rc = exec_into(repo, a, stmts[i].sql, stmts[i].params, stmts[i].n, &into, &r[i]);
        int64_t t1 = kiln_now_ns();
        if (to_report(repo, listen, t1 - t)) report(repo, source, stmts[i].sql, rc, &r[i], t1 - t);
        t = t1;
        if (rc < 0 && !first) first = rc;
    }
    return first;
}

int kiln_repo_query(kiln_repo_t *repo, kiln_arena_t *a, const char *sql, const kiln_val_t *params, size_t n,
                    kiln_rows_t **out)
{
    return kiln__repo_query(repo, a, "raw", sql, params, n, out);
}

int kiln__repo_query_batch(kiln_repo_t *repo, kiln_arena_t *a, const char *source, const kiln_stmt_t *stmts, size_t n,
                           kiln_rows_t **out)
{
    kiln_rows_t *r = rows_new(a, n);
    if (!r) return KILN_ENOMEM;
    if (out) *out = r;
    if (!repo->ad->exec_batch) {
        int first = 0;
        for (size_t i = 0; i < n; i++) {
            int64_t t0 = kiln_now_ns();
            int rc = repo->ad->exec(repo->state, repo->conn, a, stmts[i].sql, stmts[i].params, stmts[i].n, &r[i]);
            report(repo, source, stmts[i].sql, rc, &r[i], kiln_now_ns() - t0);
            if (rc < 0 && !first) first = rc;
        }
        return first;
    }
    return exec_batch(repo, a, source, stmts, n, NULL, r);
}

int kiln_repo_query_batch(kiln_repo_t *repo, kiln_arena_t *a, const kiln_stmt_t *stmts, size_t n, kiln_rows_t **out)
{
    return kiln__repo_query_batch(repo, a, "raw", stmts, n, out);
}

const char *kiln_repo_sql(const kiln_repo_t *repo, kiln_arena_t *a, const char *sql)
{
    if (repo->ad->dialect == KILN_DB_SQLITE) return sql;
    size_t n = strlen(sql), params = 0;
    for (size_t i = 0; i < n; i++) params += sql[i] == '?';
    char *out = kiln_arena_alloc(a, n + params * 6 + 1), *o = out;
    if (!out) return NULL;
    char quote = 0;
    unsigned k = 0;
    for (size_t i = 0; i < n; i++) {
        char c = sql[i];
        if (quote) quote = c == quote ? 0 : quote;
        else if (c == '\'' || c == '"') quote = c;
        else if (c == '?') {
            o += sprintf(o, "$%u", ++k);
            continue;
        }
        *o++ = c;
    }
    *o = 0;
    return out;
}

/* ---- transactions ---- */

/* Runs a transaction-control statement on tx's connection. */
static int control(kiln_repo_t *tx, const char *sql)
{
    kiln_arena_t a;
    kiln_arena_init(&a, 1024);
    kiln_rows_t *r;
    int rc = kiln__repo_query(tx, &a, "transaction", sql, NULL, 0, &r);
    if (rc < 0) kiln_log(KILN_LOG_WARN, "repo: %s failed: %s", sql, r->error.message);
    kiln_arena_destroy(&a);
    return rc;
}

/* A transaction on repo's held connection (inside kiln_repo_checkout), or on
 * one checked out for it. */
static int begin_root(kiln_repo_t *repo, kiln_repo_t *tx)
{
    *tx = (kiln_repo_t){ .ad = repo->ad, .state = repo->state, .root = repo->root, .conn = repo->conn,
                         .held = repo->conn != NULL, .depth = 1, .slow_ms = repo->slow_ms };
    if (!tx->held) {
        int64_t queue_ns;
        int rc = repo->ad->checkout(repo->state, &tx->conn, &queue_ns);
        if (rc < 0) return rc;
    }
    int rc = control(tx, repo->ad->begin_sql);
    if (rc < 0 && !tx->held) repo->ad->checkin(repo->state, tx->conn);
    return rc < 0 ? rc : 0;
}

static void end_root(kiln_repo_t *tx, int commit, int *rc)
{
    int crc = control(tx, commit ? "COMMIT" : "ROLLBACK");
    if (commit && crc < 0) {
        control(tx, "ROLLBACK");
        *rc = crc;
    }
    if (!tx->held) tx->ad->checkin(tx->state, tx->conn);
}

int kiln_repo_checkout(kiln_repo_t *repo, int (*fn)(kiln_repo_t *held, void *ud), void *ud)
{
    if (repo->conn || !repo->ad->pooled) return fn(repo, ud);
    kiln_repo_t held = *repo;
    int64_t queue_ns;
    int rc = repo->ad->checkout(repo->state, &held.conn, &queue_ns);
    if (rc < 0) return rc;
    held.held = true;
    rc = fn(&held, ud);
    repo->ad->checkin(repo->state, held.conn); /* a broken or mid-transaction connection is discarded there */
    return rc;
}

int kiln_repo_transaction(kiln_repo_t *repo, int (*fn)(kiln_repo_t *tx, void *ud), void *ud)
{
    kiln_repo_t tx;
    char sp[32];
    if (repo->depth == 0) {
        int rc = begin_root(repo, &tx);
        if (rc < 0) return rc;
    } else {
        tx = *repo;
        tx.depth = repo->depth + 1;
        snprintf(sp, sizeof sp, "SAVEPOINT kiln_sp%d", tx.depth);
        int rc = control(&tx, sp);
        if (rc < 0) return rc;
    }
    int rc = fn(&tx, ud);
    if (tx.depth == 1) {
        end_root(&tx, rc >= 0, &rc);
        return rc;
    }
    snprintf(sp, sizeof sp, rc >= 0 ? "RELEASE SAVEPOINT kiln_sp%d" : "ROLLBACK TO SAVEPOINT kiln_sp%d", tx.depth);
    int src = control(&tx, sp);
    return rc >= 0 && src < 0 ? src : rc;
}

int kiln_repo_sandbox_begin(kiln_repo_t *repo, kiln_repo_t **sandbox)
{
    kiln_repo_t *tx = kiln_xmalloc(sizeof *tx);
    int rc = begin_root(repo->root, tx);
    if (rc < 0) {
        free(tx);
        return rc;
    }
    *sandbox = tx;
    return 0;
}

void kiln_repo_sandbox_end(kiln_repo_t *sandbox)
{
    int rc = 0;
    end_root(sandbox, 0, &rc);
    free(sandbox);
}
