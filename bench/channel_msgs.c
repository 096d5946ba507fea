/* Messages and joins per second through channels (issue 5 §7).
 *
 *   bench_channel_msgs [seconds_per_test=3] [window=64]
 *
 * This process is the server (one scheduler, CPU 0; a `room:*` channel whose
 * `ping` replies ok with its payload); a forked client (CPU 1) holds one
 * WebSocket connection and measures, each for the given time:
 *   round trips  push `ping` and wait for its reply, one at a time;
 *   messages/s   the same with `window` pushes in flight (pipelined);
 *   joins/s      cycles of 50 phx_join (distinct topics) then 50 phx_leave on
 *                the same socket: each join spawns a channel process,
 *                subscribes it and answers; each leave ends it.
 * The client is plain C (a blocking socket and a small frame reader), so it
 * costs a few syscalls per message, not what the server does. */
#include "../tests/support/kiln_server_test.h"
#include "kiln/channel.h"

#include <sched.h>
#include <signal.h>
#include <sys/wait.h>

static int room_join(kiln_channel_t *ch, const char *topic, json_t *payload, json_t **response)
{
    (void)ch, (void)topic, (void)payload, (void)response;
    return 0;
}
static int room_in(kiln_channel_t *ch, const char *event, json_t *payload)
{
    (void)event;
    kiln_channel_reply(ch, "ok", payload);
    return 0;
}
static const kiln_channel_ops_t room = { .abi = KILN_CHANNEL_ABI, .join = room_join, .handle_in = room_in };
static const kiln_channel_route_t chans[] = { { "room:*", &room } };
static const kiln_socket_conf_t sock_conf = { .channels = chans, .n_channels = 1 };
static int socket_ws(kiln_conn_t *c) { return kiln_socket_websocket(c, &sock_conf); }
static const kiln_route_t routes[] = { KILN_GET("/socket/websocket", socket_ws, "ws") };
static kiln_endpoint_t endpoint = { .name = "bench_channel" };

static void pin(int cpu)
{
    if (sysconf(_SC_NPROCESSORS_ONLN) < 2) return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    sched_setaffinity(0, sizeof set, &set);
}

/* ---- Client ------------------------------------------------------------------------ */

typedef struct rd {
    int fd;
    char buf[1 << 16];
    size_t len, off;
} rd_t;

/* Skips one whole server frame. Returns 0 or -1. */
static int next_frame(rd_t *r)
{
    for (;;) {
        size_t have = r->len - r->off;
        if (have >= 2) {
            const uint8_t *p = (const uint8_t *)r->buf + r->off;
            size_t pl = p[1] & 0x7f, hl = 2;
            if (pl == 126) pl = have >= 4 ? (size_t)p[2] << 8 | p[3] : SIZE_MAX, hl = 4;
            if (pl != SIZE_MAX && have >= hl + pl) {
                r->off += hl + pl;
                return 0;
            }
        }
        if (r->off) {
            memmove(r->buf, r->buf + r->off, r->len - r->off);
            r->len -= r->off;
            r->off = 0;
        }
        ssize_t n = read(r->fd, r->buf + r->len, sizeof r->buf - r->len);
        if (n <= 0) return -1;
        r->len += (size_t)n;
    }
}

/* A masked (zero key) client text frame. */
static size_t frame(char *out, const char *text)
{
    size_t n = strlen(text);
    out[0] = (char)0x81;
    out[1] = (char)(0x80 | n); /* all our texts are < 126 bytes */
    memset(out + 2, 0, 4);
    memcpy(out + 6, text, n);
    return n + 6;
}

static int send_text(int fd, const char *text)
{
    char f[256];
    size_t n = frame(f, text);
    return write(fd, f, n) == (ssize_t)n ? 0 : -1;
}

static double secs(int64_t a, int64_t b) { return (b - a) / 1e9; }

