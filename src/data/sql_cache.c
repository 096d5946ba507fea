/* The process-wide cache of SQL text built from schemas (docs/adr/0022).
 *
 * kiln_repo_get, get_many, all (on a bare kiln_from) and update build the
 * same text on every call with the same schema and shape, so ops.c builds it
 * once and finds it here by (schema address, dialect, kind, shape bits).
 * Schemas are program data (KILN_SCHEMA at file scope): their names must not
 * change while the process runs.
 *
 * Entries and texts live in fixed static storage, never freed or moved: a
 * text's address identifies it for the life of the process, which lets the
 * SQLite adapter key its prepared statements by address (kiln__sql_stable)
 * instead of hashing and comparing the text. Lookups are lock-free (slots are
 * published with release stores); inserts take a mutex. When the table or the
 * text pool is full, kiln__sql_put hands back the caller's own text and
 * callers keep building it per call, as they would without a cache. */
#include "data/data_int.h"

#include <stdatomic.h>
#include <string.h>

#define SLOTS 1024 /* a power of two */
#define PROBES 16
#define POOL (256 << 10)

typedef struct entry {
    kiln__sql_key_t key;
    const char *sql;
} entry_t;

static _Atomic(const entry_t *) slots[SLOTS];
static entry_t entries[SLOTS / 2];
static size_t n_entries;
static char pool[POOL];
static size_t pool_used;
static pthread_mutex_t put_mu = PTHREAD_MUTEX_INITIALIZER;

static size_t slot_of(const kiln__sql_key_t *k)
{
    uint64_t h = (uint64_t)(uintptr_t)k->schema * 0x9E3779B97F4A7C15u;
    h ^= ((uint64_t)k->kind << 8 | (uint64_t)k->dialect) * 0xC2B2AE3D27D4EB4Fu;
    h ^= k->bits * 0x165667B19E3779F9u;
    return (size_t)(h >> 40) & (SLOTS - 1);
}

static bool same(const kiln__sql_key_t *a, const kiln__sql_key_t *b)
{
    return a->schema == b->schema && a->kind == b->kind && a->dialect == b->dialect && a->bits == b->bits;
}

const char *kiln__sql_get(const kiln__sql_key_t *k)
{
    size_t i = slot_of(k);
    for (int p = 0; p < PROBES; p++, i = (i + 1) & (SLOTS - 1)) {
        const entry_t *e = atomic_load_explicit(&slots[i], memory_order_acquire);
        if (!e) return NULL;
        if (same(&e->key, k)) return e->sql;
    }
    return NULL;
}

const char *kiln__sql_put(const kiln__sql_key_t *k, const char *sql)
{
    size_t len = strlen(sql) + 1;
    const char *out = sql;
    pthread_mutex_lock(&put_mu);
    size_t i = slot_of(k);
    for (int p = 0; p < PROBES; p++, i = (i + 1) & (SLOTS - 1)) {
        const entry_t *e = atomic_load_explicit(&slots[i], memory_order_relaxed);
        if (e && same(&e->key, k)) { /* another thread built it first */
            out = e->sql;
            break;
        }
        if (e) continue;
        if (n_entries == KILN_ARRAY_LEN(entries) || len > POOL - pool_used) break;
        entry_t *ne = &entries[n_entries++];
        char *text = memcpy(pool + pool_used, sql, len);
        pool_used += len;
        *ne = (entry_t){ *k, text };
        atomic_store_explicit(&slots[i], ne, memory_order_release);
        out = text;
        break;
    }
    pthread_mutex_unlock(&put_mu);
    return out;
}

bool kiln__sql_stable(const char *sql)
{
    uintptr_t p = (uintptr_t)sql, base = (uintptr_t)pool;
    return p >= base && p < base + POOL;
}
