/* D1 (RELIABILITY.md): SQLite under kill -9. A child process opens the repo
 * on a real file and commits one row per transaction (BEGIN IMMEDIATE,
 * INSERT seq, COMMIT through kiln_repo_transaction); after each commit
 * returns it writes seq to a pipe: acknowledged. The parent SIGKILLs it at a
 * random moment, ROUNDS times on the same file, and after each kill reopens
 * the file and checks that it is intact (integrity_check, no hole in the
 * sequence) and that every acknowledged seq is there. A row committed but not
 * yet acknowledged may be there too: the kill can land between the two.
 *
 * Half the rounds count the delay from the fork, so the kill may hit the open
 * (WAL recovery of the previous kill's file); the other half from the child's
 * "ready", so it hits the writer loop. The seed is printed; KILN_TEST_SEED
 * replays a run. */
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kiln/repo.h"
#include "kiln_test.h"

enum { ROUNDS = 50, MIN_DELAY_MS = 2, MAX_DELAY_MS = 30, READY = 0 };

static char dir[64], url[128];
static int64_t last_acked; /* the highest seq acknowledged so far, over all rounds */
static int64_t total_acked, rounds_acked;

static void cleanup(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", dir);
}

static void nap_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* A quarter of a page per row, so that the WAL grows and checkpoints run
 * during the rounds (and a kill can hit one). */
static const char pad[] = "................................................................"
                          "................................................................"
                          "................................................................"
                          "................................................................";

static int insert_seq(kiln_repo_t *tx, void *ud)
{
    kiln_arena_t a;
    kiln_arena_init(&a, 0);
    kiln_val_t p[] = { KILN_VINT(*(int64_t *)ud), KILN_VTEXT(pad) };
    int rc = kiln_repo_query(tx, &a, "INSERT INTO d1 (seq, pad) VALUES (?, ?)", p, 2, NULL);
    kiln_arena_destroy(&a);
    return rc == 1 ? 0 : rc < 0 ? rc : KILN_EDB;
}

static void put(int fd, int64_t v, int code)
{
    if (write(fd, &v, sizeof v) != (ssize_t)sizeof v) _exit(code);
}

/* The writer: continues after the highest seq on file, until killed. Exits
 * (with a code the parent reports) only on an error. */
static _Noreturn void child(int ack)
{
    kiln_repo_t *repo;
    char err[256];
    if (kiln_repo_open(url, &repo, err, sizeof err) < 0) _exit(2);
    kiln_arena_t a;
    kiln_arena_init(&a, 0);
    kiln_rows_t *r;
    if (kiln_repo_query(repo, &a, "SELECT coalesce(max(seq), 0) FROM d1", NULL, 0, &r) != 1) _exit(3);
    int64_t seq = kiln_rows_at(r, 0, 0)->i;
    put(ack, READY, 4);
    for (;;) {
        seq++;
        if (kiln_repo_transaction(repo, insert_seq, &seq) < 0) _exit(5);
        put(ack, seq, 6); /* only now is the commit acknowledged */
    }
}

/* Waits up to 10 s (a loaded machine, a sanitizer build) for the child's
 * first record; returns 0 once it said ready. */
static int wait_ready(int fd)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };
    int64_t v = -1;
    if (poll(&p, 1, 10000) != 1 || read(fd, &v, sizeof v) != (ssize_t)sizeof v) return -1;
    return v == READY ? 0 : -1;
}

/* Reads every record left in the pipe (the writer is dead: EOF ends it) into
 * acks; returns how many. */
static size_t read_acks(int fd, int64_t **acks)
{
    size_t n = 0, cap = 256;
    *acks = kiln_xmalloc(cap * sizeof **acks);
    int64_t v;
    while (read(fd, &v, sizeof v) == (ssize_t)sizeof v) {
        if (v == READY) continue;
        if (n == cap) *acks = kiln_xrealloc(*acks, (cap *= 2) * sizeof **acks);
        (*acks)[n++] = v;
    }
    return n;
}

static int64_t one_int(kiln_repo_t *repo, kiln_arena_t *a, const char *sql, const kiln_val_t *p, size_t n)
{
    kiln_rows_t *r;
    return kiln_repo_query(repo, a, sql, p, n, &r) == 1 ? kiln_rows_at(r, 0, 0)->i : -1;
}

