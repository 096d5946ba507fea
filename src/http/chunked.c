/* Chunked transfer-coding decoder (RFC 9112 §7.1).
 *
 * A byte-at-a-time state machine for the framing (sizes, extensions, CRLFs,
 * trailers) and a memmove for the data, so a body of large chunks costs one
 * copy per read. Unlike the head parser it keeps state between calls: a body
 * can be far longer than any buffer, and the caller drops decoded bytes as it
 * goes. The output is written in place (dst <= src position always), which is
 * why dst may alias src.
 *
 * Strict like the head parser: chunk framing must use CRLF (a bare LF or CR is
 * an error, as in nginx >= 1.29.4), sizes are plain hex without prefix or
 * padding, extensions are `;name[=token|quoted]` and capped, and trailers are
 * validated like header fields, capped, and then discarded, so that nothing in
 * them can change framing (Content-Length, Transfer-Encoding) or Host. */
#include "http/http_int.h"

#include <string.h>

enum {
    ST_SIZE_START, /* first hex digit of a chunk size */
    ST_SIZE,
    ST_EXT_NAME_START,
    ST_EXT_NAME,
    ST_EXT_VAL_START,
    ST_EXT_VAL_TOKEN,
    ST_EXT_QUOTED,
    ST_EXT_QUOTED_ESC,
    ST_EXT_VAL_END,
    ST_SIZE_LF,
    ST_DATA,
    ST_DATA_CR,
    ST_DATA_LF,
    ST_TRAILER_START,
    ST_TRAILER_NAME,
    ST_TRAILER_VALUE,
    ST_TRAILER_LF,
    ST_FINAL_LF,
    ST_DONE,
    ST_ERR_400,
    ST_ERR_431
};

/* 16 hex digits hold 64 bits; we allow 63 so that sizes fit int64 everywhere. */
#define MAX_SIZE_DIGITS 16

void kiln_chunked_init(kiln_chunked_t *c)
{
    memset(c, 0, sizeof *c);
    c->state = ST_SIZE_START;
}

static int fail(kiln_chunked_t *c, int status)
{
    c->state = status == 431 ? ST_ERR_431 : ST_ERR_400;
    return -1;
}

/* After a size or a complete extension: ';' starts another one, CR ends the line. */
static int ext_boundary(kiln_chunked_t *c, unsigned char ch)
{
    if (ch == ';') c->state = ST_EXT_NAME_START;
    else if (ch == '\r') c->state = ST_SIZE_LF;
    else return fail(c, 400);
    return 0;
}

static int size_digit(kiln_chunked_t *c, unsigned char ch)
{
    if (!kiln__is(ch, KILN__CT_HEX)) return c->state == ST_SIZE_START ? fail(c, 400) : ext_boundary(c, ch);
    if (++c->digits > MAX_SIZE_DIGITS || (c->remaining >> 59) != 0) return fail(c, 400);
    c->remaining = (c->remaining << 4) | (uint64_t)kiln__hexval(ch);
    c->state = ST_SIZE;
    return 0;
}

/* Chunk extensions: `;name[=value]`, value a token or a quoted-string; no BWS. */
static int ext_byte(kiln_chunked_t *c, unsigned char ch, const kiln_http_limits_t *l)
{
    if (++c->ext_bytes > l->max_chunk_ext) return fail(c, 400);
    int tchar = kiln__is(ch, KILN__CT_TCHAR);
    switch (c->state) {
    case ST_EXT_NAME_START:
        if (!tchar) return fail(c, 400);
        c->state = ST_EXT_NAME;
        return 0;
    case ST_EXT_NAME:
        if (tchar) return 0;
        if (ch == '=') {
            c->state = ST_EXT_VAL_START;
            return 0;
        }
        return ext_boundary(c, ch);
    case ST_EXT_VAL_START:
        if (ch == '"') c->state = ST_EXT_QUOTED;
        else if (tchar) c->state = ST_EXT_VAL_TOKEN;
        else return fail(c, 400);
        return 0;
    case ST_EXT_VAL_TOKEN:
        return tchar ? 0 : ext_boundary(c, ch);
    case ST_EXT_QUOTED:
        if (ch == '"') c->state = ST_EXT_VAL_END;
        else if (ch == '\\') c->state = ST_EXT_QUOTED_ESC;
        else if (!kiln__is(ch, KILN__CT_QDTEXT)) return fail(c, 400);
        return 0;
    case ST_EXT_QUOTED_ESC:
        if (!kiln__is(ch, KILN__CT_VALUE)) return fail(c, 400);
        c->state = ST_EXT_QUOTED;
        return 0;
    default: /* ST_EXT_VAL_END */
        return ext_boundary(c, ch);
    }
}

