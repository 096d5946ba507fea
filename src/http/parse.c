/* HTTP/1.1 request-head parser (RFC 9112 §2–§6).
 *
 * Incremental by re-parse, as picohttpparser is: the caller hands in all the
 * bytes received so far and calls again with a longer buffer when told
 * KILN_EAGAIN. Re-parsing a head costs a few hundred nanoseconds, far less than
 * the bookkeeping a resumable state machine would need, and it keeps the parser
 * stateless, zero-copy and allocation-free: every slice in the result points
 * into the caller's buffer.
 *
 * Every decision depends only on the bytes before the position where it is
 * taken, and limits are checked at positions too (a byte at or past the
 * request-line or head limit is never looked at). So the result is the same
 * however the bytes were split across reads (test H2), and a head that never
 * ends is rejected as soon as the limit is passed rather than buffered.
 *
 * Strictness is deliberate: every ambiguity that lets two HTTP implementations
 * disagree about where a message ends is an error here (request smuggling).
 * The policies and their RFC sections are in docs/internals/http.md. */
#include "http/http_int.h"

#include <string.h>

typedef struct parser {
    const char *b;
    size_t len;
    const kiln_http_limits_t *lim;
    kiln_http_req_t *req;
    int *status;
    /* semantic state collected while the header fields go by */
    int n_cl, n_te, n_host;
    int conn_close, conn_keep_alive, conn_upgrade, has_upgrade;
    kiln_str_t te;
} parser_t;

static int reject(parser_t *p, int status)
{
    *p->status = status;
    return KILN_EINVAL;
}

/* Whether position i can be examined: 0 when it can, else the answer to give.
 * `bound` is the first position beyond the current limit, `limit_status` what
 * exceeding it means (414 or 431). */
static int need(parser_t *p, size_t i, size_t bound, int limit_status)
{
    if (i >= bound) return reject(p, limit_status);
    if (i >= p->len) return KILN_EAGAIN;
    return 0;
}

/* Consumes a line ending at i: CRLF or a bare LF (RFC 9112 §2.2 allows
 * accepting the latter); a CR not followed by LF is an error. */
static int line_end(parser_t *p, size_t *i, size_t bound, int limit_status)
{
    int rc;
    if (p->b[*i] == '\n') {
        (*i)++;
        return 0;
    }
    if (p->b[*i] != '\r') return reject(p, 400);
    if ((rc = need(p, *i + 1, bound, limit_status)) != 0) return rc;
    if (p->b[*i + 1] != '\n') return reject(p, 400);
    *i += 2;
    return 0;
}

static int parse_version(parser_t *p, size_t *i, size_t bound, int limit_status)
{
    static const char pat[] = "HTTP/d.d";
    int rc;
    /* Fast path: all eight bytes are in the buffer and within the limit; the
     * byte-by-byte loop below gives the same answers (and the EAGAIN/limit
     * ones) otherwise. */
    if (*i + 8 <= p->len && *i + 8 <= bound) {
        const char *v = p->b + *i;
        if (memcmp(v, "HTTP/", 5) == 0 && v[6] == '.' && v[5] >= '0' && v[5] <= '9' && v[7] >= '0' && v[7] <= '9') {
            *i += 8;
            if (v[5] != '1' || (v[7] != '0' && v[7] != '1')) return reject(p, 505);
            p->req->version_minor = v[7] - '0';
            return 0;
        }
    }
    for (size_t k = 0; k < 8; k++) {
        if ((rc = need(p, *i + k, bound, limit_status)) != 0) return rc;
        unsigned char c = (unsigned char)p->b[*i + k];
        if (pat[k] == 'd' ? (c < '0' || c > '9') : c != (unsigned char)pat[k]) return reject(p, 400);
    }
    const char *v = p->b + *i;
    *i += 8;
    if (v[5] != '1' || (v[7] != '0' && v[7] != '1')) return reject(p, 505);
    p->req->version_minor = v[7] - '0';
    return 0;
}

static int scheme_prefix(kiln_str_t t)
{
    size_t i = 0;
    if (t.len == 0 || !((t.ptr[0] | 0x20) >= 'a' && (t.ptr[0] | 0x20) <= 'z')) return 0;
    while (i < t.len && (kiln__is((unsigned char)t.ptr[i], KILN__CT_TCHAR) && t.ptr[i] != '_')) i++;
    return i + 2 < t.len && t.ptr[i] == ':' && t.ptr[i + 1] == '/' && t.ptr[i + 2] == '/';
}

