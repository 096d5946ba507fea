/* The error answer of a rejected request reaches the client whole, even when
 * the socket is full at that moment (found by tests/fuzz/fuzz_http_conn).
 *
 * A rejection right behind a large pipelined response is made just after the
 * last write of that response, so the socket's send buffer is usually full.
 * The error answer used to be one non-blocking write: it was dropped (EAGAIN)
 * or cut (a short write) before the close. Over TCP that depends on buffer
 * sizes and timing, so this test hands the server an AF_UNIX socketpair with
 * the smallest send buffer instead (the fuzz harness's way in: the connection
 * is adopted as if accept(2) had returned it), where the socket is full after
 * nearly every write. */
#include "kiln_test.h"
#include "kiln_server_test.h"
#include "server/server_int.h"

#include <fcntl.h>
#include <sys/un.h>

static kst_server_t srv;

static void adopt(void *arg)
{
    srv_sched_t *ss = &srv.srv->scheds[0];
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    kiln__srv_conn_accepted(ss, (int)(intptr_t)arg, &sa, sizeof sa);
}

/* A connection to the server whose server end has the smallest send buffer. */
static int connect_tiny(void)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0) return -1;
    int tiny = 1; /* the kernel rounds it up to its minimum */
    setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &tiny, sizeof tiny);
    int flags = fcntl(sv[0], F_GETFL);
    fcntl(sv[0], F_SETFL, flags & ~O_NONBLOCK);
    struct timeval tv = { 5, 0 };
    setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (kiln_sched_post(srv.srv->scheds[0].sched, adopt, (void *)(intptr_t)sv[1]) < 0) return -1;
    return sv[0];
}

/* Reads until EOF (or the receive timeout) into a malloc'd buffer. */
static char *read_all(int fd, size_t *len)
{
    size_t cap = 4u << 20;
    char *buf = malloc(cap);
    *len = 0;
    while (buf && *len < cap) {
        ssize_t n = recv(fd, buf + *len, cap - *len < 8192 ? cap - *len : 8192, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        *len += (size_t)n;
    }
    return buf;
}

/* The output must be the big response, then the whole 400 answer. */
static int output_ok(const char *out, size_t len)
{
    const char *head_end = memmem(out, len, "\r\n\r\n", 4);
    if (!head_end || strncmp(out, "HTTP/1.1 200 ", 13) != 0) return 0;
    size_t body_end = (size_t)(head_end - out) + 4 + kst_app_big_len;
    if (len < body_end) return 0;
    const char *rest = out + body_end;
    size_t rest_len = len - body_end;
    static const char tail[] = "\r\nconnection: close\r\n\r\nBad Request\n";
    int ok = rest_len > sizeof tail && strncmp(rest, "HTTP/1.1 400 ", 13) == 0 &&
             memcmp(rest + rest_len - (sizeof tail - 1), tail, sizeof tail - 1) == 0;
    if (!ok) fprintf(stderr, "  %zu bytes after the big body: %.*s\n", rest_len, (int)rest_len, rest);
    return ok;
}

static void test_reject_behind_full_socket(void)
{
    static const char reqs[] = "GET /big HTTP/1.1\r\nhost: x\r\n\r\nGET / HTTP/1.1\r\nfoo : bar\r\n\r\n";
    for (int round = 0; round < 20; round++) {
        int fd = connect_tiny();
        KT_ASSERT(fd >= 0);
        KT_ASSERT(send(fd, reqs, sizeof reqs - 1, MSG_NOSIGNAL) == (ssize_t)(sizeof reqs - 1));
        shutdown(fd, SHUT_WR); /* half-closed: it still reads the answers */
        size_t len = 0;
        char *out = read_all(fd, &len);
        close(fd);
        int ok = out && output_ok(out, len);
        free(out);
        KT_ASSERT(ok);
    }
}

int main(void)
{
    kiln_log_set_level(KILN_LOG_ERROR);
    kst_app_big_len = 64 * 1024; /* many times the tiny send buffer */
    kiln_server_conf_t conf = { .endpoint = kst_app() };
    if (kst_start(&srv, &conf, 1) < 0) return 1;
    KT_RUN(test_reject_behind_full_socket);
    kst_stop(&srv);
    kst_app_free();
    return kt_done();
}
