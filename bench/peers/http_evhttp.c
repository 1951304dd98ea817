/* "Hello" HTTP server on libevent's evhttp: one generic callback answers
 * every request; evhttp itself parses, adds Content-Length and handles
 * keep-alive and pipelining. */
#include "peer_common.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <signal.h>

static const char kBody[] = "Hello, world!";

static void on_request(struct evhttp_request *req, void *reply)
{
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "text/plain");
    /* By reference: no copy of the body; send_reply drains `reply` for reuse. */
    evbuffer_add_reference(reply, kBody, sizeof kBody - 1, NULL, NULL);
    evhttp_send_reply(req, HTTP_OK, "OK", reply);
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
    struct evhttp *http = evhttp_new(base);
    struct evbuffer *reply = evbuffer_new();
    /* evhttp accepts internally; TCP_NODELAY set on this listening socket
     * by peer_listen is inherited by every accepted one on Linux. */
    int lfd = peer_listen(&args);
    if (!http || !reply || !evhttp_accept_socket_with_handle(http, lfd))
        peer_die("evhttp setup");
    evhttp_set_gencb(http, on_request, reply);
    struct event *sigint = evsignal_new(base, SIGINT, on_signal, base);
    struct event *sigterm = evsignal_new(base, SIGTERM, on_signal, base);
    event_add(sigint, NULL);
    event_add(sigterm, NULL);
    peer_announce(lfd);
    event_base_dispatch(base);
    return 0;
}
