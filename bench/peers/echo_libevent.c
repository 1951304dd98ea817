/* Echo server on libevent, the idiomatic way: an evconnlistener hands each
 * connection to a bufferevent, and the read callback moves input to output. */
#include "peer_common.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <signal.h>

static void on_read(struct bufferevent *bev, void *arg)
{
    (void)arg;
    struct evbuffer *out = bufferevent_get_output(bev);
    evbuffer_add_buffer(out, bufferevent_get_input(bev)); /* moves chains, no copy */
    /* A slow reader: stop reading until the output drains (on_drained), so
     * memory stays bounded. The bufferevent writes as the socket allows. */
    if (evbuffer_get_length(out) > PEER_READ_BUF)
        bufferevent_disable(bev, EV_READ);
}

/* Called when the output falls to the write low-water mark (0: empty). */
static void on_drained(struct bufferevent *bev, void *arg)
{
    (void)arg;
    if (!(bufferevent_get_enabled(bev) & EV_READ)) /* runs after every flush */
        bufferevent_enable(bev, EV_READ);
}

/* After the client's EOF: close once the last echoed bytes are out. */
static void on_flushed(struct bufferevent *bev, void *arg)
{
    (void)arg;
    bufferevent_free(bev); /* BEV_OPT_CLOSE_ON_FREE closes the socket */
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    (void)arg;
    if ((what & BEV_EVENT_EOF) && evbuffer_get_length(bufferevent_get_output(bev)) > 0)
        bufferevent_setcb(bev, NULL, on_flushed, on_event, NULL);
    else if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
        bufferevent_free(bev);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len,
                      void *arg)
{
    (void)sa, (void)len, (void)arg;
    peer_nodelay(fd);
    struct bufferevent *bev =
        bufferevent_socket_new(evconnlistener_get_base(l), fd, BEV_OPT_CLOSE_ON_FREE);
    bufferevent_set_max_single_read(bev, PEER_READ_BUF);
    bufferevent_setcb(bev, on_read, on_drained, on_event, NULL);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
}

static void on_signal(evutil_socket_t sig, short what, void *base)
{
    (void)sig, (void)what;
    event_base_loopbreak(base);
}

int main(int argc, char **argv)
{
    struct peer_args args = peer_parse_args(argc, argv);
    signal(SIGPIPE, SIG_IGN);
    struct event_base *base = event_base_new();
    if (!base)
        peer_die("event_base_new");
    int lfd = peer_listen(&args);
    struct evconnlistener *l =
        evconnlistener_new(base, on_accept, NULL, LEV_OPT_CLOSE_ON_FREE, -1, lfd);
    struct event *sigint = evsignal_new(base, SIGINT, on_signal, base);
    struct event *sigterm = evsignal_new(base, SIGTERM, on_signal, base);
    if (!l || !sigint || !sigterm)
        peer_die("libevent setup");
    event_add(sigint, NULL);
    event_add(sigterm, NULL);
    peer_announce(lfd);
    event_base_dispatch(base);
    return 0;
}
