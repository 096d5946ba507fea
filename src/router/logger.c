/* The request log (kiln/logger.h): a telemetry handler, not a plug.
 *
 * It listens to kiln.endpoint.stop only, which the endpoint emits exactly once
 * per request with the final status, the duration and, for a failed request,
 * the cause (kiln/endpoint.h): so one line per request, and no second line for
 * the exception event. Being a handler, it can be attached and detached at run
 * time and it costs nothing per request while detached.
 *
 * Options are copied at attach. A detached handler's options cannot be freed,
 * since a request on another scheduler may still be reading them (telemetry
 * gives no grace period), so every copy stays on a list for the life of the
 * process: a few dozen bytes per attach, and attaches are rare. */
#include "kiln/logger.h"
#include "kiln/endpoint.h"
#include "kiln/telemetry.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define LOGGER_ID "kiln.logger"

typedef struct logger_conf {
    struct logger_conf *next;
    kiln_logger_opts_t opts;
} logger_conf_t;

static pthread_mutex_t confs_lock = PTHREAD_MUTEX_INITIALIZER;
static logger_conf_t *confs; /* every copy ever attached; see the file comment */

static const char *meta(const kiln_telemetry_event_t *ev, const char *key)
{
    const char *v = kiln_telemetry_meta(ev, key);
    return v && *v ? v : NULL;
}

static void on_stop(const kiln_telemetry_event_t *ev, void *ud)
{
    const kiln_logger_opts_t *o = &((const logger_conf_t *)ud)->opts;
    int status = (int)kiln_telemetry_measurement(ev, "status", 0);
    const char *error = meta(ev, "error");
    kiln_log_level_t level = error || status >= 500 ? KILN_LOG_ERROR : o->level;
    if (!o->sink && !kiln_log_enabled(level)) return; /* nothing to format */

    long long us = (long long)kiln_telemetry_measurement(ev, "duration_us", 0);
    char took[32];
    if (us < 1000) snprintf(took, sizeof took, "%lldµs", us);
    else snprintf(took, sizeof took, "%lldms", us / 1000);
    const char *method = meta(ev, "method"), *path = meta(ev, "path"), *rid = meta(ev, "request_id");
    const char *where = meta(ev, "in"), *route = meta(ev, "route");
    char line[1024];
    int n = snprintf(line, sizeof line, "%s %s -> %d in %s request_id=%s", method ? method : "?", path ? path : "",
                     status, took, rid ? rid : "-");
    if (error && n >= 0 && (size_t)n < sizeof line)
        snprintf(line + n, sizeof line - (size_t)n, ": %s (in %s, route %s)", error, where ? where : "?",
                 route ? route : "-");
    /* The path is decoded client input: a %0a must not forge a second log line. */
    for (char *p = line; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = '?';
    if (o->sink) o->sink(level, line, o->sink_ud);
    else kiln_log(level, "%s", line);
}

int kiln_logger_attach(const kiln_logger_opts_t *opts)
{
    logger_conf_t *lc = kiln_xcalloc(1, sizeof *lc);
    lc->opts = opts ? *opts : (kiln_logger_opts_t){ .level = KILN_LOG_INFO };
    pthread_mutex_lock(&confs_lock);
    int rc = kiln_telemetry_attach(LOGGER_ID, KILN_EVENT_ENDPOINT_STOP, on_stop, lc);
    if (rc == 0) {
        lc->next = confs;
        confs = lc;
    }
    pthread_mutex_unlock(&confs_lock);
    if (rc < 0) free(lc); /* never published: nobody can be reading it */
    return rc;
}

int kiln_logger_detach(void)
{
    return kiln_telemetry_detach(LOGGER_ID);
}
