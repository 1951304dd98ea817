#pragma once
// Helpers for the TLS connection tests: OpenSSL contexts for hand-driven peers, TlsPeer (one
// end of a TLS connection driven by hand from the loop thread, never blocking it), the
// bytes of a real ClientHello for the tests that cut one short, and the TLS counters of a
// multi-loop server summed.
#include <netinet/tcp.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "reactor/net/connection_stats.h"
#include "test_util.h"
#include "tls_test_certs.h"

namespace reactor::test {

struct FreeSslContext {
  void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
};
using SslContextPtr = std::unique_ptr<SSL_CTX, FreeSslContext>;

/// A peer's client context: verifies nothing. `max_version` (e.g. TLS1_2_VERSION) caps
/// what it offers; below TLS 1.2 it also lowers the floor and the security level, which
/// Debian's defaults would otherwise keep from offering TLS 1.0 and 1.1 at all.
inline SslContextPtr peer_client_context(int max_version = 0) {
  SslContextPtr ctx(SSL_CTX_new(TLS_client_method()));
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (max_version != 0) SSL_CTX_set_max_proto_version(ctx.get(), max_version);
  if (max_version != 0 && max_version < TLS1_2_VERSION) {
    SSL_CTX_set_min_proto_version(ctx.get(), TLS1_VERSION);
    SSL_CTX_set_security_level(ctx.get(), 0);
    SSL_CTX_set_cipher_list(ctx.get(), "DEFAULT:@SECLEVEL=0");
  }
  return ctx;
}

/// A peer's server context with the test certificate.
inline SslContextPtr peer_server_context() {
  SslContextPtr ctx(SSL_CTX_new(TLS_server_method()));
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  EXPECT_EQ(SSL_CTX_use_certificate_chain_file(ctx.get(), tls_test_certs().cert.c_str()), 1);
  EXPECT_EQ(SSL_CTX_use_PrivateKey_file(ctx.get(), tls_test_certs().key.c_str(), SSL_FILETYPE_PEM),
            1);
  return ctx;
}

/// A connected, non-blocking TCP socket to 127.0.0.1:`port` (the connect blocks, as
/// RawClient's: on loopback it completes without the server's accept). Without Nagle: a
/// small record is on its way when its write returns, not held for an acknowledgement.
inline UniqueFd connect_loopback(uint16_t port) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    ADD_FAILURE() << "connect: " << std::strerror(errno);
    return {};
  }
  const int one = 1;
  ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  ::fcntl(fd.get(), F_SETFL, ::fcntl(fd.get(), F_GETFL) | O_NONBLOCK);
  return fd;
}

/// One end of a TLS connection over a non-blocking socket, driven by hand (from run_until's
/// predicates): nothing blocks. Every OpenSSL error it meets is recorded, then cleared, so
/// that this thread's error queue is left as the library under test leaves it.
class TlsPeer {
 public:
  TlsPeer(SSL_CTX* ctx, UniqueFd fd, bool server) : fd_(std::move(fd)), ssl_(SSL_new(ctx)) {
    SSL_set_fd(ssl_, fd_.get());
    if (server)
      SSL_set_accept_state(ssl_);
    else
      SSL_set_connect_state(ssl_);
  }
  ~TlsPeer() { SSL_free(ssl_); }
  TlsPeer(const TlsPeer&) = delete;
  TlsPeer& operator=(const TlsPeer&) = delete;

  /// A client of 127.0.0.1:`port`.
  static std::unique_ptr<TlsPeer> connect(SSL_CTX* ctx, uint16_t port) {
    return std::make_unique<TlsPeer>(ctx, connect_loopback(port), false);
  }