/* Trailer section: field lines validated like the head's, then dropped. */
static int trailer_byte(kiln_chunked_t *c, unsigned char ch, const kiln_http_limits_t *l)
{
    if (++c->trailer_bytes > l->max_trailer_bytes) return fail(c, 431);
    switch (c->state) {
    case ST_TRAILER_START:
        if (ch == '\r') c->state = ST_FINAL_LF;
        else if (kiln__is(ch, KILN__CT_TCHAR)) c->state = ST_TRAILER_NAME;
        else return fail(c, 400); /* obs-fold, empty name, bare LF */
        return 0;
    case ST_TRAILER_NAME:
        if (ch == ':') c->state = ST_TRAILER_VALUE;
        else if (!kiln__is(ch, KILN__CT_TCHAR)) return fail(c, 400);
        return 0;
    case ST_TRAILER_VALUE:
        if (ch == '\r') c->state = ST_TRAILER_LF;
        else if (!kiln__is(ch, KILN__CT_VALUE)) return fail(c, 400);
        return 0;
    case ST_TRAILER_LF:
        if (ch != '\n') return fail(c, 400);
        c->state = ST_TRAILER_START;
        return 0;
    default: /* ST_FINAL_LF */
        if (ch != '\n') return fail(c, 400);
        c->state = ST_DONE;
        return 0;
    }
}

static int framing_byte(kiln_chunked_t *c, unsigned char ch, const kiln_http_limits_t *l)
{
    switch (c->state) {
    case ST_SIZE_START:
    case ST_SIZE:
        return size_digit(c, ch);
    case ST_SIZE_LF:
        if (ch != '\n') return fail(c, 400);
        c->state = c->remaining ? ST_DATA : ST_TRAILER_START;
        return 0;
    case ST_DATA_CR:
        if (ch != '\r') return fail(c, 400); /* missing CRLF, or more data than declared */
        c->state = ST_DATA_LF;
        return 0;
    case ST_DATA_LF:
        if (ch != '\n') return fail(c, 400);
        c->state = ST_SIZE_START;
        c->digits = 0;
        return 0;
    default:
        if (c->state >= ST_TRAILER_START) return trailer_byte(c, ch, l);
        return ext_byte(c, ch, l);
    }
}

int kiln_chunked_decode(kiln_chunked_t *c, const char *src, size_t *src_len, char *dst, size_t *dst_len,
                        const kiln_http_limits_t *limits, int *status)
{
    size_t in = 0, n = *src_len, out = 0;
    while (in < n && c->state < ST_DONE) {
        if (c->state == ST_DATA) {
            size_t take = n - in;
            if (take > c->remaining) take = (size_t)c->remaining;
            memmove(dst + out, src + in, take);
            in += take;
            out += take;
            c->remaining -= take;
            if (c->remaining == 0) c->state = ST_DATA_CR;
            continue;
        }
        if (framing_byte(c, (unsigned char)src[in], limits) < 0) break;
        in++;
    }
    *src_len = in;
    *dst_len = out;
    if (c->state >= ST_ERR_400) {
        *status = c->state == ST_ERR_431 ? 431 : 400;
        return KILN_EINVAL;
    }
    return c->state == ST_DONE;
}
