/* H2: split invariance. Each message is delivered whole, byte by byte, at
 * random split points, and pipelined with a following request; the parse
 * events (head fields, rejection status) and decoded body bytes must be the
 * same every time. The driver plays a server's read loop: re-parse the head
 * on each read, then read a Content-Length body or feed the chunked decoder. */
#include "kiln/http.h"
#include "kiln_test.h"

#include <stdarg.h>
#include <stdlib.h>

typedef struct sum {
    char s[16384];
    size_t n;
} sum_t;

static void put(sum_t *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(o->s + o->n, sizeof o->s - o->n, fmt, ap);
    va_end(ap);
    if (w > 0) o->n += (size_t)w < sizeof o->s - o->n ? (size_t)w : sizeof o->s - o->n - 1;
}

#define SL(x, base) (int)(x).len, (x).ptr, (x).ptr ? (long)((x).ptr - (base)) : -1L

static void put_head(sum_t *o, int rc, int status, const kiln_http_req_t *r, const char *base)
{
    put(o, "[head rc=%d st=%d", rc, status);
    if (rc <= 0) {
        put(o, "]");
        return;
    }
    put(o, " m=%d %.*s@%ld t=%.*s@%ld p=%.*s@%ld q=%.*s@%ld v=%d h=%.*s@%ld bk=%d cl=%llu ka=%d ec=%d up=%d", r->method,
        SL(r->method_str, base), SL(r->target, base), SL(r->path, base), SL(r->query, base), r->version_minor,
        SL(r->host, base), r->body_kind, (unsigned long long)r->content_length, r->keep_alive, r->expect_continue,
        r->upgrade);
    for (size_t i = 0; i < r->n_headers; i++)
        put(o, " %.*s@%ld=%.*s@%ld", SL(r->headers[i].name, base), SL(r->headers[i].value, base));
    put(o, "]");
}

typedef struct sched {
    int mode; /* 0 whole, 1 byte by byte, 2 random */
    unsigned seed;
    size_t max_piece;
} sched_t;

static size_t next_piece(sched_t *s, size_t len)
{
    if (s->mode == 0) return len;
    if (s->mode == 1) return 1;
    s->seed = s->seed * 1103515245u + 12345u;
    return 1 + (s->seed >> 8) % s->max_piece;
}

static int more(size_t *avail, size_t len, sched_t *s)
{
    if (*avail >= len) return 0;
    *avail += next_piece(s, len);
    if (*avail > len) *avail = len;
    return 1;
}

static void run(const char *buf, size_t len, sched_t *s, sum_t *o)
{
    static kiln_header_t hdrs[100];
    static char dst[65536];
    kiln_http_limits_t l;
    kiln_http_limits_default(&l);
    size_t pos = 0, avail = 0;
    o->n = 0;
    o->s[0] = 0;
    more(&avail, len, s);
    while (pos < len) {
        kiln_http_req_t r = { .headers = hdrs };
        int status = 0, rc;
        while ((rc = kiln_http_parse_request(buf + pos, avail - pos, &l, &r, &status)) == KILN_EAGAIN)
            if (!more(&avail, len, s)) return put(o, "[eof in head]");
        put_head(o, rc, status, &r, buf + pos);
        if (rc < 0) return;
        pos += (size_t)rc;
        if (r.body_kind == KILN_BODY_LENGTH) {
            while (avail - pos < r.content_length)
                if (!more(&avail, len, s)) return put(o, "[eof in body]");
            put(o, "[body %.*s]", (int)r.content_length, buf + pos);
            pos += r.content_length;
        } else if (r.body_kind == KILN_BODY_CHUNKED) {
            kiln_chunked_t c;
            kiln_chunked_init(&c);
            size_t out = 0;
            for (;;) {
                size_t used = avail - pos, n = 0;
                rc = kiln_chunked_decode(&c, buf + pos, &used, dst + out, &n, &l, &status);
                pos += used;
                out += n;
                if (rc < 0) return put(o, "[chunked st=%d]", status);
                if (rc == 1) break;
                if (!more(&avail, len, s)) return put(o, "[eof in chunked]");
            }
            put(o, "[body %.*s]", (int)out, dst);
        }
    }
}

