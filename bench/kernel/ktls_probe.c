/* Can kernel TLS (kTLS) be used here? Asks the kernel and OpenSSL separately.
 *
 * usage: ktls_probe CERT KEY   (a PEM certificate and its key, for the loopback server)
 * 1. The kernel: setsockopt(TCP_ULP, "tls") on a connected loopback TCP socket, the call
 *    with which OpenSSL hands a connection's keys to the kernel; and
 *    /proc/sys/net/ipv4/tcp_available_ulp.
 * 2. OpenSSL: whether this libssl was built with kTLS (OPENSSL_NO_KTLS), then a loopback
 *    handshake (TLS 1.3, then TLS 1.2) with SSL_OP_ENABLE_KTLS on both sides, reporting
 *    BIO_get_ktls_send / BIO_get_ktls_recv on each side afterwards.
 * Prints "key: value" lines; exits 0 whatever the answers are, 1 if it could not ask. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef TCP_ULP
#define TCP_ULP 31
#endif

/* A connected loopback pair: fds[0] the client's end, fds[1] the server's. */
static int tcp_pair(int fds[2]) {
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  int lfd = socket(AF_INET, SOCK_STREAM, 0);
  if (lfd < 0 || bind(lfd, (struct sockaddr*)&a, len) || listen(lfd, 1) ||
      getsockname(lfd, (struct sockaddr*)&a, &len))
    return -1;
  fds[0] = socket(AF_INET, SOCK_STREAM, 0);
  if (fds[0] < 0 || connect(fds[0], (struct sockaddr*)&a, len)) return -1;
  fds[1] = accept(lfd, NULL, NULL);
  close(lfd);
  return fds[1] < 0 ? -1 : 0;
}

static void probe_kernel(void) {
  char ulp[256] = "";
  FILE* f = fopen("/proc/sys/net/ipv4/tcp_available_ulp", "r");
  if (f) {
    if (!fgets(ulp, sizeof ulp, f)) ulp[0] = '\0';
    ulp[strcspn(ulp, "\n")] = '\0';
    fclose(f);
  }
  printf("tcp_available_ulp: %s\n", f ? ulp : "(unreadable)");
  int fds[2];
  if (tcp_pair(fds)) {
    printf("tcp_ulp_tls: could not make a loopback pair: %s\n", strerror(errno));
    return;
  }
  if (setsockopt(fds[0], IPPROTO_TCP, TCP_ULP, "tls", sizeof "tls"))
    printf("tcp_ulp_tls: refused: %s (errno %d)\n", strerror(errno), errno);
  else
    printf("tcp_ulp_tls: accepted\n");
  close(fds[0]);
  close(fds[1]);
}

/* One loopback handshake at `version` with kTLS asked for on both sides; both ends are
 * non-blocking and driven in turn from this one thread, waiting in poll() between turns. */
static void probe_openssl(const char* cert, const char* key, int version, const char* name) {
  SSL_CTX* sctx = SSL_CTX_new(TLS_server_method());
  SSL_CTX* cctx = SSL_CTX_new(TLS_client_method());
  int fds[2];
  if (!sctx || !cctx || SSL_CTX_use_certificate_chain_file(sctx, cert) != 1 ||
      SSL_CTX_use_PrivateKey_file(sctx, key, SSL_FILETYPE_PEM) != 1 || tcp_pair(fds)) {
    printf("%s: could not set up: %s\n", name, ERR_reason_error_string(ERR_get_error()));
    return;
  }
  SSL_CTX* ctxs[2] = {cctx, sctx};
  SSL* ssl[2];
  for (int i = 0; i < 2; ++i) {
    SSL_CTX_set_min_proto_version(ctxs[i], version);
    SSL_CTX_set_max_proto_version(ctxs[i], version);
    SSL_CTX_set_options(ctxs[i], SSL_OP_ENABLE_KTLS);
    fcntl(fds[i], F_SETFL, O_NONBLOCK);
    ssl[i] = SSL_new(ctxs[i]);
    SSL_set_fd(ssl[i], fds[i]);
  }
  int done[2] = {0, 0};
  struct pollfd wait[2] = {{.fd = fds[0], .events = POLLIN}, {.fd = fds[1], .events = POLLIN}};
  for (int step = 0; step < 100; ++step) { /* 100 x 50 ms at most */
    if (!done[0]) done[0] = SSL_connect(ssl[0]) == 1;
    if (!done[1]) done[1] = SSL_accept(ssl[1]) == 1;
    if (done[0] && done[1]) break;
    poll(wait, 2, 50);
  }
  if (!(done[0] && done[1])) {
    printf("%s: handshake failed: %s\n", name, ERR_reason_error_string(ERR_get_error()));
  } else {
    /* A TLS 1.3 key may be handed over only once the first record is written. */
    char byte = 'x';
    SSL_write(ssl[1], &byte, 1);
    SSL_write(ssl[0], &byte, 1);
    printf("%s %s: client ktls_send %d ktls_recv %d, server ktls_send %d ktls_recv %d\n", name,
           SSL_get_cipher_name(ssl[0]), (int)BIO_get_ktls_send(SSL_get_wbio(ssl[0])),
           (int)BIO_get_ktls_recv(SSL_get_rbio(ssl[0])),
           (int)BIO_get_ktls_send(SSL_get_wbio(ssl[1])),
           (int)BIO_get_ktls_recv(SSL_get_rbio(ssl[1])));
  }
  for (int i = 0; i < 2; ++i) {
    SSL_free(ssl[i]);
    close(fds[i]);
    SSL_CTX_free(ctxs[i]);
  }
  ERR_clear_error();
}

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s CERT KEY\n", argv[0]);
    return 1;
  }
  printf("openssl: %s\n", OpenSSL_version(OPENSSL_VERSION));
#ifdef OPENSSL_NO_KTLS
  printf("openssl_ktls: not built in (OPENSSL_NO_KTLS)\n");
#else
  printf("openssl_ktls: built in\n");
#endif
  probe_kernel();
  probe_openssl(argv[1], argv[2], TLS1_3_VERSION, "tls1.3");
  probe_openssl(argv[1], argv[2], TLS1_2_VERSION, "tls1.2");
  return 0;
}
