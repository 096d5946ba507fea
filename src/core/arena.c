/* Per-request bump allocator. Blocks are chained newest-first; a request that
 * fits in one block (the common case) costs one malloc for its whole life, and
 * a reset keeps that block so the next request on the connection costs none.
 * Allocations larger than a quarter block get a block of their own so that they
 * do not waste the rest of the current one. */
#include "kiln/core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct kiln_arena_block {
    kiln_arena_block_t *next;
    size_t size, used;
    _Alignas(16) unsigned char data[];
};

struct kiln_arena_cleanup {
    kiln_arena_cleanup_t *next;
    void (*fn)(void *ud);
    void *ud;
};

#define ALIGN16(n) (((n) + 15) & ~(size_t)15)

void kiln_arena_init(kiln_arena_t *a, size_t block_size)
{
    a->head = NULL;
    a->cleanups = NULL;
    a->block_size = block_size ? block_size : 4096;
}

static kiln_arena_block_t *block_new(size_t size)
{
    kiln_arena_block_t *b = malloc(sizeof *b + size);
    if (!b) return NULL;
    b->next = NULL;
    b->size = size;
    b->used = 0;
    return b;
}

void *kiln_arena_alloc(kiln_arena_t *a, size_t n)
{
    n = ALIGN16(n ? n : 1);
    kiln_arena_block_t *h = a->head;
    if (h && h->size - h->used >= n) {
        void *p = h->data + h->used;
        h->used += n;
        return p;
    }
    if (n > a->block_size / 4) { /* big: own block, linked behind the current one */
        kiln_arena_block_t *b = block_new(n);
        if (!b) return NULL;
        b->used = n;
        if (h) {
            b->next = h->next;
            h->next = b;
        } else {
            a->head = b;
        }
        return b->data;
    }
    kiln_arena_block_t *b = block_new(a->block_size);
    if (!b) return NULL;
    b->next = h;
    a->head = b;
    b->used = n;
    return b->data;
}

void *kiln_arena_calloc(kiln_arena_t *a, size_t n)
{
    void *p = kiln_arena_alloc(a, n);
    if (p) memset(p, 0, n);
    return p;
}

char *kiln_arena_strndup(kiln_arena_t *a, const char *s, size_t n)
{
    char *p = kiln_arena_alloc(a, n + 1);
    if (!p) return NULL;
    if (n) memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *kiln_arena_sprintf(kiln_arena_t *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return NULL;
    char *p = kiln_arena_alloc(a, (size_t)n + 1);
    if (!p) return NULL;
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

int kiln_arena_on_reset(kiln_arena_t *a, void (*fn)(void *ud), void *ud)
{
    kiln_arena_cleanup_t *c = kiln_arena_alloc(a, sizeof *c);
    if (!c) return KILN_ENOMEM;
    c->fn = fn;
    c->ud = ud;
    c->next = a->cleanups;
    a->cleanups = c;
    return 0;
}

static void run_cleanups(kiln_arena_t *a)
{
    /* A cleanup may allocate from or register on the arena; take the list first. */
    while (a->cleanups) {
        kiln_arena_cleanup_t *c = a->cleanups;
        a->cleanups = c->next;
        c->fn(c->ud);
    }
}

void kiln_arena_reset(kiln_arena_t *a)
{
    run_cleanups(a);
    kiln_arena_block_t *keep = NULL;
    for (kiln_arena_block_t *b = a->head, *next; b; b = next) {
        next = b->next;
        if (!keep && b->size == a->block_size) {
            keep = b;
            keep->next = NULL;
            keep->used = 0;
        } else {
            free(b);
        }
    }
    a->head = keep;
}

void kiln_arena_destroy(kiln_arena_t *a)
{
    run_cleanups(a);
    for (kiln_arena_block_t *b = a->head, *next; b; b = next) {
        next = b->next;
        free(b);
    }
    a->head = NULL;
}
