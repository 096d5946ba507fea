/* Kiln runtime: schedulers, lightweight processes, timers, blocking work.
 *
 * Model (docs/adr/0002-runtime-process-model.md): one scheduler thread per core,
 * each running its own event loop. A process is a small struct (pid, mailbox,
 * state, ops); when a message arrives its handle_msg callback runs on a coroutine
 * stack borrowed from the scheduler's pool and returned as soon as the callback
 * returns. Only a callback that waits (kiln_receive, kiln_call, kiln_sleep,
 * kiln_blocking) keeps its stack, until it is resumed. So an idle process owns
 * no stack, and user code still reads sequentially.
 *
 * Any code running on a coroutine (a process callback, or an HTTP request
 * handler, which the server also runs on a borrowed stack) may wait. Calling a
 * waiting function from outside a coroutine returns KILN_ESTATE. */
#ifndef KILN_RUNTIME_H
#define KILN_RUNTIME_H

#include <stdint.h>
#include <stddef.h>
#include "kiln/core.h"

/* ---- Runtime lifecycle ------------------------------------------------- */

typedef struct kiln_runtime kiln_runtime_t;
typedef struct kiln_sched kiln_sched_t;

typedef struct kiln_runtime_conf {
    int schedulers;       /* 0 = KILN_SCHEDULERS from the environment, else the number of cores */
    int blocking_threads; /* 0 = 4 */
    int blocking_queue;   /* max queued blocking jobs; 0 = 1024. Beyond it kiln_blocking fails with KILN_EAGAIN */
    size_t stack_size;    /* coroutine stack size; 0 = 64 KiB */
} kiln_runtime_conf_t;

/* Creates the runtime; conf may be NULL for defaults. Owned by the caller: free
 * with kiln_runtime_free after kiln_runtime_run returns. Returns NULL on error. */
kiln_runtime_t *kiln_runtime_new(const kiln_runtime_conf_t *conf);
/* Starts the scheduler threads and blocks until kiln_runtime_stop is called.
 * Returns the exit code given to kiln_runtime_stop. */
int kiln_runtime_run(kiln_runtime_t *rt);
/* Asks every scheduler to stop; thread-safe, callable from a signal-handling process. */
void kiln_runtime_stop(kiln_runtime_t *rt, int exit_code);
void kiln_runtime_free(kiln_runtime_t *rt);
int kiln_runtime_schedulers(const kiln_runtime_t *rt);

/* The scheduler the calling thread runs, or NULL on a non-scheduler thread. */
kiln_sched_t *kiln_sched_current(void);
kiln_sched_t *kiln_sched_get(kiln_runtime_t *rt, int index);
int kiln_sched_index(const kiln_sched_t *s);
kiln_runtime_t *kiln_sched_runtime(const kiln_sched_t *s);

/* Runs fn(arg) on scheduler s's thread, soon. Thread-safe. Returns 0 or KILN_ENOMEM. */
int kiln_sched_post(kiln_sched_t *s, void (*fn)(void *arg), void *arg);

/* ---- Event-loop I/O (used by the server and transports) ---------------- */

enum { KILN_IO_READ = 1, KILN_IO_WRITE = 2, KILN_IO_HUP = 4 };

/* An fd watcher embedded in its owner (a connection, a listener). cb runs on the
 * scheduler thread with the ready events (KILN_IO_* bits, plus KILN_IO_READ on
 * hang-up or error so that the reader sees the EOF/error). KILN_IO_HUP (never
 * asked for, only reported) says the peer closed its side: reading on will end
 * in EOF even if a read came back short, which is how a FIN that arrived with
 * the last data is told apart from a drained socket. */
typedef struct kiln_io kiln_io_t;
typedef void (*kiln_io_cb)(kiln_io_t *io, unsigned events);
struct kiln_io {
    int fd;
    unsigned events; /* currently requested */
    kiln_io_cb cb;
    kiln_sched_t *sched;
};

