/* A minimal test harness for Kiln's C tests (TAP-like output, one process per
 * test file). Usage:
 *
 *   static void test_thing(void) { KT_ASSERT(1 + 1 == 2); KT_ASSERT_EQ_INT(f(), 3); }
 *   int main(void) { KT_RUN(test_thing); return kt_done(); }
 *
 * A failing assertion reports file:line and the expression, marks the current
 * test failed and returns from it. kt_done() prints "N passed, M failed". */
#ifndef KILN_TEST_H
#define KILN_TEST_H

#include <stdio.h>
#include <string.h>
#include <inttypes.h>

static int kt_passed, kt_failed, kt_current_failed;

#define KT_FAIL_(...)                                                                                                  \
    do {                                                                                                               \
        fprintf(stderr, "  FAIL %s:%d: ", __FILE__, __LINE__);                                                         \
        fprintf(stderr, __VA_ARGS__);                                                                                  \
        fputc('\n', stderr);                                                                                           \
        kt_current_failed = 1;                                                                                         \
        return;                                                                                                        \
    } while (0)

#define KT_ASSERT(cond)                                                                                                \
    do {                                                                                                               \
        if (!(cond)) KT_FAIL_("%s", #cond);                                                                            \
    } while (0)

#define KT_ASSERT_EQ_INT(a, b)                                                                                         \
    do {                                                                                                               \
        long long kt_a_ = (long long)(a), kt_b_ = (long long)(b);                                                      \
        if (kt_a_ != kt_b_) KT_FAIL_("%s == %s (%lld != %lld)", #a, #b, kt_a_, kt_b_);                                \
    } while (0)

#define KT_ASSERT_EQ_STR(a, b)                                                                                         \
    do {                                                                                                               \
        const char *kt_a_ = (a), *kt_b_ = (b);                                                                         \
        if (!kt_a_ || !kt_b_ || strcmp(kt_a_, kt_b_) != 0)                                                             \
            KT_FAIL_("%s == %s (\"%s\" != \"%s\")", #a, #b, kt_a_ ? kt_a_ : "(null)", kt_b_ ? kt_b_ : "(null)");      \
    } while (0)

/* Compares a kiln_str_t-like slice {ptr,len} with a C string. */
#define KT_ASSERT_EQ_SLICE(s, lit)                                                                                     \
    do {                                                                                                               \
        const char *kt_l_ = (lit);                                                                                     \
        if ((s).len != strlen(kt_l_) || memcmp((s).ptr, kt_l_, (s).len) != 0)                                         \
            KT_FAIL_("%s == \"%s\" (got \"%.*s\")", #s, kt_l_, (int)(s).len, (s).ptr ? (s).ptr : "");                  \
    } while (0)

#define KT_RUN(fn)                                                                                                     \
    do {                                                                                                               \
        kt_current_failed = 0;                                                                                         \
        fn();                                                                                                          \
        if (kt_current_failed) {                                                                                       \
            kt_failed++;                                                                                               \
            printf("not ok - %s\n", #fn);                                                                              \
        } else {                                                                                                       \
            kt_passed++;                                                                                               \
            printf("ok - %s\n", #fn);                                                                                  \
        }                                                                                                              \
        fflush(stdout);                                                                                                \
    } while (0)

static inline int kt_done(void)
{
    printf("%d passed, %d failed\n", kt_passed, kt_failed);
    return kt_failed ? 1 : 0;
}

#endif
