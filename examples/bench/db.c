/* examples/bench: the TechEmpower database tests on the Kiln data layer
 * (issue 4 §9): /db, /queries?queries=N, /fortunes, /updates?queries=N, on
 * SQLite or PostgreSQL per DATABASE_URL, and the migrations that create and
 * seed World (10,000 rows) and Fortune (`bench migrate`).
 *
 * Per the rules: every query is a separate statement (no batching of the
 * reads), N is clamped to 1..500 with non-numbers counting as 1, random ids
 * are 1..10000, and /fortunes adds one fortune at request time, sorts by
 * message and renders the page with the template engine (templates/
 * fortunes.kiln, which escapes the HTML). /queries reads its N rows with
 * kiln_repo_get_many: N independent statements, pipelined on PostgreSQL.
 * Without DATABASE_URL every database endpoint answers 503.
 * The repo is opened once in configure and shared by every scheduler. */
#include "bench_db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

kiln_repo_t *bench_repo;

typedef struct world {
    int64_t id, randomnumber;
} world_t;
static const kiln_field_t world_fields[] = { KILN_FIELD(world_t, id, KILN_T_INTEGER),
                                             KILN_FIELD(world_t, randomnumber, KILN_T_INTEGER) };
static const kiln_schema_t world_schema = KILN_SCHEMA(world_t, "world", world_fields);

typedef struct fortune_row {
    int64_t id;
    const char *message;
} fortune_row_t;
static const kiln_field_t fortune_fields[] = { KILN_FIELD(fortune_row_t, id, KILN_T_INTEGER),
                                               KILN_FIELD(fortune_row_t, message, KILN_T_TEXT) };
static const kiln_schema_t fortune_schema = KILN_SCHEMA(fortune_row_t, "fortune", fortune_fields);

/* ---- migrations ---- */

static int create_tables(kiln_mig_t *m)
{
    kiln_mig_create_table(m, "world", (kiln_column_t[]){ { .name = "randomnumber", .type = KILN_T_INTEGER, .not_null = 1 } }, 1, 0);
    return kiln_mig_create_table(m, "fortune", (kiln_column_t[]){ { .name = "message", .type = KILN_T_TEXT, .not_null = 1 } }, 1, 0);
}

static int drop_tables(kiln_mig_t *m)
{
    kiln_mig_drop_table(m, "fortune");
    return kiln_mig_drop_table(m, "world");
}

static const char *const fortunes[] = {
    "fortune: No such file or directory",
    "A computer scientist is someone who fixes things that aren't broken.",
    "After enough decimal places, nobody gives a damn.",
    "A bad random number generator: 1, 1, 1, 1, 1, 4.33e+67, 1, 1, 1",
    "A computer program does what you tell it to do, not what you want it to do.",
    "Emacs is a nice operating system, but I prefer UNIX. — Tom Christaensen",
    "Any program that runs right is obsolete.",
    "A list is only as strong as its weakest link. — Donald Knuth",
    "Feature: A bug with seniority.",
    "Computers make very fast, very accurate mistakes.",
    "<script>alert(\"This should not be displayed in a browser alert box.\");</script>",
    "フレームワークのベンチマーク",
};

static int seed(kiln_mig_t *m)
{
    kiln_repo_t *tx = kiln_mig_repo(m);
    kiln_arena_t a;
    kiln_arena_init(&a, 0);
    world_t rows[1000];
    int rc = 0;
    for (int chunk = 0; chunk < 10 && rc >= 0; chunk++) {
        for (int i = 0; i < 1000; i++) rows[i] = (world_t){ 0, 1 + rand() % 10000 };
        rc = kiln_repo_insert_all(tx, &a, &world_schema, rows, 1000, KILN_CONFLICT_RAISE, NULL);
        kiln_arena_reset(&a);
    }
    fortune_row_t f[KILN_ARRAY_LEN(fortunes)];
    for (size_t i = 0; i < KILN_ARRAY_LEN(fortunes); i++) f[i] = (fortune_row_t){ 0, fortunes[i] };
    if (rc >= 0) rc = kiln_repo_insert_all(tx, &a, &fortune_schema, f, KILN_ARRAY_LEN(f), KILN_CONFLICT_RAISE, NULL);
    kiln_arena_destroy(&a);
    return rc < 0 ? rc : 0;
}

static int unseed(kiln_mig_t *m)
{
    kiln_mig_execute(m, "DELETE FROM fortune", "DELETE FROM fortune");
    return kiln_mig_execute(m, "DELETE FROM world", "DELETE FROM world");
}

const kiln_migration_t bench_migrations[] = {
    { 20240101000000, "create_world_fortune", create_tables, drop_tables },
    { 20240101000001, "seed_world_fortune", seed, unseed },
};
const size_t bench_n_migrations = KILN_ARRAY_LEN(bench_migrations);

int bench_db_configure(const kiln_config_t *cfg)
{
    if (!cfg->database_url) return 0;
    char err[256];
    if (kiln_repo_open(cfg->database_url, &bench_repo, err, sizeof err) < 0) {
        fprintf(stderr, "bench: %s\n", err);
        return KILN_EINVAL;
    }
    return bench_raw_open(cfg->database_url);
}

/* ---- handlers ---- */

