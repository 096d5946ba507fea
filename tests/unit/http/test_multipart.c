/* multipart/form-data: fields, files streamed to temp files that the arena
 * removes, splits at every byte, bounds and truncation. */
#include "kiln/params.h"
#include "kiln_test.h"

#include <dirent.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static kiln_arena_t arena;
static kiln_params_limits_t lim;
static char tmpdir[64];

#define CT "multipart/form-data; boundary=XyZ"
static const char body[] = "preamble is ignored\r\n"
                           "--XyZ\r\n"
                           "Content-Disposition: form-data; name=\"user[name]\"\r\n"
                           "\r\n"
                           "Al \xc3\xa9\r\n--Xy is not a delimiter\r\n-\r\n"
                           "--XyZ\r\n"
                           "Content-Disposition: form-data; name=\"avatar\"; filename=\"me.png\"\r\n"
                           "Content-Type: image/png\r\n"
                           "\r\n"
                           "\x89PNG\r\n\x1a\n\r\n--XyY\x00\xff"
                           "\r\n--XyZ  \r\n"
                           "content-disposition: form-data; name=tags[]\r\n"
                           "\r\n"
                           "a\r\n"
                           "--XyZ\r\n"
                           "Content-Disposition: form-data; name=\"tags[]\"\r\n"
                           "\r\n"
                           "\r\n"
                           "--XyZ\r\n"
                           "Content-Disposition: form-data; name=\"empty_file\"; filename=\"\"\r\n"
                           "\r\n"
                           "\r\n"
                           "--XyZ--\r\n"
                           "epilogue too";
static const char file_bytes[] = "\x89PNG\r\n\x1a\n\r\n--XyY\x00\xff";

static int count_files(void)
{
    DIR *d = opendir(tmpdir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));) n += e->d_name[0] != '.';
    if (d) closedir(d);
    return n;
}

/* Feeds body in pieces of `step` bytes (0 = whole); returns feed/finish's result. */
static int run(const char *ct, const char *b, size_t len, size_t step, kiln_param_t **out)
{
    kiln_arena_reset(&arena);
    kiln_param_t *m = kiln_params_new_map(&arena);
    int err = 0;
    kiln_multipart_t *mp = kiln_multipart_new(&arena, kiln_str_c(ct), m, &lim, &err);
    if (!mp) return err;
    if (!step) step = len ? len : 1;
    for (size_t i = 0; i < len; i += step) {
        int rc = kiln_multipart_feed(mp, b + i, len - i < step ? len - i : step);
        if (rc < 0) return rc;
    }
    *out = m;
    return kiln_multipart_finish(mp);
}

static int check_body(const kiln_param_t *m)
{
    if (!m) return 0;
    const char *name = kiln_param_str(kiln_param_get(m, "user"), "name");
    const kiln_param_t *av = kiln_param_get(m, "avatar"), *tags = kiln_param_get(m, "tags");
    if (!name || strcmp(name, "Al \xc3\xa9\r\n--Xy is not a delimiter\r\n-") != 0) return 0;
    if (!av || av->kind != KILN_PARAM_FILE || av->u.upload.size != sizeof file_bytes - 1) return 0;
    if (strcmp(av->u.upload.filename, "me.png") != 0 || strcmp(av->u.upload.content_type, "image/png") != 0) return 0;
    if (!tags || tags->kind != KILN_PARAM_LIST || strcmp(tags->u.children->u.str.ptr, "a") != 0) return 0;
    if (!tags->u.children->next || tags->u.children->next->u.str.len != 0) return 0;
    if (kiln_param_get(m, "empty_file") != NULL) return 0;
    FILE *f = fopen(av->u.upload.path, "rb");
    char got[64];
    size_t n = f ? fread(got, 1, sizeof got, f) : 0;
    if (f) fclose(f);
    return n == sizeof file_bytes - 1 && memcmp(got, file_bytes, n) == 0;
}

