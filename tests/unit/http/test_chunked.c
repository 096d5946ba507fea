/* H6: the chunked decoder. Sizes are plain hex, extensions are strict and
 * capped, framing needs CRLF (H5: a bare LF or CR in chunk framing is 400),
 * trailers are validated, capped and dropped. */
#include "kiln/http.h"
#include "kiln_test.h"

#include <stdlib.h>

typedef struct ck_case {
    const char *raw;
    size_t len;
    int expect;        /* 1 done, 0 needs more, or the status */
    const char *body;  /* decoded body when expect is 1 */
} ck_case_t;
#define CK(s, e, b) { (s), sizeof(s) - 1, (e), (b) }

/* Decodes raw in one call; returns 1/0 or the status, the body in out. */
static int ck_decode(const char *raw, size_t len, char *out, size_t *out_len, size_t *used,
                     const kiln_http_limits_t *l)
{
    kiln_chunked_t c;
    kiln_chunked_init(&c);
    int status = 0;
    *used = len;
    int rc = kiln_chunked_decode(&c, raw, used, out, out_len, l, &status);
    return rc < 0 ? status : rc;
}

static void run_table(const ck_case_t *t, size_t n)
{
    kiln_http_limits_t l;
    kiln_http_limits_default(&l);
    for (size_t i = 0; i < n; i++) {
        char out[512];
        size_t out_len = 0, used = 0;
        int got = ck_decode(t[i].raw, t[i].len, out, &out_len, &used, &l);
        if (got != t[i].expect) {
            fprintf(stderr, "  row %zu: expected %d got %d: %.*s\n", i, t[i].expect, got, (int)t[i].len, t[i].raw);
            kt_current_failed = 1;
            continue;
        }
        if (got == 1 && (out_len != strlen(t[i].body) || memcmp(out, t[i].body, out_len) != 0 || used != t[i].len)) {
            fprintf(stderr, "  row %zu: body \"%.*s\" used %zu\n", i, (int)out_len, out, used);
            kt_current_failed = 1;
        }
    }
}

static void test_H6_valid_bodies(void)
{
    static const ck_case_t t[] = {
        CK("0\r\n\r\n", 1, ""),
        CK("5\r\nhello\r\n0\r\n\r\n", 1, "hello"),
        CK("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", 1, "hello world"),
        CK("A\r\n0123456789\r\n0\r\n\r\n", 1, "0123456789"),
        CK("a\r\n0123456789\r\n00\r\n\r\n", 1, "0123456789"),
        CK("005\r\nhello\r\n0\r\n\r\n", 1, "hello"),
        CK("5;ext\r\nhello\r\n0;last=1\r\n\r\n", 1, "hello"),
        CK("5;a=b;c=\"d \\\" e\"\r\nhello\r\n0\r\n\r\n", 1, "hello"),
        CK("5\r\nhello\r\n0\r\nX-Trailer: v\r\nContent-Length: 99\r\n\r\n", 1, "hello"),
        CK("5\r\nhel", 0, NULL),
        CK("5\r\nhello\r\n0\r\n", 0, NULL),
    };
    run_table(t, KILN_ARRAY_LEN(t));
}

static void test_H6_bad_sizes(void)
{
    static const ck_case_t t[] = {
        CK(" 5\r\nhello\r\n0\r\n\r\n", 400, NULL),
        CK("5 \r\nhello\r\n0\r\n\r\n", 400, NULL),
        CK("0x5\r\nhello\r\n0\r\n\r\n", 400, NULL),
        CK("5_0\r\nhello\r\n0\r\n\r\n", 400, NULL),
        CK("-5\r\nhello\r\n0\r\n\r\n", 400, NULL),
        CK("+5\r\nhello\r\n0\r\n\r\n", 400, NULL),
        CK("g\r\n", 400, NULL),
        CK("\r\n", 400, NULL),
        CK("8000000000000000\r\n", 400, NULL),      /* 2^63 */
        CK("FFFFFFFFFFFFFFFFF\r\n", 400, NULL),     /* > 64 bits */
        CK("00000000000000001\r\n", 400, NULL),     /* more than 16 digits */
        CK("7fffffffffffffff\r\n", 0, NULL),        /* 2^63-1 is a legal size */
    };
    run_table(t, KILN_ARRAY_LEN(t));
}

static void test_H6_extensions(void)
{
    static const ck_case_t t[] = {
        CK("5;\r\nhello\r\n0\r\n\r\n", 400, NULL),
        CK("5;;a\r\nhello\r\n0\r\n\r\n", 400, NULL),
        CK("5; a\r\nhello\r\n0\r\n\r\n", 400, NULL),
        CK("5 ;a\r\nhello\r\n0\r\n\r\n", 400, NULL),
        CK("5;a=\r\nhello\r\n0\r\n\r\n", 400, NULL),
        CK("5;a\x01\r\nhello\r\n0\r\n\r\n", 400, NULL),
        CK("5;a=b\x7f\r\nhello\r\n0\r\n\r\n", 400, NULL),
        CK("5;a=\"b\x01\"\r\nhello\r\n0\r\n\r\n", 400, NULL),
        CK("5;a=\"b\"c\r\nhello\r\n0\r\n\r\n", 400, NULL),
        CK("5;a=\"b\r\nhello\r\n0\r\n\r\n", 400, NULL),
        CK("5;a=b=c\r\nhello\r\n0\r\n\r\n", 400, NULL),
    };
    run_table(t, KILN_ARRAY_LEN(t));
}