  /// Advances the handshake; true once it is done.
  bool handshake() {
    if (!handshake_done && !failed) {
      const int rc = SSL_do_handshake(ssl_);
      if (rc == 1)
        handshake_done = true;
      else
        waiting(rc);
    }
    return handshake_done;
  }
  /// Queues `bytes` and writes what the socket takes now: one record per call at least.
  void send(std::string_view bytes) {
    outbox_.append(bytes);
    flush();
  }
  /// Writes queued bytes; true once all are out.
  bool flush() {
    while (!outbox_.empty() && !failed) {
      size_t put = 0;
      const int rc = SSL_write_ex(ssl_, outbox_.data(), outbox_.size(), &put);
      if (rc != 1) {
        waiting(rc);
        break;
      }
      outbox_.erase(0, put);
    }
    return outbox_.empty();
  }
  size_t unsent() const { return outbox_.size(); }
  /// Flushes, then reads at most `max` plaintext bytes available now into `received`; notes
  /// close_notify, an end without it, and failures.
  void pump(size_t max = SIZE_MAX) {
    flush();
    char buf[16384];
    while (!failed && !got_close_notify && !eof && max > 0) {
      size_t got = 0;
      const int rc = SSL_read_ex(ssl_, buf, std::min(sizeof buf, max), &got);
      if (rc != 1) {
        if (waiting(rc)) return;
        continue;  // the loop's condition now says why it stopped
      }
      received.append(buf, got);
      max -= got;
    }
  }
  /// Sends close_notify; true once it is out.
  bool close_notify() {
    const int rc = SSL_shutdown(ssl_);
    return rc >= 0 || !waiting(rc);
  }
  SSL* ssl() const { return ssl_; }
  int fd() const { return fd_.get(); }

  std::string received;
  bool handshake_done = false;
  bool got_close_notify = false;  ///< the other side ended its stream cleanly
  bool eof = false;               ///< the stream ended without close_notify
  bool failed = false;
  unsigned long error = 0;  ///< OpenSSL's first queued error at the failure (0: none)
  int sys_error = 0;        ///< errno, when the socket call failed

 private:
  /// Records why a call returned `rc`; true when it only waits for the socket.
  bool waiting(int rc) {
    const int saved = errno;
    const int kind = SSL_get_error(ssl_, rc);
    const unsigned long first = ERR_peek_error();
    ERR_clear_error();
    if (kind == SSL_ERROR_WANT_READ || kind == SSL_ERROR_WANT_WRITE) return true;
    if (kind == SSL_ERROR_ZERO_RETURN) {
      got_close_notify = true;
    } else if (kind == SSL_ERROR_SSL &&
               ERR_GET_REASON(first) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
      eof = true;
    } else {
      failed = true;
      error = first;
      if (kind == SSL_ERROR_SYSCALL) sys_error = saved;
    }
    return false;
  }

  UniqueFd fd_;
  SSL* ssl_;
  std::string outbox_;
};

/// The first flight of a TLS client: a real ClientHello, as bytes.
inline std::string client_hello() {
  SslContextPtr ctx = peer_client_context();
  SSL* ssl = SSL_new(ctx.get());
  BIO* wire = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl, BIO_new(BIO_s_mem()), wire);
  SSL_set_connect_state(ssl);
  SSL_do_handshake(ssl);  // writes the ClientHello, then wants the server's answer
  char* data = nullptr;
  const long n = BIO_get_mem_data(wire, &data);
  std::string hello(data, static_cast<size_t>(n));
  SSL_free(ssl);
  ERR_clear_error();
  return hello;
}

/// The TLS counters of every loop of a server, summed.
struct TlsCounts {
  uint64_t handshakes = 0, resumed = 0, failures = 0, timeouts = 0;
};
inline TlsCounts tls_counts(const std::vector<net::ConnectionStats>& loops) {
  TlsCounts c;
  for (const net::ConnectionStats& s : loops) {
    c.handshakes += s.tls_handshakes;
    c.resumed += s.tls_resumed;
    c.failures += s.tls_handshake_failures;
    c.timeouts += s.tls_handshake_timeouts;
  }
  return c;
}

}  // namespace reactor::test
