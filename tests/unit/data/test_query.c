/* The query compiler alone (src/data/query.c): the exact SQL text and the
 * parameter list for each dialect, names validated, and values never
 * interpolated — a hostile value appears only as a parameter, a hostile name
 * poisons the query. Also kiln_repo_sql's placeholder rewrite. No database. */
#include <string.h>

#include "kiln/data.h"
#include "kiln_test.h"

typedef struct u {
    int64_t id;
    const char *email;
    int64_t age;
} u_t;
static const kiln_field_t u_fields[] = { KILN_FIELD(u_t, id, KILN_T_INTEGER), KILN_FIELD(u_t, email, KILN_T_TEXT),
                                         KILN_FIELD(u_t, age, KILN_T_INTEGER) };
static const kiln_schema_t u_schema = KILN_SCHEMA(u_t, "users", u_fields);

static const char hostile[] = "'; DROP TABLE users; --";
static kiln_arena_t arena;
static const char *sql;
static const kiln_val_t *params;
static size_t n;

/* A query touching every clause, with the hostile value in a subquery. */
static kiln_query_t *big_query(void)
{
    kiln_query_t *q = kiln_from(&arena, &u_schema);
    kiln_where(q, kiln_and(q, kiln_ge(q, "age", KILN_VINT(18)),
                           kiln_or(q, kiln_ilike(q, "email", KILN_VTEXT("%@x.org")),
                                   kiln_not(q, kiln_is_null(q, "email")))));
    kiln_query_t *sub = kiln_from_table(&arena, "posts");
    kiln_select(sub, "user_id");
    kiln_where(sub, kiln_eq(sub, "title", KILN_VTEXT(hostile)));
    kiln_where(q, kiln_in_query(q, "id", sub));
    kiln_where(q, kiln_in(q, "age", (kiln_val_t[]){ KILN_VINT(1), KILN_VINT(2) }, 2));
    kiln_order_by(q, "email", KILN_DESC);
    kiln_limit(q, 10);
    kiln_offset(q, 5);
    kiln_lock_for_update(q);
    return q;
}

static void check_big_params(void)
{
    KT_ASSERT_EQ_INT(n, 7);
    KT_ASSERT_EQ_INT(params[0].i, 18);
    KT_ASSERT_EQ_STR(params[1].s, "%@x.org");
    KT_ASSERT_EQ_INT(params[2].kind, KILN_VAL_TEXT);
    KT_ASSERT(params[2].len == strlen(hostile) && !memcmp(params[2].s, hostile, params[2].len));
    KT_ASSERT_EQ_INT(params[3].i, 1);
    KT_ASSERT_EQ_INT(params[4].i, 2);
    KT_ASSERT_EQ_INT(params[5].i, 10); /* limit and offset are parameters too */
    KT_ASSERT_EQ_INT(params[6].i, 5);
}

static void test_sqlite_text_and_params(void)
{
    KT_ASSERT_EQ_INT(kiln_query_compile(big_query(), KILN_DB_SQLITE, &sql, &params, &n), 0);
    KT_ASSERT_EQ_STR(sql, "SELECT \"users\".\"id\", \"users\".\"email\", \"users\".\"age\" FROM \"users\" WHERE "
                          "(((\"age\" >= ?) AND ((lower(\"email\") LIKE lower(?)) OR (NOT (\"email\" IS NULL)))) AND "
                          "(\"id\" IN (SELECT \"user_id\" FROM \"posts\" WHERE \"title\" = ?))) AND (\"age\" IN (?, ?)) "
                          "ORDER BY \"email\" DESC LIMIT ? OFFSET ?");
    check_big_params();
}

static void test_postgres_text_and_params(void)
{
    KT_ASSERT_EQ_INT(kiln_query_compile(big_query(), KILN_DB_POSTGRES, &sql, &params, &n), 0);
    KT_ASSERT_EQ_STR(sql, "SELECT \"users\".\"id\", \"users\".\"email\", \"users\".\"age\" FROM \"users\" WHERE "
                          "(((\"age\" >= $1) AND ((\"email\" ILIKE $2) OR (NOT (\"email\" IS NULL)))) AND "
                          "(\"id\" IN (SELECT \"user_id\" FROM \"posts\" WHERE \"title\" = $3))) AND "
                          "(\"age\" IN ($4, $5)) ORDER BY \"email\" DESC LIMIT $6 OFFSET $7 FOR UPDATE");
    check_big_params();
}

