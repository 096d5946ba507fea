/* Concurrent SQLite test sandboxes (kiln/data_case.h).
 *
 * The template is migrated once through an ordinary repo, which leaves it in
 * WAL mode, and is then switched back to a rollback journal: copies only read
 * the main file under a shared lock, which any number of threads hold at once.
 * (Left in WAL mode, the first reader to open it after the WAL was removed must
 * rebuild the -shm index under an exclusive lock, and a concurrent copy gets
 * "database is locked".) Each case copies it with the sqlite3 backup API into
 * dir/case-N.db, N from a process-wide counter, then opens a repo on the copy,
 * which turns WAL back on.
 * Ending a case closes its repo and unlinks the file with its -wal and -shm. */
#include "kiln/data_case.h"

#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct kiln_data_case_template {
    char dir[4000];
    char path[4096];
};

static atomic_uint case_seq;

/* Busy waits are for the template's one-time switch of journal mode and for
 * the shared locks of copies running beside it; neither holds a lock long. */
enum { LOCK_WAIT_MS = 5000 };

static int leave_wal(const char *path, char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL);
    if (rc == SQLITE_OK) sqlite3_busy_timeout(db, LOCK_WAIT_MS);
    if (rc == SQLITE_OK) rc = sqlite3_exec(db, "PRAGMA journal_mode=DELETE", NULL, NULL, NULL);
    if (rc != SQLITE_OK) snprintf(err, errlen, "data case: %s: %s", path, sqlite3_errstr(rc));
    sqlite3_close(db);
    return rc == SQLITE_OK ? 0 : KILN_EDB;
}

int kiln_data_case_template_new(const char *dir, const kiln_migration_t *migs, size_t n,
                                kiln_data_case_template_t **out, char *err, size_t errlen)
{
    kiln_data_case_template_t *t = kiln_xcalloc(1, sizeof *t);
    if ((size_t)snprintf(t->dir, sizeof t->dir, "%s", dir) >= sizeof t->dir) {
        snprintf(err, errlen, "data case: directory name too long");
        free(t);
        return KILN_EINVAL;
    }
    snprintf(t->path, sizeof t->path, "%s/template.db", t->dir);
    unlink(t->path);
    char url[4200];
    snprintf(url, sizeof url, "sqlite:%s", t->path);
    kiln_repo_t *repo;
    int rc = kiln_repo_open(url, &repo, err, errlen);
    if (rc == 0) {
        if ((rc = kiln_migrate(repo, migs, n, NULL)) < 0)
            snprintf(err, errlen, "data case: migrating the template failed: %s", kiln_repo_strerror(rc));
        kiln_repo_close(repo);
    }
    if (rc == 0) rc = leave_wal(t->path, err, errlen);
    if (rc < 0) {
        kiln_data_case_template_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

static void unlink_db(const char *path)
{
    char side[4200];
    unlink(path);
    snprintf(side, sizeof side, "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", path);
    unlink(side);
}

void kiln_data_case_template_free(kiln_data_case_template_t *t)
{
    if (!t) return;
    unlink_db(t->path);
    free(t);
}

/* Copies the database at from into a new file at to (backup API). */
static int copy_db(const char *from, const char *to, char *err, size_t errlen)
{
    sqlite3 *src = NULL, *dst = NULL;
    int rc = sqlite3_open_v2(from, &src, SQLITE_OPEN_READONLY, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_open_v2(to, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_busy_timeout(src, LOCK_WAIT_MS);
        sqlite3_backup *b = sqlite3_backup_init(dst, "main", src, "main");
        rc = b ? sqlite3_backup_step(b, -1) : sqlite3_errcode(dst);
        if (b) sqlite3_backup_finish(b);
        rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
    }
    if (rc != SQLITE_OK)
        snprintf(err, errlen, "data case: cannot copy %s to %s: %s", from, to, sqlite3_errstr(rc));
    sqlite3_close(src);
    sqlite3_close(dst);
    return rc == SQLITE_OK ? 0 : KILN_EDB;
}

int kiln_data_case_begin(kiln_data_case_template_t *t, kiln_data_case_t *c, char *err, size_t errlen)
{
    *c = (kiln_data_case_t){ 0 };
    snprintf(c->path, sizeof c->path, "%s/case-%u.db", t->dir, atomic_fetch_add(&case_seq, 1));
    unlink_db(c->path);
    int rc = copy_db(t->path, c->path, err, errlen);
    char url[4200];
    snprintf(url, sizeof url, "sqlite:%s", c->path);
    if (rc == 0) rc = kiln_repo_open(url, &c->repo, err, errlen);
    if (rc < 0) unlink_db(c->path);
    return rc;
}

void kiln_data_case_end(kiln_data_case_t *c)
{
    kiln_repo_close(c->repo);
    c->repo = NULL;
    unlink_db(c->path);
}
