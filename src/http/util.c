/* Small HTTP helpers: the byte-class table the parsers share, limits, status
 * texts, method names, IMF-fixdate dates (with a per-thread cache for the Date
 * header), validators and percent-decoding.
 *
 * Everything here is pure and allocation-free except kiln_http_date, which
 * keeps one formatted string per thread so that a busy server formats the
 * Date header once per second rather than once per response. */
#include "http/http_int.h"

#include <string.h>
#include <strings.h>
#include <time.h>

/* Bits are KILN__CT_* (http_int.h); test_util checks every entry against the grammar. */
const unsigned char kiln__http_ctype[256] = {
     0,  0,  0,  0,  0,  0,  0,  0,  0, 18,  0,  0,  0,  0,  0,  0,
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
    18, 23,  6, 19, 23, 23, 23, 23, 22, 22, 23, 23, 22, 23, 23, 22,
    31, 31, 31, 31, 31, 31, 31, 31, 31, 31, 22, 22, 22, 22, 22, 22,
    22, 31, 31, 31, 31, 31, 31, 23, 23, 23, 23, 23, 23, 23, 23, 23,
    23, 23, 23, 23, 23, 23, 23, 23, 23, 23, 23, 22,  6, 22, 23, 23,
    23, 31, 31, 31, 31, 31, 31, 23, 23, 23, 23, 23, 23, 23, 23, 23,
    23, 23, 23, 23, 23, 23, 23, 23, 23, 23, 23, 22, 23, 22, 23,  0,
    22, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22,
    22, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22,
    22, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22,
    22, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22,
    22, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22,
    22, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22,
    22, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22,
    22, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22, 22,
};

void kiln_http_limits_default(kiln_http_limits_t *l)
{
    l->max_request_line = 8192;
    l->max_header_bytes = 16384;
    l->max_headers = 100;
    l->max_body = 8u << 20;
    l->max_chunk_ext = 4096;
    l->max_trailer_bytes = 4096;
}

const kiln_str_t *kiln_http_req_header(const kiln_http_req_t *req, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < req->n_headers; i++) {
        const kiln_header_t *h = &req->headers[i];
        if (h->name.len == n && strncasecmp(h->name.ptr, name, n) == 0) return &h->value;
    }
    return NULL;
}

typedef struct status_text {
    int code;
    const char *text;
} status_text_t;

/* RFC 9110 §15 plus the registered extras a web framework answers with. Sorted by code. */
static const status_text_t status_texts[] = {
    { 100, "Continue" }, { 101, "Switching Protocols" }, { 200, "OK" }, { 201, "Created" }, { 202, "Accepted" },
    { 203, "Non-Authoritative Information" }, { 204, "No Content" }, { 205, "Reset Content" },
    { 206, "Partial Content" }, { 300, "Multiple Choices" }, { 301, "Moved Permanently" }, { 302, "Found" },
    { 303, "See Other" }, { 304, "Not Modified" }, { 307, "Temporary Redirect" }, { 308, "Permanent Redirect" },
    { 400, "Bad Request" }, { 401, "Unauthorized" }, { 402, "Payment Required" }, { 403, "Forbidden" },
    { 404, "Not Found" }, { 405, "Method Not Allowed" }, { 406, "Not Acceptable" },
    { 407, "Proxy Authentication Required" }, { 408, "Request Timeout" }, { 409, "Conflict" }, { 410, "Gone" },
    { 411, "Length Required" }, { 412, "Precondition Failed" }, { 413, "Content Too Large" },
    { 414, "URI Too Long" }, { 415, "Unsupported Media Type" }, { 416, "Range Not Satisfiable" },
    { 417, "Expectation Failed" }, { 421, "Misdirected Request" }, { 422, "Unprocessable Content" },
    { 425, "Too Early" }, { 426, "Upgrade Required" }, { 428, "Precondition Required" },
    { 429, "Too Many Requests" }, { 431, "Request Header Fields Too Large" },
    { 451, "Unavailable For Legal Reasons" }, { 500, "Internal Server Error" }, { 501, "Not Implemented" },
    { 502, "Bad Gateway" }, { 503, "Service Unavailable" }, { 504, "Gateway Timeout" },
    { 505, "HTTP Version Not Supported" },
};

const char *kiln_http_status_text(int status)
{
    size_t lo = 0, hi = KILN_ARRAY_LEN(status_texts);
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (status_texts[mid].code == status) return status_texts[mid].text;
        if (status_texts[mid].code < status) lo = mid + 1;
        else hi = mid;
    }
    return "Unknown";
}

/* Indexed by kiln_method_t. Methods are case-sensitive (RFC 9110 §9.1). */
static const char *const method_names[] = { "OTHER",  "GET",    "HEAD",    "POST",  "PUT",
                                            "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT" };

kiln_method_t kiln_http_method_from(kiln_str_t s)
{
    /* the length and the first byte pick at most one candidate */
#define M(lit, m) if (s.ptr[0] == lit[0] && memcmp(s.ptr, lit, sizeof lit - 1) == 0) return m
    switch (s.len) {
    case 3:
        M("GET", KILN_METHOD_GET);
        M("PUT", KILN_METHOD_PUT);
        break;
    case 4:
        M("POST", KILN_METHOD_POST);
        M("HEAD", KILN_METHOD_HEAD);
        break;
    case 5:
        M("PATCH", KILN_METHOD_PATCH);
        M("TRACE", KILN_METHOD_TRACE);
        break;
    case 6:
        M("DELETE", KILN_METHOD_DELETE);
        break;
    case 7:
        M("OPTIONS", KILN_METHOD_OPTIONS);
        M("CONNECT", KILN_METHOD_CONNECT);
        break;
    }
#undef M
    return KILN_METHOD_OTHER;
}

