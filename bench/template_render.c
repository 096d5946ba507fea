/* bench_template_render: ns per page for TechEmpower's fortunes page rendered by
 * the compiled template vs by hand (examples/bench/fortunes.c; issue 3 §7:
 * the template must cost <= 1.1x the hand-written page).
 *
 *   bench_template_render [ITERATIONS]   (default 200000)
 *
 * Both render the same 13 rows into a reused buffer, interleaved in rounds so
 * that frequency changes hit both alike; the best round of each is reported.
 * The pages are checked byte for byte first. */
#include <stdio.h>
#include <stdlib.h>

#include "../examples/bench/fortunes.c"

static double round_ns(int tpl, const fortune_t *list, size_t n, long iters, kiln_tpl_out_t *o, kiln_buf_t *b)
{
    int64_t t0 = kiln_now_ns();
    for (long i = 0; i < iters; i++) {
        if (tpl) {
            kiln_tpl_out_reset(o);
            fortunes_render_template(o, list, n);
        } else {
            kiln_buf_reset(b);
            fortunes_render_hand(b, list, n);
        }
    }
    return (double)(kiln_now_ns() - t0) / (double)iters;
}

int main(int argc, char **argv)
{
    long iters = argc > 1 ? atol(argv[1]) : 200000;
    fortune_t list[KILN_ARRAY_LEN(stored) + 1];
    size_t n = fortunes_list(list);
    kiln_tpl_out_t o;
    kiln_buf_t b;
    kiln_tpl_out_init(&o, 1 << 16);
    kiln_buf_init(&b, 1 << 16);
    fortunes_render_template(&o, list, n);
    fortunes_render_hand(&b, list, n);
    if (o.buf.len != b.len || memcmp(o.buf.data, b.data, b.len) != 0) {
        fprintf(stderr, "template and hand pages differ\n%.*s\n---\n%s\n", (int)o.buf.len, o.buf.data, b.data);
        return 1;
    }
    double best_t = 1e18, best_h = 1e18;
    for (int r = 0; r < 5; r++) {
        double h = round_ns(0, list, n, iters / 5, &o, &b), t = round_ns(1, list, n, iters / 5, &o, &b);
        if (h < best_h) best_h = h;
        if (t < best_t) best_t = t;
    }
    printf("fortunes page (%zu bytes): template %.0f ns/page, hand %.0f ns/page, ratio %.2f\n", b.len, best_t, best_h,
           best_t / best_h);
    kiln_tpl_out_free(&o);
    kiln_buf_free(&b);
    return 0;
}
