/* static_path(): logical asset paths to their digested names, via the manifest
 * the asset build writes (tools/kiln-digest, docs/guides/templates.md).
 *
 * The manifest is loaded once, before serving, and only read afterwards, so
 * lookups take no lock. The table owns its strings for the process lifetime;
 * loading again replaces it (the old one is freed: only do that before the
 * server runs). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln/template.h"

typedef struct entry {
    char *logical, *digested;
} entry_t;

static entry_t *table;
static size_t n_table;

static void table_free(void)
{
    for (size_t i = 0; i < n_table; i++) free(table[i].logical);
    free(table);
    table = NULL;
    n_table = 0;
}

int kiln_static_manifest_load(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) return KILN_ENOENT;
    table_free();
    char line[2048];
    size_t cap = 0;
    int rc = 0;
    while (fgets(line, sizeof line, f)) {
        char *sp = strchr(line, ' ');
        size_t len = strcspn(line, "\r\n");
        line[len] = '\0';
        if (len == 0) continue;
        if (!sp || sp[1] == '\0' || line[0] != '/') {
            rc = KILN_EINVAL;
            break;
        }
        if (n_table == cap) {
            cap = cap ? cap * 2 : 32;
            table = kiln_xrealloc(table, cap * sizeof *table);
        }
        /* one allocation holds both strings: "logical\0digested" */
        table[n_table].logical = kiln_xstrdup(line);
        table[n_table].logical[sp - line] = '\0';
        table[n_table].digested = table[n_table].logical + (sp - line) + 1;
        n_table++;
    }
    fclose(f);
    if (rc < 0) kiln_log(KILN_LOG_ERROR, "static manifest %s: malformed line \"%s\"", path, line);
    return rc;
}

const char *kiln_static_path(const char *path)
{
    for (size_t i = 0; i < n_table; i++)
        if (strcmp(table[i].logical, path) == 0) return table[i].digested;
    return path;
}
