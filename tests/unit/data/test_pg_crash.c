/* D6 (RELIABILITY.md): PostgreSQL crashes under a writer loop. Two writer
 * coroutines insert fresh ids (one in autocommit, one through
 * kiln_repo_transaction) and log every attempt: id, result, start, end. A
 * plain thread crashes the server (pg-tmp crash: pg_ctl -m immediate), keeps
 * it down for a while, and starts it again (pg-tmp restart: WAL replay).
 * Then:
 *  - every acknowledged insert is in the table (the database runs with
 *    synchronous_commit=on: with off, a crash may lose acknowledged commits
 *    by design);
 *  - while the server is down, each call fails, fast (< FAIL_FAST_MS), and
 *    none succeeds; an insert refused by the pool's connect backoff
 *    (KILN_EAGAIN) was never sent, so its id is not in the table;
 *  - writes succeed again soon after the server is back (within the pool's
 *    longest backoff, 5 s, plus slack for a loaded machine), and the pool
 *    serves more statements than it has connections.
 *
 * Needs a server it may crash: tests/integration/test_data_pg_crash.sh sets
 * KILN_TEST_DATABASE_URL, KILN_TEST_PG_TMP (the pg-tmp script) and
 * KILN_TEST_PG_DIR (its DIR). Without them the test is skipped. */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "data_test.h"

enum {
    WRITERS = 2,
    MAX_ATTEMPTS = 200000,
    WARMUP_ACKS = 20,       /* acknowledged inserts before the crash */
    OUTAGE_MS = 700,        /* down, between crash and restart */
    AFTER_MS = 300,         /* writing after the first success past the restart */
    FAIL_FAST_MS = 2000,    /* the longest a failing call may take */
    BACKOFF_MAX_MS = 5000,  /* the pool's longest connect backoff (postgres.c) */
    RECOVERY_SLACK_MS = 5000
};

typedef struct attempt {
    int64_t id, t0, t1;
    int rc;
} attempt_t;

static attempt_t *attempts;
static size_t n_attempts;
static int64_t next_id;
static int writers_left;

/* Shared with the crash thread. */
static atomic_int stop, controller_done, recovered;
static atomic_llong acked, t_crash, t_down, t_up_start, t_up;
static int rc_crash = -1, rc_restart = -1, warmed_up;

static int64_t ms(int64_t ns) { return ns / 1000000; }

