/* Channels at scale (issue 5 §7): idle joined WebSocket connections, one
 * broadcast to all of them against a bare write loop, joins per second.
 *
 *   bench_channel_conns [N=15000] [client_procs=3] [idle_s=20] [rounds=5]
 *
 * This process is the server: a Kiln runtime with one scheduler, a socket at
 * /socket/websocket and a channel `room:*` that accepts every join. Client
 * processes are forked first (each has its own fd cap, and binds its own
 * source address 127.0.0.<2+i>); they take commands on a pipe:
 *   join   open N/procs connections, each sending the upgrade and a phx_join
 *          in one write, 200 at a time, and wait for every join reply;
 *   round  wait (epoll) until every connection has received `len` bytes and
 *          report CLOCK_MONOTONIC at the last one.
 * Figures:
 *   memory  this process's RssAnon growth over the N joins, divided by N,
 *           right after the joins and again idle_s seconds later;
 *   joins   N / the time from the join command to the last client's report
 *           (TCP connect + WebSocket upgrade + channel join, per second);
 *   fan-out per round, alternating order: (a) kiln_endpoint_broadcast,
 *           timed by the "kiln.pubsub.fanout" telemetry event (broadcast call
 *           until the scheduler's walk has handed the last frame to the
 *           kernel); (b) a bare C loop, run on the same scheduler thread,
 *           write()-ing the same pre-encoded frame to the same N server-side
 *           sockets (found in /proc/self/fd). Also the time until the last
 *           client has the broadcast, and the number of frame encodings per
 *           broadcast ("kiln.channel.broadcast" events) against deliveries.
 * Medians over the rounds. Needs ~N+100 fds here and ~N/procs per client. */
#include "../tests/support/kiln_server_test.h"
#include "kiln/channel.h"
#include "kiln/telemetry.h"
#include "kiln/websocket.h"

#include <dirent.h>
#include <sched.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/wait.h>

#define TOPIC "room:bench"
#define MAX_PROCS 16

/* ---- Server side -------------------------------------------------------------- */

static int room_join(kiln_channel_t *ch, const char *topic, json_t *payload, json_t **response)
{
    (void)ch, (void)topic, (void)payload, (void)response;
    return 0;
}
static const kiln_channel_ops_t room = { .abi = KILN_CHANNEL_ABI, .join = room_join };
static const kiln_channel_route_t chans[] = { { "room:*", &room } };
static const kiln_socket_conf_t sock_conf = { .channels = chans, .n_channels = 1 };
static int socket_ws(kiln_conn_t *c) { return kiln_socket_websocket(c, &sock_conf); }
static const kiln_route_t routes[] = { KILN_GET("/socket/websocket", socket_ws, "ws") };
static kiln_endpoint_t endpoint = { .name = "bench_channel" };

static pthread_mutex_t tl_lock = PTHREAD_MUTEX_INITIALIZER;
static double fanout_us, delivered;
static long encodes;

static void on_event(const kiln_telemetry_event_t *ev, void *ud)
{
    (void)ud;
    pthread_mutex_lock(&tl_lock);
    if (strcmp(ev->name, "kiln.pubsub.fanout") == 0) {
        double d = kiln_telemetry_measurement(ev, "duration_us", 0);
        if (d > fanout_us) fanout_us = d;
        delivered += kiln_telemetry_measurement(ev, "delivered", 0);
    } else if (strcmp(ev->name, "kiln.channel.broadcast") == 0) {
        encodes++;
    }
    pthread_mutex_unlock(&tl_lock);
}

typedef struct bare {
    int *fds;
    int n;
    const char *frame;
    size_t len;
    int64_t ns;
    int done;
} bare_t;
static pthread_mutex_t bare_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t bare_cond = PTHREAD_COND_INITIALIZER;

static void bare_loop(void *arg) /* on the scheduler thread, like the fan-out */
{
    bare_t *b = arg;
    int64_t t0 = kiln_now_ns();
    for (int i = 0; i < b->n; i++)
        if (write(b->fds[i], b->frame, b->len) != (ssize_t)b->len) fprintf(stderr, "bare write %d failed\n", i);
    int64_t t1 = kiln_now_ns();
    pthread_mutex_lock(&bare_lock);
    b->ns = t1 - t0;
    b->done = 1;
    pthread_cond_signal(&bare_cond);
    pthread_mutex_unlock(&bare_lock);
}

