/* H4 (header syntax) and H5 (line endings), plus the request line, versions
 * and the connection flags. Policy for H5: a bare LF ends a line in the head
 * (RFC 9112 §2.2 MAY), a bare CR anywhere is an error. */
#include "http_test.h"

#include <stdlib.h>

#define G "GET / HTTP/1.1\r\n"

static void test_H4_obs_fold_rejected(void)
{
    static const ht_case_t t[] = {
        HT_CASE(G "Host: a\r\nX-A: b\r\n c\r\n\r\n", 400),
        HT_CASE(G "Host: a\r\nX-A: b\r\n\tc\r\n\r\n", 400),
        HT_CASE(G "Host: a\r\nX-A: b\n c\n\n", 400),
    };
    HT_RUN_TABLE(t);
}

static void test_H4_space_before_colon(void)
{
    static const ht_case_t t[] = {
        HT_CASE(G "Host : a\r\n\r\n", 400),
        HT_CASE(G "Host: a\r\nX-A : b\r\n\r\n", 400),
        HT_CASE(G "Host: a\r\nX-A\t: b\r\n\r\n", 400),
    };
    HT_RUN_TABLE(t);
}

static void test_H4_bad_names(void)
{
    static const ht_case_t t[] = {
        HT_CASE(G "Host: a\r\n: b\r\n\r\n", 400),
        HT_CASE(G "Host: a\r\nX[A]: b\r\n\r\n", 400),
        HT_CASE(G "Host: a\r\nX\x85: b\r\n\r\n", 400),
        HT_CASE(G "Host: a\r\nX\"A: b\r\n\r\n", 400),
        HT_CASE(G "Host: a\r\nX A: b\r\n\r\n", 400),
        HT_CASE(G "Host: a\r\nX-A b\r\n\r\n", 400),
        HT_CASE(G "Host: a\r\nX-A\r\n\r\n", 400),
        HT_CASE(G "Host: a\r\nX\x00: b\r\n\r\n", 400),
        HT_CASE(G "Host: a\r\nX-A_b!#$%&'*+.^`|~: b\r\n\r\n", HT_OK),
    };
    HT_RUN_TABLE(t);
}

static void test_H4_ctl_in_values(void)
{
    static const ht_case_t t[] = {
        HT_CASE(G "Host: a\r\nX: a\x00" "b\r\n\r\n", 400),
        HT_CASE(G "Host: a\r\nX: a\rb\r\n\r\n", 400),
        HT_CASE(G "Host: a\r\nX: a\x01\r\n\r\n", 400),
        HT_CASE(G "Host: a\r\nX: a\x7f\r\n\r\n", 400),
        HT_CASE(G "Host: a\r\nX: a\x1b[31m\r\n\r\n", 400),
        HT_CASE(G "Host: a\r\nX: a\tb \xff\xc3\xa9\r\n\r\n", HT_OK), /* HTAB and obs-text are fine */
    };
    HT_RUN_TABLE(t);
    kiln_http_req_t r;
    KT_ASSERT_EQ_INT(ht_parse(t[5].raw, t[5].len, &r), HT_OK);
    KT_ASSERT_EQ_SLICE(*kiln_http_req_header(&r, "x"), "a\tb \xff\xc3\xa9");
}

static void test_H4_whitespace_line_before_first_header(void)
{
    static const ht_case_t t[] = {
        HT_CASE(G " \r\nHost: a\r\n\r\n", 400),
        HT_CASE(G "\t\r\nHost: a\r\n\r\n", 400),
        HT_CASE(G " Host: a\r\n\r\n", 400),
    };
    HT_RUN_TABLE(t);
}

