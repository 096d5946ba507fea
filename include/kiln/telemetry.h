/* Kiln telemetry: named events with numeric measurements and string metadata,
 * delivered to handlers attached at run time (Erlang's :telemetry).
 *
 *   kiln_telemetry_execute("kiln.router.dispatch.stop",
 *       KILN_MEASUREMENTS({ "duration_us", 41.0 }),
 *       KILN_METADATA({ "route", "/users/:id" }, { "method", "GET" }));
 *
 * Event names are dot-separated. A handler attached to "kiln.router" gets
 * "kiln.router" and every "kiln.router.*" event; "" gets everything.
 *
 * Threading: execute is the hot path and takes no lock and writes no shared
 * memory: it reads an immutable snapshot of the handler list. attach and
 * detach (rare) build a new snapshot under a mutex and publish it; old
 * snapshots are kept until kiln_telemetry_shutdown, since a concurrent
 * execute may still be reading one. Handlers run synchronously on the
 * executing thread and must be thread-safe; the arrays they get are borrowed
 * for the duration of the call. */
#ifndef KILN_TELEMETRY_H
#define KILN_TELEMETRY_H

#include <stddef.h>

typedef struct kiln_measurement {
    const char *key;
    double value;
} kiln_measurement_t;

typedef struct kiln_meta {
    const char *key;
    const char *value;
} kiln_meta_t;

typedef struct kiln_telemetry_event {
    const char *name;
    const kiln_measurement_t *measurements;
    size_t n_measurements;
    const kiln_meta_t *metadata;
    size_t n_metadata;
} kiln_telemetry_event_t;

typedef void (*kiln_telemetry_cb)(const kiln_telemetry_event_t *ev, void *ud);

/* Compound-literal helpers: pointer and count in one argument pair. */
#define KILN_MEASUREMENTS(...)                                                                                         \
    (const kiln_measurement_t[]){ __VA_ARGS__ },                                                                       \
        sizeof((const kiln_measurement_t[]){ __VA_ARGS__ }) / sizeof(kiln_measurement_t)
#define KILN_METADATA(...)                                                                                             \
    (const kiln_meta_t[]){ __VA_ARGS__ }, sizeof((const kiln_meta_t[]){ __VA_ARGS__ }) / sizeof(kiln_meta_t)
#define KILN_NO_METADATA NULL, 0

/* Calls every handler whose prefix matches name. Thread-safe, lock-free. */
void kiln_telemetry_execute(const char *name, const kiln_measurement_t *m, size_t n_m, const kiln_meta_t *md,
                            size_t n_md);
/* Non-zero if some handler would receive name: lets callers skip building
 * measurements nobody reads. */
int kiln_telemetry_enabled(const char *name);

/* Lookups for handlers: the value under key, or NULL / dflt when the event
 * does not carry it. Linear: events carry a handful of entries. */
const char *kiln_telemetry_meta(const kiln_telemetry_event_t *ev, const char *key);
double kiln_telemetry_measurement(const kiln_telemetry_event_t *ev, const char *key, double dflt);

/* Attaches cb under a unique id (copied). Returns 0, KILN_EINVAL (bad
 * arguments or the id is taken). */
int kiln_telemetry_attach(const char *id, const char *prefix, kiln_telemetry_cb cb, void *ud);
/* Returns 0 or KILN_ENOENT. After it returns, executes that start later no
 * longer call the handler (one already running may finish). */
int kiln_telemetry_detach(const char *id);
/* Detaches everything and frees all snapshots. Only when no thread can be
 * executing (at exit, in tests). */
void kiln_telemetry_shutdown(void);

#endif
