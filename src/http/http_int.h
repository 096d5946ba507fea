/* Internals shared by the HTTP wire files (parse.c, chunked.c, util.c) and the
 * params parsers: the byte-class table and small inline classifiers. The table
 * is one load per byte in the parsers' hot loops; test_util checks it against
 * the RFC 9110 grammar so that it cannot drift. */
#ifndef KILN_HTTP_INT_H
#define KILN_HTTP_INT_H

#include "kiln/http.h"

enum {
    KILN__CT_TCHAR = 1,  /* RFC 9110 tchar */
    KILN__CT_VALUE = 2,  /* field-value byte: HTAB, SP, VCHAR, obs-text */
    KILN__CT_TARGET = 4, /* request-target byte: VCHAR except '#', obs-text */
    KILN__CT_HEX = 8,    /* HEXDIG */
    KILN__CT_QDTEXT = 16 /* quoted-string qdtext: HTAB, SP, VCHAR except '"' and '\\', obs-text */
};
extern const unsigned char kiln__http_ctype[256];

static inline int kiln__is(unsigned char c, int cls)
{
    return (kiln__http_ctype[c] & cls) != 0;
}

static inline int kiln__hexval(unsigned char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    return (c | 0x20) - 'a' + 10;
}

/* ASCII case-insensitive comparison of s with a lowercase literal of the same length. */
static inline int kiln__lower_eq(const char *s, const char *lower, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z') c = (char)(c | 0x20);
        if (c != lower[i]) return 0;
    }
    return 1;
}

#endif
