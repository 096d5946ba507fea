/* Router micro-benchmark: 100 routes (50 static, 50 with two params), then 1M
 * lookups spread over hits on both kinds and misses; prints ns per match.
 * kiln_router_lookup is the allocation-free trie search that kiln_router_match
 * runs before it extracts params; the second figure includes that extraction
 * (arena allocations, reset every request as the server does). */
#include "kiln/router.h"

#include <stdio.h>
#include <stdlib.h>

#define N_ROUTES 100
#define N_MATCHES 1000000

static int handler(kiln_conn_t *c)
{
    (void)c;
    return 0;
}

static volatile size_t sink;

int main(void)
{
    kiln_route_t *table = kiln_xcalloc(N_ROUTES, sizeof *table);
    for (int i = 0; i < N_ROUTES; i++) {
        char *path = kiln_xmalloc(64);
        if (i % 2) snprintf(path, 64, "/api/r%d/:id/items/:item", i);
        else snprintf(path, 64, "/pages/section%d/about", i);
        table[i] = (kiln_route_t)KILN_GET(path, handler, NULL);
        table[i].path = path;
    }
    kiln_router_t *r;
    if (kiln_router_build(table, N_ROUTES, &r) != 0) return 1;

    kiln_str_t paths[64];
    for (int i = 0; i < 64; i++) {
        char *p = kiln_xmalloc(64);
        int k = (i * 37) % N_ROUTES;
        if (i % 8 == 7) snprintf(p, 64, "/api/r%d/missing", k | 1);        /* miss */
        else if (k % 2) snprintf(p, 64, "/api/r%d/%d/items/%d", k, i * 1000, i); /* params */
        else snprintf(p, 64, "/pages/section%d/about", k);             /* static */
        paths[i] = kiln_str_c(p);
    }

    int64_t t0 = kiln_now_ns();
    for (int i = 0; i < N_MATCHES; i++) sink += (size_t)kiln_router_lookup(r, KILN_METHOD_GET, paths[i & 63]);
    int64_t t1 = kiln_now_ns();
    printf("router_match: %d routes, %d lookups: %.1f ns/match\n", N_ROUTES, N_MATCHES,
           (double)(t1 - t0) / N_MATCHES);

    kiln_arena_t arena;
    kiln_arena_init(&arena, 0);
    kiln_conn_t c;
    kiln_match_t m;
    t0 = kiln_now_ns();
    for (int i = 0; i < N_MATCHES; i++) {
        kiln_conn_init(&c, &arena, NULL, NULL);
        c.raw_path = paths[i & 63];
        sink += (size_t)kiln_router_match(r, &c, &m);
        kiln_arena_reset(&arena);
    }
    t1 = kiln_now_ns();
    printf("router_match: with param extraction: %.1f ns/match\n", (double)(t1 - t0) / N_MATCHES);

    kiln_arena_destroy(&arena);
    kiln_router_free(r);
    return 0;
}