static void test_joins_groups_aggregates(void)
{
    for (kiln_dialect_t d = KILN_DB_SQLITE; d <= KILN_DB_POSTGRES; d++) {
        kiln_query_t *g = kiln_from_table(&arena, "posts");
        kiln_select(g, "user_id");
        kiln_select(g, "count(*)");
        kiln_group_by(g, "user_id");
        kiln_having(g, kiln_gt(g, "count(*)", KILN_VINT(1)));
        kiln_join(g, KILN_JOIN_LEFT, "users", "u", kiln_col_eq(g, "u.id", "posts.user_id"));
        kiln_distinct(g);
        KT_ASSERT_EQ_INT(kiln_query_compile(g, d, &sql, &params, &n), 0);
        char want[512];
        snprintf(want, sizeof want,
                 "SELECT DISTINCT \"user_id\", count(*) FROM \"posts\" LEFT JOIN \"users\" AS \"u\" ON \"u\".\"id\" = "
                 "\"posts\".\"user_id\" GROUP BY \"user_id\" HAVING count(*) > %s",
                 d == KILN_DB_SQLITE ? "?" : "$1");
        KT_ASSERT_EQ_STR(sql, want);
        KT_ASSERT_EQ_INT(n, 1);
    }
}

static void test_empty_in_and_like(void)
{
    kiln_query_t *q = kiln_from(&arena, &u_schema);
    kiln_where(q, kiln_in(q, "id", NULL, 0));
    kiln_where(q, kiln_like(q, "email", KILN_VTEXT("a%")));
    KT_ASSERT_EQ_INT(kiln_query_compile(q, KILN_DB_POSTGRES, &sql, &params, &n), 0);
    KT_ASSERT(strstr(sql, "WHERE (1 = 0) AND (\"email\" LIKE $1)") != NULL);
    KT_ASSERT_EQ_INT(n, 1);
}

/* No value ever reaches the SQL text, whatever it holds; a name outside the
 * grammar makes compile fail instead of reaching the database. */
static void test_values_never_interpolated(void)
{
    static const char *const values[] = { hostile, "\" OR 1=1 --", "$1", "?", "x') UNION SELECT * FROM users --",
                                          "😀\\'" };
    for (kiln_dialect_t d = KILN_DB_SQLITE; d <= KILN_DB_POSTGRES; d++) {
        for (size_t i = 0; i < KILN_ARRAY_LEN(values); i++) {
            kiln_query_t *q = kiln_from(&arena, &u_schema);
            kiln_where(q, kiln_or(q, kiln_eq(q, "email", KILN_VTEXT(values[i])),
                                  kiln_like(q, "email", KILN_VTEXT(values[i]))));
            KT_ASSERT_EQ_INT(kiln_query_compile(q, d, &sql, &params, &n), 0);
            if (strstr(sql, values[i]) && strlen(values[i]) > 2) KT_FAIL_("value in SQL: %s", sql);
            KT_ASSERT(strchr(sql, '\'') == NULL);
            KT_ASSERT_EQ_INT(n, 2);
            KT_ASSERT_EQ_STR(params[0].s, values[i]);
            KT_ASSERT_EQ_STR(params[1].s, values[i]);
        }
        static const char *const names[] = { "email\"; DROP TABLE x; --", "email)", "1email", "a.b.c", "",
                                             "count(*) --", "sum(email", "e mail" };
        for (size_t i = 0; i < KILN_ARRAY_LEN(names); i++) {
            kiln_query_t *q = kiln_from(&arena, &u_schema);
            kiln_where(q, kiln_eq(q, names[i], KILN_VINT(1)));
            if (kiln_query_compile(q, d, &sql, &params, &n) != KILN_EINVAL) KT_FAIL_("name accepted: %s", names[i]);
            kiln_query_t *o = kiln_from(&arena, &u_schema);
            kiln_order_by(o, names[i], KILN_ASC);
            if (kiln_query_compile(o, d, &sql, &params, &n) != KILN_EINVAL) KT_FAIL_("order accepted: %s", names[i]);
        }
        KT_ASSERT_EQ_INT(kiln_query_compile(kiln_from_table(&arena, "users; --"), d, &sql, &params, &n), KILN_EINVAL);
    }
}

/* kiln_repo_sql: `?` outside quotes becomes $n on PostgreSQL, untouched on SQLite. */
static void test_repo_sql_rewrite(void)
{
    kiln_repo_t *pg, *sq;
    char err[256];
    KT_ASSERT_EQ_INT(kiln_repo_open("postgres://127.0.0.1/none", &pg, err, sizeof err), 0); /* lazy: no server needed */
    KT_ASSERT_EQ_INT(kiln_repo_open("sqlite::memory:", &sq, err, sizeof err), 0);
    const char *in = "SELECT '?', \"a?\" FROM t WHERE x = ? AND y = ?";
    KT_ASSERT_EQ_STR(kiln_repo_sql(pg, &arena, in), "SELECT '?', \"a?\" FROM t WHERE x = $1 AND y = $2");
    KT_ASSERT_EQ_STR(kiln_repo_sql(sq, &arena, in), in);
    kiln_repo_close(pg);
    kiln_repo_close(sq);
}

int main(void)
{
    kiln_arena_init(&arena, 0);
    KT_RUN(test_sqlite_text_and_params);
    KT_RUN(test_postgres_text_and_params);
    KT_RUN(test_joins_groups_aggregates);
    KT_RUN(test_empty_in_and_like);
    KT_RUN(test_values_never_interpolated);
    KT_RUN(test_repo_sql_rewrite);
    kiln_arena_destroy(&arena);
    return kt_done();
}
