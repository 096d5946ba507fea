/* HTTP server connection behaviour over the wire: keep-alive, slow clients,
 * the header deadline (H10), body idle, disconnects mid-body, chunked
 * request bodies, chunked and sendfile responses, the send timeout with a
 * reader that never reads (H11), the keep-alive request cap, the per-IP
 * connection cap, and a FIN read together with the last request. Timeouts are configured short so the suite stays fast. */
#include "kiln_test.h"
#include "kiln_server_test.h"

#include <fcntl.h>

static kst_server_t srv;
static int port;

static void test_keepalive_10000(void)
{
    kst_conn_t c;
    KT_ASSERT(kst_connect(&c, port) == 0);
    for (int i = 0; i < 10000; i++) {
        kst_resp_t r;
        if (kst_send(&c, "GET / HTTP/1.1\r\nhost: x\r\n\r\n") < 0 || kst_read_resp(&c, &r) < 0) {
            kst_close(&c);
            KT_ASSERT(!"request failed");
        }
        int ok = r.status == 200 && r.body_len == 5;
        kst_resp_free(&r);
        if (!ok) {
            kst_close(&c);
            KT_ASSERT(!"bad response");
        }
    }
    kst_close(&c);
}

static void test_http10_keepalive(void)
{
    kst_conn_t c;
    kst_resp_t r;
    char v[64];
    KT_ASSERT(kst_connect(&c, port) == 0);
    kst_send(&c, "GET / HTTP/1.0\r\nconnection: keep-alive\r\n\r\n");
    KT_ASSERT(kst_read_resp(&c, &r) == 0);
    KT_ASSERT(kst_header(&r, "connection", v, sizeof v) && strcasecmp(v, "keep-alive") == 0);
    kst_resp_free(&r);
    kst_send(&c, "GET / HTTP/1.0\r\n\r\n");
    KT_ASSERT(kst_read_resp(&c, &r) == 0);
    KT_ASSERT_EQ_STR(r.body, "hello");
    kst_resp_free(&r);
    KT_ASSERT(kst_eof(&c));
    kst_close(&c);
}

static void test_slow_client(void)
{
    const char *req = "POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\n\r\nhello";
    kst_conn_t c;
    kst_resp_t r;
    KT_ASSERT(kst_connect(&c, port) == 0);
    for (const char *p = req; *p; p++) {
        KT_ASSERT(kst_sendn(&c, p, 1) == 0);
        kst_sleep_ms(2);
    }
    KT_ASSERT(kst_read_resp(&c, &r) == 0);
    KT_ASSERT_EQ_INT(r.status, 200);
    KT_ASSERT_EQ_STR(r.body, "hello");
    kst_resp_free(&r);
    kst_close(&c);
}

/* H12: a batch of pipelined responses is held back only while the server
 * still has requests in hand; a handler that waits must not hold the answers
 * already made behind it. */
static void test_h12_pipeline_not_held_behind_slow_handler(void)
{
    kst_conn_t c;
    kst_resp_t r;
    KT_ASSERT(kst_connect(&c, port) == 0);
    int64_t t0 = kiln_now_ms();
    KT_ASSERT(kst_send(&c, "GET / HTTP/1.1\r\nhost: x\r\n\r\nGET /slow HTTP/1.1\r\nhost: x\r\n\r\n") == 0);
    KT_ASSERT(kst_read_resp(&c, &r) == 0);
    int64_t first = kiln_now_ms() - t0;
    KT_ASSERT_EQ_STR(r.body, "hello");
    kst_resp_free(&r);
    KT_ASSERT(kst_read_resp(&c, &r) == 0);
    KT_ASSERT_EQ_STR(r.body, "slow");
    kst_resp_free(&r);
    kst_close(&c);
    KT_ASSERT(first < kst_app_slow_ms - 100);
}

static void test_h10_header_deadline(void)
{
    /* bytes trickle in forever: one deadline for the whole head → 408 and close */
    kst_conn_t c;
    kst_resp_t r;
    KT_ASSERT(kst_connect(&c, port) == 0);
    int64_t t0 = kiln_now_ms();
    kst_send(&c, "GET / HTTP/1.1\r\n");
    for (int i = 0; i < 8; i++) {
        kst_send(&c, "x-a: b\r\n"); /* each read would have reset a per-read timer */
        kst_sleep_ms(50);
    }
    KT_ASSERT(kst_read_resp(&c, &r) == 0);
    KT_ASSERT_EQ_INT(r.status, 408);
    kst_resp_free(&r);
    KT_ASSERT(kst_eof(&c));
    int64_t took = kiln_now_ms() - t0;
    KT_ASSERT(took >= 250 && took < 2000);
    kst_close(&c);
    /* a connection that never sends anything is closed silently */
    KT_ASSERT(kst_connect(&c, port) == 0);
    KT_ASSERT(kst_eof(&c));
    kst_close(&c);
}

