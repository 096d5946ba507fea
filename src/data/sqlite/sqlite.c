/* The SQLite adapter: WAL, one writer, per-scheduler readers
 * (docs/adr/0020-sqlite-threading.md has the measurements).
 *
 * Writes: one connection (the writer) guarded by a FIFO lock that parks
 * coroutines. Its statements run on the blocking pool (kiln_blocking), since a
 * commit may fsync and a write may wait for another process's lock; a
 * transaction holds the lock from BEGIN IMMEDIATE to COMMIT.
 *
 * Reads outside a transaction run on the calling scheduler's thread, on a
 * reader connection of that scheduler's own free list (only that thread
 * touches it: no lock). Two handlers make that safe:
 *  - the busy handler parks the coroutine (kiln_sleep) and retries, instead
 *    of sleeping the thread, until busy_timeout;
 *  - the progress handler interrupts a read that has run longer than
 *    inline_budget; the read then runs again, from scratch, on a pool reader
 *    via kiln_blocking. Rows are collected before any is returned, so the
 *    restart is invisible to the caller; reads have no side effects.
 * From a plain thread (no coroutine), everything runs on that thread.
 *
 * sqlite::memory: has a single connection (each connection would otherwise be
 * a separate database), so every statement there goes through the writer.
 *
 * Connections cache prepared statements by SQL text (STMT_CACHE slots,
 * replaced on collision). Every connection is owned by the adapter state and
 * closed by close(), which must run when no call is in flight. */
#include "data/data_int.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STMT_CACHE 64
#define MAX_SCHEDS 256

/* sql is the entry's own copy, or (stable) the SQL cache's text itself. */
typedef struct cached_stmt {
    const char *sql;
    sqlite3_stmt *st;
    bool stable;
} cached_stmt_t;

typedef struct sq_state sq_state_t;

struct kiln__db_conn {
    sqlite3 *db;
    sq_state_t *owner;
    kiln__db_conn_t *next_free; /* in a free list */
    kiln__db_conn_t *next_all;  /* in owner->all */
    cached_stmt_t cache[STMT_CACHE];
    int64_t deadline_ns;        /* inline reads: interrupt past this (0 = never) */
    int64_t busy_since_ns;
    bool moved;                 /* the progress handler interrupted an inline read */
};

struct sq_state {
    char *path; /* NULL for :memory: */
    int busy_timeout_ms, budget_ms;
    kiln__db_conn_t *writer;
    kiln__lock_t wlock;
    pthread_mutex_t mu; /* guards all and pool */
    kiln__db_conn_t *all, *pool;
    kiln__db_conn_t *sched_free[MAX_SCHEDS];
};

/* ---- connections ---- */

static int on_busy(void *ud, int count)
{
    kiln__db_conn_t *c = ud;
    int64_t now = kiln_now_ns();
    if (count == 0) c->busy_since_ns = now;
    if (now - c->busy_since_ns >= (int64_t)c->owner->busy_timeout_ms * 1000000) return 0;
    kiln__nap(count < 10 ? 1 : 5);
    return 1;
}

static int on_progress(void *ud)
{
    kiln__db_conn_t *c = ud;
    if (c->deadline_ns && kiln_now_ns() > c->deadline_ns) {
        c->moved = true;
        return 1;
    }
    return 0;
}

