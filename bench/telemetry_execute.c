/* Telemetry micro-benchmark: the cost of one kiln.endpoint.stop event (the
 * request log's event, with the endpoint's 2 measurements and 8 metadata
 * entries), in ns per kiln_telemetry_execute:
 *   - nothing attached (and kiln_telemetry_enabled alone, which is all the
 *     endpoint pays per event then);
 *   - the request log attached, its line filtered out by the log level;
 *   - attached, the line formatted into a sink that drops it;
 *   - attached, the line written through kiln_log to stderr (/dev/null here:
 *     timestamp, format and one write(2)).
 * Figures are for ADR 0007; run the Release build (bench_telemetry_execute). */
#include "kiln/endpoint.h"
#include "kiln/logger.h"
#include "kiln/telemetry.h"

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

static const kiln_measurement_t m[] = { { "duration_us", 312.0 }, { "status", 200 } };
static const kiln_meta_t md[] = { { "method", "GET" },
                                  { "path", "/users/42" },
                                  { "route", "/users/:id" },
                                  { "route_name", "user_show" },
                                  { "request_id", "F1xGqK2b7c9dE0fA1bC2dE3fG4h" },
                                  { "remote_ip", "127.0.0.1" },
                                  { "error", "" },
                                  { "in", "" } };

static volatile int enabled_sink;

static void drop(kiln_log_level_t level, const char *line, void *ud)
{
    (void)level;
    (void)ud;
    enabled_sink += line[0];
}

static double per_op(int n)
{
    int64_t t0 = kiln_now_ns();
    for (int i = 0; i < n; i++) kiln_telemetry_execute(KILN_EVENT_ENDPOINT_STOP, m, 2, md, 8);
    return (double)(kiln_now_ns() - t0) / n;
}

int main(void)
{
    const int n = 2000000, n_write = 200000;
    int64_t t0 = kiln_now_ns();
    for (int i = 0; i < n; i++) enabled_sink += kiln_telemetry_enabled(KILN_EVENT_ENDPOINT_STOP);
    printf("kiln_telemetry_enabled, nothing attached:      %7.1f ns\n", (double)(kiln_now_ns() - t0) / n);
    printf("execute, nothing attached:                     %7.1f ns\n", per_op(n));

    kiln_log_set_level(KILN_LOG_INFO);
    kiln_logger_attach(&(kiln_logger_opts_t){ .level = KILN_LOG_DEBUG });
    printf("execute, request log attached, level filtered: %7.1f ns\n", per_op(n));
    kiln_logger_detach();

    kiln_logger_attach(&(kiln_logger_opts_t){ .level = KILN_LOG_INFO, .sink = drop });
    printf("execute, request log formatted, sink drops it: %7.1f ns\n", per_op(n));
    kiln_logger_detach();

    int devnull = open("/dev/null", O_WRONLY);
    int saved = dup(2);
    dup2(devnull, 2);
    kiln_logger_attach(NULL);
    double w = per_op(n_write);
    kiln_logger_detach();
    dup2(saved, 2);
    close(saved);
    close(devnull);
    printf("execute, request log writing to stderr:        %7.1f ns\n", w);
    kiln_telemetry_shutdown();
    return 0;
}
