/* The socket drainer (kiln_socket_drainer_start) against a real server with
 * two schedulers and raw WebSocket clients, each joined to a channel:
 *  - batching: 5 sockets, batches of 2 every 300 ms: the close frames (1001)
 *    arrive 2, 2, 1, one interval apart, and every channel's terminate runs;
 *  - the deadline: a client that never answers the close is dropped at
 *    drainer_shutdown_ms, well before the transport's own 2 s close wait.
 * Run under ASan, the runtime stop after each drain also checks that no
 * socket memory is left behind. */
#include "kiln_server_test.h"
#include "kiln_test.h"

#include "kiln/channel.h"

#include <signal.h>

static atomic_int terminated; /* channel terminate callbacks run */

static void room_terminate(kiln_channel_t *ch, int reason)
{
    (void)ch;
    (void)reason;
    atomic_fetch_add(&terminated, 1);
}

static const kiln_channel_ops_t room = { .abi = KILN_CHANNEL_ABI, .terminate = room_terminate };
static const kiln_channel_route_t routes_ch[] = { { "room:*", &room } };
static kiln_socket_conf_t sconf = { .channels = routes_ch, .n_channels = 1 };

static int h_ws(kiln_conn_t *c)
{
    return kiln_socket_websocket(c, &sconf);
}

static const kiln_route_t routes[] = { KILN_GET("/socket/websocket", h_ws, "ws") };

/* ---- A raw client ------------------------------------------------------------ */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A masked client frame (mask key 0: the payload goes as is). */
static int send_frame(kst_conn_t *c, int op, const void *p, size_t n)
{
    uint8_t h[6] = { (uint8_t)(0x80 | op), (uint8_t)(0x80 | n), 0, 0, 0, 0 };
    return n < 126 && kst_sendn(c, h, 6) == 0 && kst_sendn(c, p, n) == 0 ? 0 : -1;
}

/* Reads one short server frame: returns its opcode (payload in out), or -1. */
static int read_frame(kst_conn_t *c, uint8_t *out, size_t *n)
{
    while (c->len < 2 || c->len < 2 + (size_t)(c->buf[1] & 0x7f))
        if (kst_fill(c) <= 0) return -1;
    int op = c->buf[0] & 0x0f;
    *n = (size_t)(c->buf[1] & 0x7f);
    memcpy(out, c->buf + 2, *n);
    kst_consume(c, 2 + *n);
    return op;
}

typedef struct client {
    kst_conn_t c;
    int silent;       /* never answers the close, nor closes its end */
    int code;         /* the close code received */
    int64_t close_at; /* ms after t0 */
    int64_t eof_at;   /* valid when eof */
    int eof;
    int64_t t0;
} client_t;

