/* Template golden tests: the golden templates (golden/NAME.kiln) compiled by the build (cmake/KilnTemplates.cmake)
 * render golden/page.html, by both render paths; kilnc run again here produces
 * golden/expected/templates.c and .h byte for byte; re-renders skip clean slots;
 * comprehensions share statics; and a type error in a template expression is
 * reported by the C compiler at the template's line.
 * KILN_UPDATE_GOLDEN=1 rewrites the expected files after a deliberate change. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "kiln_test.h"
#include "templates.h"

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    kiln_buf_t b;
    kiln_buf_init(&b, 1 << 24);
    char tmp[4096];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0) kiln_buf_append(&b, tmp, n);
    fclose(f);
    *len = b.len;
    return b.data ? b.data : kiln_xstrdup("");
}

static void spit(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(data, 1, len, f);
        fclose(f);
    }
}

/* Compares got with the golden file (or rewrites it under KILN_UPDATE_GOLDEN). */
static int golden_eq(const char *name, const char *got, size_t len)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", KILN_GOLDEN_DIR, name);
    if (getenv("KILN_UPDATE_GOLDEN")) spit(path, got, len);
    size_t elen;
    char *exp = slurp(path, &elen);
    int ok = exp && elen == len && memcmp(exp, got, len) == 0;
    if (!ok) fprintf(stderr, "  golden %s differs; got:\n%.*s\n", name, (int)len, got);
    free(exp);
    return ok;
}

static const item_t items[] = {
    { 1, "plain", "/items/1" },
    { 2, "<script>alert(1)</script>", "JaVaScRiPt:alert(1)" },
    { 3, "\"quotes\" & 'apostrophes' `ticks`", "https://example.com/?a=1&b=2" },
    { 4, "entity", "&#106;avascript:alert(1)" },
};

static void page_assigns(g_page_assigns_t *a)
{
    memset(a, 0, sizeof *a);
    g_page_set_title(a, "Fish & <Chips>");
    g_page_set_count(a, 4);
    g_page_set_items(a, items, KILN_ARRAY_LEN(items));
    g_page_set_note(a, "a note with \" and '");
}

static void test_html_render_matches_golden(void)
{
    g_page_assigns_t a;
    page_assigns(&a);
    kiln_tpl_out_t o;
    kiln_tpl_out_init(&o, 1 << 20);
    g_page_render_html(&o, &a);
    KT_ASSERT_EQ_INT(o.err, 0);
    int ok = golden_eq("page.html", o.buf.data, o.buf.len);
    kiln_tpl_out_free(&o);
    KT_ASSERT(ok);
}

static void test_tree_renders_the_same_bytes(void)
{
    g_page_assigns_t a;
    page_assigns(&a);
    kiln_tpl_out_t h, o;
    kiln_tpl_out_init(&h, 1 << 20);
    kiln_tpl_out_init(&o, 1 << 20);
    g_page_render_html(&h, &a);
    kiln_arena_t arena;
    kiln_arena_init(&arena, 0);
    kiln_tpl_tree_t t;
    kiln_tpl_tree_init(&t, &arena, 1);
    kiln_tpl_node_t *n = g_page_render(&t, &a);
    int rc = n ? kiln_tpl_node_html(n, &o) : -1;
    int same = h.buf.len == o.buf.len && memcmp(h.buf.data, o.buf.data, h.buf.len) == 0;
    kiln_tpl_tree_free(&t);
    kiln_arena_destroy(&arena);
    kiln_tpl_out_free(&h);
    kiln_tpl_out_free(&o);
    KT_ASSERT_EQ_INT(rc, 0);
    KT_ASSERT(same);
}

static void test_rerender_skips_clean_slots(void)
{
    g_page_assigns_t a;
    page_assigns(&a);
    a.changed_ = 0;
    g_page_set_count(&a, 5); /* only count is dirty */
    kiln_arena_t arena;
    kiln_arena_init(&arena, 0);
    kiln_tpl_tree_t t;
    kiln_tpl_tree_init(&t, &arena, 0);
    kiln_tpl_node_t *n = g_page_render(&t, &a);
    KT_ASSERT(n != NULL);
    /* slots: title, if(count), for(items), card(count, note) */
    KT_ASSERT_EQ_INT(n->block->n_dyn, 4);
    KT_ASSERT_EQ_INT(n->dyn[0].kind, KILN_TPL_UNCHANGED);
    KT_ASSERT_EQ_INT(n->dyn[1].kind, KILN_TPL_NODE);
    KT_ASSERT_EQ_INT(n->dyn[2].kind, KILN_TPL_UNCHANGED);
    KT_ASSERT_EQ_INT(n->dyn[3].kind, KILN_TPL_NODE);
    kiln_tpl_out_t o;
    kiln_tpl_out_init(&o, 1 << 20);
    KT_ASSERT_EQ_INT(kiln_tpl_node_html(n, &o), KILN_ESTATE); /* a partial tree is not a page */
    kiln_tpl_out_free(&o);
    kiln_tpl_tree_free(&t);
    kiln_arena_destroy(&arena);
}