static void test_H6_extension_cap(void)
{
    kiln_http_limits_t l;
    kiln_http_limits_default(&l);
    /* 4096 bytes in total across all chunks: many small extensions add up */
    char *buf = malloc(20000);
    size_t o = 0;
    for (int i = 0; i < 500; i++) o += (size_t)sprintf(buf + o, "1;abcdefgh\r\nx\r\n");
    o += (size_t)sprintf(buf + o, "0\r\n\r\n");
    char *out = malloc(o);
    size_t out_len, used;
    KT_ASSERT_EQ_INT(ck_decode(buf, o, out, &out_len, &used, &l), 400);
    l.max_chunk_ext = 100000;
    KT_ASSERT_EQ_INT(ck_decode(buf, o, out, &out_len, &used, &l), 1);
    KT_ASSERT_EQ_INT(out_len, 500);
    free(buf);
    free(out);
}

static void test_H6_framing_crlf(void)
{
    static const ck_case_t t[] = {
        CK("5\nhello\r\n0\r\n\r\n", 400, NULL),       /* bare LF after size */
        CK("5\rhello\r\n0\r\n\r\n", 400, NULL),       /* bare CR after size */
        CK("5\r\nhello\n0\r\n\r\n", 400, NULL),       /* bare LF after data */
        CK("5\r\nhello\r0\r\n\r\n", 400, NULL),
        CK("5\r\nhello0\r\n\r\n", 400, NULL),         /* missing CRLF after data */
        CK("5\r\nhelloworld\r\n0\r\n\r\n", 400, NULL), /* more data than declared */
        CK("3\r\nhello\r\n0\r\n\r\n", 400, NULL),
        CK("5\r\nhello\r\n0\r\n\n", 400, NULL),       /* bare LF ending the trailers */
        CK("5\r\nhello\r\n0\n\r\n", 400, NULL),
    };
    run_table(t, KILN_ARRAY_LEN(t));
}

static void test_H6_trailers(void)
{
    static const ck_case_t t[] = {
        CK("0\r\nX: a\r\n\r\n", 1, ""),
        CK("0\r\nX: a\r\n b\r\n\r\n", 400, NULL),   /* obs-fold */
        CK("0\r\nX : a\r\n\r\n", 400, NULL),
        CK("0\r\n: a\r\n\r\n", 400, NULL),
        CK("0\r\nX: a\x00\r\n\r\n", 400, NULL),
        CK("0\r\nX: a\nY: b\r\n\r\n", 400, NULL),
        CK("0\r\nX\r\n\r\n", 400, NULL),
        CK("0\r\n\x01X: a\r\n\r\n", 400, NULL),
    };
    run_table(t, KILN_ARRAY_LEN(t));
    /* trailers are capped at max_trailer_bytes → 431 */
    kiln_http_limits_t l;
    kiln_http_limits_default(&l);
    char buf[8192];
    size_t o = (size_t)sprintf(buf, "0\r\nX-Big: ");
    memset(buf + o, 'a', 5000);
    o += 5000;
    o += (size_t)sprintf(buf + o, "\r\n\r\n");
    char out[16];
    size_t out_len, used;
    KT_ASSERT_EQ_INT(ck_decode(buf, o, out, &out_len, &used, &l), 431);
}

static void test_H6_pipelined_and_in_place(void)
{
    kiln_http_limits_t l;
    kiln_http_limits_default(&l);
    char buf[] = "3\r\nabc\r\n2;x=y\r\nde\r\n0\r\nT: 1\r\n\r\nGET / HTTP/1.1\r\n";
    kiln_chunked_t c;
    kiln_chunked_init(&c);
    size_t used = sizeof buf - 1, out_len = 0;
    int status = 0;
    KT_ASSERT_EQ_INT(kiln_chunked_decode(&c, buf, &used, buf, &out_len, &l, &status), 1); /* dst == src */
    KT_ASSERT_EQ_INT(out_len, 5);
    KT_ASSERT(memcmp(buf, "abcde", 5) == 0);
    KT_ASSERT_EQ_INT(used, sizeof buf - 1 - strlen("GET / HTTP/1.1\r\n"));
    /* done is sticky and consumes nothing more */
    used = 4;
    KT_ASSERT_EQ_INT(kiln_chunked_decode(&c, "GET ", &used, buf, &out_len, &l, &status), 1);
    KT_ASSERT_EQ_INT(used, 0);
    /* an error is sticky too */
    kiln_chunked_init(&c);
    used = 3;
    KT_ASSERT_EQ_INT(kiln_chunked_decode(&c, "x\r\n", &used, buf, &out_len, &l, &status), KILN_EINVAL);
    KT_ASSERT_EQ_INT(status, 400);
    used = 5;
    status = 0;
    KT_ASSERT_EQ_INT(kiln_chunked_decode(&c, "0\r\n\r\n", &used, buf, &out_len, &l, &status), KILN_EINVAL);
    KT_ASSERT_EQ_INT(status, 400);
}

int main(void)
{
    KT_RUN(test_H6_valid_bodies);
    KT_RUN(test_H6_bad_sizes);
    KT_RUN(test_H6_extensions);
    KT_RUN(test_H6_extension_cap);
    KT_RUN(test_H6_framing_crlf);
    KT_RUN(test_H6_trailers);
    KT_RUN(test_H6_pipelined_and_in_place);
    return kt_done();
}