static int conn_exec(kiln__db_conn_t *c, const char *sql)
{
    return sqlite3_exec(c->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : KILN_EDB;
}

static int conn_open(sq_state_t *s, kiln__db_conn_t **out, char *err, size_t errlen)
{
    kiln__db_conn_t *c = kiln_xcalloc(1, sizeof *c);
    c->owner = s;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(s->path ? s->path : ":memory:", &c->db, flags, NULL) != SQLITE_OK) {
        if (err) snprintf(err, errlen, "sqlite: cannot open %s: %s", s->path, sqlite3_errmsg(c->db));
        sqlite3_close(c->db);
        free(c);
        return KILN_EDB;
    }
    sqlite3_extended_result_codes(c->db, 1);
    sqlite3_busy_handler(c->db, on_busy, c);
    sqlite3_progress_handler(c->db, 1000, on_progress, c);
    /* LIKE is case-sensitive, as on PostgreSQL; ILIKE is compiled to lower() LIKE lower(). */
    if (conn_exec(c, "PRAGMA foreign_keys=ON; PRAGMA case_sensitive_like=ON; PRAGMA synchronous=NORMAL") < 0) {
        if (err) snprintf(err, errlen, "sqlite: %s", sqlite3_errmsg(c->db));
        sqlite3_close(c->db);
        free(c);
        return KILN_EDB;
    }
    pthread_mutex_lock(&s->mu);
    c->next_all = s->all;
    s->all = c;
    pthread_mutex_unlock(&s->mu);
    *out = c;
    return 0;
}

static void conn_close(kiln__db_conn_t *c)
{
    for (int i = 0; i < STMT_CACHE; i++) {
        sqlite3_finalize(c->cache[i].st);
        if (!c->cache[i].stable) free((char *)c->cache[i].sql);
    }
    sqlite3_close(c->db);
    free(c);
}

