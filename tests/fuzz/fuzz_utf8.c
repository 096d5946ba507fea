/* libFuzzer target: the two UTF-8 validators, the incremental one the
 * WebSocket transport runs inside fragments (kiln_utf8_step, W6) and the
 * one-shot one the params parsers use (kiln_utf8_valid), against glibc's
 * iconv UTF-8 decoder as the oracle. The first byte seeds the split points;
 * the rest is the text.
 *
 * glibc's decoder follows RFC 3629 here (overlongs, surrogates, code points
 * above U+10FFFF and the old 5- and 6-byte forms are EILSEQ; noncharacters
 * and U+FEFF pass), so it can judge whole inputs. At the end of its input it
 * is lax: F5, F8 or ED A0 there are EINVAL, "incomplete", though no byte
 * could complete them. So "could this prefix still become valid UTF-8?" is
 * asked as "is one of the few completions that cover every continuation range
 * (80, 90 or A0, then 80s) valid?", which iconv answers exactly.
 *
 * Invariants:
 *  - one-shot, incremental (state back to 0 at the end) and iconv agree;
 *  - fed byte by byte, and in pieces of seeded sizes, the step function gives
 *    the same verdict and end state as in one call;
 *  - fail fast: when it fails at byte k, bytes [0, k) can still become valid
 *    and [0, k] cannot, and a split run fails in the piece holding byte k;
 *  - a run that does not fail ends in a prefix that can still become valid,
 *    and in state 0 exactly when the whole input is valid. */
#include "kiln/params.h"
#include "kiln/websocket.h"

#include <errno.h>
#include <iconv.h>
#include <stdlib.h>
#include <string.h>

enum { ORACLE_OK, ORACLE_INCOMPLETE, ORACLE_BAD };

static iconv_t cd;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    cd = iconv_open("UTF-32LE", "UTF-8");
    if (cd == (iconv_t)-1) abort();
    return 0;
}

static int oracle(const uint8_t *p, size_t n)
{
    iconv(cd, NULL, NULL, NULL, NULL); /* back to the initial state */
    char *in = (char *)p;
    size_t left = n;
    for (;;) {
        char out[512], *o = out;
        size_t room = sizeof out;
        if (iconv(cd, &in, &left, &o, &room) != (size_t)-1) return ORACLE_OK;
        if (errno == E2BIG) continue; /* the output buffer is only a window */
        return errno == EINVAL ? ORACLE_INCOMPLETE : ORACLE_BAD;
    }
}

/* Whether p[0..n) is a prefix of some valid UTF-8 text. */
static int completable(const uint8_t *p, size_t n)
{
    int v = oracle(p, n);
    if (v != ORACLE_INCOMPLETE) return v == ORACLE_OK;
    /* the second byte of a sequence is the only one with a range narrower
     * than 80..BF, and 80, 90 and A0 between them hit each of those ranges */
    static const uint8_t firsts[3] = { 0x80, 0x90, 0xA0 };
    uint8_t *buf = malloc(n + 3);
    memcpy(buf, p, n);
    int ok = 0;
    for (int f = 0; f < 3 && !ok; f++) {
        buf[n] = firsts[f];
        buf[n + 1] = buf[n + 2] = 0x80;
        for (size_t extra = 1; extra <= 3 && !ok; extra++) ok = oracle(buf, n + extra) == ORACLE_OK;
    }
    free(buf);
    return ok;
}

typedef struct run {
    int rc;          /* the step function's answer: 0, or -1 once it failed */
    uint32_t state;  /* after the last piece taken */
    size_t fail_lo;  /* the failing piece: [fail_lo, fail_hi) */
    size_t fail_hi;
} run_t;

/* Feeds p[0..n) in pieces; sizes come from a generator seeded by `seed`
 * (seed 0: one byte at a time, "split at every byte"). */
static run_t feed(const uint8_t *p, size_t n, unsigned seed)
{
    run_t r = { 0, 0, 0, 0 };
    uint32_t x = seed * 2654435761u + 1;
    for (size_t pos = 0; pos < n;) {
        x = x * 1103515245u + 12345u;
        size_t len = seed ? 1 + (x >> 16) % 9 : 1;
        if (len > n - pos) len = n - pos;
        if (kiln_utf8_step(&r.state, p + pos, len) < 0) {
            r.rc = -1, r.fail_lo = pos, r.fail_hi = pos + len;
            return r;
        }
        pos += len;
    }
    return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    size_t n = size - 1;
    uint8_t *p = malloc(n ? n : 1); /* exact size: ASan sees any read past the end */
    memcpy(p, data + 1, n);

    int valid = oracle(p, n) == ORACLE_OK;
    if (kiln_utf8_valid((const char *)p, n) != valid) abort();
    run_t whole = { 0, 0, 0, n };
    whole.rc = kiln_utf8_step(&whole.state, p, n);
    if ((whole.rc == 0 && whole.state == 0) != valid) abort();

    run_t bytes = feed(p, n, 0), split = feed(p, n, data[0]);
    if (bytes.rc != whole.rc || split.rc != whole.rc) abort();
    if (whole.rc < 0) {
        size_t k = bytes.fail_lo; /* the byte that made it invalid */
        if (!completable(p, k) || completable(p, k + 1)) abort();
        if (k < split.fail_lo || k >= split.fail_hi) abort();
    } else {
        if (bytes.state != whole.state || split.state != whole.state) abort();
        if (!completable(p, n)) abort();
        if (kiln_utf8_step_done(whole.state) != valid) abort();
    }
    free(p);
    return 0;
}
