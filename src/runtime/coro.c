/* Coroutines on borrowed stacks.
 *
 * A coroutine is resumed by whoever runs it (the scheduler loop, or another
 * coroutine that calls kiln_coro_start) and kiln_coro_park switches back to
 * that caller: asymmetric coroutines, one assembly primitive
 * (kiln__ctx_switch in coro_<arch>.S). Wakes never switch directly: they put
 * the coroutine on its scheduler's ready list (posting to that scheduler first
 * when called from another thread), and the loop resumes ready coroutines.
 * So a resume always happens from the scheduler's own stack, which keeps
 * callbacks from nesting without bound. A wake is valid only while the
 * coroutine is parked (state in runtime_int.h); make_ready aborts otherwise.
 *
 * Stacks: mmap'ed with a PROT_NONE guard page below, borrowed from a
 * per-scheduler pool that keeps at most POOL_MAX free stacks (the rest are
 * unmapped). The kiln_coro struct sits at the top of its stack, so a
 * coroutine needs no other allocation. When fn returns, the coroutine switches
 * away for the last time and its caller gives the stack back to the pool.
 *
 * AddressSanitizer must be told about every switch (it tracks one stack per
 * thread), hence the start/finish_switch_fiber pairs under KILN_ASAN. */
#include "runtime_int.h"

#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#if KILN_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

#define POOL_MAX 16

void kiln__ctx_switch(void **save_sp, void *new_sp);
void *kiln__ctx_init(void *stack_top, void (*fn)(void *), void *arg);

static size_t page_size(void)
{
    static size_t ps;
    if (!ps) ps = (size_t)sysconf(_SC_PAGESIZE);
    return ps;
}

