/* libFuzzer target: the HTTP/1.1 head parser, then the chunked decoder on
 * whatever follows the head. Checks the parser's invariants rather than only
 * crashes: the head count never exceeds the input, every slice lies inside the
 * buffer, a rejection carries a status, and a shorter prefix of the input gives
 * "need more" or the same answer (split invariance, test H2). */
#include "kiln/http.h"

#include <stdlib.h>
#include <string.h>

static void check_slice(kiln_str_t s, const char *buf, size_t len)
{
    if (s.len && (s.ptr < buf || s.ptr + s.len > buf + len)) abort();
}

static void check_req(const kiln_http_req_t *r, const char *buf, size_t len)
{
    check_slice(r->method_str, buf, len);
    check_slice(r->target, buf, len);
    check_slice(r->path, buf, len);
    check_slice(r->query, buf, len);
    check_slice(r->host, buf, len);
    for (size_t i = 0; i < r->n_headers; i++) {
        check_slice(r->headers[i].name, buf, len);
        check_slice(r->headers[i].value, buf, len);
        if (r->headers[i].name.len == 0) abort();
    }
    if (r->version_minor != 0 && r->version_minor != 1) abort();
}

static void decode_body(const char *buf, size_t len, const kiln_http_limits_t *l, size_t step)
{
    kiln_chunked_t c;
    kiln_chunked_init(&c);
    char *dst = malloc(len ? len : 1);
    size_t pos = 0;
    while (pos < len) {
        size_t n = len - pos < step ? len - pos : step, out = 0, used = n;
        int status = 0;
        int rc = kiln_chunked_decode(&c, buf + pos, &used, dst, &out, l, &status);
        if (used > n || out > used) abort();
        if (rc < 0 && status != 400 && status != 431) abort();
        if (rc != 0) break;
        if (used != n) abort(); /* "need more" means everything was taken */
        pos += used;
    }
    free(dst);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static kiln_header_t hdrs[100];
    kiln_http_limits_t l;
    kiln_http_limits_default(&l);
    if (size < 1) return 0;
    /* the first byte picks tight limits sometimes, so that limit paths get exercised */
    if (data[0] & 1) {
        l.max_request_line = 16 + data[0] % 64;
        l.max_header_bytes = 32 + data[0];
        l.max_headers = 1 + data[0] % 8;
        l.max_chunk_ext = data[0] % 32;
        l.max_trailer_bytes = data[0] % 64;
    }
    const char *buf = (const char *)data + 1;
    size_t len = size - 1;
    /* a private copy so that ASan catches reads past the end */
    char *copy = malloc(len ? len : 1);
    memcpy(copy, buf, len);

    kiln_http_req_t r = { .headers = hdrs };
    int status = 0;
    int rc = kiln_http_parse_request(copy, len, &l, &r, &status);
    if (rc > 0) {
        if ((size_t)rc > len) abort();
        check_req(&r, copy, len);
        if (r.n_headers > l.max_headers) abort();
        if (r.body_kind == KILN_BODY_CHUNKED) decode_body(copy + rc, len - (size_t)rc, &l, 1 + data[0] % 13);
    } else if (rc == KILN_EINVAL) {
        if (status < 400 || status > 505) abort();
    } else if (rc != KILN_EAGAIN) {
        abort();
    }

    size_t cut = len ? (data[0] * 131u) % len : 0;
    kiln_http_req_t r2 = { .headers = hdrs };
    int status2 = 0;
    int rc2 = kiln_http_parse_request(copy, cut, &l, &r2, &status2);
    if (rc2 != KILN_EAGAIN) {
        if (rc2 > 0 && rc2 != rc) abort();
        if (rc2 == KILN_EINVAL && (rc != KILN_EINVAL || status2 != status)) abort();
    }
    free(copy);
    return 0;
}
