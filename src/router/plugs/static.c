/* The static-files plug (Plug.Static).
 *
 * Safety first: the request path is split on '/' while still percent-encoded,
 * and a segment whose encoding could smuggle a separator (%2f, %5c, %00) is
 * refused before decoding; decoded segments may not be "." or "..", nor hold
 * '/', '\\' or NUL. The file is then opened one component at a time with
 * openat(O_NOFOLLOW) from a descriptor of the root, so no symlink is ever
 * followed below the root (the root itself may be one: it is configuration).
 * The response is sent from that descriptor (kiln_conn_send_fd), so there is no
 * window between the check and the open.
 *
 * Then HTTP caching: a strong ETag from size and mtime, Last-Modified, 304s;
 * single byte ranges; precompressed .br/.gz siblings picked by Accept-Encoding. */
#include "kiln/plugs.h"
#include "router/router_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_DEPTH 32

typedef struct file {
    int fd;
    struct stat st;
    const char *encoding; /* "br", "gzip" or NULL */
} file_t;

/* ---- Path checks -------------------------------------------------------------- */

static int has_bad_escape(kiln_str_t s)
{
    for (size_t i = 0; i + 2 < s.len; i++) {
        if (s.ptr[i] != '%') continue;
        char e[3] = { s.ptr[i + 1], s.ptr[i + 2], 0 };
        if (!strcasecmp(e, "2f") || !strcasecmp(e, "5c") || !strcmp(e, "00")) return 1;
    }
    return 0;
}

/* Decodes one raw segment into the arena; KILN_EINVAL for anything that could escape. */
static int decode_segment(kiln_arena_t *a, kiln_str_t raw, char **out)
{
    if (has_bad_escape(raw)) return KILN_EINVAL;
    char *d = kiln_arena_alloc(a, raw.len + 1);
    if (!d) return KILN_ENOMEM;
    int n = kiln_url_decode(raw, d, 0);
    if (n < 0) return KILN_EINVAL;
    d[n] = '\0';
    if ((size_t)n != strlen(d) || strchr(d, '/') || strchr(d, '\\')) return KILN_EINVAL;
    if (!strcmp(d, ".") || !strcmp(d, "..")) return KILN_EINVAL;
    *out = d;
    return 0;
}

/* How many leading segments `at` takes, or -1 if the path is not under it. */
static int strip_at(const char *at, const kiln_str_t *segs, int n)
{
    int used = 0;
    for (const char *p = at; *p;) {
        while (*p == '/') p++;
        if (!*p) break;
        size_t len = strcspn(p, "/");
        if (used == n || segs[used].len != len || memcmp(segs[used].ptr, p, len) != 0) return -1;
        used++;
        p += len;
    }
    return used;
}

static int only_allows(const char *const *only, const char *first)
{
    if (!only) return 1;
    for (; *only; only++)
        if (!strcmp(*only, first)) return 1;
    return 0;
}

/* ---- Opening ---------------------------------------------------------------------- */

