/* Memory per idle keep-alive HTTP connection (ADR 0004; budget 2 KB).
 *
 *   bench_server_idle [connections=10000]
 *
 * Forks: the child runs a Kiln server (one scheduler) on an ephemeral port;
 * the parent opens N connections, sends one request on each and reads the
 * response, leaving every connection open and idle. The figure is the
 * child's RssAnon growth over those N connections divided by N (user memory
 * only: kernel socket buffers and epoll entries are not in RssAnon). Each
 * process needs ~N file descriptors, so both stay under the 20k cap. */
#include "../tests/support/kiln_server_test.h"

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

static int run_server(int port_pipe)
{
    kiln_log_set_level(KILN_LOG_WARN);
    kst_server_t s;
    kiln_server_conf_t conf = { .endpoint = kst_app(), .backlog = 4096 };
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

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 10000;
    raise_fd_limit((rlim_t)n + 256);
    int p[2];
    if (pipe(p) < 0) return 1;
    pid_t child = fork();
    if (child == 0) {
        close(p[0]);
        return run_server(p[1]);
    }
    close(p[1]);
    int port;
    if (read(p[0], &port, sizeof port) != (ssize_t)sizeof port) return 1;

    /* warm up: pools, stacks and the first arena block exist before the baseline */
    kst_conn_t warm;
    if (kst_connect(&warm, port) < 0 || one_request(&warm) < 0) return 1;
    kst_close(&warm);
    kst_sleep_ms(200);
    long base = kst_proc_kb(child, "RssAnon");

    int *fds = calloc((size_t)n, sizeof *fds);
    int opened = 0;
    for (; opened < n; opened++) {
        kst_conn_t c;
        if (kst_connect(&c, port) < 0 || one_request(&c) < 0) {
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
    printf("idle keep-alive connections: %d\n", opened);
    printf("server RssAnon: %ld kB -> %ld kB\n", base, after);
    printf("bytes per idle connection: %.0f\n", per);

    for (int i = 0; i < opened; i++) close(fds[i]);
    free(fds);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    kst_app_free();
    return opened == n ? 0 : 1;
}
