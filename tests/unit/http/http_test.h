/* Helpers shared by the HTTP parser tests: run the head parser with the
 * default limits on a literal and report an HTTP-status-like outcome. */
#ifndef KILN_HTTP_TEST_H
#define KILN_HTTP_TEST_H

#include "kiln/http.h"
#include "kiln_test.h"

#define HT_OK 200     /* the head parsed */
#define HT_AGAIN (-1) /* the parser wants more bytes */

typedef struct ht_case {
    const char *raw;
    size_t len;
    int expect; /* HT_OK, HT_AGAIN or the rejection status */
} ht_case_t;

/* sizeof - 1 keeps embedded NULs */
#define HT_CASE(s, e) { (s), sizeof(s) - 1, (e) }

static kiln_header_t ht_headers[1000];

static int ht_parse_lim(const char *raw, size_t len, const kiln_http_limits_t *l, kiln_http_req_t *r)
{
    int status = -1;
    r->headers = ht_headers;
    int rc = kiln_http_parse_request(raw, len, l, r, &status);
    if (rc > 0) return HT_OK;
    if (rc == KILN_EAGAIN) return HT_AGAIN;
    return rc == KILN_EINVAL ? status : -100 + rc;
}

static int ht_parse(const char *raw, size_t len, kiln_http_req_t *r)
{
    kiln_http_limits_t l;
    kiln_http_limits_default(&l);
    return ht_parse_lim(raw, len, &l, r);
}

/* Runs a table; reports the first failing row by index and its bytes. */
#define HT_RUN_TABLE(tbl)                                                                                              \
    do {                                                                                                               \
        for (size_t i_ = 0; i_ < KILN_ARRAY_LEN(tbl); i_++) {                                                          \
            kiln_http_req_t r_;                                                                                        \
            int got_ = ht_parse((tbl)[i_].raw, (tbl)[i_].len, &r_);                                                    \
            if (got_ != (tbl)[i_].expect)                                                                              \
                KT_FAIL_("row %zu: expected %d got %d: %.*s", i_, (tbl)[i_].expect, got_, (int)(tbl)[i_].len,         \
                         (tbl)[i_].raw);                                                                               \
        }                                                                                                              \
    } while (0)

#endif
