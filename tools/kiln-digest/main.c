/* kiln-digest: fingerprinted and compressed copies of an app's static files,
 * and the manifest static_path() resolves through (docs/guides/assets.md), as
 * `mix phx.digest` does for Phoenix.
 *
 *   kiln-digest [-v] DIR
 *
 * For every regular file under DIR (the build's priv/APP/static, after esbuild
 * has written its bundles there) it writes, beside the file:
 *  - NAME-<md5, 32 hex>.EXT, the fingerprinted copy, which the static plug
 *    serves with "cache-control: public, max-age=31536000, immutable";
 *  - for text-like types (css, js, svg, json, ...), .gz and .br versions of both
 *    the copy and the plain file, when they are smaller than the file;
 * then DIR/cache_manifest.json, in Phoenix's shape:
 *    {"digests": {"assets/app-<md5>.css": {"digest": "<md5>", "logical_path":
 *     "assets/app.css", "size": 1234}, ...},
 *     "latest": {"assets/app.css": "assets/app-<md5>.css", ...}, "version": 1}
 * It skips its own outputs (fingerprinted names, .gz, .br, the manifest), dot
 * files and anything that is not a regular file or a directory (symlinks).
 *
 * Rebuilding is idempotent: an output is written only when its bytes change
 * (the compressors are deterministic), through a temporary file and rename(2),
 * so a running server never reads half a file and unchanged files keep their
 * mtime (the plug's ETag). Compression is skipped for a fingerprinted copy that
 * already has its .gz/.br (the name is its content). Older fingerprinted copies
 * stay, as with Phoenix, so that pages rendered before a deploy still find
 * their assets; the manifest lists the current ones.
 *
 * Prints one summary line (files, sizes before and after compression, time);
 * -v adds one line per file. Exits 0, or 1 after "kiln-digest: PATH: reason".
 * Memory: everything is owned by main's locals and freed before exit. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kiln_digest.h"

#define MANIFEST "cache_manifest.json"

typedef struct list {
    char **v;
    size_t n, cap;
} list_t;

typedef struct stats {
    size_t files, compressible;
    size_t raw, gz, br; /* bytes of the compressible files, and of their .gz / .br */
} stats_t;

static int verbose;

static int io_error(const char *path)
{
    fprintf(stderr, "kiln-digest: %s: %s\n", path, strerror(errno));
    return KILN_EIO;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* The plug's rule for a fingerprinted name (name-<32 hex>.ext), plus the
 * extensionless form this tool makes for files without a dot. */
static int is_fingerprinted(const char *name)
{
    const char *dash = strrchr(name, '-');
    if (!dash) return 0;
    size_t n = strspn(dash + 1, "0123456789abcdef");
    return n == 32 && (dash[33] == '.' || dash[33] == '\0');
}

static int is_output(const char *name)
{
    return strcmp(name, MANIFEST) == 0 || ends_with(name, ".gz") || ends_with(name, ".br") || is_fingerprinted(name);
}

/* Phoenix's gzippable extensions, and a few more text-like ones. */
static int is_compressible(const char *ext)
{
    static const char *const exts[] = { ".css", ".js",  ".mjs", ".map", ".json", ".txt", ".text", ".html",
                                        ".htm", ".svg", ".xml", ".ico", ".wasm", ".eot",  ".ttf",  ".otf" };
    for (size_t i = 0; i < KILN_ARRAY_LEN(exts); i++)
        if (strcmp(ext, exts[i]) == 0) return 1;
    return 0;
}

static char *path_join(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char *p = kiln_xmalloc(n);
    snprintf(p, n, "%s/%s", a, b);
    return p;
}

static void list_push(list_t *l, char *s)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 32;
        l->v = kiln_xrealloc(l->v, l->cap * sizeof *l->v);
    }
    l->v[l->n++] = s;
}

