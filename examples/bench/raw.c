/* examples/bench raw: the four TechEmpower database tests written on raw
 * libsqlite3 / libpq calls, in the same binary as the data-layer versions
 * (db.c), so that bench/run can price the data layer (issue 4 §9):
 * /raw/db, /raw/queries, /raw/fortunes, /raw/updates.
 *
 * Each does what its db.c twin does, statement for statement, with what a
 * careful C programmer writes by hand and nothing more: statements prepared
 * once per connection, cells read straight into C values, no query builder,
 * no structs decoded by name, no telemetry, no pool beyond a free list.
 *
 *   SQLite: one connection per scheduler thread (thread-local, opened on first
 *   use, WAL with synchronous=NORMAL as the data layer sets), reads and writes
 *   run right there on the scheduler thread; a lock
 *   sleeps in SQLite's busy handler (5 s) — acceptable here only because this
 *   process is the only writer.
 *   PostgreSQL: up to pool_size (URL, default 10) nonblocking connections in a
 *   free list shared by the schedulers; a request with none free parks FIFO
 *   until one is checked in. Connecting and preparing block (once per
 *   connection, at warm-up). Socket waits park the coroutine with the socket
 *   in the scheduler's event loop. /queries sends its N selects in one
 *   pipeline, each followed by a sync, as kiln_repo_get_many does. A broken
 *   connection is not replaced: this is a benchmark baseline, not a driver.
 *
 * Ownership: connections are owned by this file and closed by
 * bench_raw_close (after the runtime stopped); rows live in the request
 * arena. Without DATABASE_URL every endpoint answers 503. */
#include <postgresql/libpq-fe.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_db.h"

#define SQL_WORLD "SELECT id, randomnumber FROM world WHERE id = "
#define SQL_FORTUNE "SELECT id, message FROM fortune"
#define SQL_UPDATE "UPDATE world SET randomnumber = "

static kiln_dialect_t dialect; /* 0 until bench_raw_open */
static char *sqlite_path;

/* ---- SQLite ---- */

typedef struct sq_conn {
    sqlite3 *db;
    sqlite3_stmt *world, *fortune, *update;
    struct sq_conn *next; /* every connection, for bench_raw_close */
} sq_conn_t;

static pthread_mutex_t sq_mu = PTHREAD_MUTEX_INITIALIZER;
static sq_conn_t *sq_all;
static _Thread_local sq_conn_t *sq_mine;

