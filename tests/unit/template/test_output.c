/* Template output: escaping for text and attributes, the typed writers, raw,
 * and the URL allow list against javascript: in its disguises. */
#include <stdlib.h>
#include <unistd.h>

#include "kiln_test.h"
#include "kiln/template.h"

static kiln_tpl_out_t o;

static const char *text(void)
{
    kiln_tpl_put(&o, "", 0);
    kiln_buf_append(&o.buf, "", 0); /* NUL-terminate for the comparisons */
    return o.buf.data;
}

static void test_escape_text_and_attributes(void)
{
    kiln_tpl_out_reset(&o);
    KILN_TPL_TEXT(&o, "<script>\"x\" & 'y' `z`</script>");
    KT_ASSERT_EQ_STR(text(), "&lt;script&gt;&quot;x&quot; &amp; 'y' `z`&lt;/script&gt;");
    kiln_tpl_out_reset(&o);
    KILN_TPL_ATTR(&o, " title=\"", 0, "\" onmouseover=\"alert(1)' `x`");
    KT_ASSERT_EQ_STR(text(), " title=\"&quot; onmouseover=&quot;alert(1)&#39; &#96;x&#96;\"");
}

static void test_typed_writers(void)
{
    kiln_tpl_out_reset(&o);
    const char *null = NULL;
    KILN_TPL_TEXT(&o, -42);
    KILN_TPL_TEXT(&o, (size_t)7);
    KILN_TPL_TEXT(&o, (long long)-9223372036854775807LL - 1);
    KILN_TPL_TEXT(&o, null);
    KILN_TPL_TEXT(&o, (bool)1);
    KILN_TPL_TEXT(&o, kiln_raw("<b>ok</b>"));
    KT_ASSERT_EQ_STR(text(), "-427-9223372036854775808true<b>ok</b>");
    kiln_tpl_out_reset(&o);
    KILN_TPL_ATTR(&o, " disabled=\"", 0, (bool)1);
    KILN_TPL_ATTR(&o, " hidden=\"", 0, (bool)0);
    KILN_TPL_ATTR(&o, " title=\"", 0, null);
    KILN_TPL_ATTR(&o, " value=\"", 0, 12);
    KT_ASSERT_EQ_STR(text(), " disabled value=\"12\"");
}

static void test_url_allow_list(void)
{
    static const char *const safe[] = {
        "/a/b", "a/b", "?q=1", "#top", "//example.com/x", "http://x", "HTTPS://x", "mailto:a@b", "", "page.html",
    };
    static const char *const unsafe[] = {
        "javascript:alert(1)", "JaVaScRiPt:alert(1)", " javascript:alert(1)", "\x01\x02javascript:alert(1)",
        "java\tscript:alert(1)", "java\nscript:alert(1)", "&#106;avascript:alert(1)", "&#x6A;avascript:alert(1)",
        "&#0000106avascript:alert(1)", "javascript&colon;alert(1)", "data:text/html,<script>", "vbscript:msgbox",
        "JAVASCRIPT&#58;alert(1)", "\x20\x0cjavascript:alert(1)", "jav&Tab;ascript:alert(1)",
    };
    for (size_t i = 0; i < KILN_ARRAY_LEN(safe); i++)
        if (!kiln_tpl_url_safe(safe[i], strlen(safe[i]))) KT_FAIL_("refused a safe URL \"%s\"", safe[i]);
    for (size_t i = 0; i < KILN_ARRAY_LEN(unsafe); i++)
        if (kiln_tpl_url_safe(unsafe[i], strlen(unsafe[i]))) KT_FAIL_("allowed an unsafe URL (case %zu)", i);
    kiln_tpl_out_reset(&o);
    KILN_TPL_ATTR(&o, " href=\"", 1, "javascript:alert(1)");
    KT_ASSERT_EQ_STR(text(), " href=\"#\"");
}

static void test_static_path_through_the_manifest(void)
{
    char path[] = "/tmp/kiln-manifest-XXXXXX";
    int fd = mkstemp(path);
    KT_ASSERT(fd >= 0);
    const char m[] = "/app.css /app-0123456789abcdef0123456789abcdef.css\n";
    KT_ASSERT(write(fd, m, sizeof m - 1) == (ssize_t)(sizeof m - 1));
    close(fd);
    KT_ASSERT_EQ_INT(kiln_static_manifest_load(path), 0);
    unlink(path);
    KT_ASSERT_EQ_STR(kiln_static_path("/app.css"), "/app-0123456789abcdef0123456789abcdef.css");
    KT_ASSERT_EQ_STR(kiln_static_path("/other.js"), "/other.js");
}

int main(void)
{
    kiln_log_set_level(KILN_LOG_ERROR);
    kiln_tpl_out_init(&o, 1 << 16);
    KT_RUN(test_escape_text_and_attributes);
    KT_RUN(test_typed_writers);
    KT_RUN(test_url_allow_list);
    KT_RUN(test_static_path_through_the_manifest);
    kiln_tpl_out_free(&o);
    return kt_done();
}
