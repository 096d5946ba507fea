/* The data-layer suite that runs unchanged on SQLite and PostgreSQL
 * (RELIABILITY.md D5, D11, D13; issue 4 §8): CRUD through changesets,
 * hostile input verbatim, constraints as field errors, the query builder
 * against real data, transactions, savepoints and Multi, upsert and bulk
 * operations, preloads, telemetry, and migrations that fail cleanly; batches
 * (pipeline mode on PostgreSQL); D12 concurrent migrators, D13 parallel
 * duplicate inserts, D7/D8 a backend that stops answering (PostgreSQL);
 * kiln_repo_checkout holding one pooled connection. */
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <time.h>

#include "data_test.h"
#include "kiln/telemetry.h"

static kiln_repo_t *sb;
static kiln_arena_t arena;

static user_t *make_user(const char *email, const char *age)
{
    kiln_changeset_t *cs = dt_user_cs(&arena, NULL, (const char *[]){ "email", email, "age", age, NULL });
    user_t *u = NULL;
    int rc = kiln_repo_insert(sb, cs, (void **)&u);
    if (rc < 0) fprintf(stderr, "insert %s: %s\n", email, kiln_repo_strerror(rc));
    return u;
}

static void test_crud_and_types(void)
{
    kiln_changeset_t *cs = dt_user_cs(&arena, NULL,
                                      (const char *[]){ "email", "ada@example.com", "name", "Ada", "age", "36", "admin",
                                                        "true", "score", "2.5", "balance", "12.50", "born",
                                                        "1815-12-10", "bio", "{\"lang\":\"en\"}", NULL });
    KT_ASSERT(cs->valid);
    user_t *u;
    KT_ASSERT_EQ_INT(kiln_repo_insert(sb, cs, (void **)&u), 0);
    KT_ASSERT(u->id > 0);
    KT_ASSERT_EQ_INT(u->lock_version, 1);
    KT_ASSERT(u->inserted_at > 1600000000);
    user_t *g;
    KT_ASSERT_EQ_INT(kiln_repo_get(sb, &arena, &dt_user_schema, u->id, (void **)&g), 0);
    KT_ASSERT_EQ_STR(g->email, "ada@example.com");
    KT_ASSERT_EQ_INT(g->age, 36);
    KT_ASSERT(g->admin);
    KT_ASSERT(fabs(g->score - 2.5) < 1e-9);
    KT_ASSERT_EQ_STR(g->balance, "12.50");
    KT_ASSERT_EQ_STR(g->born, "1815-12-10");
    KT_ASSERT(strstr(g->bio, "lang") != NULL);
    KT_ASSERT_EQ_INT(kiln_repo_get(sb, &arena, &dt_user_schema, u->id + 1000, (void **)&g), KILN_ENOENT);

    /* Update: only the changed field; the lock version moves on. */
    kiln_changeset_t *up = dt_user_cs(&arena, u, (const char *[]){ "name", "Ada L.", "age", "36", NULL });
    KT_ASSERT(kiln_cs_changed(up, "name") && !kiln_cs_changed(up, "age"));
    user_t *u2;
    KT_ASSERT_EQ_INT(kiln_repo_update(sb, up, (void **)&u2), 0);
    KT_ASSERT_EQ_STR(u2->name, "Ada L.");
    KT_ASSERT_EQ_INT(u2->lock_version, 2);
    /* A second update from the stale copy fails: optimistic locking. */
    kiln_changeset_t *stale = dt_user_cs(&arena, u, (const char *[]){ "name", "Other", NULL });
    KT_ASSERT_EQ_INT(kiln_repo_update(sb, stale, NULL), KILN_ESTALE);
    KT_ASSERT_EQ_INT(kiln_repo_delete(sb, &dt_user_schema, u), KILN_ESTALE);
    KT_ASSERT_EQ_INT(kiln_repo_delete(sb, &dt_user_schema, u2), 0);
    KT_ASSERT_EQ_INT(kiln_repo_get(sb, &arena, &dt_user_schema, u->id, (void **)&g), KILN_ENOENT);
}

static void test_hostile_input_verbatim(void)
{
    static const char *const hostile[] = { "O'Brien \"quoted\" \\back\\slash",
                                           "'; DROP TABLE users; --",
                                           "Robert'); DROP TABLE students;--",
                                           "emoji 🔥🎉 ünïcödé 中文",
                                           "?$1 :name @p %s %n",
                                           "line\nbreak\ttab\r\n" };
    for (size_t i = 0; i < KILN_ARRAY_LEN(hostile); i++) {
        char email[32];
        snprintf(email, sizeof email, "h%zu@x.org", i);
        kiln_changeset_t *cs = dt_user_cs(&arena, NULL, (const char *[]){ "email", email, "name", hostile[i], NULL });
        user_t *u, *g;
        KT_ASSERT_EQ_INT(kiln_repo_insert(sb, cs, (void **)&u), 0);
        KT_ASSERT_EQ_INT(kiln_repo_get_by(sb, &arena, &dt_user_schema, "name", KILN_VTEXT(hostile[i]), (void **)&g), 0);
        KT_ASSERT_EQ_STR(g->name, hostile[i]);
    }
    /* A long string and every non-NUL byte in a blob. */
    size_t n = 200000;
    char *longs = kiln_arena_alloc(&arena, n + 1);
    for (size_t i = 0; i < n; i++) longs[i] = (char)('a' + i % 26);
    longs[n] = 0;
    uint8_t bytes[255];
    for (int i = 0; i < 255; i++) bytes[i] = (uint8_t)(i + 1);
    kiln_changeset_t *cs = dt_user_cs(&arena, NULL, (const char *[]){ "email", "long@x.org", "name", longs, NULL });
    kiln_blob_t blob = { bytes, sizeof bytes };
    KT_ASSERT_EQ_INT(kiln_cs_put(cs, "avatar", &blob), 0);
    user_t *u, *g;
    KT_ASSERT_EQ_INT(kiln_repo_insert(sb, cs, (void **)&u), 0);
    KT_ASSERT_EQ_INT(kiln_repo_get(sb, &arena, &dt_user_schema, u->id, (void **)&g), 0);
    KT_ASSERT_EQ_INT(strlen(g->name), n);
    KT_ASSERT(!strcmp(g->name, longs));
    KT_ASSERT_EQ_INT(g->avatar.len, sizeof bytes);
    KT_ASSERT(!memcmp(g->avatar.ptr, bytes, sizeof bytes));
    /* The table is still there, and a hostile value in a query is just a value. */
    kiln_query_t *q = kiln_from(&arena, &dt_user_schema);
    kiln_where(q, kiln_eq(q, "email", KILN_VTEXT("' OR '1'='1")));
    KT_ASSERT_EQ_INT(kiln_repo_exists(sb, q), 0);
}