static void list_free(list_t *l)
{
    for (size_t i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Appends to out the paths, relative to root, of the source files under
 * root/rel (rel NULL for root itself). */
static int walk(const char *root, const char *rel, list_t *out)
{
    char *dir = rel ? path_join(root, rel) : kiln_xstrdup(root);
    DIR *d = opendir(dir);
    if (!d) {
        int rc = io_error(dir);
        free(dir);
        return rc;
    }
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue; /* ".", ".." and dot files */
        char *child = rel ? path_join(rel, e->d_name) : kiln_xstrdup(e->d_name);
        char *full = path_join(root, child);
        struct stat st;
        if (lstat(full, &st) < 0) rc = io_error(full);
        else if (S_ISDIR(st.st_mode)) rc = walk(root, child, out);
        else if (S_ISREG(st.st_mode) && !is_output(e->d_name)) {
            list_push(out, child);
            child = NULL;
        }
        free(full);
        free(child);
    }
    closedir(d);
    free(dir);
    return rc;
}

/* Reads a whole file into out. KILN_ENOENT when it does not exist (nothing is
 * printed), KILN_EIO after printing the reason otherwise. */
static int read_file(const char *path, kiln_digest_blob_t *out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno == ENOENT ? KILN_ENOENT : io_error(path);
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int rc = io_error(path);
        close(fd);
        return rc;
    }
    out->len = (size_t)st.st_size;
    out->data = kiln_xmalloc(out->len ? out->len : 1);
    size_t got = 0;
    while (got < out->len) {
        ssize_t r = read(fd, out->data + got, out->len - got);
        if (r <= 0) {
            if (r == 0) errno = EIO; /* shrank while we read it */
            int rc = io_error(path);
            close(fd);
            kiln_digest_blob_free(out);
            return rc;
        }
        got += (size_t)r;
    }
    close(fd);
    return 0;
}

/* Writes path atomically unless it already holds exactly these bytes; *wrote
 * (when not NULL) tells which. */
static int write_if_changed(const char *path, const unsigned char *data, size_t n, int *wrote)
{
    kiln_digest_blob_t old = { 0 };
    int rc = read_file(path, &old);
    if (rc == KILN_EIO) return rc;
    int same = rc == 0 && old.len == n && (n == 0 || memcmp(old.data, data, n) == 0);
    kiln_digest_blob_free(&old);
    if (wrote) *wrote = !same;
    if (same) return 0;

    size_t tl = strlen(path) + 16;
    char *tmp = kiln_xmalloc(tl);
    snprintf(tmp, tl, "%s.kiln-tmp", path);
    rc = 0;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) rc = io_error(tmp);
    for (size_t off = 0; rc == 0 && off < n;) {
        ssize_t w = write(fd, data + off, n - off);
        if (w < 0) rc = io_error(tmp);
        else off += (size_t)w;
    }
    if (fd >= 0 && close(fd) < 0 && rc == 0) rc = io_error(tmp);
    if (rc == 0 && rename(tmp, path) < 0) rc = io_error(path);
    if (rc < 0 && fd >= 0) unlink(tmp);
    free(tmp);
    return rc;
}

static int remove_if_present(const char *path)
{
    return unlink(path) < 0 && errno != ENOENT ? io_error(path) : 0;
}

static int md5_hex(const unsigned char *data, size_t n, char hex[33])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (!EVP_Digest(data, n, md, &len, EVP_md5(), NULL) || len != 16) {
        fprintf(stderr, "kiln-digest: md5 is not available from OpenSSL\n");
        return KILN_EINTERNAL;
    }
    for (unsigned i = 0; i < 16; i++) snprintf(hex + 2 * i, 3, "%02x", md[i]);
    return 0;
}

/* The .gz or .br versions of the fingerprinted copy `copy` and of the plain
 * file `plain`, from data. Reuses copy's existing version unless the copy was
 * just written; removes both when compression does not make the file smaller
 * (so that a stale sibling of the plain name is never served). *len gets the
 * compressed size, or n. */
static int compress_pair(const char *copy, const char *plain, const char *suffix, int fresh,
                         int (*compress)(const unsigned char *, size_t, kiln_digest_blob_t *),
                         const unsigned char *data, size_t n, size_t *len)
{
    char *copy_z = kiln_xmalloc(strlen(copy) + 4), *plain_z = kiln_xmalloc(strlen(plain) + 4);
    sprintf(copy_z, "%s%s", copy, suffix);
    sprintf(plain_z, "%s%s", plain, suffix);
    kiln_digest_blob_t z = { 0 };
    int rc = fresh ? KILN_ENOENT : read_file(copy_z, &z);
    if (rc == KILN_ENOENT) {
        rc = compress(data, n, &z);
        if (rc < 0) fprintf(stderr, "kiln-digest: %s: %s compression failed: %s\n", plain, suffix + 1, kiln_strerror(rc));
    }
    if (rc == 0 && z.len < n) {
        *len = z.len;
        rc = write_if_changed(copy_z, z.data, z.len, NULL);
        if (rc == 0) rc = write_if_changed(plain_z, z.data, z.len, NULL);
    } else if (rc == 0) {
        *len = n;
        rc = remove_if_present(copy_z);
        if (rc == 0) rc = remove_if_present(plain_z);
    }
    kiln_digest_blob_free(&z);
    free(copy_z);
    free(plain_z);
    return rc;
}

