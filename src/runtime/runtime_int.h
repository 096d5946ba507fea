/* Internal runtime structures shared by the files of src/runtime/.
 *
 * Threading rule: everything in a kiln_sched is touched only by that
 * scheduler's thread, except the fields marked "any thread": the posted-task
 * queue, the wakeup flag, the pid slot table's live generations (read by
 * senders on any thread) and the slot allocator (under slot_lock, because
 * kiln_spawn may run on any thread and must return the pid at once). */
#ifndef KILN_RUNTIME_INT_H
#define KILN_RUNTIME_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "kiln/runtime.h"

/* ---- MPSC queue (Vyukov, intrusive): many producers, the scheduler consumes. */
typedef struct kiln__task {
    struct kiln__task *_Atomic next;
    void (*fn)(void *arg);
    void *arg;
} kiln__task_t;

typedef struct kiln__mpsc {
    kiln__task_t *_Atomic head; /* producers push here (any thread) */
    kiln__task_t *tail;         /* consumer pops here */
    kiln__task_t stub;
} kiln__mpsc_t;

/* ---- Coroutines. The struct lives at the top of its own stack mapping, so a
 * coroutine costs no allocation beyond its (pooled) stack.
 *
 * State, touched only on the coroutine's scheduler thread: RUNNING from start
 * (also while it waits inside kiln_coro_start for a coroutine it started),
 * PARKED in kiln_coro_park, READY once woken (on the ready list), RUNNING again
 * when resumed, DONE when fn has returned (and while the stack is pooled).
 * Only PARKED -> READY is a valid wake; kiln_coro_wake aborts on any other, so
 * a stray wake fails where it happens instead of being consumed by the
 * coroutine's next, unrelated park. */
typedef enum { KILN__CORO_RUNNING, KILN__CORO_PARKED, KILN__CORO_READY, KILN__CORO_DONE } kiln__coro_state_t;

struct kiln_coro {
    void *sp;        /* saved stack pointer while switched out */
    void *caller_sp; /* where kiln_coro_park returns to */
    kiln_sched_t *sched;
    void (*fn)(void *arg);
    void *arg;
    intptr_t wake_value;
    kiln_coro_t *next; /* ready list / free-stack list */
    kiln__coro_state_t state;
    kiln_proc_t *proc; /* the process this coroutine runs, NULL for a plain one */
    void (*park_hook)(void *ud); /* run by kiln_coro_park before switching away (kiln__coro_on_park) */
    void *park_ud;
    char *stack_lo; /* usable stack: [stack_lo, stack_lo + stack_size) */
    size_t stack_size;
#if KILN_ASAN
    void *asan_fake;
    const void *caller_lo;
    size_t caller_size;
#endif
};

/* ---- Ref-keyed intrusive hash (call waiters, send_after timers). */
#define KILN__REF_BUCKETS 1024
typedef struct kiln__refent {
    struct kiln__refent *next;
    kiln_ref_t ref;
} kiln__refent_t;

/* ---- Pid slots: 2-level table so that readers on other threads never see a
 * reallocated array; chunks are allocated once and freed with the runtime. */
#define KILN__SLOT_BITS 12
#define KILN__SLOTS_PER_CHUNK (1u << KILN__SLOT_BITS)
#define KILN__MAX_CHUNKS 4096 /* 16M processes per scheduler */
typedef struct kiln__slot {
    _Atomic uint32_t live_gen; /* generation while alive, 0 when free (any thread) */
    uint32_t gen;              /* generation of the next/current occupant */
    uint32_t next_free;        /* free-list link (slot index + 1, 0 = end) */
    kiln_proc_t *proc;
} kiln__slot_t;

struct kiln__poll; /* the backend's state (poll_*.c) */

struct kiln_sched {
    kiln_runtime_t *rt;
    int index;
    pthread_t thread;
    struct kiln__poll *poll;
    kiln__mpsc_t posted;       /* any thread */
    atomic_int notified;       /* any thread: a wakeup is pending in the poller */
    int64_t now_ms;

