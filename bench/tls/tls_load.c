/* HTTPS load the benchmark driver needs and wrk cannot give: a full TLS handshake on
 * every connection, and many idle TLS connections.
 *
 * usage: tls_load --port P --mode full|idle [--host H] [--connections N]
 *                 [--warmup S] [--duration S]
 *   full: N connections at a time, each: connect, a full handshake (no session is ever
 *         offered, so the server cannot resume), `GET /` with `Connection: close`, read
 *         the response to the server's close, close; then the next. Counts the connections
 *         that completed after the warm-up, for `--duration` seconds, and prints
 *         "connections_per_sec: X", "completed: N", "resumed: N" and "errors: N" on stdout.
 *   idle: opens N connections (at most 256 connecting at once), each: connect, handshake,
 *         one keep-alive `GET /` read to its end; then holds them all, prints
 *         "N connected, M failed" on stderr and sleeps until `--duration` ends or SIGTERM.
 * One thread, edge-triggered epoll, every socket non-blocking; the server's certificate
 * is not verified (the handshake's signature still is: TLS 1.3 requires it).
 * Exits 0, or 1 on a usage or set-up error. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum state { kIdleSlot, kConnecting, kHandshake, kSending, kReceiving, kHolding };

struct conn {
  int fd;
  SSL* ssl;
  enum state state;
  char tail[64]; /* the last bytes of the response: has it ended? */
};

struct config {
  struct sockaddr_in addr;
  int idle;
  long connections;
  double warmup, duration;
};

static const char kCloseRequest[] = "GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n";
static const char kKeepRequest[] = "GET / HTTP/1.1\r\nHost: bench\r\n\r\n";
static const char kBody[] = "Hello, world!"; /* every peer's response ends with it */
static volatile sig_atomic_t stop;
static long completed, resumed, errors;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void on_signal(int signo) {
  (void)signo;
  stop = 1;
}

static int open_conn(int ep, SSL_CTX* ctx, const struct config* cfg, struct conn* c) {
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (c->fd < 0) return -1;
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(c->fd, (const struct sockaddr*)&cfg->addr, sizeof cfg->addr) &&
      errno != EINPROGRESS) {
    close(c->fd);
    return -1;
  }
  c->ssl = SSL_new(ctx);
  SSL_set_fd(c->ssl, c->fd);
  c->state = kConnecting;
  c->tail[0] = '\0';
  struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET, .data.ptr = c};
  return epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
}

static void close_conn(struct conn* c, int polite) {
  if (polite) SSL_shutdown(c->ssl); /* our close_notify, as a browser or wrk sends; no wait */
  SSL_free(c->ssl);
  close(c->fd); /* also leaves the epoll set */
  c->ssl = NULL;
  c->state = kIdleSlot;
  ERR_clear_error();
}

/* 1: SSL wants more I/O, 0: failed. */
static int wants_io(SSL* ssl, int r) {
  int e = SSL_get_error(ssl, r);
  return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE;
}

/* Keeps the last bytes of the response in c->tail (it never holds a NUL byte). */
static void keep_tail(struct conn* c, const char* data, size_t n) {
  size_t keep = sizeof c->tail - 1, have = strlen(c->tail);
  if (n >= keep) {
    memcpy(c->tail, data + n - keep, keep);
    c->tail[keep] = '\0';
    return;
  }
  size_t drop = have + n > keep ? have + n - keep : 0;
  memmove(c->tail, c->tail + drop, have - drop);
  memcpy(c->tail + have - drop, data, n);
  c->tail[have - drop + n] = '\0';
}

/* Advances one connection as far as its socket allows. Returns 1 when the connection
 * has reached its goal (full: the server closed after the response; idle: the response
 * is in), 0 while it waits for the socket, -1 on failure. */
static int advance(struct conn* c, int idle) {
  int r, err = 0;
  socklen_t len = sizeof err;
  char buf[4096];
  switch (c->state) {
    case kConnecting:
      if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) || err) return -1;
      c->state = kHandshake;
      /* fall through */
    case kHandshake:
      if ((r = SSL_connect(c->ssl)) != 1) return wants_io(c->ssl, r) ? 0 : -1;
      c->state = kSending;
      /* fall through */
    case kSending:
      r = idle ? SSL_write(c->ssl, kKeepRequest, sizeof kKeepRequest - 1)
               : SSL_write(c->ssl, kCloseRequest, sizeof kCloseRequest - 1);
      if (r <= 0) return wants_io(c->ssl, r) ? 0 : -1;
      c->state = kReceiving;
      /* fall through */
    case kReceiving:
      while ((r = SSL_read(c->ssl, buf, sizeof buf)) > 0) {
        keep_tail(c, buf, (size_t)r);
        size_t n = strlen(c->tail), b = sizeof kBody - 1;
        if (idle && n >= b && strcmp(c->tail + n - b, kBody) == 0) {
          c->state = kHolding;
          return 1;
        }
      }
      if (wants_io(c->ssl, r)) return 0;
      /* the server's close (close_notify or not) after a whole response is the goal */
      return !idle && strstr(c->tail, kBody) ? 1 : -1;
    default:
      return 0;
  }
}

