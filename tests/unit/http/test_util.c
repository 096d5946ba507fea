/* HTTP helpers: the byte-class table, dates, percent-decoding, status texts,
 * methods and validators. */
#include "http/http_int.h"
#include "kiln_test.h"

#include <time.h>

static void test_ctype_table_matches_grammar(void)
{
    for (int c = 0; c < 256; c++) {
        int tchar = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    (c && c < 128 && strchr("!#$%&'*+-.^_`|~", c));
        int value = c == '\t' || c == ' ' || (c >= 0x21 && c <= 0x7e) || c >= 0x80;
        int target = (c >= 0x21 && c <= 0x7e && c != '#') || c >= 0x80;
        int hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
        int qd = c == '\t' || c == ' ' || c == 0x21 || (c >= 0x23 && c <= 0x5b) || (c >= 0x5d && c <= 0x7e) || c >= 0x80;
        if (kiln__is((unsigned char)c, KILN__CT_TCHAR) != !!tchar || kiln__is((unsigned char)c, KILN__CT_VALUE) != value ||
            kiln__is((unsigned char)c, KILN__CT_TARGET) != target || kiln__is((unsigned char)c, KILN__CT_HEX) != hex ||
            kiln__is((unsigned char)c, KILN__CT_QDTEXT) != qd)
            KT_FAIL_("byte %02x", c);
    }
}

