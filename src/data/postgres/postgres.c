/* The PostgreSQL adapter: libpq in nonblocking mode, a pool, reconnect with
 * backoff, prepared statements cached per connection
 * (docs/adr/0021-postgres-nonblocking-pool.md).
 *
 * No thread waits on PostgreSQL: a statement is sent with
 * PQsendQueryPrepared / PQsendQueryParams, and whenever libpq would block the
 * caller waits on the connection's socket (kiln__wait_fd): a coroutine parks
 * with the socket in its scheduler's event loop, a plain thread polls.
 * Connecting is asynchronous too (PQconnectStartParams + PQconnectPoll).
 *
 * The pool holds up to pool_size connections, opened on demand. A checkout
 * takes a free one, opens a new one if below the size, or queues (FIFO) for
 * up to checkout_timeout; checkin hands the connection straight to the first
 * waiter. A connection found broken (the server went away, the backend was
 * terminated) is closed at checkin and its slot handed on, and the next
 * checkout reconnects; failed connects back off exponentially (100 ms to 5 s),
 * during which checkouts that need a new connection fail fast (KILN_EAGAIN).
 *
 * Statements that start with SELECT/INSERT/UPDATE/DELETE/WITH are prepared
 * once per connection under a generated name and cached by SQL text (a text
 * of the SQL cache, kiln__sql_stable, by its address); others
 * (DDL, transaction control) go unprepared. Parameters travel as text with
 * type OID 0 (the server infers the type), blobs as binary. Results come as
 * text and are converted by column type (int, float, bool, bytea; the rest as
 * text); exec_into stores each converted cell straight into its struct field,
 * with the column-to-field map kept per cached statement.
 *
 * Every wait for the server during a statement is bounded by the URL's
 * timeout (15 s): a server that stops answering (blackholed network, stopped
 * backend) gives KILN_ETIMEDOUT and a connection that is discarded at checkin,
 * never a hang. A COMMIT that times out or loses its connection has an
 * unknown outcome; the error says so.
 *
 * kiln_repo_query_batch uses libpq's pipeline mode: every statement is sent,
 * each followed by a sync, then the results are read in order — N
 * independent statements in one round trip on one connection. */
#include "data/schema_int.h"

#include <postgresql/libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define STMT_CACHE 128
#define CONNECT_TIMEOUT_MS 10000

typedef struct pg_state pg_state_t;

/* map (owned) gives each result column's field of schema map_for, for
 * decoding straight into structs (exec_into); built from the statement's first
 * result and kept with the entry: a prepared statement's result columns change
 * only when it is prepared again, which happens after the server refused it
 * with 0A000 ("cached plan must not change result type") and forget() dropped
 * the entry, map and all. */
typedef struct cached_stmt {
    const char *sql; /* a text of the SQL cache itself when stable, else an owned copy */
    bool stable;
    char name[16];
    const kiln_schema_t *map_for;
    const kiln_field_t **map;
    int map_n;
} cached_stmt_t;

struct kiln__db_conn {
    PGconn *pg;
    kiln__db_conn_t *next_free;
    bool broken, timed_out;  /* timed_out: the server did not answer within timeout_ms */
    int timeout_ms;
    unsigned next_name;
    cached_stmt_t cache[STMT_CACHE];
};

typedef struct pg_waiter {
    struct pg_waiter *next;
    kiln_coro_t *coro;
    kiln_timer_t timer;
    pg_state_t *owner;
    int state;              /* WAITING, GRANTED (conn, or NULL = a free slot to connect), TIMED_OUT */
    kiln__db_conn_t *conn;
} pg_waiter_t;
enum { WAITING, GRANTED, TIMED_OUT };

struct pg_state {
    const char *kw[16], *val[16]; /* connection parameters, NULL-terminated; val strings owned */
    int size, checkout_timeout_ms, timeout_ms;
    pthread_mutex_t mu;
    pthread_cond_t cv;          /* wakes plain-thread waiters */
    kiln__db_conn_t *free;
    int n_open;
    pg_waiter_t *head, *tail;
    int64_t next_connect_ns, failed_ns; /* failed_ns: when the backoff last grew */
    int backoff_ms;
};

/* ---- connecting ---- */

/* Grows the backoff once per failed round: attempts that started together
 * (several checkouts finding the pool empty when the server went away) fail
 * together, and only the first to report counts, or one outage would double
 * the backoff once per attempt and jump straight to its 5 s cap. */
