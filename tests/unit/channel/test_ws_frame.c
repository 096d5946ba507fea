/* WebSocket codec: the RFC 6455 accept sample (W1), header lengths at every
 * boundary and split at every byte (W2), control-frame rules (W3), RSV bits
 * and reserved opcodes (W4), limits decided from the header (W8), and the
 * incremental UTF-8 validator fed byte by byte (W6). */
#include "kiln/core.h"
#include "kiln/websocket.h"
#include "kiln_test.h"

#include <stdlib.h>

static void test_W1_accept_key_rfc_sample(void)
{
    char out[29];
    KT_ASSERT_EQ_INT(kiln_ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", 24, out), 0);
    KT_ASSERT_EQ_STR(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    KT_ASSERT_EQ_INT(kiln_ws_accept_key("dGhlIHNhbXBsZSBub25jZQ=", 23, out), KILN_EINVAL);
    KT_ASSERT_EQ_INT(kiln_ws_accept_key("dGhlIHNhbXBsZSBub25j*Q==", 24, out), KILN_EINVAL);
}

/* A masked client frame of len bytes; returns its header length. */
static size_t client_header(uint8_t *b, int op, uint64_t len)
{
    size_t h = kiln_ws_write_header(b, op, 1, len);
    b[1] |= 0x80;
    b[h] = 1, b[h + 1] = 2, b[h + 2] = 3, b[h + 3] = 4;
    return h + 4;
}

static void test_W2_length_boundaries_whole_and_split(void)
{
    const uint64_t lens[] = { 0, 1, 125, 126, 127, 128, 65535, 65536, 1u << 20 };
    for (size_t i = 0; i < KILN_ARRAY_LEN(lens); i++) {
        uint8_t b[14];
        size_t hl = client_header(b, KILN_WS_TEXT, lens[i]);
        kiln_ws_header_t h;
        for (size_t cut = 0; cut < hl; cut++) KT_ASSERT_EQ_INT(kiln_ws_parse_header(b, cut, 1, UINT64_MAX, &h), 0);
        KT_ASSERT_EQ_INT(kiln_ws_parse_header(b, hl, 1, UINT64_MAX, &h), (int)hl);
        KT_ASSERT_EQ_INT(h.len, lens[i]);
        KT_ASSERT(h.fin && h.masked && h.opcode == KILN_WS_TEXT && h.mask[3] == 4);
    }
}

static void test_W2_non_minimal_length_is_refused(void)
{
    uint8_t b[14] = { 0x81, 0x80 | 126, 0, 5 };
    kiln_ws_header_t h;
    KT_ASSERT_EQ_INT(kiln_ws_parse_header(b, 8, 1, UINT64_MAX, &h), -KILN_WS_CLOSE_PROTOCOL);
    uint8_t c[14] = { 0x81, 0x80 | 127, 0x80 };
    KT_ASSERT_EQ_INT(kiln_ws_parse_header(c, 14, 1, UINT64_MAX, &h), -KILN_WS_CLOSE_PROTOCOL);
}

static void test_W3_control_frames(void)
{
    uint8_t b[14];
    kiln_ws_header_t h;
    size_t hl = client_header(b, KILN_WS_PING, 125);
    KT_ASSERT_EQ_INT(kiln_ws_parse_header(b, hl, 1, UINT64_MAX, &h), (int)hl);
    hl = client_header(b, KILN_WS_PING, 126); /* a 126-byte ping fails the connection */
    KT_ASSERT_EQ_INT(kiln_ws_parse_header(b, hl, 1, UINT64_MAX, &h), -KILN_WS_CLOSE_PROTOCOL);
    hl = client_header(b, KILN_WS_PING, 3);
    b[0] &= 0x7F; /* a fragmented control frame */
    KT_ASSERT_EQ_INT(kiln_ws_parse_header(b, hl, 1, UINT64_MAX, &h), -KILN_WS_CLOSE_PROTOCOL);
}

static void test_W4_rsv_and_reserved_opcodes(void)
{
    kiln_ws_header_t h;
    for (int rsv = 1; rsv < 8; rsv++) {
        uint8_t b[6] = { (uint8_t)(0x81 | rsv << 4), 0x80, 0, 0, 0, 0 };
        KT_ASSERT_EQ_INT(kiln_ws_parse_header(b, 6, 1, UINT64_MAX, &h), -KILN_WS_CLOSE_PROTOCOL);
    }
    const int ops[] = { 3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF };
    for (size_t i = 0; i < KILN_ARRAY_LEN(ops); i++) {
        uint8_t b[6] = { (uint8_t)(0x80 | ops[i]), 0x80, 0, 0, 0, 0 };
        KT_ASSERT_EQ_INT(kiln_ws_parse_header(b, 6, 1, UINT64_MAX, &h), -KILN_WS_CLOSE_PROTOCOL);
    }
}

/* permessage-deflate: RSV1 only when negotiated, only on a message's first data frame. */
static void test_rsv1_with_deflate(void)
{
    kiln_ws_header_t h;
    const int f = KILN_WS_REQUIRE_MASK | KILN_WS_RSV1;
    uint8_t text[6] = { 0xC1, 0x80, 0, 0, 0, 0 }, bin[6] = { 0x42, 0x80, 0, 0, 0, 0 };
    KT_ASSERT_EQ_INT(kiln_ws_parse_header(text, 6, f, UINT64_MAX, &h), 6);
    KT_ASSERT_EQ_INT(h.rsv1, 1);
    KT_ASSERT_EQ_INT(kiln_ws_parse_header(bin, 6, f, UINT64_MAX, &h), 6);
    KT_ASSERT(h.rsv1 && !h.fin);
    uint8_t cont[6] = { 0xC0, 0x80, 0, 0, 0, 0 }, ping[6] = { 0xC9, 0x80, 0, 0, 0, 0 }, rsv2[6] = { 0xE1, 0x80, 0, 0, 0, 0 };
    KT_ASSERT_EQ_INT(kiln_ws_parse_header(cont, 6, f, UINT64_MAX, &h), -KILN_WS_CLOSE_PROTOCOL);
    KT_ASSERT_EQ_INT(kiln_ws_parse_header(ping, 6, f, UINT64_MAX, &h), -KILN_WS_CLOSE_PROTOCOL);
    KT_ASSERT_EQ_INT(kiln_ws_parse_header(rsv2, 6, f, UINT64_MAX, &h), -KILN_WS_CLOSE_PROTOCOL);
    uint8_t plain[6] = { 0x81, 0x80, 0, 0, 0, 0 };
    KT_ASSERT_EQ_INT(kiln_ws_parse_header(plain, 6, f, UINT64_MAX, &h), 6);
    KT_ASSERT_EQ_INT(h.rsv1, 0);
}

static void test_W4_unmasked_client_frame(void)
{
    uint8_t b[2] = { 0x81, 0x05 };
    kiln_ws_header_t h;
    KT_ASSERT_EQ_INT(kiln_ws_parse_header(b, 2, 1, UINT64_MAX, &h), -KILN_WS_CLOSE_PROTOCOL);
}

static void test_W8_too_big_from_header_alone(void)
{
    /* A declared 2^62 length: refused from the 10 header bytes, nothing allocated. */
    uint8_t b[10] = { 0x82, 0x80 | 127, 0x40, 0, 0, 0, 0, 0, 0, 0 };
    kiln_ws_header_t h;
    KT_ASSERT_EQ_INT(kiln_ws_parse_header(b, 10, 1, 1 << 20, &h), -KILN_WS_CLOSE_TOO_BIG);
}

static void test_unmask_in_pieces(void)
{
    uint8_t mask[4] = { 0x11, 0x22, 0x33, 0x44 }, p[9] = "abcdefgh", q[9];
    memcpy(q, p, 9);
    kiln_ws_unmask(q, 3, mask, 0);
    kiln_ws_unmask(q + 3, 5, mask, 3);
    kiln_ws_unmask(q, 8, mask, 0);
    KT_ASSERT(memcmp(p, q, 8) == 0);
}

/* Valid iff the whole string validates, fed one byte at a time. */
static int utf8_bytewise(const char *s, size_t n)
{
    uint32_t st = 0;
    for (size_t i = 0; i < n; i++)
        if (kiln_utf8_step(&st, (const uint8_t *)s + i, 1) < 0) return 0;
    return st == 0;
}

static void test_W6_utf8_incremental(void)
{
    KT_ASSERT(utf8_bytewise("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", 11)); /* kosme */
    KT_ASSERT(utf8_bytewise("\xf4\x8f\xbf\xbf", 4));                           /* U+10FFFF */
    KT_ASSERT(utf8_bytewise("\xef\xbf\xbf", 3));                               /* a noncharacter is valid */
    KT_ASSERT(!utf8_bytewise("\xf4\x90\x80\x80", 4));                          /* > U+10FFFF */
    KT_ASSERT(!utf8_bytewise("\xed\xa0\x80", 3));                              /* a surrogate */
    KT_ASSERT(!utf8_bytewise("\xc0\xaf", 2));                                  /* overlong */
    KT_ASSERT(!utf8_bytewise("\xe0\x80\xaf", 3));                              /* overlong */
    KT_ASSERT(!utf8_bytewise("\xce\xba\xe1", 3));                              /* truncated */
    /* Fail fast: the first impossible byte fails, not the end of the message. */
    uint32_t st = 0;
    KT_ASSERT_EQ_INT(kiln_utf8_step(&st, (const uint8_t *)"\xce\xba\xf4\x90", 4), -1);
}

int main(void)
{
    KT_RUN(test_W1_accept_key_rfc_sample);
    KT_RUN(test_W2_length_boundaries_whole_and_split);
    KT_RUN(test_W2_non_minimal_length_is_refused);
    KT_RUN(test_W3_control_frames);
    KT_RUN(test_W4_rsv_and_reserved_opcodes);
    KT_RUN(test_rsv1_with_deflate);
    KT_RUN(test_W4_unmasked_client_frame);
    KT_RUN(test_W8_too_big_from_header_alone);
    KT_RUN(test_unmask_in_pieces);
    KT_RUN(test_W6_utf8_incremental);
    return kt_done();
}