static void test_comprehension_shares_statics(void)
{
    g_page_assigns_t a;
    page_assigns(&a);
    kiln_arena_t arena;
    kiln_arena_init(&arena, 0);
    kiln_tpl_tree_t t;
    kiln_tpl_tree_init(&t, &arena, 1);
    kiln_tpl_node_t *n = g_page_render(&t, &a);
    KT_ASSERT(n != NULL);
    const kiln_tpl_dyn_t *list = &n->dyn[2];
    KT_ASSERT_EQ_INT(list->kind, KILN_TPL_LIST);
    KT_ASSERT_EQ_INT(list->n, 4);
    for (uint32_t i = 0; i < list->n; i++) KT_ASSERT(list->u.list.items[i].block == list->u.list.block);
    KT_ASSERT_EQ_INT(list->u.list.items[1].dyn[1].kind, KILN_TPL_STR);
    KT_ASSERT_EQ_STR(list->u.list.items[1].dyn[1].u.str, " href=\"#\""); /* the javascript: URL */
    kiln_tpl_tree_free(&t);
    kiln_arena_destroy(&arena);
}

static void test_bounded_output_fails_sticky(void)
{
    g_page_assigns_t a;
    page_assigns(&a);
    kiln_tpl_out_t o;
    kiln_tpl_out_init(&o, 64);
    g_page_render_html(&o, &a);
    KT_ASSERT_EQ_INT(o.err, KILN_ETOOBIG);
    KT_ASSERT(o.buf.len <= 64);
    kiln_tpl_out_free(&o);
}

/* Runs cmd, returning its exit status; its stderr goes to err_path. */
static int run(const char *cmd)
{
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static void test_generated_c_matches_golden(void)
{
    char dir[] = "/tmp/kiln-golden-XXXXXX", cmd[2048];
    KT_ASSERT(mkdtemp(dir) != NULL);
    snprintf(cmd, sizeof cmd, "cd %s && %s -o %s -p g card.kiln page.kiln", KILN_GOLDEN_DIR, KILNC_PATH, dir);
    KT_ASSERT_EQ_INT(run(cmd), 0);
    int ok = 1;
    const char *files[] = { "templates.c", "templates.h" };
    for (size_t i = 0; i < 2; i++) {
        char p[1024], g[64];
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        snprintf(g, sizeof g, "expected/%s", files[i]);
        size_t len;
        char *got = slurp(p, &len);
        ok &= got && golden_eq(g, got, len);
        free(got);
        unlink(p);
    }
    rmdir(dir);
    KT_ASSERT(ok);
}

static void test_type_error_points_at_the_template(void)
{
    char dir[] = "/tmp/kiln-type-XXXXXX", path[256], cmd[4096];
    KT_ASSERT(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/bad.kiln", dir);
    const char *src = "@assign double *ratio\n<p>\n  {@ratio}\n</p>\n";
    spit(path, src, strlen(src));
    snprintf(cmd, sizeof cmd,
             "cd %s && %s -o . bad.kiln && %s -std=c17 -fsyntax-only -I%s -I. templates.c 2> err.txt; "
             "grep -q '^bad.kiln:3:' err.txt",
             dir, KILNC_PATH, KILN_CC, KILN_INCLUDE_DIR);
    int rc = run(cmd);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    run(cmd);
    KT_ASSERT_EQ_INT(rc, 0);
}

int main(void)
{
    kiln_log_set_level(KILN_LOG_ERROR); /* the unsafe-URL warnings are expected here */
    KT_RUN(test_html_render_matches_golden);
    KT_RUN(test_tree_renders_the_same_bytes);
    KT_RUN(test_rerender_skips_clean_slots);
    KT_RUN(test_comprehension_shares_statics);
    KT_RUN(test_bounded_output_fails_sticky);
    KT_RUN(test_generated_c_matches_golden);
    KT_RUN(test_type_error_points_at_the_template);
    return kt_done();
}