static void test_H4_bare_cr_rejected(void)
{
    static const ht_case_t t[] = {
        HT_CASE("GET / HTTP/1.1\rHost: a\r\n\r\n", 400),
        HT_CASE(G "Host: a\r\r\n\r\n", 400),
        HT_CASE(G "Host: a\r\n\r\r\n", 400),
        HT_CASE(G "Host: a\rX: b\r\n\r\n", 400),
        HT_CASE("\rGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        HT_CASE("GET /\r HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    };
    HT_RUN_TABLE(t);
}

static void test_H4_host_rules(void)
{
    static const ht_case_t t[] = {
        HT_CASE(G "\r\n", 400),                                   /* missing on 1.1 */
        HT_CASE(G "Host: a\r\nHost: b\r\n\r\n", 400),             /* duplicate */
        HT_CASE(G "Host: a\r\nHost: a\r\n\r\n", 400),             /* duplicate, equal */
        HT_CASE(G "Host: a\r\nhost: a\r\n\r\n", 400),
        HT_CASE(G "Host: a, b\r\n\r\n", 400),                     /* list */
        HT_CASE(G "Host: a,b\r\n\r\n", 400),
        HT_CASE(G "Host: user@a\r\n\r\n", 400),                   /* userinfo */
        HT_CASE(G "Host: a/b\r\n\r\n", 400),                      /* path */
        HT_CASE(G "Host: a?b\r\n\r\n", 400),
        HT_CASE(G "Host: a b\r\n\r\n", 400),
        HT_CASE(G "Host: \r\n\r\n", 400),                         /* empty on 1.1 */
        HT_CASE(G "Host:\r\n\r\n", 400),
        HT_CASE(G "Host: a:b\r\n\r\n", 400),                      /* bad port */
        HT_CASE(G "Host: [::1\r\n\r\n", 400),
        HT_CASE(G "Host: []\r\n\r\n", 400),
        HT_CASE(G "Host: :80\r\n\r\n", 400),
        HT_CASE(G "Host: example.com\r\n\r\n", HT_OK),
        HT_CASE(G "Host: example.com:8080\r\n\r\n", HT_OK),
        HT_CASE(G "Host: 127.0.0.1:80\r\n\r\n", HT_OK),
        HT_CASE(G "Host: [::1]:80\r\n\r\n", HT_OK),
        HT_CASE(G "Host: [2001:db8::1]\r\n\r\n", HT_OK),
        HT_CASE(G "HOST: a\r\n\r\n", HT_OK),
        HT_CASE("GET / HTTP/1.0\r\n\r\n", HT_OK),                 /* not required on 1.0 */
        HT_CASE("GET / HTTP/1.0\r\nHost: \r\n\r\n", HT_OK),
        HT_CASE("GET / HTTP/1.0\r\nHost: a@b\r\n\r\n", 400),
    };
    HT_RUN_TABLE(t);
    kiln_http_req_t r;
    KT_ASSERT_EQ_INT(ht_parse(t[17].raw, t[17].len, &r), HT_OK);
    KT_ASSERT_EQ_SLICE(r.host, "example.com:8080");
}

/* defparam/smuggler: bytes placed before, in, after and at the end of the
 * Transfer-Encoding name and value. None may be read as chunked, except
 * where the byte is legal optional whitespace around the value. */
static void test_H4_smuggler_te_mutations(void)
{
    static const unsigned char bytes[] = { 0x00, 0x01, 0x04, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d,
                                           0x1f, 0x20, 0x7f, 0xa0, 0xff };
    static const char name[] = "Transfer-Encoding", value[] = "chunked";
    for (size_t k = 0; k < sizeof bytes; k++) {
        for (int where = 0; where < 8; where++) {
            char buf[256], n[32], v[32];
            /* where: 0 before name, 1 mid name, 2 end of name, 3 after colon, 4 mid value, 5 end of value,
             * 6 value start replaced, 7 name start replaced */
            size_t nl = 0, vl = 0;
            for (size_t i = 0; i < sizeof name - 1; i++) {
                if ((where == 0 && i == 0) || (where == 1 && i == 8)) n[nl++] = (char)bytes[k];
                n[nl++] = (where == 7 && i == 0) ? (char)bytes[k] : name[i];
            }
            if (where == 2) n[nl++] = (char)bytes[k];
            for (size_t i = 0; i < sizeof value - 1; i++) {
                if ((where == 3 && i == 0) || (where == 4 && i == 3)) v[vl++] = (char)bytes[k];
                v[vl++] = (where == 6 && i == 0) ? (char)bytes[k] : value[i];
            }
            if (where == 5) v[vl++] = (char)bytes[k];
            size_t o = 0;
            o += (size_t)sprintf(buf + o, "POST / HTTP/1.1\r\nHost: a\r\n");
            memcpy(buf + o, n, nl), o += nl;
            buf[o++] = ':';
            memcpy(buf + o, v, vl), o += vl;
            o += (size_t)sprintf(buf + o, "\r\n\r\n0\r\n\r\n");
            kiln_http_req_t r;
            int got = ht_parse(buf, o, &r);
            /* OWS around the value is legal, and so is a bare LF ending the line (H5 policy) */
            int ows = ((bytes[k] == ' ' || bytes[k] == '\t') && (where == 3 || where == 5)) ||
                      (bytes[k] == '\n' && where == 5);
            if (ows) {
                if (got != HT_OK || r.body_kind != KILN_BODY_CHUNKED)
                    KT_FAIL_("byte %02x where %d: OWS must stay chunked (got %d)", bytes[k], where, got);
            } else if (got == HT_OK && r.body_kind == KILN_BODY_CHUNKED) {
                KT_FAIL_("byte %02x where %d treated as chunked", bytes[k], where);
            } else if (got != 400 && got != 501 && got != HT_OK) { /* OK: an LF ended the head early */
                KT_FAIL_("byte %02x where %d: got %d", bytes[k], where, got);
            }
        }
    }
}

static void test_H5_bare_lf_accepted_in_head(void)
{
    static const ht_case_t t[] = {
        HT_CASE("GET / HTTP/1.1\nHost: a\n\n", HT_OK),
        HT_CASE("GET / HTTP/1.1\r\nHost: a\n\r\n", HT_OK),
        HT_CASE("GET / HTTP/1.1\nHost: a\r\n\n", HT_OK),
        HT_CASE("\n\r\nGET / HTTP/1.1\nHost: a\n\n", HT_OK), /* leading empty lines are skipped */
        HT_CASE("GET / HTTP/1.1\n\rHost: a\n\n", 400),
    };
    HT_RUN_TABLE(t);
    kiln_http_req_t r;
    KT_ASSERT_EQ_INT(ht_parse(t[0].raw, t[0].len, &r), HT_OK);
    KT_ASSERT_EQ_SLICE(r.host, "a");
}

static void test_request_line(void)
{
    static const ht_case_t t[] = {
        HT_CASE("GET / HTTP/1.1\r\nHost: a\r\n\r\n", HT_OK),
        HT_CASE("PURGE /x HTTP/1.1\r\nHost: a\r\n\r\n", HT_OK),     /* token methods are allowed */
        HT_CASE("G@T / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        HT_CASE(" GET / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        HT_CASE("GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        HT_CASE("GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400),
        HT_CASE("GET /\tHTTP/1.1\r\nHost: a\r\n\r\n", 400),
        HT_CASE("GET / \r\nHost: a\r\n\r\n", 400),
        HT_CASE("GET /\r\n\r\n", 400),
        HT_CASE("GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        HT_CASE("GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        HT_CASE("GET /\x7f HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        HT_CASE("GET a HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        HT_CASE("GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        HT_CASE("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", HT_OK),
        HT_CASE("GET http://a/b HTTP/1.1\r\nHost: a\r\n\r\n", HT_OK),
        HT_CASE("CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", HT_OK),
        HT_CASE("GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", HT_OK),
        HT_CASE("GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
        HT_CASE("GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505),
        HT_CASE("GET / HTTP/0.9\r\nHost: a\r\n\r\n", 505),
        HT_CASE("GET / HTTP/1.10\r\nHost: a\r\n\r\n", 400),
        HT_CASE("GET / http/1.1\r\nHost: a\r\n\r\n", 400),
        HT_CASE("GET / HTTP/1\r\nHost: a\r\n\r\n", 400),
        HT_CASE("GET / HTTP/1.x\r\nHost: a\r\n\r\n", 400),
        HT_CASE("GET / HTTP/1.1", HT_AGAIN),
        HT_CASE("GET / HTTP/1.1\r", HT_AGAIN),
        HT_CASE("GET / HTTP/1.1\r\nHost: a\r\n", HT_AGAIN),
        HT_CASE("", HT_AGAIN),
        HT_CASE("\r\n", HT_AGAIN),
    };
    HT_RUN_TABLE(t);
}

static void test_request_fields(void)
{
    kiln_http_req_t r;
    static const char a[] = "\r\nPOST /users/42?x=1&y=%20 HTTP/1.1\r\nHost: h:1\r\nX-Empty:\r\nX-Pad:  v w \t\r\n"
                            "Content-Length: 3\r\n\r\nabc";
    KT_ASSERT_EQ_INT(ht_parse(a, sizeof a - 1, &r), HT_OK);
    KT_ASSERT_EQ_INT(r.method, KILN_METHOD_POST);
    KT_ASSERT_EQ_SLICE(r.method_str, "POST");
    KT_ASSERT_EQ_SLICE(r.target, "/users/42?x=1&y=%20");
    KT_ASSERT_EQ_SLICE(r.path, "/users/42");
    KT_ASSERT_EQ_SLICE(r.query, "x=1&y=%20");
    KT_ASSERT_EQ_INT(r.version_minor, 1);
    KT_ASSERT_EQ_INT(r.n_headers, 4);
    KT_ASSERT_EQ_SLICE(r.headers[1].name, "X-Empty");
    KT_ASSERT_EQ_SLICE(r.headers[1].value, "");
    KT_ASSERT_EQ_SLICE(*kiln_http_req_header(&r, "x-pad"), "v w");
    KT_ASSERT(kiln_http_req_header(&r, "x-none") == NULL);
    static const char b[] = "PURGE /a? HTTP/1.1\r\nHost: h\r\n\r\n";
    KT_ASSERT_EQ_INT(ht_parse(b, sizeof b - 1, &r), HT_OK);
    KT_ASSERT_EQ_INT(r.method, KILN_METHOD_OTHER);
    KT_ASSERT_EQ_SLICE(r.method_str, "PURGE");
    KT_ASSERT_EQ_SLICE(r.path, "/a");
    KT_ASSERT_EQ_SLICE(r.query, "");
}

static void test_connection_flags(void)
{
    static const struct {
        const char *raw;
        int keep_alive, expect, upgrade;
    } t[] = {
        { "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 1, 0, 0 },
        { "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 0, 0, 0 },
        { "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, CLOSE\r\n\r\n", 0, 0, 0 },
        { "GET / HTTP/1.0\r\n\r\n", 0, 0, 0 },
        { "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", 1, 0, 0 },
        { "GET / HTTP/1.0\r\nConnection: x\r\nConnection: keep-alive\r\n\r\n", 1, 0, 0 },
        { "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n", 1, 1, 0 },
        { "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue-x\r\n\r\n", 1, 0, 0 },
        { "GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", 1, 0, 1 },
        { "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n", 1, 0, 0 },
        { "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive,upgrade\r\n\r\n", 1, 0, 0 },
    };
    for (size_t i = 0; i < KILN_ARRAY_LEN(t); i++) {
        kiln_http_req_t r;
        if (ht_parse(t[i].raw, strlen(t[i].raw), &r) != HT_OK) KT_FAIL_("row %zu did not parse", i);
        if (r.keep_alive != t[i].keep_alive || r.expect_continue != t[i].expect || r.upgrade != t[i].upgrade)
            KT_FAIL_("row %zu: flags %d %d %d", i, r.keep_alive, r.expect_continue, r.upgrade);
    }
}

int main(void)
{
    KT_RUN(test_H4_obs_fold_rejected);
    KT_RUN(test_H4_space_before_colon);
    KT_RUN(test_H4_bad_names);
    KT_RUN(test_H4_ctl_in_values);
    KT_RUN(test_H4_whitespace_line_before_first_header);
    KT_RUN(test_H4_bare_cr_rejected);
    KT_RUN(test_H4_host_rules);
    KT_RUN(test_H4_smuggler_te_mutations);
    KT_RUN(test_H5_bare_lf_accepted_in_head);
    KT_RUN(test_request_line);
    KT_RUN(test_request_fields);
    KT_RUN(test_connection_flags);
    return kt_done();
}
