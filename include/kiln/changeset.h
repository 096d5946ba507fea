/* Kiln changesets: cast untrusted params onto a schema struct, validate, and
 * turn database constraint violations into field errors (Ecto.Changeset).
 *
 *   kiln_changeset_t *cs = kiln_cs_cast(arena, &user_schema, NULL, c->params,
 *                                       (const char *[]){ "email", "age", NULL });
 *   kiln_cs_validate_required(cs, (const char *[]){ "email", NULL });
 *   kiln_cs_validate_format(cs, "email", "^[^@ ]+@[^@ ]+$", NULL);
 *   kiln_cs_unique_constraint(cs, "email", NULL);
 *   user_t *u;
 *   if (kiln_repo_insert(repo, cs, (void **)&u) < 0) render the form with cs->errors
 *
 * Everything a changeset holds lives in the arena given to kiln_cs_cast (a
 * request arena, usually). Fields are named by their schema names; naming a
 * field the schema lacks is a programming error reported as an error on that
 * name ("is not a field"). */
#ifndef KILN_CHANGESET_H
#define KILN_CHANGESET_H

#include "kiln/conn.h"
#include "kiln/repo.h"
#include "kiln/schema.h"

/* One error. message is for people ("should be at least 3 character(s)");
 * validation and the numbers are for form helpers and translations. */
typedef struct kiln_cs_error {
    const char *field;
    const char *message;
    const char *validation; /* "required", "cast", "length", "format", "number", "inclusion",
                               "exclusion", "confirmation", "acceptance", "unique",
                               "foreign", "check", or a custom name */
    const char *kind;       /* for length/number: "min", "max" (else NULL) */
    double count;           /* the bound that failed, for length/number */
    const char *constraint; /* for constraint errors: its name */
} kiln_cs_error_t;

typedef struct kiln_cs_constraint {
    const char *field;
    kiln_dberr_kind_t kind;
    const char *name;       /* PostgreSQL constraint name */
    const char *message;
} kiln_cs_constraint_t;

typedef struct kiln_changeset {
    const kiln_schema_t *schema;
    kiln_arena_t *arena;
    const void *data;       /* the record before the change (a zeroed one for inserts) */
    void *changes;          /* the record after the change: data with the changes applied */
    uint64_t changed;       /* bit i: field i changed */
    const kiln_param_t *params;
    kiln_cs_error_t *errors;
    size_t n_errors, cap_errors;
    kiln_cs_constraint_t *constraints;
    size_t n_constraints, cap_constraints;
    bool valid;
} kiln_changeset_t;

/* Casts the permitted fields (a NULL-terminated list) present in params (a
 * map; may be NULL) onto a copy of data (NULL = a new record). A value that
 * does not convert to the field's type becomes a "cast" error ("is invalid").
 * Empty strings cast to NULL for text-like fields (as Ecto's empty_values).
 * Returns NULL only when out of memory. */
kiln_changeset_t *kiln_cs_cast(kiln_arena_t *a, const kiln_schema_t *s, const void *data, const kiln_param_t *params,
                               const char *const *permitted);
/* Sets a field from C (value points at the member-typed value, e.g. int64_t *,
 * const char **). Returns 0 or KILN_ENOENT for an unknown field. */
int kiln_cs_put(kiln_changeset_t *cs, const char *field, const void *value);
/* Non-zero when field changed. The value is in cs->changes. */
int kiln_cs_changed(const kiln_changeset_t *cs, const char *field);

void kiln_cs_add_error(kiln_changeset_t *cs, const char *field, const char *message, const char *validation);
/* The first error on field, or NULL. */
const kiln_cs_error_t *kiln_cs_error_on(const kiln_changeset_t *cs, const char *field);

/* Validations: each adds errors and clears cs->valid on failure. Validations
 * other than required skip fields that are NULL or unchanged, as in Ecto.
 * message NULL = the default message. */
void kiln_cs_validate_required(kiln_changeset_t *cs, const char *const *fields);
/* Text length in Unicode code points (bytes for binary); min/max < 0 = no bound. */
void kiln_cs_validate_length(kiln_changeset_t *cs, const char *field, long min, long max);
/* POSIX extended regular expression. */
void kiln_cs_validate_format(kiln_changeset_t *cs, const char *field, const char *regex, const char *message);
/* Inclusive range for INTEGER/FLOAT/DECIMAL fields; pass NAN for no bound. */
void kiln_cs_validate_number(kiln_changeset_t *cs, const char *field, double min, double max);
void kiln_cs_validate_inclusion(kiln_changeset_t *cs, const char *field, const char *const *allowed);
void kiln_cs_validate_exclusion(kiln_changeset_t *cs, const char *field, const char *const *reserved);
/* params[field + "_confirmation"] must equal the cast value. */
void kiln_cs_validate_confirmation(kiln_changeset_t *cs, const char *field);
/* params[field] must be "true", "1" or "on" (field need not be in the schema). */
void kiln_cs_validate_acceptance(kiln_changeset_t *cs, const char *field);
/* fn returns NULL when the changed value is fine, else the error message. */
typedef const char *(*kiln_cs_validate_cb)(const kiln_changeset_t *cs, const char *field, void *ud);
void kiln_cs_validate_change(kiln_changeset_t *cs, const char *field, const char *validation, kiln_cs_validate_cb fn,
                             void *ud);

/* Constraints: when the database reports a violation on insert/update, the
 * matching declaration turns it into an error on field (else the repo call
 * returns KILN_ECONSTRAINT with no field error). name NULL = Ecto's default
 * (<table>_<field>_index / _fkey); on SQLite, which reports columns, not
 * names, unique matches by column, and a foreign-key failure (SQLite names
 * neither) goes to the first foreign_key_constraint declared. */
void kiln_cs_unique_constraint(kiln_changeset_t *cs, const char *field, const char *name);
void kiln_cs_foreign_key_constraint(kiln_changeset_t *cs, const char *field, const char *name);
void kiln_cs_check_constraint(kiln_changeset_t *cs, const char *field, const char *name, const char *message);
/* Maps e to a field error; returns non-zero when a declaration matched. */
int kiln_cs_apply_db_error(kiln_changeset_t *cs, const kiln_db_error_t *e);

#endif