static unsigned hash_sql(const char *s)
{
    unsigned h = 2166136261u;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* A prepared statement for sql, from the cache or new; owned by c. A text of
 * the SQL cache (kiln__sql_stable) is found by its address alone. */
static int prepare(kiln__db_conn_t *c, const char *sql, sqlite3_stmt **out)
{
    bool stable = kiln__sql_stable(sql);
    cached_stmt_t *e = &c->cache[(stable ? (unsigned)((uintptr_t)sql >> 3) * 2654435761u : hash_sql(sql)) % STMT_CACHE];
    if (e->st && (e->sql == sql || (!stable && !strcmp(e->sql, sql)))) {
        *out = e->st;
        return 0;
    }
    sqlite3_stmt *st;
    if (sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) return KILN_EDB;
    if (!st) return KILN_EINVAL; /* empty SQL */
    sqlite3_finalize(e->st);
    if (!e->stable) free((char *)e->sql);
    e->sql = stable ? sql : kiln_xstrdup(sql);
    e->stable = stable;
    e->st = st;
    *out = st;
    return 0;
}

/* ---- running one statement ---- */

static void map_error(kiln__db_conn_t *c, kiln_db_error_t *e)
{
    int x = sqlite3_extended_errcode(c->db);
    const char *msg = sqlite3_errmsg(c->db);
    const char *colon = strstr(msg, "failed: ");
    const char *detail = colon ? colon + 8 : NULL;
    kiln_dberr_kind_t kind = KILN_DBERR_OTHER;
    switch (x) {
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY: kind = KILN_DBERR_UNIQUE; break;
    case SQLITE_CONSTRAINT_FOREIGNKEY: kind = KILN_DBERR_FOREIGN_KEY; break;
    case SQLITE_CONSTRAINT_CHECK: kind = KILN_DBERR_CHECK; break;
    case SQLITE_CONSTRAINT_NOTNULL: kind = KILN_DBERR_NOT_NULL; break;
    default:
        if ((x & 0xff) == SQLITE_BUSY || (x & 0xff) == SQLITE_LOCKED) kind = KILN_DBERR_BUSY;
    }
    kiln__err_set(e, kind, detail, msg);
}

static int bind_params(sqlite3_stmt *st, const kiln_val_t *p, size_t n)
{
    if ((int)n != sqlite3_bind_parameter_count(st)) return KILN_EINVAL;
    for (size_t i = 0; i < n; i++) {
        int k = (int)i + 1, rc;
        switch (p[i].kind) {
        case KILN_VAL_INT: rc = sqlite3_bind_int64(st, k, p[i].i); break;
        case KILN_VAL_FLOAT: rc = sqlite3_bind_double(st, k, p[i].f); break;
        case KILN_VAL_TEXT: rc = sqlite3_bind_text64(st, k, p[i].s, p[i].len, SQLITE_STATIC, SQLITE_UTF8); break;
        case KILN_VAL_BLOB: rc = sqlite3_bind_blob64(st, k, p[i].len ? p[i].s : "", p[i].len, SQLITE_STATIC); break;
        default: rc = sqlite3_bind_null(st, k);
        }
        if (rc != SQLITE_OK) return KILN_EINVAL;
    }
    return 0;
}

static int copy_cell(sqlite3_stmt *st, int col, kiln_arena_t *a, kiln_val_t *v)
{
    switch (sqlite3_column_type(st, col)) {
    case SQLITE_INTEGER: *v = KILN_VINT(sqlite3_column_int64(st, col)); return 0;
    case SQLITE_FLOAT: *v = KILN_VFLOAT(sqlite3_column_double(st, col)); return 0;
    case SQLITE_NULL: *v = KILN_VNULL; return 0;
    case SQLITE_BLOB: {
        const void *b = sqlite3_column_blob(st, col);
        size_t n = (size_t)sqlite3_column_bytes(st, col);
        char *copy = kiln_arena_alloc(a, n + 1);
        if (!copy) return KILN_ENOMEM;
        if (n) memcpy(copy, b, n);
        copy[n] = 0;
        *v = KILN_VBLOB(copy, n);
        return 0;
    }
    default: {
        const char *t = (const char *)sqlite3_column_text(st, col);
        size_t n = (size_t)sqlite3_column_bytes(st, col);
        char *copy = kiln_arena_alloc(a, n + 1);
        if (!copy) return KILN_ENOMEM;
        memcpy(copy, t ? t : "", n);
        copy[n] = 0;
        *v = KILN_VTEXTN(copy, n);
        return 0;
    }
    }
}

/* Collects rows into a vector on the stack, or on the heap past STACK_VALS
 * cells (its size is unknown until the end), then moves it into the arena
 * with the column names (one allocation). */
#define STACK_VALS 64
static int collect(kiln__db_conn_t *c, sqlite3_stmt *st, kiln_arena_t *a, kiln_rows_t *out)
{
    int nc = sqlite3_column_count(st), rc;
    size_t per = nc ? (size_t)nc : 1, n = 0, cap = STACK_VALS / per;
    kiln_val_t stack[STACK_VALS], *v = stack;
    int64_t decode = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t t0 = kiln_now_ns();
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            if (v == stack) v = memcpy(kiln_xmalloc(cap * per * sizeof *v), stack, n * per * sizeof *v);
            else v = kiln_xrealloc(v, cap * per * sizeof *v);
        }
        for (int i = 0; i < nc; i++)
            if (copy_cell(st, i, a, &v[n * per + (size_t)i]) < 0) {
                rc = SQLITE_NOMEM;
                break;
            }
        n++;
        decode += kiln_now_ns() - t0;
        if (rc == SQLITE_NOMEM) break;
    }
    out->decode_ns += decode;
    kiln_val_t *dst = NULL;
    if (rc == SQLITE_DONE && !(dst = kiln__rows_alloc(a, out, n, (size_t)nc))) rc = SQLITE_NOMEM;
    if (dst && n && nc) memcpy(dst, v, n * per * sizeof *v);
    if (v != stack) free(v);
    if (rc == SQLITE_NOMEM) return KILN_ENOMEM;
    if (rc != SQLITE_DONE) {
        if (rc == SQLITE_INTERRUPT && c->moved) return KILN_EAGAIN;
        map_error(c, &out->error);
        return kiln__rc_for(out->error.kind);
    }
    size_t text = 0;
    for (int i = 0; i < nc; i++) text += strlen(sqlite3_column_name(st, i)) + 1;
    out->cols = kiln_arena_alloc(a, per * sizeof(char *) + text);
    if (!out->cols) return KILN_ENOMEM;
    char *names = (char *)(out->cols + per);
    for (int i = 0; i < nc; i++) {
        const char *name = sqlite3_column_name(st, i);
        size_t len = strlen(name) + 1;
        out->cols[i] = memcpy(names, name, len);
        names += len;
    }
    bool ro = sqlite3_stmt_readonly(st);
    if (!ro) out->changes = sqlite3_changes64(c->db);
    return (int)(ro || n ? n : (size_t)out->changes);
}