/* Upgrades and joins room:1; returns 0 once the join is answered. */
static int client_open(client_t *cl, int port)
{
    if (kst_connect(&cl->c, port) < 0) return -1;
    kst_send(&cl->c, "GET /socket/websocket?vsn=2.0.0 HTTP/1.1\r\nhost: x\r\nupgrade: websocket\r\n"
                     "connection: Upgrade\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "sec-websocket-version: 13\r\n\r\n");
    char *end;
    while (!(end = memmem(cl->c.buf, cl->c.len, "\r\n\r\n", 4)))
        if (kst_fill(&cl->c) <= 0) return -1;
    if (strncmp(cl->c.buf, "HTTP/1.1 101", 12) != 0) return -1;
    kst_consume(&cl->c, (size_t)(end + 4 - cl->c.buf));
    static const char join[] = "[\"1\",\"1\",\"room:1\",\"phx_join\",{}]";
    uint8_t p[128];
    size_t n;
    if (send_frame(&cl->c, 1, join, sizeof join - 1) < 0 || read_frame(&cl->c, p, &n) != 1) return -1;
    return memmem(p, n, "\"ok\"", 4) ? 0 : -1;
}

/* Waits for the close frame, answers it (unless silent), then waits for EOF. */
static void *client_main(void *arg)
{
    client_t *cl = arg;
    uint8_t p[128];
    size_t n;
    if (read_frame(&cl->c, p, &n) == 8 && n >= 2) {
        cl->close_at = now_ms() - cl->t0;
        cl->code = p[0] << 8 | p[1];
        if (cl->silent) return NULL; /* keeps its end open and never answers */
        send_frame(&cl->c, 8, p, 2);
    }
    if ((cl->eof = kst_eof(&cl->c))) cl->eof_at = now_ms() - cl->t0;
    close(cl->c.fd); /* as a browser does once the handshake is over */
    cl->c.fd = -1;
    return NULL;
}

/* ---- The drainer and a process that watches it ----------------------------------- */

static atomic_int drainer_down;
static int64_t drain_ms; /* from the exit request to the drainer's DOWN */

static int watch_init(kiln_proc_t *self, void *arg)
{
    (void)self;
    kiln_monitor((kiln_pid_t)(uintptr_t)arg);
    return 0;
}

static int watch_msg(kiln_proc_t *self, kiln_msg_t *m)
{
    (void)self;
    if (m->tag != KILN_MSG_DOWN) return 0;
    atomic_store(&drainer_down, 1);
    return KILN_PROC_STOP;
}

static const kiln_proc_ops_t watch_ops = { .abi = KILN_PROC_ABI, .init = watch_init, .handle_msg = watch_msg };

/* Opens n clients (the first `silent` of them silent), drains them, waits for
 * the drainer to finish and stops the server. */
static int run_drain(client_t *cl, int n, int silent)
{
    kst_server_t s;
    kiln_endpoint_t ep = { .name = "drain" };
    if (kiln_router_build(routes, KILN_ARRAY_LEN(routes), &ep.router) < 0) return -1;
    kiln_server_conf_t conf = { .endpoint = &ep };
    if (kst_start(&s, &conf, 2) < 0) return -1;
    atomic_store(&terminated, 0);
    atomic_store(&drainer_down, 0);
    int rc = 0;
    kiln_pid_t drainer;
    if (kiln_socket_drainer_start(s.rt, &sconf, &drainer) < 0 ||
        kiln_spawn(s.rt, NULL, &watch_ops, (void *)(uintptr_t)drainer, NULL) < 0)
        rc = -1;
    for (int i = 0; i < n && rc == 0; i++) {
        cl[i].silent = i < silent;
        if (client_open(&cl[i], s.port) < 0) rc = -1;
    }
    pthread_t th[8];
    int64_t t0 = now_ms() + 50; /* the drain starts once the clients wait in recv */
    for (int i = 0; i < n; i++) {
        cl[i].t0 = t0;
        pthread_create(&th[i], NULL, client_main, &cl[i]);
    }
    kst_sleep_ms(50);
    if (rc == 0) kiln_exit(s.rt, drainer, 0);
    for (int i = 0; i < n; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < 300 && !atomic_load(&drainer_down); i++) kst_sleep_ms(5);
    if (!atomic_load(&drainer_down)) rc = -1;
    drain_ms = now_ms() - t0;
    for (int i = 0; i < n; i++) kst_close(&cl[i].c);
    kst_stop(&s);
    kiln_router_free(ep.router);
    return rc;
}

static void test_batches(void)
{
    sconf.drainer_batch_size = 2;
    sconf.drainer_batch_interval_ms = 300;
    sconf.drainer_shutdown_ms = 5000;
    client_t cl[5];
    memset(cl, 0, sizeof cl);
    KT_ASSERT(run_drain(cl, 5, 0) == 0);
    int in[3] = { 0, 0, 0 };
    for (int i = 0; i < 5; i++) {
        KT_ASSERT_EQ_INT(cl[i].code, 1001);
        KT_ASSERT(cl[i].eof);
        int64_t t = cl[i].close_at;
        /* Timers never fire early, so the lower bounds are exact; the upper
         * ones leave a loaded machine ~200 ms of lateness per batch. */
        if (t < 250) in[0]++;
        else if (t < 550) in[1]++;
        else if (t < 2000) in[2]++;
    }
    KT_ASSERT_EQ_INT(in[0], 2);
    KT_ASSERT_EQ_INT(in[1], 2);
    KT_ASSERT_EQ_INT(in[2], 1);
    KT_ASSERT(drain_ms < 1500); /* all answered: no wait for the deadline */
    KT_ASSERT_EQ_INT(atomic_load(&terminated), 5);
}

static void test_deadline(void)
{
    sconf.drainer_batch_size = 10;
    sconf.drainer_batch_interval_ms = 100;
    sconf.drainer_shutdown_ms = 600;
    client_t cl[2];
    memset(cl, 0, sizeof cl);
    KT_ASSERT(run_drain(cl, 2, 1) == 0);
    KT_ASSERT_EQ_INT(cl[0].code, 1001);
    KT_ASSERT_EQ_INT(cl[1].code, 1001);
    KT_ASSERT(cl[1].eof && cl[1].eof_at < 300); /* answered: closed at once */
    /* the silent one is dropped at the deadline, not after the transport's 2 s close wait */
    KT_ASSERT(drain_ms >= 550 && drain_ms < 1500);
    KT_ASSERT_EQ_INT(atomic_load(&terminated), 2);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    KT_RUN(test_batches);
    KT_RUN(test_deadline);
    return kt_done();
}
