/* Kiln WebSocket (RFC 6455) codec: handshake key, frame headers, incremental
 * UTF-8 validation. Pure functions over caller buffers: no I/O, no allocation.
 * The transport that uses them (sockets, channels) is src/channel/ws.c; these
 * are public so that tests and other transports can frame bytes the same way.
 *
 * Close codes used by the transport: 1001 going away, 1002 protocol error,
 * 1007 invalid UTF-8, 1008 policy (slow consumer), 1009 too big, 1011 error. */
#ifndef KILN_WEBSOCKET_H
#define KILN_WEBSOCKET_H

#include <stddef.h>
#include <stdint.h>

enum {
    KILN_WS_CONT = 0x0, KILN_WS_TEXT = 0x1, KILN_WS_BINARY = 0x2,
    KILN_WS_CLOSE = 0x8, KILN_WS_PING = 0x9, KILN_WS_PONG = 0xA
};
enum {
    KILN_WS_CLOSE_NORMAL = 1000, KILN_WS_CLOSE_GOING_AWAY = 1001, KILN_WS_CLOSE_PROTOCOL = 1002,
    KILN_WS_CLOSE_BAD_DATA = 1007, KILN_WS_CLOSE_POLICY = 1008, KILN_WS_CLOSE_TOO_BIG = 1009,
    KILN_WS_CLOSE_ERROR = 1011
};

/* Sec-WebSocket-Accept for a client key: base64(SHA-1(key + GUID)), 28 chars
 * plus NUL into out[29]. Returns 0, or KILN_EINVAL unless the key is the
 * base64 of 16 bytes (24 chars, RFC 6455 §4.2.1). */
int kiln_ws_accept_key(const char *key, size_t key_len, char out[29]);

typedef struct kiln_ws_header {
    uint8_t fin, opcode, masked;
    uint8_t rsv1;     /* a compressed message (permessage-deflate) */
    uint8_t mask[4];
    uint64_t len;     /* payload length */
    size_t head_len;  /* bytes of the header itself (2..14) */
} kiln_ws_header_t;

/* Parses a client frame header from buf[0..n). flags: KILN_WS_REQUIRE_MASK,
 * and KILN_WS_RSV1 once permessage-deflate is negotiated. Returns the header
 * length (> 0), 0 if more bytes are needed, or a negative close code: -1002
 * for RSV2/RSV3, RSV1 unless allowed (and then only on a message's first data
 * frame), reserved opcodes, an unmasked frame (when required), a fragmented
 * or > 125-byte control frame, a non-minimal or 64-bit length with the top bit
 * set; -1009 when len > max_payload (decided from the header, before any
 * payload is read). */
enum { KILN_WS_REQUIRE_MASK = 1, KILN_WS_RSV1 = 2 };
int kiln_ws_parse_header(const uint8_t *buf, size_t n, int flags, uint64_t max_payload, kiln_ws_header_t *h);

/* Unmasks (or masks) len bytes in place; `offset` is the position of p[0]
 * within the payload, so a payload may be processed in pieces. */
void kiln_ws_unmask(uint8_t *p, size_t len, const uint8_t mask[4], uint64_t offset);

/* Writes an unmasked server frame header for a payload of len bytes into
 * out (>= 10 bytes); returns its length (2, 4 or 10). */
size_t kiln_ws_write_header(uint8_t *out, int opcode, int fin, uint64_t len);

/* Incremental UTF-8 validation (Hoehrmann-style DFA): *state starts at 0;
 * feed pieces in order. Returns 0 while valid so far, -1 as soon as the bytes
 * cannot be the prefix of valid UTF-8 (fail fast inside fragments).
 * kiln_utf8_step_done(state) says whether a whole sequence ended. */
int kiln_utf8_step(uint32_t *state, const uint8_t *p, size_t n);
static inline int kiln_utf8_step_done(uint32_t state) { return state == 0; }

#endif
