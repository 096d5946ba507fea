/* Query strings / urlencoded bodies and Plug's nested-key rules, plus the
 * params lookups of kiln/conn.h. */
#include "kiln/params.h"
#include "kiln_test.h"

static kiln_arena_t arena;
static kiln_params_limits_t lim;

static kiln_param_t *parse(const char *s, int *rc)
{
    kiln_arena_reset(&arena);
    kiln_param_t *m = kiln_params_new_map(&arena);
    *rc = kiln_params_parse_urlencoded(&arena, kiln_str_c(s), m, &lim);
    return m;
}

static void test_flat_pairs(void)
{
    int rc;
    kiln_param_t *m = parse("a=1&b=hello+world&c=%41%62%2B&d=&e&&f=x%3Dy=z", &rc);
    KT_ASSERT_EQ_INT(rc, 0);
    KT_ASSERT_EQ_STR(kiln_param_str(m, "a"), "1");
    KT_ASSERT_EQ_STR(kiln_param_str(m, "b"), "hello world");
    KT_ASSERT_EQ_STR(kiln_param_str(m, "c"), "Ab+");
    KT_ASSERT_EQ_STR(kiln_param_str(m, "d"), "");
    KT_ASSERT_EQ_STR(kiln_param_str(m, "e"), "");
    KT_ASSERT_EQ_STR(kiln_param_str(m, "f"), "x=y=z");
    KT_ASSERT(kiln_param_get(m, "g") == NULL);
    /* insertion order */
    KT_ASSERT_EQ_STR(m->u.children->key, "a");
    KT_ASSERT_EQ_STR(m->u.children->next->key, "b");
    m = parse("caf%C3%A9=th%C3%A9&a+b=1", &rc);
    KT_ASSERT_EQ_INT(rc, 0);
    KT_ASSERT_EQ_STR(kiln_param_str(m, "caf\xc3\xa9"), "th\xc3\xa9");
    KT_ASSERT_EQ_STR(kiln_param_str(m, "a b"), "1");
    m = parse("", &rc);
    KT_ASSERT_EQ_INT(rc, 0);
    KT_ASSERT(m->u.children == NULL);
    m = parse("=x&a=1", &rc); /* an empty key is dropped */
    KT_ASSERT_EQ_INT(rc, 0);
    KT_ASSERT_EQ_STR(kiln_param_str(m, "a"), "1");
}

static void test_duplicates_overwrite(void)
{
    int rc;
    kiln_param_t *m = parse("a=1&b=2&a=3", &rc);
    KT_ASSERT_EQ_INT(rc, 0);
    KT_ASSERT_EQ_STR(kiln_param_str(m, "a"), "3");
    KT_ASSERT_EQ_STR(m->u.children->key, "a"); /* keeps its place */
}

static void test_nested_keys(void)
{
    int rc;
    kiln_param_t *m = parse("user[email]=a%40b.c&user[name]=Al&user[address][city]=Paris&tags[]=x&tags[]=y", &rc);
    KT_ASSERT_EQ_INT(rc, 0);
    KT_ASSERT_EQ_STR(kiln_param_str(kiln_param_get(m, "user"), "email"), "a@b.c");
    const kiln_param_t *city = kiln_param_path(m, "user", "address", "city", NULL);
    KT_ASSERT(city && city->kind == KILN_PARAM_STRING);
    KT_ASSERT_EQ_STR(city->u.str.ptr, "Paris");
    KT_ASSERT(kiln_param_path(m, "user", "nope", "city", NULL) == NULL);
    const kiln_param_t *tags = kiln_param_get(m, "tags");
    KT_ASSERT(tags && tags->kind == KILN_PARAM_LIST);
    KT_ASSERT_EQ_STR(tags->u.children->u.str.ptr, "x");
    KT_ASSERT(tags->u.children->key == NULL);
    KT_ASSERT_EQ_STR(tags->u.children->next->u.str.ptr, "y");
    KT_ASSERT(kiln_param_str(m, "user") == NULL); /* a map, not a string */
    /* list of maps: a repeated key starts a new map */
    m = parse("u[][n]=a&u[][k]=1&u[][n]=b", &rc);
    KT_ASSERT_EQ_INT(rc, 0);
    const kiln_param_t *u = kiln_param_get(m, "u");
    KT_ASSERT(u && u->kind == KILN_PARAM_LIST);
    KT_ASSERT_EQ_STR(kiln_param_str(u->u.children, "n"), "a");
    KT_ASSERT_EQ_STR(kiln_param_str(u->u.children, "k"), "1");
    KT_ASSERT_EQ_STR(kiln_param_str(u->u.children->next, "n"), "b");
    KT_ASSERT(u->u.children->next->next == NULL);
    /* percent-encoded brackets are brackets (Plug decodes first) */
    m = parse("a%5Bb%5D=1", &rc);
    KT_ASSERT_EQ_INT(rc, 0);
    KT_ASSERT_EQ_STR(kiln_param_str(kiln_param_get(m, "a"), "b"), "1");
}

