/* multipart/form-data (RFC 7578 over RFC 2046 §5.1), incremental.
 *
 * The body is fed in pieces as it arrives and a delimiter ("\r\n--" boundary)
 * may be split across pieces at any byte. Body bytes are matched against the
 * delimiter with a Knuth-Morris-Pratt automaton: the only bytes ever held back
 * are a prefix of the delimiter itself, so they need no buffer (they are
 * re-emitted from the delimiter when the match fails) and each input byte is
 * examined once. The first delimiter may open the body without the CRLF, so
 * the matcher starts as if a CRLF had just been seen.
 *
 * Part headers are collected in a small bounded buffer, fields in a buffer
 * bounded by max_field, and file parts are written to a temp file as they
 * arrive (never held in memory). Both buffers and every temp file are released
 * by cleanups on the request arena: temp files are unlinked on arena reset,
 * whether the request succeeded or not. */
#include "http/http_int.h"
#include "http/params_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_BOUNDARY 70          /* RFC 2046 §5.1.1 */
#define MAX_DELIM (4 + MAX_BOUNDARY)
#define MAX_PART_HEADERS 8192    /* bytes of header lines per part */

enum { ST_PREAMBLE, ST_AFTER_DELIM, ST_AFTER_DASH, ST_AFTER_CR, ST_HEADERS, ST_BODY, ST_EPILOGUE };
enum { SINK_FIELD, SINK_FILE, SINK_SKIP };

/* A temp file, closed and unlinked by the arena cleanup. */
typedef struct upload_file {
    int fd;
    char *path;
} upload_file_t;

struct kiln_multipart {
    kiln_arena_t *a;
    kiln_param_t *map;
    kiln_params_limits_t l;
    char delim[MAX_DELIM];
    unsigned char fail[MAX_DELIM]; /* KMP failure function of delim */
    size_t dlen, match, parts;
    int state, err;
    kiln_buf_t hdr, field;
    /* the current part */
    int sink;
    char *name, *filename, *ctype;
    upload_file_t *file;
    uint64_t size;
};

static void free_buffers(void *ud)
{
    kiln_multipart_t *m = ud;
    kiln_buf_free(&m->hdr);
    kiln_buf_free(&m->field);
}

static void remove_upload(void *ud)
{
    upload_file_t *f = ud;
    if (f->fd >= 0) close(f->fd);
    unlink(f->path);
}

static int bchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("'()+_,-./:=? ", c) != NULL);
}

/* Finds the boundary parameter of a multipart/form-data Content-Type. */
static int parse_boundary(kiln_str_t ct, kiln_str_t *out)
{
    static const char type[] = "multipart/form-data";
    size_t i = sizeof type - 1;
    if (ct.len < i || !kiln__lower_eq(ct.ptr, type, i)) return KILN_EINVAL;
    while (i < ct.len) {
        while (i < ct.len && (ct.ptr[i] == ';' || ct.ptr[i] == ' ' || ct.ptr[i] == '\t')) i++;
        size_t ns = i;
        while (i < ct.len && ct.ptr[i] != '=' && ct.ptr[i] != ';') i++;
        if (i == ct.len || ct.ptr[i] != '=') continue;
        int is_boundary = i - ns == 8 && kiln__lower_eq(ct.ptr + ns, "boundary", 8);
        size_t vs = ++i, ve;
        if (i < ct.len && ct.ptr[i] == '"') {
            vs = ++i;
            while (i < ct.len && ct.ptr[i] != '"') i++;
            if (i == ct.len) return KILN_EINVAL;
            ve = i++;
        } else {
            while (i < ct.len && ct.ptr[i] != ';' && ct.ptr[i] != ' ' && ct.ptr[i] != '\t') i++;
            ve = i;
        }
        if (!is_boundary) continue;
        if (ve == vs || ve - vs > MAX_BOUNDARY || ct.ptr[ve - 1] == ' ') return KILN_EINVAL;
        for (size_t k = vs; k < ve; k++)
            if (!bchar((unsigned char)ct.ptr[k])) return KILN_EINVAL;
        *out = (kiln_str_t){ ct.ptr + vs, ve - vs };
        return 0;
    }
    return KILN_EINVAL;
}

