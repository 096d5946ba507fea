/* The logger plug: one line per request, written when the response is sent
 * (a before-send callback), so that it carries the final status and the time
 * spent up to that point, like Plug.Logger's "Sent 200 in 2ms". */
#include "kiln/plugs.h"

#include <stdio.h>

static void log_request(kiln_conn_t *c, void *ud)
{
    const kiln_logger_opts_t *o = ud;
    kiln_log_level_t level = o ? o->level : KILN_LOG_INFO;
    if (!kiln_log_enabled(level)) return;
    int64_t us = (kiln_now_ns() - c->start_ns) / 1000;
    char took[32];
    if (us < 1000) snprintf(took, sizeof took, "%lldµs", (long long)us);
    else snprintf(took, sizeof took, "%lldms", (long long)(us / 1000));
    kiln_log(level, "%.*s %.*s -> %d in %s request_id=%s", (int)c->method_str.len, c->method_str.ptr,
             (int)c->path.len, c->path.ptr, c->status, took, c->request_id ? c->request_id : "-");
}

int kiln_plug_logger(kiln_conn_t *c, const void *opts)
{
    if (!c->start_ns) c->start_ns = kiln_now_ns();
    return kiln_conn_register_before_send(c, log_request, (void *)opts);
}
