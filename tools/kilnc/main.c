/* kilnc: the Kiln template compiler (docs/guides/templates.md).
 *
 *   kilnc -o OUT_DIR [-p PREFIX] TEMPLATE.kiln...
 *
 * Compiles the templates together (each may call the others as components)
 * into OUT_DIR/templates.h and OUT_DIR/templates.c; the names are
 * PREFIX_NAME_* where NAME is the file name up to its first dot (default
 * prefix "tpl"). The build runs it (cmake/KilnTemplates.cmake); nothing is
 * parsed at request time. Exits 1 with "file:line:col: error: ..." on the
 * first mistake. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kilnc.h"
#ifdef KILN_ASAN
#include <sanitizer/lsan_interface.h>
#endif

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    kiln_buf_t b;
    kiln_buf_init(&b, (size_t)1 << 30);
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) kiln_buf_append(&b, chunk, n);
    fclose(f);
    *len = b.len;
    return b.data ? b.data : kiln_xstrdup("");
}

/* "dir/card.html.kiln" -> "card"; NULL if that is not a C identifier. */
static char *tpl_name(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = strcspn(base, ".");
    if (!n || !(isalpha((unsigned char)base[0]) || base[0] == '_')) return NULL;
    char *s = kiln_xmalloc(n + 1);
    for (size_t i = 0; i < n; i++) {
        if (!isalnum((unsigned char)base[i]) && base[i] != '_') {
            free(s);
            return NULL;
        }
        s[i] = base[i];
    }
    s[n] = '\0';
    return s;
}

static int usage(void)
{
    fprintf(stderr, "usage: kilnc -o OUT_DIR [-p PREFIX] TEMPLATE.kiln...\n");
    return 2;
}

int main(int argc, char **argv)
{
#ifdef KILN_ASAN
    __lsan_disable(); /* the AST lives until exit by design (kilnc.h): not a leak */
#endif
    const char *out_dir = NULL, *prefix = "tpl";
    tpl_t **all = kiln_xcalloc((size_t)argc, sizeof *all);
    int n = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-o") == 0 && i + 1 < argc) {
            out_dir = argv[++i];
        } else if (strcmp(argv[i], "-p") == 0 && i + 1 < argc) {
            prefix = argv[++i];
        } else if (argv[i][0] == '-') {
            return usage();
        } else {
            tpl_t *t = kiln_xcalloc(1, sizeof *t);
            t->path = argv[i];
            t->name = tpl_name(argv[i]);
            if (!t->name) {
                fprintf(stderr, "%s:1:1: error: the file name must start with a C identifier (card.kiln)\n", argv[i]);
                return 1;
            }
            for (int k = 0; k < n; k++)
                if (strcmp(all[k]->name, t->name) == 0) {
                    fprintf(stderr, "%s:1:1: error: a second template named %s (also %s)\n", argv[i], t->name,
                            all[k]->path);
                    return 1;
                }
            t->src = read_all(argv[i], &t->len);
            if (!t->src) {
                fprintf(stderr, "kilnc: cannot read %s\n", argv[i]);
                return 1;
            }
            all[n++] = t;
        }
    }
    if (!out_dir || !n) return usage();
    for (int i = 0; i < n; i++) kilnc_parse_header(all[i]);
    for (int i = 0; i < n; i++) kilnc_parse_body(all[i], all, n);
    return kilnc_generate(all, n, prefix, out_dir) < 0 ? 1 : 0;
}