/* A failed statement aborts a PostgreSQL transaction, so statements expected
 * to fail run in a savepoint of the sandbox, as app code would. */
typedef struct attempt {
    kiln_changeset_t *cs;
    int insert;
} attempt_t;

static int attempt_write(kiln_repo_t *tx, void *ud)
{
    attempt_t *at = ud;
    int rc = at->insert ? kiln_repo_insert(tx, at->cs, NULL) : kiln_repo_update(tx, at->cs, NULL);
    return rc;
}

static int in_savepoint(kiln_changeset_t *cs, int insert)
{
    attempt_t at = { cs, insert };
    return kiln_repo_transaction(sb, attempt_write, &at);
}

static void test_constraints_on_fields(void)
{
    user_t *first = make_user("dup@x.org", "1");
    KT_ASSERT(first != NULL);
    kiln_changeset_t *cs = dt_user_cs(&arena, NULL, (const char *[]){ "email", "dup@x.org", NULL });
    kiln_cs_unique_constraint(cs, "email", NULL);
    KT_ASSERT_EQ_INT(in_savepoint(cs, 1), KILN_EINVALID);
    KT_ASSERT(!cs->valid);
    KT_ASSERT_EQ_STR(kiln_cs_error_on(cs, "email")->validation, "unique");
    KT_ASSERT_EQ_STR(kiln_cs_error_on(cs, "email")->message, "has already been taken");

    /* Undeclared: an error result, not a crash. */
    cs = dt_user_cs(&arena, NULL, (const char *[]){ "email", "dup@x.org", NULL });
    KT_ASSERT_EQ_INT(in_savepoint(cs, 1), KILN_ECONSTRAINT);

    /* Check constraint (age >= 0) on update. */
    cs = dt_user_cs(&arena, first, (const char *[]){ "age", "-5", NULL });
    kiln_cs_check_constraint(cs, "age", "users_age_check", "must not be negative");
    KT_ASSERT_EQ_INT(in_savepoint(cs, 0), KILN_EINVALID);
    KT_ASSERT_EQ_STR(kiln_cs_error_on(cs, "age")->message, "must not be negative");

    /* Foreign key: a post for a user that does not exist. */
    kiln_changeset_t *pc = kiln_cs_cast(&arena, &dt_post_schema, NULL, NULL, NULL);
    int64_t ghost = first->id + 424242;
    kiln_cs_put(pc, "user_id", &ghost);
    kiln_cs_foreign_key_constraint(pc, "user_id", NULL);
    KT_ASSERT_EQ_INT(in_savepoint(pc, 1), KILN_EINVALID);
    KT_ASSERT_EQ_STR(kiln_cs_error_on(pc, "user_id")->validation, "foreign");

    /* The sandbox transaction is still usable after the savepoints. */
    KT_ASSERT(make_user("after@x.org", "2") != NULL);
}

static void test_queries(void)
{
    static const char *const emails[] = { "a@q.org", "b@q.org", "C@Q.ORG", "d@q.org", "e@q.org" };
    static const char *const ages[] = { "10", "20", "30", "40", "50" };
    for (int i = 0; i < 5; i++) KT_ASSERT(make_user(emails[i], ages[i]) != NULL);
    kiln_query_t *q = kiln_from(&arena, &dt_user_schema);
    kiln_where(q, kiln_or(q, kiln_and(q, kiln_ge(q, "age", KILN_VINT(20)), kiln_lt(q, "age", KILN_VINT(40))),
                          kiln_eq(q, "email", KILN_VTEXT("e@q.org"))));
    kiln_where(q, kiln_not(q, kiln_is_null(q, "email")));
    kiln_order_by(q, "age", KILN_DESC);
    kiln_limit(q, 2);
    kiln_offset(q, 1);
    user_t *us;
    KT_ASSERT_EQ_INT(kiln_repo_all(sb, &arena, q, (void **)&us), 2);
    KT_ASSERT_EQ_INT(us[0].age, 30);
    KT_ASSERT_EQ_INT(us[1].age, 20);

    q = kiln_from(&arena, &dt_user_schema);
    kiln_where(q, kiln_in(q, "age", (kiln_val_t[]){ KILN_VINT(10), KILN_VINT(50), KILN_VINT(99) }, 3));
    KT_ASSERT_EQ_INT(kiln_repo_all(sb, &arena, q, (void **)&us), 2);
    q = kiln_from(&arena, &dt_user_schema);
    kiln_where(q, kiln_like(q, "email", KILN_VTEXT("c@%")));
    KT_ASSERT_EQ_INT(kiln_repo_exists(sb, q), 0); /* LIKE is case-sensitive on both */
    q = kiln_from(&arena, &dt_user_schema);
    kiln_where(q, kiln_ilike(q, "email", KILN_VTEXT("c@%")));
    KT_ASSERT_EQ_INT(kiln_repo_exists(sb, q), 1);

    kiln_val_t v;
    q = kiln_from(&arena, &dt_user_schema);
    kiln_where(q, kiln_like(q, "email", KILN_VTEXT("%@q.org")));
    KT_ASSERT_EQ_INT(kiln_repo_aggregate(sb, q, "sum(age)", &v), 0);
    KT_ASSERT_EQ_INT(v.kind == KILN_VAL_TEXT ? strtoll(v.s, NULL, 10) : v.i, 10 + 20 + 40 + 50);
    KT_ASSERT_EQ_INT(kiln_repo_aggregate(sb, q, "count(*)", &v), 0);
    KT_ASSERT_EQ_INT(v.i, 4);

    /* group_by / having / select into plain rows. */
    q = kiln_from(&arena, &dt_user_schema);
    kiln_where(q, kiln_like(q, "email", KILN_VTEXT("%q.org")));
    kiln_select(q, "admin");
    kiln_select(q, "count(*)");
    kiln_group_by(q, "admin");
    kiln_having(q, kiln_gt(q, "count(*)", KILN_VINT(1)));
    kiln_rows_t *rows;
    KT_ASSERT_EQ_INT(kiln_repo_rows(sb, &arena, q, &rows), 1);
    KT_ASSERT_EQ_INT(kiln_rows_at(rows, 0, 1)->i, 4);

    /* A subquery and a join. */
    user_t *ann = make_user("ann@j.org", "5");
    KT_ASSERT(ann != NULL);
    kiln_changeset_t *pc = kiln_cs_cast(&arena, &dt_post_schema, NULL, NULL, NULL);
    kiln_cs_put(pc, "user_id", &ann->id);
    const char *title = "hello";
    kiln_cs_put(pc, "title", &title);
    KT_ASSERT_EQ_INT(kiln_repo_insert(sb, pc, NULL), 0);
    kiln_query_t *sub = kiln_from_table(&arena, "posts");
    kiln_select(sub, "user_id");
    q = kiln_from(&arena, &dt_user_schema);
    kiln_where(q, kiln_in_query(q, "id", sub));
    user_t *one;
    KT_ASSERT_EQ_INT(kiln_repo_one(sb, &arena, q, (void **)&one), 0);
    KT_ASSERT_EQ_STR(one->email, "ann@j.org");
    q = kiln_from_table(&arena, "users");
    kiln_join(q, KILN_JOIN_INNER, "posts", "p", kiln_col_eq(q, "p.user_id", "users.id"));
    kiln_select(q, "users.email");
    kiln_select(q, "p.title");
    kiln_lock_for_update(q);
    KT_ASSERT_EQ_INT(kiln_repo_rows(sb, &arena, q, &rows), 1);
    KT_ASSERT_EQ_STR(kiln_rows_at(rows, 0, 1)->s, "hello");
    KT_ASSERT_EQ_INT(kiln_repo_one(sb, &arena, kiln_from(&arena, &dt_user_schema), (void **)&one), KILN_EMULTIPLE);

    /* Raw SQL with parameters, written once for both databases. */
    const char *raw = kiln_repo_sql(sb, &arena, "SELECT email FROM users WHERE age = ? AND email <> '?'");
    KT_ASSERT_EQ_INT(kiln_repo_query(sb, &arena, raw, &KILN_VINT(5), 1, &rows), 1);
    KT_ASSERT_EQ_STR(kiln_rows_at(rows, 0, 0)->s, "ann@j.org");
}