static void test_conflicts_and_bad_keys(void)
{
    static const char *const bad[] = {
        "a=1&a[b]=2", "a[b]=2&a=1", "a[]=1&a[b]=2", "a[b]=1&a[]=2", "a[]=1&a=2", "a[b]=1&a[b][c]=2",
        "[a]=1", "a[b=1", "a]=1", "a[b]c=1", "a[[b]]=1", "a[][]=1", "%00=1", "a[%00]=1",
    };
    for (size_t i = 0; i < KILN_ARRAY_LEN(bad); i++) {
        int rc;
        parse(bad[i], &rc);
        if (rc != KILN_EINVAL) KT_FAIL_("%s: %d", bad[i], rc);
    }
}

static void test_bad_escapes_and_utf8(void)
{
    static const char *const bad[] = { "a=%", "a=%4", "a=%zz", "a=%4g", "%=1", "a=%C3", "a=%C0%AF", "a=%ED%A0%80",
                                       "a=%F4%90%80%80", "a=\xff", "\xc3=1" };
    for (size_t i = 0; i < KILN_ARRAY_LEN(bad); i++) {
        int rc;
        parse(bad[i], &rc);
        if (rc != KILN_EINVAL) KT_FAIL_("%s: %d", bad[i], rc);
    }
    int rc;
    kiln_param_t *m = parse("a=x%00y", &rc); /* NUL is valid UTF-8: kept, with its length */
    KT_ASSERT_EQ_INT(rc, 0);
    KT_ASSERT_EQ_INT(kiln_param_get(m, "a")->u.str.len, 3);
}

static void test_bounds(void)
{
    int rc;
    char buf[8192];
    size_t o = 0;
    for (int i = 0; i < 1001; i++) o += (size_t)sprintf(buf + o, "%d&", i);
    buf[o] = 0;
    parse(buf, &rc);
    KT_ASSERT_EQ_INT(rc, KILN_ETOOBIG);
    lim.max_pairs = 2000;
    parse(buf, &rc);
    KT_ASSERT_EQ_INT(rc, 0);
    kiln_params_limits_default(&lim);
    /* depth */
    o = (size_t)sprintf(buf, "a");
    for (int i = 0; i < 33; i++) o += (size_t)sprintf(buf + o, "[b]");
    sprintf(buf + o, "=1");
    parse(buf, &rc);
    KT_ASSERT_EQ_INT(rc, KILN_ETOOBIG);
    lim.max_depth = 40;
    parse(buf, &rc);
    KT_ASSERT_EQ_INT(rc, 0);
    kiln_params_limits_default(&lim);
    /* key length */
    memset(buf, 'k', 1025);
    strcpy(buf + 1025, "=1");
    parse(buf, &rc);
    KT_ASSERT_EQ_INT(rc, KILN_ETOOBIG);
    buf[1024] = '=';
    buf[1025] = 0;
    parse(buf, &rc);
    KT_ASSERT_EQ_INT(rc, 0);
}

static void test_params_put_direct(void)
{
    kiln_arena_reset(&arena);
    kiln_param_t *m = kiln_params_new_map(&arena);
    KT_ASSERT_EQ_INT(kiln_params_put(&arena, m, "id", 2, "42", 2, &lim), 0);
    KT_ASSERT_EQ_INT(kiln_params_put(&arena, m, "x[y]", 4, "v", 1, &lim), 0);
    KT_ASSERT_EQ_INT(kiln_params_put(&arena, m, "", 0, "v", 1, &lim), KILN_EINVAL);
    KT_ASSERT_EQ_STR(kiln_param_str(m, "id"), "42");
    KT_ASSERT_EQ_STR(kiln_param_str(kiln_param_get(m, "x"), "y"), "v");
    KT_ASSERT(kiln_param_get(NULL, "x") == NULL);
    KT_ASSERT(kiln_param_path(NULL, "x", NULL) == NULL);
}

static void test_cookie_lookup(void)
{
    kiln_arena_reset(&arena);
    kiln_str_t h = KILN_STR("a=1; _kiln_session=abc=; q=\"quoted\" ;sp = x ; a=2;flag");
    KT_ASSERT_EQ_STR(kiln_cookie_lookup(&arena, h, "a"), "1");
    KT_ASSERT_EQ_STR(kiln_cookie_lookup(&arena, h, "_kiln_session"), "abc=");
    KT_ASSERT_EQ_STR(kiln_cookie_lookup(&arena, h, "q"), "quoted");
    KT_ASSERT_EQ_STR(kiln_cookie_lookup(&arena, h, "sp"), "x");
    KT_ASSERT(kiln_cookie_lookup(&arena, h, "flag") == NULL);
    KT_ASSERT(kiln_cookie_lookup(&arena, h, "_kiln") == NULL);
    KT_ASSERT(kiln_cookie_lookup(&arena, KILN_STR(""), "a") == NULL);
}

int main(void)
{
    kiln_arena_init(&arena, 0);
    kiln_params_limits_default(&lim);
    KT_RUN(test_flat_pairs);
    KT_RUN(test_duplicates_overwrite);
    KT_RUN(test_nested_keys);
    KT_RUN(test_conflicts_and_bad_keys);
    KT_RUN(test_bad_escapes_and_utf8);
    KT_RUN(test_bounds);
    KT_RUN(test_params_put_direct);
    KT_RUN(test_cookie_lookup);
    kiln_arena_destroy(&arena);
    return kt_done();
}