kiln_multipart_t *kiln_multipart_new(kiln_arena_t *a, kiln_str_t content_type, kiln_param_t *map,
                                     const kiln_params_limits_t *l, int *err)
{
    kiln_str_t b;
    *err = parse_boundary(content_type, &b);
    if (*err < 0) return NULL;
    kiln_multipart_t *m = kiln_arena_calloc(a, sizeof *m);
    if (!m || kiln_arena_on_reset(a, free_buffers, m) < 0) {
        *err = KILN_ENOMEM;
        return NULL;
    }
    m->a = a;
    m->map = map;
    m->l = *l;
    memcpy(m->delim, "\r\n--", 4);
    memcpy(m->delim + 4, b.ptr, b.len);
    m->dlen = 4 + b.len;
    for (size_t i = 1, k = 0; i < m->dlen; i++) {
        while (k && m->delim[i] != m->delim[k]) k = m->fail[k - 1];
        if (m->delim[i] == m->delim[k]) k++;
        m->fail[i] = (unsigned char)k;
    }
    kiln_buf_init(&m->hdr, MAX_PART_HEADERS);
    kiln_buf_init(&m->field, m->l.max_field);
    m->state = ST_PREAMBLE;
    m->match = 2; /* the body may open with "--boundary": pretend a CRLF came first */
    return m;
}

/* ---- part headers -------------------------------------------------------- */

/* Reads one `; name=value` parameter (value a token or a quoted-string, which
 * is unescaped in place into the arena copy). Returns 1, 0 at the end, or an error. */
static int next_param(kiln_arena_t *a, kiln_str_t v, size_t *i, kiln_str_t *name, char **value)
{
    while (*i < v.len && (v.ptr[*i] == ' ' || v.ptr[*i] == '\t')) (*i)++;
    if (*i == v.len) return 0;
    if (v.ptr[(*i)++] != ';') return KILN_EINVAL;
    while (*i < v.len && (v.ptr[*i] == ' ' || v.ptr[*i] == '\t')) (*i)++;
    size_t ns = *i;
    while (*i < v.len && kiln__is((unsigned char)v.ptr[*i], KILN__CT_TCHAR)) (*i)++;
    if (*i == ns || *i == v.len || v.ptr[*i] != '=') return KILN_EINVAL;
    *name = (kiln_str_t){ v.ptr + ns, *i - ns };
    (*i)++;
    char *out = kiln_arena_alloc(a, v.len - *i + 1);
    size_t o = 0;
    if (!out) return KILN_ENOMEM;
    if (*i < v.len && v.ptr[*i] == '"') {
        for ((*i)++; *i < v.len && v.ptr[*i] != '"'; (*i)++) {
            if (v.ptr[*i] == '\\' && *i + 1 < v.len) (*i)++;
            out[o++] = v.ptr[*i];
        }
        if (*i == v.len) return KILN_EINVAL;
        (*i)++;
    } else {
        /* a token in the RFC; accept any field-value run up to ';' as Plug does ("name=tags[]") */
        while (*i < v.len && v.ptr[*i] != ';' && v.ptr[*i] != ' ' && v.ptr[*i] != '\t' && v.ptr[*i] != '"')
            out[o++] = v.ptr[(*i)++];
        if (o == 0) return KILN_EINVAL;
    }
    out[o] = '\0';
    *value = out;
    return 1;
}

/* Content-Disposition: form-data; name="..."[; filename="..."] */
static int parse_disposition(kiln_multipart_t *m, kiln_str_t v)
{
    size_t i = 0;
    while (i < v.len && kiln__is((unsigned char)v.ptr[i], KILN__CT_TCHAR)) i++;
    if (i != 9 || !kiln__lower_eq(v.ptr, "form-data", 9)) return KILN_EINVAL;
    kiln_str_t pname;
    char *pval;
    int rc;
    while ((rc = next_param(m->a, v, &i, &pname, &pval)) == 1) {
        if (pname.len == 4 && kiln__lower_eq(pname.ptr, "name", 4)) m->name = pval;
        else if (pname.len == 8 && kiln__lower_eq(pname.ptr, "filename", 8)) m->filename = pval;
    }
    return rc;
}

