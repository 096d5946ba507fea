/* One-for-one supervisors.
 *
 * A supervisor is an ordinary process. Its init starts the children in order
 * and monitors each; if one fails to start, it stops the started ones in
 * reverse (waiting for each) and exits with that error. kiln_sup_start parks
 * its caller until init is done, so the error comes back to the caller; called
 * outside a coroutine (before kiln_runtime_run) it cannot wait, returns 0, and
 * a start failure shows only as the supervisor's exit (monitor it).
 *
 * On a DOWN, the child's restart policy decides: permanent always restarts,
 * transient only after an abnormal exit (reason != 0), temporary never. Every
 * restart is stamped in a ring of max_restarts + 1 entries: when the oldest
 * stamp is younger than max_seconds, the limit is exceeded and the
 * supervisor stops its children (reverse order) and exits with KILN_ETOOBIG.
 *
 * Stopping a child: kiln_exit, then wait for its DOWN for up to shutdown_ms.
 * C cannot kill a coroutine that does not come back, so past that the
 * supervisor logs and moves on; the child still exits when it next returns. */
#include "runtime_int.h"

#include <stdlib.h>

enum { T_SUP_STOP = KILN_MSG_USER - 1 }; /* internal: below the user range */

typedef struct sup {
    const kiln_sup_spec_t *spec;
    kiln_runtime_t *rt;
    kiln_pid_t *pids;
    kiln_ref_t *refs;
    int64_t *stamps; /* restart times, ring of max_restarts */
    kiln_coro_t *starter; /* kiln_sup_start's caller, waiting for the children to start */
    int n_stamps, next_stamp, max_restarts, max_seconds;
    bool stopped;
} sup_t;

static int shutdown_ms(const kiln_child_spec_t *c)
{
    return c->shutdown_ms > 0 ? c->shutdown_ms : 5000;
}

/* Stops child i and waits for it, when the caller can wait. */
static void stop_child(sup_t *sv, size_t i)
{
    kiln_pid_t pid = sv->pids[i];
    if (!pid) return;
    sv->pids[i] = 0;
    /* Once the runtime stops, loops no longer run and no DOWN will come. */
    bool watched = sv->refs && sv->refs[i] && !atomic_load(&sv->rt->stopping);
    if (kiln_exit(sv->rt, pid, 0) < 0) {
        if (watched) kiln_demonitor(sv->refs[i]);
        return;
    }
    if (!watched) return;
    kiln_msg_t *down = NULL;
    int rc = kiln_receive(KILN_MSG_DOWN, sv->refs[i], shutdown_ms(&sv->spec->children[i]), &down);
    if (rc == 0) kiln_msg_free(down);
    else {
        kiln_log(KILN_LOG_WARN, "supervisor: child %s did not stop within %d ms", sv->spec->children[i].name,
                 shutdown_ms(&sv->spec->children[i]));
        kiln_demonitor(sv->refs[i]);
    }
    sv->refs[i] = 0;
}

static void stop_all(sup_t *sv)
{
    if (sv->stopped) return;
    sv->stopped = true;
    for (size_t i = sv->spec->n_children; i-- > 0;) stop_child(sv, i);
}

static void tell_starter(sup_t *sv, int rc)
{
    if (sv->starter) kiln_coro_wake(sv->starter, rc);
    sv->starter = NULL;
}

static int sup_init(kiln_proc_t *self, void *arg)
{
    sup_t *sv = arg;
    kiln_proc_set_state(self, sv);
    for (size_t i = 0; i < sv->spec->n_children; i++) {
        const kiln_child_spec_t *c = &sv->spec->children[i];
        int rc = c->start(sv->rt, c->arg, &sv->pids[i]);
        if (rc < 0) {
            kiln_log(KILN_LOG_ERROR, "supervisor: child %s failed to start: %s", c->name, kiln_strerror(rc));
            sv->pids[i] = 0;
            stop_all(sv);
            tell_starter(sv, rc);
            return rc;
        }
        sv->refs[i] = kiln_monitor(sv->pids[i]);
    }
    tell_starter(sv, 0);
    return 0;
}

