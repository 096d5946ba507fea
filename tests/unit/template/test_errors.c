/* kilnc syntax and check errors: each bad template must fail the build with
 * "file:line:col: error: <a message a person understands>" and exit 1. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kiln_test.h"
#include "kiln/core.h"

static const char card[] = "@assign const char *title\n@assign int n\n@slot footer\n<div>{@title}{@footer}</div>\n";

typedef struct bad {
    const char *src;
    const char *want; /* expected start of stderr, after "bad.kiln:" */
} bad_t;

static const bad_t cases[] = {
    { "<div>\n  <p>hi</p>\n", "1:1: error: unclosed tag <div>: no </div> before the end of the file" },
    { "<div><span></div>", "1:12: error: mismatched end tag </div>: expected </span> for <span> opened at 1:6" },
    { "</p>", "1:1: error: mismatched end tag </p>: no tag is open" },
    { "<p>{@nope}</p>", "1:5: error: unknown assign @nope (declare it with @assign TYPE nope in the header)" },
    { "@assign int n\n<p>{@n + @m}</p>", "2:10: error: unknown assign @m" },
    { "<.nope />", "1:1: error: unknown component <.nope> (no nope.kiln among the templates)" },
    { "<.card title=\"x\" size=\"2\" />", "1:18: error: unknown attribute size for <.card>" },
    { "<.card n=\"2\" />", "1:8: error: attribute n of <.card> is int: give it as n={...}" },
    { "<.card><:header>x</:header></.card>", "1:8: error: unknown slot <:header> for <.card>" },
    { "<.card>inner</.card>", "1:1: error: <.card> takes no inner content (declare @slot inner_block in card.kiln)" },
    { "<p a\"b=\"1\">", "1:5: error: bad attribute: unexpected '\"' in a tag" },
    { "<p 1x=\"1\">", "1:4: error: bad attribute name \"1x\"" },
    { "<p :while={1}>", "1:4: error: bad attribute :while (only :if and :for are special)" },
    { "@assign const char *js\n<a onclick={@js}>", "2:4: error: bad attribute: onclick (an event handler) cannot take a value from data" },
    { "<p class=big>", "1:10: error: bad attribute: the value of class must be quoted or {an expression}" },
    { "<p class=\"x\"", "1:1: error: unclosed tag <p: expected >" },
    { "@assign int n\n<%= if @n do %>\n<p></p>", "2:1: error: unclosed block: this if/for has no <% end %>" },
    { "<%= if 1 do %><p><% end %></p>", "1:18: error: unexpected <% end %>: close the open tag first" },
    { "<% end %>", "1:1: error: unexpected <% end %>: no open if or for" },
    { "<% x = 1; %>", "1:1: error: unknown <% x = 1; %>: expected if, for, else, end, or <%= expression %>" },
    { "@assign int n\n<li :for={x <- @n}></li>", "2:10: error: @n is not a collection (declare it as @assign TYPE n[])" },
    { "@assign int xs[]\n<p>{@xs}</p>", "2:5: error: @xs is a collection: loop over it with :for={x <- @xs}" },
    { "<p>{1 + </p>", "1:4: error: unclosed { : expected a matching }" },
    { "@frobnicate x\n", "1:1: error: unknown directive \"@frobnicate x\" (expected @include, @assign or @slot)" },
    { "<:footer>x</:footer>", "1:1: error: a slot <:...> must be a direct child of a component <.name>" },
};

static char dir[64];

/* Writes src as bad.kiln beside card.kiln and returns kilnc's stderr (static). */
static const char *compile(const char *src)
{
    static char err[4096];
    char path[256], cmd[1024];
    snprintf(path, sizeof path, "%s/bad.kiln", dir);
    FILE *f = fopen(path, "w");
    fputs(src, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "cd %s && %s -o . bad.kiln card.kiln 2> err.txt", dir, KILNC_PATH);
    int rc = system(cmd);
    snprintf(path, sizeof path, "%s/err.txt", dir);
    f = fopen(path, "r");
    size_t n = fread(err, 1, sizeof err - 1, f);
    fclose(f);
    err[n] = '\0';
    if (!WIFEXITED(rc) || WEXITSTATUS(rc) != 1) snprintf(err, sizeof err, "(exit status %d)", rc);
    return err;
}

static void test_each_error_names_its_place(void)
{
    for (size_t i = 0; i < KILN_ARRAY_LEN(cases); i++) {
        const char *err = compile(cases[i].src);
        char want[512];
        snprintf(want, sizeof want, "bad.kiln:%s", cases[i].want);
        if (strncmp(err, want, strlen(want)) != 0) KT_FAIL_("case %zu: want \"%s\", got \"%s\"", i, want, err);
    }
}

static void test_a_good_template_compiles(void)
{
    const char *err = compile("@assign const char *t\n<.card title={@t} n={1}><:footer>f</:footer></.card>\n");
    KT_ASSERT_EQ_STR(err, "(exit status 0)");
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/kilnc-errors-XXXXXX");
    if (!mkdtemp(dir)) return 1;
    char path[256];
    snprintf(path, sizeof path, "%s/card.kiln", dir);
    FILE *f = fopen(path, "w");
    fputs(card, f);
    fclose(f);
    KT_RUN(test_each_error_names_its_place);
    KT_RUN(test_a_good_template_compiles);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) return 1;
    return kt_done();
}
