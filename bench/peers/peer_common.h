/* Shared plumbing for the C/C++ peer servers: the uniform command line
 * (--port P, --host H), the listening socket and the "listening on" line.
 * Header-only so every peer stays one translation unit. */
#pragma once

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define PEER_READ_BUF (64 * 1024) /* same read size for every peer */

struct peer_args {
  const char* host;
  const char* port;
};

static inline struct peer_args peer_parse_args(int argc, char** argv) {
  struct peer_args a = {"127.0.0.1", "0"};
  for (int i = 1; i < argc; i++) {
    if (i + 1 < argc && strcmp(argv[i], "--port") == 0)
      a.port = argv[++i];
    else if (i + 1 < argc && strcmp(argv[i], "--host") == 0)
      a.host = argv[++i];
    else {
      fprintf(stderr, "usage: %s [--port P] [--host H]\n", argv[0]);
      exit(2);
    }
  }
  return a;
}

static inline void peer_die(const char* what) {
  fprintf(stderr, "%s: %s\n", what, strerror(errno));
  exit(1);
}

static inline void peer_nodelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* Non-blocking listening socket. TCP_NODELAY is set on it too: Linux copies
 * it to accepted sockets, which covers libraries that accept internally. */
static inline int peer_listen(const struct peer_args* a) {
  struct addrinfo hints, *res;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
  int rc = getaddrinfo(a->host, a->port, &hints, &res);
  if (rc != 0) {
    fprintf(stderr, "bad address %s:%s: %s\n", a->host, a->port, gai_strerror(rc));
    exit(2);
  }
  int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) peer_die("socket");
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  peer_nodelay(fd);
  if (bind(fd, res->ai_addr, res->ai_addrlen) < 0) peer_die("bind");
  if (listen(fd, SOMAXCONN) < 0) peer_die("listen");
  freeaddrinfo(res);
  return fd;
}

/* Prints the one line a driver waits for, with the port actually bound. */
static inline void peer_announce(int listen_fd) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  char host[NI_MAXHOST], port[NI_MAXSERV];
  if (getsockname(listen_fd, (struct sockaddr*)&ss, &len) < 0) peer_die("getsockname");
  getnameinfo((struct sockaddr*)&ss, len, host, sizeof host, port, sizeof port,
              NI_NUMERICHOST | NI_NUMERICSERV);
  if (ss.ss_family == AF_INET6)
    printf("listening on [%s]:%s\n", host, port);
  else
    printf("listening on %s:%s\n", host, port);
  fflush(stdout);
}