/* RFC 9112 §3.2: origin-form, absolute-form, authority-form (CONNECT only),
 * asterisk-form (OPTIONS only). */
static int target_ok(const kiln_http_req_t *r)
{
    kiln_str_t t = r->target;
    if (r->method == KILN_METHOD_CONNECT) return t.ptr[0] != '/' && t.ptr[0] != '*';
    if (t.ptr[0] == '/') return 1;
    if (t.len == 1 && t.ptr[0] == '*') return r->method == KILN_METHOD_OPTIONS;
    return scheme_prefix(t);
}

static int parse_request_line(parser_t *p, size_t *pos)
{
    const kiln_http_limits_t *l = p->lim;
    size_t start = *pos, i = start;
    size_t hl = l->max_header_bytes;
    size_t rl = start + l->max_request_line;
    size_t bound = rl < hl ? rl : hl;
    int lim = rl <= hl ? 414 : 431, rc;
    size_t end = p->len < bound ? p->len : bound;
    kiln_http_req_t *r = p->req;

    while (i < end && kiln__is((unsigned char)p->b[i], KILN__CT_TCHAR)) i++;
    if ((rc = need(p, i, bound, lim)) != 0) return rc;
    if (p->b[i] != ' ' || i == start) return reject(p, 400);
    r->method_str = (kiln_str_t){ p->b + start, i - start };
    r->method = kiln_http_method_from(r->method_str);

    size_t ts = ++i;
    while (i < end && kiln__is((unsigned char)p->b[i], KILN__CT_TARGET)) i++;
    if ((rc = need(p, i, bound, lim)) != 0) return rc;
    if (p->b[i] != ' ' || i == ts) return reject(p, 400);
    r->target = (kiln_str_t){ p->b + ts, i - ts };
    if (!target_ok(r)) return reject(p, 400);
    const char *q = memchr(r->target.ptr, '?', r->target.len);
    size_t plen = q ? (size_t)(q - r->target.ptr) : r->target.len;
    r->path = (kiln_str_t){ r->target.ptr, plen };
    r->query = q ? (kiln_str_t){ q + 1, r->target.len - plen - 1 } : (kiln_str_t){ r->target.ptr + plen, 0 };

    i++;
    if ((rc = parse_version(p, &i, bound, lim)) != 0) return rc;
    /* the line ending may start right at the request-line limit (i <= rl here) */
    if ((rc = need(p, i, hl, 431)) != 0) return rc;
    if ((rc = line_end(p, &i, hl, 431)) != 0) return rc;
    *pos = i;
    return 0;
}

/* RFC 9112 §6.3 / RFC 9110 §8.6: 1*DIGIT, at most 2^63-1. "007" is 7. */
static int parse_content_length(kiln_str_t v, uint64_t *out)
{
    uint64_t n = 0;
    if (v.len == 0) return KILN_EINVAL;
    for (size_t i = 0; i < v.len; i++) {
        unsigned d = (unsigned char)v.ptr[i] - '0';
        if (d > 9) return KILN_EINVAL;
        if (n > (((uint64_t)INT64_MAX) - d) / 10) return KILN_EINVAL;
        n = n * 10 + d;
    }
    *out = n;
    return 0;
}

static int reg_name_byte(unsigned char c)
{
    /* unreserved / pct-encoded / sub-delims, except ',' (a list is never one host) */
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return 1;
    switch (c) {
    case '-': case '.': case '_': case '~': case '%': case '!': case '$': case '&':
    case '\'': case '(': case ')': case '*': case '+': case ';': case '=':
        return 1;
    default:
        return 0;
    }
}

/* RFC 9110 §7.2: uri-host [ ":" port ]; no userinfo, path, list or space. */
static int host_ok(kiln_str_t h)
{
    size_t i = 0;
    if (h.len && h.ptr[0] == '[') {
        for (i = 1; i < h.len && h.ptr[i] != ']'; i++)
            if (!kiln__is((unsigned char)h.ptr[i], KILN__CT_HEX) && h.ptr[i] != ':' && h.ptr[i] != '.') return 0;
        if (i == h.len || i == 1) return 0;
        i++;
    } else {
        while (i < h.len && reg_name_byte((unsigned char)h.ptr[i])) i++;
        if (i == 0) return 0;
    }
    if (i == h.len) return 1;
    if (h.ptr[i++] != ':') return 0;
    for (; i < h.len; i++)
        if (h.ptr[i] < '0' || h.ptr[i] > '9') return 0;
    return 1;
}

