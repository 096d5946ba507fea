/* libFuzzer target: the WebSocket frame header parser and the unmasking
 * helper (include/kiln/websocket.h), on a stream of frames as a client would
 * send them. The first byte picks the parser flags (bits 0-1: REQUIRE_MASK,
 * RSV1), the size limit (bits 2-4, a table of the boundaries that matter) and
 * the piece size for unmasking (bits 5-7); the rest is the stream.
 *
 * For each frame it checks, beyond crashes:
 *  - the answer equals the RFC 6455 §5.2 rules written out again below
 *    (reserved opcodes and RSV bits refused unless negotiated, control frames
 *    fragmented or over 125 bytes refused, minimal lengths, the 63-bit top
 *    bit, 1009 for a length over the limit), and the decoded fields equal the
 *    header bits;
 *  - the header length never exceeds the input, and every prefix gives "need
 *    more" or the same answer (split invariance; each prefix is parsed from
 *    its own allocation so that a read past the cut is an ASan report);
 *  - parsing allocates nothing (W8: a header over the limit, or a 63-bit
 *    length, is refused before anything is allocated), counted through the
 *    sanitizer's malloc hook;
 *  - the server-side writer re-encodes the same opcode, FIN and length;
 *  - unmasking whole, in pieces (with a 64-bit offset) and twice agrees with
 *    a byte-by-byte XOR.
 * Fragment reassembly (src/channel/ws.c) is static and bound to a socket, so
 * it is exercised by the unit and integration tests, not here. */
#include "kiln/websocket.h"

#include <sanitizer/allocator_interface.h>
#include <stdlib.h>
#include <string.h>

#define PROTO (-KILN_WS_CLOSE_PROTOCOL)
#define TOO_BIG (-KILN_WS_CLOSE_TOO_BIG)
#define MAX_HEAD 14
#define MAX_FRAMES 64

static size_t n_allocs; /* allocations seen by the sanitizer hook: must not move while parsing */

static void on_malloc(const volatile void *p, size_t size)
{
    (void)p, (void)size;
    n_allocs++;
}

static void on_free(const volatile void *p)
{
    (void)p;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    __sanitizer_install_malloc_and_free_hooks(on_malloc, on_free);
    return 0;
}

/* The limits around each length encoding's edges, and "none". */
static const uint64_t limits[8] = { 0, 1, 125, 126, 65535, 65536, 1u << 20, UINT64_MAX };

static int is_known_opcode(int op)
{
    return op <= KILN_WS_BINARY || (op >= KILN_WS_CLOSE && op <= KILN_WS_PONG);
}

/* The rules, independently of the parser and in the order it must apply them:
 * what the first two bytes decide first (fail fast), then the extended
 * length, then the limit (from the header alone), and the mask last. */
static int expect(const uint8_t *b, size_t n, int flags, uint64_t max)
{
    if (n < 2) return 0;
    int fin = b[0] >> 7, rsv1 = (b[0] >> 6) & 1, rsv23 = (b[0] >> 4) & 3, op = b[0] & 0x0F;
    int masked = b[1] >> 7, len7 = b[1] & 0x7F, control = op >= 8;
    if (rsv23 || !is_known_opcode(op)) return PROTO;
    if (rsv1 && (!(flags & KILN_WS_RSV1) || control || op == KILN_WS_CONT)) return PROTO;
    if ((flags & KILN_WS_REQUIRE_MASK) && !masked) return PROTO;
    if (control && (!fin || len7 > 125)) return PROTO;
    size_t pos = 2;
    uint64_t len = (uint64_t)len7;
    if (len7 == 126) {
        if (n < 4) return 0;
        len = (uint64_t)b[2] << 8 | b[3];
        if (len < 126) return PROTO;
        pos = 4;
    } else if (len7 == 127) {
        if (n < 10) return 0;
        len = 0;
        for (int i = 0; i < 8; i++) len = len << 8 | b[2 + i];
        if (len >> 63 || len <= 0xFFFF) return PROTO;
        pos = 10;
    }
    if (len > max) return TOO_BIG;
    if (masked) pos += 4;
    return n < pos ? 0 : (int)pos;
}

/* Parses a copy of exactly n bytes, so that ASan sees any read past n. */
static int parse_exact(const uint8_t *b, size_t n, int flags, uint64_t max, kiln_ws_header_t *h)
{
    uint8_t *copy = malloc(n ? n : 1);
    memcpy(copy, b, n);
    memset(h, 0, sizeof *h);
    size_t before = n_allocs;
    int rc = kiln_ws_parse_header(copy, n, flags, max, h);
    if (n_allocs != before) abort();
    free(copy);
    return rc;
}

