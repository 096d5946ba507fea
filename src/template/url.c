/* URL attribute policy: which URLs taken from data may fill href, src, action...
 *
 * An allow list, not a deny list: relative URLs and the http, https and mailto
 * schemes pass, everything else (javascript:, data:, vbscript:, and schemes
 * nobody thought of) does not. The scheme is read the way a browser would see
 * it after any decoding layer, so that disguises fail: leading C0 controls and
 * spaces are skipped, tab/CR/LF anywhere are dropped, character references
 * (&#106; &#x6A; &colon; &Tab; &NewLine;) are decoded, and case is folded.
 * Being stricter than a browser is fine here: a URL with a colon before its
 * first '/', '?' or '#' and an unknown scheme is refused even if some browser
 * would call it relative. */
#include <ctype.h>
#include <strings.h>

#include "kiln/template.h"

/* Decodes a character reference starting at s[i] == '&'. Returns the code
 * point (or -1 when it is not one we decode) and sets *next past it. */
static long decode_ref(const char *s, size_t n, size_t i, size_t *next)
{
    static const struct { const char *name; long cp; } named[] = {
        { "colon", ':' }, { "tab", '\t' }, { "newline", '\n' }, { "sol", '/' }, { "quest", '?' }, { "num", '#' },
    };
    size_t j = i + 1;
    if (j < n && s[j] == '#') {
        j++;
        int hex = j < n && (s[j] == 'x' || s[j] == 'X');
        if (hex) j++;
        long cp = 0;
        size_t start = j;
        while (j < n && (hex ? isxdigit((unsigned char)s[j]) : isdigit((unsigned char)s[j])) && cp < 0x110000) {
            int d = isdigit((unsigned char)s[j]) ? s[j] - '0' : (tolower((unsigned char)s[j]) - 'a' + 10);
            cp = cp * (hex ? 16 : 10) + d;
            j++;
        }
        if (j == start) return -1;
        if (j < n && s[j] == ';') j++;
        *next = j;
        return cp;
    }
    for (size_t k = 0; k < KILN_ARRAY_LEN(named); k++) {
        size_t len = strlen(named[k].name);
        if (j + len <= n && strncasecmp(s + j, named[k].name, len) == 0) {
            j += len;
            if (j < n && s[j] == ';') j++;
            *next = j;
            return named[k].cp;
        }
    }
    return -1;
}

int kiln_tpl_url_safe(const char *s, size_t n)
{
    char scheme[8];
    size_t len = 0;
    int started = 0;
    for (size_t i = 0; i < n;) {
        long c = (unsigned char)s[i];
        size_t next = i + 1;
        if (c == '&') {
            long cp = decode_ref(s, n, i, &next);
            if (cp >= 0) c = cp;
            else next = i + 1;
        }
        i = next;
        if (c == '\t' || c == '\n' || c == '\r') continue;
        if (!started && c <= 0x20) continue;
        started = 1;
        if (c == '/' || c == '?' || c == '#') return 1; /* relative: no scheme */
        if (c == ':') {
            scheme[len < sizeof scheme ? len : sizeof scheme - 1] = '\0';
            if (len >= sizeof scheme) return 0;
            return strcmp(scheme, "http") == 0 || strcmp(scheme, "https") == 0 || strcmp(scheme, "mailto") == 0;
        }
        if (len < sizeof scheme) scheme[len] = (char)(c < 128 ? tolower((int)c) : '?');
        len++;
    }
    return 1; /* no colon at all: a relative path */
}
