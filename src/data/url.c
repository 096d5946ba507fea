/* DATABASE_URL parsing (rules in docs/guides/data.md).
 *
 *   sqlite:PATH            PATH absolute, or relative to the working directory
 *   sqlite::memory:        a private in-memory database
 *   postgres://[user[:password]@]host[:port]/db[?key=value&…]   (or postgresql://)
 *
 * Options after `?` apply to both kinds (pool_size, checkout_timeout,
 * busy_timeout, inline_budget, slow_ms, timeout, sslmode, host for a socket
 * directory);
 * an unknown option is an error, so that a typo does not silently fall back to
 * a default. User, password and database are percent-decoded. The parsed URL
 * owns copies of every string. */
#include "data/data_int.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int fail(char *err, size_t errlen, const char *why)
{
    if (err && errlen) snprintf(err, errlen, "DATABASE_URL: %s", why);
    return KILN_EINVAL;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* A percent-decoded copy of s[0..n), or NULL on a bad escape or a NUL byte. */
static char *decode(const char *s, size_t n)
{
    char *out = kiln_xmalloc(n + 1), *o = out;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '%') {
            *o++ = s[i];
            continue;
        }
        if (i + 2 >= n || hexval(s[i + 1]) < 0 || hexval(s[i + 2]) < 0) {
            free(out);
            return NULL;
        }
        char c = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
        if (!c) {
            free(out);
            return NULL;
        }
        *o++ = c;
        i += 2;
    }
    *o = 0;
    return out;
}

static int parse_int(const char *v, int min, int max, int *out)
{
    char *end;
    long x = strtol(v, &end, 10);
    if (!*v || *end || x < min || x > max) return -1;
    *out = (int)x;
    return 0;
}

static int set_option(kiln_db_url_t *u, const char *key, const char *val, char *err, size_t errlen)
{
    static const struct {
        const char *key;
        size_t off;
        int min, max;
    } ints[] = {
        { "pool_size", offsetof(kiln_db_url_t, pool_size), 1, 1000 },
        { "checkout_timeout", offsetof(kiln_db_url_t, checkout_timeout_ms), 1, 3600000 },
        { "busy_timeout", offsetof(kiln_db_url_t, busy_timeout_ms), 1, 3600000 },
        { "inline_budget", offsetof(kiln_db_url_t, inline_budget_ms), 1, 3600000 },
        { "slow_ms", offsetof(kiln_db_url_t, slow_ms), -1, 3600000 },
        { "timeout", offsetof(kiln_db_url_t, timeout_ms), 1, 3600000 },
    };
    for (size_t i = 0; i < KILN_ARRAY_LEN(ints); i++) {
        if (strcmp(key, ints[i].key)) continue;
        if (parse_int(val, ints[i].min, ints[i].max, (int *)(void *)((char *)u + ints[i].off)) < 0) {
            char why[160];
            snprintf(why, sizeof why, "option %s needs an integer in %d..%d", key, ints[i].min, ints[i].max);
            return fail(err, errlen, why);
        }
        return 0;
    }
    char **dst = !strcmp(key, "sslmode") ? &u->sslmode : !strcmp(key, "host") ? &u->host : NULL;
    if (!dst) {
        char why[160];
        snprintf(why, sizeof why, "unknown option \"%.60s\"", key);
        return fail(err, errlen, why);
    }
    free(*dst);
    *dst = kiln_xstrdup(val);
    return 0;
}

/* Parses "a=1&b=2" (each part percent-decoded). */
static int parse_options(kiln_db_url_t *u, const char *q, char *err, size_t errlen)
{
    while (*q) {
        size_t n = strcspn(q, "&");
        const char *eq = memchr(q, '=', n);
        if (!eq) return fail(err, errlen, "an option needs key=value");
        char *key = decode(q, (size_t)(eq - q)), *val = decode(eq + 1, n - (size_t)(eq + 1 - q));
        int rc = key && val ? set_option(u, key, val, err, errlen) : fail(err, errlen, "bad %-escape in an option");
        free(key);
        free(val);
        if (rc < 0) return rc;
        q += n + (q[n] == '&');
    }
    return 0;
}

