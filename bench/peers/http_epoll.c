/* "Hello" HTTP server on a raw, level-triggered epoll loop, with no real
 * parsing: every "\r\n\r\n" seen ends one request and earns one canned
 * response, so pipelined requests are answered with a single write. */
#define _GNU_SOURCE
#include "peer_common.h"

#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>

#define RESPONSE                                                                           \
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, world!"
enum { kRespLen = sizeof RESPONSE - 1, kBlockResps = PEER_READ_BUF / kRespLen };

struct conn {
    int fd;
    unsigned match; /* how much of "\r\n\r\n" ended the previous read */
    size_t owed;    /* response bytes not yet written; nonzero only while on EPOLLOUT */
};

static int ep;
static char buf[PEER_READ_BUF];
static char block[kBlockResps * kRespLen]; /* the response, repeated */
static char listener_tag, signal_tag;

static void watch(int op, int fd, uint32_t events, void *ptr)
{
    struct epoll_event ev = {.events = events, .data.ptr = ptr};
    if (epoll_ctl(ep, op, fd, &ev) < 0)
        peer_die("epoll_ctl");
}

/* Safe to free: an fd appears once per epoll_wait batch, and this is its event. */
static void conn_close(struct conn *c)
{
    close(c->fd);
    free(c);
}

/* Counts request terminators; `match` carries a partial one across reads. */
static size_t count_requests(struct conn *c, const char *p, size_t n)
{
    static const char term[] = "\r\n\r\n";
    const char *end = p + n;
    size_t count = 0;
    unsigned m = c->match;
    while (p < end) {
        if (m == 0) { /* skip to the next candidate quickly */
            p = memchr(p, '\r', (size_t)(end - p));
            if (p == NULL)
                break;
            p++;
            m = 1;
            continue;
        }
        char ch = *p++;
        if (ch == term[m]) {
            if (++m == 4) {
                count++;
                m = 0;
            }
        } else {
            m = ch == '\r'; /* a stray '\r' may start the real terminator */
        }
    }
    c->match = m;
    return count;
}

/* Writes what is owed. The stream is the response repeated, so `owed` alone
 * says where in `block` to resume. Returns -1 on error, else bytes still owed. */
static ssize_t flush(struct conn *c)
{
    while (c->owed > 0) {
        size_t off = (kRespLen - c->owed % kRespLen) % kRespLen;
        size_t len = sizeof block - off < c->owed ? sizeof block - off : c->owed;
        ssize_t w = write(c->fd, block + off, len);
        if (w < 0)
            return errno == EAGAIN || errno == EINTR ? (ssize_t)c->owed : -1;
        c->owed -= (size_t)w;
        if ((size_t)w < len)
            break; /* send buffer full; EAGAIN would follow */
    }
    return (ssize_t)c->owed;
}

static void on_accept(int lfd)
{
    for (;;) {
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
    c->owed = count_requests(c, buf, (size_t)n) * kRespLen;
    ssize_t left = flush(c);
    if (left < 0)
        conn_close(c);
    else if (left > 0) /* stop reading until the client drains its responses */
        watch(EPOLL_CTL_MOD, c->fd, EPOLLOUT, c);
}

static void on_writable(struct conn *c)
{
    ssize_t left = flush(c);
    if (left < 0)
        conn_close(c);
    else if (left == 0)
        watch(EPOLL_CTL_MOD, c->fd, EPOLLIN, c);
}

int main(int argc, char **argv)
{
    struct peer_args args = peer_parse_args(argc, argv);
    signal(SIGPIPE, SIG_IGN);
    for (int i = 0; i < kBlockResps; i++)
        memcpy(block + i * kRespLen, RESPONSE, kRespLen);

    sigset_t mask; /* signals arrive as a readable fd: no async handler */
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
            else if (((struct conn *)p)->owed)
                on_writable(p); /* EPOLLERR/EPOLLHUP surface as a failed write */
            else
                on_readable(p);
        }
    }
}