typedef struct job {
    kiln__db_conn_t *c;
    kiln_arena_t *a;
    const char *sql;
    const kiln_val_t *params;
    size_t n;
    kiln_rows_t *out;
} job_t;

static int run(void *arg)
{
    job_t *j = arg;
    sqlite3_stmt *st;
    int64_t t0 = kiln_now_ns();
    int rc = prepare(j->c, j->sql, &st);
    if (rc == KILN_EDB) {
        map_error(j->c, &j->out->error);
        return rc;
    }
    if (rc < 0) return rc;
    rc = bind_params(st, j->params, j->n);
    if (rc == 0) rc = collect(j->c, st, j->a, j->out);
    else kiln__err_set(&j->out->error, KILN_DBERR_OTHER, NULL, "wrong number or kind of parameters");
    sqlite3_reset(st); /* the bindings stay: the next run binds every parameter */
    j->out->query_ns += kiln_now_ns() - t0 - j->out->decode_ns;
    return rc;
}

/* Runs j on the blocking pool from a coroutine, else right here. */
static int run_blocking(job_t *j)
{
    if (!kiln_coro_current()) return run(j);
    int rc = kiln_blocking(run, j);
    if (rc == KILN_EAGAIN && !j->out->error.message[0])
        kiln__err_set(&j->out->error, KILN_DBERR_OTHER, NULL, "blocking pool queue full");
    return rc;
}

/* ---- readers ---- */

static kiln__db_conn_t *take_pool_reader(sq_state_t *s)
{
    pthread_mutex_lock(&s->mu);
    kiln__db_conn_t *c = s->pool;
    if (c) s->pool = c->next_free;
    pthread_mutex_unlock(&s->mu);
    if (!c && conn_open(s, &c, NULL, 0) < 0) return NULL;
    return c;
}

static void give_pool_reader(sq_state_t *s, kiln__db_conn_t *c)
{
    c->deadline_ns = 0;
    pthread_mutex_lock(&s->mu);
    c->next_free = s->pool;
    s->pool = c;
    pthread_mutex_unlock(&s->mu);
}

static int pool_read(sq_state_t *s, job_t *j)
{
    j->c = take_pool_reader(s);
    if (!j->c) return KILN_EDB;
    int rc = run_blocking(j);
    give_pool_reader(s, j->c);
    return rc;
}

/* Scheduler idx's free reader list: only that scheduler's thread touches it,
 * and a reader is off the list while a coroutine uses it (it may park). */
static kiln__db_conn_t *take_sched_reader(sq_state_t *s, int idx)
{
    kiln__db_conn_t *c = s->sched_free[idx];
    if (c) s->sched_free[idx] = c->next_free;
    else if (conn_open(s, &c, NULL, 0) < 0) return NULL;
    return c;
}

static void give_sched_reader(sq_state_t *s, int idx, kiln__db_conn_t *c)
{
    c->deadline_ns = 0;
    c->next_free = s->sched_free[idx];
    s->sched_free[idx] = c;
}

/* A read on this scheduler's thread within the budget, else on the pool. */
static int inline_read(sq_state_t *s, int idx, kiln__db_conn_t *c, job_t *j)
{
    c->moved = false;
    c->deadline_ns = kiln_now_ns() + (int64_t)s->budget_ms * 1000000;
    j->c = c;
    int rc = run(j);
    give_sched_reader(s, idx, c);
    if (rc != KILN_EAGAIN || !c->moved) return rc;
    kiln_rows_t fresh = { .queue_ns = j->out->queue_ns, .query_ns = j->out->query_ns };
    *j->out = fresh;
    return pool_read(s, j);
}

/* ---- writer ---- */