static int inner_fails(kiln_repo_t *tx, void *ud)
{
    (void)ud;
    kiln_rows_t *r;
    kiln_repo_query(tx, &arena, kiln_repo_sql(tx, &arena, "UPDATE users SET name = ? WHERE email = ?"),
                    (kiln_val_t[]){ KILN_VTEXT("inner"), KILN_VTEXT("t@x.org") }, 2, &r);
    return KILN_EINVAL;
}

static int outer_ok(kiln_repo_t *tx, void *ud)
{
    (void)ud;
    kiln_repo_query(tx, &arena, kiln_repo_sql(tx, &arena, "UPDATE users SET name = ? WHERE email = ?"),
                    (kiln_val_t[]){ KILN_VTEXT("outer"), KILN_VTEXT("t@x.org") }, 2, NULL);
    int rc = kiln_repo_transaction(tx, inner_fails, NULL);
    return rc == KILN_EINVAL ? 0 : -1;
}

static int step_insert(kiln_repo_t *tx, void *ud, void **result, void *const *results)
{
    (void)results;
    kiln_changeset_t *cs = dt_user_cs(&arena, NULL, (const char *[]){ "email", ud, NULL });
    return kiln_repo_insert(tx, cs, result);
}

static int step_post(kiln_repo_t *tx, void *ud, void **result, void *const *results)
{
    (void)ud;
    kiln_changeset_t *pc = kiln_cs_cast(&arena, &dt_post_schema, NULL, NULL, NULL);
    kiln_cs_put(pc, "user_id", &((user_t *)results[0])->id);
    return kiln_repo_insert(tx, pc, result);
}

static int step_fail(kiln_repo_t *tx, void *ud, void **result, void *const *results)
{
    (void)tx, (void)ud, (void)result, (void)results;
    return KILN_EPERM;
}

static void test_transactions_and_multi(void)
{
    KT_ASSERT(make_user("t@x.org", "1") != NULL);
    KT_ASSERT_EQ_INT(kiln_repo_transaction(sb, outer_ok, NULL), 0);
    user_t *u;
    KT_ASSERT_EQ_INT(kiln_repo_get_by(sb, &arena, &dt_user_schema, "email", KILN_VTEXT("t@x.org"), (void **)&u), 0);
    KT_ASSERT_EQ_STR(u->name, "outer");

    kiln_multi_step_t steps[] = { { "user", step_insert, "m@x.org" }, { "post", step_post, NULL },
                                  { "audit", step_fail, NULL } };
    kiln_multi_result_t res;
    KT_ASSERT_EQ_INT(kiln_repo_multi(sb, &arena, steps, 3, &res), KILN_EPERM);
    KT_ASSERT_EQ_STR(res.failed_step, "audit");
    KT_ASSERT(res.results[0] != NULL && res.results[1] != NULL);
    KT_ASSERT_EQ_INT(kiln_repo_get_by(sb, &arena, &dt_user_schema, "email", KILN_VTEXT("m@x.org"), (void **)&u),
                     KILN_ENOENT);
    KT_ASSERT_EQ_INT(kiln_repo_multi(sb, &arena, steps, 2, &res), 0);
    KT_ASSERT(res.failed_step == NULL);
}

static void test_bulk_and_upsert(void)
{
    user_t recs[3] = { { .email = "b1@x.org", .age = 1 }, { .email = "b2@x.org", .age = 2 },
                       { .email = "b3@x.org", .age = 3 } };
    KT_ASSERT_EQ_INT(kiln_repo_insert_all(sb, &arena, &dt_user_schema, recs, 3, KILN_CONFLICT_RAISE, NULL), 3);
    KT_ASSERT_EQ_INT(kiln_repo_insert_all(sb, &arena, &dt_user_schema, recs, 3, KILN_CONFLICT_NOTHING,
                                          (const char *[]){ "email", NULL }),
                     0);
    kiln_query_t *q = kiln_from(&arena, &dt_user_schema);
    kiln_where(q, kiln_like(q, "email", KILN_VTEXT("b%@x.org")));
    KT_ASSERT_EQ_INT(kiln_repo_update_all(sb, q, (kiln_set_t[]){ { "name", KILN_VTEXT("bulk") } }, 1), 3);
    kiln_changeset_t *cs = dt_user_cs(&arena, NULL, (const char *[]){ "email", "b1@x.org", "age", "77", NULL });
    user_t *u;
    KT_ASSERT_EQ_INT(kiln_repo_insert_on_conflict(sb, cs, KILN_CONFLICT_REPLACE, (const char *[]){ "email", NULL },
                                                  (void **)&u),
                     0);
    KT_ASSERT_EQ_INT(u->age, 77);
    KT_ASSERT_EQ_INT(kiln_repo_delete_all(sb, q), 3);
    kiln_query_t *bad = kiln_from(&arena, &dt_user_schema);
    KT_ASSERT_EQ_INT(kiln_repo_update_all(sb, bad, (kiln_set_t[]){ { "name = 'x'; --", KILN_VTEXT("x") } }, 1),
                     KILN_EINVAL);
}

