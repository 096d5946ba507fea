/* Session sealing: a sealed cookie opens to its plaintext; a tampered,
 * truncated, expired, future-dated, re-keyed or renamed one does not. */
#include "kiln_test.h"
#include "kiln/browser.h"

static const kiln_session_opts_t opts = {
    .key = "_t", .secret_key_base = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", .max_age = 100,
};
static kiln_arena_t arena;

static const char *roundtrip(const kiln_session_opts_t *seal, const kiln_session_opts_t *open, const char *cookie,
                             int64_t now)
{
    size_t len;
    (void)seal;
    return kiln_session_open(&arena, open, cookie, now, &len);
}

static void test_seal_then_open(void)
{
    const char *c = kiln_session_seal(&arena, &opts, "a=1&b=2", 7, 1000);
    KT_ASSERT(c != NULL);
    KT_ASSERT_EQ_STR(roundtrip(&opts, &opts, c, 1050), "a=1&b=2");
}

static void test_tampered_truncated_expired(void)
{
    const char *c = kiln_session_seal(&arena, &opts, "a=1", 3, 1000);
    KT_ASSERT(c != NULL);
    char *t = kiln_arena_strndup(&arena, c, strlen(c));
    t[10] = t[10] == 'A' ? 'B' : 'A';
    KT_ASSERT(roundtrip(&opts, &opts, t, 1000) == NULL);
    char *tr = kiln_arena_strndup(&arena, c, strlen(c) - 4);
    KT_ASSERT(roundtrip(&opts, &opts, tr, 1000) == NULL);
    KT_ASSERT(roundtrip(&opts, &opts, "", 1000) == NULL);
    KT_ASSERT(roundtrip(&opts, &opts, "!!!not base64!!!", 1000) == NULL);
    KT_ASSERT(roundtrip(&opts, &opts, c, 1000 + 101) == NULL); /* expired */
    KT_ASSERT(roundtrip(&opts, &opts, c, 1000 - 61) == NULL);  /* issued in the future */
    kiln_session_opts_t other = opts;
    other.secret_key_base = "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";
    KT_ASSERT(roundtrip(&opts, &other, c, 1000) == NULL);
    kiln_session_opts_t renamed = opts;
    renamed.key = "_other";
    KT_ASSERT(roundtrip(&opts, &renamed, c, 1000) == NULL);
}

static void test_short_secret_refused(void)
{
    kiln_session_opts_t weak = opts;
    weak.secret_key_base = "short";
    KT_ASSERT(kiln_session_seal(&arena, &weak, "a=1", 3, 1000) == NULL);
}

int main(void)
{
    kiln_arena_init(&arena, 0);
    KT_RUN(test_seal_then_open);
    KT_RUN(test_tampered_truncated_expired);
    KT_RUN(test_short_secret_refused);
    kiln_arena_destroy(&arena);
    return kt_done();
}
