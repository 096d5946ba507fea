/* Kiln HTTP/1.1 wire layer: the incremental request parser, chunked-body
 * decoder, limits, and response-head serialization.
 *
 * The parser is zero-copy and allocation-free: it is handed the bytes received
 * so far for one request and either finishes the request head, asks for more,
 * or rejects the request with the HTTP status to answer (docs/internals/http.md).
 * Names and values in the result point into the caller's buffer. */
#ifndef KILN_HTTP_H
#define KILN_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "kiln/core.h"

typedef enum {
    KILN_METHOD_OTHER = 0, KILN_METHOD_GET, KILN_METHOD_HEAD, KILN_METHOD_POST, KILN_METHOD_PUT,
    KILN_METHOD_PATCH, KILN_METHOD_DELETE, KILN_METHOD_OPTIONS, KILN_METHOD_TRACE, KILN_METHOD_CONNECT
} kiln_method_t;

typedef struct kiln_header {
    kiln_str_t name; /* as sent; compare case-insensitively */
    kiln_str_t value; /* OWS trimmed */
} kiln_header_t;

typedef struct kiln_http_limits {
    size_t max_request_line;   /* 8192 → 414 */
    size_t max_header_bytes;   /* 16384 (whole head) → 431 */
    size_t max_headers;        /* 100 fields → 431 */
    size_t max_body;           /* 8 MiB → 413 */
    size_t max_chunk_ext;      /* 4096 bytes of chunk extensions in total → 400 */
    size_t max_trailer_bytes;  /* 4096 → 431 */
} kiln_http_limits_t;

/* The defaults above. */
void kiln_http_limits_default(kiln_http_limits_t *l);

/* Body framing decided from the head. */
typedef enum { KILN_BODY_NONE, KILN_BODY_LENGTH, KILN_BODY_CHUNKED } kiln_body_kind_t;

typedef struct kiln_http_req {
    kiln_method_t method;
    kiln_str_t method_str;
    kiln_str_t target;     /* request-target as sent (origin-form, or '*' for OPTIONS, absolute-form) */
    kiln_str_t path;       /* target up to '?' (still percent-encoded) */
    kiln_str_t query;      /* after '?', without it; empty if none */
    int version_minor;     /* HTTP/1.x */
    kiln_header_t *headers; /* caller-provided array of capacity max_headers */
    size_t n_headers;
    kiln_str_t host;
    kiln_body_kind_t body_kind;
    uint64_t content_length; /* for KILN_BODY_LENGTH */
    unsigned keep_alive : 1;      /* per version and Connection */
    unsigned expect_continue : 1; /* Expect: 100-continue */
    unsigned upgrade : 1;         /* Connection: upgrade + Upgrade present */
} kiln_http_req_t;

/* Parses a request head from buf[0..len). `headers`/`n_headers` of req must
 * point to an array of capacity limits->max_headers before the call.
 * Returns: >0 the number of bytes the head used (body starts there);
 *          KILN_EAGAIN if more bytes are needed (call again with the longer buffer);
 *          KILN_EINVAL with *status set to the HTTP status to answer (400, 414,
 *          431, 501, 505) when the request must be rejected; the connection
 *          must be closed after the answer.
 * Leading empty lines before the request line are skipped (RFC 9112 §2.2).
 * Policies (tests H3–H6 in tests/unit/http): bare LF line ends are accepted in
 * the head, bare CR is rejected; CL+TE, duplicate CL (even equal), TE on 1.0,
 * any TE other than a single "chunked" (501 when every coding is a registered
 * one we do not implement, e.g. "gzip"; 400 otherwise), obs-fold, space before
 * colon, non-token names, CTL in values, missing or duplicate or invalid Host
 * on 1.1 are rejected. The full table is in docs/internals/http.md.
 * Limits are positions: once len reaches the request-line or head limit
 * without the line or head ending, the answer is 414 or 431 even though the
 * request is incomplete, so the caller never buffers more than
 * max_header_bytes. The answer for a prefix of the input is always
 * KILN_EAGAIN or the answer for the whole input (split invariance). */
int kiln_http_parse_request(const char *buf, size_t len, const kiln_http_limits_t *limits,
                            kiln_http_req_t *req, int *status);

/* Incremental chunked-body decoder. Feed it raw bytes; it writes decoded body
 * bytes in place (dst may equal src) and tells how much input it used. It
 * keeps state between calls; completion and errors are sticky. Framing must
 * use CRLF; trailers are validated, capped and discarded (never merged). */
typedef struct kiln_chunked {
    int state;
    uint64_t remaining;  /* bytes left in the current chunk */
    size_t ext_bytes;    /* chunk-extension bytes seen (bounded) */
    size_t trailer_bytes;
    int digits;
} kiln_chunked_t;

void kiln_chunked_init(kiln_chunked_t *c);
/* Decodes src[0..*src_len): on return *src_len is the number of input bytes
 * consumed and *dst_len the number of body bytes written to dst (capacity
 * >= *src_len). Returns 1 when the final chunk and trailers are complete, 0 when
 * more input is needed, or KILN_EINVAL (*status = 400 or 431) on a framing error. */
int kiln_chunked_decode(kiln_chunked_t *c, const char *src, size_t *src_len, char *dst, size_t *dst_len,
                        const kiln_http_limits_t *limits, int *status);

/* Looks up a request header by name (case-insensitive); the first match. */
const kiln_str_t *kiln_http_req_header(const kiln_http_req_t *req, const char *name);

const char *kiln_http_status_text(int status); /* "Not Found"; "Unknown" for others */
kiln_method_t kiln_http_method_from(kiln_str_t s);
const char *kiln_http_method_name(kiln_method_t m);

/* Writes the cached IMF-fixdate (29 bytes, "Sun, 06 Nov 1994 08:49:37 GMT") for
 * the current second into out[29]; the formatting is done once per second per thread. */
void kiln_http_date(char out[29]);
/* Formats t as an IMF-fixdate into out[30] (NUL-terminated). */
void kiln_http_date_fmt(int64_t unix_seconds, char out[30]);
/* Parses an IMF-fixdate; returns 0 and *out, or KILN_EINVAL. */
int kiln_http_date_parse(kiln_str_t s, int64_t *out);

/* True if value is safe in a response header (no CR, LF or NUL): response splitting guard. */
int kiln_http_header_value_ok(kiln_str_t v);
int kiln_http_token_ok(kiln_str_t v); /* RFC 9110 token */

/* Percent-decodes src into dst (capacity >= src.len; src.len <= INT_MAX).
 * plus_as_space for application/x-www-form-urlencoded. Returns the decoded
 * length or KILN_EINVAL on a bad escape ('%' not followed by two hex digits).
 * dst is not NUL-terminated. */
int kiln_url_decode(kiln_str_t src, char *dst, int plus_as_space);

#endif
