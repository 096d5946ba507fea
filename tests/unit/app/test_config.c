/* Unit tests for src/app/config.c: each variable's parsing and the errors a
 * person sees when a value is wrong. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kiln/app.h"
#include "kiln_test.h"

static char err[256];

static void clear_env(void)
{
    static const char *vars[] = { "KILN_ENV", "PORT", "KILN_BIND", "SECRET_KEY_BASE", "DATABASE_URL",
                                  "KILN_SCHEDULERS", "KILN_TLS_CERT", "KILN_TLS_KEY", "KILN_DRAIN_TIMEOUT" };
    for (size_t i = 0; i < KILN_ARRAY_LEN(vars); i++) unsetenv(vars[i]);
}

static void test_defaults_dev(void)
{
    clear_env();
    char dir[] = "/tmp/kiln-cfg-XXXXXX";
    KT_ASSERT(mkdtemp(dir) != NULL);
    setenv("XDG_STATE_HOME", dir, 1);
    kiln_config_t c;
    KT_ASSERT_EQ_INT(kiln_config_load(&c, "demo", err, sizeof err), 0);
    KT_ASSERT_EQ_STR(c.env, "dev");
    KT_ASSERT(c.dev);
    KT_ASSERT_EQ_INT(c.port, 4000);
    KT_ASSERT_EQ_STR(c.bind, "127.0.0.1");
    KT_ASSERT_EQ_INT(c.drain_timeout_ms, 5000);
    KT_ASSERT_EQ_INT(c.schedulers, 0);
    KT_ASSERT(strlen(c.secret_key_base) >= 64);
    char first[200];
    snprintf(first, sizeof first, "%s", c.secret_key_base);
    KT_ASSERT(strstr(c.priv_dir, "/../priv/demo") != NULL);
    kiln_config_free(&c);
    /* The generated dev key is kept: a second start reads the same one. */
    KT_ASSERT_EQ_INT(kiln_config_load(&c, "demo", err, sizeof err), 0);
    KT_ASSERT_EQ_STR(c.secret_key_base, first);
    kiln_config_free(&c);
    char path[300];
    snprintf(path, sizeof path, "%s/kiln/demo-secret_key_base", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/kiln", dir);
    rmdir(path);
    rmdir(dir);
}

static void test_prod_needs_secret(void)
{
    clear_env();
    setenv("KILN_ENV", "prod", 1);
    kiln_config_t c;
    KT_ASSERT_EQ_INT(kiln_config_load(&c, "demo", err, sizeof err), KILN_EINVAL);
    KT_ASSERT(strstr(err, "SECRET_KEY_BASE is required") != NULL);
    setenv("SECRET_KEY_BASE", "short", 1);
    KT_ASSERT_EQ_INT(kiln_config_load(&c, "demo", err, sizeof err), KILN_EINVAL);
    KT_ASSERT(strstr(err, "at least 64") != NULL);
    setenv("SECRET_KEY_BASE", "0123456789012345678901234567890123456789012345678901234567890123", 1);
    KT_ASSERT_EQ_INT(kiln_config_load(&c, "demo", err, sizeof err), 0);
    KT_ASSERT_EQ_STR(c.bind, "0.0.0.0");
    KT_ASSERT(!c.dev);
    kiln_config_free(&c);
}

static void test_bad_values(void)
{
    static const struct { const char *var, *val, *msg; } cases[] = {
        { "PORT", "80a", "PORT must be" },
        { "PORT", "70000", "PORT must be" },
        { "KILN_ENV", "staging", "KILN_ENV must be" },
        { "KILN_SCHEDULERS", "0", "KILN_SCHEDULERS must be" },
        { "KILN_DRAIN_TIMEOUT", "-1", "KILN_DRAIN_TIMEOUT must be" },
        { "KILN_TLS_CERT", "/x.pem", "set together" },
    };
    for (size_t i = 0; i < KILN_ARRAY_LEN(cases); i++) {
        clear_env();
        setenv("SECRET_KEY_BASE", "0123456789012345678901234567890123456789012345678901234567890123", 1);
        setenv(cases[i].var, cases[i].val, 1);
        kiln_config_t c;
        KT_ASSERT_EQ_INT(kiln_config_load(&c, "demo", err, sizeof err), KILN_EINVAL);
        KT_ASSERT(strstr(err, cases[i].msg) != NULL);
    }
}

static void test_overrides(void)
{
    clear_env();
    setenv("SECRET_KEY_BASE", "0123456789012345678901234567890123456789012345678901234567890123", 1);
    setenv("PORT", "0", 1);
    setenv("KILN_BIND", "::1", 1);
    setenv("KILN_SCHEDULERS", "3", 1);
    setenv("KILN_DRAIN_TIMEOUT", "0.25", 1);
    setenv("DATABASE_URL", "sqlite::memory:", 1);
    kiln_config_t c;
    KT_ASSERT_EQ_INT(kiln_config_load(&c, "demo", err, sizeof err), 0);
    KT_ASSERT_EQ_INT(c.port, 0);
    KT_ASSERT_EQ_STR(c.bind, "::1");
    KT_ASSERT_EQ_INT(c.schedulers, 3);
    KT_ASSERT_EQ_INT(c.drain_timeout_ms, 250);
    KT_ASSERT_EQ_STR(c.database_url, "sqlite::memory:");
    kiln_config_free(&c);
}

int main(void)
{
    KT_RUN(test_defaults_dev);
    KT_RUN(test_prod_needs_secret);
    KT_RUN(test_bad_values);
    KT_RUN(test_overrides);
    return kt_done();
}
