/* The socket drainer (kiln_socket_drainer_start, docs/adr/0033-socket-drainer.md).
 *
 * A process that does nothing until it is asked to exit; its terminate — which
 * runs as the process, on a coroutine, so it may wait — drains the sockets
 * made with its conf, then returns, and only then does its supervisor go on
 * to stop the other children. So an app that lists the drainer last gets:
 * HTTP drain, sockets drained (channels terminate while presence runs), other
 * children stopped, runtime stopped.
 *
 * Sockets live on their schedulers, each in a thread-local registry
 * (socket.c), so the drainer never touches one itself: each round posts one
 * task per scheduler, in turn, which closes up to the batch's remaining quota
 * there and answers with counts (closed, still open, not yet freed). A batch
 * is drainer_batch_size sockets over all schedulers, one batch per
 * drainer_batch_interval_ms; after the last one the drainer polls until every
 * socket is freed — close handshakes done, channels terminated — and at the
 * drainer_shutdown_ms deadline drops the rest without a handshake.
 *
 * Ownership: the process's state is the app's conf (borrowed, outlives it);
 * a round's request belongs to its task, which frees it; replies are freed by
 * the drainer. Nothing is held between rounds, so an idle drainer costs one
 * process slot. */
#include "channel/channel_int.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

enum { T_DRAIN_REPLY = KILN_MSG_USER + 960 };

#define POLL_MS 20          /* between two checks for freed sockets */
#define REPLY_MS 1000       /* a scheduler answers a round in well under this */
#define AFTER_ABORT_MS 1000 /* past the deadline: channels still finishing a handler */

typedef struct drain_req {
    kiln_runtime_t *rt;
    const kiln_socket_conf_t *app_conf;
    kiln_pid_t to;
    uint64_t seq, max;
    int abort;
} drain_req_t;

typedef struct drain_rep {
    uint64_t seq, closed, open, live;
} drain_rep_t;

typedef struct drainer {
    kiln_runtime_t *rt;
    const kiln_socket_conf_t *app_conf;
    kiln_pid_t self;
    uint64_t seq;
} drainer_t;

/* On the socket's scheduler. */
static void drain_task(void *arg)
{
    drain_req_t *q = arg;
    drain_rep_t r = { .seq = q->seq };
    r.closed = kiln__sock_drain_here(q->app_conf, q->max, q->abort, &r.open, &r.live);
    kiln_send(q->rt, q->to, kiln_msg_new(T_DRAIN_REPLY, &r, sizeof r)); /* fails harmlessly if we gave up */
    free(q);
}

/* One round over every scheduler: closes up to max sockets in all (abort:
 * drops every one). *sum gets the totals. Returns 0, or an error when a
 * scheduler could not be asked or did not answer. */
static int drain_round(drainer_t *d, uint64_t max, int abort, drain_rep_t *sum)
{
    memset(sum, 0, sizeof *sum);
    int n = kiln_runtime_schedulers(d->rt);
    for (int i = 0; i < n; i++) {
        drain_req_t *q = malloc(sizeof *q);
        if (!q) return KILN_ENOMEM;
        *q = (drain_req_t){ .rt = d->rt, .app_conf = d->app_conf, .to = d->self, .seq = ++d->seq,
                            .max = max - sum->closed, .abort = abort };
        uint64_t seq = q->seq;
        if (kiln_sched_post(kiln_sched_get(d->rt, i), drain_task, q) < 0) {
            free(q);
            return KILN_ENOMEM;
        }
        for (;;) { /* a late answer to a round we gave up on is skipped */
            kiln_msg_t *m = NULL;
            int rc = kiln_receive(T_DRAIN_REPLY, 0, REPLY_MS, &m);
            if (rc < 0) return rc;
            drain_rep_t r;
            memcpy(&r, m->data, sizeof r);
            kiln_msg_free(m);
            if (r.seq != seq) continue;
            sum->closed += r.closed;
            sum->open += r.open;
            sum->live += r.live;
            break;
        }
    }
    return 0;
}

/* Polls until every socket is freed or until `until`. Returns 0 or an error. */
static int wait_freed(drainer_t *d, int64_t until, drain_rep_t *r)
{
    int rc = 0;
    while (r->live && rc == 0) {
        int64_t left = until - kiln_loop_now_ms();
        if (left <= 0) break;
        kiln_sleep((uint64_t)(left < POLL_MS ? left : POLL_MS));
        rc = drain_round(d, 0, 0, r);
    }
    return rc;
}

static void drainer_terminate(kiln_proc_t *self, int reason)
{
    (void)reason;
    kiln_socket_conf_t conf;
    kiln__sock_conf_defaults(kiln_proc_state(self), &conf);
    drainer_t d = { .rt = kiln_sched_runtime(kiln_sched_current()), .app_conf = kiln_proc_state(self),
                    .self = kiln_proc_pid(self) };
    int64_t deadline = kiln_loop_now_ms() + conf.drainer_shutdown_ms;
    uint64_t closed = 0, batches = 0, dropped = 0;
    drain_rep_t r = { 0 };
    int rc;
    while ((rc = drain_round(&d, conf.drainer_batch_size, 0, &r)) == 0) {
        closed += r.closed;
        batches += r.closed > 0;
        if (!r.open || kiln_loop_now_ms() + conf.drainer_batch_interval_ms >= deadline) break;
        kiln_sleep((uint64_t)conf.drainer_batch_interval_ms);
    }
    if (rc == 0) rc = wait_freed(&d, deadline, &r);
    if (rc == 0 && r.live) { /* the deadline: no more handshakes */
        dropped = r.live;
        rc = drain_round(&d, 0, 1, &r);
        kiln_log(KILN_LOG_WARN, "socket drainer: deadline (%" PRId64 " ms): %" PRIu64 " sockets dropped, %" PRIu64
                 " of them before their turn", conf.drainer_shutdown_ms, dropped, r.closed);
        if (rc == 0) rc = wait_freed(&d, kiln_loop_now_ms() + AFTER_ABORT_MS, &r);
    }
    if (rc < 0)
        kiln_log(KILN_LOG_ERROR, "socket drainer: gave up: %s", kiln_strerror(rc));
    else if (r.live)
        kiln_log(KILN_LOG_ERROR, "socket drainer: %" PRIu64 " sockets still held by busy channels", r.live);
    kiln_log(KILN_LOG_INFO, "socket drainer: %" PRIu64 " sockets closed in %" PRIu64 " batches, %" PRIu64 " dropped",
             closed, batches, dropped);
}

static int drainer_init(kiln_proc_t *self, void *arg)
{
    kiln_proc_set_state(self, arg);
    return 0;
}

static int drainer_handle(kiln_proc_t *self, kiln_msg_t *m)
{
    (void)self;
    (void)m; /* nothing to do until the stop */
    return 0;
}

static const kiln_proc_ops_t drainer_ops = {
    .abi = KILN_PROC_ABI, .init = drainer_init, .handle_msg = drainer_handle, .terminate = drainer_terminate
};

int kiln_socket_drainer_start(kiln_runtime_t *rt, void *conf, kiln_pid_t *out)
{
    if (!rt || !conf) return KILN_EINVAL;
    return kiln_spawn(rt, NULL, &drainer_ops, conf, out);
}
