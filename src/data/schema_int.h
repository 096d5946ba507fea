/* Internal schema conversions shared by changesets and repo operations. */
#ifndef KILN_SCHEMA_INT_H
#define KILN_SCHEMA_INT_H

#include "data/data_int.h"
#include "kiln/schema.h"

/* The field's value in rec as a bound parameter (UTC formatted into a). */
kiln_val_t kiln__field_get(const kiln_field_t *f, const void *rec, kiln_arena_t *a);
/* Stores v into rec's field (strings borrowed from v or made in a). Returns 0,
 * KILN_EINVAL (unparsable UTC) or KILN_ENOMEM. */
int kiln__field_set(const kiln_field_t *f, void *rec, const kiln_val_t *v, kiln_arena_t *a);
size_t kiln__field_size(kiln_type_t t);
/* Decodes every row of r into a new array of structs in a (matching columns
 * to fields by name; extra columns are ignored). Returns the count. */
int kiln__decode_rows(const kiln_schema_t *s, const kiln_rows_t *r, kiln_arena_t *a, void **out);
/* The same into recs (zeroed, room for r->n_rows structs). */
int kiln__decode_into(const kiln_schema_t *s, const kiln_rows_t *r, kiln_arena_t *a, void *recs);

#endif