    /* Timer wheel: 4 levels of 64 slots with sentinel heads. */
    kiln_timer_t wheel[4][64];
    uint64_t wheel_cur; /* next tick (ms) to process */
    size_t n_timers;

    /* Coroutines. */
    kiln_coro_t *current;
    kiln_coro_t *ready_head, *ready_tail;
    kiln_coro_t *free_stacks;
    int n_free_stacks, n_stacks; /* pooled, and mapped in total */

    /* Processes. */
    pthread_mutex_t slot_lock;
    kiln__slot_t *_Atomic chunks[KILN__MAX_CHUNKS];
    uint32_t n_slots, free_slot; /* free_slot: index + 1, 0 = none */
    kiln_proc_t *run_head, *run_tail;
    size_t n_procs;
    uint64_t next_ref;
    kiln__refent_t *waiters[KILN__REF_BUCKETS];
    kiln__refent_t *timers[KILN__REF_BUCKETS];

    void *_Atomic pubsub; /* per-scheduler topic table (pubsub.c); read by broadcasters */
    bool closing;
};

struct kiln_runtime {
    kiln_runtime_conf_t conf;
    int n;
    kiln_sched_t **scheds;
    atomic_int stop_claimed, stopping;
    int exit_code;
    atomic_uint rr; /* round-robin spawn placement from outside schedulers */
    struct kiln__blocking *blocking;
    void *pubsub; /* shared pubsub state (pubsub.c) */
};

/* coro.c */
void kiln__coro_run_ready(kiln_sched_t *s);
bool kiln__coro_has_ready(const kiln_sched_t *s);
void kiln__stack_pool_free(kiln_sched_t *s);
int kiln__stack_pool_size(const kiln_sched_t *s); /* free stacks pooled now (tests) */
/* proc.c */
void kiln__proc_run_queue(kiln_sched_t *s);
bool kiln__proc_has_runnable(const kiln_sched_t *s);
void kiln__proc_shutdown(kiln_sched_t *s);
kiln_ref_t kiln__ref_new(kiln_sched_t *s);
kiln_sched_t *kiln__ref_sched(kiln_runtime_t *rt, kiln_ref_t ref);
void kiln__refs_put(kiln__refent_t **tab, kiln__refent_t *e);
kiln__refent_t *kiln__refs_take(kiln__refent_t **tab, kiln_ref_t ref);
kiln_proc_t *kiln__proc_lookup(kiln_sched_t *s, kiln_pid_t pid); /* on s's thread */
/* blocking.c */
int kiln__blocking_start(kiln_runtime_t *rt);
void kiln__blocking_stop(kiln_runtime_t *rt);
/* pubsub.c */
void kiln__pubsub_proc_exit(kiln_proc_t *p);
void kiln__pubsub_sched_free(kiln_sched_t *s);
void kiln__pubsub_rt_free(kiln_runtime_t *rt);
void *kiln__proc_subs(kiln_proc_t *p);
void kiln__proc_set_subs(kiln_proc_t *p, void *subs);

/* The pid layout: generation (32) | slot (24) | scheduler (8). */
#define KILN__PID(sched, slot, gen) (((uint64_t)(gen) << 32) | ((uint64_t)(slot) << 8) | (uint64_t)(sched))
#define KILN__PID_SCHED(pid) ((int)((pid)&0xff))
#define KILN__PID_SLOT(pid) ((uint32_t)(((pid) >> 8) & 0xffffff))
#define KILN__PID_GEN(pid) ((uint32_t)((pid) >> 32))
#define KILN__MAX_SCHEDULERS 256

/* Sets a callback that runs each time the current coroutine parks, until it
 * ends (the server flushes output it held back for a pipelined batch). Returns
 * KILN_ESTATE when not on a coroutine. Declared again in src/server/server_int.h. */
int kiln__coro_on_park(void (*fn)(void *ud), void *ud);

#endif
