/* tools/kiln-digest, run as the build runs it (KILN_DIGEST_PATH, set by
 * cmake/KilnAssets.cmake) on a scratch static directory: fingerprints are the
 * md5 of the content (so stable across machines), .gz and .br decode to the
 * original with zlib and libbrotlidec, the manifest maps logical to
 * fingerprinted names (through kiln_static_manifest_load too), a rebuild
 * rewrites nothing, and a changed file gets a new name. */
#include <brotli/decode.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "kiln/core.h"
#include "kiln/template.h"
#include "kiln_test.h"

#define CSS_MD5 "98ad6b092ac5d6661305574326ee9660" /* md5 of css_source() */
#define ROBOTS_MD5 "6978a616c585d03cb5b542a891995efb"
#define LICENSE_MD5 "477dfa54ede28e2f361e7db05941d7a7"

static char dir[64];
static char css[4096];

static const char *at(const char *rel)
{
    static char p[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", dir, rel);
    return p[k];
}

static void put(const char *rel, const void *data, size_t n)
{
    FILE *f = fopen(at(rel), "wb");
    if (!f) return;
    fwrite(data, 1, n, f);
    fclose(f);
}

/* The file's bytes (malloc'd, NUL-terminated) and length; NULL if absent. */
static char *get(const char *rel, size_t *n)
{
    FILE *f = fopen(at(rel), "rb");
    if (!f) return NULL;
    kiln_buf_t b;
    kiln_buf_init(&b, 1 << 24);
    char chunk[4096];
    size_t r;
    while ((r = fread(chunk, 1, sizeof chunk, f)) > 0) kiln_buf_append(&b, chunk, r);
    fclose(f);
    *n = b.len;
    return b.data ? b.data : kiln_xstrdup("");
}

static int exists(const char *rel)
{
    struct stat st;
    return stat(at(rel), &st) == 0;
}

static int digest(void)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s %s > %s.log 2>&1", KILN_DIGEST_PATH, dir, dir);
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static int gunzip_equals(const char *rel, const char *want, size_t want_len)
{
    size_t n;
    char *z = get(rel, &n);
    if (!z) return 0;
    char *out = kiln_xmalloc(want_len + 64);
    z_stream s = { 0 };
    inflateInit2(&s, 15 + 16);
    s.next_in = (Bytef *)z;
    s.avail_in = (uInt)n;
    s.next_out = (Bytef *)out;
    s.avail_out = (uInt)(want_len + 64);
    int ok = inflate(&s, Z_FINISH) == Z_STREAM_END && s.total_out == want_len && !memcmp(out, want, want_len);
    inflateEnd(&s);
    free(out);
    free(z);
    return ok;
}

static int unbrotli_equals(const char *rel, const char *want, size_t want_len)
{
    size_t n;
    char *z = get(rel, &n);
    if (!z) return 0;
    size_t out_len = want_len + 64;
    uint8_t *out = kiln_xmalloc(out_len);
    int ok = BrotliDecoderDecompress(n, (const uint8_t *)z, &out_len, out) == BROTLI_DECODER_RESULT_SUCCESS &&
             out_len == want_len && !memcmp(out, want, want_len);
    free(out);
    free(z);
    return ok;
}

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/kiln-digest-XXXXXX");
    if (!mkdtemp(dir)) abort();
    mkdir(at("assets"), 0755);
    mkdir(at("images"), 0755);
    size_t n = 0;
    for (int i = 0; i < 64; i++) n += (size_t)snprintf(css + n, sizeof css - n, ".c%d{color:#%06x;margin:%dpx}\n", i, i * 4099, i);
    put("assets/app.css", css, strlen(css));
    put("robots.txt", "User-agent: *\n", 14);
    put("LICENSE", "MIT\n", 4);
    put(".hidden", "x", 1);
    static const unsigned char png[] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13 };
    put("images/logo.png", png, sizeof png);
}

static void test_fingerprinted_copies(void)
{
    KT_ASSERT_EQ_INT(digest(), 0);
    size_t n;
    char *copy = get("assets/app-" CSS_MD5 ".css", &n);
    KT_ASSERT(copy != NULL);
    int same = n == strlen(css) && memcmp(copy, css, n) == 0;
    free(copy);
    KT_ASSERT(same);
    KT_ASSERT(exists("robots-" ROBOTS_MD5 ".txt"));
    KT_ASSERT(exists("LICENSE-" LICENSE_MD5));
    KT_ASSERT(exists("assets/app.css")); /* the plain name stays */
    KT_ASSERT(!exists(".hidden-9dd4e461268c8034f5c8564e155c67a6"));
}

static void test_compressed_versions_decode_to_the_original(void)
{
    size_t len = strlen(css);
    KT_ASSERT(gunzip_equals("assets/app-" CSS_MD5 ".css.gz", css, len));
    KT_ASSERT(unbrotli_equals("assets/app-" CSS_MD5 ".css.br", css, len));
    KT_ASSERT(gunzip_equals("assets/app.css.gz", css, len));
    KT_ASSERT(unbrotli_equals("assets/app.css.br", css, len));
    /* not worth it (14 bytes) or not text: no compressed sibling */
    KT_ASSERT(!exists("robots.txt.gz") && !exists("robots-" ROBOTS_MD5 ".txt.gz"));
    KT_ASSERT(!exists("images/logo.png.gz") && !exists("images/logo.png.br"));
}