/* The server side of the clients' connections: connected sockets on our port. */
static int server_fds(int port, int **out)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0, cap = 1024, *fds = malloc(sizeof *fds * (size_t)cap);
    for (struct dirent *e; d && (e = readdir(d));) {
        int fd = atoi(e->d_name);
        struct sockaddr_in a, p;
        socklen_t al = sizeof a, pl = sizeof p;
        if (fd < 3 || getsockname(fd, (struct sockaddr *)&a, &al) < 0 || a.sin_family != AF_INET) continue;
        if (ntohs(a.sin_port) != port || getpeername(fd, (struct sockaddr *)&p, &pl) < 0) continue;
        if (n == cap) fds = realloc(fds, sizeof *fds * (size_t)(cap *= 2));
        fds[n++] = fd;
    }
    if (d) closedir(d);
    *out = fds;
    return n;
}

/* ---- Client processes ---------------------------------------------------------- */

typedef struct cconn {
    int fd;
    size_t got;
} cconn_t;

static int64_t mono_ns(void) { return kiln_now_ns(); }

static void pin(int cpu)
{
    if (sysconf(_SC_NPROCESSORS_ONLN) < 2) return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    sched_setaffinity(0, sizeof set, &set);
}

/* Reads one connection's 101 head and its join reply frame (blocking). */
static int read_join(int fd)
{
    char buf[2048];
    size_t len = 0;
    char *end = NULL;
    while (!end) {
        ssize_t r = read(fd, buf + len, sizeof buf - 1 - len);
        if (r <= 0) return -1;
        len += (size_t)r;
        buf[len] = 0;
        end = strstr(buf, "\r\n\r\n");
    }
    if (strncmp(buf, "HTTP/1.1 101", 12) != 0) return -1;
    size_t off = (size_t)(end + 4 - buf);
    for (;;) {
        if (len - off >= 2) {
            size_t pl = (uint8_t)buf[off + 1] & 0x7f, hl = 2;
            if (pl == 126 && len - off >= 4) pl = (size_t)(uint8_t)buf[off + 2] << 8 | (uint8_t)buf[off + 3], hl = 4;
            if (pl != 126 && len - off >= hl + pl) return strstr(buf + off + hl, "\"ok\"") ? 0 : -1;
        }
        ssize_t r = read(fd, buf + len, sizeof buf - 1 - len);
        if (r <= 0) return -1;
        len += (size_t)r;
        buf[len] = 0;
    }
}

