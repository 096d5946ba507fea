/* Plain TCP transport: the socket-ops seam with read(2), writev(2) and
 * sendfile(2) on a non-blocking socket. A read shorter than asked means the
 * kernel had nothing more at that instant, so with edge-triggered polling the
 * next byte brings a new edge: that lets the state machine skip the read that
 * would only say EAGAIN. Not so once the peer's FIN was seen: no edge follows
 * it, so the next read must be made, to find the EOF (else a client that sent
 * its last request and its FIN together held the connection until the idle
 * timeout). */
#include "server/server_int.h"

#include <errno.h>
#include <sys/sendfile.h>
#include <sys/uio.h>
#include <unistd.h>

static ssize_t tcp_read(srv_conn_t *c, char *buf, size_t len)
{
    for (;;) {
        ssize_t n = read(c->io.fd, buf, len);
        if (n > 0) {
            if ((size_t)n < len && !c->peer_closed) c->readable = 0;
            return n;
        }
        if (n == 0) return 0;
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return KILN_EAGAIN;
        return KILN_ECLOSED;
    }
}

static ssize_t tcp_writev(srv_conn_t *c, const struct iovec *iov, int n)
{
    for (;;) {
        ssize_t w = writev(c->io.fd, iov, n);
        if (w >= 0) return w;
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return KILN_EAGAIN;
        return KILN_ECLOSED;
    }
}

static ssize_t tcp_sendfile(srv_conn_t *c, int fd, off_t *off, size_t len)
{
    for (;;) {
        ssize_t w = sendfile(c->io.fd, fd, off, len);
        if (w >= 0) return w;
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return KILN_EAGAIN;
        return KILN_EIO;
    }
}

const srv_sock_ops_t kiln__srv_tcp_ops = {
    .abi = 1,
    .read = tcp_read,
    .writev = tcp_writev,
    .sendfile = tcp_sendfile,
    .handshake = NULL,
    .shutdown = NULL,
    .upgrade_io = NULL,
};