static void test_preload(void)
{
    user_t *a = make_user("pa@x.org", "1"), *b = make_user("pb@x.org", "2");
    KT_ASSERT(a && b);
    int64_t ids[] = { a->id, a->id, b->id };
    post_t *posts[3];
    for (int i = 0; i < 3; i++) {
        kiln_changeset_t *pc = kiln_cs_cast(&arena, &dt_post_schema, NULL, NULL, NULL);
        kiln_cs_put(pc, "user_id", &ids[i]);
        KT_ASSERT_EQ_INT(kiln_repo_insert(sb, pc, (void **)&posts[i]), 0);
    }
    kiln_rows_t *r;
    KT_ASSERT(kiln_repo_query(sb, &arena, kiln_repo_sql(sb, &arena, "INSERT INTO tags (name) VALUES (?) RETURNING id"),
                              &KILN_VTEXT("c"), 1, &r) == 1);
    int64_t tag = kiln_rows_at(r, 0, 0)->i;
    KT_ASSERT(kiln_repo_query(sb, &arena, kiln_repo_sql(sb, &arena, "INSERT INTO posts_tags (post_id, tag_id) VALUES (?, ?)"),
                              (kiln_val_t[]){ KILN_VINT(posts[0]->id), KILN_VINT(tag) }, 2, NULL) == 1);
    user_t users[2] = { *a, *b };
    KT_ASSERT_EQ_INT(kiln_repo_preload(sb, &arena, &dt_user_schema, users, 2, "posts"), 0);
    KT_ASSERT_EQ_INT(users[0].posts.n, 2);
    KT_ASSERT_EQ_INT(users[1].posts.n, 1);
    post_t ps[2] = { *posts[0], *posts[2] };
    KT_ASSERT_EQ_INT(kiln_repo_preload(sb, &arena, &dt_post_schema, ps, 2, "user"), 0);
    KT_ASSERT_EQ_STR(ps[1].user->email, "pb@x.org");
    KT_ASSERT_EQ_INT(kiln_repo_preload(sb, &arena, &dt_post_schema, ps, 2, "tags"), 0);
    KT_ASSERT_EQ_INT(ps[0].tags.n, 1);
    KT_ASSERT_EQ_STR(((tag_t *)ps[0].tags.items)->name, "c");
    KT_ASSERT_EQ_INT(ps[1].tags.n, 0);
}

static int events, saw_users;
static void on_query(const kiln_telemetry_event_t *ev, void *ud)
{
    (void)ud;
    events++;
    if (!strcmp(kiln_telemetry_meta(ev, "source"), "users") && kiln_telemetry_measurement(ev, "rows", -1) == 1 &&
        kiln_telemetry_measurement(ev, "query_us", -1) >= 0)
        saw_users++;
}

static void test_telemetry(void)
{
    KT_ASSERT_EQ_INT(kiln_telemetry_attach("dt", KILN_REPO_EVENT, on_query, NULL), 0);
    user_t *u = make_user("tel@x.org", "1");
    KT_ASSERT(u != NULL);
    user_t *g;
    kiln_repo_get(sb, &arena, &dt_user_schema, u->id, (void **)&g);
    kiln_telemetry_detach("dt");
    KT_ASSERT(events >= 2);
    KT_ASSERT(saw_users >= 2);
}

/* ---- opt-out tests: no sandbox ---- */

static int third_fails(kiln_mig_t *m)
{
    kiln_mig_create_table(m, "d11_a", (kiln_column_t[]){ { .name = "x", .type = KILN_T_INTEGER } }, 1, 0);
    kiln_mig_add_column(m, "users", &(kiln_column_t){ .name = "d11_col", .type = KILN_T_TEXT });
    return kiln_mig_execute(m, "INSERT INTO no_such_table VALUES (1)", "INSERT INTO no_such_table VALUES (1)");
}

static int add_nickname(kiln_mig_t *m)
{
    return kiln_mig_add_column(m, "users", &(kiln_column_t){ .name = "nickname", .type = KILN_T_TEXT });
}

static int drop_nickname(kiln_mig_t *m)
{
    return kiln_mig_remove_column(m, "users", "nickname");
}

static int count_rows(const char *sql)
{
    kiln_rows_t *r;
    int rc = kiln_repo_query(dt_repo, &arena, sql, NULL, 0, &r);
    return rc < 0 ? rc : (int)kiln_rows_at(r, 0, 0)->i;
}

/* D11: the third statement fails; schema and version table are unchanged. */
static void test_d11_failing_migration_changes_nothing(void)
{
    kiln_migration_t migs[] = { dt_migrations[0], { 2, "third_fails", third_fails, NULL } };
    FILE *log = tmpfile();
    KT_ASSERT(kiln_migrate(dt_repo, migs, 2, log) < 0);
    char buf[1024] = { 0 };
    rewind(log);
    size_t n = fread(buf, 1, sizeof buf - 1, log);
    fclose(log);
    buf[n] = 0;
    KT_ASSERT(strstr(buf, "third_fails failed") != NULL);
    KT_ASSERT(strstr(buf, "statement: INSERT INTO no_such_table") != NULL);
    KT_ASSERT_EQ_INT(count_rows("SELECT count(*) FROM schema_migrations WHERE version = 2"), 0);
    kiln_rows_t *r;
    KT_ASSERT(kiln_repo_query(dt_repo, &arena, "SELECT * FROM d11_a", NULL, 0, &r) < 0);
    KT_ASSERT(kiln_repo_query(dt_repo, &arena, "SELECT d11_col FROM users", NULL, 0, &r) < 0);

    /* Up, status, rollback, and migrate twice is harmless. */
    kiln_migration_t good[] = { dt_migrations[0], { 3, "add_nickname", add_nickname, drop_nickname } };
    KT_ASSERT_EQ_INT(kiln_migrate(dt_repo, good, 2, NULL), 0);
    KT_ASSERT_EQ_INT(kiln_migrate(dt_repo, good, 2, NULL), 0);
    KT_ASSERT(kiln_repo_query(dt_repo, &arena, "SELECT nickname FROM users", NULL, 0, &r) >= 0);
    KT_ASSERT_EQ_INT(kiln_rollback(dt_repo, good, 2, 1, NULL), 0);
    KT_ASSERT(kiln_repo_query(dt_repo, &arena, "SELECT nickname FROM users", NULL, 0, &r) < 0);
    KT_ASSERT_EQ_INT(count_rows("SELECT count(*) FROM schema_migrations"), 1);
}

static int alter_age_to_text(kiln_mig_t *m)
{
    return kiln_mig_alter_column(m, "tags", &(kiln_column_t){ .name = "name", .type = KILN_T_INTEGER });
}