static int client_join(int idx, int port, int n, cconn_t *cs)
{
    static const char join[] = "[\"1\",\"1\",\"" TOPIC "\",\"phx_join\",{}]";
    char req[512];
    int hl = snprintf(req, sizeof req,
                      "GET /socket/websocket?vsn=2.0.0 HTTP/1.1\r\nhost: 127.0.0.1\r\nupgrade: websocket\r\n"
                      "connection: Upgrade\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                      "sec-websocket-version: 13\r\n\r\n");
    size_t jl = sizeof join - 1;
    req[hl] = (char)0x81;
    req[hl + 1] = (char)(0x80 | jl); /* masked with a zero key: the payload stays as is */
    memset(req + hl + 2, 0, 4);
    memcpy(req + hl + 6, join, jl);
    size_t total = (size_t)hl + 6 + jl;
    struct sockaddr_in src = { .sin_family = AF_INET }, dst = { .sin_family = AF_INET, .sin_port = htons(port) };
    src.sin_addr.s_addr = htonl(0x7f000002u + (uint32_t)idx);
    dst.sin_addr.s_addr = htonl(0x7f000001u);
    for (int i = 0; i < n; i += 200) {
        int m = n - i < 200 ? n - i : 200;
        for (int k = i; k < i + m; k++) {
            int fd = socket(AF_INET, SOCK_STREAM, 0);
            if (fd < 0 || bind(fd, (struct sockaddr *)&src, sizeof src) < 0 ||
                connect(fd, (struct sockaddr *)&dst, sizeof dst) < 0 || write(fd, req, total) != (ssize_t)total) {
                fprintf(stderr, "client %d: connection %d: %s\n", idx, k, strerror(errno));
                return k;
            }
            cs[k].fd = fd;
        }
        for (int k = i; k < i + m; k++)
            if (read_join(cs[k].fd) < 0) {
                fprintf(stderr, "client %d: join %d failed\n", idx, k);
                return k;
            }
    }
    return n;
}

/* Waits until every connection received len more bytes; returns the time. */
static int64_t client_round(int n, cconn_t *cs, size_t len)
{
    int ep = epoll_create1(0), left = n;
    for (int k = 0; k < n; k++) {
        cs[k].got = 0;
        struct epoll_event e = { .events = EPOLLIN, .data.u32 = (uint32_t)k };
        epoll_ctl(ep, EPOLL_CTL_ADD, cs[k].fd, &e);
    }
    int64_t last = 0;
    char buf[4096];
    struct epoll_event evs[256];
    while (left > 0) {
        int ne = epoll_wait(ep, evs, 256, 10000);
        if (ne <= 0) break;
        for (int i = 0; i < ne; i++) {
            cconn_t *c = &cs[evs[i].data.u32];
            ssize_t r = read(c->fd, buf, sizeof buf);
            if (r <= 0) continue;
            int was = c->got < len;
            c->got += (size_t)r;
            if (was && c->got >= len) {
                left--;
                last = mono_ns();
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
            }
        }
    }
    close(ep);
    return left ? -1 : last;
}

typedef struct cmd {
    char op; /* 'J' join, 'R' round, 'Q' quit */
    int port;
    size_t len;
} cmd_t;

static int client_main(int idx, int n, int cmd_fd, int res_fd)
{
    pin(1);
    cconn_t *cs = calloc((size_t)n, sizeof *cs);
    cmd_t c;
    while (read(cmd_fd, &c, sizeof c) == (ssize_t)sizeof c) {
        int64_t r = 0;
        if (c.op == 'J') r = client_join(idx, c.port, n, cs) == n ? 0 : -1;
        else if (c.op == 'R') r = client_round(n, cs, c.len);
        else break;
        if (write(res_fd, &r, sizeof r) != (ssize_t)sizeof r) break;
    }
    return 0;
}

/* ---- Driver --------------------------------------------------------------------- */

static int procs, cmd_fds[MAX_PROCS], res_fds[MAX_PROCS];

static int command_all(cmd_t c, int64_t *max_result)
{
    for (int i = 0; i < procs; i++)
        if (write(cmd_fds[i], &c, sizeof c) != (ssize_t)sizeof c) return -1;
    int64_t mx = 0;
    int bad = 0;
    for (int i = 0; i < procs; i++) {
        int64_t r;
        if (read(res_fds[i], &r, sizeof r) != (ssize_t)sizeof r || r < 0) bad = 1;
        else if (r > mx) mx = r;
    }
    if (max_result) *max_result = mx;
    return bad ? -1 : 0;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 15000;
    procs = argc > 2 ? atoi(argv[2]) : 3;
    int idle_s = argc > 3 ? atoi(argv[3]) : 20, rounds = argc > 4 ? atoi(argv[4]) : 5;
    if (procs < 1 || procs > MAX_PROCS || n < procs || rounds < 1 || rounds > 50) return 2;
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    if ((rlim_t)n + 200 > rl.rlim_cur) {
        fprintf(stderr, "bench_channel_conns: N=%d needs %d fds, the limit is %ld\n", n, n + 200, (long)rl.rlim_cur);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    pid_t kids[MAX_PROCS];
    for (int i = 0; i < procs; i++) { /* clients first: fork before any thread exists */
        int c[2], r[2];
        if (pipe(c) < 0 || pipe(r) < 0) return 1;
        int share = n / procs + (i < n % procs);
        if ((kids[i] = fork()) == 0) {
            close(c[1]);
            close(r[0]);
            _exit(client_main(i, share, c[0], r[1]));
        }
        close(c[0]);
        close(r[1]);
        cmd_fds[i] = c[1];
        res_fds[i] = r[0];
    }
    pin(0);
    kiln_log_set_level(KILN_LOG_WARN);
    if (kiln_router_build(routes, KILN_ARRAY_LEN(routes), &endpoint.router) < 0) return 1;
    kiln_telemetry_attach("bench_fanout", "kiln.pubsub.fanout", on_event, NULL);
    kiln_telemetry_attach("bench_encode", "kiln.channel.broadcast", on_event, NULL);
    kst_server_t s;
    kiln_server_conf_t conf = { .endpoint = &endpoint, .backlog = 4096 };
    if (kst_start(&s, &conf, 1) < 0) return 1;
    kst_sleep_ms(300);
    long base = kst_proc_kb(getpid(), "RssAnon");

    printf("server: 1 scheduler (CPU 0), %d client processes (CPU 1), N = %d, load average at start: ", procs, n);
    FILE *la = fopen("/proc/loadavg", "r");
    char lbuf[64] = "?";
    if (la && fgets(lbuf, sizeof lbuf, la)) lbuf[strcspn(lbuf, " ")] = 0;
    if (la) fclose(la);
    printf("%s\n", lbuf);

    int64_t t0 = mono_ns(), tj;
    if (command_all((cmd_t){ .op = 'J', .port = s.port }, NULL) < 0) {
        fprintf(stderr, "joins failed\n");
        return 1;
    }
    tj = mono_ns();
    kst_sleep_ms(500);
    long after = kst_proc_kb(getpid(), "RssAnon");
    printf("joins (connect + upgrade + phx_join): %d in %.2f s = %.0f /s\n", n, (tj - t0) / 1e9, n / ((tj - t0) / 1e9));
    printf("server RssAnon: %ld kB idle -> %ld kB with %d joined: %.0f bytes per idle joined connection\n", base,
           after, n, (after - base) * 1024.0 / n);
    fflush(stdout);
    kst_sleep_ms(idle_s * 1000);
    long later = kst_proc_kb(getpid(), "RssAnon");
    printf("after %d s idle: %ld kB: %.0f bytes per idle joined connection\n", idle_s, later,
           (later - base) * 1024.0 / n);

    int *fds;
    int nf = server_fds(s.port, &fds);
    if (nf != n) fprintf(stderr, "warning: found %d server-side sockets for %d connections\n", nf, n);
    json_t *payload = json_pack("{s:s}", "body", "hello, everyone in the room");
    size_t jl;
    char *json = kiln_chan_encode(NULL, NULL, TOPIC, "shout", payload, &jl);
    char *frame = malloc(jl + 10);
    size_t hl = kiln_ws_write_header((uint8_t *)frame, KILN_WS_TEXT, 1, jl);
    memcpy(frame + hl, json, jl);
    size_t flen = hl + jl;
    double fan[50], bare[50], last[50];
    int ok = 0;
    for (int r = 0; r < rounds; r++) {
        for (int which = 0; which < 2; which++) {
            int kiln_turn = (which + r) % 2 == 0;
            cmd_t c = { .op = 'R', .len = flen };
            for (int i = 0; i < procs; i++)
                if (write(cmd_fds[i], &c, sizeof c) != (ssize_t)sizeof c) return 1;
            kst_sleep_ms(100); /* the clients are in epoll_wait */
            int64_t start = mono_ns();
            if (kiln_turn) {
                pthread_mutex_lock(&tl_lock);
                fanout_us = 0;
                pthread_mutex_unlock(&tl_lock);
                kiln_endpoint_broadcast(s.rt, TOPIC, "shout", payload);
            } else {
                bare_t b = { .fds = fds, .n = nf, .frame = frame, .len = flen };
                kiln_sched_post(kiln_sched_get(s.rt, 0), bare_loop, &b);
                pthread_mutex_lock(&bare_lock);
                while (!b.done) pthread_cond_wait(&bare_cond, &bare_lock);
                pthread_mutex_unlock(&bare_lock);
                bare[r] = b.ns / 1e3;
            }
            int64_t mx = 0, bad = 0;
            for (int i = 0; i < procs; i++) {
                int64_t v;
                if (read(res_fds[i], &v, sizeof v) != (ssize_t)sizeof v || v < 0) bad = 1;
                else if (v > mx) mx = v;
            }
            if (bad) fprintf(stderr, "round %d: some client did not get the frame\n", r);
            if (kiln_turn) {
                kst_sleep_ms(50); /* the telemetry event follows the last write */
                pthread_mutex_lock(&tl_lock);
                fan[r] = fanout_us;
                pthread_mutex_unlock(&tl_lock);
                last[r] = (mx - start) / 1e3;
            }
        }
        printf("round %d: fan-out %.0f us, bare loop %.0f us (%.2fx), last client has it after %.0f us\n", r + 1,
               fan[r], bare[r], fan[r] / bare[r], last[r]);
        ok++;
    }
    double mf = median(fan, ok), mb = median(bare, ok), ml = median(last, ok);
    printf("median of %d: fan-out %.0f us (%.2f us per subscriber), bare loop %.0f us (%.2f us per socket): "
           "%.2fx the bare loop (target <= 1.2x); last client has it after %.0f us\n",
           ok, mf, mf / n, mb, mb / n, mf / mb, ml);
    printf("frame encodings: %ld for %d broadcasts (%.0f deliveries): once per broadcast\n", encodes, rounds,
           delivered);

    cmd_t q = { .op = 'Q' };
    for (int i = 0; i < procs; i++) {
        if (write(cmd_fds[i], &q, sizeof q) < 0) {}
        close(cmd_fds[i]);
    }
    for (int i = 0; i < procs; i++) waitpid(kids[i], NULL, 0);
    json_decref(payload);
    free(json);
    free(frame);
    free(fds);
    fflush(stdout);
    _exit(0); /* the server's N sockets and runtime: no orderly shutdown needed for a benchmark */
}