/* The decoded fields against the header bits. */
static void check_fields(const uint8_t *b, int hl, const kiln_ws_header_t *h, int flags, uint64_t max)
{
    if (hl < 2 || hl > MAX_HEAD || h->head_len != (size_t)hl) abort();
    if (h->fin != b[0] >> 7 || h->rsv1 != ((b[0] >> 6) & 1) || h->opcode != (b[0] & 0x0F) || h->masked != b[1] >> 7) abort();
    if (h->len > max || h->len >> 63) abort();
    if ((flags & KILN_WS_REQUIRE_MASK) && !h->masked) abort();
    if (h->opcode >= 8 && (!h->fin || h->len > 125)) abort();
    if (h->masked && memcmp(h->mask, b + hl - 4, 4) != 0) abort();
    size_t ext = (size_t)hl - 2 - (h->masked ? 4 : 0);
    if (ext != (h->len < 126 ? 0 : h->len <= 0xFFFF ? 2 : 8)) abort(); /* the shortest encoding only */
}

/* What the server writes for the same frame parses back to the same frame. */
static void check_rewrite(const kiln_ws_header_t *h)
{
    uint8_t out[MAX_HEAD];
    size_t n = kiln_ws_write_header(out, h->opcode, h->fin, h->len);
    kiln_ws_header_t back;
    if (n + (h->masked ? 4 : 0) != h->head_len) abort();
    if (parse_exact(out, n, 0, UINT64_MAX, &back) != (int)n) abort();
    if (back.opcode != h->opcode || back.fin != h->fin || back.len != h->len || back.masked) abort();
}

/* Unmasking whole, in pieces of `step` bytes at a far 64-bit offset (only
 * offset mod 4 may matter), and masking again, against a plain XOR. */
static void check_unmask(const uint8_t *p, size_t len, const uint8_t mask[4], size_t step)
{
    uint8_t *ref = malloc(len + 1), *whole = malloc(len + 1), *pieces = malloc(len + 1);
    for (size_t i = 0; i < len; i++) ref[i] = p[i] ^ mask[i & 3];
    memcpy(whole, p, len);
    memcpy(pieces, p, len);
    kiln_ws_unmask(whole, len, mask, 0);
    const uint64_t far = (uint64_t)1 << 62;
    for (size_t off = 0; off < len; off += step)
        kiln_ws_unmask(pieces + off, len - off < step ? len - off : step, mask, far + off);
    if (memcmp(whole, ref, len) != 0 || memcmp(pieces, ref, len) != 0) abort();
    kiln_ws_unmask(whole, len, mask, 0);
    if (memcmp(whole, p, len) != 0) abort();
    free(ref);
    free(whole);
    free(pieces);
}

/* One frame at the start of b[0..n): returns the bytes it takes (header and
 * payload), or 0 when the stream ends here (an error, or more bytes needed). */
static size_t one_frame(const uint8_t *b, size_t n, int flags, uint64_t max, size_t step)
{
    kiln_ws_header_t h;
    int rc = parse_exact(b, n, flags, max, &h);
    if (rc != expect(b, n, flags, max)) abort();
    if (rc > 0 && (size_t)rc > n) abort();
    /* split invariance: "need more" until the answer, then that answer */
    size_t upto = n < MAX_HEAD ? n : MAX_HEAD;
    int seen = 0;
    for (size_t cut = 0; cut <= upto; cut++) {
        kiln_ws_header_t hp;
        int r = parse_exact(b, cut, flags, max, &hp);
        if (r != 0 && r != rc) abort();
        if (seen && r != rc) abort();
        seen |= r != 0;
    }
    if (rc <= 0) return 0;
    check_fields(b, rc, &h, flags, max);
    check_rewrite(&h);
    if (h.len > n - (size_t)rc) return 0; /* a transport would wait for the payload */
    if (h.masked) check_unmask(b + rc, (size_t)h.len, h.mask, step);
    return (size_t)rc + (size_t)h.len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    int flags = data[0] & 3;
    uint64_t max = limits[(data[0] >> 2) & 7];
    size_t step = 1 + (data[0] >> 5);
    const uint8_t *b = data + 1;
    size_t n = size - 1, pos = 0;
    for (int i = 0; i < MAX_FRAMES && pos < n; i++) {
        size_t used = one_frame(b + pos, n - pos, flags, max, step);
        if (!used) break;
        pos += used;
    }
    return 0;
}