/* Returns 0 if child i may restart now, KILN_ETOOBIG past the intensity. */
static int note_restart(sup_t *sv)
{
    int64_t now = kiln_loop_now_ms();
    int64_t oldest = sv->stamps[sv->next_stamp];
    sv->stamps[sv->next_stamp] = now;
    sv->next_stamp = (sv->next_stamp + 1) % sv->n_stamps;
    return oldest && now - oldest < (int64_t)sv->max_seconds * 1000 ? KILN_ETOOBIG : 0;
}

static int on_down(sup_t *sv, const kiln_msg_t *m)
{
    size_t n = sv->spec->n_children, i = 0;
    while (i < n && !(sv->refs[i] == m->ref && sv->pids[i])) i++;
    if (i == n || sv->stopped) return 0;
    const kiln_child_spec_t *c = &sv->spec->children[i];
    sv->pids[i] = 0;
    sv->refs[i] = 0;
    if (c->restart == KILN_RESTART_TEMPORARY || (c->restart == KILN_RESTART_TRANSIENT && m->reason == 0)) return 0;
    if (note_restart(sv) < 0) {
        kiln_log(KILN_LOG_ERROR, "supervisor: restart intensity exceeded (child %s, reason %d); giving up", c->name,
                 m->reason);
        return KILN_ETOOBIG;
    }
    int rc = c->start(sv->rt, c->arg, &sv->pids[i]);
    if (rc < 0) {
        kiln_log(KILN_LOG_ERROR, "supervisor: cannot restart child %s: %s", c->name, kiln_strerror(rc));
        sv->pids[i] = 0;
        return rc;
    }
    sv->refs[i] = kiln_monitor(sv->pids[i]);
    return 0;
}

static int sup_handle(kiln_proc_t *self, kiln_msg_t *m)
{
    sup_t *sv = kiln_proc_state(self);
    if (m->tag == KILN_MSG_DOWN) return on_down(sv, m);
    if (m->tag == T_SUP_STOP) {
        stop_all(sv);
        kiln_reply(sv->rt, m, kiln_msg_new(KILN_MSG_REPLY, NULL, 0));
        return KILN_PROC_STOP;
    }
    return 0;
}

static void sup_free(sup_t *sv)
{
    free(sv->pids);
    free(sv->refs);
    free(sv->stamps);
    free(sv);
}

static void sup_terminate(kiln_proc_t *self, int reason)
{
    (void)reason;
    sup_t *sv = kiln_proc_state(self);
    stop_all(sv);
    sup_free(sv);
}

static const kiln_proc_ops_t sup_ops = {
    .abi = KILN_PROC_ABI, .init = sup_init, .handle_msg = sup_handle, .terminate = sup_terminate
};

int kiln_sup_start(kiln_runtime_t *rt, const kiln_sup_spec_t *spec, kiln_pid_t *out)
{
    if (!rt || !spec || (spec->n_children && !spec->children)) return KILN_EINVAL;
    sup_t *sv = kiln_xcalloc(1, sizeof *sv);
    sv->spec = spec;
    sv->rt = rt;
    sv->max_restarts = spec->max_restarts > 0 ? spec->max_restarts : 3;
    sv->max_seconds = spec->max_seconds > 0 ? spec->max_seconds : 5;
    sv->n_stamps = sv->max_restarts;
    sv->stamps = kiln_xcalloc((size_t)sv->n_stamps, sizeof *sv->stamps);
    sv->pids = kiln_xcalloc(spec->n_children + 1, sizeof *sv->pids);
    sv->refs = kiln_xcalloc(spec->n_children + 1, sizeof *sv->refs);
    kiln_coro_t *starter = sv->starter = kiln_coro_current();
    kiln_pid_t pid;
    int rc = kiln_spawn(rt, NULL, &sup_ops, sv, &pid);
    if (rc < 0) {
        sup_free(sv);
        return rc;
    }
    if (starter && (rc = (int)kiln_coro_park()) < 0) return rc; /* sv went with the supervisor */
    if (out) *out = pid;
    return 0;
}

int kiln_sup_stop(kiln_runtime_t *rt, kiln_pid_t sup)
{
    if (!kiln_coro_current()) return kiln_exit(rt, sup, 0);
    kiln_msg_t *r = NULL;
    int rc = kiln_call(rt, sup, kiln_msg_new(T_SUP_STOP, NULL, 0), -1, &r);
    kiln_msg_free(r);
    return rc;
}