static int write_locked(sq_state_t *s, job_t *j)
{
    int64_t t0 = kiln_now_ns();
    int rc = kiln__lock_acquire(&s->wlock);
    if (rc < 0) {
        kiln__err_set(&j->out->error, KILN_DBERR_OTHER, NULL,
                      "write outside the transaction this coroutine holds: use the transaction's repo handle");
        return rc;
    }
    j->out->queue_ns += kiln_now_ns() - t0;
    j->c = s->writer;
    rc = run_blocking(j);
    kiln__lock_release(&s->wlock);
    return rc;
}

/* Whether sql only reads, asked of a reader's prepared statement (cached, so
 * the real run reuses it). */
static bool is_read(kiln__db_conn_t *c, const char *sql)
{
    sqlite3_stmt *st;
    return prepare(c, sql, &st) == 0 && sqlite3_stmt_readonly(st);
}

static int sq_exec(void *state, kiln__db_conn_t *conn, kiln_arena_t *a, const char *sql, const kiln_val_t *params,
                   size_t n, kiln_rows_t *out)
{
    sq_state_t *s = state;
    job_t j = { .c = conn, .a = a, .sql = sql, .params = params, .n = n, .out = out };
    if (conn) return run_blocking(&j);
    if (!s->path) return write_locked(s, &j);
    kiln_sched_t *sched = kiln_coro_current() ? kiln_sched_current() : NULL;
    int idx = sched ? kiln_sched_index(sched) : -1;
    kiln__db_conn_t *c = idx >= 0 && idx < MAX_SCHEDS ? take_sched_reader(s, idx) : NULL;
    if (c) {
        if (is_read(c, sql)) return inline_read(s, idx, c, &j);
        give_sched_reader(s, idx, c);
        return write_locked(s, &j);
    }
    c = take_pool_reader(s);
    if (!c) return write_locked(s, &j);
    bool rd = is_read(c, sql);
    give_pool_reader(s, c);
    return rd ? pool_read(s, &j) : write_locked(s, &j);
}

/* ---- adapter ---- */

static int sq_checkout(void *state, kiln__db_conn_t **out, int64_t *queue_ns)
{
    sq_state_t *s = state;
    int64_t t0 = kiln_now_ns();
    int rc = kiln__lock_acquire(&s->wlock);
    if (rc < 0) return rc;
    *queue_ns = kiln_now_ns() - t0;
    *out = s->writer;
    return 0;
}

static void sq_checkin(void *state, kiln__db_conn_t *conn)
{
    (void)conn;
    kiln__lock_release(&((sq_state_t *)state)->wlock);
}

static void sq_close(void *state)
{
    sq_state_t *s = state;
    for (kiln__db_conn_t *c = s->all, *next; c; c = next) {
        next = c->next_all;
        conn_close(c);
    }
    kiln__lock_destroy(&s->wlock);
    pthread_mutex_destroy(&s->mu);
    free(s->path);
    free(s);
}

static int sq_open(const kiln_db_url_t *url, void **state, char *err, size_t errlen)
{
    sq_state_t *s = kiln_xcalloc(1, sizeof *s);
    s->path = url->path ? kiln_xstrdup(url->path) : NULL;
    s->busy_timeout_ms = url->busy_timeout_ms;
    s->budget_ms = url->inline_budget_ms;
    kiln__lock_init(&s->wlock);
    pthread_mutex_init(&s->mu, NULL);
    int rc = conn_open(s, &s->writer, err, errlen);
    if (rc == 0 && s->path && conn_exec(s->writer, "PRAGMA journal_mode=WAL") < 0) {
        snprintf(err, errlen, "sqlite: cannot switch %s to WAL: %s", s->path, sqlite3_errmsg(s->writer->db));
        rc = KILN_EDB;
    }
    if (rc < 0) {
        sq_close(s);
        return rc;
    }
    *state = s;
    return 0;
}

const kiln__db_adapter_t kiln__sqlite_adapter = {
    .abi = KILN__DB_ADAPTER_ABI,
    .name = "sqlite",
    .dialect = KILN_DB_SQLITE,
    .begin_sql = "BEGIN IMMEDIATE",
    .open = sq_open,
    .close = sq_close,
    .checkout = sq_checkout,
    .checkin = sq_checkin,
    .exec = sq_exec,
};