static int parse_part_headers(kiln_multipart_t *m)
{
    const char *p = m->hdr.data, *end = p + m->hdr.len - 2; /* drop the blank line's CRLF */
    while (p < end) {
        const char *eol = memchr(p, '\r', (size_t)(end - p));
        if (!eol || eol[1] != '\n') return KILN_EINVAL;
        const char *colon = memchr(p, ':', (size_t)(eol - p));
        if (!colon || colon == p) return KILN_EINVAL;
        for (const char *c = p; c < eol; c++)
            if (c < colon ? !kiln__is((unsigned char)*c, KILN__CT_TCHAR) : !kiln__is((unsigned char)*c, KILN__CT_VALUE))
                return KILN_EINVAL;
        kiln_str_t name = { p, (size_t)(colon - p) }, val = { colon + 1, (size_t)(eol - colon - 1) };
        while (val.len && (val.ptr[0] == ' ' || val.ptr[0] == '\t')) val.ptr++, val.len--;
        while (val.len && (val.ptr[val.len - 1] == ' ' || val.ptr[val.len - 1] == '\t')) val.len--;
        int rc = 0;
        if (name.len == 19 && kiln__lower_eq(name.ptr, "content-disposition", 19)) rc = parse_disposition(m, val);
        else if (name.len == 12 && kiln__lower_eq(name.ptr, "content-type", 12))
            rc = (m->ctype = kiln_arena_strndup(m->a, val.ptr, val.len)) ? 0 : KILN_ENOMEM;
        if (rc < 0) return rc;
        p = eol + 2;
    }
    return 0;
}

static int open_upload(kiln_multipart_t *m)
{
    const char *dir = m->l.tmp_dir ? m->l.tmp_dir : getenv("TMPDIR");
    upload_file_t *f = kiln_arena_calloc(m->a, sizeof *f);
    if (!f || !(f->path = kiln_arena_sprintf(m->a, "%s/kiln-upload-XXXXXX", dir && *dir ? dir : "/tmp")))
        return KILN_ENOMEM;
    f->fd = mkstemp(f->path);
    if (f->fd < 0) {
        kiln_log(KILN_LOG_ERROR, "multipart: mkstemp %s: %s", f->path, strerror(errno));
        return KILN_EIO;
    }
    (void)fcntl(f->fd, F_SETFD, FD_CLOEXEC);
    if (kiln_arena_on_reset(m->a, remove_upload, f) < 0) {
        remove_upload(f);
        return KILN_ENOMEM;
    }
    m->file = f;
    return 0;
}

static int start_part(kiln_multipart_t *m)
{
    m->name = m->filename = m->ctype = NULL;
    m->file = NULL;
    m->size = 0;
    kiln_buf_reset(&m->field);
    if (++m->parts > m->l.max_pairs) return KILN_ETOOBIG;
    int rc = parse_part_headers(m);
    if (rc < 0) return rc;
    if (!m->name || !kiln_utf8_valid(m->name, strlen(m->name))) return KILN_EINVAL;
    if (!m->filename) {
        m->sink = SINK_FIELD;
        return 0;
    }
    if (!kiln_utf8_valid(m->filename, strlen(m->filename))) return KILN_EINVAL;
    /* an empty filename is a file input left empty: browsers still send the part */
    m->sink = m->filename[0] ? SINK_FILE : SINK_SKIP;
    return m->sink == SINK_FILE ? open_upload(m) : 0;
}

/* ---- part bodies --------------------------------------------------------- */

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return KILN_EIO;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int emit(kiln_multipart_t *m, const char *p, size_t n)
{
    if (m->state == ST_PREAMBLE || n == 0) return 0;
    switch (m->sink) {
    case SINK_FIELD:
        return kiln_buf_append(&m->field, p, n);
    case SINK_FILE:
        if ((m->size += n) > m->l.max_file) return KILN_ETOOBIG;
        return write_all(m->file->fd, p, n);
    default:
        return 0;
    }
}

