/* libFuzzer target: urlencoded params with Plug's nested keys. On success
 * every key and string in the tree must be valid UTF-8, map children must
 * have keys and list items must not, and nesting must respect max_depth. */
#include "kiln/params.h"

#include <stdlib.h>
#include <string.h>

static void check(const kiln_param_t *p, int in_list, size_t depth, const kiln_params_limits_t *l)
{
    if (depth > l->max_depth + 2) abort();
    if (in_list ? p->key != NULL : (p->key == NULL || !kiln_utf8_valid(p->key, strlen(p->key)))) abort();
    switch (p->kind) {
    case KILN_PARAM_STRING:
        if (!kiln_utf8_valid(p->u.str.ptr, p->u.str.len) || p->u.str.ptr[p->u.str.len] != '\0') abort();
        break;
    case KILN_PARAM_MAP:
    case KILN_PARAM_LIST:
        for (const kiln_param_t *c = p->u.children; c; c = c->next) check(c, p->kind == KILN_PARAM_LIST, depth + 1, l);
        break;
    default:
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    kiln_params_limits_t l;
    kiln_params_limits_default(&l);
    if (data[0] & 1) {
        l.max_pairs = data[0] % 16;
        l.max_depth = data[0] % 5;
        l.max_key = data[0] % 32;
    }
    char *copy = malloc(size);
    memcpy(copy, data + 1, size - 1);
    kiln_arena_t a;
    kiln_arena_init(&a, 0);
    kiln_param_t *m = kiln_params_new_map(&a);
    int rc = kiln_params_parse_urlencoded(&a, (kiln_str_t){ copy, size - 1 }, m, &l);
    if (rc == 0) {
        for (const kiln_param_t *c = m->u.children; c; c = c->next) check(c, 0, 0, &l);
    } else if (rc != KILN_EINVAL && rc != KILN_ETOOBIG) {
        abort();
    }
    kiln_arena_destroy(&a);
    free(copy);
    return 0;
}
