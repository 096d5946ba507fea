/* UTF-8 validation: shortest form, no surrogates, nothing above U+10FFFF. */
#include "kiln/params.h"
#include "kiln_test.h"

#define V(s) kiln_utf8_valid(s, sizeof(s) - 1)

static void test_utf8_valid(void)
{
    KT_ASSERT(V(""));
    KT_ASSERT(V("plain ascii \x7f"));
    KT_ASSERT(V("\x00"));
    KT_ASSERT(V("caf\xc3\xa9"));
    KT_ASSERT(V("\xc2\x80"));             /* U+0080 */
    KT_ASSERT(V("\xdf\xbf"));             /* U+07FF */
    KT_ASSERT(V("\xe0\xa0\x80"));         /* U+0800 */
    KT_ASSERT(V("\xed\x9f\xbf"));         /* U+D7FF */
    KT_ASSERT(V("\xee\x80\x80"));         /* U+E000 */
    KT_ASSERT(V("\xef\xbf\xbf"));         /* U+FFFF */
    KT_ASSERT(V("\xf0\x90\x80\x80"));     /* U+10000 */
    KT_ASSERT(V("\xf4\x8f\xbf\xbf"));     /* U+10FFFF */
    KT_ASSERT(V("\xf0\x9f\x94\xa5 kiln"));
}

static void test_utf8_invalid(void)
{
    KT_ASSERT(!V("\x80"));                /* lone continuation */
    KT_ASSERT(!V("\xbf"));
    KT_ASSERT(!V("\xc0\xaf"));            /* overlong '/' */
    KT_ASSERT(!V("\xc1\xbf"));
    KT_ASSERT(!V("\xe0\x80\xaf"));        /* overlong */
    KT_ASSERT(!V("\xe0\x9f\xbf"));
    KT_ASSERT(!V("\xf0\x80\x80\xaf"));    /* overlong */
    KT_ASSERT(!V("\xf0\x8f\xbf\xbf"));
    KT_ASSERT(!V("\xed\xa0\x80"));        /* U+D800 */
    KT_ASSERT(!V("\xed\xbf\xbf"));        /* U+DFFF */
    KT_ASSERT(!V("\xf4\x90\x80\x80"));    /* U+110000 */
    KT_ASSERT(!V("\xf5\x80\x80\x80"));
    KT_ASSERT(!V("\xff"));
    KT_ASSERT(!V("\xfe"));
    KT_ASSERT(!V("\xc3"));                /* truncated */
    KT_ASSERT(!V("\xe2\x82"));
    KT_ASSERT(!V("\xf0\x9f\x94"));
    KT_ASSERT(!V("\xc3\x28"));            /* bad continuation */
    KT_ASSERT(!V("\xe2\x28\xa1"));
    KT_ASSERT(!V("\xe2\x82\x28"));
    KT_ASSERT(!V("\xf0\x9f\x94\x28"));
    KT_ASSERT(!V("ok\xc3"));
}

/* Every 1- and 2-byte sequence agrees with a reference decoder. */
static void test_utf8_exhaustive_short(void)
{
    for (unsigned a = 0; a < 256; a++) {
        char s1[1] = { (char)a };
        if (kiln_utf8_valid(s1, 1) != (a < 0x80)) KT_FAIL_("byte %02x", a);
        for (unsigned b = 0; b < 256; b++) {
            char s2[2] = { (char)a, (char)b };
            int ref = (a < 0x80 && b < 0x80) || (a >= 0xc2 && a <= 0xdf && (b & 0xc0) == 0x80);
            if (kiln_utf8_valid(s2, 2) != ref) KT_FAIL_("bytes %02x %02x", a, b);
        }
    }
}

int main(void)
{
    KT_RUN(test_utf8_valid);
    KT_RUN(test_utf8_invalid);
    KT_RUN(test_utf8_exhaustive_short);
    return kt_done();
}
