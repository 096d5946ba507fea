/* DATABASE_URL parsing alone (src/data/url.c): every documented form of
 * docs/guides/data.md, the defaults, every option, and each error — which
 * must come back as KILN_EINVAL with a reason, never as a half-filled URL. */
#include <limits.h>
#include <string.h>
#include <unistd.h>

#include "kiln/repo.h"
#include "kiln_test.h"

static kiln_db_url_t u;
static char err[256];

static int parse(const char *url)
{
    err[0] = 0;
    return kiln_db_url_parse(url, &u, err, sizeof err);
}

static void test_sqlite_absolute(void)
{
    KT_ASSERT_EQ_INT(parse("sqlite:/var/lib/app/app.db"), 0);
    KT_ASSERT_EQ_INT(u.dialect, KILN_DB_SQLITE);
    KT_ASSERT_EQ_STR(u.path, "/var/lib/app/app.db");
    /* The defaults of docs/guides/data.md. */
    KT_ASSERT_EQ_INT(u.pool_size, 10);
    KT_ASSERT_EQ_INT(u.checkout_timeout_ms, 5000);
    KT_ASSERT_EQ_INT(u.busy_timeout_ms, 5000);
    KT_ASSERT_EQ_INT(u.inline_budget_ms, 2);
    KT_ASSERT_EQ_INT(u.slow_ms, 200);
    kiln_db_url_free(&u);
}

static void test_sqlite_relative_is_made_absolute(void)
{
    char cwd[PATH_MAX], want[PATH_MAX + 32];
    KT_ASSERT(getcwd(cwd, sizeof cwd) != NULL);
    snprintf(want, sizeof want, "%s/data/app.db", cwd);
    KT_ASSERT_EQ_INT(parse("sqlite:data/app.db?busy_timeout=250&inline_budget=7"), 0);
    KT_ASSERT_EQ_STR(u.path, want);
    KT_ASSERT_EQ_INT(u.busy_timeout_ms, 250);
    KT_ASSERT_EQ_INT(u.inline_budget_ms, 7);
    kiln_db_url_free(&u);
}

static void test_sqlite_memory(void)
{
    KT_ASSERT_EQ_INT(parse("sqlite::memory:"), 0);
    KT_ASSERT_EQ_INT(u.dialect, KILN_DB_SQLITE);
    KT_ASSERT(u.path == NULL);
    kiln_db_url_free(&u);
    KT_ASSERT_EQ_INT(parse("sqlite::memory:?slow_ms=-1"), 0);
    KT_ASSERT_EQ_INT(u.slow_ms, -1);
    kiln_db_url_free(&u);
}

static void test_postgres_full(void)
{
    KT_ASSERT_EQ_INT(parse("postgres://app%40x:p%3As%2Fw@db.example:6543/my%20db?pool_size=4&checkout_timeout=150"
                           "&sslmode=require&slow_ms=50"),
                     0);
    KT_ASSERT_EQ_INT(u.dialect, KILN_DB_POSTGRES);
    KT_ASSERT_EQ_STR(u.user, "app@x");
    KT_ASSERT_EQ_STR(u.password, "p:s/w");
    KT_ASSERT_EQ_STR(u.host, "db.example");
    KT_ASSERT_EQ_INT(u.port, 6543);
    KT_ASSERT_EQ_STR(u.dbname, "my db");
    KT_ASSERT_EQ_INT(u.pool_size, 4);
    KT_ASSERT_EQ_INT(u.checkout_timeout_ms, 150);
    KT_ASSERT_EQ_STR(u.sslmode, "require");
    KT_ASSERT_EQ_INT(u.slow_ms, 50);
    kiln_db_url_free(&u);
}