static sq_conn_t *sq_conn(void)
{
    if (sq_mine) return sq_mine;
    sq_conn_t *c = kiln_xcalloc(1, sizeof *c);
    if (sqlite3_open_v2(sqlite_path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK ||
        sqlite3_busy_timeout(c->db, 5000) != SQLITE_OK ||
        sqlite3_exec(c->db, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL) != SQLITE_OK || /* as the data layer */
        sqlite3_prepare_v3(c->db, SQL_WORLD "?", -1, SQLITE_PREPARE_PERSISTENT, &c->world, NULL) != SQLITE_OK ||
        sqlite3_prepare_v3(c->db, SQL_FORTUNE, -1, SQLITE_PREPARE_PERSISTENT, &c->fortune, NULL) != SQLITE_OK ||
        sqlite3_prepare_v3(c->db, SQL_UPDATE "? WHERE id = ?", -1, SQLITE_PREPARE_PERSISTENT, &c->update, NULL) !=
            SQLITE_OK) {
        kiln_log(KILN_LOG_ERROR, "raw sqlite: %s", sqlite3_errmsg(c->db));
        sqlite3_finalize(c->world);
        sqlite3_finalize(c->fortune);
        sqlite3_close(c->db);
        free(c);
        return NULL;
    }
    pthread_mutex_lock(&sq_mu);
    c->next = sq_all;
    sq_all = c;
    pthread_mutex_unlock(&sq_mu);
    return sq_mine = c;
}

static int sq_world(sq_conn_t *c, int64_t id, int64_t *num)
{
    sqlite3_bind_int64(c->world, 1, id);
    int rc = sqlite3_step(c->world);
    if (rc == SQLITE_ROW) *num = sqlite3_column_int64(c->world, 1);
    sqlite3_reset(c->world);
    return rc == SQLITE_ROW ? 0 : KILN_EIO;
}

static int sq_update(sq_conn_t *c, int64_t id, int64_t num)
{
    sqlite3_bind_int64(c->update, 1, num);
    sqlite3_bind_int64(c->update, 2, id);
    int rc = sqlite3_step(c->update);
    sqlite3_reset(c->update);
    return rc == SQLITE_DONE ? 0 : KILN_EIO;
}

static int sq_fortunes(sq_conn_t *c, kiln_arena_t *a, fortune_t **out, size_t *n)
{
    size_t cap = 16, k = 0;
    fortune_t *f = kiln_arena_alloc(a, cap * sizeof *f);
    int rc;
    while (f && (rc = sqlite3_step(c->fortune)) == SQLITE_ROW) {
        if (k + 1 == cap) { /* keep room for the request-time fortune */
            fortune_t *g = kiln_arena_alloc(a, cap * 2 * sizeof *g);
            if (g) memcpy(g, f, k * sizeof *f);
            f = g, cap *= 2;
            if (!f) break;
        }
        const char *m = (const char *)sqlite3_column_text(c->fortune, 1);
        f[k] = (fortune_t){ sqlite3_column_int(c->fortune, 0),
                            kiln_arena_strndup(a, m, (size_t)sqlite3_column_bytes(c->fortune, 1)) };
        if (!f[k++].message) f = NULL;
    }
    sqlite3_reset(c->fortune);
    if (!f) return KILN_ENOMEM;
    *out = f;
    *n = k;
    return rc == SQLITE_DONE ? 0 : KILN_EIO;
}

/* ---- PostgreSQL ---- */

typedef struct pq_conn {
    PGconn *pg;
    struct pq_conn *next; /* the free list */
} pq_conn_t;

typedef struct pq_waiter {
    struct pq_waiter *next;
    kiln_coro_t *coro;
    pq_conn_t *conn;
} pq_waiter_t;

static pthread_mutex_t pq_mu = PTHREAD_MUTEX_INITIALIZER;
static pq_conn_t *pq_free, *pq_every[1000];
static int pq_open, pq_size;
static pq_waiter_t *pq_head, *pq_tail;
static const char *pq_kw[8], *pq_val[8];

static pq_conn_t *pq_connect(void)
{
    PGconn *pg = PQconnectdbParams(pq_kw, pq_val, 0);
    if (PQstatus(pg) == CONNECTION_OK) {
        static const char *const sql[][2] = { { "w", SQL_WORLD "$1" },
                                              { "f", SQL_FORTUNE },
                                              { "u", SQL_UPDATE "$1 WHERE id = $2" } };
        int ok = 1;
        for (size_t i = 0; i < KILN_ARRAY_LEN(sql) && ok; i++) {
            PGresult *r = PQprepare(pg, sql[i][0], sql[i][1], 0, NULL);
            ok = PQresultStatus(r) == PGRES_COMMAND_OK;
            PQclear(r);
        }
        if (ok && PQsetnonblocking(pg, 1) == 0) {
            pq_conn_t *c = kiln_xcalloc(1, sizeof *c);
            c->pg = pg;
            return c;
        }
    }
    kiln_log(KILN_LOG_ERROR, "raw postgres: %.*s", (int)strcspn(PQerrorMessage(pg), "\n"), PQerrorMessage(pg));
    PQfinish(pg);
    return NULL;
}

static pq_conn_t *pq_checkout(void)
{
    pthread_mutex_lock(&pq_mu);
    pq_conn_t *c = pq_free;
    if (c) {
        pq_free = c->next;
        pthread_mutex_unlock(&pq_mu);
        return c;
    }
    if (pq_open < pq_size) {
        int slot = pq_open++;
        pthread_mutex_unlock(&pq_mu);
        c = pq_connect();
        pthread_mutex_lock(&pq_mu);
        if (c) pq_every[slot] = c;
        else pq_open--;
        pthread_mutex_unlock(&pq_mu);
        return c;
    }
    pq_waiter_t w = { .coro = kiln_coro_current() };
    if (pq_tail) pq_tail->next = &w;
    else pq_head = &w;
    pq_tail = &w;
    pthread_mutex_unlock(&pq_mu);
    kiln_coro_park();
    return w.conn;
}

static void pq_checkin(pq_conn_t *c)
{
    pthread_mutex_lock(&pq_mu);
    pq_waiter_t *w = pq_head;
    if (w) {
        pq_head = w->next;
        if (!pq_head) pq_tail = NULL;
        w->conn = c;
    } else {
        c->next = pq_free;
        pq_free = c;
    }
    pthread_mutex_unlock(&pq_mu);
    if (w) kiln_coro_wake(w->coro, 0);
}

typedef struct sock_wait {
    kiln_io_t io;
    kiln_coro_t *coro;
    int done;
} sock_wait_t;

static void sock_ready(kiln_io_t *io, unsigned events)
{
    (void)events;
    sock_wait_t *w = kiln_container_of(io, sock_wait_t, io);
    if (!w->done++) kiln_coro_wake(w->coro, 0);
}

static int wait_sock(PGconn *pg, unsigned events)
{
    sock_wait_t w = { .coro = kiln_coro_current() };
    if (kiln_io_start(&w.io, PQsocket(pg), events, sock_ready) < 0) return KILN_EIO;
    kiln_coro_park();
    kiln_io_stop(&w.io);
    return 0;
}

static int pq_flush(PGconn *pg)
{
    int r;
    while ((r = PQflush(pg)) == 1)
        if (wait_sock(pg, KILN_IO_READ | KILN_IO_WRITE) < 0 || !PQconsumeInput(pg)) return KILN_EIO;
    return r == 0 ? 0 : KILN_EIO;
}

/* The next result of the query being read, waiting as needed (NULL at its end). */
static PGresult *pq_result(PGconn *pg)
{
    while (PQisBusy(pg))
        if (wait_sock(pg, KILN_IO_READ) < 0 || !PQconsumeInput(pg)) return NULL;
    return PQgetResult(pg);
}

/* Reads one statement's results; *res keeps the last (the caller clears it). */
static int pq_take(PGconn *pg, PGresult **res)
{
    PGresult *r;
    int ok = 1;
    *res = NULL;
    while ((r = pq_result(pg))) {
        ExecStatusType st = PQresultStatus(r);
        if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) ok = 0;
        PQclear(*res);
        *res = r;
    }
    return ok && *res ? 0 : KILN_EIO;
}