static void test_multipart_fields_and_file(void)
{
    kiln_param_t *m = NULL;
    KT_ASSERT_EQ_INT(run(CT, body, sizeof body - 1, 0, &m), 0);
    KT_ASSERT(check_body(m));
    const kiln_param_t *av = kiln_param_get(m, "avatar");
    char path[256];
    snprintf(path, sizeof path, "%s", av->u.upload.path);
    KT_ASSERT(strncmp(path, tmpdir, strlen(tmpdir)) == 0);
    KT_ASSERT_EQ_INT(access(path, F_OK), 0);
    kiln_arena_reset(&arena); /* the request ends: the temp file goes */
    KT_ASSERT(access(path, F_OK) != 0);
    KT_ASSERT_EQ_INT(count_files(), 0);
}

static void test_multipart_split_every_byte(void)
{
    for (size_t step = 1; step <= 9; step++) {
        kiln_param_t *m = NULL;
        int rc = run(CT, body, sizeof body - 1, step, &m);
        if (rc != 0 || !check_body(m)) KT_FAIL_("step %zu: rc %d", step, rc);
    }
    /* and two pieces split at every position */
    for (size_t cut = 0; cut <= sizeof body - 1; cut++) {
        kiln_arena_reset(&arena);
        kiln_param_t *m = kiln_params_new_map(&arena);
        int err;
        kiln_multipart_t *mp = kiln_multipart_new(&arena, kiln_str_c(CT), m, &lim, &err);
        KT_ASSERT(mp != NULL);
        int rc = kiln_multipart_feed(mp, body, cut);
        if (rc == 0) rc = kiln_multipart_feed(mp, body + cut, sizeof body - 1 - cut);
        if (rc == 0) rc = kiln_multipart_finish(mp);
        if (rc != 0 || !check_body(m)) KT_FAIL_("cut %zu: rc %d", cut, rc);
    }
    kiln_arena_reset(&arena);
    KT_ASSERT_EQ_INT(count_files(), 0);
}

static void test_multipart_boundary_forms(void)
{
    kiln_param_t *m;
    static const char b1[] = "--a b\r\nContent-Disposition: form-data; name=x\r\n\r\n1\r\n--a b--";
    KT_ASSERT_EQ_INT(run("multipart/form-data; charset=utf-8; boundary=\"a b\"", b1, sizeof b1 - 1, 0, &m), 0);
    KT_ASSERT_EQ_STR(kiln_param_str(m, "x"), "1");
    static const char *const bad_ct[] = { "text/plain; boundary=x", "multipart/form-data", "multipart/form-data; boundary=",
                                          "multipart/form-data; boundary=\"x", "multipart/form-data; boundary=a\x01" };
    for (size_t i = 0; i < KILN_ARRAY_LEN(bad_ct); i++) {
        int err = 0;
        kiln_arena_reset(&arena);
        if (kiln_multipart_new(&arena, kiln_str_c(bad_ct[i]), kiln_params_new_map(&arena), &lim, &err) || err != KILN_EINVAL)
            KT_FAIL_("content type %zu accepted", i);
    }
}

static void test_multipart_truncated_and_malformed(void)
{
    kiln_param_t *m;
    size_t cut = (size_t)((const char *)memmem(body, sizeof body - 1, "--XyZ--", 7) - body);
    KT_ASSERT_EQ_INT(run(CT, body, cut, 0, &m), KILN_EINVAL); /* no closing delimiter */
    KT_ASSERT_EQ_INT(run(CT, body, 40, 0, &m), KILN_EINVAL);
    KT_ASSERT_EQ_INT(run(CT, "", 0, 0, &m), KILN_EINVAL);
    static const char *const bad[] = {
        "--XyZ\r\n\r\nv\r\n--XyZ--",                                                /* no disposition */
        "--XyZ\r\nContent-Disposition: attachment; name=x\r\n\r\nv\r\n--XyZ--",     /* not form-data */
        "--XyZ\r\nContent-Disposition: form-data\r\n\r\nv\r\n--XyZ--",              /* no name */
        "--XyZ\r\nContent-Disposition: form-data; name=\"x\r\n\r\nv\r\n--XyZ--",     /* unterminated quote */
        "--XyZ\r\nContent-Disposition: form-data; name=x\nX: y\r\n\r\nv\r\n--XyZ--", /* bare LF */
        "--XyZ\r\nBad Header: y\r\nContent-Disposition: form-data; name=x\r\n\r\nv\r\n--XyZ--",
        "--XyZ\r\nContent-Disposition: form-data; name=x\r\n\r\n\xff\r\n--XyZ--",    /* invalid UTF-8 field */
        "--XyZ\r\nContent-Disposition: form-data; name=\"\xc3\"\r\n\r\nv\r\n--XyZ--",
        ("--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n"
         "--XyZ\r\nContent-Disposition: form-data; name=a[b]\r\n\r\n2\r\n--XyZ--\r\n"), /* key conflict */
        "--XyZx\r\n",                                                               /* junk after the boundary */
    };
    for (size_t i = 0; i < KILN_ARRAY_LEN(bad); i++)
        if (run(CT, bad[i], strlen(bad[i]), 0, &m) != KILN_EINVAL) KT_FAIL_("case %zu accepted", i);
    kiln_arena_reset(&arena);
    KT_ASSERT_EQ_INT(count_files(), 0);
}

