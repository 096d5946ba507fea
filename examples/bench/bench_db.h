/* Shared between the bench app's database endpoints (db.c on the data layer,
 * raw.c on libsqlite3/libpq) and main.c. */
#ifndef BENCH_DB_H
#define BENCH_DB_H

#include "fortune.h"
#include "kiln/app.h"
#include "kiln/data.h"
#include "kiln/router.h"

extern kiln_repo_t *bench_repo; /* NULL without DATABASE_URL */
extern const kiln_migration_t bench_migrations[];
extern const size_t bench_n_migrations;

/* kiln_app_t.configure: opens the repo (and raw.c's connections, lazily)
 * when DATABASE_URL is set. */
int bench_db_configure(const kiln_config_t *cfg);

/* ?queries=N clamped to 1..500; a missing or non-numeric N counts as 1. */
int bench_queries_param(const kiln_conn_t *c);
int bench_unavailable(kiln_conn_t *c);
/* Answers {"id":…,"randomNumber":…} (array = 0) or a JSON array of them. */
int bench_json_worlds(kiln_conn_t *c, const int64_t *ids, const int64_t *nums, int n, int array);
/* Adds the request-time fortune to f (room for n + 1), sorts by message and
 * answers the page rendered by the fortunes template (templates/fortunes.kiln). */
int bench_send_fortunes(kiln_conn_t *c, fortune_t *f, size_t n);

/* The handlers (TechEmpower db, queries, updates, fortunes). */
int bench_db(kiln_conn_t *c);
int bench_queries(kiln_conn_t *c);
int bench_updates(kiln_conn_t *c);
int bench_fortunes(kiln_conn_t *c);

/* The same four on raw libsqlite3 / libpq calls (raw.c): /raw/db, … */
int bench_raw_open(const char *database_url);
void bench_raw_close(void);
int raw_db(kiln_conn_t *c);
int raw_queries(kiln_conn_t *c);
int raw_updates(kiln_conn_t *c);
int raw_fortunes(kiln_conn_t *c);

#endif
