/* Internals shared by the params parsers (params.c, urlencoded.c, multipart.c). */
#ifndef KILN_PARAMS_INT_H
#define KILN_PARAMS_INT_H

#include "kiln/params.h"

/* Places leaf (a STRING or FILE node the caller allocated in a) at the nested
 * key path of map, setting leaf->key. Same rules and errors as kiln_params_put. */
int kiln__params_put_node(kiln_arena_t *a, kiln_param_t *map, const char *key, size_t key_len, kiln_param_t *leaf,
                          const kiln_params_limits_t *l);

#endif
