/* HTTP server over the wire: framing (H3/H4), limits (H9), pipelining (H12)
 * and response hygiene (H13) from docs RELIABILITY §1, against an in-process
 * server on an ephemeral port, with raw sockets. Every rejection must be a
 * response and then EOF on the same socket. */
#include "kiln_test.h"
#include "kiln_server_test.h"
#include "kiln/telemetry.h"

static kst_server_t srv;
static int port;

/* Sends raw bytes on a fresh socket; expects `status`, connection: close, then EOF. */
static int expect_reject(const char *raw, size_t len, int status)
{
    kst_conn_t c;
    kst_resp_t r;
    char v[64];
    int ok = kst_connect(&c, port) == 0 && kst_sendn(&c, raw, len) == 0 && kst_read_resp(&c, &r) == 0;
    if (!ok) {
        fprintf(stderr, "  no response for %.60s\n", raw);
        kst_close(&c);
        return 0;
    }
    ok = r.status == status && kst_header(&r, "connection", v, sizeof v) && strcmp(v, "close") == 0;
    if (r.status != status) fprintf(stderr, "  got %d, want %d for %.60s\n", r.status, status, raw);
    kst_resp_free(&r);
    /* a second request on the same socket must not be answered */
    kst_send(&c, "GET / HTTP/1.1\r\nhost: x\r\n\r\n");
    ok = ok && kst_eof(&c);
    kst_close(&c);
    return ok;
}
#define REJECT(lit, st) KT_ASSERT(expect_reject(lit, sizeof(lit) - 1, st))

static void test_smoke(void)
{
    kst_resp_t r;
    KT_ASSERT_EQ_INT(kst_roundtrip(port, "GET / HTTP/1.1\r\nhost: x\r\n\r\n", &r), 200);
    KT_ASSERT_EQ_STR(r.body, "hello");
    char v[64];
    KT_ASSERT(kst_header(&r, "date", v, sizeof v) && strlen(v) == 29);
    kst_resp_free(&r);
    KT_ASSERT_EQ_INT(kst_roundtrip(port, "GET /nope HTTP/1.1\r\nhost: x\r\n\r\n", NULL), 404);
}

static atomic_int tel_start, tel_stop, tel_dur_ok;

static void on_tel(const kiln_telemetry_event_t *ev, void *ud)
{
    (void)ud;
    if (strcmp(ev->name, "kiln.http.request.start") == 0) atomic_fetch_add(&tel_start, 1);
    if (strcmp(ev->name, "kiln.http.request.stop") == 0) {
        atomic_fetch_add(&tel_stop, 1);
        if (ev->n_measurements == 1 && strcmp(ev->measurements[0].key, "duration_us") == 0 &&
            ev->measurements[0].value >= 0)
            atomic_fetch_add(&tel_dur_ok, 1);
    }
}

static void test_telemetry(void)
{
    KT_ASSERT_EQ_INT(kiln_telemetry_attach("t", "kiln.http.request", on_tel, NULL), 0);
    for (int i = 0; i < 3; i++) KT_ASSERT_EQ_INT(kst_roundtrip(port, "GET / HTTP/1.1\r\nhost: x\r\n\r\n", NULL), 200);
    /* stop is emitted after the response is written: the client can read it first */
    for (int i = 0; i < 2000 && atomic_load(&tel_stop) < 3; i++) usleep(1000);
    kiln_telemetry_detach("t");
    KT_ASSERT_EQ_INT(atomic_load(&tel_start), 3);
    KT_ASSERT_EQ_INT(atomic_load(&tel_stop), 3);
    KT_ASSERT_EQ_INT(atomic_load(&tel_dur_ok), 3);
}

static void test_h3_framing(void)
{
    REJECT("POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n", 400);
    REJECT("POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\nhello!", 400);
    REJECT("POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: +5\r\n\r\nhello", 400);
    REJECT("POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 99999999999999999999\r\n\r\n", 400);
    REJECT("POST /echo HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked, chunked\r\n\r\n0\r\n\r\n", 400);
    REJECT("POST /echo HTTP/1.0\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n", 400);
    REJECT("POST /echo HTTP/1.1\r\nhost: x\r\ntransfer-encoding: gzip\r\n\r\n", 501);
    /* chunked framing errors found while reading the body */
    REJECT("POST /echo HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n", 400);
    REJECT("POST /echo HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n", 400);
}

