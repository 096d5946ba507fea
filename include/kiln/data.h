/* Kiln data layer: the umbrella header, and the repo operations on schemas
 * (Ecto.Repo). See docs/guides/data.md.
 *
 * Every operation takes a repo handle (the root, or a transaction handle inside
 * kiln_repo_transaction) and an arena for its results: structs, strings and
 * rows all live there. Record arguments are borrowed. Errors are the negative
 * codes of kiln/repo.h; database errors never crash and, where a changeset is
 * involved, become field errors on it. */
#ifndef KILN_DATA_H
#define KILN_DATA_H

#include "kiln/changeset.h"
#include "kiln/migration.h"
#include "kiln/query.h"
#include "kiln/repo.h"
#include "kiln/schema.h"

/* ---- reads ---- */

/* All rows of q (a kiln_from query) decoded into a new array of structs in a
 * (*out; NULL-safe when zero rows). Returns the count. */
int kiln_repo_all(kiln_repo_t *repo, kiln_arena_t *a, const kiln_query_t *q, void **out);
/* Exactly one row: 0 with *out set, KILN_ENOENT for none, KILN_EMULTIPLE. */
int kiln_repo_one(kiln_repo_t *repo, kiln_arena_t *a, const kiln_query_t *q, void **out);
/* By primary key; 0 or KILN_ENOENT. */
int kiln_repo_get(kiln_repo_t *repo, kiln_arena_t *a, const kiln_schema_t *s, int64_t id, void **out);
/* Many rows by primary key, as independent statements in one
 * kiln_repo_query_batch (a PostgreSQL pipeline): *out gets n structs in a,
 * out[i] for ids[i] (repeats allowed). 0, KILN_ENOENT when any id has no
 * row, or the batch's error. */
int kiln_repo_get_many(kiln_repo_t *repo, kiln_arena_t *a, const kiln_schema_t *s, const int64_t *ids, size_t n,
                       void **out);
/* By one column's value; as kiln_repo_one. */
int kiln_repo_get_by(kiln_repo_t *repo, kiln_arena_t *a, const kiln_schema_t *s, const char *col, kiln_val_t v,
                     void **out);
/* 1 when q matches a row, 0 when not, or an error. */
int kiln_repo_exists(kiln_repo_t *repo, const kiln_query_t *q);
/* agg over q's rows ("count(*)", "sum(amount)", "max(id)"…) into *out (in q's arena). */
int kiln_repo_aggregate(kiln_repo_t *repo, const kiln_query_t *q, const char *agg, kiln_val_t *out);
/* Plain rows for ad-hoc selects (kiln_select, joins, group_by). Returns the count. */
int kiln_repo_rows(kiln_repo_t *repo, kiln_arena_t *a, const kiln_query_t *q, kiln_rows_t **out);

/* ---- writes ---- */

/* Inserts cs->changes (text-like NULL fields are left to column defaults;
 * timestamps set; lock_field starts at 1) and decodes the stored row into
 * *out (may be NULL). An invalid changeset is not sent: KILN_EINVALID. A
 * constraint violation that cs declares becomes a field error (KILN_EINVALID);
 * an undeclared one returns KILN_ECONSTRAINT. */
int kiln_repo_insert(kiln_repo_t *repo, kiln_changeset_t *cs, void **out);
/* Updates only the changed fields of cs->data's row (by primary key), with
 * updated_at and, when the schema has a lock_field, `lock = lock + 1 WHERE
 * lock = old`: KILN_ESTALE when the row changed meanwhile or is gone. No
 * change: no statement, *out is a copy. */
int kiln_repo_update(kiln_repo_t *repo, kiln_changeset_t *cs, void **out);
/* Deletes rec's row (by primary key; checks lock_field). 0 or KILN_ESTALE. */
int kiln_repo_delete(kiln_repo_t *repo, const kiln_schema_t *s, const void *rec);

typedef enum { KILN_CONFLICT_RAISE, KILN_CONFLICT_NOTHING, KILN_CONFLICT_REPLACE } kiln_conflict_t;
/* Upsert: insert, or on a conflict on target (NULL-terminated column list)
 * do nothing or replace every inserted field but the key. With NOTHING and a
 * conflict, *out is set to NULL and 0 is returned. */
int kiln_repo_insert_on_conflict(kiln_repo_t *repo, kiln_changeset_t *cs, kiln_conflict_t action,
                                 const char *const *target, void **out);
/* Inserts n structs of schema s in one statement; returns the count. */
int kiln_repo_insert_all(kiln_repo_t *repo, kiln_arena_t *a, const kiln_schema_t *s, const void *recs, size_t n,
                         kiln_conflict_t action, const char *const *target);

typedef struct kiln_set {
    const char *col;
    kiln_val_t val;
} kiln_set_t;
/* UPDATE … SET col = val, … for the rows q's where matches; returns the count. */
int kiln_repo_update_all(kiln_repo_t *repo, const kiln_query_t *q, const kiln_set_t *set, size_t n);
/* DELETE for the rows q's where matches; returns the count. */
int kiln_repo_delete_all(kiln_repo_t *repo, const kiln_query_t *q);

/* Loads association `assoc` of the n structs at recs (an array of s) with one
 * query, storing it in each struct (kiln/schema.h). Returns 0 or an error. */
int kiln_repo_preload(kiln_repo_t *repo, kiln_arena_t *a, const kiln_schema_t *s, void *recs, size_t n,
                      const char *assoc);

/* ---- Multi ---- */

/* A named step. run gets the transaction, its ud, and the results of the
 * earlier steps (results[i] for step i); it may set *result. */
typedef struct kiln_multi_step {
    const char *name;
    int (*run)(kiln_repo_t *tx, void *ud, void **result, void *const *results);
    void *ud;
} kiln_multi_step_t;

typedef struct kiln_multi_result {
    void **results;          /* one per step, in a */
    const char *failed_step; /* NULL on success */
    int error;               /* the failed step's error */
} kiln_multi_result_t;

/* Runs the steps in order in one transaction; the first step returning < 0
 * stops it, rolls everything back and is reported in *res. Returns 0 or that
 * error (or the commit's). */
int kiln_repo_multi(kiln_repo_t *repo, kiln_arena_t *a, const kiln_multi_step_t *steps, size_t n,
                    kiln_multi_result_t *res);

#endif