static void test_alter_column_rebuilds_on_sqlite(void)
{
    kiln_rows_t *r;
    KT_ASSERT(kiln_repo_query(dt_repo, &arena, kiln_repo_sql(dt_repo, &arena, "INSERT INTO tags (name) VALUES (?)"),
                              &KILN_VTEXT("42"), 1, &r) == 1);
    kiln_migration_t migs[] = { dt_migrations[0], { 4, "alter_tag_name", alter_age_to_text, NULL } };
    KT_ASSERT_EQ_INT(kiln_migrate(dt_repo, migs, 2, stderr), 0);
    KT_ASSERT_EQ_INT(kiln_repo_query(dt_repo, &arena, "SELECT name FROM tags", NULL, 0, &r), 1);
    KT_ASSERT_EQ_INT(kiln_rows_at(r, 0, 0)->kind, KILN_VAL_INT);
    KT_ASSERT_EQ_INT(kiln_rows_at(r, 0, 0)->i, 42);
    kiln_repo_query(dt_repo, &arena, "DELETE FROM posts_tags", NULL, 0, NULL);
    kiln_repo_query(dt_repo, &arena, "DELETE FROM tags", NULL, 0, NULL);
}

/* D5: the backend dies under a transaction; the call fails, the pool recovers. */
static void test_d5_pg_backend_killed(void)
{
    if (!dt_is_pg()) return;
    kiln_repo_t *tx;
    KT_ASSERT_EQ_INT(kiln_repo_sandbox_begin(dt_repo, &tx), 0);
    kiln_rows_t *r;
    KT_ASSERT_EQ_INT(kiln_repo_query(tx, &arena, "SELECT pg_backend_pid()", NULL, 0, &r), 1);
    int64_t pid = kiln_rows_at(r, 0, 0)->i;
    KT_ASSERT_EQ_INT(kiln_repo_query(dt_repo, &arena, "SELECT pg_terminate_backend($1::int)", &KILN_VINT(pid), 1, &r), 1);
    int rc = kiln_repo_query(tx, &arena, "SELECT 1", NULL, 0, &r);
    KT_ASSERT_EQ_INT(rc, KILN_ECLOSED);
    KT_ASSERT_EQ_INT(r->error.kind, KILN_DBERR_CONNECTION);
    kiln_repo_sandbox_end(tx);
    for (int i = 0; i < 12; i++) /* more than the pool: every connection works */
        KT_ASSERT_EQ_INT(kiln_repo_query(dt_repo, &arena, "SELECT 1", NULL, 0, &r), 1);
}

/* Batches (PostgreSQL: pipeline mode): results in order, repeats allowed, a
 * missing id is KILN_ENOENT, large batches flush. */
static void test_batch_and_get_many(void)
{
    user_t *a = make_user("batch-a@x.org", "1"), *b = make_user("batch-b@x.org", "2");
    KT_ASSERT(a && b);
    int64_t ids[] = { b->id, a->id, b->id };
    user_t *got;
    KT_ASSERT_EQ_INT(kiln_repo_get_many(sb, &arena, &dt_user_schema, ids, 3, (void **)&got), 0);
    KT_ASSERT_EQ_STR(got[0].email, "batch-b@x.org");
    KT_ASSERT_EQ_STR(got[1].email, "batch-a@x.org");
    KT_ASSERT_EQ_INT(got[2].age, 2);
    int64_t missing[] = { a->id, a->id + b->id + 1000 };
    KT_ASSERT_EQ_INT(kiln_repo_get_many(sb, &arena, &dt_user_schema, missing, 2, (void **)&got), KILN_ENOENT);

    enum { N = 300 };
    kiln_stmt_t st[N];
    kiln_val_t v[N];
    const char *sql = kiln_repo_sql(sb, &arena, "SELECT ? + 1");
    for (int i = 0; i < N; i++) {
        v[i] = KILN_VINT(i);
        st[i] = (kiln_stmt_t){ sql, &v[i], 1 };
    }
    kiln_rows_t *r;
    KT_ASSERT_EQ_INT(kiln_repo_query_batch(sb, &arena, st, N, &r), 0);
    for (int i = 0; i < N; i++)
        if (r[i].n_rows != 1 || kiln_rows_at(&r[i], 0, 0)->i != i + 1) KT_FAIL_("statement %d", i);
}

/* Whether two users' fields are equal (strings and blobs by content, NULL
 * only equal to NULL). */
static bool same_text(const char *x, const char *y)
{
    return x == y || (x && y && !strcmp(x, y));
}

static bool same_user(const user_t *x, const user_t *y)
{
    return x->id == y->id && same_text(x->email, y->email) && same_text(x->name, y->name) &&
           same_text(x->bio, y->bio) && same_text(x->balance, y->balance) && same_text(x->born, y->born) &&
           x->age == y->age && x->admin == y->admin && x->score == y->score && x->avatar.len == y->avatar.len &&
           (!x->avatar.len || !memcmp(x->avatar.ptr, y->avatar.ptr, x->avatar.len)) &&
           (x->avatar.ptr == NULL) == (y->avatar.ptr == NULL) && x->lock_version == y->lock_version &&
           x->inserted_at == y->inserted_at && x->updated_at == y->updated_at;
}

/* Rows decoded straight into structs (kiln_repo_get, get_many: exec_into and
 * its pipelined form on PostgreSQL) give what the insert's RETURNING gave
 * through the row values, for every field type and for NULLs. */
static void test_decode_matches_values(void)
{
    kiln_changeset_t *cs = dt_user_cs(&arena, NULL,
                                      (const char *[]){ "email", "types@x.org", "name", "Ty", "age", "7", "admin", "true",
                                                        "score", "-0.125", "balance", "3.14", "born", "2000-02-29",
                                                        "bio", "{\"k\": [1, 2]}", NULL });
    uint8_t bytes[256];
    for (int i = 0; i < 256; i++) bytes[i] = (uint8_t)i;
    kiln_blob_t blob = { bytes, sizeof bytes };
    KT_ASSERT_EQ_INT(kiln_cs_put(cs, "avatar", &blob), 0);
    user_t *full, *sparse = make_user("sparse@x.org", "0"); /* name, bio, balance, born NULL */
    KT_ASSERT_EQ_INT(kiln_repo_insert(sb, cs, (void **)&full), 0);
    KT_ASSERT(sparse);
    KT_ASSERT(sparse->name == NULL && sparse->bio == NULL && sparse->born == NULL);
    int64_t ids[] = { full->id, sparse->id, full->id };
    user_t *many, *one;
    KT_ASSERT_EQ_INT(kiln_repo_get_many(sb, &arena, &dt_user_schema, ids, 3, (void **)&many), 0);
    KT_ASSERT(same_user(&many[0], full) && same_user(&many[1], sparse) && same_user(&many[2], full));
    KT_ASSERT_EQ_INT(kiln_repo_get(sb, &arena, &dt_user_schema, full->id, (void **)&one), 0);
    KT_ASSERT(same_user(one, full));
    KT_ASSERT_EQ_INT(kiln_repo_get(sb, &arena, &dt_user_schema, sparse->id, (void **)&one), 0);
    KT_ASSERT(same_user(one, sparse));
    user_t *all;
    kiln_query_t *q = kiln_from(&arena, &dt_user_schema);
    kiln_order_by(q, "id", KILN_ASC);
    int n = kiln_repo_all(sb, &arena, q, (void **)&all);
    KT_ASSERT(n >= 2);
    for (int i = 0; i < n; i++)
        if (all[i].id == full->id ? !same_user(&all[i], full) : all[i].id == sparse->id && !same_user(&all[i], sparse))
            KT_FAIL_("row %d", i);
}

