/* examples/bench fortunes (TechEmpower "fortunes", in memory): the row type,
 * the two renderers being compared, and the handlers main.c routes to. */
#ifndef BENCH_FORTUNE_H
#define BENCH_FORTUNE_H

#include <stddef.h>

#include "kiln/conn.h"
#include "kiln/template.h"

typedef struct fortune {
    int id;
    const char *message;
} fortune_t;

/* The 12 fortunes plus the one added per request, sorted by message, in out
 * (room for 13). Returns the count. */
size_t fortunes_list(fortune_t *out);
/* The same page, by the compiled template and by hand (buffer + escape). */
void fortunes_render_template(kiln_tpl_out_t *o, const fortune_t *f, size_t n);
void fortunes_render_hand(kiln_buf_t *b, const fortune_t *f, size_t n);

int fortunes_mem(kiln_conn_t *c);   /* GET /bench/fortunes-mem */
int fortunes_hand(kiln_conn_t *c);  /* GET /bench/fortunes-hand */

#endif
