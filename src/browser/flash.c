/* Flash messages: put now, read once, survive one redirect.
 *
 * The flash rides in the session under "_flash_<kind>" keys. A request loads
 * what the previous response left; before this response is sent, a redirect
 * (3xx) carries the current flash over to the next request, and any other
 * response has displayed it, so it is dropped from the session. */
#include <string.h>

#include "browser_int.h"

#define FLASH_ASSIGN "kiln.flash"
#define PREFIX "_flash_"

typedef struct flash {
    kv_t *head;     /* kind -> message (arena) */
    int incoming;   /* the session held a flash when the request came in */
} flash_t;

static flash_t *get(kiln_conn_t *c) { return kiln_conn_get_assign(c, FLASH_ASSIGN); }

const char *kiln_flash_get(kiln_conn_t *c, const char *kind)
{
    flash_t *f = get(c);
    for (kv_t *kv = f ? f->head : NULL; kv; kv = kv->next)
        if (strcmp(kv->key, kind) == 0) return kv->value;
    return NULL;
}

int kiln_flash_put(kiln_conn_t *c, const char *kind, const char *message)
{
    flash_t *f = get(c);
    if (!f) return KILN_ESTATE;
    kv_t *kv = f->head;
    while (kv && strcmp(kv->key, kind) != 0) kv = kv->next;
    if (!kv) {
        kv = kiln_arena_calloc(c->arena, sizeof *kv);
        if (!kv || !(kv->key = kiln_arena_strndup(c->arena, kind, strlen(kind)))) return KILN_ENOMEM;
        kv->next = f->head;
        f->head = kv;
    }
    kv->value = kiln_arena_strndup(c->arena, message, strlen(message));
    return kv->value ? 0 : KILN_ENOMEM;
}

static void drop_from_session(kiln_conn_t *c)
{
    session_t *s = kiln_browser_session(c);
    kv_t *kv = s->head;
    while (kv) {
        kv_t *next = kv->next;
        if (strncmp(kv->key, PREFIX, strlen(PREFIX)) == 0) kiln_session_delete(c, kv->key);
        kv = next;
    }
}

static void before_send(kiln_conn_t *c, void *ud)
{
    flash_t *f = ud;
    if (f->incoming) drop_from_session(c);
    if (c->status < 300 || c->status > 399) return;
    for (kv_t *kv = f->head; kv; kv = kv->next)
        kiln_session_put(c, kiln_arena_sprintf(c->arena, PREFIX "%s", kv->key), kv->value);
}

int kiln_plug_flash(kiln_conn_t *c, const void *opts)
{
    (void)opts;
    session_t *s = kiln_browser_session(c);
    if (!s) return KILN_ESTATE; /* the session plug must come first */
    flash_t *f = kiln_arena_calloc(c->arena, sizeof *f);
    if (!f) return KILN_ENOMEM;
    for (kv_t *kv = s->head; kv; kv = kv->next) {
        if (strncmp(kv->key, PREFIX, strlen(PREFIX)) != 0) continue;
        kv_t *m = kiln_arena_calloc(c->arena, sizeof *m);
        if (!m) return KILN_ENOMEM;
        m->key = kv->key + strlen(PREFIX);
        m->value = kv->value;
        m->next = f->head;
        f->head = m;
        f->incoming = 1;
    }
    int rc = kiln_conn_assign(c, FLASH_ASSIGN, f);
    if (rc == 0) rc = kiln_conn_register_before_send(c, before_send, f);
    return rc < 0 ? rc : KILN_PLUG_CONT;
}
