/* Shared fixtures of the data tests: the database under test, a runtime to
 * run test bodies on a coroutine (as request handlers run), and the test
 * schemas with their migrations.
 *
 * The database is KILN_TEST_DATABASE_URL when set (tests/integration/
 * test_data_pg.sh points it at a throwaway PostgreSQL 15), else a fresh
 * SQLite file in a temp directory, removed at exit. Each test runs in a
 * sandbox transaction (kiln_repo_sandbox_*), rolled back afterwards, unless it
 * opts out (migration, concurrency and fault tests). */
#ifndef KILN_DATA_TEST_H
#define KILN_DATA_TEST_H

#include <stdlib.h>
#include <unistd.h>

#include "kiln/data.h"
#include "kiln/runtime.h"
#include "kiln_test.h"

static kiln_runtime_t *dt_rt;
static kiln_repo_t *dt_repo;
static char dt_dir[64];

/* ---- schemas ---- */

typedef struct post post_t;
typedef struct user {
    int64_t id;
    const char *email, *name, *bio, *balance, *born;
    int64_t age;
    bool admin;
    double score;
    kiln_blob_t avatar;
    int64_t lock_version, inserted_at, updated_at;
    kiln_many_t posts;
} user_t;

struct post {
    int64_t id, user_id;
    const char *title;
    user_t *user;
    kiln_many_t tags;
};

typedef struct tag {
    int64_t id;
    const char *name;
} tag_t;

extern const kiln_schema_t dt_user_schema, dt_post_schema, dt_tag_schema;

static const kiln_field_t dt_user_fields[] = {
    KILN_FIELD(user_t, id, KILN_T_INTEGER),       KILN_FIELD(user_t, email, KILN_T_TEXT),
    KILN_FIELD(user_t, name, KILN_T_TEXT),        KILN_FIELD(user_t, bio, KILN_T_JSON),
    KILN_FIELD(user_t, balance, KILN_T_DECIMAL),  KILN_FIELD(user_t, born, KILN_T_DATE),
    KILN_FIELD(user_t, age, KILN_T_INTEGER),      KILN_FIELD(user_t, admin, KILN_T_BOOLEAN),
    KILN_FIELD(user_t, score, KILN_T_FLOAT),      KILN_FIELD(user_t, avatar, KILN_T_BINARY),
    KILN_FIELD(user_t, lock_version, KILN_T_INTEGER), KILN_FIELD(user_t, inserted_at, KILN_T_UTC),
    KILN_FIELD(user_t, updated_at, KILN_T_UTC),
};
static const kiln_assoc_t dt_user_assocs[] = {
    { .name = "posts", .kind = KILN_HAS_MANY, .related = &dt_post_schema, .foreign_key = "user_id",
      .offset = offsetof(user_t, posts) },
};
const kiln_schema_t dt_user_schema = KILN_SCHEMA(user_t, "users", dt_user_fields, .timestamps = 1,
                                                 .lock_field = "lock_version", .assocs = dt_user_assocs,
                                                 .n_assocs = 1);

static const kiln_field_t dt_post_fields[] = {
    KILN_FIELD(post_t, id, KILN_T_INTEGER),
    KILN_FIELD(post_t, user_id, KILN_T_INTEGER),
    KILN_FIELD(post_t, title, KILN_T_TEXT),
};
static const kiln_assoc_t dt_post_assocs[] = {
    { .name = "user", .kind = KILN_BELONGS_TO, .related = &dt_user_schema, .foreign_key = "user_id",
      .offset = offsetof(post_t, user) },
    { .name = "tags", .kind = KILN_MANY_TO_MANY, .related = &dt_tag_schema, .offset = offsetof(post_t, tags),
      .join_table = "posts_tags", .join_keys = { "post_id", "tag_id" } },
};
const kiln_schema_t dt_post_schema = KILN_SCHEMA(post_t, "posts", dt_post_fields, .assocs = dt_post_assocs,
                                                 .n_assocs = 2);

static const kiln_field_t dt_tag_fields[] = {
    KILN_FIELD(tag_t, id, KILN_T_INTEGER),
    KILN_FIELD(tag_t, name, KILN_T_TEXT),
};
const kiln_schema_t dt_tag_schema = KILN_SCHEMA(tag_t, "tags", dt_tag_fields);

/* ---- migrations ---- */