/* One source file root/rel: its fingerprinted copy, compressed versions and
 * manifest entries. */
static int digest_one(const char *root, const char *rel, json_t *latest, json_t *digests, stats_t *st)
{
    char *plain = path_join(root, rel);
    kiln_digest_blob_t src = { 0 };
    int rc = read_file(plain, &src);
    if (rc == KILN_ENOENT) rc = io_error(plain);
    char hex[33];
    if (rc == 0) rc = md5_hex(src.data, src.len, hex);
    if (rc < 0) {
        free(plain);
        return rc;
    }

    /* "assets/app.css" -> "assets/app-<hex>.css"; "LICENSE" -> "LICENSE-<hex>" */
    const char *base = strrchr(rel, '/');
    base = base ? base + 1 : rel;
    const char *dot = strrchr(base, '.');
    if (!dot || dot == base) dot = base + strlen(base);
    size_t dl = strlen(rel) + 34;
    char *digested = kiln_xmalloc(dl);
    snprintf(digested, dl, "%.*s-%s%s", (int)(dot - rel), rel, hex, dot);
    char *copy = path_join(root, digested);

    int fresh = 0;
    size_t gz = src.len, br = src.len;
    rc = write_if_changed(copy, src.data, src.len, &fresh);
    int squeeze = src.len > 0 && is_compressible(dot);
    if (rc == 0 && squeeze) rc = compress_pair(copy, plain, ".gz", fresh, kiln_digest_gzip, src.data, src.len, &gz);
    if (rc == 0 && squeeze) rc = compress_pair(copy, plain, ".br", fresh, kiln_digest_brotli, src.data, src.len, &br);
    if (rc == 0) {
        json_object_set_new(latest, rel, json_string(digested));
        json_object_set_new(digests, digested,
                            json_pack("{s:s, s:I, s:s}", "logical_path", rel, "size", (json_int_t)src.len, "digest", hex));
        st->files++;
        if (squeeze) {
            st->compressible++;
            st->raw += src.len;
            st->gz += gz;
            st->br += br;
        }
        if (verbose) printf("  %s -> %s  %zu B  gz %zu  br %zu\n", rel, digested, src.len, gz, br);
    }
    free(copy);
    free(digested);
    free(plain);
    kiln_digest_blob_free(&src);
    return rc;
}

static int write_manifest(const char *root, json_t *latest, json_t *digests)
{
    json_t *m = json_pack("{s:O, s:O, s:i}", "latest", latest, "digests", digests, "version", 1);
    char *text = m ? json_dumps(m, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
    json_decref(m);
    if (!text) {
        fprintf(stderr, "kiln-digest: out of memory writing the manifest\n");
        return KILN_ENOMEM;
    }
    size_t n = strlen(text);
    char *body = kiln_xmalloc(n + 2);
    memcpy(body, text, n);
    body[n] = '\n';
    free(text);
    char *path = path_join(root, MANIFEST);
    int rc = write_if_changed(path, (unsigned char *)body, n + 1, NULL);
    free(path);
    free(body);
    return rc;
}

int main(int argc, char **argv)
{
    int a = 1;
    if (a < argc && strcmp(argv[a], "-v") == 0) {
        verbose = 1;
        a++;
    }
    if (a + 1 != argc) {
        fprintf(stderr, "usage: kiln-digest [-v] DIR\n"
                        "  writes fingerprinted, gzip and brotli copies of the files under DIR\n"
                        "  and DIR/" MANIFEST " (docs/guides/assets.md)\n");
        return 2;
    }
    const char *root = argv[a];
    int64_t t0 = kiln_now_ns();
    list_t files = { 0 };
    int rc = walk(root, NULL, &files);
    if (rc == 0) qsort(files.v, files.n, sizeof *files.v, cmp_str);

    json_t *latest = json_object(), *digests = json_object();
    stats_t st = { 0 };
    for (size_t i = 0; rc == 0 && i < files.n; i++) rc = digest_one(root, files.v[i], latest, digests, &st);
    if (rc == 0) rc = write_manifest(root, latest, digests);
    json_decref(latest);
    json_decref(digests);
    list_free(&files);
    if (rc < 0) return 1;
    printf("kiln-digest: %s: %zu files (%zu compressible: %zu B, gzip %zu B, brotli %zu B) in %.1f ms\n", root,
           st.files, st.compressible, st.raw, st.gz, st.br, (double)(kiln_now_ns() - t0) / 1e6);
    return 0;
}