/* Calls fn on each comma-separated element of a list value, OWS-trimmed
 * (RFC 9110 §5.6.1). Empty elements are passed too; callers decide. */
static void each_element(kiln_str_t v, void (*fn)(kiln_str_t e, void *ud), void *ud)
{
    size_t i = 0;
    for (;;) {
        size_t s = i;
        while (i < v.len && v.ptr[i] != ',') i++;
        size_t e = i;
        while (s < e && (v.ptr[s] == ' ' || v.ptr[s] == '\t')) s++;
        while (e > s && (v.ptr[e - 1] == ' ' || v.ptr[e - 1] == '\t')) e--;
        fn((kiln_str_t){ v.ptr + s, e - s }, ud);
        if (i >= v.len) return;
        i++;
    }
}

static void connection_token(kiln_str_t e, void *ud)
{
    parser_t *p = ud;
    if (e.len == 5 && kiln__lower_eq(e.ptr, "close", 5)) p->conn_close = 1;
    else if (e.len == 10 && kiln__lower_eq(e.ptr, "keep-alive", 10)) p->conn_keep_alive = 1;
    else if (e.len == 7 && kiln__lower_eq(e.ptr, "upgrade", 7)) p->conn_upgrade = 1;
}

static int name_is(kiln_str_t n, const char *lower, size_t len)
{
    return n.len == len && kiln__lower_eq(n.ptr, lower, len);
}

/* Records what the framing and connection decisions need from one field. */
static int header_semantics(parser_t *p, const kiln_header_t *h)
{
    kiln_http_req_t *r = p->req;
    switch (h->name.len) {
    case 4:
        if (!name_is(h->name, "host", 4)) break;
        if (++p->n_host > 1) return reject(p, 400);
        if (h->value.len && !host_ok(h->value)) return reject(p, 400);
        r->host = h->value;
        break;
    case 14:
        if (!name_is(h->name, "content-length", 14)) break;
        if (++p->n_cl > 1 || parse_content_length(h->value, &r->content_length) < 0) return reject(p, 400);
        break;
    case 17:
        if (!name_is(h->name, "transfer-encoding", 17)) break;
        if (++p->n_te > 1) return reject(p, 400);
        p->te = h->value;
        break;
    case 10:
        if (name_is(h->name, "connection", 10)) each_element(h->value, connection_token, p);
        break;
    case 6:
        if (name_is(h->name, "expect", 6) && h->value.len == 12 && kiln__lower_eq(h->value.ptr, "100-continue", 12))
            r->expect_continue = 1;
        break;
    case 7:
        if (name_is(h->name, "upgrade", 7)) p->has_upgrade = 1;
        break;
    }
    return 0;
}

/* Transfer codings we know by name but do not decode (IANA registry): a
 * request using them is well-formed but unimplemented, hence 501. */
static int known_coding(kiln_str_t e)
{
    static const char *const names[] = { "gzip", "x-gzip", "deflate", "compress", "x-compress", "br", "zstd" };
    for (size_t k = 0; k < KILN_ARRAY_LEN(names); k++)
        if (e.len == strlen(names[k]) && kiln__lower_eq(e.ptr, names[k], e.len)) return 1;
    return 0;
}

typedef struct te_scan {
    int n, chunked_at, unknown, known;
} te_scan_t;

static void te_element(kiln_str_t e, void *ud)
{
    te_scan_t *s = ud;
    s->n++;
    if (e.len == 7 && kiln__lower_eq(e.ptr, "chunked", 7)) {
        if (s->chunked_at) s->unknown = 1; /* chunked twice */
        s->chunked_at = s->n;
    } else if (known_coding(e)) {
        s->known++;
    } else {
        s->unknown = 1; /* empty, parameterised, "identity", look-alikes */
    }
}

/* RFC 9112 §6.1/§6.3: only a lone "chunked" is decoded. A list made only of
 * registered codings is well-formed but unimplemented (501); anything else,
 * including chunked anywhere but alone, is a framing error (400). */
