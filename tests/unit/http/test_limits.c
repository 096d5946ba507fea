/* H9, parser side: 414 for a long request line, 431 for a large header
 * section or too many fields, decided as soon as the limit is passed even
 * while the head is incomplete (a never-ending header stream is not buffered). */
#include "http_test.h"

#include <stdlib.h>

/* A request whose target has `tlen` bytes; returns the malloc'd buffer and its length. */
static char *long_target(size_t tlen, size_t *len)
{
    char *b = malloc(tlen + 64);
    size_t o = (size_t)sprintf(b, "GET /");
    memset(b + o, 'a', tlen - 1);
    o += tlen - 1;
    o += (size_t)sprintf(b + o, " HTTP/1.1\r\nHost: a\r\n\r\n");
    *len = o;
    return b;
}

static void test_H9_request_line_414(void)
{
    kiln_http_req_t r;
    size_t len;
    /* "GET " + target + " HTTP/1.1" is exactly 8192 bytes: accepted */
    char *b = long_target(8192 - 13, &len);
    KT_ASSERT_EQ_INT(ht_parse(b, len, &r), HT_OK);
    free(b);
    b = long_target(8192 - 12, &len);
    KT_ASSERT_EQ_INT(ht_parse(b, len, &r), 414);
    free(b);
    /* incomplete: decided as soon as the line cannot fit any more, without the rest of it */
    b = long_target(20000, &len);
    int early = ht_parse(b, 8191, &r), at = ht_parse(b, 8192, &r);
    free(b);
    KT_ASSERT_EQ_INT(early, HT_AGAIN);
    KT_ASSERT_EQ_INT(at, 414);
}

static void test_H9_header_bytes_431(void)
{
    kiln_http_req_t r;
    char *b = malloc(40000);
    size_t o = (size_t)sprintf(b, "GET / HTTP/1.1\r\nHost: a\r\nX-Big: ");
    memset(b + o, 'v', 20000);
    o += 20000;
    o += (size_t)sprintf(b + o, "\r\n\r\n");
    KT_ASSERT_EQ_INT(ht_parse(b, o, &r), 431);
    /* a head of exactly max_header_bytes is accepted, one more byte is not */
    size_t fill = 16384 - strlen("GET / HTTP/1.1\r\nHost: a\r\nX-Big: ") - 4;
    o = (size_t)sprintf(b, "GET / HTTP/1.1\r\nHost: a\r\nX-Big: ");
    memset(b + o, 'v', fill);
    o += fill;
    o += (size_t)sprintf(b + o, "\r\n\r\n");
    KT_ASSERT_EQ_INT(o, 16384);
    KT_ASSERT_EQ_INT(ht_parse(b, o, &r), HT_OK);
    memmove(b + 30, b + 29, o - 29);
    KT_ASSERT_EQ_INT(ht_parse(b, o + 1, &r), 431);
    free(b);
}

static void test_H9_too_many_fields_431(void)
{
    kiln_http_req_t r;
    char *b = malloc(8192);
    size_t o = (size_t)sprintf(b, "GET / HTTP/1.1\r\nHost: a\r\n");
    for (int i = 0; i < 99; i++) o += (size_t)sprintf(b + o, "X%d: v\r\n", i);
    size_t keep = o;
    o += (size_t)sprintf(b + o, "\r\n");
    KT_ASSERT_EQ_INT(ht_parse(b, o, &r), HT_OK); /* 100 fields */
    KT_ASSERT_EQ_INT(r.n_headers, 100);
    o = keep + (size_t)sprintf(b + keep, "X-One-More: v\r\n\r\n");
    KT_ASSERT_EQ_INT(ht_parse(b, o, &r), 431);
    free(b);
}

/* A header section that never ends, streamed in 1 KiB reads: rejected as
 * soon as it passes the limit; the parser never asks for more than that. */
static void test_H9_endless_header_stream(void)
{
    kiln_http_req_t r;
    size_t cap = 64 * 1024;
    char *b = malloc(cap);
    size_t o = (size_t)sprintf(b, "GET / HTTP/1.1\r\nHost: a\r\n");
    while (o < cap - 32) o += (size_t)sprintf(b + o, "X-Flood: %zu\r\n", o);
    size_t have = 0;
    int got = HT_AGAIN;
    while (got == HT_AGAIN && have < cap) {
        have += 1024;
        if (have > cap) have = cap;
        got = ht_parse(b, have, &r);
    }
    KT_ASSERT_EQ_INT(got, 431);
    KT_ASSERT(have <= 16384 + 1024);
    /* one long field value that never ends */
    o = (size_t)sprintf(b, "GET / HTTP/1.1\r\nHost: a\r\nX: ");
    memset(b + o, 'x', cap - o);
    KT_ASSERT_EQ_INT(ht_parse(b, 16383, &r), HT_AGAIN);
    KT_ASSERT_EQ_INT(ht_parse(b, 16384, &r), 431);
    KT_ASSERT_EQ_INT(ht_parse(b, cap, &r), 431);
    /* endless empty lines before the request line count toward the head */
    memset(b, '\n', cap);
    KT_ASSERT_EQ_INT(ht_parse(b, cap, &r), 431);
    free(b);
}

static void test_H9_custom_limits(void)
{
    kiln_http_limits_t l;
    kiln_http_limits_default(&l);
    l.max_request_line = 20;
    l.max_header_bytes = 64;
    l.max_headers = 2;
    kiln_http_req_t r;
    static const char ok[] = "GET /12345 HTTP/1.1\r\nHost: a\r\nX: b\r\n\r\n";
    KT_ASSERT_EQ_INT(ht_parse_lim(ok, sizeof ok - 1, &l, &r), HT_OK);
    static const char l414[] = "GET /1234567 HTTP/1.1\r\nHost: a\r\n\r\n";
    KT_ASSERT_EQ_INT(ht_parse_lim(l414, sizeof l414 - 1, &l, &r), 414);
    static const char many[] = "GET / HTTP/1.1\r\nHost: a\r\nX: b\r\nY: c\r\n\r\n";
    KT_ASSERT_EQ_INT(ht_parse_lim(many, sizeof many - 1, &l, &r), 431);
    static const char big[] = "GET / HTTP/1.1\r\nHost: a\r\nX: bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\r\n\r\n";
    KT_ASSERT_EQ_INT(ht_parse_lim(big, sizeof big - 1, &l, &r), 431);
    /* a request line limit larger than the head limit: the head limit wins (431) */
    l.max_request_line = 1000;
    static const char rl[] = "GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa HTTP/1.1\r\n";
    KT_ASSERT_EQ_INT(ht_parse_lim(rl, sizeof rl - 1, &l, &r), 431);
}

int main(void)
{
    KT_RUN(test_H9_request_line_414);
    KT_RUN(test_H9_header_bytes_431);
    KT_RUN(test_H9_too_many_fields_431);
    KT_RUN(test_H9_endless_header_stream);
    KT_RUN(test_H9_custom_limits);
    return kt_done();
}