/* After a kill: the file opens, is intact and holds acks[0..n). */
static void check_file(int round, const int64_t *acks, size_t n)
{
    kiln_repo_t *repo;
    char err[256];
    if (kiln_repo_open(url, &repo, err, sizeof err) < 0) KT_FAIL_("round %d: reopen: %s", round, err);
    kiln_arena_t a;
    kiln_arena_init(&a, 0);
    kiln_rows_t *r;
    int rc = kiln_repo_query(repo, &a, "PRAGMA integrity_check", NULL, 0, &r);
    int ok = rc == 1 && kiln_rows_at(r, 0, 0)->kind == KILN_VAL_TEXT && !strcmp(kiln_rows_at(r, 0, 0)->s, "ok");
    /* No hole: each child continues from the highest row, so rows 1..max are all there
       unless a committed row vanished while later ones stayed. */
    int64_t count = one_int(repo, &a, "SELECT count(*) FROM d1", NULL, 0);
    int64_t max = one_int(repo, &a, "SELECT coalesce(max(seq), 0) FROM d1", NULL, 0);
    int64_t present = n ? one_int(repo, &a, "SELECT count(*) FROM d1 WHERE seq BETWEEN ? AND ?",
                                  (kiln_val_t[]){ KILN_VINT(acks[0]), KILN_VINT(acks[n - 1]) }, 2)
                        : 0;
    kiln_arena_destroy(&a);
    kiln_repo_close(repo);
    if (!ok) KT_FAIL_("round %d: integrity_check is not ok", round);
    if (count != max) KT_FAIL_("round %d: %lld rows but max seq %lld", round, (long long)count, (long long)max);
    /* One writer acknowledges seqs one by one, above every earlier ack: a range,
       so counting the rows in it checks each of them. */
    for (size_t i = 0; i < n; i++)
        if (i ? acks[i] != acks[i - 1] + 1 : acks[0] <= last_acked)
            KT_FAIL_("round %d: ack %lld after %lld", round, (long long)acks[i], (long long)(i ? acks[i - 1] : last_acked));
    if (present != (int64_t)n)
        KT_FAIL_("round %d: %lld of %zu acknowledged seqs (%lld..%lld) present", round, (long long)present, n,
                 (long long)(n ? acks[0] : 0), (long long)(n ? acks[n - 1] : 0));
    if (n) last_acked = acks[n - 1];
}

/* One round: fork the writer, kill it after a random delay, check the file. */
static void round_once(int round)
{
    int fds[2];
    if (pipe(fds) < 0) KT_FAIL_("pipe");
    fflush(NULL); /* the child must not flush the parent's buffered output */
    pid_t pid = fork();
    if (pid < 0) KT_FAIL_("fork");
    if (pid == 0) {
        close(fds[0]);
        child(fds[1]);
    }
    close(fds[1]);
    int delay = MIN_DELAY_MS + rand() % (MAX_DELAY_MS - MIN_DELAY_MS + 1);
    int from_ready = round % 2, ready_ok = from_ready ? wait_ready(fds[0]) == 0 : 1;
    if (ready_ok) nap_ms(delay);
    kill(pid, SIGKILL);
    int st;
    waitpid(pid, &st, 0);
    int64_t *acks;
    size_t n = read_acks(fds[0], &acks);
    close(fds[0]);
    if (ready_ok && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL) check_file(round, acks, n);
    free(acks);
    total_acked += (int64_t)n;
    rounds_acked += n > 0;
    if (!ready_ok) KT_FAIL_("round %d: the writer did not get ready within 10 s", round);
    if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGKILL)
        KT_FAIL_("round %d: the writer stopped on its own (exit %d) before the kill", round, WEXITSTATUS(st));
}

static void test_d1_sqlite_kill9(void)
{
    const char *env = getenv("KILN_TEST_SEED");
    unsigned seed = env ? (unsigned)strtoul(env, NULL, 10) : (unsigned)time(NULL) ^ (unsigned)getpid();
    srand(seed);
    printf("# seed %u (KILN_TEST_SEED replays it)\n", seed);
    kiln_repo_t *repo;
    char err[256];
    KT_ASSERT_EQ_INT(kiln_repo_open(url, &repo, err, sizeof err), 0);
    kiln_arena_t a;
    kiln_arena_init(&a, 0);
    int rc = kiln_repo_query(repo, &a, "CREATE TABLE d1 (seq INTEGER PRIMARY KEY, pad TEXT NOT NULL)", NULL, 0, NULL);
    kiln_arena_destroy(&a);
    kiln_repo_close(repo); /* no connection of ours stays open across a fork */
    KT_ASSERT(rc >= 0);
    int64_t t0 = kiln_now_ms();
    for (int i = 0; i < ROUNDS && !kt_current_failed; i++) round_once(i);
    printf("# %d rounds in %lld ms: %lld commits acknowledged, in %lld rounds\n", ROUNDS,
           (long long)(kiln_now_ms() - t0), (long long)total_acked, (long long)rounds_acked);
    KT_ASSERT(total_acked > 0); /* else nothing was tested */
}

int main(void)
{
    snprintf(dir, sizeof dir, "%s/kiln-d1-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir)) return 1;
    atexit(cleanup);
    snprintf(url, sizeof url, "sqlite:%s/d1.db", dir);
    KT_RUN(test_d1_sqlite_kill9);
    return kt_done();
}