static int client(int port, int seconds, int window)
{
    pin(1);
    kst_conn_t c;
    if (kst_connect(&c, port) < 0) return 1;
    rd_t *r = calloc(1, sizeof *r);
    r->fd = c.fd;
    char head[1024];
    const char *req = "GET /socket/websocket?vsn=2.0.0 HTTP/1.1\r\nhost: x\r\nupgrade: websocket\r\nconnection: Upgrade\r\n"
                      "sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\n\r\n";
    if (write(c.fd, req, strlen(req)) < 0) return 1;
    size_t hl = 0;
    while (!strstr(head, "\r\n\r\n") && hl < sizeof head - 1) { /* the head; frames after it go to the reader */
        ssize_t n = read(c.fd, head + hl, 1);
        if (n <= 0) return 1;
        head[++hl] = 0;
    }
    if (send_text(c.fd, "[\"1\",\"1\",\"room:bench\",\"phx_join\",{}]") < 0 || next_frame(r) < 0) return 1;
    const int64_t limit = (int64_t)seconds * 1000000000;
    char msg[128];

    int64_t t0 = kiln_now_ns(), t;
    long rt = 0;
    do {
        snprintf(msg, sizeof msg, "[\"1\",\"%ld\",\"room:bench\",\"ping\",{\"n\":%ld}]", rt + 2, rt);
        if (send_text(c.fd, msg) < 0 || next_frame(r) < 0) return 1;
        rt++;
    } while ((t = kiln_now_ns()) - t0 < limit);
    printf("push/reply round trips, one at a time: %.0f /s (%.1f us each)\n", rt / secs(t0, t), secs(t0, t) * 1e6 / rt);

    long sent = 0, got = 0;
    t0 = kiln_now_ns();
    for (;;) {
        char batch[64 * 128];
        size_t bl = 0;
        int more = kiln_now_ns() - t0 < limit;
        while (more && sent - got < window) {
            snprintf(msg, sizeof msg, "[\"1\",\"%ld\",\"room:bench\",\"ping\",{\"n\":%ld}]", sent + 2, sent);
            bl += frame(batch + bl, msg);
            sent++;
            if (bl > sizeof batch - 128) break;
        }
        if (bl && write(c.fd, batch, bl) != (ssize_t)bl) return 1;
        if (got == sent) break;
        if (next_frame(r) < 0) return 1;
        got++;
    }
    t = kiln_now_ns();
    printf("messages through one channel, %d in flight: %.0f /s\n", window, got / secs(t0, t));

    long joins = 0;
    t0 = kiln_now_ns();
    do {
        char batch[50 * 128];
        size_t bl = 0;
        for (int k = 0; k < 50; k++) {
            snprintf(msg, sizeof msg, "[\"j%ld\",\"j%ld\",\"room:j%d\",\"phx_join\",{}]", joins + k, joins + k, k);
            bl += frame(batch + bl, msg);
        }
        if (write(c.fd, batch, bl) != (ssize_t)bl) return 1;
        for (int k = 0; k < 50; k++)
            if (next_frame(r) < 0) return 1;
        bl = 0;
        for (int k = 0; k < 50; k++) {
            snprintf(msg, sizeof msg, "[\"j%ld\",\"l%ld\",\"room:j%d\",\"phx_leave\",{}]", joins + k, joins + k, k);
            bl += frame(batch + bl, msg);
        }
        if (write(c.fd, batch, bl) != (ssize_t)bl) return 1;
        for (int k = 0; k < 100; k++) /* each leave: its ok reply, then phx_close */
            if (next_frame(r) < 0) return 1;
        joins += 50;
    } while ((t = kiln_now_ns()) - t0 < limit);
    printf("channel joins on one socket (each with its leave): %.0f /s\n", joins / secs(t0, t));
    fflush(stdout);
    kst_close(&c);
    free(r);
    return 0;
}

int main(int argc, char **argv)
{
    int seconds = argc > 1 ? atoi(argv[1]) : 3, window = argc > 2 ? atoi(argv[2]) : 64;
    if (seconds < 1 || window < 1 || window > 64) return 2;
    signal(SIGPIPE, SIG_IGN);
    int p[2];
    if (pipe(p) < 0) return 1;
    pid_t kid = fork();
    if (kid == 0) {
        int port;
        close(p[1]);
        if (read(p[0], &port, sizeof port) != (ssize_t)sizeof port) _exit(1);
        _exit(client(port, seconds, window));
    }
    close(p[0]);
    pin(0);
    kiln_log_set_level(KILN_LOG_WARN);
    if (kiln_router_build(routes, KILN_ARRAY_LEN(routes), &endpoint.router) < 0) return 1;
    kst_server_t s;
    kiln_server_conf_t conf = { .endpoint = &endpoint };
    if (kst_start(&s, &conf, 1) < 0) return 1;
    if (write(p[1], &s.port, sizeof s.port) != (ssize_t)sizeof s.port) return 1;
    int st = 1;
    waitpid(kid, &st, 0);
    fflush(stdout);
    _exit(WIFEXITED(st) ? WEXITSTATUS(st) : 1);
}
