/* Micro-benchmark for the HTTP/1.1 head parser: 1M parses of a typical
 * browser-ish GET (about 200 bytes) and of a buffer of 16 pipelined small
 * requests; prints ns per request. Run a Release build: bin/bench_http_parse. */
#include "kiln/http.h"

#include <stdio.h>
#include <string.h>

static const char typical[] = "GET /users/42/posts?page=2&sort=desc HTTP/1.1\r\n"
                              "Host: app.example.com\r\n"
                              "User-Agent: Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0\r\n"
                              "Accept: text/html,application/xhtml+xml\r\n"
                              "Accept-Encoding: gzip, deflate\r\n"
                              "Cookie: _kiln_session=abc123def456\r\n"
                              "\r\n";

static const char small[] = "GET /plaintext HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n\r\n";

static volatile size_t sink;

int main(void)
{
    kiln_http_limits_t l;
    kiln_http_limits_default(&l);
    kiln_header_t hdrs[100];
    kiln_http_req_t r = { .headers = hdrs };
    int status;
    const int n = 1000000;

    int64_t t0 = kiln_now_ns();
    for (int i = 0; i < n; i++) sink += (size_t)kiln_http_parse_request(typical, sizeof typical - 1, &l, &r, &status);
    int64_t t1 = kiln_now_ns();
    printf("typical (%zu bytes): %.1f ns/request\n", sizeof typical - 1, (double)(t1 - t0) / n);

    char pipe[16 * sizeof small];
    size_t plen = 0;
    for (int i = 0; i < 16; i++, plen += sizeof small - 1) memcpy(pipe + plen, small, sizeof small - 1);
    t0 = kiln_now_ns();
    for (int i = 0; i < n / 16; i++)
        for (size_t off = 0; off < plen;) off += (size_t)kiln_http_parse_request(pipe + off, plen - off, &l, &r, &status);
    t1 = kiln_now_ns();
    printf("pipelined (16 x %zu bytes): %.1f ns/request\n", sizeof small - 1, (double)(t1 - t0) / (n / 16 * 16));
    return sink == 0;
}
