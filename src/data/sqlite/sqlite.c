/* The SQLite adapter: WAL, one writer, per-scheduler readers
 * (docs/adr/0020-sqlite-threading.md has the measurements).
 *
 * Writes: one connection (the writer) guarded by a FIFO lock that parks
 * coroutines. Its statements run on the blocking pool (kiln_blocking), since a
 * commit may fsync and a write may wait for another process's lock; a
 * transaction holds the lock from BEGIN IMMEDIATE to COMMIT. Writes from
 * coroutines outside a transaction are batched: they queue while the writer is
 * busy, and one coroutine (the leader) takes the whole queue to the pool in
 * one hand-off, consecutive INSERT/UPDATE/DELETEs sharing one transaction
 * (group commit), each statement's result its own (run_group).
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
#include "data/schema_int.h"

#include <ctype.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kiln/telemetry.h"

#define STMT_CACHE 64
#define MAX_SCHEDS 256

/* sql is the entry's own copy, or (stable) the SQL cache's text itself.
 * map (owned) gives each result column's field of schema map_for, for
 * decoding straight into structs; built once per statement and schema, and
 * again when SQLite re-prepared the statement (a schema change may have
 * changed its columns). */
typedef struct cached_stmt {
    const char *sql;
    sqlite3_stmt *st;
    bool stable;
    const kiln_schema_t *map_for;
    const kiln_field_t **map;
    int map_n, map_reprepared;
} cached_stmt_t;

typedef struct sq_state sq_state_t;

struct kiln__db_conn {
    sqlite3 *db;
    sq_state_t *owner;
    kiln__db_conn_t *next_free; /* in a free list */
    kiln__db_conn_t *next_all;  /* in owner->all */
    cached_stmt_t cache[STMT_CACHE];
    bool budgeted;              /* an inline read: interrupt it past the budget */
    int64_t deadline_ns;        /* set by the first progress call of a budgeted read (0 = not yet) */
    int64_t busy_since_ns;
    bool moved;                 /* the progress handler interrupted an inline read */
};

