/* HTTPS through OpenSSL: a self-signed P-256 certificate made at test time
 * with the openssl CLI, and curl -k as the client (keep-alive, a chunked
 * response, a sendfile response through the pread fallback, a POST body). */
#include "kiln_test.h"
#include "kiln_server_test.h"

#include <sys/stat.h>

static char dir[] = "/tmp/kiln_tls_XXXXXX";
static char cert[128], key[128], file[128];
static kst_server_t srv;

/* Runs a shell command and captures its stdout (at most cap-1 bytes). */
static int run(const char *cmd, char *out, size_t cap)
{
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = '\0';
    return pclose(p);
}

static void test_tls_get_keepalive(void)
{
    char cmd[512], out[4096];
    snprintf(cmd, sizeof cmd,
             "curl -sk --max-time 10 https://127.0.0.1:%d/ https://127.0.0.1:%d/path/a%%20b -w ' %%{http_code} %%{num_connects}'",
             srv.port, srv.port);
    KT_ASSERT_EQ_INT(run(cmd, out, sizeof out), 0);
    KT_ASSERT_EQ_STR(out, "hello 200 1/path/a b 200 0"); /* the second request reused the connection */
}

static void test_tls_chunked_and_post(void)
{
    char cmd[512], out[4096];
    snprintf(cmd, sizeof cmd, "curl -sk --max-time 10 https://127.0.0.1:%d/chunked", srv.port);
    KT_ASSERT_EQ_INT(run(cmd, out, sizeof out), 0);
    KT_ASSERT_EQ_STR(out, "abbccc");
    snprintf(cmd, sizeof cmd, "curl -sk --max-time 10 --data-binary 'tls body' https://127.0.0.1:%d/echo", srv.port);
    KT_ASSERT_EQ_INT(run(cmd, out, sizeof out), 0);
    KT_ASSERT_EQ_STR(out, "tls body");
}

static void test_tls_sendfile(void)
{
    char cmd[512], out[4096];
    snprintf(cmd, sizeof cmd, "curl -sk --max-time 10 https://127.0.0.1:%d/file | cmp - %s && echo same", srv.port,
             file);
    KT_ASSERT_EQ_INT(run(cmd, out, sizeof out), 0);
    KT_ASSERT_EQ_STR(out, "same\n");
}

static void test_tls_plain_client_rejected(void)
{
    /* plain HTTP to the TLS port: the handshake fails and the server closes */
    kst_conn_t c;
    KT_ASSERT(kst_connect(&c, srv.port) == 0);
    kst_send(&c, "GET / HTTP/1.1\r\nhost: x\r\n\r\n");
    int closed = 0;
    for (int i = 0; i < 10 && !closed; i++) {
        ssize_t n = kst_fill(&c);
        closed = n == 0 || (n < 0 && errno == ECONNRESET);
        c.len = 0;
    }
    KT_ASSERT(closed);
    kst_close(&c);
}

int main(void)
{
    kiln_log_set_level(KILN_LOG_WARN);
    if (!mkdtemp(dir)) return 1;
    snprintf(cert, sizeof cert, "%s/cert.pem", dir);
    snprintf(key, sizeof key, "%s/key.pem", dir);
    snprintf(file, sizeof file, "%s/data.bin", dir);
    char cmd[1024], out[256];
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=localhost "
             "-keyout %s -out %s 2>/dev/null && head -c 100000 /dev/urandom > %s",
             key, cert, file);
    if (run(cmd, out, sizeof out) != 0) {
        printf("# openssl CLI unavailable: skipped\n");
        return 0;
    }
    kst_app_file = file;
    kiln_server_conf_t conf = { .endpoint = kst_app(), .tls_cert = cert, .tls_key = key };
    if (kst_start(&srv, &conf, 1) < 0) return 1;
    KT_RUN(test_tls_get_keepalive);
    KT_RUN(test_tls_chunked_and_post);
    KT_RUN(test_tls_sendfile);
    KT_RUN(test_tls_plain_client_rejected);
    kst_stop(&srv);
    kst_app_free();
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    run(cmd, out, sizeof out);
    return kt_done();
}