static void connect_failed(pg_state_t *s, int64_t started_ns, const char *why)
{
    pthread_mutex_lock(&s->mu);
    bool counted = s->failed_ns > started_ns;
    if (!counted) {
        s->backoff_ms = s->backoff_ms ? (s->backoff_ms * 2 > 5000 ? 5000 : s->backoff_ms * 2) : 100;
        s->failed_ns = kiln_now_ns();
        s->next_connect_ns = s->failed_ns + (int64_t)s->backoff_ms * 1000000;
    }
    int backoff = s->backoff_ms;
    pthread_mutex_unlock(&s->mu);
    if (!counted) kiln_log(KILN_LOG_WARN, "postgres: connect failed (retrying after %d ms): %s", backoff, why);
}

/* Server notices ("relation already exists, skipping") are not errors: debug only. */
static void on_notice(void *ud, const char *msg)
{
    (void)ud;
    kiln_log(KILN_LOG_DEBUG, "postgres: %.*s", (int)strcspn(msg, "\n"), msg);
}

static int pg_connect(pg_state_t *s, kiln__db_conn_t **out)
{
    int64_t started = kiln_now_ns();
    pthread_mutex_lock(&s->mu);
    bool backing_off = started < s->next_connect_ns;
    pthread_mutex_unlock(&s->mu);
    if (backing_off) return KILN_EAGAIN;
    PGconn *pg = PQconnectStartParams(s->kw, s->val, 0);
    if (!pg) return KILN_ENOMEM;
    PostgresPollingStatusType st = PQstatus(pg) == CONNECTION_BAD ? PGRES_POLLING_FAILED : PGRES_POLLING_WRITING;
    while (st != PGRES_POLLING_OK && st != PGRES_POLLING_FAILED) {
        unsigned ev = st == PGRES_POLLING_READING ? KILN_IO_READ : KILN_IO_WRITE;
        if (kiln__wait_fd(PQsocket(pg), ev, CONNECT_TIMEOUT_MS) < 0) {
            st = PGRES_POLLING_FAILED;
            break;
        }
        st = PQconnectPoll(pg);
    }
    if (st == PGRES_POLLING_FAILED || PQsetnonblocking(pg, 1) != 0) {
        char why[256];
        snprintf(why, sizeof why, "%s", PQerrorMessage(pg));
        why[strcspn(why, "\n")] = 0;
        PQfinish(pg);
        connect_failed(s, started, why);
        return KILN_ECLOSED;
    }
    PQsetNoticeProcessor(pg, on_notice, NULL);
    pthread_mutex_lock(&s->mu);
    s->backoff_ms = 0;
    pthread_mutex_unlock(&s->mu);
    kiln__db_conn_t *c = kiln_xcalloc(1, sizeof *c);
    c->pg = pg;
    c->timeout_ms = s->timeout_ms;
    *out = c;
    return 0;
}

/* Empties a statement cache entry, freeing what it owns. */
static void entry_clear(cached_stmt_t *e)
{
    if (!e->stable) free((char *)e->sql);
    free(e->map);
    *e = (cached_stmt_t){ 0 };
}

static void conn_free(kiln__db_conn_t *c)
{
    for (int i = 0; i < STMT_CACHE; i++) entry_clear(&c->cache[i]);
    PQfinish(c->pg);
    free(c);
}

/* ---- the pool ---- */

static void unlink_waiter(pg_state_t *s, pg_waiter_t *w)
{
    pg_waiter_t **pp = &s->head, *prev = NULL;
    while (*pp && *pp != w) prev = *pp, pp = &(*pp)->next;
    if (!*pp) return;
    *pp = w->next;
    if (s->tail == w) s->tail = prev;
}

static void waiter_timeout(kiln_timer_t *t)
{
    pg_waiter_t *w = kiln_container_of(t, pg_waiter_t, timer);
    pg_state_t *s = w->owner;
    pthread_mutex_lock(&s->mu);
    bool mine = w->state == WAITING; /* else checkin granted it and a wake is on its way */
    if (mine) {
        unlink_waiter(s, w);
        w->state = TIMED_OUT;
    }
    pthread_mutex_unlock(&s->mu);
    if (mine) kiln_coro_wake(w->coro, 0);
}

