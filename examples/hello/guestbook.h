/* examples/hello guestbook: the entry type its template loops over, its
 * database (opened and migrated at boot), and the handlers main.c routes to. */
#ifndef HELLO_GUESTBOOK_H
#define HELLO_GUESTBOOK_H

#include "kiln/app.h"
#include "kiln/browser.h"
#include "kiln/data.h"

typedef struct gb_entry {
    const char *name;
    const char *message;
} gb_entry_t;

extern const kiln_migration_t guestbook_migrations[];
extern const size_t guestbook_n_migrations;

/* Without DATABASE_URL: sets it to hello's own SQLite file,
 * $XDG_STATE_HOME/kiln/hello/hello.db (else ~/.local/state/kiln/hello/),
 * creating the directory. Call before kiln_main. 0 or KILN_EIO. */
int guestbook_default_database(void);
/* From configure: opens cfg->database_url and applies pending migrations. */
int guestbook_open(const kiln_config_t *cfg);
void guestbook_close(void);

int guestbook_index(kiln_conn_t *c);
int guestbook_create(kiln_conn_t *c);

#endif
