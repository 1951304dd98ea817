/* Echo server on libuv. Reads land in a loop-wide buffer (alloc_cb), are
 * sent with uv_try_write, and only an unsent remainder is copied into a
 * uv_write request; reading pauses until that request completes. */
#include "peer_common.h"

#include <signal.h>
#include <uv.h>

struct pending_write {
    uv_write_t req;
    char data[]; /* the unsent remainder */
};

static char buf[PEER_READ_BUF];

static void on_closed(uv_handle_t *h)
{
    free(h);
}

/* One thread, and each read is consumed before the next alloc: sharing is safe. */
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *out)
{
    (void)h, (void)suggested;
    *out = uv_buf_init(buf, sizeof buf);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *in);

static void on_written(uv_write_t *req, int status)
{
    uv_stream_t *s = req->handle;
    free(req);
    if (status < 0) {
        if (!uv_is_closing((uv_handle_t *)s))
            uv_close((uv_handle_t *)s, on_closed);
        return;
    }
    uv_read_start(s, on_alloc, on_read);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *in)
{
    if (n < 0) { /* UV_EOF or an error */
        uv_close((uv_handle_t *)s, on_closed);
        return;
    }
    uv_buf_t b = uv_buf_init(in->base, (unsigned)n);
    int w = uv_try_write(s, &b, 1);
    if (w == n)
        return;
    if (w < 0 && w != UV_EAGAIN) {
        uv_close((uv_handle_t *)s, on_closed);
        return;
    }
    size_t sent = w < 0 ? 0 : (size_t)w;
    size_t left = (size_t)n - sent;
    struct pending_write *p = malloc(sizeof *p + left);
    memcpy(p->data, in->base + sent, left);
    b = uv_buf_init(p->data, (unsigned)left);
    uv_read_stop(s); /* a slow reader must not make us buffer without bound */
    uv_write(&p->req, s, &b, 1, on_written);
}

static void on_connection(uv_stream_t *server, int status)
{
    if (status < 0)
        return;
    uv_tcp_t *c = malloc(sizeof *c);
    uv_tcp_init(server->loop, c);
    if (uv_accept(server, (uv_stream_t *)c) < 0) {
        uv_close((uv_handle_t *)c, on_closed);
        return;
    }
    uv_tcp_nodelay(c, 1);
    uv_read_start((uv_stream_t *)c, on_alloc, on_read);
}

static void on_signal(uv_signal_t *h, int sig)
{
    (void)sig;
    uv_stop(h->loop);
}

int main(int argc, char **argv)
{
    struct peer_args args = peer_parse_args(argc, argv);
    signal(SIGPIPE, SIG_IGN);
    uv_loop_t *loop = uv_default_loop();
    uv_tcp_t server;
    uv_tcp_init(loop, &server);
    int lfd = peer_listen(&args);
    if (uv_tcp_open(&server, lfd) < 0 ||
        uv_listen((uv_stream_t *)&server, SOMAXCONN, on_connection) < 0)
        peer_die("uv_listen");
    uv_signal_t sigint, sigterm;
    uv_signal_init(loop, &sigint);
    uv_signal_init(loop, &sigterm);
    uv_signal_start(&sigint, on_signal, SIGINT);
    uv_signal_start(&sigterm, on_signal, SIGTERM);
    peer_announce(lfd);
    uv_run(loop, UV_RUN_DEFAULT);
    return 0;
}