/* Opens dirs[0..n-1] below root with O_NOFOLLOW each; returns a directory fd or -1. */
static int open_parent(const char *root, char **names, int n)
{
    int dir = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    for (int i = 0; dir >= 0 && i < n; i++) {
        int next = openat(dir, names[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        close(dir);
        dir = next;
    }
    return dir;
}

static int open_regular(int dir, const char *name, struct stat *st)
{
    int fd = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return -1;
    if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode)) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Does Accept-Encoding allow coding (a listed coding with q != 0)? */
static int accepts_encoding(const kiln_conn_t *c, const char *coding)
{
    const kiln_str_t *ae = kiln_conn_req_header(c, "accept-encoding");
    if (!ae) return 0;
    size_t cl = strlen(coding);
    const char *p = ae->ptr, *end = ae->ptr + ae->len;
    while (p < end) {
        while (p < end && (*p == ' ' || *p == ',')) p++;
        const char *s = p;
        while (p < end && *p != ',' && *p != ';' && *p != ' ') p++;
        int match = (size_t)(p - s) == cl && !strncasecmp(s, coding, cl);
        const char *item_end = memchr(p, ',', (size_t)(end - p));
        if (!item_end) item_end = end;
        const char *q = memchr(p, '=', (size_t)(item_end - p));
        int zero = q && strtod(q + 1, NULL) == 0.0;
        if (match && !zero) return 1;
        p = item_end;
    }
    return 0;
}

static int open_variant(kiln_conn_t *c, int dir, const char *name, const kiln_static_opts_t *o, file_t *f)
{
    static const struct { const char *suffix, *coding; int brotli; } variants[] = {
        { ".br", "br", 1 }, { ".gz", "gzip", 0 },
    };
    int ranged = kiln_conn_req_header(c, "range") != NULL; /* ranges are served from the identity file */
    for (size_t i = 0; !ranged && i < KILN_ARRAY_LEN(variants); i++) {
        if (!(variants[i].brotli ? o->brotli : o->gzip) || !accepts_encoding(c, variants[i].coding)) continue;
        char *vname = kiln_arena_sprintf(c->arena, "%s%s", name, variants[i].suffix);
        if (!vname) return KILN_ENOMEM;
        f->fd = open_regular(dir, vname, &f->st);
        if (f->fd >= 0) {
            f->encoding = variants[i].coding;
            return 0;
        }
    }
    f->encoding = NULL;
    f->fd = open_regular(dir, name, &f->st);
    return f->fd >= 0 ? 0 : KILN_ENOENT;
}

/* ---- HTTP caching and ranges ---------------------------------------------------------- */

static int is_digested(const char *name)
{
    const char *dash = strrchr(name, '-');
    if (!dash) return 0;
    size_t n = strspn(dash + 1, "0123456789abcdefABCDEF");
    return n == 32 && dash[33] == '.';
}

static int etag_matches(kiln_str_t inm, const char *etag)
{
    size_t el = strlen(etag);
    const char *p = inm.ptr, *end = inm.ptr + inm.len;
    while (p < end) {
        while (p < end && (*p == ' ' || *p == ',')) p++;
        if (p < end && *p == '*') return 1;
        if (end - p > 2 && p[0] == 'W' && p[1] == '/') p += 2; /* weak comparison, as RFC 9110 asks for GET */
        const char *s = p;
        while (p < end && *p != ',') p++;
        const char *e = p;
        while (e > s && e[-1] == ' ') e--;
        if ((size_t)(e - s) == el && !memcmp(s, etag, el)) return 1;
    }
    return 0;
}

static int not_modified(const kiln_conn_t *c, const char *etag, int64_t mtime)
{
    const kiln_str_t *inm = kiln_conn_req_header(c, "if-none-match");
    if (inm) return etag_matches(*inm, etag);
    const kiln_str_t *ims = kiln_conn_req_header(c, "if-modified-since");
    int64_t since;
    return ims && kiln_http_date_parse(*ims, &since) == 0 && mtime <= since;
}

typedef enum { RANGE_NONE, RANGE_ONE, RANGE_BAD } range_kind_t;

static int parse_u64(const char *s, const char *e, uint64_t *out)
{
    if (s == e || e - s > 19) return 0;
    uint64_t v = 0;
    for (; s < e; s++) {
        if (*s < '0' || *s > '9') return 0;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return 1;
}

/* One "bytes=a-b" range against size: RANGE_ONE with [*off, *off + *len),
 * RANGE_BAD when unsatisfiable, RANGE_NONE when absent, malformed or multiple
 * (all of which serve the whole file). */
static range_kind_t parse_range(const kiln_str_t *h, uint64_t size, uint64_t *off, uint64_t *len)
{
    if (!h || h->len < 7 || strncasecmp(h->ptr, "bytes=", 6) != 0) return RANGE_NONE;
    const char *s = h->ptr + 6, *end = h->ptr + h->len;
    while (s < end && *s == ' ') s++;
    while (end > s && end[-1] == ' ') end--;
    if (memchr(s, ',', (size_t)(end - s))) return RANGE_NONE;
    const char *dash = memchr(s, '-', (size_t)(end - s));
    if (!dash) return RANGE_NONE;
    uint64_t a, b;
    if (dash == s) { /* suffix: the last n bytes */
        if (!parse_u64(dash + 1, end, &b)) return RANGE_NONE;
        if (b == 0 || size == 0) return RANGE_BAD;
        *len = b < size ? b : size;
        *off = size - *len;
        return RANGE_ONE;
    }
    if (!parse_u64(s, dash, &a)) return RANGE_NONE;
    if (dash + 1 == end) b = size ? size - 1 : 0;
    else if (!parse_u64(dash + 1, end, &b) || b < a) return RANGE_NONE;
    if (a >= size) return RANGE_BAD;
    if (b >= size) b = size - 1;
    *off = a;
    *len = b - a + 1;
    return RANGE_ONE;
}

static int put_headers(kiln_conn_t *c, const kiln_static_opts_t *o, const char *name, const file_t *f, const char *etag)
{
    char date[30];
    kiln_http_date_fmt((int64_t)f->st.st_mtime, date);
    const char *cc = is_digested(name) ? "public, max-age=31536000, immutable"
                     : o->cache_control ? o->cache_control
                                        : "public, max-age=3600";
    int rc = kiln_conn_put_resp_header(c, "etag", etag);
    if (rc == 0) rc = kiln_conn_put_resp_header(c, "last-modified", date);
    if (rc == 0) rc = kiln_conn_put_resp_header(c, "cache-control", cc);
    if (rc == 0) rc = kiln_conn_put_resp_header(c, "accept-ranges", "bytes");
    if (rc == 0 && (o->gzip || o->brotli)) rc = kiln_conn_put_resp_header(c, "vary", "accept-encoding");
    if (rc == 0 && f->encoding) rc = kiln_conn_put_resp_header(c, "content-encoding", f->encoding);
    return rc;
}

/* Answers from f; closes nothing itself, but hands f->fd to send_fd (setting it
 * to -1) when the body is the file. */
static int serve(kiln_conn_t *c, const kiln_static_opts_t *o, const char *name, file_t *f)
{
    uint64_t size = (uint64_t)f->st.st_size;
    char *etag = kiln_arena_sprintf(c->arena, "\"%llx-%llx\"", (unsigned long long)size,
                                    (unsigned long long)f->st.st_mtime);
    if (!etag) return KILN_ENOMEM;
    int rc = put_headers(c, o, name, f, etag);
    if (rc == 0) rc = kiln_conn_put_resp_header(c, "content-type", kiln_mime_type(name));
    if (rc < 0) return rc;
    if (not_modified(c, etag, (int64_t)f->st.st_mtime)) {
        kiln_conn_delete_resp_header(c, "content-type");
        return kiln_conn_send_resp(c, 304, NULL, NULL, 0);
    }
    uint64_t off = 0, len = size;
    range_kind_t r = parse_range(kiln_conn_req_header(c, "range"), size, &off, &len);
    if (r == RANGE_BAD) {
        char *cr = kiln_arena_sprintf(c->arena, "bytes */%llu", (unsigned long long)size);
        if (!cr || (rc = kiln_conn_put_resp_header(c, "content-range", cr)) < 0) return cr ? rc : KILN_ENOMEM;
        return kiln_conn_send_resp(c, 416, NULL, NULL, 0);
    }
    if (r == RANGE_ONE) {
        char *cr = kiln_arena_sprintf(c->arena, "bytes %llu-%llu/%llu", (unsigned long long)off,
                                      (unsigned long long)(off + len - 1), (unsigned long long)size);
        if (!cr) return KILN_ENOMEM;
        if ((rc = kiln_conn_put_resp_header(c, "content-range", cr)) < 0) return rc;
    }
    int fd = f->fd;
    f->fd = -1; /* send_fd owns it now */
    return kiln_conn_send_fd(c, r == RANGE_ONE ? 206 : 200, fd, (off_t)off, len);
}

/* ---- The plug -------------------------------------------------------------------------- */

static int refuse(kiln_conn_t *c)
{
    int rc = kiln_conn_send_error(c, 400, "Invalid path.");
    return rc < 0 ? rc : KILN_PLUG_HALT;
}

int kiln_plug_static(kiln_conn_t *c, const void *opts)
{
    const kiln_static_opts_t *o = opts;
    if (!o || !o->from) return KILN_EINVAL;
    if (c->method != KILN_METHOD_GET && c->method != KILN_METHOD_HEAD) return KILN_PLUG_CONT;
    kiln_str_t segs[MAX_DEPTH];
    int n = kiln__path_split(c->raw_path.len ? c->raw_path : c->path, segs, MAX_DEPTH);
    int skip = n < 0 ? -1 : strip_at(o->at ? o->at : "/", segs, n);
    if (skip < 0 || skip == n) return KILN_PLUG_CONT;
    char *names[MAX_DEPTH];
    for (int i = skip; i < n; i++) {
        int rc = decode_segment(c->arena, segs[i], &names[i - skip]);
        if (rc == KILN_EINVAL) return refuse(c);
        if (rc < 0) return rc;
    }
    int count = n - skip;
    if (!only_allows(o->only, names[0])) return KILN_PLUG_CONT;
    int dir = open_parent(o->from, names, count - 1);
    if (dir < 0) return KILN_PLUG_CONT;
    file_t f;
    int rc = open_variant(c, dir, names[count - 1], o, &f);
    close(dir);
    if (rc == KILN_ENOENT) return KILN_PLUG_CONT;
    if (rc < 0) return rc;
    rc = serve(c, o, names[count - 1], &f);
    if (f.fd >= 0) close(f.fd);
    kiln_conn_halt(c);
    return rc < 0 ? rc : KILN_PLUG_HALT;
}