static int dt_create(kiln_mig_t *m)
{
    kiln_mig_create_table(m, "users",
                          (kiln_column_t[]){ { .name = "email", .type = KILN_T_TEXT, .not_null = 1 },
                                             { .name = "name", .type = KILN_T_TEXT },
                                             { .name = "bio", .type = KILN_T_JSON },
                                             { .name = "balance", .type = KILN_T_DECIMAL },
                                             { .name = "born", .type = KILN_T_DATE },
                                             { .name = "age", .type = KILN_T_INTEGER, .not_null = 1, .default_sql = "0", .check = "age >= 0" },
                                             { .name = "admin", .type = KILN_T_BOOLEAN, .not_null = 1, .default_sql = "false" },
                                             { .name = "score", .type = KILN_T_FLOAT, .default_sql = "0" },
                                             { .name = "avatar", .type = KILN_T_BINARY },
                                             { .name = "lock_version", .type = KILN_T_INTEGER, .not_null = 1, .default_sql = "1" } },
                          10, KILN_MIG_TIMESTAMPS);
    kiln_mig_create_index(m, "users", (const char *[]){ "email", NULL }, 1, NULL, NULL);
    kiln_mig_create_table(m, "posts",
                          (kiln_column_t[]){ { .name = "user_id", .type = KILN_T_INTEGER, .references = "users", .on_delete = "CASCADE" },
                                             { .name = "title", .type = KILN_T_TEXT } },
                          2, 0);
    kiln_mig_create_table(m, "tags", (kiln_column_t[]){ { .name = "name", .type = KILN_T_TEXT } }, 1, 0);
    return kiln_mig_create_table(m, "posts_tags",
                                 (kiln_column_t[]){ { .name = "post_id", .type = KILN_T_INTEGER, .references = "posts" },
                                                    { .name = "tag_id", .type = KILN_T_INTEGER, .references = "tags" } },
                                 2, KILN_MIG_NO_ID);
}

static int dt_drop(kiln_mig_t *m)
{
    kiln_mig_drop_table(m, "posts_tags");
    kiln_mig_drop_table(m, "tags");
    kiln_mig_drop_table(m, "posts");
    return kiln_mig_drop_table(m, "users");
}

static const kiln_migration_t dt_migrations[] = { { 1, "create_users_posts_tags", dt_create, dt_drop } };

/* ---- running ---- */

static void dt_cleanup(void)
{
    if (!dt_dir[0]) return;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dt_dir);
    if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", dt_dir);
}

/* The URL under test (static storage). */
static const char *dt_url(void)
{
    const char *env = getenv("KILN_TEST_DATABASE_URL");
    if (env && *env) return env;
    static char url[128];
    if (!dt_dir[0]) {
        snprintf(dt_dir, sizeof dt_dir, "%s/kiln-data-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
        if (!mkdtemp(dt_dir)) abort();
        atexit(dt_cleanup);
    }
    snprintf(url, sizeof url, "sqlite:%s/test.db", dt_dir);
    return url;
}

static inline int dt_is_pg(void)
{
    return kiln_repo_dialect(dt_repo) == KILN_DB_POSTGRES;
}

static void (*dt_body)(void);
static void dt_body_coro(void *arg)
{
    (void)arg;
    dt_body();
    kiln_runtime_stop(dt_rt, 0);
}
static void dt_body_start(void *arg)
{
    (void)arg;
    kiln_coro_start(dt_body_coro, NULL);
}

/* Runs body on a coroutine of scheduler 0 of a fresh runtime. */
static void dt_on_runtime(int schedulers, void (*body)(void))
{
    kiln_runtime_conf_t c = { .schedulers = schedulers, .blocking_threads = 2 };
    dt_rt = kiln_runtime_new(&c);
    dt_body = body;
    kiln_sched_post(kiln_sched_get(dt_rt, 0), dt_body_start, NULL);
    kiln_runtime_run(dt_rt);
    kiln_runtime_free(dt_rt);
    dt_rt = NULL;
}

/* Opens the repo and migrates it (off the runtime: a plain thread blocks). */
static int dt_open(void)
{
    char err[256];
    if (kiln_repo_open(dt_url(), &dt_repo, err, sizeof err) < 0) {
        fprintf(stderr, "cannot open %s: %s\n", dt_url(), err);
        return -1;
    }
    return kiln_migrate(dt_repo, dt_migrations, KILN_ARRAY_LEN(dt_migrations), NULL);
}

/* A user changeset from C strings: NULL-terminated key, value pairs. */
static inline kiln_changeset_t *dt_user_cs(kiln_arena_t *a, const user_t *data, const char *const *kv)
{
    kiln_param_t *map = kiln_arena_calloc(a, sizeof *map), **tail = &map->u.children;
    map->kind = KILN_PARAM_MAP;
    for (size_t i = 0; kv[i]; i += 2) {
        kiln_param_t *p = kiln_arena_calloc(a, sizeof *p);
        p->kind = KILN_PARAM_STRING;
        p->key = kv[i];
        p->u.str = kiln_str_c(kv[i + 1]);
        *tail = p;
        tail = &p->next;
    }
    static const char *const permitted[] = { "email", "name", "bio", "balance", "born", "age", "admin", "score", NULL };
    return kiln_cs_cast(a, &dt_user_schema, data, map, permitted);
}

#endif