static void test_h4_headers(void)
{
    REJECT("GET / HTTP/1.1\r\nhost: x\r\nfoo : bar\r\n\r\n", 400);
    REJECT("GET / HTTP/1.1\r\nhost: x\r\nfoo: bar\r\n folded\r\n\r\n", 400);
    REJECT("GET / HTTP/1.1\r\n\r\n", 400);                      /* no host */
    REJECT("GET / HTTP/1.1\r\nhost: x\r\nhost: x\r\n\r\n", 400); /* duplicate host */
    REJECT("GET / HTTP/1.1\r\nhost: x\r\nfo[o: bar\r\n\r\n", 400);
    REJECT("GET / HTTP/1.1\r\nhost: x\rfoo: bar\r\n\r\n", 400);   /* bare CR */
    REJECT("GET /path/a%00b HTTP/1.1\r\nhost: x\r\n\r\n", 400);  /* decodes to NUL */
    REJECT("GET /path/a%ffb HTTP/1.1\r\nhost: x\r\n\r\n", 400);  /* decodes to invalid UTF-8 */
    kst_resp_t r;
    KT_ASSERT_EQ_INT(kst_roundtrip(port, "GET /path/caf%C3%A9%20x HTTP/1.1\r\nhost: x\r\n\r\n", &r), 200);
    KT_ASSERT_EQ_STR(r.body, "/path/caf\xc3\xa9 x");
    kst_resp_free(&r);
}

static void test_h9_limits(void)
{
    /* request line over 8192 → 414 */
    static char big[40000];
    int n = snprintf(big, sizeof big, "GET /");
    memset(big + n, 'a', 9000);
    n += 9000;
    n += snprintf(big + n, sizeof big - (size_t)n, " HTTP/1.1\r\nhost: x\r\n\r\n");
    KT_ASSERT(expect_reject(big, (size_t)n, 414));
    /* header section over 16 KiB → 431 */
    n = snprintf(big, sizeof big, "GET / HTTP/1.1\r\nhost: x\r\n");
    for (int i = 0; i < 400; i++) n += snprintf(big + n, sizeof big - (size_t)n, "x-h%03d: %060d\r\n", i, i);
    n += snprintf(big + n, sizeof big - (size_t)n, "\r\n");
    KT_ASSERT(expect_reject(big, (size_t)n, 431));
    /* too many fields → 431 */
    n = snprintf(big, sizeof big, "GET / HTTP/1.1\r\nhost: x\r\n");
    for (int i = 0; i < 150; i++) n += snprintf(big + n, sizeof big - (size_t)n, "x-%d: 1\r\n", i);
    n += snprintf(big + n, sizeof big - (size_t)n, "\r\n");
    KT_ASSERT(expect_reject(big, (size_t)n, 431));
    /* body over the max (1 MiB in this server) → 413 before any body byte is sent */
    REJECT("POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 100000000\r\n\r\n", 413);
    /* Expect: 100-continue, too big → 413 and no 100 */
    {
        kst_conn_t c;
        kst_resp_t r;
        KT_ASSERT(kst_connect(&c, port) == 0);
        kst_send(&c, "POST /echo HTTP/1.1\r\nhost: x\r\nexpect: 100-continue\r\ncontent-length: 5000000\r\n\r\n");
        KT_ASSERT(kst_read_resp(&c, &r) == 0);
        KT_ASSERT_EQ_INT(r.status, 413);
        kst_resp_free(&r);
        KT_ASSERT(kst_eof(&c));
        kst_close(&c);
    }
    /* Expect: 100-continue within the limit → 100, then the body, then 200 */
    {
        kst_conn_t c;
        kst_resp_t r;
        KT_ASSERT(kst_connect(&c, port) == 0);
        kst_send(&c, "POST /echo HTTP/1.1\r\nhost: x\r\nexpect: 100-continue\r\ncontent-length: 5\r\n\r\n");
        KT_ASSERT(kst_read_resp(&c, &r) == 0);
        KT_ASSERT_EQ_INT(r.status, 100);
        kst_resp_free(&r);
        kst_send(&c, "hello");
        KT_ASSERT(kst_read_resp(&c, &r) == 0);
        KT_ASSERT_EQ_INT(r.status, 200);
        KT_ASSERT_EQ_STR(r.body, "hello");
        kst_resp_free(&r);
        kst_close(&c);
    }
    /* chunked body over the max → 413 */
    {
        kst_conn_t c;
        kst_resp_t r;
        KT_ASSERT(kst_connect(&c, port) == 0);
        kst_send(&c, "POST /echo HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n");
        static char chunk[70000];
        int cn = snprintf(chunk, sizeof chunk, "%x\r\n", 65536);
        memset(chunk + cn, 'y', 65536);
        memcpy(chunk + cn + 65536, "\r\n", 2);
        int got = -1;
        for (int i = 0; i < 20; i++)
            if (kst_sendn(&c, chunk, (size_t)cn + 65538) < 0) break;
        if (kst_read_resp(&c, &r) == 0) {
            got = r.status;
            kst_resp_free(&r);
        }
        KT_ASSERT_EQ_INT(got, 413);
        kst_close(&c);
    }
}