/* Queues for a connection; called with mu held, returns with it released. */
static int wait_turn(pg_state_t *s, pg_waiter_t *w, int64_t deadline_ns)
{
    w->owner = s;
    if (s->tail) s->tail->next = w;
    else s->head = w;
    s->tail = w;
    int64_t left_ms = (deadline_ns - kiln_now_ns()) / 1000000;
    if (w->coro) {
        kiln_timer_start(&w->timer, (uint64_t)(left_ms > 0 ? left_ms : 0), waiter_timeout);
        pthread_mutex_unlock(&s->mu);
        kiln_coro_park();
        kiln_timer_stop(&w->timer);
        return w->state == GRANTED ? 0 : KILN_ETIMEDOUT;
    }
    while (w->state == WAITING) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t left = deadline_ns - kiln_now_ns();
        if (left <= 0) {
            unlink_waiter(s, w);
            w->state = TIMED_OUT;
            break;
        }
        ts.tv_sec += left / 1000000000;
        ts.tv_nsec += left % 1000000000;
        if (ts.tv_nsec >= 1000000000) ts.tv_sec++, ts.tv_nsec -= 1000000000;
        pthread_cond_timedwait(&s->cv, &s->mu, &ts);
    }
    pthread_mutex_unlock(&s->mu);
    return w->state == GRANTED ? 0 : KILN_ETIMEDOUT;
}

static int pg_checkout(void *state, kiln__db_conn_t **out, int64_t *queue_ns)
{
    pg_state_t *s = state;
    int64_t t0 = kiln_now_ns(), deadline = t0 + (int64_t)s->checkout_timeout_ms * 1000000;
    pthread_mutex_lock(&s->mu);
    kiln__db_conn_t *c = s->free;
    if (c) {
        s->free = c->next_free;
        pthread_mutex_unlock(&s->mu);
    } else if (s->n_open < s->size) {
        s->n_open++;
        pthread_mutex_unlock(&s->mu);
    } else {
        pg_waiter_t w = { .coro = kiln_coro_current() };
        int rc = wait_turn(s, &w, deadline);
        if (rc < 0) return rc;
        c = w.conn;
    }
    *queue_ns = kiln_now_ns() - t0;
    if (c) {
        *out = c;
        return 0;
    }
    int rc = pg_connect(s, out);
    if (rc < 0) {
        pthread_mutex_lock(&s->mu);
        s->n_open--;
        pthread_mutex_unlock(&s->mu);
    }
    return rc;
}

static void pg_checkin(void *state, kiln__db_conn_t *c)
{
    pg_state_t *s = state;
    if (c->broken || PQstatus(c->pg) != CONNECTION_OK || PQtransactionStatus(c->pg) != PQTRANS_IDLE) {
        conn_free(c);
        c = NULL;
    }
    pthread_mutex_lock(&s->mu);
    pg_waiter_t *w = s->head;
    if (w) {
        s->head = w->next;
        if (!s->head) s->tail = NULL;
        w->state = GRANTED;
        w->conn = c; /* NULL: the slot is free, the waiter connects */
    } else if (c) {
        c->next_free = s->free;
        s->free = c;
    } else {
        s->n_open--;
    }
    kiln_coro_t *coro = w ? w->coro : NULL;
    if (w && !coro) pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    if (coro) kiln_coro_wake(coro, 0);
}

/* ---- one statement on a connection ---- */

/* Waits for the server on c's socket, at most timeout_ms: a server that stops
 * answering (blackholed, stopped) breaks the connection instead of hanging
 * the caller. Returns 0, or < 0 with c->broken set. */
static int wait_server(kiln__db_conn_t *c, unsigned events)
{
    int rc = kiln__wait_fd(PQsocket(c->pg), events, c->timeout_ms);
    if (rc < 0) {
        c->broken = true;
        c->timed_out = rc == KILN_ETIMEDOUT;
    }
    return rc;
}

/* The error for a connection that broke during a statement. */
static int broken_rc(const kiln__db_conn_t *c)
{
    return c->timed_out ? KILN_ETIMEDOUT : KILN_ECLOSED;
}

static void mark_broken(kiln__db_conn_t *c, kiln_rows_t *out)
{
    c->broken = true;
    char msg[256];
    snprintf(msg, sizeof msg, "%s",
             c->timed_out ? "no answer from the server within timeout (the outcome is unknown)" : PQerrorMessage(c->pg));
    msg[strcspn(msg, "\n")] = 0;
    kiln__err_set(&out->error, KILN_DBERR_CONNECTION, NULL, msg[0] ? msg : "connection lost");
}

static int flush(kiln__db_conn_t *c)
{
    for (;;) {
        int r = PQflush(c->pg);
        if (r == 0) return 0;
        if (r < 0 || wait_server(c, KILN_IO_READ | KILN_IO_WRITE) < 0 || !PQconsumeInput(c->pg)) {
            c->broken = true;
            return broken_rc(c);
        }
    }
}