const char *kiln_http_method_name(kiln_method_t m)
{
    return (unsigned)m < KILN_ARRAY_LEN(method_names) ? method_names[m] : "OTHER";
}

static const char wdays[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
 * days_from_civil): avoids timegm, which is not in C17 or POSIX. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void put2(char *p, unsigned v)
{
    p[0] = (char)('0' + v / 10 % 10);
    p[1] = (char)('0' + v % 10);
}

void kiln_http_date_fmt(int64_t t, char out[30])
{
    int64_t days = t >= 0 ? t / 86400 : (t - 86399) / 86400;
    int64_t secs = t - days * 86400;
    /* civil_from_days, the inverse of the above */
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    unsigned d = doy - (153 * mp + 2) / 5 + 1;
    unsigned m = mp < 10 ? mp + 3 : mp - 9;
    int64_t y = (int64_t)yoe + era * 400 + (m <= 2);
    int wd = (int)((days % 7 + 11) % 7); /* 1970-01-01 was a Thursday */
    if (y < 0 || y > 9999) y = y < 0 ? 0 : 9999; /* IMF-fixdate has four year digits */
    memcpy(out, wdays[wd], 3);
    memcpy(out + 3, ", ", 2);
    put2(out + 5, d);
    out[7] = ' ';
    memcpy(out + 8, months[m - 1], 3);
    out[11] = ' ';
    put2(out + 12, (unsigned)(y / 100));
    put2(out + 14, (unsigned)(y % 100));
    out[16] = ' ';
    put2(out + 17, (unsigned)(secs / 3600));
    out[19] = ':';
    put2(out + 20, (unsigned)(secs / 60 % 60));
    out[22] = ':';
    put2(out + 23, (unsigned)(secs % 60));
    memcpy(out + 25, " GMT", 5);
}

static int digits(const char *s, size_t n, int *out)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return KILN_EINVAL;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

static int name_index(const char *s, const char (*names)[4], int n)
{
    for (int i = 0; i < n; i++)
        if (memcmp(s, names[i], 3) == 0) return i;
    return -1;
}

/* "Sun, 06 Nov 1994 08:49:37 GMT" exactly (RFC 9110 §5.6.7). */
int kiln_http_date_parse(kiln_str_t s, int64_t *out)
{
    const char *p = s.ptr;
    int day, year, hh, mm, ss;
    if (s.len != 29 || name_index(p, wdays, 7) < 0 || memcmp(p + 3, ", ", 2) != 0 || p[7] != ' ' || p[11] != ' ' ||
        p[16] != ' ' || p[19] != ':' || p[22] != ':' || memcmp(p + 25, " GMT", 4) != 0)
        return KILN_EINVAL;
    int mon = name_index(p + 8, months, 12);
    if (mon < 0 || digits(p + 5, 2, &day) || digits(p + 12, 4, &year) || digits(p + 17, 2, &hh) ||
        digits(p + 20, 2, &mm) || digits(p + 23, 2, &ss))
        return KILN_EINVAL;
    static const int mdays[12] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    if (day < 1 || day > mdays[mon] || (mon == 1 && day == 29 && !leap) || hh > 23 || mm > 59 || ss > 60)
        return KILN_EINVAL;
    *out = days_from_civil(year, (unsigned)mon + 1, (unsigned)day) * 86400 + hh * 3600 + mm * 60 + ss;
    return 0;
}

void kiln_http_date(char out[29])
{
    static _Thread_local int64_t cached_sec = -1;
    static _Thread_local char cached[30];
    int64_t now = (int64_t)time(NULL);
    if (now != cached_sec) {
        kiln_http_date_fmt(now, cached);
        cached_sec = now;
    }
    memcpy(out, cached, 29);
}

int kiln_http_header_value_ok(kiln_str_t v)
{
    for (size_t i = 0; i < v.len; i++) {
        unsigned char c = (unsigned char)v.ptr[i];
        if (c == '\r' || c == '\n' || c == '\0') return 0;
    }
    return 1;
}

int kiln_http_token_ok(kiln_str_t v)
{
    if (v.len == 0) return 0;
    for (size_t i = 0; i < v.len; i++)
        if (!kiln__is((unsigned char)v.ptr[i], KILN__CT_TCHAR)) return 0;
    return 1;
}

int kiln_url_decode(kiln_str_t src, char *dst, int plus_as_space)
{
    size_t o = 0;
    for (size_t i = 0; i < src.len; i++) {
        unsigned char c = (unsigned char)src.ptr[i];
        if (c == '%') {
            if (src.len - i < 3) return KILN_EINVAL;
            unsigned char h = (unsigned char)src.ptr[i + 1], l = (unsigned char)src.ptr[i + 2];
            if (!kiln__is(h, KILN__CT_HEX) || !kiln__is(l, KILN__CT_HEX)) return KILN_EINVAL;
            c = (unsigned char)(kiln__hexval(h) << 4 | kiln__hexval(l));
            i += 2;
        } else if (c == '+' && plus_as_space) {
            c = ' ';
        }
        dst[o++] = (char)c;
    }
    return (int)o;
}
