/* examples/hello guestbook: a CSRF-protected form, validation, flash and a
 * redirect, the way a Phoenix controller does it, kept in the database.
 *
 *   GET  /guestbook   the form and the latest 200 entries, oldest first
 *   POST /guestbook   entry[name], entry[message]: both present -> insert,
 *                     flash, 303 to /guestbook; a blank field -> 422 with the
 *                     form and "can't be blank" beside it. A bad CSRF token
 *                     never gets here: the browser pipeline answers 403.
 *
 * Storage (issue 4 §10): the `entries` table, created by this file's
 * migration, in the database DATABASE_URL names. Without DATABASE_URL, hello
 * uses its own SQLite file, $XDG_STATE_HOME/kiln/hello/hello.db (else
 * ~/.local/state/kiln/hello/hello.db: beside the dev secret, independent of
 * the working directory), and migrates it at boot, so `make run` needs
 * nothing else. The repo is opened in configure and shared by every
 * scheduler; rows live in the request arena. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "guestbook.h"
#include "kiln/params.h"
#include "templates.h"

#define MAX_SHOWN 200 /* the page shows the latest entries only */
#define MAX_NAME 100
#define MAX_MESSAGE 2000

static kiln_repo_t *repo;

typedef struct entry_row {
    int64_t id;
    const char *name, *message;
    int64_t inserted_at, updated_at;
} entry_row_t;
static const kiln_field_t entry_fields[] = {
    KILN_FIELD(entry_row_t, id, KILN_T_INTEGER),       KILN_FIELD(entry_row_t, name, KILN_T_TEXT),
    KILN_FIELD(entry_row_t, message, KILN_T_TEXT),     KILN_FIELD(entry_row_t, inserted_at, KILN_T_UTC),
    KILN_FIELD(entry_row_t, updated_at, KILN_T_UTC),
};
static const kiln_schema_t entry_schema = KILN_SCHEMA(entry_row_t, "entries", entry_fields, .timestamps = 1);

static int create_entries(kiln_mig_t *m)
{
    return kiln_mig_create_table(m, "entries",
                                 (kiln_column_t[]){ { .name = "name", .type = KILN_T_TEXT, .not_null = 1 },
                                                    { .name = "message", .type = KILN_T_TEXT, .not_null = 1 } },
                                 2, KILN_MIG_TIMESTAMPS);
}
static int drop_entries(kiln_mig_t *m) { return kiln_mig_drop_table(m, "entries"); }

const kiln_migration_t guestbook_migrations[] = { { 20250101000000, "create_entries", create_entries, drop_entries } };
const size_t guestbook_n_migrations = KILN_ARRAY_LEN(guestbook_migrations);

int guestbook_default_database(void)
{
    if (getenv("DATABASE_URL")) return 0;
    const char *state = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
    char dir[PATH_MAX], url[PATH_MAX + 32];
    if (state && *state) snprintf(dir, sizeof dir, "%s/kiln/hello", state);
    else snprintf(dir, sizeof dir, "%s/.local/state/kiln/hello", home && *home ? home : "/tmp");
    for (char *p = dir + 1;; p++) { /* mkdir -p */
        char c = *p;
        if (c && c != '/') continue;
        *p = 0;
        int rc = mkdir(dir, 0700);
        *p = c;
        if (rc < 0 && errno != EEXIST) {
            fprintf(stderr, "hello: cannot create %s: %s\n", dir, strerror(errno));
            return KILN_EIO;
        }
        if (!c) break;
    }
    snprintf(url, sizeof url, "sqlite:%s/hello.db", dir);
    return setenv("DATABASE_URL", url, 1) == 0 ? 0 : KILN_ENOMEM;
}

int guestbook_open(const kiln_config_t *cfg)
{
    char err[256];
    if (kiln_repo_open(cfg->database_url, &repo, err, sizeof err) < 0) {
        fprintf(stderr, "hello: %s\n", err);
        return KILN_EINVAL;
    }
    if (kiln_migrate(repo, guestbook_migrations, guestbook_n_migrations, NULL) < 0) {
        fprintf(stderr, "hello: migrating %s failed\n", cfg->database_url);
        return KILN_EIO;
    }
    return 0;
}