/* Watches fd on the current scheduler (edge-triggered). Returns 0 or KILN_EIO. */
int kiln_io_start(kiln_io_t *io, int fd, unsigned events, kiln_io_cb cb);
int kiln_io_modify(kiln_io_t *io, unsigned events);
void kiln_io_stop(kiln_io_t *io); /* does not close fd */

/* A timer embedded in its owner, on the scheduler's hierarchical timer wheel:
 * O(1) to start and stop. Resolution is about 1 ms. cb runs once on the
 * scheduler thread; restart it from the callback to repeat. */
typedef struct kiln_timer kiln_timer_t;
typedef void (*kiln_timer_cb)(kiln_timer_t *t);
struct kiln_timer {
    kiln_timer_t *next, *prev; /* wheel slot links: owned by the runtime */
    int64_t due_ms;
    kiln_timer_cb cb;
    kiln_sched_t *sched;
};
void kiln_timer_start(kiln_timer_t *t, uint64_t after_ms, kiln_timer_cb cb);
void kiln_timer_stop(kiln_timer_t *t); /* harmless if not running */
int kiln_timer_active(const kiln_timer_t *t);

/* The scheduler's cached clock, updated once per loop iteration (cheap). */
int64_t kiln_loop_now_ms(void);

/* ---- Coroutines ---------------------------------------------------------- */

/* A coroutine runs fn(arg) on a stack borrowed from the current scheduler's
 * pool. kiln_coro_start runs it at once until it returns or parks; when fn
 * returns the stack goes back to the pool. Returns 0, or KILN_ENOMEM. */
typedef struct kiln_coro kiln_coro_t;
int kiln_coro_start(void (*fn)(void *arg), void *arg);
/* The running coroutine, or NULL when on the scheduler's own stack. */
kiln_coro_t *kiln_coro_current(void);
/* Parks the current coroutine until kiln_coro_wake(c, value); returns that value. */
intptr_t kiln_coro_park(void);
/* Resumes a parked coroutine with value. Thread-safe: from another thread it is
 * posted to the coroutine's scheduler. Only a parked coroutine may be woken,
 * once per park: waking one that is running (e.g. a parent from a child it
 * started, which finished without parking), already woken, or finished
 * aborts. */
void kiln_coro_wake(kiln_coro_t *c, intptr_t value);

/* ---- Processes ----------------------------------------------------------- */

/* A pid packs (scheduler, slot, generation): it stays valid to send to after the
 * process is gone; the send then fails with KILN_ENOPROC. 0 is never a pid. */
typedef uint64_t kiln_pid_t;
typedef struct kiln_proc kiln_proc_t;
typedef uint64_t kiln_ref_t; /* unique per runtime; 0 is never a ref */

/* Message kinds delivered by the runtime itself (user tags are >= KILN_MSG_USER). */
enum {
    KILN_MSG_DOWN = 1,    /* a monitored process exited: ref = monitor ref, from = pid, reason in `reason` */
    KILN_MSG_TIMER = 2,   /* reserved for runtime timers */
    KILN_MSG_REPLY = 3,   /* reply to kiln_call (ref = call ref) */
    KILN_MSG_PUBSUB = 4,  /* a pubsub broadcast: data points at a shared kiln_pubsub_msg_t */
    KILN_MSG_EXIT = 5,    /* reserved: exit requests travel out of band (kiln_exit) */
    KILN_MSG_USER = 100
};

/* A message. Allocated by kiln_msg_new; whoever holds it owns it: kiln_send takes
 * ownership (even on failure), and a handler's message is freed by the runtime
 * after handle_msg returns unless the handler calls kiln_msg_keep. */
typedef struct kiln_msg kiln_msg_t;
struct kiln_msg {
    kiln_msg_t *next;   /* mailbox link: owned by the runtime */
    int tag;            /* KILN_MSG_* or a user tag >= KILN_MSG_USER */
    int reason;         /* for DOWN/EXIT: 0 normal, else a KILN_E* or user code */
    kiln_pid_t from;    /* sender (0 from outside a process) */
    kiln_ref_t ref;     /* call/monitor/timer reference, else 0 */
    void *data;         /* payload */
    size_t len;
    void (*free_data)(void *data); /* called on free if set */
    int kept;
    /* Owned by the runtime: */
    kiln_pid_t rt_to;  /* destination while in flight between schedulers */
    unsigned rt_flags; /* internal routing flags (call request, monitor DOWN) */
};