/* The next result, waiting as needed; NULL at the end of the query's results
 * or when the connection broke (then c->broken). */
static PGresult *next_result(kiln__db_conn_t *c)
{
    while (PQisBusy(c->pg)) {
        if (wait_server(c, KILN_IO_READ) < 0 || !PQconsumeInput(c->pg)) {
            c->broken = true;
            return NULL;
        }
    }
    return PQgetResult(c->pg);
}

static kiln_dberr_kind_t kind_for(const char *state)
{
    static const struct {
        const char *code;
        kiln_dberr_kind_t kind;
    } map[] = { { "23505", KILN_DBERR_UNIQUE },
                { "23503", KILN_DBERR_FOREIGN_KEY },
                { "23514", KILN_DBERR_CHECK },
                { "23502", KILN_DBERR_NOT_NULL },
                { "57P01", KILN_DBERR_CONNECTION }, /* admin_shutdown: pg_terminate_backend */
                { "57P02", KILN_DBERR_CONNECTION },
                { "57P03", KILN_DBERR_CONNECTION } };
    for (size_t i = 0; i < KILN_ARRAY_LEN(map); i++)
        if (!strcmp(state, map[i].code)) return map[i].kind;
    return !strncmp(state, "08", 2) ? KILN_DBERR_CONNECTION : KILN_DBERR_OTHER;
}

static void map_error(kiln__db_conn_t *c, PGresult *res, kiln_rows_t *out)
{
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    kiln_dberr_kind_t kind = state ? kind_for(state) : KILN_DBERR_CONNECTION;
    kiln__err_set(&out->error, kind, PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME),
                  msg ? msg : PQresultErrorMessage(res));
    snprintf(out->error.sqlstate, sizeof out->error.sqlstate, "%s", state ? state : "");
    if (kind == KILN_DBERR_CONNECTION || PQstatus(c->pg) != CONNECTION_OK) c->broken = true;
}

static int convert_cell(PGresult *res, int row, int col, kiln_arena_t *a, kiln_val_t *v)
{
    if (PQgetisnull(res, row, col)) {
        *v = KILN_VNULL;
        return 0;
    }
    const char *t = PQgetvalue(res, row, col);
    size_t n = (size_t)PQgetlength(res, row, col);
    switch (PQftype(res, col)) {
    case 20: case 21: case 23: *v = KILN_VINT(strtoll(t, NULL, 10)); return 0; /* int8, int2, int4 */
    case 700: case 701: *v = KILN_VFLOAT(strtod(t, NULL)); return 0;           /* float4, float8 */
    case 16: *v = KILN_VINT(t[0] == 't'); return 0;                              /* bool */
    case 17: {                                                                    /* bytea */
        size_t bn;
        unsigned char *b = PQunescapeBytea((const unsigned char *)t, &bn);
        char *copy = b ? kiln_arena_alloc(a, bn + 1) : NULL;
        if (copy) memcpy(copy, b, bn), copy[bn] = 0;
        PQfreemem(b);
        if (!copy) return KILN_ENOMEM;
        *v = KILN_VBLOB(copy, bn);
        return 0;
    }
    default: {
        char *copy = kiln_arena_alloc(a, n + 1);
        if (!copy) return KILN_ENOMEM;
        memcpy(copy, t, n);
        copy[n] = 0;
        *v = KILN_VTEXTN(copy, n);
        return 0;
    }
    }
}

static int convert(PGresult *res, kiln_arena_t *a, kiln_rows_t *out)
{
    int64_t t0 = kiln_now_ns();
    size_t nr = (size_t)PQntuples(res), nc = (size_t)PQnfields(res);
    if (!kiln__rows_alloc(a, out, nr, nc)) return KILN_ENOMEM;
    out->cols = kiln_arena_alloc(a, (nc ? nc : 1) * sizeof(char *));
    if (!out->cols) return KILN_ENOMEM;
    for (size_t i = 0; i < nc; i++) {
        const char *name = PQfname(res, (int)i);
        out->cols[i] = kiln_arena_strndup(a, name, strlen(name));
    }
    for (size_t r = 0; r < nr; r++)
        for (size_t i = 0; i < nc; i++)
            if (convert_cell(res, (int)r, (int)i, a, &out->vals[r * nc + i]) < 0) return KILN_ENOMEM;
    const char *tuples = PQcmdTuples(res);
    out->changes = *tuples ? strtoll(tuples, NULL, 10) : 0;
    out->decode_ns += kiln_now_ns() - t0;
    return PQresultStatus(res) == PGRES_TUPLES_OK ? (int)nr : (int)out->changes;
}