struct sq_state {
    char *path; /* NULL for :memory: */
    int busy_timeout_ms, budget_ms;
    kiln__db_conn_t *writer;
    kiln__lock_t wlock;
    pthread_mutex_t qmu;          /* guards the writer queue and leading */
    struct wjob *qhead, *qtail;   /* coroutines' writes waiting for the writer */
    bool leading;                 /* a coroutine leads a group; always set while the queue is not empty */
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
    if (!c->budgeted) return 0;
    /* The budget starts at the first call (1000 VM steps in): short reads never read the clock. */
    int64_t now = kiln_now_ns();
    if (!c->deadline_ns) c->deadline_ns = now + (int64_t)c->owner->budget_ms * 1000000;
    else if (now > c->deadline_ns) {
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
        free(c->cache[i].map);
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
static int prepare(kiln__db_conn_t *c, const char *sql, cached_stmt_t **out)
{
    bool stable = kiln__sql_stable(sql);
    cached_stmt_t *e = &c->cache[(stable ? (unsigned)((uintptr_t)sql >> 3) * 2654435761u : hash_sql(sql)) % STMT_CACHE];
    if (e->st && (e->sql == sql || (!stable && !strcmp(e->sql, sql)))) {
        *out = e;
        return 0;
    }
    sqlite3_stmt *st;
    if (sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) return KILN_EDB;
    if (!st) return KILN_EINVAL; /* empty SQL */
    sqlite3_finalize(e->st);
    if (!e->stable) free((char *)e->sql);
    free(e->map);
    *e = (cached_stmt_t){ .sql = stable ? sql : kiln_xstrdup(sql), .st = st, .stable = stable };
    *out = e;
    return 0;
}

/* e's column-to-field map for schema s (by column name; NULL for a column no
 * field has), rebuilt only when the schema or the statement changed. */
static void map_columns(cached_stmt_t *e, const kiln_schema_t *s)
{
    int nc = sqlite3_column_count(e->st);
    int reprepared = sqlite3_stmt_status(e->st, SQLITE_STMTSTATUS_REPREPARE, 0);
    if (e->map_for == s && e->map_n == nc && e->map_reprepared == reprepared) return;
    e->map = kiln_xrealloc(e->map, (size_t)(nc ? nc : 1) * sizeof *e->map);
    for (int i = 0; i < nc; i++) e->map[i] = kiln_schema_field(s, sqlite3_column_name(e->st, i), NULL);
    e->map_for = s;
    e->map_n = nc;
    e->map_reprepared = reprepared;
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

/* Cell col of st, whose sqlite3_column_type is type, as a value (text and
 * blobs copied into a). */
static int copy_cell(sqlite3_stmt *st, int col, int type, kiln_arena_t *a, kiln_val_t *v)
{
    switch (type) {
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

/* Stores cell col of st into field f of rec: what copy_cell then
 * kiln__field_set store, with the common case (an integer into an integer or
 * UTC field, which kiln__field_set stores as is) done directly. */
static int cell_into(sqlite3_stmt *st, int col, const kiln_field_t *f, char *rec, kiln_arena_t *a)
{
    int type = sqlite3_column_type(st, col);
    if (type == SQLITE_INTEGER && (f->type == KILN_T_INTEGER || f->type == KILN_T_UTC)) {
        *(int64_t *)(void *)(rec + f->offset) = sqlite3_column_int64(st, col);
        return 0;
    }
    kiln_val_t v;
    int rc = copy_cell(st, col, type, a, &v);
    return rc < 0 ? rc : kiln__field_set(f, rec, &v, a);
}

/* The connection's change total before a statement runs, for finish; a
 * read-only statement (ro) changes nothing, so it is not asked. */
static int64_t changes_before(kiln__db_conn_t *c, bool ro)
{
    return ro ? 0 : sqlite3_total_changes64(c->db);
}

/* A statement's end: its error, or the row count (a write without rows:
 * its change count). sqlite3_changes() keeps the count of the connection's
 * last INSERT/UPDATE/DELETE, so a CREATE or DROP would report the count of
 * some earlier write: a statement that did not move the connection's total
 * (total0, read before its first step) changed nothing. ro: the statement is
 * read-only (sqlite3_stmt_readonly, asked once by run). */
static int finish(kiln__db_conn_t *c, bool ro, int rc, int64_t total0, size_t n, kiln_rows_t *out)
{
    if (rc == SQLITE_NOMEM) return KILN_ENOMEM;
    if (rc != SQLITE_DONE) {
        if (rc == SQLITE_INTERRUPT && c->moved) return KILN_EAGAIN;
        map_error(c, &out->error);
        return kiln__rc_for(out->error.kind);
    }
    if (!ro) out->changes = sqlite3_total_changes64(c->db) != total0 ? sqlite3_changes64(c->db) : 0;
    return (int)(ro || n ? n : (size_t)out->changes);
}

/* Collects rows into a vector on the stack, or on the heap past STACK_VALS
 * cells (its size is unknown until the end), then moves it into the arena
 * with the column names (one allocation). The columns are counted only once
 * the statement has stepped: a cached statement is re-prepared by its first
 * step after a schema change, and may come back with other columns. */
#define STACK_VALS 64
static int collect(kiln__db_conn_t *c, sqlite3_stmt *st, bool ro, kiln_arena_t *a, bool timed, kiln_rows_t *out)
{
    int nc = 0, rc;
    size_t per = 1, n = 0, cap = 0;
    kiln_val_t stack[STACK_VALS], *v = stack;
    int64_t decode = 0, total0 = changes_before(c, ro);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t t0 = timed ? kiln_now_ns() : 0;
        if (n == 0) {
            nc = sqlite3_column_count(st);
            per = nc ? (size_t)nc : 1;
            cap = STACK_VALS / per;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            if (v == stack) v = memcpy(kiln_xmalloc(cap * per * sizeof *v), stack, n * per * sizeof *v);
            else v = kiln_xrealloc(v, cap * per * sizeof *v);
        }
        for (int i = 0; i < nc; i++)
            if (copy_cell(st, i, sqlite3_column_type(st, i), a, &v[n * per + (size_t)i]) < 0) {
                rc = SQLITE_NOMEM;
                break;
            }
        n++;
        if (timed) decode += kiln_now_ns() - t0;
        if (rc == SQLITE_NOMEM) break;
    }
    out->decode_ns += decode;
    nc = sqlite3_column_count(st); /* the same when rows came; current when none did */
    per = nc ? (size_t)nc : 1;
    kiln_val_t *dst = NULL;
    if (rc == SQLITE_DONE && !(dst = kiln__rows_alloc(a, out, n, (size_t)nc))) rc = SQLITE_NOMEM;
    if (dst && n && nc) memcpy(dst, v, n * per * sizeof *v);
    if (v != stack) free(v);
    if (rc != SQLITE_DONE) return finish(c, ro, rc, total0, n, out);
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
    return finish(c, ro, rc, total0, n, out);
}

/* Decodes rows straight from the statement into structs (into): each mapped
 * cell through kiln__field_set, no row vector, no column names. A cell the
 * field cannot take (an unparsable UTC) fails the call with KILN_EINVAL. The
 * map is checked at the first row, not before: the first step re-prepares a
 * statement whose table changed, and only then are its new columns known. */
static int collect_into(kiln__db_conn_t *c, cached_stmt_t *e, bool ro, kiln_arena_t *a, kiln__into_t *into,
                        bool timed, kiln_rows_t *out)
{
    sqlite3_stmt *st = e->st;
    size_t n = 0, size = into->s->size;
    int nc = 0, rc, bad = 0;
    int64_t decode = 0, total0 = changes_before(c, ro);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t t0 = timed ? kiln_now_ns() : 0;
        if (n == 0) {
            map_columns(e, into->s);
            nc = e->map_n;
        }
        if (n == into->cap && into->grow) {
            size_t cap = into->cap ? into->cap * 2 : 8;
            char *recs = kiln_arena_calloc(a, cap * size);
            if (!recs) {
                rc = SQLITE_NOMEM;
                break;
            }
            if (n) memcpy(recs, into->recs, n * size);
            into->recs = recs, into->cap = cap;
        }
        char *rec = n < into->cap ? into->recs + n * size : NULL;
        for (int i = 0; rec && i < nc && !bad; i++)
            if (e->map[i]) bad = cell_into(st, i, e->map[i], rec, a);
        n++;
        if (timed) decode += kiln_now_ns() - t0;
        if (bad) break;
    }
    out->decode_ns += decode;
    out->n_rows = n;
    out->n_cols = (size_t)sqlite3_column_count(st);
    if (bad) {
        sqlite3_reset(st);
        kiln__err_set(&out->error, KILN_DBERR_OTHER, NULL, "a column's value does not fit its schema field");
        return bad == KILN_ENOMEM ? bad : KILN_EINVAL;
    }
    return finish(c, ro, rc, total0, n, out);
}

/* One statement to run: into set decodes into structs (collect_into); timed
 * (a telemetry handler listens) measures the query and decode phases; e, when
 * set, is sql's statement on c, already found read-only (read_stmt), so run
 * neither looks it up nor asks again. */
typedef struct job {
    kiln__db_conn_t *c;
    cached_stmt_t *e;
    kiln_arena_t *a;
    const char *sql;
    const kiln_val_t *params;
    size_t n;
    kiln__into_t *into;
    bool timed;
    kiln_rows_t *out;
} job_t;

static int run(void *arg)
{
    job_t *j = arg;
    cached_stmt_t *e = j->e;
    int64_t t0 = j->timed ? kiln_now_ns() : 0;
    int rc = e ? 0 : prepare(j->c, j->sql, &e);
    if (rc == KILN_EDB) {
        map_error(j->c, &j->out->error);
        return rc;
    }
    if (rc < 0) return rc;
    rc = bind_params(e->st, j->params, j->n);
    bool ro = j->e || sqlite3_stmt_readonly(e->st);
    if (rc == 0) rc = j->into ? collect_into(j->c, e, ro, j->a, j->into, j->timed, j->out)
                              : collect(j->c, e->st, ro, j->a, j->timed, j->out);
    else kiln__err_set(&j->out->error, KILN_DBERR_OTHER, NULL, "wrong number or kind of parameters");
    sqlite3_reset(e->st); /* the bindings stay: the next run binds every parameter */
    if (j->timed) j->out->query_ns += kiln_now_ns() - t0 - j->out->decode_ns;
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
    pthread_mutex_lock(&s->mu);
    c->next_free = s->pool;
    s->pool = c;
    pthread_mutex_unlock(&s->mu);
}

static int pool_read(sq_state_t *s, job_t *j)
{
    j->e = NULL; /* another connection's statement */
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
    c->budgeted = false;
    c->next_free = s->sched_free[idx];
    s->sched_free[idx] = c;
}

/* A read on this scheduler's thread within the budget, else on the pool. */
static int inline_read(sq_state_t *s, int idx, kiln__db_conn_t *c, job_t *j)
{
    c->moved = false;
    c->budgeted = true;
    c->deadline_ns = 0;
    j->c = c;
    int rc = run(j);
    give_sched_reader(s, idx, c);
    if (rc != KILN_EAGAIN || !c->moved) return rc;
    kiln_rows_t fresh = { .queue_ns = j->out->queue_ns, .query_ns = j->out->query_ns };
    *j->out = fresh;
    if (j->into) { /* start the structs over */
        if (j->into->grow) j->into->recs = NULL, j->into->cap = 0;
        else memset(j->into->recs, 0, j->into->cap * j->into->s->size);
    }
    return pool_read(s, j);
}

/* ---- writer ---- */

/* From a plain thread: the writer lock, then the statement right here. */
static int write_locked(sq_state_t *s, job_t *j)
{
    int64_t t0 = kiln_now_ns();
    int rc = kiln__lock_acquire(&s->wlock);
    if (rc < 0) return rc; /* a thread holding a transaction is told by the caller */
    j->out->queue_ns += kiln_now_ns() - t0;
    j->c = s->writer;
    rc = run(j);
    kiln__lock_release(&s->wlock);
    return rc;
}

/* A coroutine's write waiting in the writer queue (on its stack). */
typedef struct wjob {
    job_t *j;
    kiln_coro_t *coro;
    struct wjob *next;
    int64_t queued_ns;
    int rc;
} wjob_t;

enum { WAKE_DONE = 1, WAKE_LEAD = 2 };
#define MAX_GROUP 128 /* statements per hand-off: bounds one group transaction */

/* Whether sql is a single INSERT/UPDATE/DELETE/REPLACE: a statement that can
 * share a transaction with others (no transaction control, no PRAGMA, no DDL,
 * no VACUUM). */
static bool is_dml(const char *sql)
{
    static const char *const kw[] = { "INSERT", "UPDATE", "DELETE", "REPLACE" };
    while (*sql == ' ' || *sql == '\t' || *sql == '\n' || *sql == '\r') sql++;
    for (size_t i = 0; i < KILN_ARRAY_LEN(kw); i++) {
        size_t n = strlen(kw[i]);
        if (!strncasecmp(sql, kw[i], n) && !isalnum((unsigned char)sql[n]) && sql[n] != '_')
            return true;
    }
    return false;
}

/* Runs w again on its own, in autocommit (its group transaction did not commit). */
static void rerun_alone(wjob_t *w)
{
    kiln_rows_t fresh = { .queue_ns = w->j->out->queue_ns };
    *w->j->out = fresh;
    w->rc = run(w->j);
}

typedef struct group {
    sq_state_t *s;
    wjob_t *head; /* n jobs linked by next */
    size_t n;
} group_t;

/* On the blocking pool, holding the writer lock: runs a group in order, each
 * run of two or more consecutive DML statements in one transaction (group
 * commit), the others alone. Each statement's result is its own: a failed one
 * is rolled back by SQLite on its own (statement journal) and the transaction
 * goes on. When the transaction itself ends without committing (an error that
 * rolls it back, such as RAISE(ROLLBACK), or a failed COMMIT), the statements
 * it held run again one by one, as they would have without grouping. */
static int run_group(void *arg)
{
    group_t *g = arg;
    kiln__db_conn_t *c = g->s->writer;
    for (wjob_t *w = g->head; w; w = w->next) w->j->c = c;
    wjob_t *w = g->head;
    while (w) {
        wjob_t *end = w;
        size_t len = 0;
        while (end && is_dml(end->j->sql)) end = end->next, len++;
        if (len < 2 || conn_exec(c, "BEGIN IMMEDIATE") < 0) {
            w->rc = run(w->j);
            w = w->next;
            continue;
        }
        wjob_t *k = w;
        for (; k != end; k = k->next) {
            k->rc = run(k->j);
            if (k->rc < 0 && sqlite3_get_autocommit(c->db)) break; /* the error ended the transaction */
        }
        bool committed = k == end && conn_exec(c, "COMMIT") == 0;
        if (!committed) {
            if (!sqlite3_get_autocommit(c->db)) conn_exec(c, "ROLLBACK");
            for (wjob_t *r = w; r != k; r = r->next) rerun_alone(r);
            if (k != end) k = k->next; /* the failing statement keeps its own error */
        }
        w = k;
    }
    return 0;
}

/* Leads one group: takes the writer lock (a transaction may hold it), takes
 * up to MAX_GROUP queued writes (the leader's own is first), runs them in one
 * hand-off to the blocking pool, wakes their coroutines and makes the next
 * queued write's coroutine the leader. */
static void lead_group(sq_state_t *s)
{
    kiln__lock_acquire(&s->wlock); /* cannot be ours: write_grouped checked */
    group_t g = { .s = s };
    pthread_mutex_lock(&s->qmu);
    g.head = s->qhead;
    wjob_t *last = g.head;
    for (g.n = 1; g.n < MAX_GROUP && last->next; g.n++) last = last->next;
    s->qhead = last->next;
    if (!s->qhead) s->qtail = NULL;
    last->next = NULL;
    pthread_mutex_unlock(&s->qmu);
    int64_t now = kiln_now_ns();
    for (wjob_t *w = g.head; w; w = w->next) w->j->out->queue_ns += now - w->queued_ns;
    int rc = kiln_blocking(run_group, &g);
    kiln__lock_release(&s->wlock);
    for (wjob_t *w = g.head; rc < 0 && w; w = w->next) {
        w->rc = rc;
        kiln__err_set(&w->j->out->error, KILN_DBERR_OTHER, NULL, "blocking pool queue full");
    }
    pthread_mutex_lock(&s->qmu);
    wjob_t *next_leader = s->qhead;
    if (!next_leader) s->leading = false;
    pthread_mutex_unlock(&s->qmu);
    for (wjob_t *w = g.head->next, *after; w; w = after) { /* not the leader's own (first) */
        after = w->next; /* w's stack is gone once its coroutine runs */
        kiln_coro_wake(w->coro, WAKE_DONE);
    }
    if (next_leader) kiln_coro_wake(next_leader->coro, WAKE_LEAD);
}

/* A write from a coroutine: queued for the writer. The first coroutine to
 * find no leader leads (lead_group); the others park until their statement
 * ran, or until they are made the next leader. */
static int write_grouped(sq_state_t *s, job_t *j)
{
    if (kiln__lock_mine(&s->wlock)) {
        kiln__err_set(&j->out->error, KILN_DBERR_OTHER, NULL,
                      "write outside the transaction this coroutine holds: use the transaction's repo handle");
        return KILN_ESTATE;
    }
    wjob_t w = { .j = j, .coro = kiln_coro_current(), .queued_ns = kiln_now_ns() };
    pthread_mutex_lock(&s->qmu);
    if (s->qtail) s->qtail->next = &w;
    else s->qhead = &w;
    s->qtail = &w;
    bool lead = !s->leading;
    s->leading = true;
    pthread_mutex_unlock(&s->qmu);
    if (lead || kiln_coro_park() == WAKE_LEAD) lead_group(s);
    return w.rc;
}

/* A statement for the writer, outside a transaction. */
static int write(sq_state_t *s, job_t *j)
{
    if (kiln_coro_current()) return write_grouped(s, j);
    int rc = write_locked(s, j);
    if (rc == KILN_ESTATE)
        kiln__err_set(&j->out->error, KILN_DBERR_OTHER, NULL,
                      "write outside the transaction this thread holds: use the transaction's repo handle");
    return rc;
}

/* sql's statement on reader c when it only reads, else NULL: prepared (and
 * cached) there, so the real run on c reuses it. */
static cached_stmt_t *read_stmt(kiln__db_conn_t *c, const char *sql)
{
    cached_stmt_t *e;
    return prepare(c, sql, &e) == 0 && sqlite3_stmt_readonly(e->st) ? e : NULL;
}

static int sq_exec_into(void *state, kiln__db_conn_t *conn, kiln_arena_t *a, const char *sql,
                        const kiln_val_t *params, size_t n, kiln__into_t *into, kiln_rows_t *out)
{
    sq_state_t *s = state;
    job_t j = { .c = conn, .a = a, .sql = sql, .params = params, .n = n, .into = into,
                .timed = kiln_telemetry_enabled(KILN_REPO_EVENT), .out = out };
    if (conn) return run_blocking(&j);
    if (!s->path) return write(s, &j);
    kiln_sched_t *sched = kiln_coro_current() ? kiln_sched_current() : NULL;
    int idx = sched ? kiln_sched_index(sched) : -1;
    kiln__db_conn_t *c = idx >= 0 && idx < MAX_SCHEDS ? take_sched_reader(s, idx) : NULL;
    if (c) {
        if ((j.e = read_stmt(c, sql))) return inline_read(s, idx, c, &j);
        give_sched_reader(s, idx, c);
        return write(s, &j);
    }
    c = take_pool_reader(s);
    if (!c) return write(s, &j);
    bool rd = read_stmt(c, sql) != NULL;
    give_pool_reader(s, c);
    return rd ? pool_read(s, &j) : write(s, &j);
}

static int sq_exec(void *state, kiln__db_conn_t *conn, kiln_arena_t *a, const char *sql, const kiln_val_t *params,
                   size_t n, kiln_rows_t *out)
{
    return sq_exec_into(state, conn, a, sql, params, n, NULL, out);
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
    pthread_mutex_destroy(&s->qmu);
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
    pthread_mutex_init(&s->qmu, NULL);
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
    .exec_into = sq_exec_into,
};
