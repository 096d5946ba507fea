/* libFuzzer target: the incremental multipart parser. The input is fed
 * whole and again in random-sized pieces derived from the input; both runs
 * must give the same result and the same params tree (split invariance), and
 * no temp file may survive the arena reset. */
#include "kiln/params.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void dump(const kiln_param_t *p, kiln_buf_t *out)
{
    kiln_buf_printf(out, "%d:%s=", p->kind, p->key ? p->key : "-");
    if (p->kind == KILN_PARAM_STRING) {
        kiln_buf_printf(out, "%zu:", p->u.str.len);
        kiln_buf_append(out, p->u.str.ptr, p->u.str.len);
    } else if (p->kind == KILN_PARAM_FILE) {
        kiln_buf_printf(out, "%s|%s|%llu", p->u.upload.filename, p->u.upload.content_type ? p->u.upload.content_type : "",
                        (unsigned long long)p->u.upload.size);
        if (access(p->u.upload.path, F_OK) != 0) abort();
    } else {
        for (const kiln_param_t *c = p->u.children; c; c = c->next) dump(c, out);
    }
    kiln_buf_append(out, ";", 1);
}

static int run(const uint8_t *data, size_t size, size_t seed, kiln_buf_t *out, const kiln_params_limits_t *l)
{
    kiln_arena_t a;
    kiln_arena_init(&a, 0);
    kiln_param_t *m = kiln_params_new_map(&a);
    int err = 0;
    kiln_multipart_t *mp = kiln_multipart_new(&a, KILN_STR("multipart/form-data; boundary=b"), m, l, &err);
    if (!mp) abort();
    int rc = 0;
    for (size_t i = 0; i < size && rc == 0;) {
        size_t n = size - i;
        if (seed) { /* piece sizes from the input itself */
            n = 1 + (data[(i + seed) % size] % 9);
            if (n > size - i) n = size - i;
        }
        /* a private copy per piece so that ASan sees reads past it */
        char *piece = malloc(n);
        memcpy(piece, data + i, n);
        rc = kiln_multipart_feed(mp, piece, n);
        free(piece);
        i += n;
    }
    if (rc == 0) rc = kiln_multipart_finish(mp);
    kiln_buf_reset(out);
    if (rc == 0) dump(m, out);
    kiln_arena_destroy(&a);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kiln_params_limits_t l;
    kiln_params_limits_default(&l);
    l.max_field = 64;
    l.max_file = 128;
    l.max_pairs = 8;
    l.tmp_dir = "/dev/shm";
    kiln_buf_t a, b;
    kiln_buf_init(&a, 1 << 20);
    kiln_buf_init(&b, 1 << 20);
    int ra = run(data, size, 0, &a, &l);
    int rb = run(data, size, 1, &b, &l);
    if (ra != rb || a.len != b.len || (a.len && memcmp(a.data, b.data, a.len) != 0)) abort();
    if (ra != 0 && ra != KILN_EINVAL && ra != KILN_ETOOBIG) abort();
    kiln_buf_free(&a);
    kiln_buf_free(&b);
    return 0;
}