/* res's column-to-field map for into's schema: e's (the cached statement res
 * answers, or NULL), built at its first result, else one in the arena. */
static const kiln_field_t **into_map(cached_stmt_t *e, PGresult *res, const kiln_schema_t *s, kiln_arena_t *a)
{
    int nc = PQnfields(res);
    if (e && e->map_for == s && e->map_n == nc) return e->map;
    size_t bytes = (size_t)(nc ? nc : 1) * sizeof(kiln_field_t *);
    const kiln_field_t **map = e ? kiln_xrealloc(e->map, bytes) : kiln_arena_alloc(a, bytes);
    if (!map) return NULL;
    for (int i = 0; i < nc; i++) map[i] = kiln_schema_field(s, PQfname(res, i), NULL);
    if (e) e->map = map, e->map_for = s, e->map_n = nc;
    return map;
}

/* convert and kiln__decode_into in one pass: each mapped cell converted as
 * convert does (convert_cell) and stored with kiln__field_set, so the structs
 * get exactly what the two steps gave, without out->vals, out->cols or a
 * match of column names per statement. A cell the field cannot take (an
 * unparsable UTC) fails with KILN_EINVAL. */
static int convert_into(cached_stmt_t *e, PGresult *res, kiln_arena_t *a, kiln__into_t *into, kiln_rows_t *out)
{
    int64_t t0 = kiln_now_ns();
    size_t nr = (size_t)PQntuples(res), nc = (size_t)PQnfields(res), size = into->s->size;
    const kiln_field_t **map = into_map(e, res, into->s, a);
    if (!map) return KILN_ENOMEM;
    if (into->grow && nr > into->cap) {
        into->cap = nr;
        if (!(into->recs = kiln_arena_calloc(a, nr * size))) return KILN_ENOMEM;
    }
    out->n_rows = nr;
    out->n_cols = nc;
    for (size_t r = 0; r < nr && r < into->cap; r++)
        for (size_t i = 0; i < nc; i++) {
            kiln_val_t v;
            if (!map[i]) continue;
            if (convert_cell(res, (int)r, (int)i, a, &v) < 0) return KILN_ENOMEM;
            if (kiln__field_set(map[i], into->recs + r * size, &v, a) < 0) {
                kiln__err_set(&out->error, KILN_DBERR_OTHER, NULL, "a column's value does not fit its schema field");
                return KILN_EINVAL;
            }
        }
    const char *tuples = PQcmdTuples(res);
    out->changes = *tuples ? strtoll(tuples, NULL, 10) : 0;
    out->decode_ns += kiln_now_ns() - t0;
    return PQresultStatus(res) == PGRES_TUPLES_OK ? (int)nr : (int)out->changes;
}

/* Reads every result of the query just sent; the last successful one is
 * converted (into into's structs when into is set, e the cached statement
 * sent or NULL), the first error wins. */
static int collect(kiln__db_conn_t *c, kiln_arena_t *a, cached_stmt_t *e, kiln__into_t *into, kiln_rows_t *out)
{
    int rc = 0;
    bool seen = false;
    PGresult *res;
    while ((res = next_result(c))) {
        ExecStatusType st = PQresultStatus(res);
        if (!seen && (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK))
            rc = into ? convert_into(e, res, a, into, out) : convert(res, a, out);
        else if (!seen && st != PGRES_EMPTY_QUERY) {
            map_error(c, res, out);
            rc = kiln__rc_for(out->error.kind);
        }
        seen = seen || st != PGRES_EMPTY_QUERY;
        PQclear(res);
    }
    if (c->broken) {
        mark_broken(c, out);
        return broken_rc(c);
    }
    return rc;
}

static bool cacheable(const char *sql)
{
    static const char *const verbs[] = { "SELECT", "INSERT", "UPDATE", "DELETE", "WITH" };
    while (*sql == ' ' || *sql == '\n' || *sql == '(') sql++;
    for (size_t i = 0; i < KILN_ARRAY_LEN(verbs); i++)
        if (!strncasecmp(sql, verbs[i], strlen(verbs[i]))) return true;
    return false;
}

