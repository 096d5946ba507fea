/* Issue 4 §1, proved over HTTP: a 1-second table scan in one request while the
 * p99 of other requests stays flat (docs/adr/0020-sqlite-threading.md).
 *
 *   bench_data_scan_p99        (no arguments; ~20-40 s, half of it loading rows)
 *
 * Server: this process runs a runtime with ONE scheduler (and the default 4
 * blocking threads) and a Kiln HTTP server on an ephemeral loopback port, over
 * a SQLite repo on a temp file (slow-query log off) with three routes, all
 * through the data layer:
 *   /cheap        kiln_repo_get of one `items` row by primary key;
 *   /scan         SCAN_SQL, a full scan of `items` (an unindexed, case-insensitive
 *                 substring search), on the repo with the default inline_budget:
 *                 it starts on the scheduler thread and moves to the blocking pool
 *                 after 2 ms;
 *   /scan_inline  the same on a second repo over the same file opened with
 *                 ?inline_budget=3600000, i.e. without the hand-off (the negative
 *                 control: the scan holds the scheduler thread for its whole run).
 * Before the server starts, the table is grown (bounded, MAX_ROWS) until one
 * scan, run on this plain thread, takes >= 0.8 s.
 *
 * Client: plain C with blocking sockets, loopback only, keep-alive. The main
 * thread sends /cheap back to back on one connection and records each
 * latency (at most MAX_SAMPLES), in three phases:
 *   baseline     no scan, PHASE_MIN_NS;
 *   under scan   a second thread (scanner_main) sends /scan back to back on a
 *                connection of its own; the phase lasts PHASE_MIN_NS and until at
 *                least two scans started and finished inside it (PHASE_MAX_NS at
 *                most);
 *   control      the same with /scan_inline.
 * Printed per phase: requests, p50/p99/max of /cheap, scans that ran wholly
 * inside the phase, the median scan latency; then the p99 ratio under scan /
 * baseline (target <= 3x). Exit status: 0, or 1 when setup or a request failed.
 *
 * Ownership: the repos and the temp directory belong to main, the router,
 * the server (kst_server_t) and the latency array to measure(), each freed in
 * reverse order once the server is stopped; a scanner_t is run_phase's (heap),
 * freed after its thread is joined at the end of the phase. */
#include "../tests/support/kiln_server_test.h"
#include "kiln/data.h"

#include <sys/stat.h>

#define MIN_SCAN_NS 800000000LL    /* calibration goal: a scan of at least 0.8 s */
#define TARGET_SCAN_NS 1100000000LL /* ... aiming at 1.1 s when growing the table */
#define FIRST_ROWS 1000000LL
#define MAX_ROWS 40000000LL         /* ~1.5 GB: the bound on the table's growth */
#define CALIBRATE_ROUNDS 6
#define PHASE_MIN_NS 2000000000LL
#define PHASE_MAX_NS 15000000000LL
#define MAX_SAMPLES 2000000
#define MAX_SCANS 256
#define WARMUP_REQUESTS 500
#define IO_TIMEOUT_MS 30000

static const char SCAN_SQL[] = "SELECT count(*) FROM items WHERE lower(s) LIKE '%7f%3%'";

/* ---- the app ------------------------------------------------------------- */

typedef struct item {
    int64_t id, n;
    const char *s;
} item_t;
static const kiln_field_t item_fields[] = { KILN_FIELD(item_t, id, KILN_T_INTEGER), KILN_FIELD(item_t, n, KILN_T_INTEGER),
                                            KILN_FIELD(item_t, s, KILN_T_TEXT) };
static const kiln_schema_t item_schema = KILN_SCHEMA(item_t, "items", item_fields);

/* Set by main before the server starts, read-only while it runs. */
static kiln_repo_t *repo;        /* default inline_budget (2 ms) */
static kiln_repo_t *repo_inline; /* inline_budget=3600000: no hand-off within a scan */
static int64_t n_rows;
static atomic_uint_fast64_t cheap_seq;

