/* examples/hello guestbook: a CSRF-protected form, validation, flash and a
 * redirect, the way a Phoenix controller does it.
 *
 *   GET  /guestbook   the form and the entries so far
 *   POST /guestbook   entry[name], entry[message]: both present -> add, flash,
 *                     303 to /guestbook; a blank field -> 422 with the form
 *                     and "can't be blank" beside it. A bad CSRF token never
 *                     gets here: the browser pipeline answers 403.
 *
 * Entries live in memory (the data layer will move them to its database).
 * Several schedulers serve requests at once, so a mutex guards the ring; a
 * render copies the entries into the request arena under the lock, so an entry
 * dropped from the ring meanwhile cannot dangle. */
#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "guestbook.h"
#include "kiln/params.h"
#include "templates.h"

#define MAX_ENTRIES 200  /* the oldest goes when full: memory stays bounded */
#define MAX_NAME 100
#define MAX_MESSAGE 2000

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static gb_entry_t ring[MAX_ENTRIES]; /* strings owned here (strdup) */
static size_t n_entries, next_slot;

static void add_entry(const char *name, const char *message)
{
    char *n = kiln_xstrdup(name), *m = kiln_xstrdup(message);
    pthread_mutex_lock(&lock);
    gb_entry_t *e = &ring[next_slot];
    free((char *)e->name);
    free((char *)e->message);
    e->name = n;
    e->message = m;
    next_slot = (next_slot + 1) % MAX_ENTRIES;
    if (n_entries < MAX_ENTRIES) n_entries++;
    pthread_mutex_unlock(&lock);
}

/* The entries, oldest first, copied into the arena. */
static gb_entry_t *snapshot(kiln_conn_t *c, size_t *n)
{
    pthread_mutex_lock(&lock);
    size_t count = n_entries, first = (next_slot + MAX_ENTRIES - n_entries) % MAX_ENTRIES;
    gb_entry_t *out = kiln_arena_alloc(c->arena, (count ? count : 1) * sizeof *out);
    for (size_t i = 0; out && i < count; i++) {
        const gb_entry_t *e = &ring[(first + i) % MAX_ENTRIES];
        out[i].name = kiln_arena_strndup(c->arena, e->name, strlen(e->name));
        out[i].message = kiln_arena_strndup(c->arena, e->message, strlen(e->message));
    }
    pthread_mutex_unlock(&lock);
    *n = out ? count : 0;
    return out;
}

static int render(kiln_conn_t *c, int status, const kiln_form_t *form)
{
    tpl_guestbook_assigns_t a = { 0 };
    size_t n;
    gb_entry_t *entries = snapshot(c, &n);
    if (!entries) return KILN_ENOMEM;
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
    add_entry(name, message);
    int rc = kiln_flash_put(c, "info", "Thanks for signing the guestbook!");
    if (rc == 0) rc = kiln_conn_put_status(c, 303);
    return rc < 0 ? rc : kiln_conn_redirect(c, "/guestbook");
}