static void test_postgres_minimal_forms(void)
{
    KT_ASSERT_EQ_INT(parse("postgresql://localhost/app"), 0);
    KT_ASSERT_EQ_INT(u.dialect, KILN_DB_POSTGRES);
    KT_ASSERT_EQ_STR(u.host, "localhost");
    KT_ASSERT_EQ_INT(u.port, 0); /* libpq's 5432 */
    KT_ASSERT(u.user == NULL && u.password == NULL && u.sslmode == NULL);
    kiln_db_url_free(&u);

    KT_ASSERT_EQ_INT(parse("postgres://bob@h/app"), 0); /* a user without a password */
    KT_ASSERT_EQ_STR(u.user, "bob");
    KT_ASSERT(u.password == NULL);
    kiln_db_url_free(&u);

    /* No host: libpq's default socket, or a socket directory as ?host=. */
    KT_ASSERT_EQ_INT(parse("postgres:///app?host=%2Fvar%2Frun%2Fpostgresql"), 0);
    KT_ASSERT_EQ_STR(u.host, "/var/run/postgresql");
    KT_ASSERT_EQ_STR(u.dbname, "app");
    kiln_db_url_free(&u);
}

/* Each error: KILN_EINVAL, a reason naming DATABASE_URL, and nothing leaked. */
static void test_errors(void)
{
    static const struct {
        const char *url, *why;
    } bad[] = {
        { "", "empty" },
        { "mysql://h/db", "unsupported scheme" },
        { "sqlite:", "needs a path" },
        { "sqlite:?busy_timeout=5", "needs a path" },
        { "postgres://host", "needs a database name" },
        { "postgres://host/", "needs a database name" },
        { "postgres://host:/db", "bad port" },
        { "postgres://host:99999/db", "bad port" },
        { "postgres://host:54x/db", "bad port" },
        { "postgres://u%zz@host/db", "bad %-escape" },
        { "postgres://host/d%00b", "bad %-escape" },
        { "postgres://host/db?pool_size=0", "pool_size needs an integer" },
        { "postgres://host/db?pool_size=ten", "pool_size needs an integer" },
        { "postgres://host/db?poolsize=3", "unknown option" },
        { "postgres://host/db?pool_size", "key=value" },
        { "sqlite:/x.db?slow_ms=-2", "slow_ms needs an integer" },
        { "sqlite:/x.db?busy_timeout=%", "bad %-escape" },
    };
    for (size_t i = 0; i < KILN_ARRAY_LEN(bad); i++) {
        if (parse(bad[i].url) != KILN_EINVAL) KT_FAIL_("%s: accepted", bad[i].url);
        if (!strstr(err, "DATABASE_URL") || !strstr(err, bad[i].why))
            KT_FAIL_("%s: reason \"%s\" lacks \"%s\"", bad[i].url, err, bad[i].why);
        KT_ASSERT(u.path == NULL && u.host == NULL && u.dbname == NULL && u.user == NULL);
    }
    KT_ASSERT_EQ_INT(kiln_db_url_parse(NULL, &u, NULL, 0), KILN_EINVAL); /* no err buffer is fine */
}

/* The repo opens from the same URL: errors surface from kiln_repo_open too. */
static void test_repo_open_reports_url_errors(void)
{
    kiln_repo_t *r = NULL;
    KT_ASSERT_EQ_INT(kiln_repo_open("postgres://h", &r, err, sizeof err), KILN_EINVAL);
    KT_ASSERT(r == NULL && strstr(err, "database name"));
    KT_ASSERT_EQ_INT(kiln_repo_open("postgres://h/db", &r, err, sizeof err), 0); /* connects lazily */
    KT_ASSERT_EQ_INT(kiln_repo_dialect(r), KILN_DB_POSTGRES);
    kiln_repo_close(r);
}

int main(void)
{
    KT_RUN(test_sqlite_absolute);
    KT_RUN(test_sqlite_relative_is_made_absolute);
    KT_RUN(test_sqlite_memory);
    KT_RUN(test_postgres_full);
    KT_RUN(test_postgres_minimal_forms);
    KT_RUN(test_errors);
    KT_RUN(test_repo_open_reports_url_errors);
    return kt_done();
}
