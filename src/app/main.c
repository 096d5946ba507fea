/* The command-line contract of every Kiln app (kiln/app.h).
 *
 * `serve` boots in a fixed order on a coroutine of scheduler 0 — the app's
 * supervised children first, then the HTTP server — and shuts down in the
 * reverse order. Signals are taken by a dedicated thread with sigwait (they are
 * blocked everywhere else before any thread starts), so no scheduler thread is
 * ever interrupted and no async-signal-safety puzzle arises: the first signal
 * posts a drain to scheduler 0, the second exits at once.
 *
 * The request log is a telemetry handler (kiln/logger.h) attached for the time
 * of `serve` only, before the first request can arrive, and detached after the
 * runtime has stopped, so that kiln_main leaves no handler behind. It is not
 * attached if the app attached its own already (kiln_logger_attach fails). */
#include "kiln/app.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kiln/router.h"
#include "kiln/server.h"
#include "kiln/template.h"

typedef struct app_run {
    const kiln_app_t *app;
    kiln_config_t cfg;
    kiln_runtime_t *rt;
    kiln_server_t *server;
    kiln_sup_spec_t sup_spec; /* the supervisor keeps a pointer: it must live as long as the run */
    kiln_pid_t sup;
    int boot_error;       /* set when boot fails: the exit code is non-zero */
    atomic_int signals;   /* signals received */
    kiln_coro_t *drain_waiter;
} app_run_t;

static void usage(FILE *out, const char *prog)
{
    fprintf(out,
            "usage: %s [command]\n"
            "  serve     run the server in the foreground (the default)\n"
            "  routes    list the routes\n"
            "  migrate   apply pending migrations to DATABASE_URL\n"
            "  rollback [N]  revert the last N migrations (default 1)\n"
            "  migrations    list migrations and their status\n"
            "  help      show this text\n"
            "configuration comes from the environment: see docs/guides/configuration.md\n",
            prog);
}

static void stop_with(app_run_t *r, int code, const char *why)
{
    if (why) fprintf(stderr, "%s: %s\n", r->app->name, why);
    r->boot_error = code;
    kiln_runtime_stop(r->rt, code);
}

/* ---- boot and shutdown, on scheduler 0 ---- */

static void boot(void *arg)
{
    app_run_t *r = arg;
    if (r->app->n_children) {
        r->sup_spec = (kiln_sup_spec_t){ .children = r->app->children, .n_children = r->app->n_children };
        int rc = kiln_sup_start(r->rt, &r->sup_spec, &r->sup);
        if (rc < 0) {
            char why[160];
            snprintf(why, sizeof why, "a child failed to start: %s", kiln_strerror(rc));
            stop_with(r, 1, why);
            return;
        }
    }
    kiln_server_conf_t sc = {
        .endpoint = r->app->endpoint, /* zero fields take the server's defaults */
        .bind = r->cfg.bind,
        .port = r->cfg.port,
        .tls_cert = r->cfg.tls_cert,
        .tls_key = r->cfg.tls_key,
        .drain_timeout_ms = r->cfg.drain_timeout_ms,
    };
    int rc = kiln_server_start(r->rt, &sc, &r->server);
    if (rc < 0) {
        char why[200];
        snprintf(why, sizeof why, "cannot listen on %s:%d: %s", r->cfg.bind, r->cfg.port, kiln_strerror(rc));
        if (r->sup) kiln_sup_stop(r->rt, r->sup);
        stop_with(r, 1, why);
        return;
    }
    kiln_log(KILN_LOG_INFO, "%s listening on %s://%s:%d (env %s, %d schedulers)", r->app->name,
             r->cfg.tls_cert ? "https" : "http", r->cfg.bind, kiln_server_port(r->server), r->cfg.env,
             kiln_runtime_schedulers(r->rt));
}

static void drained(void *ud)
{
    app_run_t *r = ud;
    kiln_coro_wake(r->drain_waiter, 0);
}

static void shutdown_coro(void *arg)
{
    app_run_t *r = arg;
    if (r->server) {
        r->drain_waiter = kiln_coro_current();
        kiln_server_drain(r->server, r->cfg.drain_timeout_ms, drained, r);
        kiln_coro_park();
    }
    if (r->sup) kiln_sup_stop(r->rt, r->sup);
    kiln_log(KILN_LOG_INFO, "%s stopped", r->app->name);
    kiln_runtime_stop(r->rt, 0);
}

static void on_boot(void *arg)
{
    if (kiln_coro_start(boot, arg) < 0) stop_with(arg, 1, "cannot start the boot coroutine");
}

static void on_shutdown(void *arg)
{
    if (kiln_coro_start(shutdown_coro, arg) < 0) kiln_runtime_stop(((app_run_t *)arg)->rt, 1);
}

