#include "tls_flags.h"

#include <cstdio>

#include "reactor/core/error.h"

#ifdef REACTOR_HAS_TLS
#include "reactor/tls/tls_context.h"
#endif

namespace reactor::apps {
namespace {

// Everything that needs reactor_tls, so that a build without it differs only here.
#ifdef REACTOR_HAS_TLS
constexpr bool kBuiltWithTls = true;

std::shared_ptr<const net::TransportSecurity> make_server_context(const ServerTlsFlags& flags) {
  tls::ServerConfig config;
  config.certificates = {{flags.cert, flags.key}};
  config.alpn = flags.alpn;
  return tls::TlsContext::server(config);
}

std::shared_ptr<const net::TransportSecurity> make_client_context(const ClientTlsFlags& flags) {
  tls::ClientConfig config;
  config.verify = !flags.insecure;
  config.ca_file = flags.ca_file;
  return tls::TlsContext::client(config);
}

bool is_tls_error(std::error_code error) {
  return error.category() == tls::openssl_category() || error.category() == tls::verify_category();
}

bool is_verify_error(std::error_code error) {
  return error.category() == tls::verify_category();
}
#else
constexpr bool kBuiltWithTls = false;

std::shared_ptr<const net::TransportSecurity> make_server_context(const ServerTlsFlags&) {
  return nullptr;
}
std::shared_ptr<const net::TransportSecurity> make_client_context(const ClientTlsFlags&) {
  return nullptr;
}
bool is_tls_error(std::error_code) {
  return false;
}
bool is_verify_error(std::error_code) {
  return false;
}
#endif

}  // namespace

void add_server_tls_flags(CLI::App& app, ServerTlsFlags& flags) {
  if (!kBuiltWithTls) return;
  app.add_option("--tls-cert", flags.cert,
                 "serve TLS with this certificate chain (PEM: the leaf first; needs --tls-key)")
      ->type_name("FILE");
  app.add_option("--tls-key", flags.key, "the private key (PEM) of --tls-cert")->type_name("FILE");
  app.add_option("--tls-handshake-timeout", flags.handshake_timeout_ms,
                 "ms a TLS handshake may take in all before the connection is closed "
                 "(default 10000; needs --tls-cert)")
      ->type_name("MS")
      ->check(CLI::Range(1, 3600 * 1000));
}

// Checked here rather than by CLI11, like --proxy-from without --proxy-protocol: one line.
bool server_tls_flags_valid(const char* program, const ServerTlsFlags& flags) {
  const char* missing = nullptr;
  if (!flags.cert.empty() && flags.key.empty()) missing = "--tls-cert needs --tls-key";
  if (flags.cert.empty() && !flags.key.empty()) missing = "--tls-key needs --tls-cert";
  if (flags.cert.empty() && flags.key.empty() && flags.handshake_timeout_ms)
    missing = "--tls-handshake-timeout needs --tls-cert and --tls-key";
  if (!missing) return true;
  std::fprintf(stderr, "%s: %s (usage: --tls-cert FILE --tls-key FILE)\n", program, missing);
  return false;
}

std::shared_ptr<const net::TransportSecurity> server_context(const ServerTlsFlags& flags) {
  if (flags.cert.empty()) return nullptr;
  return make_server_context(flags);
}

void add_client_tls_flags(CLI::App& app, ClientTlsFlags& flags) {
  if (!kBuiltWithTls) return;
  auto* tls = app.add_flag("--tls", flags.enabled,
                           "speak TLS; the server's certificate is verified (its name, or "
                           "its address when no --tls-server-name is given)");
  app.add_option("--tls-ca", flags.ca_file,
                 "trust these CA certificates (PEM) instead of the "
                 "system's")
      ->type_name("FILE")
      ->needs(tls);
  app.add_option("--tls-server-name", flags.server_name,
                 "the name to send (SNI) and to verify the certificate against")
      ->type_name("NAME")
      ->needs(tls);
  app.add_flag("--insecure", flags.insecure, "do not verify the server's certificate (tests)")
      ->needs(tls);
}

std::shared_ptr<const net::TransportSecurity> client_context(const ClientTlsFlags& flags) {
  if (!flags.enabled) return nullptr;
  return make_client_context(flags);
}

std::optional<std::string> handshake_failure(std::error_code error) {
  if (error == Errc::handshake_timed_out) return error.message();
  if (!is_tls_error(error)) return std::nullopt;
  // The verification's own message ("unable to get local issuer certificate") does not
  // say that it is about the certificate.
  if (is_verify_error(error)) return "certificate verify failed: " + error.message();
  return error.message();
}

}  // namespace reactor::apps