static void test_body_idle_timeout(void)
{
    kst_conn_t c;
    kst_resp_t r;
    KT_ASSERT(kst_connect(&c, port) == 0);
    kst_send(&c, "POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 10\r\n\r\nhel");
    KT_ASSERT(kst_read_resp(&c, &r) == 0);
    KT_ASSERT_EQ_INT(r.status, 408);
    kst_resp_free(&r);
    KT_ASSERT(kst_eof(&c));
    kst_close(&c);
}

static void test_disconnect_mid_body(void)
{
    for (int i = 0; i < 20; i++) {
        kst_conn_t c;
        KT_ASSERT(kst_connect(&c, port) == 0);
        kst_send(&c, i % 2 ? "POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 100000\r\n\r\nabc"
                           : "POST /echo HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n10\r\nabc");
        kst_close(&c);
    }
    kst_sleep_ms(50);
    KT_ASSERT_EQ_INT(kst_roundtrip(port, "GET / HTTP/1.1\r\nhost: x\r\n\r\n", NULL), 200);
}

static void test_disconnect_mid_response(void)
{
    /* a 1 MiB response to a client that leaves at once */
    for (int i = 0; i < 10; i++) {
        kst_conn_t c;
        KT_ASSERT(kst_connect(&c, port) == 0);
        kst_send(&c, "GET /big HTTP/1.1\r\nhost: x\r\n\r\n");
        kst_sleep_ms(5);
        kst_close(&c);
    }
    kst_sleep_ms(50);
    KT_ASSERT_EQ_INT(kst_roundtrip(port, "GET / HTTP/1.1\r\nhost: x\r\n\r\n", NULL), 200);
}

static void test_chunked_request_body(void)
{
    kst_conn_t c;
    kst_resp_t r;
    KT_ASSERT(kst_connect(&c, port) == 0);
    kst_send(&c, "POST /echo HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n");
    kst_sleep_ms(20);
    kst_send(&c, "1;ext=1\r\n \r\n6\r\nworld!\r\n0\r\ntrailer: x\r\n\r\nGET / HTTP/1.1\r\nhost: x\r\n\r\n");
    KT_ASSERT(kst_read_resp(&c, &r) == 0);
    KT_ASSERT_EQ_INT(r.status, 200);
    KT_ASSERT_EQ_STR(r.body, "hello world!");
    kst_resp_free(&r);
    KT_ASSERT(kst_read_resp(&c, &r) == 0); /* the pipelined request after the trailers */
    KT_ASSERT_EQ_STR(r.body, "hello");
    kst_resp_free(&r);
    kst_close(&c);
}

static void test_chunked_response_http10(void)
{
    kst_conn_t c;
    kst_resp_t r;
    KT_ASSERT(kst_connect(&c, port) == 0);
    kst_send(&c, "GET /chunked HTTP/1.0\r\n\r\n");
    KT_ASSERT(kst_read_resp(&c, &r) == 0); /* close-delimited */
    KT_ASSERT(!r.chunked);
    KT_ASSERT_EQ_STR(r.body, "abbccc");
    kst_resp_free(&r);
    kst_close(&c);
}

static void test_sendfile(void)
{
    char path[] = "/tmp/kiln_sendfile_XXXXXX";
    int fd = mkstemp(path);
    KT_ASSERT(fd >= 0);
    static char data[300000];
    for (size_t i = 0; i < sizeof data; i++) data[i] = (char)('a' + i % 26);
    KT_ASSERT(write(fd, data, sizeof data) == (ssize_t)sizeof data);
    close(fd);
    kst_app_file = path;
    kst_conn_t c;
    kst_resp_t r;
    KT_ASSERT(kst_connect(&c, port) == 0);
    kst_send(&c, "GET /file HTTP/1.1\r\nhost: x\r\n\r\nHEAD /file HTTP/1.1\r\nhost: x\r\n\r\nGET / HTTP/1.1\r\nhost: x\r\n\r\n");
    int ok = kst_read_resp(&c, &r) == 0 && r.status == 200 && r.body_len == sizeof data &&
             memcmp(r.body, data, sizeof data) == 0;
    kst_resp_free(&r);
    ok = ok && kst_read_resp_ex(&c, &r, 1) == 0 && r.status == 200;
    kst_resp_free(&r);
    ok = ok && kst_read_resp(&c, &r) == 0 && strcmp(r.body, "hello") == 0;
    kst_resp_free(&r);
    kst_close(&c);
    unlink(path);
    KT_ASSERT(ok);
}