static void test_manifest(void)
{
    json_error_t err;
    json_t *m = json_load_file(at("cache_manifest.json"), 0, &err);
    KT_ASSERT(m != NULL);
    json_t *latest = json_object_get(m, "latest");
    json_t *entry = json_object_get(json_object_get(m, "digests"), "assets/app-" CSS_MD5 ".css");
    const char *logo = json_string_value(json_object_get(latest, "images/logo.png"));
    int ok = json_object_size(latest) == 4 &&
             !strcmp(json_string_value(json_object_get(latest, "assets/app.css")), "assets/app-" CSS_MD5 ".css") &&
             logo && !strncmp(logo, "images/logo-", 12) && strlen(logo) == 12 + 32 + 4 &&
             !strcmp(json_string_value(json_object_get(entry, "logical_path")), "assets/app.css") &&
             json_integer_value(json_object_get(entry, "size")) == (json_int_t)strlen(css) &&
             !strcmp(json_string_value(json_object_get(entry, "digest")), CSS_MD5) &&
             json_integer_value(json_object_get(m, "version")) == 1;
    json_decref(m);
    KT_ASSERT(ok);

    KT_ASSERT_EQ_INT(kiln_static_manifest_load(at("cache_manifest.json")), 0);
    KT_ASSERT_EQ_STR(kiln_static_path("/assets/app.css"), "/assets/app-" CSS_MD5 ".css");
    KT_ASSERT_EQ_STR(kiln_static_path("/robots.txt"), "/robots-" ROBOTS_MD5 ".txt");
    KT_ASSERT_EQ_STR(kiln_static_path("/assets/other.js"), "/assets/other.js");
}

/* Every file under dir with its mtime (ns), one per line, sorted (malloc'd). */
static char *snapshot(void)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "find %s -type f -printf '%%P %%T@\\n' | sort", dir);
    FILE *p = popen(cmd, "r");
    if (!p) return NULL;
    kiln_buf_t b;
    kiln_buf_init(&b, 1 << 20);
    char chunk[4096];
    size_t r;
    while ((r = fread(chunk, 1, sizeof chunk, p)) > 0) kiln_buf_append(&b, chunk, r);
    pclose(p);
    return b.data;
}

static void test_rebuild_is_idempotent(void)
{
    char *before = snapshot();
    usleep(20000); /* a rewrite would show in the mtimes */
    KT_ASSERT_EQ_INT(digest(), 0);
    char *after = snapshot();
    int same = before && after && !strcmp(before, after);
    if (!same) fprintf(stderr, "before:\n%s\nafter:\n%s\n", before ? before : "", after ? after : "");
    free(before);
    free(after);
    KT_ASSERT(same); /* no file added, none rewritten (the manifest included) */
}

static void test_changed_file_gets_a_new_name(void)
{
    static char v2[sizeof css + 32];
    snprintf(v2, sizeof v2, "%s.v2{color:red}\n", css);
    put("assets/app.css", v2, strlen(v2));
    KT_ASSERT_EQ_INT(digest(), 0);
    KT_ASSERT_EQ_INT(kiln_static_manifest_load(at("cache_manifest.json")), 0);
    const char *now = kiln_static_path("/assets/app.css");
    KT_ASSERT(strcmp(now, "/assets/app-" CSS_MD5 ".css") != 0 && strncmp(now, "/assets/app-", 12) == 0);
    KT_ASSERT(exists(now + 1));
    KT_ASSERT(exists("assets/app-" CSS_MD5 ".css")); /* the old version stays for pages already out */
    KT_ASSERT(gunzip_equals("assets/app.css.gz", v2, strlen(v2)));
    KT_ASSERT(unbrotli_equals("assets/app.css.br", v2, strlen(v2)));
}

static void test_errors(void)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "%s /nonexistent/kiln-digest 2>/dev/null", KILN_DIGEST_PATH);
    int rc = system(cmd);
    KT_ASSERT(WIFEXITED(rc) && WEXITSTATUS(rc) == 1);
    snprintf(cmd, sizeof cmd, "%s 2>/dev/null", KILN_DIGEST_PATH);
    rc = system(cmd);
    KT_ASSERT(WIFEXITED(rc) && WEXITSTATUS(rc) == 2);
    put("bad.json", "{\"version\": 1}", 14);
    KT_ASSERT_EQ_INT(kiln_static_manifest_load(at("bad.json")), KILN_EINVAL);
    KT_ASSERT_EQ_STR(kiln_static_path("/assets/app.css"), "/assets/app.css"); /* the table is empty after an error */
}

int main(void)
{
    kiln_log_set_level(KILN_LOG_ERROR + 1);
    setup();
    KT_RUN(test_fingerprinted_copies);
    KT_RUN(test_compressed_versions_decode_to_the_original);
    KT_RUN(test_manifest);
    KT_RUN(test_rebuild_is_idempotent);
    KT_RUN(test_changed_file_gets_a_new_name);
    KT_RUN(test_errors);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s %s.log", dir, dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return kt_done();
}
