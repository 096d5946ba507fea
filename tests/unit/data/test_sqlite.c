/* SQLite's threading model under load (docs/adr/0020):
 *  - a long read started on a scheduler thread moves to the blocking pool,
 *    so other coroutines on that scheduler keep running (issue 4 §1);
 *  - D4: several writer processes on one file get busy retries, never
 *    SQLITE_BUSY errors or lost rows, and the file passes integrity_check. */
#include <sys/wait.h>

#include "data_test.h"

static int64_t max_gap_ms, ticks;
static volatile int scanning;

static void ticker(void *arg)
{
    (void)arg;
    int64_t last = kiln_now_ms();
    while (scanning) {
        kiln_sleep(1);
        int64_t now = kiln_now_ms();
        if (now - last > max_gap_ms) max_gap_ms = now - last;
        last = now;
        ticks++;
    }
}

static void test_long_read_leaves_the_scheduler(void)
{
    kiln_arena_t a;
    kiln_arena_init(&a, 0);
    scanning = 1;
    kiln_coro_start(ticker, NULL);
    int64_t t0 = kiln_now_ms();
    kiln_rows_t *r;
    int rc = kiln_repo_query(dt_repo, &a,
                             "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000000) "
                             "SELECT count(*) FROM c",
                             NULL, 0, &r);
    int64_t took = kiln_now_ms() - t0;
    scanning = 0;
    kiln_sleep(5);
    printf("# scan %lld ms; other coroutine: %lld ticks, max gap %lld ms\n", (long long)took, (long long)ticks,
           (long long)max_gap_ms);
    KT_ASSERT_EQ_INT(rc, 1);
    KT_ASSERT_EQ_INT(kiln_rows_at(r, 0, 0)->i, 3000000);
    KT_ASSERT(max_gap_ms < 50); /* the scan itself takes hundreds of ms */
    KT_ASSERT(ticks > 10);
    kiln_arena_destroy(&a);
}

/* One writer process: 100 transactions of 2 inserts each on its own repo. */
static int writer_proc(int id)
{
    kiln_repo_t *repo;
    char err[256];
    if (kiln_repo_open(dt_url(), &repo, err, sizeof err) < 0) return 2;
    kiln_arena_t a;
    kiln_arena_init(&a, 0);
    int bad = 0;
    for (int i = 0; i < 100; i++) {
        kiln_repo_t *tx;
        if (kiln_repo_sandbox_begin(repo, &tx) < 0) { bad++; continue; } /* BEGIN IMMEDIATE: the contended step */
        kiln_repo_sandbox_end(tx);
        kiln_val_t p[] = { KILN_VTEXT("w"), KILN_VINT(id * 1000 + i) };
        if (kiln_repo_query(repo, &a, "INSERT INTO tags (name, id) VALUES (?, ?)", p, 2, NULL) != 1) bad++;
        kiln_arena_reset(&a);
    }
    kiln_arena_destroy(&a);
    kiln_repo_close(repo);
    return bad ? 1 : 0;
}

static void test_d4_concurrent_writer_processes(void)
{
    enum { N = 4 };
    pid_t pids[N];
    for (int i = 0; i < N; i++) {
        pids[i] = fork();
        if (pids[i] == 0) _exit(writer_proc(i + 1));
    }
    int failures = 0;
    for (int i = 0; i < N; i++) {
        int st;
        waitpid(pids[i], &st, 0);
        failures += !WIFEXITED(st) || WEXITSTATUS(st) != 0;
    }
    KT_ASSERT_EQ_INT(failures, 0);
    kiln_arena_t a;
    kiln_arena_init(&a, 0);
    kiln_rows_t *r;
    KT_ASSERT_EQ_INT(kiln_repo_query(dt_repo, &a, "SELECT count(*) FROM tags WHERE name = 'w'", NULL, 0, &r), 1);
    KT_ASSERT_EQ_INT(kiln_rows_at(r, 0, 0)->i, N * 100);
    KT_ASSERT_EQ_INT(kiln_repo_query(dt_repo, &a, "PRAGMA integrity_check", NULL, 0, &r), 1);
    KT_ASSERT_EQ_STR(kiln_rows_at(r, 0, 0)->s, "ok");
    kiln_arena_destroy(&a);
}

static void body(void)
{
    KT_RUN(test_long_read_leaves_the_scheduler);
}

int main(void)
{
    if (getenv("KILN_TEST_DATABASE_URL")) unsetenv("KILN_TEST_DATABASE_URL"); /* SQLite only */
    if (dt_open() < 0) return 1;
    dt_on_runtime(1, body);
    KT_RUN(test_d4_concurrent_writer_processes); /* plain processes: fork before any runtime thread */
    kiln_repo_close(dt_repo);
    return kt_done();
}