static void *signal_thread(void *arg)
{
    app_run_t *r = arg;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    for (;;) {
        int sig;
        if (sigwait(&set, &sig) != 0) continue;
        if (atomic_fetch_add(&r->signals, 1) > 0) {
            static const char msg[] = "second signal: exiting now\n";
            ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
            (void)w;
            _exit(1);
        }
        kiln_log(KILN_LOG_INFO, "%s received %s: draining for up to %lld ms", r->app->name, strsignal(sig),
                 (long long)r->cfg.drain_timeout_ms);
        if (kiln_sched_post(kiln_sched_get(r->rt, 0), on_shutdown, r) < 0) _exit(1);
    }
    return NULL;
}

static int serve(const kiln_app_t *app)
{
    app_run_t r = { .app = app };
    char err[256];
    if (kiln_config_load(&r.cfg, app->name, err, sizeof err) < 0) {
        fprintf(stderr, "%s: %s\n", app->name, err);
        return 1;
    }
    /* The asset build's manifest (cmake/KilnAssets.cmake), for static_path(). */
    char manifest[4096];
    snprintf(manifest, sizeof manifest, "%s/static/cache_manifest.json", r.cfg.priv_dir);
    if (kiln_static_manifest_load(manifest) == KILN_EINVAL) {
        fprintf(stderr, "%s: %s is malformed\n", app->name, manifest);
        kiln_config_free(&r.cfg);
        return 1;
    }
    if (app->configure && app->configure(&r.cfg) < 0) {
        fprintf(stderr, "%s: configuration failed\n", app->name);
        kiln_config_free(&r.cfg);
        return 1;
    }
    /* Block the signals before any thread exists, so that only sigwait sees them. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    kiln_runtime_conf_t rc = { .schedulers = r.cfg.schedulers };
    r.rt = kiln_runtime_new(&rc);
    if (!r.rt) {
        fprintf(stderr, "%s: cannot start the runtime\n", app->name);
        kiln_config_free(&r.cfg);
        return 1;
    }
    pthread_t sig_tid;
    if (pthread_create(&sig_tid, NULL, signal_thread, &r) != 0 ||
        kiln_sched_post(kiln_sched_get(r.rt, 0), on_boot, &r) < 0) {
        fprintf(stderr, "%s: cannot start\n", app->name);
        return 1;
    }
    pthread_detach(sig_tid);
    int logging = !app->no_request_log && kiln_logger_attach(app->request_log) == 0;
    int code = kiln_runtime_run(r.rt);
    if (logging) kiln_logger_detach();
    if (r.server) kiln_server_free(r.server);
    kiln_runtime_free(r.rt);
    kiln_config_free(&r.cfg);
    return r.boot_error ? r.boot_error : code;
}

/* migrate / rollback [N] / migrations: the data layer's runners (src/data/migration.c). */
static int migration_command(const kiln_app_t *app, const char *cmd, const char *arg)
{
    kiln_config_t cfg;
    char err[256];
    if (kiln_config_load(&cfg, app->name, err, sizeof err) < 0) {
        fprintf(stderr, "%s: %s\n", app->name, err);
        return 1;
    }
    int code = kiln_migration_command(app->name, cfg.database_url, cmd, arg, app->migrations, app->n_migrations);
    kiln_config_free(&cfg);
    return code;
}

int kiln_main(int argc, char **argv, const kiln_app_t *app)
{
    const char *prog = argc > 0 ? argv[0] : app->name;
    const char *cmd = argc > 1 ? argv[1] : "serve";
    if (!strcmp(cmd, "migrate") || !strcmp(cmd, "rollback") || !strcmp(cmd, "migrations")) {
        if (argc > 3 || (argc == 3 && strcmp(cmd, "rollback"))) {
            fprintf(stderr, "%s: too many arguments\n", app->name);
            usage(stderr, prog);
            return 2;
        }
        return migration_command(app, cmd, argc == 3 ? argv[2] : NULL);
    }
    if (argc > 2) {
        fprintf(stderr, "%s: too many arguments\n", app->name);
        usage(stderr, prog);
        return 2;
    }
    if (!strcmp(cmd, "serve")) return serve(app);
    if (!strcmp(cmd, "routes")) {
        if (!app->endpoint->router) {
            fprintf(stderr, "%s: this app has no router\n", app->name);
            return 1;
        }
        kiln_router_print(app->endpoint->router, stdout);
        return 0;
    }
    if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        usage(stdout, prog);
        return 0;
    }
    fprintf(stderr, "%s: unknown command \"%s\"\n", app->name, cmd);
    usage(stderr, prog);
    return 2;
}