/* Allocates a message that copies len bytes of data (data may be NULL for a bare
 * tag). Aborts on OOM (small internal allocation). */
kiln_msg_t *kiln_msg_new(int tag, const void *data, size_t len);
/* Allocates a message that takes ownership of data and frees it with free_data. */
kiln_msg_t *kiln_msg_wrap(int tag, void *data, size_t len, void (*free_data)(void *));
void kiln_msg_free(kiln_msg_t *m);
/* Inside handle_msg: keep the current message alive past the callback; the
 * handler then owns it and frees it with kiln_msg_free. */
void kiln_msg_keep(kiln_msg_t *m);

typedef struct kiln_proc_ops {
    int abi; /* KILN_PROC_ABI */
    /* Runs first, on a coroutine. Return 0 to go on, non-zero to exit with that reason. */
    int (*init)(kiln_proc_t *self, void *arg);
    /* One call per message. Return 0 to go on, KILN_PROC_STOP to exit normally,
     * any other value to exit with that reason (an error). */
    int (*handle_msg)(kiln_proc_t *self, kiln_msg_t *msg);
    /* Runs once on exit, for any reason; frees the process's state. May be NULL. */
    void (*terminate)(kiln_proc_t *self, int reason);
} kiln_proc_ops_t;
#define KILN_PROC_ABI 1
#define KILN_PROC_STOP 1

/* Spawns a process on scheduler `sched` (NULL = the caller's, or round-robin
 * from outside a scheduler). Thread-safe. *out (may be NULL) gets the pid. Returns 0 or an error; init's
 * result is reported later as a DOWN to monitors, not here. */
int kiln_spawn(kiln_runtime_t *rt, kiln_sched_t *sched, const kiln_proc_ops_t *ops, void *arg, kiln_pid_t *out);
kiln_proc_t *kiln_self(void); /* the running process, or NULL */
kiln_pid_t kiln_proc_pid(const kiln_proc_t *p);
void *kiln_proc_state(const kiln_proc_t *p);
void kiln_proc_set_state(kiln_proc_t *p, void *state);

/* Sends m to pid; thread-safe, from anywhere. Takes ownership of m always.
 * Returns 0, or KILN_ENOPROC when the process is gone. */
int kiln_send(kiln_runtime_t *rt, kiln_pid_t to, kiln_msg_t *m);
/* Asks pid to exit with reason (terminate runs, monitors get DOWN with reason).
 * Cooperative, since C cannot unwind a stack: an idle process exits at once; a
 * process parked in kiln_receive is woken with KILN_ECLOSED; one waiting in
 * kiln_call/kiln_sleep/kiln_blocking exits when its handler returns.
 * Thread-safe. Returns 0 or KILN_ENOPROC. */
int kiln_exit(kiln_runtime_t *rt, kiln_pid_t pid, int reason);

/* Selective receive from inside a process callback: waits until a message with
 * `tag` (or any message when tag is 0) and, if ref != 0, that ref, arrives;
 * others stay queued in order. timeout_ms < 0 waits forever. *out is owned by the
 * caller. Returns 0, KILN_ETIMEDOUT, KILN_ECLOSED (the process was asked to
 * exit: return from the handler) or KILN_ESTATE (not in a process). */
int kiln_receive(int tag, kiln_ref_t ref, int64_t timeout_ms, kiln_msg_t **out);
/* Sends req to pid with a fresh ref and waits for the matching KILN_MSG_REPLY.
 * Works from any coroutine (a process or a request handler). *reply is owned by
 * the caller. Returns 0, KILN_ENOPROC, KILN_ETIMEDOUT or KILN_ESTATE. */