/* A cached statement whose table was recreated with other column types:
 * SQLite re-prepares it; PostgreSQL refuses it once (0A000, "cached plan must
 * not change result type") and prepares it again, column map included. */
typedef struct probe {
    int64_t id, v;
} probe_t;
static const kiln_field_t probe_fields[] = { KILN_FIELD(probe_t, id, KILN_T_INTEGER),
                                             KILN_FIELD(probe_t, v, KILN_T_INTEGER) };
static const kiln_schema_t probe_schema = KILN_SCHEMA(probe_t, "probe", probe_fields);

static void probe_recreate(kiln_repo_t *held)
{
    probe_t *p;
    kiln_repo_query(held, &arena, "CREATE TABLE probe (id INTEGER PRIMARY KEY, v INTEGER)", NULL, 0, NULL);
    kiln_repo_query(held, &arena, "INSERT INTO probe (id, v) VALUES (1, 5)", NULL, 0, NULL);
    KT_ASSERT_EQ_INT(kiln_repo_get(held, &arena, &probe_schema, 1, (void **)&p), 0);
    KT_ASSERT_EQ_INT(p->v, 5);
    kiln_repo_query(held, &arena, "DROP TABLE probe", NULL, 0, NULL);
    kiln_repo_query(held, &arena, "CREATE TABLE probe (id INTEGER PRIMARY KEY, v TEXT)", NULL, 0, NULL);
    kiln_repo_query(held, &arena, "INSERT INTO probe (id, v) VALUES (1, '7')", NULL, 0, NULL);
    int rc = kiln_repo_get(held, &arena, &probe_schema, 1, (void **)&p);
    KT_ASSERT(rc == 0 || (dt_is_pg() && rc == KILN_EDB));
    if (rc < 0) KT_ASSERT_EQ_INT(kiln_repo_get(held, &arena, &probe_schema, 1, (void **)&p), 0);
    KT_ASSERT_EQ_INT(p->v, 7);
    kiln_repo_query(held, &arena, "DROP TABLE probe", NULL, 0, NULL);
}

static int recreate_held(kiln_repo_t *held, void *ud)
{
    (void)ud;
    probe_recreate(held); /* on one connection: the one whose cached statement goes stale */
    return 0;
}

static void test_recreated_table_decodes(void)
{
    KT_ASSERT_EQ_INT(kiln_repo_checkout(dt_repo, recreate_held, NULL), 0);
}

/* Outside a transaction each statement of a batch stands alone: one failing
 * leaves the others' results (and the connection) intact. */
static void test_batch_failure_is_isolated(void)
{
    kiln_stmt_t st[] = { { "SELECT 1", NULL, 0 }, { "SELECT * FROM no_such_table", NULL, 0 }, { "SELECT 3", NULL, 0 } };
    kiln_rows_t *r;
    KT_ASSERT_EQ_INT(kiln_repo_query_batch(dt_repo, &arena, st, 3, &r), KILN_EDB);
    KT_ASSERT_EQ_INT(kiln_rows_at(&r[0], 0, 0)->i, 1);
    KT_ASSERT_EQ_INT(r[1].error.kind, KILN_DBERR_OTHER);
    KT_ASSERT_EQ_INT(kiln_rows_at(&r[2], 0, 0)->i, 3);
    KT_ASSERT_EQ_INT(kiln_repo_query(dt_repo, &arena, "SELECT 4", NULL, 0, &r), 1);
}

/* D12: two migrators (two repos, as two nodes, on plain threads as `APP
 * migrate` runs) start together; the migration body runs once, never
 * concurrently, and its version is recorded once. */
static atomic_int d12_inside, d12_runs, d12_overlap;
static int d12_up(kiln_mig_t *m)
{
    if (atomic_fetch_add(&d12_inside, 1)) atomic_store(&d12_overlap, 1);
    atomic_fetch_add(&d12_runs, 1);
    kiln_mig_create_table(m, "d12", (kiln_column_t[]){ { .name = "v", .type = KILN_T_INTEGER } }, 1, 0);
    struct timespec ts = { 0, 150 * 1000000 }; /* hold the lock long enough for the other to queue */
    nanosleep(&ts, NULL);
    atomic_fetch_sub(&d12_inside, 1);
    return 0;
}
static int d12_down(kiln_mig_t *m) { return kiln_mig_drop_table(m, "d12"); }
static const kiln_migration_t d12_migs[] = { { 1, "create_users_posts_tags", dt_create, dt_drop },
                                             { 12, "d12", d12_up, d12_down } };

static void *d12_migrator(void *arg)
{
    kiln_repo_t *r;
    char err[256];
    intptr_t rc = kiln_repo_open(dt_url(), &r, err, sizeof err);
    if (rc == 0) {
        rc = kiln_migrate(r, d12_migs, 2, NULL);
        kiln_repo_close(r);
    }
    *(int *)arg = (int)rc;
    return NULL;
}

static void test_d12_concurrent_migrators(void)
{
    pthread_t t[2];
    int rc[2] = { -1, -1 };
    for (int i = 0; i < 2; i++) KT_ASSERT_EQ_INT(pthread_create(&t[i], NULL, d12_migrator, &rc[i]), 0);
    for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
    KT_ASSERT_EQ_INT(rc[0], 0);
    KT_ASSERT_EQ_INT(rc[1], 0);
    KT_ASSERT_EQ_INT(atomic_load(&d12_runs), 1);
    KT_ASSERT_EQ_INT(atomic_load(&d12_overlap), 0);
    KT_ASSERT_EQ_INT(count_rows("SELECT count(*) FROM schema_migrations WHERE version = 12"), 1);
    KT_ASSERT_EQ_INT(count_rows("SELECT count(*) FROM d12"), 0);
    KT_ASSERT_EQ_INT(kiln_rollback(dt_repo, d12_migs, 2, 1, NULL), 0);
}

/* D13: 50 concurrent inserts of one email under the unique index: exactly one
 * succeeds, the other 49 get a changeset error on email — never a crash or
 * an undeclared error. */
