/* Kiln core: error codes, string slices, bounded buffers, per-request arenas, logging.
 *
 * Everything else in Kiln builds on these few types, so they stay small and
 * allocation-explicit. Conventions (see docs/internals/core.md):
 *  - a function returns 0 or a positive count on success, a negative KILN_E* on error;
 *  - if a function that takes a callback fails, the callback is never called;
 *  - small internal allocations abort on OOM (kiln_xmalloc); anything sized by a
 *    client goes through a bounded kiln_buf_t and fails with KILN_ETOOBIG instead. */
#ifndef KILN_CORE_H
#define KILN_CORE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#define KILN_VERSION "0.1.0"

/* Error codes: always negative when returned. */
enum {
    KILN_OK = 0,
    KILN_ENOMEM = -1,    /* allocation failed */
    KILN_EINVAL = -2,    /* bad argument or malformed input */
    KILN_ETOOBIG = -3,   /* a bound was exceeded */
    KILN_ENOENT = -4,    /* no such thing (route, file, key) */
    KILN_ENOPROC = -5,   /* the process is gone (stale pid) */
    KILN_ETIMEDOUT = -6, /* a wait ran out of time */
    KILN_EAGAIN = -7,    /* try again later (would block, partial input) */
    KILN_EIO = -8,       /* an operating-system call failed; see errno / the log */
    KILN_ECLOSED = -9,   /* the peer or the resource is closed */
    KILN_ESTATE = -10,   /* called in the wrong state (e.g. response already sent) */
    KILN_EPERM = -11,    /* refused by policy */
    KILN_EINTERNAL = -12 /* a bug or an unexpected condition; logged */
};

/* Returns a static, human-readable name for a KILN_E* code. */
const char *kiln_strerror(int err);

#define KILN_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define kiln_container_of(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

/* A length + pointer string slice (nginx's ngx_str_t). Not NUL-terminated unless
 * stated. Slices never own their bytes: the owner is whoever the producing
 * function names (usually a request arena or a parser's input buffer). */
typedef struct kiln_str {
    const char *ptr;
    size_t len;
} kiln_str_t;

#define KILN_STR(lit) ((kiln_str_t){ (lit), sizeof(lit) - 1 })
kiln_str_t kiln_str_c(const char *s); /* from a C string (NULL gives the empty slice) */
int kiln_str_eq(kiln_str_t a, kiln_str_t b);
int kiln_str_eq_c(kiln_str_t a, const char *b);
int kiln_str_ieq_c(kiln_str_t a, const char *b); /* ASCII case-insensitive */

/* Allocation that aborts with a log line on OOM: for small internal objects only. */
void *kiln_xmalloc(size_t n);
void *kiln_xcalloc(size_t n, size_t size);
void *kiln_xrealloc(void *p, size_t n);
char *kiln_xstrdup(const char *s);

/* A bounded growable byte buffer (curl's dynbuf): every append fails with
 * KILN_ETOOBIG rather than grow past `max`. The buffer owns `data`; free it with
 * kiln_buf_free. data is always NUL-terminated after a successful append. */
typedef struct kiln_buf {
    char *data;
    size_t len, cap, max;
} kiln_buf_t;

void kiln_buf_init(kiln_buf_t *b, size_t max);
int kiln_buf_append(kiln_buf_t *b, const void *p, size_t n);
int kiln_buf_puts(kiln_buf_t *b, const char *s);
int kiln_buf_printf(kiln_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void kiln_buf_reset(kiln_buf_t *b); /* len = 0, keeps the memory */
void kiln_buf_free(kiln_buf_t *b);

/* A per-request bump allocator with registered cleanups (nginx pools, h2o
 * req->pool). Memory is released all at once by kiln_arena_reset / _destroy;
 * cleanups run in reverse order of registration at that moment. The first block
 * is allocated lazily, so an idle arena costs only this struct. */
typedef struct kiln_arena_block kiln_arena_block_t;
typedef struct kiln_arena_cleanup kiln_arena_cleanup_t;
typedef struct kiln_arena {
    kiln_arena_block_t *head;
    kiln_arena_cleanup_t *cleanups;
    size_t block_size;
} kiln_arena_t;

void kiln_arena_init(kiln_arena_t *a, size_t block_size); /* block_size 0 = 4096 */
/* Returns 16-byte aligned memory owned by the arena, or NULL when out of memory. */
void *kiln_arena_alloc(kiln_arena_t *a, size_t n);
void *kiln_arena_calloc(kiln_arena_t *a, size_t n);
char *kiln_arena_strndup(kiln_arena_t *a, const char *s, size_t n);
char *kiln_arena_sprintf(kiln_arena_t *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Runs fn(ud) when the arena is next reset or destroyed. Returns 0 or KILN_ENOMEM. */
int kiln_arena_on_reset(kiln_arena_t *a, void (*fn)(void *ud), void *ud);
void kiln_arena_reset(kiln_arena_t *a);   /* runs cleanups, keeps one block for reuse */
void kiln_arena_destroy(kiln_arena_t *a); /* runs cleanups, frees everything */

/* Logging: one line per call to stderr, with level and time; thread-safe.
 * The level comes from KILN_LOG_LEVEL (debug, info, warn, error; default info). */
typedef enum { KILN_LOG_DEBUG, KILN_LOG_INFO, KILN_LOG_WARN, KILN_LOG_ERROR } kiln_log_level_t;
void kiln_log(kiln_log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void kiln_vlog(kiln_log_level_t level, const char *fmt, va_list ap);
int kiln_log_enabled(kiln_log_level_t level);
void kiln_log_set_level(kiln_log_level_t level);

/* Monotonic milliseconds / nanoseconds, and wall-clock seconds. */
int64_t kiln_now_ms(void);
int64_t kiln_now_ns(void);

#endif