static int h_cheap(kiln_conn_t *c)
{
    int64_t id = 1 + (int64_t)(atomic_fetch_add(&cheap_seq, 1) * 7919u % (uint64_t)n_rows);
    item_t *it;
    int rc = kiln_repo_get(repo, c->arena, &item_schema, id, (void **)&it);
    if (rc < 0) return rc;
    const char *body = kiln_arena_sprintf(c->arena, "%lld", (long long)it->n);
    return body ? kiln_conn_text(c, 200, body) : KILN_ENOMEM;
}

static int scan(kiln_conn_t *c, kiln_repo_t *r)
{
    kiln_rows_t *rows;
    int rc = kiln_repo_query(r, c->arena, SCAN_SQL, NULL, 0, &rows);
    if (rc < 0) return rc;
    if (rc != 1) return KILN_EINTERNAL;
    const char *body = kiln_arena_sprintf(c->arena, "%lld", (long long)kiln_rows_at(rows, 0, 0)->i);
    return body ? kiln_conn_text(c, 200, body) : KILN_ENOMEM;
}

static int h_scan(kiln_conn_t *c) { return scan(c, repo); }
static int h_scan_inline(kiln_conn_t *c) { return scan(c, repo_inline); }

static const kiln_route_t routes[] = {
    KILN_GET("/cheap", h_cheap, "cheap"),
    KILN_GET("/scan", h_scan, "scan"),
    KILN_GET("/scan_inline", h_scan_inline, "scan_inline"),
};
static kiln_endpoint_t endpoint = { .name = "bench_data_scan_p99" };

/* ---- the table ----------------------------------------------------------- */

/* Appends rows (from, to] to items, in one statement (a plain-thread write). */
static int add_rows(kiln_arena_t *a, int64_t from, int64_t to)
{
    kiln_val_t p[] = { KILN_VINT(from + 1), KILN_VINT(to) };
    int rc = kiln_repo_query(repo, a,
                             "INSERT INTO items (id, n, s) "
                             "WITH RECURSIVE c(x) AS (SELECT ? UNION ALL SELECT x + 1 FROM c WHERE x < ?) "
                             "SELECT x, (x * 2654435761) % 1000003, printf('item-%08d-%08X', x, (x * 40503) % 4294967291) "
                             "FROM c",
                             p, 2, NULL);
    kiln_arena_reset(a);
    return rc < 0 ? rc : 0;
}

/* One SCAN_SQL on this (plain) thread: its duration in ns, or a negative error. */
static int64_t time_scan(kiln_arena_t *a)
{
    int64_t t0 = kiln_now_ns();
    int rc = kiln_repo_query(repo, a, SCAN_SQL, NULL, 0, NULL);
    int64_t took = kiln_now_ns() - t0;
    kiln_arena_reset(a);
    return rc < 0 ? rc : took;
}

/* Creates items and grows it until a scan takes MIN_SCAN_NS (or MAX_ROWS rows);
 * *scan_ns gets the last scan's duration. */
static int calibrate(int64_t *scan_ns)
{
    kiln_arena_t a;
    kiln_arena_init(&a, 0);
    int64_t took = 0;
    int rc = kiln_repo_query(repo, &a, "CREATE TABLE items (id INTEGER PRIMARY KEY, n INTEGER NOT NULL, s TEXT NOT NULL)",
                             NULL, 0, NULL);
    for (int round = 0; rc >= 0 && round < CALIBRATE_ROUNDS; round++) {
        int64_t want = round == 0 ? FIRST_ROWS : (int64_t)((double)n_rows * (double)TARGET_SCAN_NS / (double)took);
        if (want < n_rows + n_rows / 4) want = n_rows + n_rows / 4;
        if (want > MAX_ROWS) want = MAX_ROWS;
        if ((rc = add_rows(&a, n_rows, want)) < 0) break;
        n_rows = want;
        if ((took = time_scan(&a)) < 0) rc = (int)took;
        else if (took >= MIN_SCAN_NS || n_rows == MAX_ROWS) break;
    }
    /* The rows went through the WAL: move them into the database file and truncate the WAL. */
    if (rc >= 0) rc = kiln_repo_query(repo, &a, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, 0, NULL);
    kiln_arena_destroy(&a);
    *scan_ns = took;
    return rc < 0 ? rc : 0;
}

/* ---- the client ---------------------------------------------------------- */