void guestbook_close(void)
{
    kiln_repo_close(repo);
    repo = NULL;
}

/* The latest entries, oldest first, in the request arena. */
static int latest(kiln_conn_t *c, gb_entry_t **out, size_t *n)
{
    kiln_query_t *q = kiln_from(c->arena, &entry_schema);
    kiln_order_by(q, "id", KILN_DESC);
    kiln_limit(q, MAX_SHOWN);
    entry_row_t *rows;
    int rc = kiln_repo_all(repo, c->arena, q, (void **)&rows);
    if (rc < 0) return rc;
    gb_entry_t *e = kiln_arena_alloc(c->arena, (size_t)(rc ? rc : 1) * sizeof *e);
    if (!e) return KILN_ENOMEM;
    for (int i = 0; i < rc; i++) e[i] = (gb_entry_t){ rows[rc - 1 - i].name, rows[rc - 1 - i].message };
    *out = e;
    *n = (size_t)rc;
    return 0;
}

static int render(kiln_conn_t *c, int status, const kiln_form_t *form)
{
    tpl_guestbook_assigns_t a = { 0 };
    size_t n;
    gb_entry_t *entries;
    int rc = latest(c, &entries, &n);
    if (rc < 0) return rc;
    tpl_guestbook_set_form(&a, form);
    tpl_guestbook_set_entries(&a, entries, n);
    tpl_guestbook_set_count(&a, n);
    return kiln_render(c, status, "Guestbook", tpl_guestbook_slot(&a));
}

int guestbook_index(kiln_conn_t *c)
{
    kiln_form_t form = { .conn = c, .name = "entry" };
    return render(c, 200, &form);
}

static int blank(const char *s)
{
    for (; s && *s; s++)
        if (!isspace((unsigned char)*s)) return 0;
    return 1;
}

/* Adds "field -> message" to the errors map when the value is not acceptable. */
static int validate(kiln_conn_t *c, kiln_param_t *errors, const char *field, const char *v, size_t max)
{
    const char *msg = blank(v) ? "can't be blank" : strlen(v) > max ? "is too long" : NULL;
    if (!msg) return 0;
    kiln_params_limits_t l;
    kiln_params_limits_default(&l);
    int rc = kiln_params_put(c->arena, errors, field, strlen(field), msg, strlen(msg), &l);
    return rc < 0 ? rc : 1;
}

int guestbook_create(kiln_conn_t *c)
{
    const kiln_param_t *entry = kiln_param_get(c->params, "entry");
    const char *name = entry ? kiln_param_str(entry, "name") : NULL;
    const char *message = entry ? kiln_param_str(entry, "message") : NULL;
    kiln_param_t *errors = kiln_params_new_map(c->arena);
    if (!errors) return KILN_ENOMEM;
    int bad_name = validate(c, errors, "name", name, MAX_NAME);
    int bad_message = validate(c, errors, "message", message, MAX_MESSAGE);
    if (bad_name < 0 || bad_message < 0) return KILN_ENOMEM;
    if (bad_name || bad_message) {
        kiln_form_t form = { .conn = c, .name = "entry", .values = entry, .errors = errors };
        return render(c, 422, &form);
    }
    static const char *const permitted[] = { "name", "message", NULL };
    kiln_changeset_t *cs = kiln_cs_cast(c->arena, &entry_schema, NULL, entry, permitted);
    int rc = cs ? kiln_repo_insert(repo, cs, NULL) : KILN_ENOMEM;
    if (rc < 0) return rc;
    rc = kiln_flash_put(c, "info", "Thanks for signing the guestbook!");
    if (rc == 0) rc = kiln_conn_put_status(c, 303);
    return rc < 0 ? rc : kiln_conn_redirect(c, "/guestbook");
}