int bench_queries_param(const kiln_conn_t *c)
{
    const char *q = c->query_string.ptr;
    size_t n = c->query_string.len;
    for (size_t i = 0; q && i + 8 <= n; i++) {
        if ((i == 0 || q[i - 1] == '&') && !memcmp(q + i, "queries=", 8)) {
            long v = strtol(q + i + 8, NULL, 10);
            return v < 1 ? 1 : v > 500 ? 500 : (int)v;
        }
    }
    return 1;
}

int bench_unavailable(kiln_conn_t *c)
{
    return kiln_conn_text(c, 503, "no database: set DATABASE_URL\n");
}

static int random_world(kiln_conn_t *c, world_t **w)
{
    return kiln_repo_get(bench_repo, c->arena, &world_schema, 1 + rand() % 10000, (void **)w);
}

int bench_json_worlds(kiln_conn_t *c, const int64_t *ids, const int64_t *nums, int n, int array)
{
    kiln_buf_t b;
    kiln_buf_init(&b, 1 << 20);
    if (array) kiln_buf_puts(&b, "[");
    for (int i = 0; i < n; i++)
        kiln_buf_printf(&b, "%s{\"id\":%lld,\"randomNumber\":%lld}", i ? "," : "", (long long)ids[i],
                        (long long)nums[i]);
    if (array) kiln_buf_puts(&b, "]");
    char *body = kiln_arena_strndup(c->arena, b.data, b.len);
    kiln_buf_free(&b);
    return body ? kiln_conn_json_raw(c, 200, body) : KILN_ENOMEM;
}

int bench_db(kiln_conn_t *c)
{
    if (!bench_repo) return bench_unavailable(c);
    world_t *w;
    int rc = random_world(c, &w);
    return rc < 0 ? rc : bench_json_worlds(c, &w->id, &w->randomnumber, 1, 0);
}

typedef struct worlds_req {
    kiln_conn_t *c;
    int update, n;
    int64_t *ids, *nums;
} worlds_req_t;

/* The statements of /queries and /updates, on one held connection, as the
 * raw code holds one for its request. */
static int worlds_held(kiln_repo_t *repo, void *ud)
{
    worlds_req_t *q = ud;
    world_t *w;
    int rc = kiln_repo_get_many(repo, q->c->arena, &world_schema, q->ids, (size_t)q->n, (void **)&w);
    if (rc < 0) return rc;
    for (int i = 0; i < q->n; i++) {
        q->nums[i] = w[i].randomnumber;
        if (!q->update) continue;
        kiln_changeset_t *cs = kiln_cs_cast(q->c->arena, &world_schema, &w[i], NULL, NULL);
        int64_t r = 1 + rand() % 10000;
        if (r == q->nums[i]) r = r % 10000 + 1; /* the rules want a changed value */
        kiln_cs_put(cs, "randomnumber", &r);
        if ((rc = kiln_repo_update(repo, cs, NULL)) < 0) return rc;
        q->nums[i] = r;
    }
    return 0;
}

static int worlds(kiln_conn_t *c, int update)
{
    if (!bench_repo) return bench_unavailable(c);
    worlds_req_t q = { c, update, bench_queries_param(c), NULL, NULL };
    if (!(q.ids = kiln_arena_alloc(c->arena, (size_t)q.n * sizeof *q.ids * 2))) return KILN_ENOMEM;
    q.nums = q.ids + q.n;
    for (int i = 0; i < q.n; i++) q.ids[i] = 1 + rand() % 10000;
    int rc = kiln_repo_checkout(bench_repo, worlds_held, &q);
    return rc < 0 ? rc : bench_json_worlds(c, q.ids, q.nums, q.n, 1);
}

int bench_queries(kiln_conn_t *c) { return worlds(c, 0); }
int bench_updates(kiln_conn_t *c) { return worlds(c, 1); }

static int by_message(const void *a, const void *b)
{
    return strcmp(((const fortune_t *)a)->message, ((const fortune_t *)b)->message);
}

int bench_send_fortunes(kiln_conn_t *c, fortune_t *f, size_t n)
{
    f[n++] = (fortune_t){ 0, "Additional fortune added at request time." };
    qsort(f, n, sizeof *f, by_message);
    kiln_tpl_out_t o;
    kiln_tpl_out_init(&o, 1 << 16);
    fortunes_render_template(&o, f, n);
    if (o.err || kiln_arena_on_reset(c->arena, free, o.buf.data) < 0) { /* the arena frees the page after sending */
        int err = o.err ? o.err : KILN_ENOMEM;
        kiln_tpl_out_free(&o);
        return err;
    }
    return kiln_conn_send_resp(c, 200, "text/html; charset=utf-8", o.buf.data, o.buf.len);
}

int bench_fortunes(kiln_conn_t *c)
{
    if (!bench_repo) return bench_unavailable(c);
    fortune_row_t *all;
    int n = kiln_repo_all(bench_repo, c->arena, kiln_from(c->arena, &fortune_schema), (void **)&all);
    if (n < 0) return n;
    fortune_t *f = kiln_arena_alloc(c->arena, (size_t)(n + 1) * sizeof *f);
    if (!f) return KILN_ENOMEM;
    for (int i = 0; i < n; i++) f[i] = (fortune_t){ (int)all[i].id, all[i].message };
    return bench_send_fortunes(c, f, (size_t)n);
}