static unsigned hash_sql(const char *s)
{
    unsigned h = 2166136261u;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* sql's slot in c's statement cache. A text of the SQL cache
 * (kiln__sql_stable) never moves, so it is found by its address alone: no
 * hash of the text, no comparison (as in the SQLite adapter). */
static cached_stmt_t *slot(kiln__db_conn_t *c, const char *sql, bool stable)
{
    return &c->cache[(stable ? (unsigned)((uintptr_t)sql >> 3) * 2654435761u : hash_sql(sql)) % STMT_CACHE];
}

static bool hit(const cached_stmt_t *e, const char *sql, bool stable)
{
    return e->sql && (e->sql == sql || (!stable && !strcmp(e->sql, sql)));
}

/* sql's cached statement on c, or NULL. */
static cached_stmt_t *find(kiln__db_conn_t *c, const char *sql)
{
    bool stable = kiln__sql_stable(sql);
    cached_stmt_t *e = slot(c, sql, stable);
    return hit(e, sql, stable) ? e : NULL;
}

/* The cached statement for sql, preparing it first if needed; NULL when sql
 * is not cached (then *rc says whether preparing failed). */
static cached_stmt_t *prepared(kiln__db_conn_t *c, const char *sql, size_t n, kiln_arena_t *a, kiln_rows_t *out,
                               int *rc)
{
    *rc = 0;
    bool stable = kiln__sql_stable(sql);
    cached_stmt_t *e = slot(c, sql, stable);
    if (hit(e, sql, stable)) return e; /* only cacheable texts are stored */
    if (!cacheable(sql)) return NULL;
    char name[16];
    snprintf(name, sizeof name, "k%u", c->next_name++);
    if (!PQsendPrepare(c->pg, name, sql, (int)n, NULL) || flush(c) < 0) {
        mark_broken(c, out);
        *rc = broken_rc(c);
        return NULL;
    }
    *rc = collect(c, a, NULL, NULL, out);
    if (*rc < 0) return NULL;
    /* The replaced statement stays allocated on the server until the connection
     * closes; the cache is bounded, so that is bounded too. */
    entry_clear(e);
    e->sql = stable ? sql : kiln_xstrdup(sql);
    e->stable = stable;
    memcpy(e->name, name, sizeof name);
    return e;
}

/* Drops sql's cached statement (and its column map): it is prepared again. */
static void forget(kiln__db_conn_t *c, const char *sql)
{
    cached_stmt_t *e = find(c, sql);
    if (e) entry_clear(e);
}

/* v in decimal, in a; what "%lld" prints, without the printf machinery (most
 * parameters are ids, and formatting one was ~1.5k instructions). */
static const char *int_text(kiln_arena_t *a, int64_t v)
{
    char buf[24], *p = buf + sizeof buf;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    *--p = 0;
    do *--p = (char)('0' + u % 10);
    while (u /= 10);
    if (v < 0) *--p = '-';
    return kiln_arena_strndup(a, p, (size_t)(buf + sizeof buf - 1 - p));
}

static int encode_params(kiln_arena_t *a, const kiln_val_t *p, size_t n, const char ***vals, int **lens, int **fmts)
{
    *vals = kiln_arena_alloc(a, (n ? n : 1) * sizeof(char *));
    *lens = kiln_arena_alloc(a, (n ? n : 1) * sizeof(int));
    *fmts = kiln_arena_alloc(a, (n ? n : 1) * sizeof(int));
    if (!*vals || !*lens || !*fmts) return KILN_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const char *v = NULL;
        (*fmts)[i] = 0;
        (*lens)[i] = 0;
        switch (p[i].kind) {
        case KILN_VAL_INT: v = int_text(a, p[i].i); break;
        case KILN_VAL_FLOAT: v = kiln_arena_sprintf(a, "%.17g", p[i].f); break;
        case KILN_VAL_TEXT:
            if (memchr(p[i].s, 0, p[i].len)) return KILN_EINVAL; /* PostgreSQL text cannot hold NUL */
            v = kiln_arena_strndup(a, p[i].s, p[i].len);
            break;
        case KILN_VAL_BLOB:
            v = p[i].len ? p[i].s : "";
            (*fmts)[i] = 1;
            (*lens)[i] = (int)p[i].len;
            break;
        default: break;
        }
        if (p[i].kind != KILN_VAL_NULL && !v) return KILN_ENOMEM;
        (*vals)[i] = v;
    }
    return 0;
}