static void test_multipart_bounds(void)
{
    kiln_param_t *m;
    size_t n = 3000;
    char *b = malloc(n + 256);
    size_t o = (size_t)sprintf(b, "--XyZ\r\nContent-Disposition: form-data; name=f\r\n\r\n");
    memset(b + o, 'v', 2000);
    o += 2000;
    o += (size_t)sprintf(b + o, "\r\n--XyZ--");
    lim.max_field = 1999;
    KT_ASSERT_EQ_INT(run(CT, b, o, 7, &m), KILN_ETOOBIG);
    lim.max_field = 2000;
    KT_ASSERT_EQ_INT(run(CT, b, o, 7, &m), 0);
    o = (size_t)sprintf(b, "--XyZ\r\nContent-Disposition: form-data; name=f; filename=a.bin\r\n\r\n");
    memset(b + o, 'v', 2000);
    o += 2000;
    o += (size_t)sprintf(b + o, "\r\n--XyZ--");
    lim.max_file = 1000;
    KT_ASSERT_EQ_INT(run(CT, b, o, 0, &m), KILN_ETOOBIG);
    kiln_arena_reset(&arena);
    KT_ASSERT_EQ_INT(count_files(), 0); /* the partial upload is removed too */
    lim.max_file = 2000;
    KT_ASSERT_EQ_INT(run(CT, b, o, 0, &m), 0);
    KT_ASSERT_EQ_INT(kiln_param_get(m, "f")->u.upload.size, 2000);
    kiln_params_limits_default(&lim);
    lim.tmp_dir = tmpdir;
    lim.max_pairs = 2;
    static const char three[] = "--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n"
                                "--XyZ\r\nContent-Disposition: form-data; name=b\r\n\r\n2\r\n"
                                "--XyZ\r\nContent-Disposition: form-data; name=c\r\n\r\n3\r\n--XyZ--";
    KT_ASSERT_EQ_INT(run(CT, three, sizeof three - 1, 0, &m), KILN_ETOOBIG);
    lim.max_pairs = 1000;
    lim.tmp_dir = "/nonexistent-kiln-dir";
    int rc = run(CT, body, sizeof body - 1, 0, &m);
    lim.tmp_dir = tmpdir;
    free(b);
    KT_ASSERT_EQ_INT(rc, KILN_EIO);
    kiln_arena_reset(&arena);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/kiln-mp-XXXXXX");
    if (!mkdtemp(tmpdir)) return 1;
    kiln_arena_init(&arena, 0);
    kiln_params_limits_default(&lim);
    lim.tmp_dir = tmpdir;
    KT_RUN(test_multipart_fields_and_file);
    KT_RUN(test_multipart_split_every_byte);
    KT_RUN(test_multipart_boundary_forms);
    KT_RUN(test_multipart_truncated_and_malformed);
    KT_RUN(test_multipart_bounds);
    kiln_arena_destroy(&arena);
    rmdir(tmpdir);
    return kt_done();
}
