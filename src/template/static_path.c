/* static_path(): logical asset paths to their digested names, via the manifest
 * the asset build writes (tools/kiln-digest, docs/guides/assets.md).
 *
 * Two formats, told apart by the first byte:
 *  - JSON, Phoenix's cache_manifest.json as kiln-digest writes it: the
 *    "latest" object maps "assets/app.css" to "assets/app-<md5>.css" (paths
 *    relative to the static root; a leading "/" is added to both);
 *  - text, one "/logical /digested" pair per line, for a hand-written map.
 *
 * The manifest is loaded once, before serving, and only read afterwards, so
 * lookups take no lock. The table owns its strings for the process lifetime;
 * loading again replaces it (the old one is freed: only do that before the
 * server runs). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

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

/* Adds "logical digested": the two strings, each prefixed with "/" when
 * `slash`, in one allocation ("logical\0digested"). */
static void table_add(const char *logical, size_t ll, const char *digested, int slash, size_t *cap)
{
    if (n_table == *cap) {
        *cap = *cap ? *cap * 2 : 32;
        table = kiln_xrealloc(table, *cap * sizeof *table);
    }
    size_t dl = strlen(digested), s = slash ? 1 : 0;
    char *m = kiln_xmalloc(s + ll + 1 + s + dl + 1);
    snprintf(m, s + ll + 1, "%s%.*s", slash ? "/" : "", (int)ll, logical);
    snprintf(m + s + ll + 1, s + dl + 1, "%s%s", slash ? "/" : "", digested);
    table[n_table].logical = m;
    table[n_table].digested = m + s + ll + 1;
    n_table++;
}

static int load_json(FILE *f, const char *path, size_t *cap)
{
    json_error_t err;
    json_t *root = json_loadf(f, 0, &err);
    json_t *latest = json_object_get(root, "latest");
    if (!json_is_object(latest)) {
        kiln_log(KILN_LOG_ERROR, "static manifest %s: %s", path,
                 root ? "no \"latest\" object" : err.text);
        json_decref(root);
        return KILN_EINVAL;
    }
    const char *key;
    json_t *v;
    int rc = 0;
    json_object_foreach(latest, key, v) {
        if (!json_is_string(v) || key[0] == '/' || json_string_value(v)[0] == '/') {
            kiln_log(KILN_LOG_ERROR, "static manifest %s: bad entry for \"%s\"", path, key);
            rc = KILN_EINVAL;
            break;
        }
        table_add(key, strlen(key), json_string_value(v), 1, cap);
    }
    json_decref(root);
    return rc;
}

static int load_lines(FILE *f, const char *path, size_t *cap)
{
    char line[2048];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '\0') continue;
        char *sp = strchr(line, ' ');
        if (!sp || sp[1] == '\0' || line[0] != '/') {
            kiln_log(KILN_LOG_ERROR, "static manifest %s: malformed line \"%s\"", path, line);
            return KILN_EINVAL;
        }
        table_add(line, (size_t)(sp - line), sp + 1, 0, cap);
    }
    return 0;
}

int kiln_static_manifest_load(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) return KILN_ENOENT;
    table_free();
    size_t cap = 0;
    int c;
    while ((c = getc(f)) == ' ' || c == '\t' || c == '\r' || c == '\n') {}
    if (c != EOF) ungetc(c, f);
    int rc = c == '{' ? load_json(f, path, &cap) : load_lines(f, path, &cap);
    fclose(f);
    if (rc < 0) table_free();
    return rc;
}

const char *kiln_static_path(const char *path)
{
    for (size_t i = 0; i < n_table; i++)
        if (strcmp(table[i].logical, path) == 0) return table[i].digested;
    return path;
}
