/* Kiln request log: a telemetry handler on kiln.endpoint.stop that writes one
 * line per request (Phoenix.Logger):
 *
 *   GET /users/42 -> 200 in 312µs request_id=F1x...
 *   GET /fail -> 500 in 41µs request_id=F1y...: i/o error (in h_fail, route /fail)
 *
 * Durations are in µs below 1 ms, else in ms. A request that failed (a plug or
 * handler error, nothing sent) or answered 5xx logs at error level, with the
 * cause and where it happened when there is one; the others at opts->level.
 *
 * kiln_main attaches it while serving (kiln_app_t.request_log, .no_request_log).
 * It is process-global, like every telemetry handler: it logs the requests of
 * every endpoint, served or run through ConnTest, while attached.
 *
 *   kiln_logger_attach(&(kiln_logger_opts_t){ .level = KILN_LOG_DEBUG });
 *   ...
 *   kiln_logger_detach();
 */
#ifndef KILN_LOGGER_H
#define KILN_LOGGER_H

#include "kiln/core.h"

/* Where lines go instead of kiln_log: called on the request's thread with the
 * line (no timestamp, no newline; borrowed for the call). Must be thread-safe. */
typedef void (*kiln_logger_sink_fn)(kiln_log_level_t level, const char *line, void *ud);

typedef struct kiln_logger_opts {
    kiln_log_level_t level;   /* for requests that did not fail; errors always log at KILN_LOG_ERROR */
    kiln_logger_sink_fn sink; /* NULL = kiln_log (stderr, filtered by KILN_LOG_LEVEL); a sink gets every line */
    void *sink_ud;
} kiln_logger_opts_t;

/* Attaches the request log; opts (copied) may be NULL: info level, kiln_log.
 * Returns 0, or KILN_EINVAL when it is already attached. */
int kiln_logger_attach(const kiln_logger_opts_t *opts);
/* Detaches it: requests that finish afterwards are not logged (one being
 * logged may finish its line). Returns 0 or KILN_ENOENT. */
int kiln_logger_detach(void);

#endif
