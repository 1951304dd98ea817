/* Echo server on a raw, level-triggered epoll loop: the userland limit for a
 * reactor. One read per readiness event into a loop-wide buffer, an immediate
 * write, and only the unsent remainder is copied into the connection. */
#define _GNU_SOURCE
#include "peer_common.h"

#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>

struct conn {
    int fd;
    char *pending; /* unsent output; non-NULL only while waiting for EPOLLOUT */
    size_t len, off;
};

static int ep;
static char buf[PEER_READ_BUF];
static char listener_tag, signal_tag; /* epoll tags for the two non-connection fds */

static void watch(int op, int fd, uint32_t events, void *ptr)
{
    struct epoll_event ev = {.events = events, .data.ptr = ptr};
    if (epoll_ctl(ep, op, fd, &ev) < 0)
        peer_die("epoll_ctl");
}

/* close() also drops the fd from the epoll set. Freeing here is safe: each fd
 * appears at most once per epoll_wait batch, and this is its own event. */
static void conn_close(struct conn *c)
{
    close(c->fd);
    free(c->pending);
    free(c);
}

static void on_accept(int lfd)
{
    for (;;) { /* drain the backlog; level-triggered would re-report anyway */
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                fprintf(stderr, "accept4: %s\n", strerror(errno));
            return;
        }
        peer_nodelay(fd);
        struct conn *c = calloc(1, sizeof *c);
        c->fd = fd;
        watch(EPOLL_CTL_ADD, fd, EPOLLIN, c);
    }
}

static void on_readable(struct conn *c)
{
    ssize_t n = read(c->fd, buf, sizeof buf);
    if (n <= 0) {
        if (n == 0 || (errno != EAGAIN && errno != EINTR))
            conn_close(c);
        return;
    }
    ssize_t w = write(c->fd, buf, (size_t)n);
    if (w == n)
        return;
    if (w < 0) {
        if (errno != EAGAIN && errno != EINTR) {
            conn_close(c);
            return;
        }
        w = 0;
    }
    /* Kernel send buffer is full: keep the rest and stop reading until it
     * drains, so a slow reader bounds our memory to one read's worth. */
    c->len = (size_t)(n - w);
    c->off = 0;
    c->pending = malloc(c->len);
    memcpy(c->pending, buf + w, c->len);
    watch(EPOLL_CTL_MOD, c->fd, EPOLLOUT, c);
}

static void on_writable(struct conn *c)
{
    ssize_t w = write(c->fd, c->pending + c->off, c->len - c->off);
    if (w < 0) {
        if (errno != EAGAIN && errno != EINTR)
            conn_close(c);
        return;
    }
    c->off += (size_t)w;
    if (c->off < c->len)
        return;
    free(c->pending);
    c->pending = NULL;
    watch(EPOLL_CTL_MOD, c->fd, EPOLLIN, c);
}

int main(int argc, char **argv)
{
    struct peer_args args = peer_parse_args(argc, argv);
    signal(SIGPIPE, SIG_IGN);

    /* Signals arrive as a readable fd, so shutdown needs no async handler. */
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    int sfd = signalfd(-1, &mask, SFD_CLOEXEC);

    int lfd = peer_listen(&args);
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0 || sfd < 0)
        peer_die("epoll_create1/signalfd");
    watch(EPOLL_CTL_ADD, lfd, EPOLLIN, &listener_tag);
    watch(EPOLL_CTL_ADD, sfd, EPOLLIN, &signal_tag);
    peer_announce(lfd);

    struct epoll_event events[256];
    for (;;) {
        int n = epoll_wait(ep, events, 256, -1);
        if (n < 0 && errno != EINTR)
            peer_die("epoll_wait");
        for (int i = 0; i < n; i++) {
            void *p = events[i].data.ptr;
            if (p == &listener_tag)
                on_accept(lfd);
            else if (p == &signal_tag)
                return 0;
            else if (((struct conn *)p)->pending)
                on_writable(p); /* EPOLLERR/EPOLLHUP surface as a failed write */
            else
                on_readable(p); /* ... or as a failed/zero read */
        }
    }
}
