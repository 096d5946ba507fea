/* Browser pipeline internals shared by session.c, csrf.c, flash.c and form.c. */
#ifndef KILN_BROWSER_INT_H
#define KILN_BROWSER_INT_H

#include <time.h>

#include "kiln/browser.h"

typedef struct kv {
    const char *key, *value;
    struct kv *next;
} kv_t;

typedef struct session {
    const kiln_session_opts_t *opts;
    kv_t *head;          /* arena */
    int dirty;           /* write the cookie back */
    int had_cookie;      /* a cookie came in (so an emptied session deletes it) */
} session_t;

/* The conn's session, or NULL before kiln_plug_session. */
session_t *kiln_browser_session(kiln_conn_t *c);

#endif