static void test_h12_pipelining(void)
{
    static char reqs[100 * 64];
    size_t n = 0;
    for (int i = 0; i < 100; i++) n += (size_t)snprintf(reqs + n, sizeof reqs - n, "GET /path/%d HTTP/1.1\r\nhost: x\r\n\r\n", i);
    kst_conn_t c;
    KT_ASSERT(kst_connect(&c, port) == 0);
    KT_ASSERT(kst_sendn(&c, reqs, n) == 0);
    for (int i = 0; i < 100; i++) {
        kst_resp_t r;
        char want[32];
        snprintf(want, sizeof want, "/path/%d", i);
        KT_ASSERT(kst_read_resp(&c, &r) == 0);
        KT_ASSERT_EQ_INT(r.status, 200);
        KT_ASSERT_EQ_STR(r.body, want);
        kst_resp_free(&r);
    }
    kst_close(&c);

    /* a framing error mid-pipeline: 3 served, the error, then close; the
     * requests behind it never run (the counter proves it) */
    atomic_store(&kst_app_count, 0);
    KT_ASSERT(kst_connect(&c, port) == 0);
    kst_send(&c, "GET /count HTTP/1.1\r\nhost: x\r\n\r\nGET /count HTTP/1.1\r\nhost: x\r\n\r\n"
                 "GET /count HTTP/1.1\r\nhost: x\r\n\r\n"
                 "GET /count HTTP/1.1\r\nhost: x\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n"
                 "GET /count HTTP/1.1\r\nhost: x\r\n\r\nGET /count HTTP/1.1\r\nhost: x\r\n\r\n");
    for (int i = 0; i < 3; i++) {
        kst_resp_t r;
        KT_ASSERT(kst_read_resp(&c, &r) == 0);
        KT_ASSERT_EQ_INT(r.status, 200);
        kst_resp_free(&r);
    }
    kst_resp_t r;
    KT_ASSERT(kst_read_resp(&c, &r) == 0);
    KT_ASSERT_EQ_INT(r.status, 400);
    kst_resp_free(&r);
    KT_ASSERT(kst_eof(&c));
    kst_close(&c);
    KT_ASSERT_EQ_INT(atomic_load(&kst_app_count), 3);

    /* Connection: close mid-pipeline: that response is the last */
    atomic_store(&kst_app_count, 0);
    KT_ASSERT(kst_connect(&c, port) == 0);
    kst_send(&c, "GET /count HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\nGET /count HTTP/1.1\r\nhost: x\r\n\r\n");
    KT_ASSERT(kst_read_resp(&c, &r) == 0);
    KT_ASSERT_EQ_INT(r.status, 200);
    kst_resp_free(&r);
    KT_ASSERT(kst_eof(&c));
    kst_close(&c);
    KT_ASSERT_EQ_INT(atomic_load(&kst_app_count), 1);
}