static void test_h11_send_timeout(void)
{
    /* a reader with a tiny receive buffer that never reads a big response */
    kst_conn_t c;
    c.fd = socket(AF_INET, SOCK_STREAM, 0);
    c.buf = malloc(KST_BUF);
    c.len = 0;
    int small = 4096;
    setsockopt(c.fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    struct timeval tv = { 5, 0 };
    setsockopt(c.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    KT_ASSERT(connect(c.fd, (struct sockaddr *)&sa, sizeof sa) == 0);
    for (int i = 0; i < 8; i++) kst_send(&c, "GET /big HTTP/1.1\r\nhost: x\r\n\r\n");
    kst_sleep_ms(900); /* send timeout is 400 ms */
    /* the server gave up: reading now ends in EOF/reset well before 8 MiB */
    size_t total = 0;
    for (;;) {
        ssize_t n = recv(c.fd, c.buf, KST_BUF, 0);
        if (n <= 0) break;
        total += (size_t)n;
    }
    KT_ASSERT(total < 8 * kst_app_big_len);
    kst_close(&c);
}

static void test_keepalive_request_cap(void)
{
    /* conf.max_keepalive_requests = 50: the 50th response says close */
    kst_conn_t c;
    KT_ASSERT(kst_connect(&c, port) == 0);
    int served = 0;
    for (int i = 0; i < 60; i++) {
        kst_resp_t r;
        if (kst_send(&c, "GET / HTTP/1.1\r\nhost: x\r\n\r\n") < 0 || kst_read_resp(&c, &r) < 0) break;
        served++;
        char v[32];
        int closing = kst_header(&r, "connection", v, sizeof v) && strcmp(v, "close") == 0;
        kst_resp_free(&r);
        if (closing) break;
    }
    KT_ASSERT_EQ_INT(served, 50);
    KT_ASSERT(kst_eof(&c));
    kst_close(&c);
}

static void test_idle_timeout(void)
{
    kst_conn_t c;
    kst_resp_t r;
    KT_ASSERT(kst_connect(&c, port) == 0);
    kst_send(&c, "GET / HTTP/1.1\r\nhost: x\r\n\r\n");
    KT_ASSERT(kst_read_resp(&c, &r) == 0);
    kst_resp_free(&r);
    int64_t t0 = kiln_now_ms();
    KT_ASSERT(kst_eof(&c)); /* idle keep-alive timeout is 500 ms */
    KT_ASSERT(kiln_now_ms() - t0 >= 400);
    kst_close(&c);
}

static void block_scheduler(void *arg)
{
    (void)arg;
    kst_sleep_ms(200); /* on the scheduler thread: nothing else runs meanwhile */
}

/* A client's last request and its FIN, read by the server in one go (they
 * arrived while its scheduler was busy): the short read must not be taken for
 * "drained", or the EOF behind it waits for the idle timeout (5 s here). */
static void test_fin_with_last_request(void)
{
    kiln_server_conf_t conf = { .endpoint = kst_app(), .idle_timeout_ms = 5000 };
    kst_server_t s;
    KT_ASSERT(kst_start(&s, &conf, 1) == 0);
    kst_conn_t c;
    kst_resp_t r;
    KT_ASSERT(kst_connect(&c, s.port) == 0);
    kst_send(&c, "GET / HTTP/1.1\r\nhost: x\r\n\r\n"); /* accepted and served: the connection is in the loop */
    KT_ASSERT(kst_read_resp(&c, &r) == 0);
    kst_resp_free(&r);
    KT_ASSERT(kiln_sched_post(kiln_sched_get(s.rt, 0), block_scheduler, NULL) == 0);
    kst_sleep_ms(50);
    int64_t t0 = kiln_now_ms();
    kst_send(&c, "GET / HTTP/1.1\r\nhost: x\r\n\r\n");
    shutdown(c.fd, SHUT_WR);
    KT_ASSERT(kst_read_resp(&c, &r) == 0);
    KT_ASSERT_EQ_INT(r.status, 200);
    kst_resp_free(&r);
    KT_ASSERT(kst_eof(&c));
    int64_t took = kiln_now_ms() - t0;
    kst_close(&c);
    kst_stop(&s);
    KT_ASSERT(took < 2500);
}

int main(void)
{
    kiln_log_set_level(KILN_LOG_WARN);
    kiln_server_conf_t conf = { .endpoint = kst_app() };
    conf.header_timeout_ms = 300;
    conf.body_timeout_ms = 300;
    conf.idle_timeout_ms = 500;
    conf.send_timeout_ms = 400;
    conf.max_keepalive_requests = 50;
    if (kst_start(&srv, &conf, 2) < 0) return 1;
    port = srv.port;
    conf.max_keepalive_requests = 0;
    kst_server_t srv2; /* no keep-alive cap, for the long run */
    if (kst_start(&srv2, &conf, 1) < 0) return 1;

    port = srv2.port;
    KT_RUN(test_keepalive_10000);
    port = srv.port;
    KT_RUN(test_http10_keepalive);
    KT_RUN(test_slow_client);
    KT_RUN(test_h12_pipeline_not_held_behind_slow_handler);
    KT_RUN(test_h10_header_deadline);
    KT_RUN(test_body_idle_timeout);
    KT_RUN(test_disconnect_mid_body);
    KT_RUN(test_disconnect_mid_response);
    KT_RUN(test_chunked_request_body);
    KT_RUN(test_chunked_response_http10);
    KT_RUN(test_sendfile);
    KT_RUN(test_h11_send_timeout);
    KT_RUN(test_keepalive_request_cap);
    KT_RUN(test_idle_timeout);
    KT_RUN(test_fin_with_last_request);
    kst_stop(&srv2);
    kst_stop(&srv);
    kst_app_free();
    return kt_done();
}
