/* Telemetry dispatch with copy-on-write handler snapshots.
 *
 * The published snapshot is an immutable array of handler pointers behind one
 * atomic pointer: execute does an acquire load and walks it, with no lock and
 * no shared write (a reader count or a rwlock would bounce a cache line
 * between cores on every event). attach/detach copy the array under a mutex
 * and publish the copy. A replaced snapshot cannot be freed safely without
 * knowing that no reader holds it, and attach/detach happen a handful of times
 * per boot, so replaced snapshots and detached handlers go on a retired list
 * that kiln_telemetry_shutdown frees. */
#include "kiln/telemetry.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "kiln/core.h"

typedef struct handler {
    char *id, *prefix;
    size_t prefix_len;
    kiln_telemetry_cb cb;
    void *ud;
} handler_t;

typedef struct snapshot {
    struct snapshot *retired_next;
    size_t n;
    handler_t *h[];
} snapshot_t;

typedef struct retired_handler {
    struct retired_handler *next;
    handler_t *h;
} retired_handler_t;

static snapshot_t *_Atomic current;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static snapshot_t *retired;
static retired_handler_t *retired_handlers;

static int prefix_matches(const handler_t *h, const char *name)
{
    if (h->prefix_len == 0) return 1;
    return strncmp(name, h->prefix, h->prefix_len) == 0 && (name[h->prefix_len] == 0 || name[h->prefix_len] == '.');
}

void kiln_telemetry_execute(const char *name, const kiln_measurement_t *m, size_t n_m, const kiln_meta_t *md,
                            size_t n_md)
{
    snapshot_t *s = atomic_load_explicit(&current, memory_order_acquire);
    if (!s || !name) return;
    kiln_telemetry_event_t ev = { name, m, n_m, md, n_md };
    for (size_t i = 0; i < s->n; i++)
        if (prefix_matches(s->h[i], name)) s->h[i]->cb(&ev, s->h[i]->ud);
}

int kiln_telemetry_enabled(const char *name)
{
    snapshot_t *s = atomic_load_explicit(&current, memory_order_acquire);
    for (size_t i = 0; s && name && i < s->n; i++)
        if (prefix_matches(s->h[i], name)) return 1;
    return 0;
}

const char *kiln_telemetry_meta(const kiln_telemetry_event_t *ev, const char *key)
{
    for (size_t i = 0; ev && key && i < ev->n_metadata; i++)
        if (strcmp(ev->metadata[i].key, key) == 0) return ev->metadata[i].value;
    return NULL;
}

double kiln_telemetry_measurement(const kiln_telemetry_event_t *ev, const char *key, double dflt)
{
    for (size_t i = 0; ev && key && i < ev->n_measurements; i++)
        if (strcmp(ev->measurements[i].key, key) == 0) return ev->measurements[i].value;
    return dflt;
}

/* Under lock: publishes a copy of the current snapshot with `add` appended
 * and `drop` left out, and retires the old one. */
static void republish(handler_t *add, const handler_t *drop)
{
    snapshot_t *old = atomic_load_explicit(&current, memory_order_relaxed);
    size_t n = old ? old->n : 0;
    snapshot_t *s = kiln_xcalloc(1, sizeof *s + (n + 1) * sizeof(handler_t *));
    for (size_t i = 0; i < n; i++)
        if (old->h[i] != drop) s->h[s->n++] = old->h[i];
    if (add) s->h[s->n++] = add;
    atomic_store_explicit(&current, s, memory_order_release);
    if (old) {
        old->retired_next = retired;
        retired = old;
    }
}

static handler_t *find(const char *id)
{
    snapshot_t *s = atomic_load_explicit(&current, memory_order_relaxed);
    for (size_t i = 0; s && i < s->n; i++)
        if (strcmp(s->h[i]->id, id) == 0) return s->h[i];
    return NULL;
}

int kiln_telemetry_attach(const char *id, const char *prefix, kiln_telemetry_cb cb, void *ud)
{
    if (!id || !prefix || !cb) return KILN_EINVAL;
    pthread_mutex_lock(&lock);
    if (find(id)) {
        pthread_mutex_unlock(&lock);
        return KILN_EINVAL;
    }
    handler_t *h = kiln_xcalloc(1, sizeof *h);
    h->id = kiln_xstrdup(id);
    h->prefix = kiln_xstrdup(prefix);
    h->prefix_len = strlen(prefix);
    h->cb = cb;
    h->ud = ud;
    republish(h, NULL);
    pthread_mutex_unlock(&lock);
    return 0;
}

int kiln_telemetry_detach(const char *id)
{
    if (!id) return KILN_ENOENT;
    pthread_mutex_lock(&lock);
    handler_t *h = find(id);
    if (h) {
        republish(NULL, h);
        retired_handler_t *r = kiln_xmalloc(sizeof *r);
        r->h = h;
        r->next = retired_handlers;
        retired_handlers = r;
    }
    pthread_mutex_unlock(&lock);
    return h ? 0 : KILN_ENOENT;
}

static void handler_free(handler_t *h)
{
    free(h->id);
    free(h->prefix);
    free(h);
}

void kiln_telemetry_shutdown(void)
{
    pthread_mutex_lock(&lock);
    snapshot_t *s = atomic_exchange(&current, NULL);
    for (size_t i = 0; s && i < s->n; i++) handler_free(s->h[i]);
    free(s);
    while (retired) {
        snapshot_t *n = retired->retired_next;
        free(retired);
        retired = n;
    }
    while (retired_handlers) {
        retired_handler_t *n = retired_handlers->next;
        handler_free(retired_handlers->h);
        free(retired_handlers);
        retired_handlers = n;
    }
    pthread_mutex_unlock(&lock);
}
