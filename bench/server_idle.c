/* Memory per idle keep-alive HTTP connection (ADR 0004; budget 2 KB).
 *
 *   bench_server_idle [connections=10000] [tls]
 *
 * Forks: the child runs a Kiln server (one scheduler) on an ephemeral port;
 * the parent opens N connections, sends one request on each and reads the
 * response, leaving every connection open and idle. The figure is the
 * child's RssAnon growth over those N connections divided by N (user memory
 * only: kernel socket buffers and epoll entries are not in RssAnon). Each
 * process needs ~N file descriptors, so both stay under the 20k cap.
 *
 * `tls`: the server gets a self-signed P-256 certificate made with the openssl
 * CLI in a temporary directory, and each connection completes a TLS handshake
 * (OpenSSL client, default version: TLS 1.3) before its request, so the figure
 * includes the server's idle SSL object. */
#include "../tests/support/kiln_server_test.h"

#include <openssl/ssl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>

static void raise_fd_limit(rlim_t want)
{
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < want) {
        rl.rlim_cur = want < rl.rlim_max ? want : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static char tls_dir[] = "/tmp/kiln-idle-XXXXXX", tls_cert[64], tls_key[64];

/* Makes the self-signed certificate; 0 or -1. */
static int make_cert(void)
{
    if (!mkdtemp(tls_dir)) return -1;
    snprintf(tls_cert, sizeof tls_cert, "%s/cert.pem", tls_dir);
    snprintf(tls_key, sizeof tls_key, "%s/key.pem", tls_dir);
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=localhost "
             "-keyout %s -out %s 2>/dev/null",
             tls_key, tls_cert);
    return system(cmd) == 0 ? 0 : -1;
}

static int run_server(int port_pipe, int tls)
{
    kiln_log_set_level(KILN_LOG_WARN);
    kst_server_t s;
    kiln_server_conf_t conf = { .endpoint = kst_app(), .backlog = 4096 };
    if (tls) conf.tls_cert = tls_cert, conf.tls_key = tls_key;
    if (kst_start(&s, &conf, 1) < 0) return 1;
    if (write(port_pipe, &s.port, sizeof s.port) != (ssize_t)sizeof s.port) return 1;
    pause(); /* killed by the parent */
    return 0;
}

static int one_request(kst_conn_t *c)
{
    kst_resp_t r;
    if (kst_send(c, "GET / HTTP/1.1\r\nhost: x\r\n\r\n") < 0 || kst_read_resp(c, &r) < 0) return -1;
    int ok = r.status == 200;
    kst_resp_free(&r);
    return ok ? 0 : -1;
}

/* The same request over TLS on c->fd, reading until the whole response is in
 * (headers and content-length bytes). Returns 0 and the SSL in *out, or -1. */
static int one_request_tls(SSL_CTX *ctx, kst_conn_t *c, SSL **out)
{
    static const char req[] = "GET / HTTP/1.1\r\nhost: x\r\n\r\n";
    char buf[4096];
    size_t len = 0;
    SSL *ssl = SSL_new(ctx);
    if (!ssl || SSL_set_fd(ssl, c->fd) != 1 || SSL_connect(ssl) != 1 ||
        SSL_write(ssl, req, (int)sizeof req - 1) != (int)sizeof req - 1)
        goto fail;
    for (;;) {
        int got = SSL_read(ssl, buf + len, (int)(sizeof buf - 1 - len));
        if (got <= 0) goto fail;
        len += (size_t)got;
        buf[len] = 0;
        const char *end = strstr(buf, "\r\n\r\n"), *cl = strcasestr(buf, "content-length:");
        if (end && cl && len >= (size_t)(end + 4 - buf) + strtoul(cl + 15, NULL, 10)) break;
        if (len == sizeof buf - 1) goto fail;
    }
    if (strncmp(buf, "HTTP/1.1 200", 12) != 0) goto fail;
    *out = ssl;
    return 0;
fail:
    SSL_free(ssl);
    return -1;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 10000;
    int tls = argc > 2 && strcmp(argv[2], "tls") == 0;
    if (tls && make_cert() < 0) {
        fprintf(stderr, "openssl CLI unavailable: no certificate\n");
        return 1;
    }
    raise_fd_limit((rlim_t)n + 256);
    int p[2];
    if (pipe(p) < 0) return 1;
    pid_t child = fork();
    if (child == 0) {
        close(p[0]);
        return run_server(p[1], tls);
    }
    close(p[1]);
    int port;
    if (read(p[0], &port, sizeof port) != (ssize_t)sizeof port) return 1;

    SSL_CTX *ctx = tls ? SSL_CTX_new(TLS_client_method()) : NULL;
    if (tls && !ctx) return 1;
    SSL **ssls = calloc((size_t)n + 1, sizeof *ssls); /* the client's, kept with their sockets */

    /* warm up: pools, stacks and the first arena block exist before the baseline */
    kst_conn_t warm;
    if (kst_connect(&warm, port) < 0 || (tls ? one_request_tls(ctx, &warm, &ssls[n]) : one_request(&warm)) < 0) return 1;
    kst_close(&warm);
    kst_sleep_ms(200);
    long base = kst_proc_kb(child, "RssAnon");

    int *fds = calloc((size_t)n, sizeof *fds);
    int opened = 0;
    for (; opened < n; opened++) {
        kst_conn_t c;
        if (kst_connect(&c, port) < 0 || (tls ? one_request_tls(ctx, &c, &ssls[opened]) : one_request(&c)) < 0) {
            fprintf(stderr, "connection %d failed: %s\n", opened, strerror(errno));
            kst_close(&c);
            break;
        }
        fds[opened] = c.fd; /* keep the socket, drop the client buffer */
        free(c.buf);
    }
    kst_sleep_ms(500);
    long after = kst_proc_kb(child, "RssAnon");
    double per = opened ? (double)(after - base) * 1024.0 / opened : 0;
    printf("idle keep-alive connections%s: %d\n", tls ? " (TLS)" : "", opened);
    printf("server RssAnon: %ld kB -> %ld kB\n", base, after);
    printf("bytes per idle connection: %.0f\n", per);

    for (int i = 0; i < opened; i++) close(fds[i]);
    for (int i = 0; i <= n; i++) SSL_free(ssls[i]);
    free(ssls);
    SSL_CTX_free(ctx);
    free(fds);
    if (tls) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf %s", tls_dir);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tls_dir);
    }
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    kst_app_free();
    return opened == n ? 0 : 1;
}