static int parse(int argc, char** argv, struct config* cfg) {
  const char* host = "127.0.0.1";
  long port = 0;
  cfg->connections = 100;
  cfg->warmup = 1;
  cfg->duration = 4;
  cfg->idle = -1;
  for (int i = 1; i + 1 < argc; i += 2) {
    const char *k = argv[i], *v = argv[i + 1];
    if (!strcmp(k, "--host"))
      host = v;
    else if (!strcmp(k, "--port"))
      port = atol(v);
    else if (!strcmp(k, "--mode"))
      cfg->idle = !strcmp(v, "idle") ? 1 : !strcmp(v, "full") ? 0 : -1;
    else if (!strcmp(k, "--connections"))
      cfg->connections = atol(v);
    else if (!strcmp(k, "--warmup"))
      cfg->warmup = atof(v);
    else if (!strcmp(k, "--duration"))
      cfg->duration = atof(v);
    else
      return -1;
  }
  cfg->addr.sin_family = AF_INET;
  cfg->addr.sin_port = htons((unsigned short)port);
  if (argc % 2 != 1 || cfg->idle < 0 || port <= 0 || port > 65535 || cfg->connections < 1 ||
      inet_pton(AF_INET, host, &cfg->addr.sin_addr) != 1)
    return -1;
  return 0;
}

static SSL_CTX* client_context(void) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (!ctx) return NULL;
  SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
  /* No session is kept, so none is ever offered: every handshake is a full one. */
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS); /* 10,000 idle clients stay small */
  return ctx;
}

int main(int argc, char** argv) {
  struct config cfg;
  if (parse(argc, argv, &cfg)) {
    fprintf(stderr,
            "usage: %s --port P --mode full|idle [--host H] [--connections N] [--warmup S] "
            "[--duration S]\n",
            argv[0]);
    return 1;
  }
  signal(SIGPIPE, SIG_IGN);
  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);
  SSL_CTX* ctx = client_context();
  int ep = epoll_create1(0);
  struct conn* conns = calloc(cfg.connections, sizeof *conns);
  if (!ctx || ep < 0 || !conns) {
    fprintf(stderr, "tls_load: set-up failed\n");
    return 1;
  }
  long in_flight = cfg.idle ? 256 : cfg.connections, next = 0, held = 0, failed = 0;
  for (; next < cfg.connections && next < in_flight; ++next)
    if (open_conn(ep, ctx, &cfg, &conns[next])) ++failed, close_conn(&conns[next], 0);
  double start = now_s(), from = start + cfg.warmup, until = from + cfg.duration;
  int announced = 0;
  struct epoll_event events[256];
  while (!stop && now_s() < until) {
    int n = epoll_wait(ep, events, 256, 100);
    for (int i = 0; i < n; ++i) {
      struct conn* c = events[i].data.ptr;
      int r = advance(c, cfg.idle);
      if (r == 0) continue;
      int counted = now_s() >= from;
      if (cfg.idle) {
        r > 0 ? ++held : ++failed;
        if (r < 0) close_conn(c, 0);
        if (next < cfg.connections) {
          if (open_conn(ep, ctx, &cfg, &conns[next])) ++failed, close_conn(&conns[next], 0);
          ++next;
        }
        continue;
      }
      if (counted) r > 0 ? ++completed : ++errors;
      if (counted && r > 0) resumed += SSL_session_reused(c->ssl);
      close_conn(c, r > 0);
      if (open_conn(ep, ctx, &cfg, c)) ++errors, close_conn(c, 0);
    }
    if (cfg.idle && !announced && held + failed >= cfg.connections) {
      fprintf(stderr, "%ld connected, %ld failed\n", held, failed);
      announced = 1;
    }
  }
  if (!cfg.idle) {
    double seconds = now_s() - from;
    printf("connections_per_sec: %.1f\ncompleted: %ld\nresumed: %ld\nerrors: %ld\n",
           seconds > 0 ? completed / seconds : 0.0, completed, resumed, errors);
  }
  return 0;
}
