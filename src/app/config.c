/* Configuration from the environment: one table of variables, each parsed and
 * validated in one place, so that a bad value stops the app at start with a
 * one-line reason instead of surprising it later. The environment is the only
 * source today; a config file, when it comes, will be read first so that the
 * environment still wins. */
#include "kiln/app.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/rand.h>

#define SECRET_MIN 64

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return KILN_EINVAL;
}

static int parse_int(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return KILN_EINVAL;
    *out = v;
    return 0;
}

/* The directory holding the running executable (from /proc/self/exe). */
static char *exe_dir(void)
{
    char path[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
    if (n <= 0) return kiln_xstrdup(".");
    path[n] = '\0';
    char *slash = strrchr(path, '/');
    if (slash) *slash = '\0';
    return kiln_xstrdup(path[0] ? path : "/");
}

static int mkdirs(char *path)
{
    for (char *p = path + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        int rc = mkdir(path, 0700);
        *p = '/';
        if (rc < 0 && errno != EEXIST) return KILN_EIO;
    }
    return 0;
}

/* In dev and test a secret is generated once and kept in the user's state
 * directory (not the working directory: apps start from anywhere), so that
 * sessions survive restarts. */
static int dev_secret(const char *app, char **out, char *err, size_t errlen)
{
    const char *home = getenv("HOME");
    const char *state = getenv("XDG_STATE_HOME");
    char path[PATH_MAX];
    if (state && *state)
        snprintf(path, sizeof path, "%s/kiln/%s-secret_key_base", state, app);
    else
        snprintf(path, sizeof path, "%s/.local/state/kiln/%s-secret_key_base", home && *home ? home : "/tmp", app);

    char buf[256];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (n >= SECRET_MIN) {
            buf[n] = '\0';
            buf[strcspn(buf, "\r\n")] = '\0';
            if (strlen(buf) >= SECRET_MIN) {
                *out = kiln_xstrdup(buf);
                return 0;
            }
        }
    }
    unsigned char raw[48];
    if (RAND_bytes(raw, sizeof raw) != 1) return fail(err, errlen, "cannot generate SECRET_KEY_BASE");
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < sizeof raw; i++) {
        buf[2 * i] = hex[raw[i] >> 4];
        buf[2 * i + 1] = hex[raw[i] & 15];
    }
    buf[2 * sizeof raw] = '\0';
    if (mkdirs(path) < 0) return fail(err, errlen, "cannot create the directory for %s", path);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, buf, strlen(buf)) != (ssize_t)strlen(buf)) {
        if (fd >= 0) close(fd);
        return fail(err, errlen, "cannot write %s", path);
    }
    close(fd);
    kiln_log(KILN_LOG_WARN, "SECRET_KEY_BASE is not set: using a generated dev key kept in %s", path);
    *out = kiln_xstrdup(buf);
    return 0;
}

static const char *env_or(const char *name, const char *dflt)
{
    const char *v = getenv(name);
    return v && *v ? v : dflt;
}

static int load_env(kiln_config_t *cfg, char *err, size_t errlen)
{
    const char *env = env_or("KILN_ENV", "dev");
    if (strcmp(env, "dev") && strcmp(env, "test") && strcmp(env, "prod"))
        return fail(err, errlen, "KILN_ENV must be dev, test or prod (got \"%s\")", env);
    cfg->env = kiln_xstrdup(env);
    cfg->dev = !strcmp(env, "dev");
    int prod = !strcmp(env, "prod");

    long v;
    const char *port = env_or("PORT", "4000");
    if (parse_int(port, 0, 65535, &v) < 0)
        return fail(err, errlen, "PORT must be a number from 0 to 65535 (got \"%s\")", port);
    cfg->port = (int)v;

    cfg->bind = kiln_xstrdup(env_or("KILN_BIND", prod ? "0.0.0.0" : "127.0.0.1"));

    const char *sched = env_or("KILN_SCHEDULERS", NULL); /* unset: one per core */
    if (sched && parse_int(sched, 1, 1024, &v) < 0)
        return fail(err, errlen, "KILN_SCHEDULERS must be a number from 1 to 1024 (got \"%s\")", sched);
    cfg->schedulers = sched ? (int)v : 0;

    const char *drain = env_or("KILN_DRAIN_TIMEOUT", "5");
    char *end;
    double secs = strtod(drain, &end);
    if (end == drain || *end || !(secs >= 0 && secs <= 3600))
        return fail(err, errlen, "KILN_DRAIN_TIMEOUT must be seconds from 0 to 3600 (got \"%s\")", drain);
    cfg->drain_timeout_ms = (int64_t)(secs * 1000);

    const char *cert = env_or("KILN_TLS_CERT", NULL), *key = env_or("KILN_TLS_KEY", NULL);
    if (!cert != !key) return fail(err, errlen, "KILN_TLS_CERT and KILN_TLS_KEY must be set together");
    cfg->tls_cert = cert ? kiln_xstrdup(cert) : NULL;
    cfg->tls_key = key ? kiln_xstrdup(key) : NULL;

    const char *db = env_or("DATABASE_URL", NULL);
    cfg->database_url = db ? kiln_xstrdup(db) : NULL;

    const char *secret = env_or("SECRET_KEY_BASE", NULL);
    if (secret) {
        if (strlen(secret) < SECRET_MIN)
            return fail(err, errlen, "SECRET_KEY_BASE must be at least 64 characters");
        cfg->secret_key_base = kiln_xstrdup(secret);
    } else if (prod) {
        return fail(err, errlen, "SECRET_KEY_BASE is required when KILN_ENV=prod (generate one with: openssl rand -hex 48)");
    } else {
        char *s;
        int rc = dev_secret(cfg->app_name, &s, err, errlen);
        if (rc < 0) return rc;
        cfg->secret_key_base = s;
    }
    return 0;
}

int kiln_config_load(kiln_config_t *cfg, const char *app_name, char *err, size_t errlen)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->app_name = kiln_xstrdup(app_name);
    char *dir = exe_dir();
    cfg->exe_dir = dir;
    size_t n = strlen(dir) + strlen(app_name) + 16;
    char *priv = kiln_xmalloc(n);
    snprintf(priv, n, "%s/../priv/%s", dir, app_name);
    cfg->priv_dir = priv;
    int rc = load_env(cfg, err, errlen);
    if (rc < 0) kiln_config_free(cfg);
    return rc;
}

void kiln_config_free(kiln_config_t *cfg)
{
    free((void *)cfg->app_name);
    free((void *)cfg->env);
    free((void *)cfg->bind);
    free((void *)cfg->secret_key_base);
    free((void *)cfg->database_url);
    free((void *)cfg->tls_cert);
    free((void *)cfg->tls_key);
    free((void *)cfg->exe_dir);
    free((void *)cfg->priv_dir);
    memset(cfg, 0, sizeof *cfg);
}