enum { D13_N = 50 };
static int d13_ok, d13_field, d13_other, d13_left;
static kiln_coro_t *d13_main;
static void d13_insert(void *arg)
{
    (void)arg;
    kiln_arena_t a;
    kiln_arena_init(&a, 0);
    kiln_changeset_t *cs = dt_user_cs(&a, NULL, (const char *[]){ "email", "d13@x.org", NULL });
    kiln_cs_unique_constraint(cs, "email", NULL);
    int rc = kiln_repo_insert(dt_repo, cs, NULL);
    if (rc == 0) d13_ok++;
    else if (rc == KILN_EINVALID && cs->n_errors == 1 && !strcmp(cs->errors[0].field, "email")) d13_field++;
    else d13_other++, fprintf(stderr, "d13: %s\n", kiln_repo_strerror(rc));
    kiln_arena_destroy(&a);
    if (--d13_left == 0) kiln_coro_wake(d13_main, 0);
}

static void test_d13_parallel_duplicate_inserts(void)
{
    d13_main = kiln_coro_current();
    d13_left = D13_N;
    for (int i = 0; i < D13_N; i++) KT_ASSERT_EQ_INT(kiln_coro_start(d13_insert, NULL), 0);
    if (d13_left) kiln_coro_park();
    KT_ASSERT_EQ_INT(d13_ok, 1);
    KT_ASSERT_EQ_INT(d13_field, D13_N - 1);
    KT_ASSERT_EQ_INT(d13_other, 0);
    kiln_query_t *q = kiln_from(&arena, &dt_user_schema);
    kiln_where(q, kiln_eq(q, "email", KILN_VTEXT("d13@x.org")));
    KT_ASSERT_EQ_INT(kiln_repo_delete_all(dt_repo, q), 1);
}

/* D7 and D8: a backend that stops answering (SIGSTOP: no RST, as a blackholed
 * network) gives KILN_ETIMEDOUT within the URL's timeout, not a hang; a COMMIT
 * caught that way reports the timeout (outcome unknown), not success; the
 * pool then serves fresh connections. */
static int64_t d78_pid;
static int d78_stop_then_commit(kiln_repo_t *tx, void *ud)
{
    (void)ud;
    kiln_rows_t *r;
    if (kiln_repo_query(tx, &arena, "SELECT pg_backend_pid()", NULL, 0, &r) != 1) return KILN_EIO;
    d78_pid = kiln_rows_at(r, 0, 0)->i;
    kiln_repo_query(tx, &arena, "INSERT INTO tags (name) VALUES ('d8')", NULL, 0, NULL);
    return kill((pid_t)d78_pid, SIGSTOP) == 0 ? 0 : KILN_EIO; /* then COMMIT goes unanswered */
}

static void test_d7_d8_stopped_backend(void)
{
    if (!dt_is_pg()) return;
    char url[512], err[256];
    snprintf(url, sizeof url, "%s%stimeout=300", dt_url(), strchr(dt_url(), '?') ? "&" : "?");
    kiln_repo_t *r;
    KT_ASSERT_EQ_INT(kiln_repo_open(url, &r, err, sizeof err), 0);

    /* D7: a statement on a stopped backend. */
    kiln_repo_t *tx;
    KT_ASSERT_EQ_INT(kiln_repo_sandbox_begin(r, &tx), 0);
    kiln_rows_t *rows;
    KT_ASSERT_EQ_INT(kiln_repo_query(tx, &arena, "SELECT pg_backend_pid()", NULL, 0, &rows), 1);
    pid_t pid = (pid_t)kiln_rows_at(rows, 0, 0)->i;
    KT_ASSERT_EQ_INT(kill(pid, SIGSTOP), 0);
    int64_t t0 = kiln_now_ns();
    int rc = kiln_repo_query(tx, &arena, "SELECT 1", NULL, 0, &rows);
    int64_t waited_ms = (kiln_now_ns() - t0) / 1000000;
    kill(pid, SIGCONT);
    KT_ASSERT_EQ_INT(rc, KILN_ETIMEDOUT);
    KT_ASSERT(strstr(rows->error.message, "unknown") != NULL);
    KT_ASSERT(waited_ms >= 250 && waited_ms < 5000);
    kiln_repo_sandbox_end(tx);

    /* D8: the COMMIT goes unanswered. */
    t0 = kiln_now_ns();
    rc = kiln_repo_transaction(r, d78_stop_then_commit, NULL);
    waited_ms = (kiln_now_ns() - t0) / 1000000;
    if (d78_pid) kill((pid_t)d78_pid, SIGCONT);
    KT_ASSERT_EQ_INT(rc, KILN_ETIMEDOUT);
    KT_ASSERT(waited_ms < 5000);
    for (int i = 0; i < 3; i++) KT_ASSERT_EQ_INT(kiln_repo_query(r, &arena, "SELECT 1", NULL, 0, &rows), 1);
    kiln_repo_query(dt_repo, &arena, "DELETE FROM tags WHERE name = 'd8'", NULL, 0, NULL);
    kiln_repo_close(r);
}

/* ---- kiln_repo_checkout ---- */

static int64_t backend_pid(kiln_repo_t *repo)
{
    kiln_rows_t *r;
    return kiln_repo_query(repo, &arena, "SELECT pg_backend_pid()", NULL, 0, &r) == 1 ? kiln_rows_at(r, 0, 0)->i : -1;
}

static int held_pid_tx(kiln_repo_t *tx, void *ud)
{
    *(int64_t *)ud = backend_pid(tx);
    return kiln_repo_query(tx, &arena, "INSERT INTO checkout_probe (n) VALUES (1)", NULL, 0, NULL);
}

static kiln_repo_t *one_conn_repo;
static atomic_int other_done;

static void other_statement(void *arg)
{
    (void)arg;
    kiln_arena_t a;
    kiln_arena_init(&a, 0);
    atomic_store(&other_done, kiln_repo_query(one_conn_repo, &a, "SELECT 1", NULL, 0, NULL) == 1 ? 1 : -1);
    kiln_arena_destroy(&a);
}

typedef struct held_probe {
    int64_t pids[3], tx_pid, after_kill;
    int bad_rc, ok_after_error, other_while_held;
} held_probe_t;

static int probe_held(kiln_repo_t *held, void *ud)
{
    held_probe_t *p = ud;
    for (int i = 0; i < 3; i++) p->pids[i] = backend_pid(held);
    if (kiln_repo_transaction(held, held_pid_tx, &p->tx_pid) < 0) return KILN_EIO;
    /* an error outside a transaction spoils nothing: the next statement runs */
    p->bad_rc = kiln_repo_query(held, &arena, "SELECT * FROM no_such_table", NULL, 0, NULL);
    p->ok_after_error = backend_pid(held) == p->pids[0];
    /* the pool's only connection is held here, so another coroutine waits */
    kiln_coro_start(other_statement, NULL);
    kiln_sleep(50);
    p->other_while_held = atomic_load(&other_done);
    return 7;
}

