/* Core utilities: error names, string slices, aborting allocators, bounded
 * buffers. The arena and the logger live in arena.c and log.c. */
#include "kiln/core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

const char *kiln_strerror(int err)
{
    switch (err) {
    case KILN_OK: return "ok";
    case KILN_ENOMEM: return "out of memory";
    case KILN_EINVAL: return "invalid argument or input";
    case KILN_ETOOBIG: return "limit exceeded";
    case KILN_ENOENT: return "not found";
    case KILN_ENOPROC: return "no such process";
    case KILN_ETIMEDOUT: return "timed out";
    case KILN_EAGAIN: return "try again";
    case KILN_EIO: return "i/o error";
    case KILN_ECLOSED: return "closed";
    case KILN_ESTATE: return "wrong state";
    case KILN_EPERM: return "not permitted";
    case KILN_EINTERNAL: return "internal error";
    default: return "unknown error";
    }
}

kiln_str_t kiln_str_c(const char *s)
{
    return s ? (kiln_str_t){ s, strlen(s) } : (kiln_str_t){ "", 0 };
}

int kiln_str_eq(kiln_str_t a, kiln_str_t b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

int kiln_str_eq_c(kiln_str_t a, const char *b)
{
    return kiln_str_eq(a, kiln_str_c(b));
}

int kiln_str_ieq_c(kiln_str_t a, const char *b)
{
    size_t n = strlen(b);
    return a.len == n && (n == 0 || strncasecmp(a.ptr, b, n) == 0);
}

static void oom(size_t n)
{
    kiln_log(KILN_LOG_ERROR, "out of memory allocating %zu bytes", n);
    abort();
}

void *kiln_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) oom(n);
    return p;
}

void *kiln_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) oom(n * size);
    return p;
}

void *kiln_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) oom(n);
    return q;
}

char *kiln_xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    return memcpy(kiln_xmalloc(n), s, n);
}

/* ---- bounded buffer ---- */

void kiln_buf_init(kiln_buf_t *b, size_t max)
{
    *b = (kiln_buf_t){ NULL, 0, 0, max };
}

static int buf_reserve(kiln_buf_t *b, size_t extra)
{
    if (extra > b->max || b->len > b->max - extra) return KILN_ETOOBIG;
    size_t need = b->len + extra + 1; /* + NUL */
    if (need <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need) cap *= 2;
    if (cap > b->max + 1) cap = b->max + 1;
    char *p = realloc(b->data, cap);
    if (!p) return KILN_ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

int kiln_buf_append(kiln_buf_t *b, const void *p, size_t n)
{
    int rc = buf_reserve(b, n);
    if (rc < 0) return rc;
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int kiln_buf_puts(kiln_buf_t *b, const char *s)
{
    return kiln_buf_append(b, s, strlen(s));
}

int kiln_buf_printf(kiln_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return KILN_EINVAL;
    int rc = buf_reserve(b, (size_t)n);
    if (rc < 0) return rc;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

void kiln_buf_reset(kiln_buf_t *b)
{
    b->len = 0;
    if (b->data) b->data[0] = '\0';
}

void kiln_buf_free(kiln_buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* ---- clocks ---- */

int64_t kiln_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t kiln_now_ms(void)
{
    return kiln_now_ns() / 1000000;
}
