/* H3: message framing (RFC 9112 §6). Every ambiguity that lets a proxy and
 * us disagree on where a request ends must be rejected with the right status;
 * the valid forms must parse to the expected body kind and length. */
#include "http_test.h"

#define RQ "POST / HTTP/1.1\r\nHost: a\r\n"

static void test_H3_cl_and_te_rejected(void)
{
    static const ht_case_t t[] = {
        HT_CASE(RQ "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        HT_CASE(RQ "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", 400),
        HT_CASE(RQ "Transfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n", 400),
        HT_CASE(RQ "Content-Length: 5\r\nTransfer-Encoding: gzip\r\n\r\n", 400),
    };
    HT_RUN_TABLE(t);
}

static void test_H3_te_variants(void)
{
    static const ht_case_t t[] = {
        HT_CASE(RQ "Transfer-Encoding: chunked\r\n\r\n", HT_OK),
        HT_CASE(RQ "Transfer-Encoding: CHUNKED\r\n\r\n", HT_OK),
        HT_CASE(RQ "Transfer-Encoding:  chunked \r\n\r\n", HT_OK),
        HT_CASE(RQ "Transfer-Encoding: gzip\r\n\r\n", 501),
        HT_CASE(RQ "Transfer-Encoding: deflate\r\n\r\n", 501),
        HT_CASE(RQ "Transfer-Encoding: gzip, chunked\r\n\r\n", 501),
        HT_CASE(RQ "Transfer-Encoding: chunked, gzip\r\n\r\n", 400),
        HT_CASE(RQ "Transfer-Encoding: chunked, chunked\r\n\r\n", 400),
        HT_CASE(RQ "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        HT_CASE(RQ "Transfer-Encoding: identity\r\n\r\n", 400),
        HT_CASE(RQ "Transfer-Encoding: xchunked\r\n\r\n", 400),
        HT_CASE(RQ "Transfer-Encoding: chunkedx\r\n\r\n", 400),
        HT_CASE(RQ "Transfer-Encoding: \x0b" "chunked\r\n\r\n", 400),
        HT_CASE(RQ "Transfer-Encoding: chunked\x0b\r\n\r\n", 400),
        HT_CASE(RQ "Transfer-Encoding: \"chunked\"\r\n\r\n", 400),
        HT_CASE(RQ "Transfer-Encoding: chunked;q=1\r\n\r\n", 400),
        HT_CASE(RQ "Transfer-Encoding: chunked,\r\n\r\n", 400),
        HT_CASE(RQ "Transfer-Encoding: ,chunked\r\n\r\n", 400),
        HT_CASE(RQ "Transfer-Encoding:\r\n\r\n", 400),
        HT_CASE(RQ "Transfer-Encoding: chu nked\r\n\r\n", 400),
        HT_CASE(RQ "Transfer-Encoding : chunked\r\n\r\n", 400),
        HT_CASE(RQ " Transfer-Encoding: chunked\r\n\r\n", 400),
        HT_CASE(RQ "Transfer_Encoding: chunked\r\n\r\n", HT_OK), /* a different, harmless header */
    };
    HT_RUN_TABLE(t);
    kiln_http_req_t r;
    KT_ASSERT_EQ_INT(ht_parse(t[0].raw, t[0].len, &r), HT_OK);
    KT_ASSERT_EQ_INT(r.body_kind, KILN_BODY_CHUNKED);
    KT_ASSERT_EQ_INT(ht_parse(t[22].raw, t[22].len, &r), HT_OK);
    KT_ASSERT_EQ_INT(r.body_kind, KILN_BODY_NONE);
}

static void test_H3_te_http10_rejected(void)
{
    static const ht_case_t t[] = {
        HT_CASE("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        HT_CASE("POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        HT_CASE("POST / HTTP/1.0\r\nTransfer-Encoding: gzip\r\n\r\n", 400),
        HT_CASE("POST / HTTP/1.0\r\nContent-Length: 3\r\n\r\n", HT_OK),
    };
    HT_RUN_TABLE(t);
}

static void test_H3_duplicate_cl_rejected(void)
{
    static const ht_case_t t[] = {
        HT_CASE(RQ "Content-Length: 5\r\nContent-Length: 6\r\n\r\n", 400),
        HT_CASE(RQ "Content-Length: 5\r\nContent-Length: 5\r\n\r\n", 400), /* policy: even equal (as nginx) */
        HT_CASE(RQ "Content-Length: 5, 6\r\n\r\n", 400),
        HT_CASE(RQ "Content-Length: 5, 5\r\n\r\n", 400),
        HT_CASE(RQ "Content-Length: 5\r\ncontent-length: 5\r\n\r\n", 400),
    };
    HT_RUN_TABLE(t);
}

static void test_H3_invalid_cl_values(void)
{
    static const ht_case_t t[] = {
        HT_CASE(RQ "Content-Length: +5\r\n\r\n", 400),
        HT_CASE(RQ "Content-Length: -1\r\n\r\n", 400),
        HT_CASE(RQ "Content-Length: -0\r\n\r\n", 400),
        HT_CASE(RQ "Content-Length: 0x5\r\n\r\n", 400),
        HT_CASE(RQ "Content-Length: 0o5\r\n\r\n", 400),
        HT_CASE(RQ "Content-Length: 5_0\r\n\r\n", 400),
        HT_CASE(RQ "Content-Length: 1 0\r\n\r\n", 400),
        HT_CASE(RQ "Content-Length: \r\n\r\n", 400),
        HT_CASE(RQ "Content-Length:\r\n\r\n", 400),
        HT_CASE(RQ "Content-Length: 99999999999999999999\r\n\r\n", 400),
        HT_CASE(RQ "Content-Length: 9223372036854775808\r\n\r\n", 400), /* 2^63 */
        HT_CASE(RQ "Content-Length: 5.0\r\n\r\n", 400),
        HT_CASE(RQ "Content-Length: 5e0\r\n\r\n", 400),
        HT_CASE(RQ "Content-Length: \"5\"\r\n\r\n", 400),
        HT_CASE(RQ "Content-Length: \x0b" "5\r\n\r\n", 400),
        HT_CASE(RQ "Content-Length : 5\r\n\r\n", 400),
    };
    HT_RUN_TABLE(t);
}

static void test_H3_valid_framing(void)
{
    kiln_http_req_t r;
    static const char a[] = RQ "Content-Length: 007\r\n\r\nabcdefg";
    KT_ASSERT_EQ_INT(ht_parse(a, sizeof a - 1, &r), HT_OK);
    KT_ASSERT_EQ_INT(r.body_kind, KILN_BODY_LENGTH);
    KT_ASSERT_EQ_INT(r.content_length, 7);
    static const char b[] = RQ "Content-Length: 9223372036854775807\r\n\r\n";
    KT_ASSERT_EQ_INT(ht_parse(b, sizeof b - 1, &r), HT_OK);
    KT_ASSERT(r.content_length == (uint64_t)INT64_MAX);
    static const char c[] = RQ "Content-Length:    12   \r\n\r\n";
    KT_ASSERT_EQ_INT(ht_parse(c, sizeof c - 1, &r), HT_OK);
    KT_ASSERT_EQ_INT(r.content_length, 12);
    static const char d[] = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    KT_ASSERT_EQ_INT(ht_parse(d, sizeof d - 1, &r), HT_OK);
    KT_ASSERT_EQ_INT(r.body_kind, KILN_BODY_NONE);
    static const char e[] = RQ "Content-Length: 0\r\n\r\n";
    KT_ASSERT_EQ_INT(ht_parse(e, sizeof e - 1, &r), HT_OK);
    KT_ASSERT_EQ_INT(r.body_kind, KILN_BODY_LENGTH);
    KT_ASSERT_EQ_INT(r.content_length, 0);
    /* the returned count is the head: the body starts right after it */
    int status;
    r.headers = ht_headers;
    KT_ASSERT_EQ_INT(kiln_http_parse_request(a, sizeof a - 1, &(kiln_http_limits_t){ 8192, 16384, 100, 1, 1, 1 }, &r,
                                             &status),
                     (int)(sizeof a - 1 - 7));
}

int main(void)
{
    KT_RUN(test_H3_cl_and_te_rejected);
    KT_RUN(test_H3_te_variants);
    KT_RUN(test_H3_te_http10_rejected);
    KT_RUN(test_H3_duplicate_cl_rejected);
    KT_RUN(test_H3_invalid_cl_values);
    KT_RUN(test_H3_valid_framing);
    return kt_done();
}
