/* The epoll backend of the event loop: the only file that calls epoll or
 * eventfd. loop.c #includes it (as Redis's ae.c includes ae_epoll.c), so its
 * interface stays a set of static functions that every backend defines the
 * same way:
 *
 *   poll_init(&p) / poll_free(p)
 *   poll_add(p, fd, events, ud) / poll_mod(p, fd, events, ud) / poll_del(p, fd)
 *   poll_wait(p, timeout_ms, dispatch)   -> dispatch(ud, KILN_IO_* bits) per ready fd
 *   poll_forget(p, ud)                   -> drop ud's not-yet-dispatched events
 *   poll_notify(p)                       -> wake a poll_wait from any thread
 *
 * Watchers are edge-triggered. A notify shows up as poll_wait returning 1 (it
 * drains the eventfd itself) so loop.c needs no fd of its own. The file is
 * compiled on its own too (the build globs every .c in src/runtime): outside loop.c
 * it is empty, and it is empty on non-Linux targets, where another backend
 * file takes over. */
#if defined(KILN_POLL_BACKEND) && defined(__linux__)

#include <errno.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define POLL_BATCH 256

struct kiln__poll {
    int epfd, evfd;
    struct epoll_event events[POLL_BATCH];
    int n, i; /* events of the batch being dispatched, and the cursor */
};

static uint32_t to_epoll(unsigned ev)
{
    return EPOLLET | EPOLLRDHUP | ((ev & KILN_IO_READ) ? EPOLLIN : 0) | ((ev & KILN_IO_WRITE) ? EPOLLOUT : 0);
}

/* Returns 0 or KILN_EIO; *out is owned by the caller (poll_free). */
static int poll_init(struct kiln__poll **out)
{
    struct kiln__poll *p = kiln_xcalloc(1, sizeof *p);
    p->epfd = epoll_create1(EPOLL_CLOEXEC);
    p->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct epoll_event e = { .events = EPOLLIN | EPOLLET, .data.ptr = NULL };
    if (p->epfd < 0 || p->evfd < 0 || epoll_ctl(p->epfd, EPOLL_CTL_ADD, p->evfd, &e) < 0) {
        kiln_log(KILN_LOG_ERROR, "poll_init: %s", strerror(errno));
        if (p->epfd >= 0) close(p->epfd);
        if (p->evfd >= 0) close(p->evfd);
        free(p);
        return KILN_EIO;
    }
    *out = p;
    return 0;
}

static void poll_free(struct kiln__poll *p)
{
    if (!p) return;
    close(p->epfd);
    close(p->evfd);
    free(p);
}

static int poll_ctl(struct kiln__poll *p, int op, int fd, unsigned ev, void *ud)
{
    struct epoll_event e = { .events = to_epoll(ev), .data.ptr = ud };
    return epoll_ctl(p->epfd, op, fd, &e) < 0 ? KILN_EIO : 0;
}

static int poll_add(struct kiln__poll *p, int fd, unsigned ev, void *ud)
{
    return poll_ctl(p, EPOLL_CTL_ADD, fd, ev, ud);
}

static int poll_mod(struct kiln__poll *p, int fd, unsigned ev, void *ud)
{
    return poll_ctl(p, EPOLL_CTL_MOD, fd, ev, ud);
}

static int poll_del(struct kiln__poll *p, int fd)
{
    return epoll_ctl(p->epfd, EPOLL_CTL_DEL, fd, NULL) < 0 ? KILN_EIO : 0;
}

/* A watcher stopped (and maybe freed) by an earlier callback of the same
 * batch must not see its later events. */
static void poll_forget(struct kiln__poll *p, void *ud)
{
    for (int i = p->i; i < p->n; i++)
        if (p->events[i].data.ptr == ud) p->events[i].data.ptr = NULL, p->events[i].events = 0;
}

static void poll_notify(struct kiln__poll *p)
{
    uint64_t one = 1;
    /* EAGAIN means the counter is already nonzero: the wakeup is pending anyway. */
    ssize_t r = write(p->evfd, &one, sizeof one);
    (void)r;
}

/* Returns 1 if a poll_notify woke us, else 0; KILN_EIO on failure. */
static int poll_wait(struct kiln__poll *p, int timeout_ms, void (*dispatch)(void *ud, unsigned ev))
{
    int n = epoll_wait(p->epfd, p->events, POLL_BATCH, timeout_ms);
    if (n < 0) return errno == EINTR ? 0 : KILN_EIO;
    int notified = 0;
    p->n = n;
    for (p->i = 0; p->i < p->n;) {
        struct epoll_event e = p->events[p->i++];
        if (!e.data.ptr) {
            if (e.events) {
                uint64_t v;
                ssize_t r = read(p->evfd, &v, sizeof v);
                (void)r;
                notified = 1;
            }
            continue;
        }
        unsigned ev = 0;
        if (e.events & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP)) ev |= KILN_IO_READ;
        if (e.events & EPOLLOUT) ev |= KILN_IO_WRITE;
        if (e.events & (EPOLLHUP | EPOLLRDHUP)) ev |= KILN_IO_HUP;
        dispatch(e.data.ptr, ev);
    }
    p->n = p->i = 0;
    return notified;
}

#endif
