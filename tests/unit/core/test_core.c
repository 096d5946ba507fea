/* Unit tests for src/core: bounded buffers and arenas. */
#include "kiln/core.h"
#include "kiln_test.h"

static void test_buf_bounded(void)
{
    kiln_buf_t b;
    kiln_buf_init(&b, 8);
    KT_ASSERT_EQ_INT(kiln_buf_puts(&b, "12345678"), 0);
    KT_ASSERT_EQ_INT(kiln_buf_puts(&b, "9"), KILN_ETOOBIG);
    KT_ASSERT_EQ_STR(b.data, "12345678");
    kiln_buf_reset(&b);
    KT_ASSERT_EQ_INT(kiln_buf_printf(&b, "%d-%s", 42, "x"), 0);
    KT_ASSERT_EQ_STR(b.data, "42-x");
    KT_ASSERT_EQ_INT(kiln_buf_printf(&b, "%s", "toolongforit"), KILN_ETOOBIG);
    kiln_buf_free(&b);
}

static int cleanup_count;
static void bump(void *ud) { cleanup_count += *(int *)ud; }

static void test_arena(void)
{
    kiln_arena_t a;
    kiln_arena_init(&a, 256);
    char *s = kiln_arena_strndup(&a, "hello", 5);
    KT_ASSERT_EQ_STR(s, "hello");
    void *big = kiln_arena_alloc(&a, 10000); /* own block */
    KT_ASSERT(big != NULL);
    KT_ASSERT(((uintptr_t)big & 15) == 0);
    for (int i = 0; i < 100; i++) KT_ASSERT(kiln_arena_alloc(&a, 24) != NULL);
    static int one = 1, ten = 10;
    kiln_arena_on_reset(&a, bump, &one);
    kiln_arena_on_reset(&a, bump, &ten);
    kiln_arena_reset(&a);
    KT_ASSERT_EQ_INT(cleanup_count, 11);
    KT_ASSERT_EQ_STR(kiln_arena_sprintf(&a, "%s=%d", "n", 3), "n=3");
    kiln_arena_destroy(&a);
    KT_ASSERT_EQ_INT(cleanup_count, 11);
}

static void test_str(void)
{
    KT_ASSERT(kiln_str_ieq_c(KILN_STR("Content-Length"), "content-length"));
    KT_ASSERT(!kiln_str_eq_c(KILN_STR("abc"), "abcd"));
    KT_ASSERT(kiln_str_eq_c(kiln_str_c(NULL), ""));
}

int main(void)
{
    KT_RUN(test_buf_bounded);
    KT_RUN(test_arena);
    KT_RUN(test_str);
    return kt_done();
}
