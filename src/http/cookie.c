/* Request Cookie header lookup (RFC 6265 §5.4 / §4.2.1): "a=1; b=2". The
 * header is scanned on each lookup rather than parsed into a map: a request
 * reads one or two cookies (the session), so a map would cost more than it
 * saves. The first pair with the name wins; DQUOTEs around a value are dropped. */
#include "kiln/params.h"

#include <string.h>

const char *kiln_cookie_lookup(kiln_arena_t *a, kiln_str_t header, const char *name)
{
    size_t nlen = strlen(name), i = 0;
    while (i < header.len) {
        while (i < header.len && (header.ptr[i] == ' ' || header.ptr[i] == '\t' || header.ptr[i] == ';')) i++;
        size_t s = i;
        while (i < header.len && header.ptr[i] != ';') i++;
        const char *pair = header.ptr + s, *eq = memchr(pair, '=', i - s);
        if (!eq) continue;
        size_t klen = (size_t)(eq - pair);
        while (klen && (pair[klen - 1] == ' ' || pair[klen - 1] == '\t')) klen--;
        if (klen != nlen || memcmp(pair, name, nlen) != 0) continue;
        const char *v = eq + 1, *end = header.ptr + i;
        while (v < end && (*v == ' ' || *v == '\t')) v++;
        while (end > v && (end[-1] == ' ' || end[-1] == '\t')) end--;
        if (end - v >= 2 && *v == '"' && end[-1] == '"') v++, end--;
        return kiln_arena_strndup(a, v, (size_t)(end - v));
    }
    return NULL;
}