/* Returns a coroutine with a fresh or pooled stack, or NULL (KILN_ENOMEM). */
static kiln_coro_t *stack_get(kiln_sched_t *s)
{
    kiln_coro_t *c = s->free_stacks;
    if (c) {
        s->free_stacks = c->next;
        s->n_free_stacks--;
        return c;
    }
    size_t size = s->rt->conf.stack_size, guard = page_size();
    char *base = mmap(NULL, size + guard, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (base == MAP_FAILED) return NULL;
    if (mprotect(base, guard, PROT_NONE) < 0) {
        munmap(base, size + guard);
        return NULL;
    }
    char *top = base + guard + size;
    c = (kiln_coro_t *)(void *)(((uintptr_t)top - sizeof *c) & ~(uintptr_t)15);
    c->sched = s;
    c->stack_lo = base + guard;
    c->stack_size = (size_t)((char *)c - c->stack_lo);
    s->n_stacks++;
    return c;
}

static void stack_unmap(kiln_coro_t *c)
{
    size_t guard = page_size();
    munmap(c->stack_lo - guard, c->sched->rt->conf.stack_size + guard);
}

static void stack_put(kiln_sched_t *s, kiln_coro_t *c)
{
#if KILN_ASAN
    /* Frames that ended by switching away left their redzones poisoned. */
    ASAN_UNPOISON_MEMORY_REGION(c->stack_lo, c->stack_size);
#endif
    if (s->n_free_stacks >= POOL_MAX) {
        s->n_stacks--;
        stack_unmap(c);
        return;
    }
    c->next = s->free_stacks;
    s->free_stacks = c;
    s->n_free_stacks++;
}

void kiln__stack_pool_free(kiln_sched_t *s)
{
    while (s->free_stacks) {
        kiln_coro_t *c = s->free_stacks;
        s->free_stacks = c->next;
        stack_unmap(c);
    }
    s->n_free_stacks = 0;
}

int kiln__stack_pool_size(const kiln_sched_t *s)
{
    return s->n_free_stacks;
}

/* Switches from the running context into c until c parks or ends. */
static void resume(kiln_sched_t *s, kiln_coro_t *c)
{
    kiln_coro_t *prev = s->current;
    s->current = c;
    c->state = KILN__CORO_RUNNING;
#if KILN_ASAN
    void *fake = NULL;
    __sanitizer_start_switch_fiber(&fake, c->stack_lo, c->stack_size);
#endif
    kiln__ctx_switch(&c->caller_sp, c->sp);
#if KILN_ASAN
    __sanitizer_finish_switch_fiber(fake, NULL, NULL);
#endif
    s->current = prev;
    if (c->state == KILN__CORO_DONE) stack_put(s, c);
}

static void coro_main(void *arg)
{
    kiln_coro_t *c = arg;
#if KILN_ASAN
    __sanitizer_finish_switch_fiber(NULL, &c->caller_lo, &c->caller_size);
#endif
    c->fn(c->arg);
    c->state = KILN__CORO_DONE;
#if KILN_ASAN
    __sanitizer_start_switch_fiber(NULL, c->caller_lo, c->caller_size); /* NULL: this fiber is over */
#endif
    kiln__ctx_switch(&c->sp, c->caller_sp);
    __builtin_unreachable();
}

int kiln_coro_start(void (*fn)(void *arg), void *arg)
{
    kiln_sched_t *s = kiln_sched_current();
    if (!s) return KILN_ESTATE;
    kiln_coro_t *c = stack_get(s);
    if (!c) return KILN_ENOMEM;
    c->fn = fn;
    c->arg = arg;
    c->proc = NULL;
    c->park_hook = NULL;
    c->park_ud = NULL;
    c->next = NULL;
    c->wake_value = 0;
    c->sp = kiln__ctx_init(c, coro_main, c);
    resume(s, c);
    return 0;
}

kiln_coro_t *kiln_coro_current(void)
{
    kiln_sched_t *s = kiln_sched_current();
    return s ? s->current : NULL;
}

intptr_t kiln_coro_park(void)
{
    kiln_sched_t *s = kiln_sched_current();
    kiln_coro_t *c = s ? s->current : NULL;
    if (!c) return KILN_ESTATE;
    if (c->park_hook) c->park_hook(c->park_ud);
    c->state = KILN__CORO_PARKED; /* after the hook: it may start and wake other coroutines, not this one */
#if KILN_ASAN
    __sanitizer_start_switch_fiber(&c->asan_fake, c->caller_lo, c->caller_size);
#endif
    kiln__ctx_switch(&c->sp, c->caller_sp);
#if KILN_ASAN
    __sanitizer_finish_switch_fiber(c->asan_fake, &c->caller_lo, &c->caller_size);
#endif
    return c->wake_value;
}

int kiln__coro_on_park(void (*fn)(void *ud), void *ud)
{
    kiln_sched_t *s = kiln_sched_current();
    kiln_coro_t *c = s ? s->current : NULL;
    if (!c) return KILN_ESTATE;
    c->park_hook = fn;
    c->park_ud = ud;
    return 0;
}

/* On c's scheduler thread, so c is not executing now: it is parked, or
 * waiting for a coroutine it started, or queued, or finished. */
static void make_ready(kiln_sched_t *s, kiln_coro_t *c)
{
    if (c->state != KILN__CORO_PARKED) {
        static const char *const why[] = {
            [KILN__CORO_RUNNING] = "woken while running, not parked (a wake before kiln_coro_park is a bug too)",
            [KILN__CORO_READY] = "woken twice",
            [KILN__CORO_DONE] = "woken after it returned",
        };
        kiln_log(KILN_LOG_ERROR, "kiln_coro_wake: coroutine %s", why[c->state]);
        abort();
    }
    c->state = KILN__CORO_READY;
    c->next = NULL;
    if (s->ready_tail) s->ready_tail->next = c;
    else s->ready_head = c;
    s->ready_tail = c;
}

static void wake_posted(void *arg)
{
    kiln_coro_t *c = arg;
    make_ready(c->sched, c);
}

void kiln_coro_wake(kiln_coro_t *c, intptr_t value)
{
    c->wake_value = value;
    if (kiln_sched_current() == c->sched) make_ready(c->sched, c);
    else if (kiln_sched_post(c->sched, wake_posted, c) < 0) {
        kiln_log(KILN_LOG_ERROR, "kiln_coro_wake: out of memory");
        abort();
    }
}

bool kiln__coro_has_ready(const kiln_sched_t *s)
{
    return s->ready_head != NULL;
}

void kiln__coro_run_ready(kiln_sched_t *s)
{
    /* Only those ready now: coroutines woken meanwhile wait for the next
     * iteration, so I/O keeps being polled. */
    kiln_coro_t *c = s->ready_head, *end = s->ready_tail;
    if (!c) return;
    s->ready_head = s->ready_tail = NULL;
    for (;;) {
        kiln_coro_t *next = c->next;
        bool last = c == end;
        if (s->closing) {
            /* A parked coroutine cannot be unwound; the runtime is going away. */
        } else resume(s, c);
        if (last) break;
        c = next;
    }
}