static void test_h13_hygiene(void)
{
    kst_conn_t c;
    kst_resp_t r;
    char v[64];
    KT_ASSERT(kst_connect(&c, port) == 0);
    /* HEAD: head with the GET length, no body (the next response parses cleanly) */
    kst_send(&c, "HEAD / HTTP/1.1\r\nhost: x\r\n\r\nGET /nocontent HTTP/1.1\r\nhost: x\r\n\r\n"
                 "GET /notmod HTTP/1.1\r\nhost: x\r\n\r\nGET /chunked HTTP/1.1\r\nhost: x\r\n\r\n"
                 "GET /badheader HTTP/1.1\r\nhost: x\r\n\r\n");
    KT_ASSERT(kst_read_resp_ex(&c, &r, 1) == 0);
    KT_ASSERT_EQ_INT(r.status, 200);
    KT_ASSERT(kst_header(&r, "content-length", v, sizeof v) && strcmp(v, "5") == 0);
    kst_resp_free(&r);
    KT_ASSERT(kst_read_resp(&c, &r) == 0);
    KT_ASSERT_EQ_INT(r.status, 204);
    KT_ASSERT(!kst_header(&r, "content-length", v, sizeof v) && !kst_header(&r, "transfer-encoding", v, sizeof v));
    kst_resp_free(&r);
    KT_ASSERT(kst_read_resp(&c, &r) == 0);
    KT_ASSERT_EQ_INT(r.status, 304);
    kst_resp_free(&r);
    KT_ASSERT(kst_read_resp(&c, &r) == 0);
    KT_ASSERT_EQ_INT(r.status, 200);
    KT_ASSERT(r.chunked && !kst_header(&r, "content-length", v, sizeof v));
    KT_ASSERT_EQ_STR(r.body, "abbccc");
    kst_resp_free(&r);
    KT_ASSERT(kst_read_resp(&c, &r) == 0);
    KT_ASSERT_EQ_STR(r.body, "refused");
    KT_ASSERT(!strstr(r.head, "pwned"));
    kst_resp_free(&r);
    /* nothing stray after the 204/304 (a body there would desync this) */
    kst_send(&c, "GET / HTTP/1.1\r\nhost: x\r\n\r\n");
    KT_ASSERT(kst_read_resp(&c, &r) == 0);
    KT_ASSERT_EQ_STR(r.body, "hello");
    kst_resp_free(&r);
    kst_close(&c);

    /* a server-made error to a HEAD has no body either: nothing follows its
     * head but EOF (fuzz_http_conn found the error text sent after it) */
    KT_ASSERT(kst_connect(&c, port) == 0);
    kst_send(&c, "HEAD / HTTP/1.1\r\nhost: x\r\ncontent-length: 100000000\r\n\r\n");
    KT_ASSERT(kst_read_resp_ex(&c, &r, 1) == 0);
    KT_ASSERT_EQ_INT(r.status, 413);
    kst_resp_free(&r);
    KT_ASSERT(kst_eof(&c));
    kst_close(&c);
    KT_ASSERT(kst_connect(&c, port) == 0);
    kst_send(&c, "HEAD / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n");
    KT_ASSERT(kst_read_resp_ex(&c, &r, 1) == 0);
    KT_ASSERT_EQ_INT(r.status, 400);
    kst_resp_free(&r);
    KT_ASSERT(kst_eof(&c));
    kst_close(&c);
}

int main(void)
{
    kiln_log_set_level(KILN_LOG_WARN);
    kiln_server_conf_t conf = { .endpoint = kst_app() };
    conf.limits.max_body = 1 << 20;
    if (kst_start(&srv, &conf, 2) < 0) return 1;
    port = srv.port;
    KT_RUN(test_smoke);
    KT_RUN(test_telemetry);
    KT_RUN(test_h3_framing);
    KT_RUN(test_h4_headers);
    KT_RUN(test_h9_limits);
    KT_RUN(test_h12_pipelining);
    KT_RUN(test_h13_hygiene);
    kst_stop(&srv);
    kst_app_free();
    kiln_telemetry_shutdown();
    return kt_done();
}