#define M(s) { s, sizeof(s) - 1 }
static const struct {
    const char *raw;
    size_t len;
} msgs[] = {
    M("GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
    M("\r\n\r\nGET /x?y=1 HTTP/1.1\r\nHost: a:80\r\nConnection: close\r\n\r\n"),
    M("GET / HTTP/1.1\nHost: a\nX-Y:  z \n\n"),
    M("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"),
    M("POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"),
    M("POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n"),
    M("POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
    M("POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;a=b;c=\"d\\\"\"\r\nabc\r\n"
      "10\r\n0123456789abcdef\r\n0\r\nT: v\r\nU: w\r\n\r\n"),
    M("POST /p HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc"),
    M("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"),
    M("PURGE /c HTTP/1.1\r\nHost: a\r\n\r\n"),
    M("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"),
    M("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    M("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n"),
    M("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n"),
    M("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    M("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello"),
    M("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\nhello"),
    M("GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n"),
    M("GET / HTTP/1.1\r\nHost : a\r\n\r\n"),
    M("GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n"),
    M("GET / HTTP/1.1\r\nX: a\x00\r\nHost: a\r\n\r\n"),
    M("GET / HTTP/1.1\r\n\r\n"),
    M("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"),
    M("GET / HTTP/1.1\r\nHost: a@b\r\n\r\n"),
    M("GET / HTTP/2.0\r\nHost: a\r\n\r\n"),
    M("GET / HTTP/1.1x\r\nHost: a\r\n\r\n"),
    M("GET /a b HTTP/1.1\r\nHost: a\r\n\r\n"),
    M("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n"),
    M("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloX\r\n0\r\n\r\n"),
    M("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;\r\nhello\r\n0\r\n\r\n"),
    M("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n"),
    M("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: a\r\n b\r\n\r\n"),
};

static const char next_req[] = "GET /next HTTP/1.1\r\nHost: n\r\n\r\n";

static void test_H2_split_invariance(void)
{
    sum_t *whole = malloc(sizeof *whole), *other = malloc(sizeof *other);
    for (size_t i = 0; i < KILN_ARRAY_LEN(msgs); i++) {
        sched_t s0 = { 0, 0, 0 };
        run(msgs[i].raw, msgs[i].len, &s0, whole);
        if (i == 7 && !strstr(whole->s, "[body abc0123456789abcdef]")) KT_FAIL_("driver lost the body: %s", whole->s);
        if (strstr(whole->s, "[eof")) {
            fprintf(stderr, "  msg %zu is incomplete: %s\n", i, whole->s);
            kt_current_failed = 1;
        }
        sched_t s1 = { 1, 0, 0 };
        run(msgs[i].raw, msgs[i].len, &s1, other);
        if (strcmp(whole->s, other->s) != 0) {
            fprintf(stderr, "  msg %zu byte-by-byte:\n    %s\n    %s\n", i, whole->s, other->s);
            kt_current_failed = 1;
        }
        for (unsigned k = 0; k < 200; k++) {
            sched_t s2 = { 2, k * 7919u + (unsigned)i, k % 2 ? 7 : msgs[i].len };
            run(msgs[i].raw, msgs[i].len, &s2, other);
            if (strcmp(whole->s, other->s) != 0) {
                fprintf(stderr, "  msg %zu random %u:\n    %s\n    %s\n", i, k, whole->s, other->s);
                kt_current_failed = 1;
                break;
            }
        }
    }
    free(whole);
    free(other);
}

static void test_H2_pipelined(void)
{
    sum_t *alone = malloc(sizeof *alone), *next = malloc(sizeof *next), *both = malloc(sizeof *both);
    char buf[1024];
    sched_t s0 = { 0, 0, 0 };
    run(next_req, sizeof next_req - 1, &s0, next);
    for (size_t i = 0; i < KILN_ARRAY_LEN(msgs); i++) {
        memcpy(buf, msgs[i].raw, msgs[i].len);
        memcpy(buf + msgs[i].len, next_req, sizeof next_req - 1);
        size_t len = msgs[i].len + sizeof next_req - 1;
        run(msgs[i].raw, msgs[i].len, &s0, alone);
        /* a rejected message ends the connection: the next request is never parsed */
        int rejected = strstr(alone->s, "st=4") || strstr(alone->s, "st=5");
        if (!rejected) put(alone, "%s", next->s);
        for (int mode = 0; mode < 3; mode++) {
            sched_t s = { mode, (unsigned)i, 5 };
            run(buf, len, &s, both);
            if (strcmp(alone->s, both->s) != 0) {
                fprintf(stderr, "  msg %zu mode %d:\n    %s\n    %s\n", i, mode, alone->s, both->s);
                kt_current_failed = 1;
            }
        }
    }
    free(alone);
    free(next);
    free(both);
}

int main(void)
{
    KT_RUN(test_H2_split_invariance);
    KT_RUN(test_H2_pipelined);
    return kt_done();
}