static int parse_sqlite(kiln_db_url_t *u, const char *rest, char *err, size_t errlen)
{
    u->dialect = KILN_DB_SQLITE;
    size_t n = strcspn(rest, "?");
    if (rest[n] && parse_options(u, rest + n + 1, err, errlen) < 0) return KILN_EINVAL;
    if (n == 8 && !memcmp(rest, ":memory:", 8)) return 0;
    if (n == 0) return fail(err, errlen, "sqlite: needs a path, e.g. sqlite:data/app.db");
    if (memchr(rest, '\0', n) || n >= PATH_MAX) return fail(err, errlen, "bad sqlite path");
    if (rest[0] == '/') {
        u->path = kiln_xmalloc(n + 1);
        memcpy(u->path, rest, n);
        u->path[n] = 0;
        return 0;
    }
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd)) return fail(err, errlen, "cannot read the working directory");
    size_t cl = strlen(cwd);
    u->path = kiln_xmalloc(cl + 1 + n + 1);
    memcpy(u->path, cwd, cl);
    u->path[cl] = '/';
    memcpy(u->path + cl + 1, rest, n);
    u->path[cl + 1 + n] = 0;
    return 0;
}

/* [user[:password]@]host[:port] */
static int parse_authority(kiln_db_url_t *u, const char *s, size_t n, char *err, size_t errlen)
{
    const char *at = NULL;
    for (size_t i = 0; i < n; i++)
        if (s[i] == '@') at = s + i; /* the last @: a password may contain an escaped one only */
    if (at) {
        size_t ul = (size_t)(at - s);
        const char *colon = memchr(s, ':', ul);
        u->user = decode(s, colon ? (size_t)(colon - s) : ul);
        if (colon) u->password = decode(colon + 1, ul - (size_t)(colon + 1 - s));
        if (!u->user || (colon && !u->password)) return fail(err, errlen, "bad %-escape in the user or password");
        n -= ul + 1;
        s = at + 1;
    }
    const char *colon = memchr(s, ':', n);
    size_t hl = colon ? (size_t)(colon - s) : n;
    if (hl) u->host = decode(s, hl);
    if (colon) {
        char port[8] = { 0 };
        size_t pl = n - hl - 1;
        if (pl == 0 || pl >= sizeof port) return fail(err, errlen, "bad port");
        memcpy(port, colon + 1, pl);
        if (parse_int(port, 1, 65535, &u->port) < 0) return fail(err, errlen, "bad port");
    }
    return 0;
}

static int parse_postgres(kiln_db_url_t *u, const char *rest, char *err, size_t errlen)
{
    u->dialect = KILN_DB_POSTGRES;
    size_t an = strcspn(rest, "/?");
    if (parse_authority(u, rest, an, err, errlen) < 0) return KILN_EINVAL;
    rest += an;
    if (*rest == '/') {
        rest++;
        size_t dn = strcspn(rest, "?");
        if (dn) {
            u->dbname = decode(rest, dn);
            if (!u->dbname) return fail(err, errlen, "bad %-escape in the database name");
        }
        rest += dn;
    }
    if (*rest == '?' && parse_options(u, rest + 1, err, errlen) < 0) return KILN_EINVAL;
    if (!u->dbname) return fail(err, errlen, "postgres:// needs a database name: postgres://host/db");
    return 0;
}

int kiln_db_url_parse(const char *url, kiln_db_url_t *out, char *err, size_t errlen)
{
    *out = (kiln_db_url_t){ 0 };
    if (!url || !*url) return fail(err, errlen, "empty");
    int rc;
    if (!strncmp(url, "sqlite:", 7)) rc = parse_sqlite(out, url + 7, err, errlen);
    else if (!strncmp(url, "postgres://", 11)) rc = parse_postgres(out, url + 11, err, errlen);
    else if (!strncmp(url, "postgresql://", 13)) rc = parse_postgres(out, url + 13, err, errlen);
    else rc = fail(err, errlen, "unsupported scheme (use sqlite:PATH, sqlite::memory: or postgres://…)");
    if (rc < 0) {
        kiln_db_url_free(out);
        return rc;
    }
    if (!out->pool_size) out->pool_size = 10;
    if (!out->checkout_timeout_ms) out->checkout_timeout_ms = 5000;
    if (!out->busy_timeout_ms) out->busy_timeout_ms = 5000;
    if (!out->inline_budget_ms) out->inline_budget_ms = 2;
    if (!out->slow_ms) out->slow_ms = 200;
    if (!out->timeout_ms) out->timeout_ms = 15000;
    return 0;
}

void kiln_db_url_free(kiln_db_url_t *u)
{
    free(u->path);
    free(u->user);
    free(u->password);
    free(u->host);
    free(u->dbname);
    free(u->sslmode);
    *u = (kiln_db_url_t){ 0 };
}
