/* Graceful drain (RELIABILITY R7): an in-flight slow request completes with
 * connection: close while new connects are refused and idle keep-alive
 * connections are closed; a slowloris connection cannot hold the drain past
 * its deadline. */
#include "kiln_test.h"
#include "kiln_server_test.h"

static void test_drain_inflight(void)
{
    kst_server_t s;
    kiln_server_conf_t conf = { .endpoint = kst_app() };
    kst_app_slow_ms = 500;
    KT_ASSERT(kst_start(&s, &conf, 2) == 0);
    kst_conn_t idle, busy, late;
    kst_resp_t r;
    char v[32];
    KT_ASSERT(kst_connect(&idle, s.port) == 0);
    kst_send(&idle, "GET / HTTP/1.1\r\nhost: x\r\n\r\n");
    KT_ASSERT(kst_read_resp(&idle, &r) == 0);
    kst_resp_free(&r);
    KT_ASSERT(kst_connect(&busy, s.port) == 0);
    kst_send(&busy, "GET /slow HTTP/1.1\r\nhost: x\r\n\r\n");
    kst_sleep_ms(100);

    int64_t t0 = kiln_now_ms();
    kst_drain(&s, 3000);
    kst_sleep_ms(50);
    KT_ASSERT(kst_connect(&late, s.port) < 0); /* listeners closed: refused */
    kst_close(&late);
    KT_ASSERT(kst_eof(&idle)); /* idle keep-alive closed at once */
    kst_close(&idle);
    KT_ASSERT(!atomic_load(&s.drained));

    KT_ASSERT(kst_read_resp(&busy, &r) == 0); /* the slow request still completes */
    KT_ASSERT_EQ_INT(r.status, 200);
    KT_ASSERT_EQ_STR(r.body, "slow");
    KT_ASSERT(kst_header(&r, "connection", v, sizeof v) && strcmp(v, "close") == 0);
    kst_resp_free(&r);
    KT_ASSERT(kst_eof(&busy));
    kst_close(&busy);
    KT_ASSERT(kst_wait_drained(&s, 2000));
    KT_ASSERT(kiln_now_ms() - t0 < 2000); /* done when the last connection went, not at the deadline */
    kiln_server_stats_t st;
    kiln_server_stats(s.srv, &st);
    KT_ASSERT_EQ_INT(st.drain_forced, 0);
    kst_stop(&s);
}

static void test_drain_deadline(void)
{
    kst_server_t s;
    kiln_server_conf_t conf = { .endpoint = kst_app() };
    KT_ASSERT(kst_start(&s, &conf, 1) == 0);
    kst_conn_t slow;
    KT_ASSERT(kst_connect(&slow, s.port) == 0);
    kst_send(&slow, "GET / HTTP/1.1\r\nhost: x\r\n"); /* never finishes its head */
    kst_sleep_ms(50);
    int64_t t0 = kiln_now_ms();
    kst_drain(&s, 300);
    KT_ASSERT(kst_wait_drained(&s, 3000));
    int64_t took = kiln_now_ms() - t0;
    KT_ASSERT(took >= 250 && took < 1500);
    KT_ASSERT(kst_eof(&slow));
    kst_close(&slow);
    kiln_server_stats_t st;
    kiln_server_stats(s.srv, &st);
    KT_ASSERT_EQ_INT(st.drain_forced, 1);
    kst_stop(&s);
}

int main(void)
{
    kiln_log_set_level(KILN_LOG_WARN);
    KT_RUN(test_drain_inflight);
    KT_RUN(test_drain_deadline);
    kst_app_free();
    return kt_done();
}
