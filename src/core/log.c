/* The logger: one line per call, written with a single write(2) so that lines
 * from different scheduler threads never interleave. Level from KILN_LOG_LEVEL. */
#include "kiln/core.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static _Atomic int log_level = -1;

static int level_from_env(void)
{
    const char *e = getenv("KILN_LOG_LEVEL");
    if (!e) return KILN_LOG_INFO;
    if (!strcasecmp(e, "debug")) return KILN_LOG_DEBUG;
    if (!strcasecmp(e, "warn") || !strcasecmp(e, "warning")) return KILN_LOG_WARN;
    if (!strcasecmp(e, "error")) return KILN_LOG_ERROR;
    return KILN_LOG_INFO;
}

int kiln_log_enabled(kiln_log_level_t level)
{
    int l = atomic_load_explicit(&log_level, memory_order_relaxed);
    if (l < 0) {
        l = level_from_env();
        atomic_store(&log_level, l);
    }
    return (int)level >= l;
}

void kiln_log_set_level(kiln_log_level_t level)
{
    atomic_store(&log_level, (int)level);
}

void kiln_vlog(kiln_log_level_t level, const char *fmt, va_list ap)
{
    static const char *names[] = { "debug", "info", "warn", "error" };
    if (!kiln_log_enabled(level)) return;
    char line[2048];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ [%s] ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
                     names[level]);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 2) len = sizeof line - 2; /* truncated: still one line */
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w; /* nowhere left to report a failed log write */
}

void kiln_log(kiln_log_level_t level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    kiln_vlog(level, fmt, ap);
    va_end(ap);
}