int kiln_call(kiln_runtime_t *rt, kiln_pid_t to, kiln_msg_t *req, int64_t timeout_ms, kiln_msg_t **reply);
/* Answers a call: reply goes to the caller's waiter, found by req->ref (so the
 * caller need not be a process). reply->tag is kept if set, else becomes
 * KILN_MSG_REPLY. May be called later, from any scheduler, after kiln_msg_keep
 * on req. Takes ownership of reply. Returns 0, or KILN_EINVAL if req is not a
 * call. A reply to a caller that gave up (timeout) is dropped. */
int kiln_reply(kiln_runtime_t *rt, const kiln_msg_t *req, kiln_msg_t *reply);

/* Monitors pid from the current process: exactly one KILN_MSG_DOWN arrives when
 * it exits (at once, with reason KILN_ENOPROC, if it is already gone). Returns
 * the ref, 0 when not called from a process. */
kiln_ref_t kiln_monitor(kiln_pid_t pid);
/* Ends a monitor held by the current process; no DOWN for it arrives after
 * this returns (one already queued is removed). */
void kiln_demonitor(kiln_ref_t ref);

/* Delivers m to pid after ms milliseconds (an Erlang send_after). Returns a ref
 * that kiln_cancel_timer accepts, or 0 on error (m freed). Callable from a
 * scheduler thread only. */
kiln_ref_t kiln_send_after(kiln_pid_t to, kiln_msg_t *m, uint64_t ms);
/* 0 if cancelled (the message is freed), KILN_ENOENT if it already fired or was
 * made on another scheduler, KILN_ESTATE off a scheduler thread. */
int kiln_cancel_timer(kiln_ref_t ref);

/* Waits ms milliseconds from any coroutine without blocking the scheduler. */
int kiln_sleep(uint64_t ms);

/* Runs fn(arg) on the bounded blocking pool and waits for it from the current
 * coroutine without blocking the scheduler; returns fn's result, KILN_EAGAIN if
 * the queue is full, or KILN_ESTATE outside a coroutine. */
int kiln_blocking(int (*fn)(void *arg), void *arg);

/* ---- Supervisors and applications -------------------------------------- */

/* A child spec: start() spawns the child and returns its pid in *out. */
typedef struct kiln_child_spec {
    const char *name;
    int (*start)(kiln_runtime_t *rt, void *arg, kiln_pid_t *out);
    void *arg;
    int restart; /* KILN_RESTART_PERMANENT (always), _TRANSIENT (on error), _TEMPORARY (never) */
    int shutdown_ms; /* time to wait for the child to exit on stop before killing it; 0 = 5000 */
} kiln_child_spec_t;
enum { KILN_RESTART_PERMANENT, KILN_RESTART_TRANSIENT, KILN_RESTART_TEMPORARY };

typedef struct kiln_sup_spec {
    const kiln_child_spec_t *children; /* started in order, stopped in reverse */
    size_t n_children;
    int max_restarts; /* one-for-one: more than max_restarts in max_seconds stops the supervisor; 0 = 3 */
    int max_seconds;  /* 0 = 5 */
} kiln_sup_spec_t;

/* Starts a one-for-one supervisor process. If a child fails to start, the
 * children already started are stopped in reverse order and the error is
 * returned (from a coroutine, which waits for the children to start; from
 * outside one, e.g. before kiln_runtime_run, it returns 0 at once and a start
 * failure shows only as the supervisor exiting). The supervisor exits (reason KILN_ETOOBIG) when restarts exceed the
 * limit, stopping its children; monitor it to find out. spec must outlive it. */
int kiln_sup_start(kiln_runtime_t *rt, const kiln_sup_spec_t *spec, kiln_pid_t *out);
/* Stops the supervisor and its children in reverse order, waiting for each
 * (from a coroutine; from outside one it only asks the supervisor to exit). */
int kiln_sup_stop(kiln_runtime_t *rt, kiln_pid_t sup);

#endif
