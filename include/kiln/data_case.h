/* Kiln data case: concurrent SQLite test sandboxes (issue 4 §8; Phoenix's
 * DataCase, beyond Ecto's). See docs/guides/data.md, "Tests: the sandbox".
 *
 * kiln_repo_sandbox_begin wraps a test in a transaction that is rolled back;
 * on SQLite that transaction holds the one writer lock of the file, so tests
 * sharing a file run one at a time. A data case instead gives each test its
 * own database file, copied (sqlite3 backup API) from a template migrated
 * once: tests running in parallel — threads, coroutines, processes — write
 * to different files and never wait for each other.
 *
 * Ownership: the template (kiln_data_case_template_new) owns its file in the
 * caller's directory and removes it in kiln_data_case_template_free, after
 * every case ended. A case (kiln_data_case_t, the caller's storage) owns its
 * file and its repo; kiln_data_case_end closes the repo and removes the file.
 * Thread-safe: any number of cases may begin and end at once from one
 * template. */
#ifndef KILN_DATA_CASE_H
#define KILN_DATA_CASE_H

#include "kiln/migration.h"
#include "kiln/repo.h"

typedef struct kiln_data_case_template kiln_data_case_template_t;

/* Creates dir/template.db (dir must exist), runs the n migrations on it and
 * closes it. Returns 0 or an error with a one-line reason in err. */
int kiln_data_case_template_new(const char *dir, const kiln_migration_t *migs, size_t n,
                                kiln_data_case_template_t **out, char *err, size_t errlen);
/* Removes the template's file and frees it (NULL is a no-op). */
void kiln_data_case_template_free(kiln_data_case_template_t *t);

/* One test's database: repo is a root repo on the test's own copy. */
typedef struct kiln_data_case {
    kiln_repo_t *repo;
    char path[4096];
} kiln_data_case_t;

/* Copies the template to a new file of its directory and opens a repo on it.
 * Returns 0 or an error with a one-line reason in err. */
int kiln_data_case_begin(kiln_data_case_template_t *t, kiln_data_case_t *c, char *err, size_t errlen);
/* Closes c's repo (no call may be running on it) and removes its files. */
void kiln_data_case_end(kiln_data_case_t *c);

#endif