static int run(kiln__db_conn_t *c, kiln_arena_t *a, const char *sql, const kiln_val_t *params, size_t n,
               kiln__into_t *into, kiln_rows_t *out)
{
    int64_t t0 = kiln_now_ns();
    const char **vals;
    int *lens, *fmts, rc = encode_params(a, params, n, &vals, &lens, &fmts);
    if (rc < 0) {
        kiln__err_set(&out->error, KILN_DBERR_OTHER, NULL, "a parameter cannot be encoded (NUL in text?)");
        return rc;
    }
    cached_stmt_t *e = prepared(c, sql, n, a, out, &rc);
    if (rc < 0) return rc;
    int sent = e ? PQsendQueryPrepared(c->pg, e->name, (int)n, vals, lens, fmts, 0)
                 : PQsendQueryParams(c->pg, sql, (int)n, NULL, vals, lens, fmts, 0);
    if (!sent || flush(c) < 0) {
        mark_broken(c, out);
        return broken_rc(c);
    }
    rc = collect(c, a, e, into, out);
    /* A cached plan invalidated by DDL (0A000) is re-prepared next time. */
    if (rc < 0 && e && !strcmp(out->error.sqlstate, "0A000")) forget(c, sql);
    out->query_ns += kiln_now_ns() - t0 - out->decode_ns;
    return rc;
}

static int pg_exec_into(void *state, kiln__db_conn_t *conn, kiln_arena_t *a, const char *sql,
                        const kiln_val_t *params, size_t n, kiln__into_t *into, kiln_rows_t *out)
{
    if (conn) return run(conn, a, sql, params, n, into, out);
    kiln__db_conn_t *c;
    int rc = pg_checkout(state, &c, &out->queue_ns);
    if (rc < 0) {
        kiln__err_set(&out->error, KILN_DBERR_CONNECTION, NULL,
                      rc == KILN_ETIMEDOUT ? "no pool connection within checkout_timeout" : "cannot connect");
        return rc;
    }
    rc = run(c, a, sql, params, n, into, out);
    pg_checkin(state, c);
    return rc;
}

static int pg_exec(void *state, kiln__db_conn_t *conn, kiln_arena_t *a, const char *sql, const kiln_val_t *params,
                   size_t n, kiln_rows_t *out)
{
    return pg_exec_into(state, conn, a, sql, params, n, NULL, out);
}

/* ---- pipeline mode: independent statements in one round trip ---- */

/* e if it still holds the statement prepared as name: a later statement of
 * the batch may have taken its slot since (names are unique per connection). */
static cached_stmt_t *still(cached_stmt_t *e, const char *name)
{
    return e && !strcmp(e->name, name) ? e : NULL;
}

/* Sends each statement followed by its own sync (so that one failing does not
 * abort the others), flushes once, then reads the results in order. Statements
 * not yet prepared on this connection are prepared first (one round trip each,
 * once per connection). A statement the server refuses to prepare, or whose
 * parameters cannot be encoded, is not sent and gets its error. With into,
 * statement i's rows are decoded into into[i] (convert_into). */
static int pipeline(kiln__db_conn_t *c, kiln_arena_t *a, const kiln_stmt_t *st, size_t n, kiln__into_t *into,
                    kiln_rows_t *out)
{
    int64_t t0 = kiln_now_ns();
    const char **names = kiln_arena_alloc(a, (n ? n : 1) * sizeof *names);
    cached_stmt_t **ents = kiln_arena_alloc(a, (n ? n : 1) * sizeof *ents);
    bool *sent = kiln_arena_calloc(a, n ? n : 1), *failed = kiln_arena_calloc(a, n ? n : 1);
    if (!names || !ents || !sent || !failed) return KILN_ENOMEM;
    int rc = 0, first = 0;
    for (size_t i = 0; i < n; i++) {
        /* Copied: a later statement may take this one's cache slot (its server-side
           statement lives on until the connection closes). */
        cached_stmt_t *e = ents[i] = prepared(c, st[i].sql, st[i].n, a, &out[i], &rc);
        if (rc < 0 && c->broken) return rc;
        failed[i] = rc < 0; /* refused by the server (a missing table…): out[i] has the error */
        first = first ? first : rc;
        names[i] = e ? kiln_arena_strndup(a, e->name, strlen(e->name)) : NULL;
        if (e && !names[i]) return KILN_ENOMEM;
    }
    if (!PQenterPipelineMode(c->pg)) {
        mark_broken(c, &out[0]);
        return KILN_ECLOSED;
    }
    for (size_t i = 0; i < n; i++) {
        const char **vals;
        int *lens, *fmts;
        if (failed[i]) continue;
        if ((rc = encode_params(a, st[i].params, st[i].n, &vals, &lens, &fmts)) < 0) {
            kiln__err_set(&out[i].error, KILN_DBERR_OTHER, NULL, "a parameter cannot be encoded (NUL in text?)");
            first = first ? first : rc;
            continue;
        }
        int ok = names[i] ? PQsendQueryPrepared(c->pg, names[i], (int)st[i].n, vals, lens, fmts, 0)
                          : PQsendQueryParams(c->pg, st[i].sql, (int)st[i].n, NULL, vals, lens, fmts, 0);
        if (!ok || !PQpipelineSync(c->pg)) {
            c->broken = true;
            break;
        }
        sent[i] = true;
    }
    if (!c->broken && flush(c) < 0) c->broken = true;
    for (size_t i = 0; i < n && !c->broken; i++) {
        if (!sent[i]) continue;
        rc = collect(c, a, into ? still(ents[i], names[i]) : NULL, into ? &into[i] : NULL, &out[i]);
        out[i].query_ns = kiln_now_ns() - t0 - out[i].decode_ns;
        if (rc < 0 && names[i] && !strcmp(out[i].error.sqlstate, "0A000")) forget(c, st[i].sql);
        if (rc < 0 && !first) first = rc;
        PGresult *sync = c->broken ? NULL : next_result(c); /* PGRES_PIPELINE_SYNC */
        if (sync && PQresultStatus(sync) != PGRES_PIPELINE_SYNC) c->broken = true;
        PQclear(sync);
    }
    if (c->broken) {
        for (size_t i = 0; i < n; i++)
            if (!out[i].error.kind) mark_broken(c, &out[i]);
        return broken_rc(c);
    }
    if (!PQexitPipelineMode(c->pg)) c->broken = true;
    return first;
}