static int pq_run(PGconn *pg, const char *name, int n, const char *const *vals, PGresult **res)
{
    if (!PQsendQueryPrepared(pg, name, n, vals, NULL, NULL, 0) || pq_flush(pg) < 0) return KILN_EIO;
    return pq_take(pg, res);
}

/* N selects of random worlds in one pipeline, a sync after each. */
static int pq_worlds(PGconn *pg, kiln_arena_t *a, const int64_t *ids, int64_t *nums, int n)
{
    if (!PQenterPipelineMode(pg)) return KILN_EIO;
    for (int i = 0; i < n; i++) {
        const char *v = kiln_arena_sprintf(a, "%lld", (long long)ids[i]);
        if (!v || !PQsendQueryPrepared(pg, "w", 1, &v, NULL, NULL, 0) || !PQpipelineSync(pg)) return KILN_EIO;
    }
    if (pq_flush(pg) < 0) return KILN_EIO;
    int rc = 0;
    for (int i = 0; i < n; i++) {
        PGresult *r;
        if (pq_take(pg, &r) < 0 || PQntuples(r) != 1) rc = KILN_EIO;
        else nums[i] = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
        PQclear(r);
        r = pq_result(pg); /* the sync */
        if (!r || PQresultStatus(r) != PGRES_PIPELINE_SYNC) rc = KILN_EIO;
        PQclear(r);
        if (!r) return rc;
    }
    return PQexitPipelineMode(pg) ? rc : KILN_EIO;
}

/* ---- the handlers ---- */

int bench_raw_open(const char *url)
{
    kiln_db_url_t u;
    char err[256];
    if (kiln_db_url_parse(url, &u, err, sizeof err) < 0) {
        fprintf(stderr, "bench: %s\n", err);
        return KILN_EINVAL;
    }
    dialect = u.dialect;
    if (u.dialect == KILN_DB_SQLITE) {
        sqlite_path = u.path ? kiln_xstrdup(u.path) : NULL;
    } else {
        char port[8];
        snprintf(port, sizeof port, "%d", u.port ? u.port : 5432);
        const char *kw[] = { "host", "port", "dbname", "user", "password", "sslmode" };
        const char *val[] = { u.host, port, u.dbname, u.user, u.password, u.sslmode };
        for (size_t i = 0, k = 0; i < KILN_ARRAY_LEN(kw); i++)
            if (val[i]) pq_kw[k] = kw[i], pq_val[k++] = kiln_xstrdup(val[i]);
        pq_size = u.pool_size;
    }
    kiln_db_url_free(&u);
    if (dialect == KILN_DB_SQLITE && !sqlite_path) {
        fprintf(stderr, "bench: the raw endpoints need a file (sqlite::memory: is private to one connection)\n");
        return KILN_EINVAL;
    }
    return 0;
}

