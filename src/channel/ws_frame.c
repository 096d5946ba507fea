/* WebSocket codec (include/kiln/websocket.h): accept key, frame headers,
 * masking, incremental UTF-8. Pure functions: the transport (ws.c) owns all
 * buffers and decides what a failure closes with.
 *
 * The UTF-8 validator keeps, between pieces, how many continuation bytes are
 * still due and the range the next one must fall in (RFC 3629 table 3-7):
 * that range is what rules out overlongs (E0 A0.., F0 90..), surrogates
 * (ED ..9F) and code points above U+10FFFF (F4 ..8F) at the first byte that
 * makes them so, which is what "fail fast inside fragments" needs. */
#include "kiln/websocket.h"
#include "kiln/core.h"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <string.h>

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

static int b64_char_ok(char ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '+' || ch == '/';
}

int kiln_ws_accept_key(const char *key, size_t key_len, char out[29])
{
    /* 16 bytes in base64: 22 significant chars and "==". */
    if (key_len != 24 || key[22] != '=' || key[23] != '=') return KILN_EINVAL;
    for (size_t i = 0; i < 22; i++)
        if (!b64_char_ok(key[i])) return KILN_EINVAL;
    unsigned char cat[24 + sizeof WS_GUID], md[SHA_DIGEST_LENGTH];
    memcpy(cat, key, 24);
    memcpy(cat + 24, WS_GUID, sizeof WS_GUID - 1);
    SHA1(cat, 24 + sizeof WS_GUID - 1, md);
    EVP_EncodeBlock((unsigned char *)out, md, SHA_DIGEST_LENGTH);
    return 0;
}

static int reserved_opcode(int op)
{
    return (op >= 3 && op <= 7) || op >= 0xB;
}

int kiln_ws_parse_header(const uint8_t *b, size_t n, int flags, uint64_t max_payload, kiln_ws_header_t *h)
{
    if (n < 2) return 0;
    h->fin = b[0] >> 7;
    h->opcode = b[0] & 0x0F;
    h->masked = b[1] >> 7;
    h->rsv1 = (b[0] >> 6) & 1;
    if (b[0] & 0x30) return -KILN_WS_CLOSE_PROTOCOL; /* RSV2/RSV3: no extension uses them */
    /* RSV1 (permessage-deflate): only when negotiated, on a message's first data frame */
    if (h->rsv1 && (!(flags & KILN_WS_RSV1) || (h->opcode & 0x8) || h->opcode == KILN_WS_CONT))
        return -KILN_WS_CLOSE_PROTOCOL;
    if (reserved_opcode(h->opcode)) return -KILN_WS_CLOSE_PROTOCOL;
    if ((flags & KILN_WS_REQUIRE_MASK) && !h->masked) return -KILN_WS_CLOSE_PROTOCOL;
    uint64_t len = b[1] & 0x7F;
    size_t pos = 2;
    int control = h->opcode >= 0x8;
    if (control && (!h->fin || len > 125)) return -KILN_WS_CLOSE_PROTOCOL;
    if (len == 126) {
        if (n < 4) return 0;
        len = (uint64_t)b[2] << 8 | b[3];
        if (len < 126) return -KILN_WS_CLOSE_PROTOCOL; /* not the minimal encoding */
        pos = 4;
    } else if (len == 127) {
        if (n < 10) return 0;
        if (b[2] & 0x80) return -KILN_WS_CLOSE_PROTOCOL;
        len = 0;
        for (int i = 0; i < 8; i++) len = len << 8 | b[2 + i];
        if (len <= 0xFFFF) return -KILN_WS_CLOSE_PROTOCOL;
        pos = 10;
    }
    if (len > max_payload) return -KILN_WS_CLOSE_TOO_BIG;
    if (h->masked) {
        if (n < pos + 4) return 0;
        memcpy(h->mask, b + pos, 4);
        pos += 4;
    }
    h->len = len;
    h->head_len = pos;
    return (int)pos;
}

void kiln_ws_unmask(uint8_t *p, size_t len, const uint8_t mask[4], uint64_t offset)
{
    for (size_t i = 0; i < len; i++) p[i] ^= mask[(offset + i) & 3];
}

size_t kiln_ws_write_header(uint8_t *out, int opcode, int fin, uint64_t len)
{
    out[0] = (uint8_t)((fin ? 0x80 : 0) | (opcode & 0x0F));
    if (len < 126) {
        out[1] = (uint8_t)len;
        return 2;
    }
    if (len <= 0xFFFF) {
        out[1] = 126;
        out[2] = (uint8_t)(len >> 8);
        out[3] = (uint8_t)len;
        return 4;
    }
    out[1] = 127;
    for (int i = 0; i < 8; i++) out[2 + i] = (uint8_t)(len >> (56 - 8 * i));
    return 10;
}

/* state = need | lo << 8 | hi << 16: continuation bytes due and the next one's range. */
#define U8(need, lo, hi) ((uint32_t)(need) | (uint32_t)(lo) << 8 | (uint32_t)(hi) << 16)

static uint32_t lead_state(uint8_t c)
{
    if (c >= 0xC2 && c <= 0xDF) return U8(1, 0x80, 0xBF);
    if (c == 0xE0) return U8(2, 0xA0, 0xBF);
    if (c == 0xED) return U8(2, 0x80, 0x9F);
    if (c >= 0xE1 && c <= 0xEF) return U8(2, 0x80, 0xBF);
    if (c == 0xF0) return U8(3, 0x90, 0xBF);
    if (c >= 0xF1 && c <= 0xF3) return U8(3, 0x80, 0xBF);
    if (c == 0xF4) return U8(3, 0x80, 0x8F);
    return UINT32_MAX; /* 80..C1, F5..FF */
}

int kiln_utf8_step(uint32_t *state, const uint8_t *p, size_t n)
{
    uint32_t s = *state;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = p[i];
        if (s == 0) {
            if (c < 0x80) continue;
            s = lead_state(c);
            if (s == UINT32_MAX) return -1;
            continue;
        }
        if (c < ((s >> 8) & 0xFF) || c > ((s >> 16) & 0xFF)) return -1;
        uint32_t need = (s & 0xFF) - 1;
        s = need ? U8(need, 0x80, 0xBF) : 0;
    }
    *state = s;
    return 0;
}
