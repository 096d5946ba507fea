/* Concurrent SQLite sandboxes (kiln/data_case.h, issue 4 §8): several tests at
 * once, each on its own copy of one migrated template, write at the same time
 * (each holding its own writer in a transaction) without waiting for each
 * other, see only their own rows, and leave the template untouched. */
#include <pthread.h>

#include "data_test.h"
#include "kiln/data_case.h"

enum { CASES = 4, ROWS = 200 };
static kiln_data_case_template_t *tpl;

typedef struct worker {
    int id, bad;
    int64_t seen, tx_ms;
} worker_t;

static int insert_rows(kiln_repo_t *tx, void *ud)
{
    worker_t *w = ud;
    kiln_arena_t a;
    kiln_arena_init(&a, 0);
    int64_t t0 = kiln_now_ms();
    for (int i = 0; i < ROWS; i++) {
        kiln_val_t p[] = { KILN_VINT(w->id * 1000 + i), KILN_VTEXT("case") };
        if (kiln_repo_query(tx, &a, "INSERT INTO tags (id, name) VALUES (?, ?)", p, 2, NULL) != 1) w->bad++;
        kiln_arena_reset(&a);
        if (i == ROWS / 2) usleep(200000); /* hold the transaction while the other cases hold theirs */
    }
    w->tx_ms = kiln_now_ms() - t0;
    kiln_arena_destroy(&a);
    return 0;
}

static void *run_case(void *arg)
{
    worker_t *w = arg;
    kiln_data_case_t c;
    char err[256];
    if (kiln_data_case_begin(tpl, &c, err, sizeof err) < 0) {
        fprintf(stderr, "# %s\n", err);
        w->bad++;
        return NULL;
    }
    if (kiln_repo_transaction(c.repo, insert_rows, w) < 0) w->bad++;
    kiln_arena_t a;
    kiln_arena_init(&a, 0);
    kiln_rows_t *r;
    if (kiln_repo_query(c.repo, &a, "SELECT count(*), min(id) / 1000 FROM tags", NULL, 0, &r) == 1 &&
        kiln_rows_at(r, 0, 1)->i == w->id)
        w->seen = kiln_rows_at(r, 0, 0)->i;
    kiln_arena_destroy(&a);
    kiln_data_case_end(&c);
    return NULL;
}

static void test_cases_run_concurrently_and_apart(void)
{
    pthread_t th[CASES];
    worker_t w[CASES];
    int64_t t0 = kiln_now_ms();
    for (int i = 0; i < CASES; i++) {
        w[i] = (worker_t){ .id = i + 1 };
        pthread_create(&th[i], NULL, run_case, &w[i]);
    }
    for (int i = 0; i < CASES; i++) pthread_join(th[i], NULL);
    int64_t took = kiln_now_ms() - t0, sum = 0;
    for (int i = 0; i < CASES; i++) {
        KT_ASSERT_EQ_INT(w[i].bad, 0);
        KT_ASSERT_EQ_INT(w[i].seen, ROWS);
        sum += w[i].tx_ms;
    }
    printf("# %d cases: %lld ms in all, their transactions %lld ms summed\n", CASES, (long long)took,
           (long long)sum);
    KT_ASSERT(took < sum); /* one shared file would serialize the transactions: took >= sum */
}

static void test_template_untouched(void)
{
    kiln_data_case_t c;
    char err[256];
    KT_ASSERT_EQ_INT(kiln_data_case_begin(tpl, &c, err, sizeof err), 0);
    kiln_arena_t a;
    kiln_arena_init(&a, 0);
    kiln_rows_t *r;
    KT_ASSERT_EQ_INT(kiln_repo_query(c.repo, &a, "SELECT count(*) FROM tags", NULL, 0, &r), 1);
    KT_ASSERT_EQ_INT(kiln_rows_at(r, 0, 0)->i, 0);
    KT_ASSERT_EQ_INT(access(c.path, F_OK), 0);
    kiln_arena_destroy(&a);
    kiln_data_case_end(&c);
    KT_ASSERT(access(c.path, F_OK) != 0);
}

static void body(void)
{
    KT_RUN(test_template_untouched);
}

int main(void)
{
    if (getenv("KILN_TEST_DATABASE_URL")) unsetenv("KILN_TEST_DATABASE_URL"); /* SQLite only */
    dt_url(); /* makes dt_dir */
    char err[256];
    if (kiln_data_case_template_new(dt_dir, dt_migrations, KILN_ARRAY_LEN(dt_migrations), &tpl, err, sizeof err) < 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    KT_RUN(test_cases_run_concurrently_and_apart);
    dt_on_runtime(1, body); /* a case used from a coroutine, as a request handler would */
    kiln_data_case_template_free(tpl);
    if (dt_open() < 0) return 1; /* the shared file is unaffected by the cases */
    kiln_repo_close(dt_repo);
    return kt_done();
}