static int finish_part(kiln_multipart_t *m)
{
    if (m->sink == SINK_SKIP) return 0;
    kiln_param_t *leaf = kiln_arena_calloc(m->a, sizeof *leaf);
    if (!leaf) return KILN_ENOMEM;
    if (m->sink == SINK_FIELD) {
        if (!kiln_utf8_valid(m->field.data, m->field.len)) return KILN_EINVAL;
        char *v = kiln_arena_strndup(m->a, m->field.len ? m->field.data : "", m->field.len);
        if (!v) return KILN_ENOMEM;
        leaf->kind = KILN_PARAM_STRING;
        leaf->u.str = (kiln_str_t){ v, m->field.len };
    } else {
        close(m->file->fd);
        m->file->fd = -1;
        leaf->kind = KILN_PARAM_FILE;
        leaf->u.upload = (kiln_upload_t){ m->filename, m->ctype, m->file->path, m->size };
    }
    return kiln__params_put_node(m->a, m->map, m->name, strlen(m->name), leaf, &m->l);
}

/* Runs the delimiter automaton over data[*i..n) in the preamble or a part body.
 * Returns 1 when a delimiter was found (*i just after it), 0 when the input ran out. */
static int scan_body(kiln_multipart_t *m, const char *data, size_t n, size_t *i)
{
    size_t run = *i, j = *i;
    int rc;
    while (j < n) {
        if (m->match == 0) { /* fast path: only a CR can start a delimiter */
            const char *cr = memchr(data + j, '\r', n - j);
            if (!cr) {
                j = n;
                break;
            }
            j = (size_t)(cr - data);
        }
        char c = data[j];
        if ((rc = emit(m, data + run, j - run)) < 0) return rc;
        run = ++j;
        while (m->match && m->delim[m->match] != c) { /* release the held prefix that cannot match */
            size_t k = m->fail[m->match - 1];
            if ((rc = emit(m, m->delim, m->match - k)) < 0) return rc;
            m->match = k;
        }
        if (m->delim[m->match] == c) m->match++;
        else if ((rc = emit(m, &c, 1)) < 0) return rc;
        if (m->match == m->dlen) {
            m->match = 0;
            *i = j;
            return 1;
        }
    }
    if ((rc = emit(m, data + run, j - run)) < 0) return rc;
    *i = j;
    return 0;
}

/* After "--boundary": "--" closes the body; transport padding then CRLF opens a part. */
static int after_delim_byte(kiln_multipart_t *m, char c)
{
    switch (m->state) {
    case ST_AFTER_DELIM:
        if (c == '-') m->state = ST_AFTER_DASH;
        else if (c == '\r') m->state = ST_AFTER_CR;
        else if (c != ' ' && c != '\t') return KILN_EINVAL;
        return 0;
    case ST_AFTER_DASH:
        if (c != '-') return KILN_EINVAL;
        m->state = ST_EPILOGUE;
        return 0;
    default: /* ST_AFTER_CR */
        if (c != '\n') return KILN_EINVAL;
        kiln_buf_reset(&m->hdr);
        m->state = ST_HEADERS;
        return 0;
    }
}

static int header_byte(kiln_multipart_t *m, char c)
{
    int rc = kiln_buf_append(&m->hdr, &c, 1);
    if (rc < 0) return rc;
    size_t n = m->hdr.len;
    const char *d = m->hdr.data;
    if (c != '\n' || !((n == 2 && d[0] == '\r') || (n >= 4 && memcmp(d + n - 4, "\r\n\r\n", 4) == 0))) return 0;
    if ((rc = start_part(m)) < 0) return rc;
    m->state = ST_BODY;
    return 0;
}

int kiln_multipart_feed(kiln_multipart_t *m, const char *data, size_t len)
{
    size_t i = 0;
    int rc = 0;
    while (!m->err && i < len) {
        switch (m->state) {
        case ST_PREAMBLE:
        case ST_BODY:
            rc = scan_body(m, data, len, &i);
            if (rc == 1) {
                rc = m->state == ST_BODY ? finish_part(m) : 0;
                m->state = ST_AFTER_DELIM;
            }
            break;
        case ST_HEADERS:
            rc = header_byte(m, data[i++]);
            break;
        case ST_EPILOGUE:
            return 0;
        default:
            rc = after_delim_byte(m, data[i++]);
            break;
        }
        if (rc < 0) m->err = rc;
    }
    return m->err;
}

int kiln_multipart_finish(kiln_multipart_t *m)
{
    if (m->err) return m->err;
    return m->state == ST_EPILOGUE ? 0 : KILN_EINVAL;
}
