/* libFuzzer target: the chunked decoder. The input is decoded in one call
 * and again in pieces whose sizes come from the first byte; both runs must
 * agree on the outcome, the bytes consumed and the decoded body. */
#include "kiln/http.h"

#include <stdlib.h>
#include <string.h>

typedef struct outcome {
    int rc, status;
    size_t used, out;
} outcome_t;

static outcome_t decode(const char *src, size_t len, char *dst, size_t step, const kiln_http_limits_t *l)
{
    kiln_chunked_t c;
    kiln_chunked_init(&c);
    outcome_t o = { 0, 0, 0, 0 };
    while (o.used < len) {
        size_t n = len - o.used < step ? len - o.used : step, used = n, out = 0;
        o.rc = kiln_chunked_decode(&c, src + o.used, &used, dst + o.out, &out, l, &o.status);
        if (used > n || out > used) abort();
        o.used += used;
        o.out += out;
        if (o.rc != 0) break;
        if (used != n) abort();
    }
    return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    kiln_http_limits_t l;
    kiln_http_limits_default(&l);
    if (data[0] & 0x80) {
        l.max_chunk_ext = data[0] % 16;
        l.max_trailer_bytes = data[0] % 32;
    }
    const char *src = (const char *)data + 1;
    size_t len = size - 1;
    char *a = malloc(len + 1), *b = malloc(len + 1);
    outcome_t whole = decode(src, len, a, len ? len : 1, &l);
    outcome_t split = decode(src, len, b, 1 + data[0] % 7, &l);
    if (whole.rc != split.rc || whole.used != split.used || whole.out != split.out) abort();
    if (whole.rc < 0 && whole.status != split.status) abort();
    if (memcmp(a, b, whole.out) != 0) abort();
    free(a);
    free(b);
    return 0;
}