static int kill_held(kiln_repo_t *held, void *ud)
{
    kiln_val_t pid = KILN_VINT(backend_pid(held));
    kiln_repo_query(dt_repo, &arena, "SELECT pg_terminate_backend($1, 5000)", &pid, 1, NULL); /* waits for the exit */
    *(int64_t *)ud = kiln_repo_query(held, &arena, "SELECT 1", NULL, 0, NULL);
    return 0;
}

static int sqlite_gets_repo(kiln_repo_t *held, void *ud)
{
    return held == ud ? 0 : KILN_EIO;
}

static void test_checkout_holds_one_connection(void)
{
    if (!dt_is_pg()) {
        KT_ASSERT_EQ_INT(kiln_repo_checkout(dt_repo, sqlite_gets_repo, dt_repo), 0);
        return;
    }
    char url[512], err[256];
    snprintf(url, sizeof url, "%s%spool_size=1&timeout=5000", dt_url(), strchr(dt_url(), '?') ? "&" : "?");
    KT_ASSERT_EQ_INT(kiln_repo_open(url, &one_conn_repo, err, sizeof err), 0);
    KT_ASSERT(kiln_repo_query(dt_repo, &arena, "CREATE TABLE checkout_probe (n integer)", NULL, 0, NULL) >= 0);
    held_probe_t p = { 0 };
    atomic_store(&other_done, 0);
    KT_ASSERT_EQ_INT(kiln_repo_checkout(one_conn_repo, probe_held, &p), 7); /* fn's result comes back */
    KT_ASSERT(p.pids[0] > 0);
    KT_ASSERT(p.pids[1] == p.pids[0] && p.pids[2] == p.pids[0]);
    KT_ASSERT(p.tx_pid == p.pids[0]); /* the transaction ran on the held connection */
    KT_ASSERT(p.bad_rc < 0 && p.ok_after_error);
    KT_ASSERT_EQ_INT(p.other_while_held, 0);
    for (int i = 0; i < 200 && !atomic_load(&other_done); i++) kiln_sleep(5);
    KT_ASSERT_EQ_INT(atomic_load(&other_done), 1); /* ran once the connection went back */
    kiln_rows_t *r;
    KT_ASSERT_EQ_INT(kiln_repo_query(one_conn_repo, &arena, "SELECT count(*) FROM checkout_probe", NULL, 0, &r), 1);
    KT_ASSERT_EQ_INT(kiln_rows_at(r, 0, 0)->i, 1); /* committed */

    /* A connection that dies while held errors there, and the pool replaces it. */
    int64_t after_kill = 0;
    KT_ASSERT_EQ_INT(kiln_repo_checkout(one_conn_repo, kill_held, &after_kill), 0);
    KT_ASSERT(after_kill < 0);
    int64_t fresh = -1;
    for (int i = 0; i < 20 && fresh < 0; i++) {
        if ((fresh = backend_pid(one_conn_repo)) < 0) kiln_sleep(100); /* reconnects back off */
    }
    KT_ASSERT(fresh > 0 && fresh != p.pids[0]);
    kiln_repo_query(dt_repo, &arena, "DROP TABLE checkout_probe", NULL, 0, NULL);
    kiln_repo_close(one_conn_repo);
}

/* ---- harness ---- */

#define SANDBOXED(fn)                                                                                                      static void fn##_sb(void)                                                                                              {                                                                                                                          kiln_arena_init(&arena, 0);                                                                                            if (kiln_repo_sandbox_begin(dt_repo, &sb) < 0) KT_FAIL_("cannot open the sandbox");                                  fn();                                                                                                                  kiln_repo_sandbox_end(sb);                                                                                             kiln_arena_destroy(&arena);                                                                                        }
SANDBOXED(test_crud_and_types)
SANDBOXED(test_hostile_input_verbatim)
SANDBOXED(test_constraints_on_fields)
SANDBOXED(test_queries)
SANDBOXED(test_transactions_and_multi)
SANDBOXED(test_bulk_and_upsert)
SANDBOXED(test_preload)
SANDBOXED(test_telemetry)
SANDBOXED(test_batch_and_get_many)
SANDBOXED(test_decode_matches_values)

static void unsandboxed(void (*fn)(void))
{
    kiln_arena_init(&arena, 0);
    fn();
    kiln_arena_destroy(&arena);
}
static void test_d11(void) { unsandboxed(test_d11_failing_migration_changes_nothing); }
static void test_alter(void) { unsandboxed(test_alter_column_rebuilds_on_sqlite); }
static void test_d5(void) { unsandboxed(test_d5_pg_backend_killed); }
static void test_batch_isolated(void) { unsandboxed(test_batch_failure_is_isolated); }
static void test_d12(void) { unsandboxed(test_d12_concurrent_migrators); }
static void test_d13(void) { unsandboxed(test_d13_parallel_duplicate_inserts); }
static void test_d7_d8(void) { unsandboxed(test_d7_d8_stopped_backend); }
static void test_checkout(void) { unsandboxed(test_checkout_holds_one_connection); }
static void test_recreated(void) { unsandboxed(test_recreated_table_decodes); }

static void body(void)
{
    KT_RUN(test_crud_and_types_sb);
    KT_RUN(test_hostile_input_verbatim_sb);
    KT_RUN(test_constraints_on_fields_sb);
    KT_RUN(test_queries_sb);
    KT_RUN(test_transactions_and_multi_sb);
    KT_RUN(test_bulk_and_upsert_sb);
    KT_RUN(test_preload_sb);
    KT_RUN(test_telemetry_sb);
    KT_RUN(test_d11);
    KT_RUN(test_alter);
    KT_RUN(test_d5);
    KT_RUN(test_batch_and_get_many_sb);
    KT_RUN(test_decode_matches_values_sb);
    KT_RUN(test_recreated);
    KT_RUN(test_batch_isolated);
    KT_RUN(test_d12);
    KT_RUN(test_d13);
    KT_RUN(test_d7_d8);
    KT_RUN(test_checkout);
}

int main(void)
{
    if (dt_open() < 0) {
        fprintf(stderr, "cannot open or migrate the test database\n");
        return 1;
    }
    printf("# database: %s\n", kiln_repo_dialect(dt_repo) == KILN_DB_SQLITE ? "sqlite" : "postgres");
    dt_on_runtime(2, body); /* on a coroutine, as handlers run */
    kiln_repo_close(dt_repo);
    kiln_telemetry_shutdown();
    return kt_done();
}
