/* Two statement-level paths of the SQLite adapter that other tests never
 * reach:
 *  - the prepared-statement cache after a schema change. A cached
 *    `SELECT *` is re-prepared by SQLite on its next step and may come back
 *    with other columns (added, dropped, reordered); the column-to-field map
 *    of exec_into and the column list of a plain read must follow it, not the
 *    columns the statement had when it was cached;
 *  - a read into structs that starts inline on a scheduler thread, runs past
 *    ?inline_budget, and is restarted from scratch on the blocking pool: the
 *    structs hold every row exactly once, none from the abandoned attempt. */
#include "data_test.h"

/* ---- the statement cache after a schema change ---- */

typedef struct swap {
    int64_t id;
    const char *name;
    int64_t n;
    const char *extra;
} swap_t;
static const kiln_field_t swap_fields[] = {
    KILN_FIELD(swap_t, id, KILN_T_INTEGER),
    KILN_FIELD(swap_t, name, KILN_T_TEXT),
    KILN_FIELD(swap_t, n, KILN_T_INTEGER),
    KILN_FIELD(swap_t, extra, KILN_T_TEXT),
};
static const kiln_schema_t swap_schema = KILN_SCHEMA(swap_t, "swap", swap_fields);

static kiln_arena_t arena;

/* kiln_select "*": the columns come from the table, not from the schema, so
 * the decoding depends on the map built from the statement's columns. The
 * same text each time: the same cached statement. */
static int all_star(swap_t **out)
{
    kiln_query_t *q = kiln_from(&arena, &swap_schema);
    kiln_select(q, "*");
    kiln_order_by(q, "id", KILN_ASC);
    return kiln_repo_all(dt_repo, &arena, q, (void **)out);
}

static int exec(const char *sql)
{
    return kiln_repo_query(dt_repo, &arena, sql, NULL, 0, NULL);
}

/* Each row of s as inserted: (1, one, 10), (2, two, 20); extra as given. */
static void check_swaps(const swap_t *s, const char *extra)
{
    KT_ASSERT_EQ_INT(s[0].id, 1);
    KT_ASSERT_EQ_STR(s[0].name, "one");
    KT_ASSERT_EQ_INT(s[0].n, 10);
    KT_ASSERT_EQ_INT(s[1].id, 2);
    KT_ASSERT_EQ_STR(s[1].name, "two");
    KT_ASSERT_EQ_INT(s[1].n, 20);
    KT_ASSERT(extra ? s[0].extra && !strcmp(s[0].extra, extra) : s[0].extra == NULL);
}

/* The map rebuilt after a rebuild that reverses the column order (same
 * count: only the re-prepare tells) and after ADD COLUMN (one more). */
static void test_column_map_follows_schema_changes(void)
{
    KT_ASSERT(exec("CREATE TABLE swap (id INTEGER PRIMARY KEY, name TEXT, n INTEGER)") >= 0);
    KT_ASSERT_EQ_INT(exec("INSERT INTO swap VALUES (1, 'one', 10), (2, 'two', 20)"), 2);
    swap_t *s;
    for (int i = 0; i < 2; i++) { /* the second run uses the cached statement and map */
        KT_ASSERT_EQ_INT(all_star(&s), 2);
        check_swaps(s, NULL);
    }

    /* SQLite's table rebuild: the same columns, now n, name, id. */
    KT_ASSERT(exec("CREATE TABLE swap_new (n INTEGER, name TEXT, id INTEGER PRIMARY KEY)") >= 0);
    KT_ASSERT_EQ_INT(exec("INSERT INTO swap_new (n, name, id) SELECT n, name, id FROM swap"), 2);
    KT_ASSERT(exec("DROP TABLE swap") >= 0);
    KT_ASSERT(exec("ALTER TABLE swap_new RENAME TO swap") >= 0);
    KT_ASSERT_EQ_INT(all_star(&s), 2);
    check_swaps(s, NULL); /* a stale map would put n in id and id in n */

    KT_ASSERT(exec("ALTER TABLE swap ADD COLUMN extra TEXT DEFAULT 'x'") >= 0);
    KT_ASSERT_EQ_INT(all_star(&s), 2);
    check_swaps(s, "x"); /* a stale map would not know the new column */
}

/* A plain read (kiln_repo_query) of a cached `SELECT *` after DROP COLUMN:
 * the result has the columns the table has now. */
static void test_plain_read_follows_a_dropped_column(void)
{
    const char *sql = "SELECT * FROM swap ORDER BY id";
    kiln_rows_t *r;
    KT_ASSERT_EQ_INT(kiln_repo_query(dt_repo, &arena, sql, NULL, 0, &r), 2);
    KT_ASSERT_EQ_INT(r->n_cols, 4);
    KT_ASSERT(exec("ALTER TABLE swap DROP COLUMN name") >= 0);
    KT_ASSERT_EQ_INT(kiln_repo_query(dt_repo, &arena, sql, NULL, 0, &r), 2);
    KT_ASSERT_EQ_INT(r->n_cols, 3);
    KT_ASSERT_EQ_STR(r->cols[0], "n");
    KT_ASSERT_EQ_STR(r->cols[1], "id");
    KT_ASSERT_EQ_STR(r->cols[2], "extra");
    KT_ASSERT_EQ_INT(kiln_rows_at(r, 1, 0)->i, 20);
    KT_ASSERT_EQ_INT(kiln_rows_at(r, 1, 1)->i, 2);
    KT_ASSERT_EQ_STR(kiln_rows_at(r, 1, 2)->s, "x");
    KT_ASSERT(exec("DROP TABLE swap") >= 0);
}

/* ---- an inline read restarted on the pool ---- */

