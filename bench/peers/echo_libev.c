/* Echo server on libev: one ev_io per connection, switched between EV_READ
 * and EV_WRITE. Reads go into a loop-wide buffer and are written at once;
 * only the unsent remainder is copied into the connection. */
#define _GNU_SOURCE /* accept4 */
#include "peer_common.h"

#include <ev.h>
#include <signal.h>

struct conn {
    ev_io io; /* first member: the callback casts the watcher back to conn */
    char *pending;
    size_t len, off;
};

static char buf[PEER_READ_BUF];

static void conn_close(struct ev_loop *loop, struct conn *c)
{
    ev_io_stop(loop, &c->io);
    close(c->io.fd);
    free(c->pending);
    free(c);
}

/* ev_io_set may only be called on a stopped watcher. */
static void conn_watch(struct ev_loop *loop, struct conn *c, int events)
{
    ev_io_stop(loop, &c->io);
    ev_io_set(&c->io, c->io.fd, events);
    ev_io_start(loop, &c->io);
}

static void on_read(struct ev_loop *loop, struct conn *c)
{
    ssize_t n = read(c->io.fd, buf, sizeof buf);
    if (n <= 0) {
        if (n == 0 || (errno != EAGAIN && errno != EINTR))
            conn_close(loop, c);
        return;
    }
    ssize_t w = write(c->io.fd, buf, (size_t)n);
    if (w == n)
        return;
    if (w < 0) {
        if (errno != EAGAIN && errno != EINTR) {
            conn_close(loop, c);
            return;
        }
        w = 0;
    }
    /* Keep the remainder and stop reading until it is written. */
    c->len = (size_t)(n - w);
    c->off = 0;
    c->pending = malloc(c->len);
    memcpy(c->pending, buf + w, c->len);
    conn_watch(loop, c, EV_WRITE);
}

static void on_write(struct ev_loop *loop, struct conn *c)
{
    ssize_t w = write(c->io.fd, c->pending + c->off, c->len - c->off);
    if (w < 0) {
        if (errno != EAGAIN && errno != EINTR)
            conn_close(loop, c);
        return;
    }
    c->off += (size_t)w;
    if (c->off < c->len)
        return;
    free(c->pending);
    c->pending = NULL;
    conn_watch(loop, c, EV_READ);
}

static void on_conn(struct ev_loop *loop, ev_io *w, int revents)
{
    if (revents & EV_WRITE)
        on_write(loop, (struct conn *)w);
    else
        on_read(loop, (struct conn *)w);
}

static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)revents;
    for (;;) {
        int fd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                fprintf(stderr, "accept4: %s\n", strerror(errno));
            return;
        }
        peer_nodelay(fd);
        struct conn *c = calloc(1, sizeof *c);
        ev_io_init(&c->io, on_conn, fd, EV_READ);
        ev_io_start(loop, &c->io);
    }
}

static void on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)w, (void)revents;
    ev_break(loop, EVBREAK_ALL);
}

int main(int argc, char **argv)
{
    struct peer_args args = peer_parse_args(argc, argv);
    signal(SIGPIPE, SIG_IGN);
    struct ev_loop *loop = ev_default_loop(EVBACKEND_EPOLL);
    if (!loop)
        peer_die("ev_default_loop");
    ev_io accept_w;
    ev_io_init(&accept_w, on_accept, peer_listen(&args), EV_READ);
    ev_io_start(loop, &accept_w);
    ev_signal sigint, sigterm;
    ev_signal_init(&sigint, on_signal, SIGINT);
    ev_signal_init(&sigterm, on_signal, SIGTERM);
    ev_signal_start(loop, &sigint);
    ev_signal_start(loop, &sigterm);
    peer_announce(accept_w.fd);
    ev_run(loop, 0);
    return 0;
}