static int pg_exec_batch(void *state, kiln__db_conn_t *conn, kiln_arena_t *a, const kiln_stmt_t *stmts, size_t n,
                         kiln__into_t *into, kiln_rows_t *out)
{
    if (!n) return 0;
    if (conn) return pipeline(conn, a, stmts, n, into, out);
    kiln__db_conn_t *c;
    int rc = pg_checkout(state, &c, &out[0].queue_ns);
    if (rc < 0) {
        for (size_t i = 0; i < n; i++)
            kiln__err_set(&out[i].error, KILN_DBERR_CONNECTION, NULL,
                          rc == KILN_ETIMEDOUT ? "no pool connection within checkout_timeout" : "cannot connect");
        return rc;
    }
    rc = pipeline(c, a, stmts, n, into, out);
    pg_checkin(state, c);
    return rc;
}

/* ---- adapter ---- */

static void pg_close(void *state)
{
    pg_state_t *s = state;
    for (kiln__db_conn_t *c = s->free, *next; c; c = next) {
        next = c->next_free;
        conn_free(c);
    }
    for (int i = 0; s->kw[i]; i++) free((char *)s->val[i]);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
}

static void add_param(pg_state_t *s, const char *kw, const char *val)
{
    if (!val) return;
    int i = 0;
    while (s->kw[i]) i++;
    s->kw[i] = kw;
    s->val[i] = kiln_xstrdup(val);
}

static int pg_open(const kiln_db_url_t *url, void **state, char *err, size_t errlen)
{
    (void)err, (void)errlen;
    pg_state_t *s = kiln_xcalloc(1, sizeof *s);
    char port[8];
    snprintf(port, sizeof port, "%d", url->port ? url->port : 5432);
    add_param(s, "host", url->host);
    add_param(s, "port", port);
    add_param(s, "dbname", url->dbname);
    add_param(s, "user", url->user);
    add_param(s, "password", url->password);
    add_param(s, "sslmode", url->sslmode);
    add_param(s, "application_name", "kiln");
    /* A pooled connection can sit idle for hours: TCP keepalives find a peer
     * that vanished without a RST (a crashed host, a dropped route) within
     * about a minute, before a checkout hands the dead connection out. Waits
     * for an answer are bounded by the URL's `timeout` (RELIABILITY D7). */
    add_param(s, "keepalives", "1");
    add_param(s, "keepalives_idle", "30");
    add_param(s, "keepalives_interval", "10");
    add_param(s, "keepalives_count", "3");
    s->size = url->pool_size;
    s->checkout_timeout_ms = url->checkout_timeout_ms;
    s->timeout_ms = url->timeout_ms;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    *state = s;
    return 0;
}

const kiln__db_adapter_t kiln__postgres_adapter = {
    .abi = KILN__DB_ADAPTER_ABI,
    .name = "postgres",
    .dialect = KILN_DB_POSTGRES,
    .begin_sql = "BEGIN",
    .pooled = true,
    .open = pg_open,
    .close = pg_close,
    .checkout = pg_checkout,
    .checkin = pg_checkin,
    .exec = pg_exec,
    .exec_batch = pg_exec_batch,
    .exec_into = pg_exec_into,
};