typedef struct seqrow {
    int64_t id;
    const char *name;
    int64_t n;
} seqrow_t;
static const kiln_field_t seqrow_fields[] = {
    KILN_FIELD(seqrow_t, id, KILN_T_INTEGER),
    KILN_FIELD(seqrow_t, name, KILN_T_TEXT),
    KILN_FIELD(seqrow_t, n, KILN_T_INTEGER),
};
static const kiln_schema_t seqrow_schema = KILN_SCHEMA(seqrow_t, "seqv", seqrow_fields);

/* Rows stream out of the view as they are generated (no sort), so the inline
 * attempt has decoded thousands of them when the budget interrupts it; the
 * whole read takes tens of ms even without sanitizers, far past 1 ms. */
enum { SEQ_N = 100000 };
#define SEQ_VIEW                                                                                                       \
    "CREATE VIEW seqv AS WITH RECURSIVE c(id) AS (SELECT 1 UNION ALL SELECT id + 1 FROM c WHERE id < 100000) "         \
    "SELECT id, 'row ' || id AS name, id * 10 AS n FROM c"

static volatile int ticking;
static int64_t ticks;

/* Another coroutine of the same scheduler: it can only run while the reading
 * coroutine is parked, i.e. once the read has moved to the blocking pool
 * (inline, the scheduler thread is inside SQLite until the read ends). */
static void ticker(void *arg)
{
    (void)arg;
    while (ticking) {
        kiln_sleep(1);
        ticks++;
    }
}

static kiln_repo_t *open_budgeted(void)
{
    char url[256], err[256];
    kiln_repo_t *r = NULL;
    snprintf(url, sizeof url, "%s?inline_budget=1&slow_ms=-1", dt_url());
    if (kiln_repo_open(url, &r, err, sizeof err) < 0) fprintf(stderr, "open %s: %s\n", url, err);
    return r;
}

/* Every id 1..SEQ_N exactly once, each row's fields its own. */
static void check_seq(const seqrow_t *rows, size_t n)
{
    KT_ASSERT_EQ_INT(n, SEQ_N);
    char *seen = kiln_arena_calloc(&arena, SEQ_N + 1);
    KT_ASSERT(seen != NULL);
    char want[32];
    for (size_t i = 0; i < n; i++) {
        int64_t id = rows[i].id;
        if (id < 1 || id > SEQ_N || seen[id]++) KT_FAIL_("row %zu: id %lld out of range or repeated", i, (long long)id);
        snprintf(want, sizeof want, "row %lld", (long long)id);
        if (!rows[i].name || strcmp(rows[i].name, want) || rows[i].n != id * 10)
            KT_FAIL_("row %zu (id %lld): name %s, n %lld", i, (long long)id, rows[i].name ? rows[i].name : "(null)",
                     (long long)rows[i].n);
    }
}

/* The reads under test, on r; the ticker counts while each runs. */
static void restarted_reads(kiln_repo_t *r)
{
    KT_ASSERT(kiln_repo_query(r, &arena, SEQ_VIEW, NULL, 0, NULL) >= 0);

    /* Growing arrays (kiln_repo_all): the restart starts them over. */
    int64_t before = ticks, t0 = kiln_now_ms();
    seqrow_t *rows = NULL;
    int rc = kiln_repo_all(r, &arena, kiln_from(&arena, &seqrow_schema), (void **)&rows);
    int64_t during = ticks - before, took = kiln_now_ms() - t0;
    printf("# kiln_repo_all: %d rows in %lld ms, %lld ticks meanwhile\n", rc, (long long)took, (long long)during);
    KT_ASSERT(during > 0); /* it moved: else the restart was not exercised */
    KT_ASSERT(rc >= 0);
    check_seq(rows, (size_t)rc);

    /* A fixed single struct (kiln_repo_get): id 1 comes first, so the inline
       attempt decoded it before the budget ran out; it must not count twice. */
    before = ticks;
    seqrow_t *one = NULL;
    rc = kiln_repo_get(r, &arena, &seqrow_schema, 1, (void **)&one);
    KT_ASSERT(ticks - before > 0);
    KT_ASSERT_EQ_INT(rc, 0);
    KT_ASSERT_EQ_INT(one->id, 1);
    KT_ASSERT_EQ_STR(one->name, "row 1");
    KT_ASSERT_EQ_INT(one->n, 10);
}

static void test_into_read_restarted_on_the_pool(void)
{
    kiln_repo_t *r = open_budgeted();
    KT_ASSERT(r != NULL);
    ticking = 1;
    kiln_coro_start(ticker, NULL);
    restarted_reads(r);
    ticking = 0;
    kiln_sleep(5); /* the ticker ends */
    kiln_repo_query(r, &arena, "DROP VIEW IF EXISTS seqv", NULL, 0, NULL);
    kiln_repo_close(r);
}

/* ---- harness ---- */

static void with_arena(void (*fn)(void))
{
    kiln_arena_init(&arena, 0);
    fn();
    kiln_arena_destroy(&arena);
}
static void test_column_map(void) { with_arena(test_column_map_follows_schema_changes); }
static void test_dropped_column(void) { with_arena(test_plain_read_follows_a_dropped_column); }
static void test_restart(void) { with_arena(test_into_read_restarted_on_the_pool); }

static void body(void)
{
    KT_RUN(test_column_map);
    KT_RUN(test_dropped_column);
    KT_RUN(test_restart);
}

int main(void)
{
    if (getenv("KILN_TEST_DATABASE_URL")) unsetenv("KILN_TEST_DATABASE_URL"); /* SQLite only */
    if (dt_open() < 0) return 1;
    dt_on_runtime(1, body); /* reads on a coroutine: inline on the scheduler's reader */
    kiln_repo_close(dt_repo);
    return kt_done();
}