static void nap_ms(int64_t n)
{
    struct timespec ts = { (time_t)(n / 1000), (long)(n % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* ---- the writers (coroutines of one scheduler: no lock on the log) ---- */

static int insert(kiln_repo_t *repo, kiln_arena_t *a, int64_t id)
{
    return kiln_repo_query(repo, a, "INSERT INTO d6 (id) VALUES ($1)", &KILN_VINT(id), 1, NULL);
}

static int insert_tx(kiln_repo_t *tx, void *ud)
{
    kiln_arena_t a;
    kiln_arena_init(&a, 0);
    int rc = insert(tx, &a, *(int64_t *)ud);
    kiln_arena_destroy(&a);
    return rc < 0 ? rc : 0;
}

static void writer(void *arg)
{
    bool in_tx = (intptr_t)arg;
    kiln_arena_t a;
    kiln_arena_init(&a, 0);
    while (!atomic_load(&stop) && n_attempts < MAX_ATTEMPTS) {
        int64_t id = ++next_id, t0 = kiln_now_ns();
        int rc = in_tx ? kiln_repo_transaction(dt_repo, insert_tx, &id) : insert(dt_repo, &a, id);
        int64_t t1 = kiln_now_ns();
        attempts[n_attempts++] = (attempt_t){ id, t0, t1, rc };
        if (rc >= 0) {
            atomic_fetch_add(&acked, 1);
            if (atomic_load(&t_up_start) && t0 > atomic_load(&t_up_start)) atomic_store(&recovered, 1);
        }
        kiln_arena_reset(&a);
        kiln_sleep(rc >= 0 ? 1 : 5); /* an app's pace; a failure does not spin */
    }
    kiln_arena_destroy(&a);
    writers_left--;
}

/* ---- the crash, on a plain thread (system() blocks it) ---- */

static int pg_tmp(const char *verb)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' %s '%s'", getenv("KILN_TEST_PG_TMP"), verb, getenv("KILN_TEST_PG_DIR"));
    return system(cmd);
}

/* Waits up to limit_ms for flag (or for acked to reach n when flag is NULL). */
static bool wait_for(atomic_int *flag, long long n, int64_t limit_ms)
{
    for (int64_t t0 = kiln_now_ms(); kiln_now_ms() - t0 < limit_ms; nap_ms(5))
        if (flag ? atomic_load(flag) : atomic_load(&acked) >= n) return true;
    return false;
}

static void *controller(void *arg)
{
    (void)arg;
    warmed_up = wait_for(NULL, WARMUP_ACKS, 20000);
    if (warmed_up) {
        atomic_store(&t_crash, kiln_now_ns());
        rc_crash = pg_tmp("crash");
        atomic_store(&t_down, kiln_now_ns());
        nap_ms(OUTAGE_MS);
        atomic_store(&t_up_start, kiln_now_ns());
        rc_restart = pg_tmp("restart");
        atomic_store(&t_up, kiln_now_ns());
        if (wait_for(&recovered, 0, BACKOFF_MAX_MS + RECOVERY_SLACK_MS + 5000)) nap_ms(AFTER_MS);
    }
    atomic_store(&stop, 1);
    atomic_store(&controller_done, 1);
    return NULL;
}

/* ---- checks ---- */

/* Every attempt during the outage failed, and every failing call failed
 * fast; *during counts the attempts made while the server was down. */
static void check_outage(int64_t down, int64_t up_start, int *during)
{
    int64_t slowest_fail = 0;
    *during = 0;
    for (size_t i = 0; i < n_attempts; i++) {
        const attempt_t *at = &attempts[i];
        if (at->rc < 0 && at->t1 - at->t0 > slowest_fail) slowest_fail = at->t1 - at->t0;
        if (at->t0 < down || at->t1 > up_start) continue;
        ++*during;
        if (at->rc >= 0) KT_FAIL_("id %lld succeeded while the server was down", (long long)at->id);
    }
    printf("# %d calls while down; slowest failing call %lld ms\n", *during, (long long)ms(slowest_fail));
    if (ms(slowest_fail) >= FAIL_FAST_MS) KT_FAIL_("a failing call took %lld ms", (long long)ms(slowest_fail));
}

/* The first success after the crash, relative to the server being up (ms). */
static int64_t recovery_ms(int64_t down, int64_t up)
{
    for (size_t i = 0; i < n_attempts; i++)
        if (attempts[i].rc >= 0 && attempts[i].t0 > down) return ms(attempts[i].t1 - up);
    return INT64_MAX;
}

/* Acknowledged ids are in the table; ids the backoff refused are not. */
static void check_rows(kiln_arena_t *a)
{
    kiln_rows_t *r;
    int n = kiln_repo_query(dt_repo, a, "SELECT id FROM d6", NULL, 0, &r);
    KT_ASSERT(n >= 0);
    char *present = kiln_arena_calloc(a, (size_t)next_id + 1);
    KT_ASSERT(present != NULL);
    for (int i = 0; i < n; i++) {
        int64_t id = kiln_rows_at(r, (size_t)i, 0)->i;
        if (id >= 1 && id <= next_id) present[id] = 1;
    }
    int64_t ok = 0, lost = 0, phantom = 0, refused = 0;
    for (size_t i = 0; i < n_attempts; i++) {
        const attempt_t *at = &attempts[i];
        if (at->rc >= 0) ok++, lost += !present[at->id];
        if (at->rc == KILN_EAGAIN) refused++, phantom += present[at->id];
    }
    printf("# %lld acknowledged, %d rows; %lld refused by the backoff\n", (long long)ok, n, (long long)refused);
    KT_ASSERT_EQ_INT(lost, 0);
    KT_ASSERT_EQ_INT(phantom, 0);
}

static kiln_arena_t arena;

static void d6_pg_crash(void)
{
    kiln_rows_t *r;
    KT_ASSERT_EQ_INT(kiln_repo_query(dt_repo, &arena, "SHOW synchronous_commit", NULL, 0, &r), 1);
    KT_ASSERT_EQ_STR(kiln_rows_at(r, 0, 0)->s, "on"); /* else acknowledged commits may be lost by design */
    KT_ASSERT(kiln_repo_query(dt_repo, &arena, "CREATE TABLE d6 (id bigint PRIMARY KEY)", NULL, 0, NULL) >= 0);

    writers_left = WRITERS;
    for (intptr_t w = 0; w < WRITERS; w++) kiln_coro_start(writer, (void *)w);
    pthread_t th;
    KT_ASSERT_EQ_INT(pthread_create(&th, NULL, controller, NULL), 0);
    while (!atomic_load(&controller_done) || writers_left) kiln_sleep(10); /* park, do not block the writers */
    pthread_join(th, NULL);

    int64_t down = atomic_load(&t_down), up_start = atomic_load(&t_up_start), up = atomic_load(&t_up);
    printf("# crash %lld ms, down %lld ms, restart %lld ms; %zu calls\n", (long long)ms(down - atomic_load(&t_crash)),
           (long long)ms(up_start - down), (long long)ms(up - up_start), n_attempts);
    KT_ASSERT(warmed_up);
    KT_ASSERT_EQ_INT(rc_crash, 0);
    KT_ASSERT_EQ_INT(rc_restart, 0);
    KT_ASSERT(n_attempts < MAX_ATTEMPTS);
    int during;
    check_outage(down, up_start, &during);
    KT_ASSERT(during > 0); /* else the outage was not exercised */
    int64_t rec = recovery_ms(down, up);
    printf("# first write after the crash succeeded %lld ms after the server was up\n", (long long)rec);
    KT_ASSERT(rec <= BACKOFF_MAX_MS + RECOVERY_SLACK_MS);
    check_rows(&arena);
    for (int i = 0; i < 6; i++) /* more than pool_size: every slot reconnects */
        KT_ASSERT_EQ_INT(kiln_repo_query(dt_repo, &arena, "SELECT 1", NULL, 0, &r), 1);
    kiln_repo_query(dt_repo, &arena, "DROP TABLE d6", NULL, 0, NULL);
}

static void test_d6_pg_crash(void)
{
    kiln_arena_init(&arena, 0);
    attempts = kiln_xcalloc(MAX_ATTEMPTS, sizeof *attempts);
    d6_pg_crash();
    free(attempts);
    kiln_arena_destroy(&arena);
}

static void body(void)
{
    KT_RUN(test_d6_pg_crash);
}

int main(void)
{
    if (!getenv("KILN_TEST_DATABASE_URL") || !getenv("KILN_TEST_PG_TMP") || !getenv("KILN_TEST_PG_DIR")) {
        printf("# skipped: needs a PostgreSQL it may crash (tests/integration/test_data_pg_crash.sh)\n");
        return kt_done();
    }
    if (dt_open() < 0) return 1;
    dt_on_runtime(1, body); /* writers on coroutines, as request handlers */
    kiln_repo_close(dt_repo);
    return kt_done();
}