void bench_raw_close(void)
{
    for (sq_conn_t *c = sq_all, *next; c; c = next) {
        next = c->next;
        sqlite3_finalize(c->world);
        sqlite3_finalize(c->fortune);
        sqlite3_finalize(c->update);
        sqlite3_close(c->db);
        free(c);
    }
    for (int i = 0; i < pq_open; i++) {
        PQfinish(pq_every[i]->pg);
        free(pq_every[i]);
    }
    for (int i = 0; pq_kw[i]; i++) free((char *)pq_val[i]);
    free(sqlite_path);
}

static int rand_id(void) { return 1 + rand() % 10000; }

/* N worlds read (and with update, each given a new random number and written
 * back by its own statement), answered as JSON. */
static int raw_worlds(kiln_conn_t *c, int n, int update, int array)
{
    if (!dialect) return bench_unavailable(c);
    int64_t *ids = kiln_arena_alloc(c->arena, (size_t)n * sizeof *ids * 2), *nums = ids + n;
    if (!ids) return KILN_ENOMEM;
    for (int i = 0; i < n; i++) ids[i] = rand_id();
    int rc = 0;
    if (dialect == KILN_DB_SQLITE) {
        sq_conn_t *sq = sq_conn();
        if (!sq) return KILN_EIO;
        for (int i = 0; i < n && rc >= 0; i++) rc = sq_world(sq, ids[i], &nums[i]);
        for (int i = 0; i < n && rc >= 0 && update; i++) {
            int64_t r = rand_id();
            nums[i] = r == nums[i] ? r % 10000 + 1 : r; /* the rules want a changed value */
            rc = sq_update(sq, ids[i], nums[i]);
        }
    } else {
        pq_conn_t *pq = pq_checkout();
        if (!pq) return KILN_EIO;
        if (array) {
            rc = pq_worlds(pq->pg, c->arena, ids, nums, n);
        } else { /* /db: one plain statement, as kiln_repo_get sends */
            const char *v = kiln_arena_sprintf(c->arena, "%lld", (long long)ids[0]);
            PGresult *res = NULL;
            rc = v ? pq_run(pq->pg, "w", 1, &v, &res) : KILN_ENOMEM;
            if (rc >= 0 && PQntuples(res) == 1) nums[0] = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
            else if (rc >= 0) rc = KILN_EIO;
            PQclear(res);
        }
        for (int i = 0; i < n && rc >= 0 && update; i++) {
            int64_t r = rand_id();
            nums[i] = r == nums[i] ? r % 10000 + 1 : r;
            const char *v[2] = { kiln_arena_sprintf(c->arena, "%lld", (long long)nums[i]),
                                 kiln_arena_sprintf(c->arena, "%lld", (long long)ids[i]) };
            PGresult *res = NULL;
            rc = v[0] && v[1] ? pq_run(pq->pg, "u", 2, v, &res) : KILN_ENOMEM;
            PQclear(res);
        }
        pq_checkin(pq);
    }
    return rc < 0 ? rc : bench_json_worlds(c, ids, nums, n, array);
}

int raw_db(kiln_conn_t *c) { return raw_worlds(c, 1, 0, 0); }
int raw_queries(kiln_conn_t *c) { return raw_worlds(c, bench_queries_param(c), 0, 1); }
int raw_updates(kiln_conn_t *c) { return raw_worlds(c, bench_queries_param(c), 1, 1); }

int raw_fortunes(kiln_conn_t *c)
{
    if (!dialect) return bench_unavailable(c);
    fortune_t *f = NULL;
    size_t n = 0;
    int rc;
    if (dialect == KILN_DB_SQLITE) {
        sq_conn_t *sq = sq_conn();
        rc = sq ? sq_fortunes(sq, c->arena, &f, &n) : KILN_EIO;
    } else {
        pq_conn_t *pq = pq_checkout();
        if (!pq) return KILN_EIO;
        PGresult *res = NULL;
        rc = pq_run(pq->pg, "f", 0, NULL, &res);
        n = rc < 0 ? 0 : (size_t)PQntuples(res);
        f = kiln_arena_alloc(c->arena, (n + 1) * sizeof *f);
        for (size_t i = 0; f && i < n; i++) {
            f[i] = (fortune_t){ atoi(PQgetvalue(res, (int)i, 0)),
                                kiln_arena_strndup(c->arena, PQgetvalue(res, (int)i, 1),
                                                   (size_t)PQgetlength(res, (int)i, 1)) };
            if (!f[i].message) f = NULL;
        }
        PQclear(res);
        pq_checkin(pq);
        if (rc >= 0 && !f) rc = KILN_ENOMEM;
    }
    return rc < 0 ? rc : bench_send_fortunes(c, f, n);
}