static int transfer_encoding_status(kiln_str_t v)
{
    te_scan_t s = { 0 };
    each_element(v, te_element, &s);
    if (s.unknown) return 400;
    if (s.n == 1 && s.chunked_at == 1) return 0;
    if (s.chunked_at && s.chunked_at != s.n) return 400;
    return 501;
}

/* Framing and connection decisions once the whole head is in (RFC 9112 §6.3, §9.3). */
static int finish_head(parser_t *p)
{
    kiln_http_req_t *r = p->req;
    if (p->n_te) {
        if (r->version_minor == 0 || p->n_cl) return reject(p, 400);
        int st = transfer_encoding_status(p->te);
        if (st) return reject(p, st);
        r->body_kind = KILN_BODY_CHUNKED;
    } else if (p->n_cl) {
        r->body_kind = KILN_BODY_LENGTH;
    }
    if (r->version_minor == 1 && (p->n_host == 0 || r->host.len == 0)) return reject(p, 400);
    r->keep_alive = r->version_minor == 1 ? !p->conn_close : (p->conn_keep_alive && !p->conn_close);
    r->upgrade = p->conn_upgrade && p->has_upgrade;
    return 0;
}

static int parse_header_line(parser_t *p, size_t *pos, int *done)
{
    size_t hl = p->lim->max_header_bytes, i = *pos, end = p->len < hl ? p->len : hl;
    const char *b = p->b;
    int rc;

    if ((rc = need(p, i, hl, 431)) != 0) return rc;
    if (b[i] == '\r' || b[i] == '\n') {
        if ((rc = line_end(p, &i, hl, 431)) != 0) return rc;
        *pos = i;
        *done = 1;
        return 0;
    }
    size_t ns = i;
    while (i < end && kiln__is((unsigned char)b[i], KILN__CT_TCHAR)) i++;
    if ((rc = need(p, i, hl, 431)) != 0) return rc;
    /* obs-fold and a whitespace line before the first field start with SP/HTAB
     * (empty name); SP before the colon and non-token bytes stop the name. */
    if (i == ns || b[i] != ':') return reject(p, 400);
    size_t ne = i++;
    while (i < end && (b[i] == ' ' || b[i] == '\t')) i++;
    size_t vs = i;
    while (i < end && kiln__is((unsigned char)b[i], KILN__CT_VALUE)) i++;
    if ((rc = need(p, i, hl, 431)) != 0) return rc;
    size_t ve = i;
    while (ve > vs && (b[ve - 1] == ' ' || b[ve - 1] == '\t')) ve--;
    if ((rc = line_end(p, &i, hl, 431)) != 0) return rc;

    kiln_http_req_t *r = p->req;
    if (r->n_headers >= p->lim->max_headers) return reject(p, 431);
    kiln_header_t *h = &r->headers[r->n_headers++];
    h->name = (kiln_str_t){ b + ns, ne - ns };
    h->value = (kiln_str_t){ b + vs, ve - vs };
    *pos = i;
    return header_semantics(p, h);
}

static void req_reset(kiln_http_req_t *r)
{
    kiln_header_t *headers = r->headers;
    memset(r, 0, sizeof *r);
    r->headers = headers;
}

int kiln_http_parse_request(const char *buf, size_t len, const kiln_http_limits_t *limits, kiln_http_req_t *req,
                            int *status)
{
    parser_t p = { .b = buf, .len = len, .lim = limits, .req = req, .status = status };
    size_t i = 0;
    int rc, done = 0;

    req_reset(req);
    *status = 0;
    /* RFC 9112 §2.2: skip empty lines before the request line (they count toward the head limit). */
    for (;;) {
        if ((rc = need(&p, i, limits->max_header_bytes, 431)) != 0) return rc;
        if (buf[i] != '\r' && buf[i] != '\n') break;
        if ((rc = line_end(&p, &i, limits->max_header_bytes, 431)) != 0) return rc;
    }
    if ((rc = parse_request_line(&p, &i)) != 0) return rc;
    while (!done)
        if ((rc = parse_header_line(&p, &i, &done)) != 0) return rc;
    if ((rc = finish_head(&p)) != 0) return rc;
    return (int)i;
}