static void test_dates(void)
{
    char out[30];
    kiln_http_date_fmt(784111777, out);
    KT_ASSERT_EQ_STR(out, "Sun, 06 Nov 1994 08:49:37 GMT");
    kiln_http_date_fmt(0, out);
    KT_ASSERT_EQ_STR(out, "Thu, 01 Jan 1970 00:00:00 GMT");
    kiln_http_date_fmt(951782400, out); /* leap day 2000 */
    KT_ASSERT_EQ_STR(out, "Tue, 29 Feb 2000 00:00:00 GMT");
    kiln_http_date_fmt(4102444799, out);
    KT_ASSERT_EQ_STR(out, "Thu, 31 Dec 2099 23:59:59 GMT");
    int64_t t;
    KT_ASSERT_EQ_INT(kiln_http_date_parse(KILN_STR("Sun, 06 Nov 1994 08:49:37 GMT"), &t), 0);
    KT_ASSERT_EQ_INT(t, 784111777);
    /* round trip over a range of times, one every ~5.8 days plus odd seconds */
    for (int64_t s = 0; s < 4102444800; s += 500009) {
        kiln_http_date_fmt(s, out);
        if (kiln_http_date_parse((kiln_str_t){ out, 29 }, &t) != 0 || t != s) KT_FAIL_("round trip %lld: %s", (long long)s, out);
        struct tm tm;
        time_t tt = (time_t)s;
        char ref[64];
        gmtime_r(&tt, &tm);
        strftime(ref, sizeof ref, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        if (strcmp(ref, out) != 0) KT_FAIL_("%s != %s", out, ref);
    }
    static const char *const bad[] = {
        "Sun, 06 Nov 1994 08:49:37 UTC", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994",
        "Sun, 31 Feb 1994 08:49:37 GMT", "Sun, 29 Feb 1900 08:49:37 GMT", "Sun, 06 Nov 1994 24:00:00 GMT",
        "Sun, 06 Xyz 1994 08:49:37 GMT", "Sun, 6 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 1994 08:49:3x GMT", "",
    };
    for (size_t i = 0; i < KILN_ARRAY_LEN(bad); i++)
        if (kiln_http_date_parse(kiln_str_c(bad[i]), &t) != KILN_EINVAL) KT_FAIL_("accepted %s", bad[i]);
    char now[29];
    kiln_http_date(now);
    KT_ASSERT(memcmp(now + 25, " GMT", 4) == 0);
    KT_ASSERT_EQ_INT(kiln_http_date_parse((kiln_str_t){ now, 29 }, &t), 0);
    int64_t wall = (int64_t)time(NULL);
    KT_ASSERT(t <= wall && t >= wall - 2);
}

static void test_url_decode(void)
{
    char out[64];
    KT_ASSERT_EQ_INT(kiln_url_decode(KILN_STR("a%20b+c%2B%2f%2F"), out, 0), 8);
    KT_ASSERT(memcmp(out, "a b+c+//", 8) == 0);
    KT_ASSERT_EQ_INT(kiln_url_decode(KILN_STR("a+b"), out, 1), 3);
    KT_ASSERT(memcmp(out, "a b", 3) == 0);
    KT_ASSERT_EQ_INT(kiln_url_decode(KILN_STR("%00"), out, 0), 1);
    KT_ASSERT_EQ_INT(out[0], 0);
    KT_ASSERT_EQ_INT(kiln_url_decode(KILN_STR(""), out, 0), 0);
    KT_ASSERT_EQ_INT(kiln_url_decode(KILN_STR("%"), out, 0), KILN_EINVAL);
    KT_ASSERT_EQ_INT(kiln_url_decode(KILN_STR("%a"), out, 0), KILN_EINVAL);
    KT_ASSERT_EQ_INT(kiln_url_decode(KILN_STR("ab%"), out, 0), KILN_EINVAL);
    KT_ASSERT_EQ_INT(kiln_url_decode(KILN_STR("%g0"), out, 0), KILN_EINVAL);
    KT_ASSERT_EQ_INT(kiln_url_decode(KILN_STR("%0g"), out, 0), KILN_EINVAL);
    KT_ASSERT_EQ_INT(kiln_url_decode(KILN_STR("%+1"), out, 1), KILN_EINVAL);
}

static void test_status_and_methods(void)
{
    KT_ASSERT_EQ_STR(kiln_http_status_text(200), "OK");
    KT_ASSERT_EQ_STR(kiln_http_status_text(404), "Not Found");
    KT_ASSERT_EQ_STR(kiln_http_status_text(431), "Request Header Fields Too Large");
    KT_ASSERT_EQ_STR(kiln_http_status_text(505), "HTTP Version Not Supported");
    KT_ASSERT_EQ_STR(kiln_http_status_text(100), "Continue");
    KT_ASSERT_EQ_STR(kiln_http_status_text(299), "Unknown");
    KT_ASSERT_EQ_STR(kiln_http_status_text(-1), "Unknown");
    for (int m = KILN_METHOD_GET; m <= KILN_METHOD_CONNECT; m++)
        KT_ASSERT_EQ_INT(kiln_http_method_from(kiln_str_c(kiln_http_method_name((kiln_method_t)m))), m);
    KT_ASSERT_EQ_INT(kiln_http_method_from(KILN_STR("get")), KILN_METHOD_OTHER); /* case-sensitive */
    KT_ASSERT_EQ_INT(kiln_http_method_from(KILN_STR("GETS")), KILN_METHOD_OTHER);
    KT_ASSERT_EQ_INT(kiln_http_method_from(KILN_STR("")), KILN_METHOD_OTHER);
    KT_ASSERT_EQ_STR(kiln_http_method_name((kiln_method_t)99), "OTHER");
}

static void test_validators(void)
{
    KT_ASSERT(kiln_http_header_value_ok(KILN_STR("text/html; charset=utf-8")));
    KT_ASSERT(kiln_http_header_value_ok(KILN_STR("")));
    KT_ASSERT(!kiln_http_header_value_ok(KILN_STR("a\r\nSet-Cookie: x")));
    KT_ASSERT(!kiln_http_header_value_ok(KILN_STR("a\nb")));
    KT_ASSERT(!kiln_http_header_value_ok((kiln_str_t){ "a\0b", 3 }));
    KT_ASSERT(kiln_http_token_ok(KILN_STR("X-Request-Id")));
    KT_ASSERT(!kiln_http_token_ok(KILN_STR("")));
    KT_ASSERT(!kiln_http_token_ok(KILN_STR("a b")));
    KT_ASSERT(!kiln_http_token_ok(KILN_STR("a:b")));
}

int main(void)
{
    KT_RUN(test_ctype_table_matches_grammar);
    KT_RUN(test_dates);
    KT_RUN(test_url_decode);
    KT_RUN(test_status_and_methods);
    KT_RUN(test_validators);
    return kt_done();
}
