/* examples/hello guestbook: the entry type its template loops over, and the
 * handlers main.c routes to. */
#ifndef HELLO_GUESTBOOK_H
#define HELLO_GUESTBOOK_H

#include "kiln/browser.h"

typedef struct gb_entry {
    const char *name;
    const char *message;
} gb_entry_t;

int guestbook_index(kiln_conn_t *c);
int guestbook_create(kiln_conn_t *c);

#endif
