/* Kiln applications: configuration from the environment and the command-line
 * contract every app binary follows (docs/guides/configuration.md).
 *
 *   APP [serve]     run the server in the foreground until SIGTERM/SIGINT
 *   APP routes      print the routes
 *   APP migrate     apply pending migrations (kiln/migration.h; needs DATABASE_URL)
 *   APP rollback [N] revert the last N migrations (default 1)
 *   APP migrations  list migrations and their status
 *   APP help        usage
 *
 * Exit code 0 on success; otherwise non-zero with a one-line reason on stderr.
 * A first SIGTERM/SIGINT drains (stop accepting, finish in-flight requests up
 * to KILN_DRAIN_TIMEOUT), a second one exits at once. */
#ifndef KILN_APP_H
#define KILN_APP_H

#include <stdint.h>
#include <stdio.h>
#include "kiln/endpoint.h"
#include "kiln/logger.h"
#include "kiln/migration.h"
#include "kiln/runtime.h"

/* The runtime configuration, read once at start. Strings are owned by the
 * config (kiln_config_free). */
typedef struct kiln_config {
    const char *app_name;
    const char *env;               /* KILN_ENV: "dev" (default), "test" or "prod" */
    int dev;                       /* env is dev */
    int port;                      /* PORT: 4000 */
    const char *bind;              /* KILN_BIND: 127.0.0.1 in dev/test, 0.0.0.0 in prod */
    const char *secret_key_base;   /* SECRET_KEY_BASE: >= 64 chars; required in prod */
    const char *database_url;      /* DATABASE_URL, or NULL */
    int schedulers;                /* KILN_SCHEDULERS: 0 = one per core */
    const char *tls_cert, *tls_key; /* KILN_TLS_CERT / KILN_TLS_KEY: both or neither */
    int64_t drain_timeout_ms;      /* KILN_DRAIN_TIMEOUT in seconds (may be fractional): 5 */
    const char *exe_dir;           /* the directory of the running executable */
    const char *priv_dir;          /* <exe_dir>/../priv/<app>: static files and other assets */
} kiln_config_t;

/* What an app declares. Everything but name and endpoint may be zero. */
typedef struct kiln_app {
    const char *name;
    kiln_endpoint_t *endpoint;
    /* Children started in order before the endpoint and stopped in reverse after it. */
    const kiln_child_spec_t *children;
    size_t n_children;
    /* Called after the config is read and before anything starts (e.g. to point
     * a static plug at cfg->priv_dir). Return 0, or an error to exit non-zero. */
    int (*configure)(const kiln_config_t *cfg);
    /* The request log (kiln/logger.h) is attached while serving: one line per
     * request, failures at error level with their cause. request_log chooses
     * the level or a sink (NULL = info, stderr); no_request_log = 1 leaves it
     * out, and then nothing logs failed requests unless the app attaches its
     * own handler to kiln.endpoint.stop. */
    const kiln_logger_opts_t *request_log;
    int no_request_log;
    /* The app's migrations, compiled in: `APP migrate | rollback [N] | migrations`. */
    const kiln_migration_t *migrations;
    size_t n_migrations;
} kiln_app_t;

/* Reads the configuration from the environment. On error returns a negative
 * KILN_E* and writes a one-line reason into err (size errlen). Owned by the
 * caller: release with kiln_config_free. */
int kiln_config_load(kiln_config_t *cfg, const char *app_name, char *err, size_t errlen);
void kiln_config_free(kiln_config_t *cfg);

/* The command-line entry point: `int main(int c, char **v) { return kiln_main(c, v, &app); }`. */
int kiln_main(int argc, char **argv, const kiln_app_t *app);

#endif
