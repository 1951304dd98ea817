#pragma once
// reactor_tls: TLS for reactor's connections, on OpenSSL 3. Link reactor::tls (CMake) or
// reactor-tls (pkg-config); the rest of reactor needs no TLS library. A server or a client
// becomes TLS by taking a context (TcpServerOptions::tls, TcpClientOptions::tls); its
// callbacks see plaintext, with the same back-pressure and close semantics as plain TCP.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "reactor/net/transport_security.h"

namespace reactor::tls {

/// The lowest protocol version a context accepts; TLS 1.3 is always preferred.
enum class Version : uint8_t { tls1_2, tls1_3 };

/// A certificate chain and its private key, both PEM files.
struct Certificate {
  std::string chain_file;  ///< the leaf first, then its intermediates
  std::string key_file;
};

struct ServerConfig {
  /// The first is the default. A client's SNI name selects another whose subjectAltName
  /// DNS names (a "*.example.com" wildcard included) match it.
  std::vector<Certificate> certificates{};
  /// Protocols offered through ALPN, most preferred first (e.g. {"http/1.1"}). A client
  /// that offers ALPN but none of these is refused (no_application_protocol, RFC 7301).
  std::vector<std::string> alpn{};
  Version min_version = Version::tls1_2;
  bool session_tickets = true;  ///< resumption through tickets (stateless on the server)
};

struct ClientConfig {
  /// Verify the server's chain, and its name or address. Off only for tests (--insecure).
  bool verify = true;
  /// CA certificates (PEM) to trust; empty: the system's store.
  std::string ca_file{};
  std::vector<std::string> alpn{};
  Version min_version = Version::tls1_2;
  /// Keep the last session of each server name and offer it on the next connection.
  bool session_resumption = true;
};

/// An OpenSSL context shared by the connections of servers or clients, on any loop
/// (thread-safe once made). server() and client() throw std::system_error whose what()
/// names the file and the problem (missing, bad PEM, key not matching the certificate).
class TlsContext final : public net::TransportSecurity {
 public:
  static std::shared_ptr<TlsContext> server(const ServerConfig& config);
  static std::shared_ptr<TlsContext> client(const ClientConfig& config = {});
  ~TlsContext() override;
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  struct Impl;  // OpenSSL's objects: src/tls/tls_context.cc

 private:
  explicit TlsContext(std::unique_ptr<Impl> impl);
  std::unique_ptr<net::detail::SecureSession> new_session(
      Role role, int fd, std::string_view peer_name) const override;

  std::unique_ptr<Impl> impl_;
};

/// OpenSSL's errors; the value is OpenSSL's packed error code (ERR_get_error()).
const std::error_category& openssl_category() noexcept;
/// Certificate verification failures; the value is X509_V_ERR_*, the message OpenSSL's.
const std::error_category& verify_category() noexcept;

}  // namespace reactor::tls