typedef struct client {
    int fd;
    size_t len;     /* bytes in buf */
    char buf[4096]; /* a response is small: head plus a number */
} client_t;

static int client_connect(client_t *cl, int port)
{
    cl->len = 0;
    cl->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (cl->fd < 0) return -1;
    struct timeval tv = { IO_TIMEOUT_MS / 1000, 0 };
    int one = 1;
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (setsockopt(cl->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0 ||
        setsockopt(cl->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) < 0 ||
        setsockopt(cl->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0 ||
        connect(cl->fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        close(cl->fd);
        cl->fd = -1;
        return -1;
    }
    return 0;
}

static void client_close(client_t *cl)
{
    if (cl->fd >= 0) close(cl->fd);
    cl->fd = -1;
}

/* GET path on the keep-alive connection; the response must be a 200 with a
 * content-length body (not kept). Returns 0, or -1 (I/O error, timeout, other
 * status or framing: reported on stderr). */
static int client_get(client_t *cl, const char *path)
{
    char req[128];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nhost: bench\r\n\r\n", path);
    if (n < 0 || (size_t)n >= sizeof req) return -1;
    for (int off = 0; off < n;) {
        ssize_t w = send(cl->fd, req + off, (size_t)(n - off), MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return perror("bench_data_scan_p99: send"), -1;
        off += (int)w;
    }
    size_t head = 0, body = 0;
    for (;;) {
        if (!head) {
            char *end = memmem(cl->buf, cl->len, "\r\n\r\n", 4);
            if (end) {
                head = (size_t)(end - cl->buf) + 4;
                *end = '\0'; /* the head as a string; the body starts after the terminator */
                const char *cl_hdr = strcasestr(cl->buf, "\r\ncontent-length:");
                int status = 0;
                if (sscanf(cl->buf, "HTTP/1.1 %d", &status) != 1 || status != 200 || !cl_hdr) {
                    fprintf(stderr, "bench_data_scan_p99: GET %s: unexpected response: %.200s\n", path, cl->buf);
                    return -1;
                }
                body = strtoull(cl_hdr + 17, NULL, 10);
            }
        }
        if (head && cl->len >= head + body) break;
        if (cl->len == sizeof cl->buf) {
            fprintf(stderr, "bench_data_scan_p99: GET %s: response larger than %zu bytes\n", path, sizeof cl->buf);
            return -1;
        }
        ssize_t r = recv(cl->fd, cl->buf + cl->len, sizeof cl->buf - cl->len, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            fprintf(stderr, "bench_data_scan_p99: GET %s: %s\n", path, r ? strerror(errno) : "connection closed");
            return -1;
        }
        cl->len += (size_t)r;
    }
    if (cl->len != head + body) { /* nothing was pipelined: nothing may follow */
        fprintf(stderr, "bench_data_scan_p99: GET %s: %zu unexpected bytes after the response\n", path,
                cl->len - head - body);
        return -1;
    }
    cl->len = 0;
    return 0;
}

/* The scan client: GET path back to back until stop, recording each scan's
 * start and end (span[i], published by done). */
typedef struct scanner {
    int port;
    const char *path;
    atomic_bool stop;
    atomic_int done;
    atomic_bool failed;
    int64_t span[MAX_SCANS][2];
} scanner_t;

static void *scanner_main(void *arg)
{
    scanner_t *sc = arg;
    client_t cl;
    if (client_connect(&cl, sc->port) < 0) {
        atomic_store(&sc->failed, true);
        return NULL;
    }
    while (!atomic_load(&sc->stop) && atomic_load(&sc->done) < MAX_SCANS) {
        int i = atomic_load(&sc->done);
        sc->span[i][0] = kiln_now_ns();
        if (client_get(&cl, sc->path) < 0) {
            atomic_store(&sc->failed, true);
            break;
        }
        sc->span[i][1] = kiln_now_ns();
        atomic_store(&sc->done, i + 1);
    }
    client_close(&cl);
    return NULL;
}

/* Scans that started at or after from and ended at or before to; *median_ns
 * (when not NULL) gets the median duration of those. */
static int scans_within(const scanner_t *sc, int64_t from, int64_t to, int64_t *median_ns)
{
    int64_t d[MAX_SCANS];
    int n = 0, done = atomic_load(&sc->done);
    for (int i = 0; i < done; i++)
        if (sc->span[i][0] >= from && sc->span[i][1] <= to) d[n++] = sc->span[i][1] - sc->span[i][0];
    if (median_ns) {
        int64_t m = 0;
        for (int i = 0; i < n; i++) { /* the median of a few values: count the smaller ones */
            int below = 0;
            for (int j = 0; j < n; j++) below += d[j] < d[i];
            if (below == (n - 1) / 2) m = d[i];
        }
        *median_ns = m;
    }
    return n;
}

typedef struct phase {
    const char *name;
    size_t n;
    int64_t p50, p99, max;
    int scans;        /* full scans inside the phase; -1: no scanner */
    int64_t scan_med; /* their median duration */
} phase_t;

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of n sorted values. */
static int64_t pct(const int64_t *v, size_t n, int p)
{
    size_t rank = (n * (size_t)p + 99) / 100;
    return v[rank ? rank - 1 : 0];
}

/* One phase: /cheap back to back on cl, while scan_path (NULL: none) runs from
 * a scanner thread. lat has MAX_SAMPLES slots. Returns 0 or -1. */
static int run_phase(client_t *cl, int port, const char *name, const char *scan_path, int64_t *lat, phase_t *out)
{
    scanner_t *sc = NULL;
    pthread_t th;
    *out = (phase_t){ .name = name, .scans = -1 };
    if (scan_path) {
        sc = calloc(1, sizeof *sc);
        if (!sc) return -1;
        sc->port = port;
        sc->path = scan_path;
        int err = pthread_create(&th, NULL, scanner_main, sc);
        if (err) {
            fprintf(stderr, "bench_data_scan_p99: pthread_create: %s\n", strerror(err));
            free(sc);
            return -1;
        }
        kst_sleep_ms(50); /* the first scan is under way before the phase starts */
    }
    int rc = 0;
    size_t n = 0;
    int64_t t0 = kiln_now_ns(), now = t0;
    while (n < MAX_SAMPLES && now - t0 < PHASE_MAX_NS) {
        if (now - t0 >= PHASE_MIN_NS && (!sc || scans_within(sc, t0, now, NULL) >= 2)) break;
        if ((sc && atomic_load(&sc->failed)) || client_get(cl, "/cheap") < 0) {
            rc = -1;
            break;
        }
        int64_t t = kiln_now_ns();
        lat[n++] = t - now;
        now = t;
    }
    if (sc) {
        atomic_store(&sc->stop, true);
        pthread_join(th, NULL);
        if (atomic_load(&sc->failed)) rc = -1;
        out->scans = scans_within(sc, t0, now, &out->scan_med);
        free(sc);
    }
    if (rc < 0 || n == 0) return -1;
    qsort(lat, n, sizeof *lat, cmp_i64);
    out->n = n;
    out->p50 = pct(lat, n, 50);
    out->p99 = pct(lat, n, 99);
    out->max = lat[n - 1];
    return 0;
}

static void print_phase(const phase_t *p)
{
    printf("%-28s %9zu %9.3f %9.3f %9.3f", p->name, p->n, (double)p->p50 / 1e6, (double)p->p99 / 1e6,
           (double)p->max / 1e6);
    if (p->scans < 0) printf(" %7s %12s\n", "-", "-");
    else printf(" %7d %12.0f\n", p->scans, (double)p->scan_med / 1e6);
}

/* ---- main ---------------------------------------------------------------- */

static char dir[] = "/tmp/kiln-scan-p99-XXXXXX";
static char db_path[64];

static void remove_db(void)
{
    static const char *const suffix[] = { "", "-wal", "-shm" };
    char p[80];
    for (size_t i = 0; i < KILN_ARRAY_LEN(suffix); i++) {
        snprintf(p, sizeof p, "%s%s", db_path, suffix[i]);
        if (unlink(p) < 0 && errno != ENOENT) perror(p);
    }
    if (rmdir(dir) < 0) perror(dir);
}

static int open_repo(const char *opts, kiln_repo_t **out)
{
    char url[160], err[256];
    snprintf(url, sizeof url, "sqlite:%s?slow_ms=-1%s", db_path, opts);
    if (kiln_repo_open(url, out, err, sizeof err) < 0) {
        fprintf(stderr, "bench_data_scan_p99: %s\n", err);
        return -1;
    }
    return 0;
}

/* Serves and measures; the repos are open and the table calibrated. */
static int measure(phase_t ph[3])
{
    if (kiln_router_build(routes, KILN_ARRAY_LEN(routes), &endpoint.router) < 0) return -1;
    int64_t *lat = malloc(MAX_SAMPLES * sizeof *lat);
    kst_server_t s;
    kiln_server_conf_t conf = { .endpoint = &endpoint };
    int rc = lat ? kst_start(&s, &conf, 1) : KILN_ENOMEM;
    if (rc < 0) {
        fprintf(stderr, "bench_data_scan_p99: cannot start the server: %s\n", kiln_strerror(rc));
        free(lat);
        kiln_router_free(endpoint.router);
        return -1;
    }
    client_t cl;
    rc = client_connect(&cl, s.port);
    if (rc < 0) perror("bench_data_scan_p99: connect");
    for (int i = 0; rc == 0 && i < WARMUP_REQUESTS; i++) rc = client_get(&cl, "/cheap");
    if (rc == 0) rc = run_phase(&cl, s.port, "baseline (no scan)", NULL, lat, &ph[0]);
    if (rc == 0) rc = run_phase(&cl, s.port, "under /scan (hand-off)", "/scan", lat, &ph[1]);
    if (rc == 0) rc = run_phase(&cl, s.port, "control: /scan_inline", "/scan_inline", lat, &ph[2]);
    client_close(&cl);
    kst_stop(&s);
    free(lat);
    kiln_router_free(endpoint.router);
    return rc;
}

int main(void)
{
    kiln_log_set_level(KILN_LOG_WARN);
    double load[3] = { 0 };
    if (getloadavg(load, 3) < 0) perror("getloadavg");
    if (!mkdtemp(dir)) {
        perror("bench_data_scan_p99: mkdtemp");
        return 1;
    }
    snprintf(db_path, sizeof db_path, "%s/scan.db", dir);
    printf("==== bench_data_scan_p99 (issue 4 §1): /cheap latency while /scan runs a ~1 s table scan ====\n");
    printf("machine: %ld CPUs, load average %.2f %.2f %.2f; server: 1 scheduler, 4 blocking threads\n",
           sysconf(_SC_NPROCESSORS_ONLN), load[0], load[1], load[2]);
    fflush(stdout);
    int64_t scan_ns = 0;
    int rc = open_repo("", &repo);
    if (rc == 0 && (rc = calibrate(&scan_ns)) < 0)
        fprintf(stderr, "bench_data_scan_p99: loading the table failed: %s\n", kiln_repo_strerror(rc));
    if (rc == 0) rc = open_repo("&inline_budget=3600000", &repo_inline);
    struct stat st = { 0 };
    if (rc == 0 && stat(db_path, &st) < 0) rc = -1, perror(db_path);
    phase_t ph[3];
    if (rc == 0) {
        printf("table: %lld rows, %.0f MB; one scan on a plain thread: %.0f ms\n  %s\n", (long long)n_rows,
               (double)st.st_size / 1e6, (double)scan_ns / 1e6, SCAN_SQL);
        fflush(stdout);
        rc = measure(ph);
    }
    if (rc == 0) {
        printf("%-28s %9s %9s %9s %9s %7s %12s\n", "/cheap latency", "requests", "p50_ms", "p99_ms", "max_ms", "scans",
               "scan_ms(med)");
        for (int i = 0; i < 3; i++) print_phase(&ph[i]);
        printf("p99 under scan / baseline: %.2fx (target <= 3x); control (no hand-off) / baseline: %.0fx\n",
               (double)ph[1].p99 / (double)ph[0].p99, (double)ph[2].p99 / (double)ph[0].p99);
        if (getloadavg(load, 3) < 0) perror("getloadavg");
        printf("load average after: %.2f %.2f %.2f\n", load[0], load[1], load[2]);
    }
    if (repo_inline) kiln_repo_close(repo_inline);
    if (repo) kiln_repo_close(repo);
    remove_db();
    return rc == 0 ? 0 : 1;
}
