#pragma once
// The program's TLS flags, servers' and the client's, and the contexts made from them.
// The one place that knows whether the program was built with TLS (REACTOR_HAS_TLS):
// without it the flags are absent and the rest of the program reads no TLS header.
#include <CLI/CLI.hpp>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "reactor/net/transport_security.h"

namespace reactor::apps {

struct ServerTlsFlags {
  std::string cert;                         ///< --tls-cert FILE; empty: plain TCP
  std::string key;                          ///< --tls-key FILE
  std::optional<int> handshake_timeout_ms;  ///< --tls-handshake-timeout MS, if given
  /// Not a flag: what the subcommand speaks, offered through ALPN (http: {"http/1.1"}).
  std::vector<std::string> alpn;
  /// Made by serve() from the above before the service is; null: plain TCP.
  std::shared_ptr<const net::TransportSecurity> context;
};

/// Adds --tls-cert, --tls-key and --tls-handshake-timeout (TCP servers only).
void add_server_tls_flags(CLI::App& app, ServerTlsFlags& flags);

/// False, after one line on stderr, when the flags do not go together: --tls-cert without
/// --tls-key or the other way round, --tls-handshake-timeout without them.
bool server_tls_flags_valid(const char* program, const ServerTlsFlags& flags);

/// The server context the flags ask for, or null when they ask for none. Throws
/// std::system_error whose what() names the file and the problem.
std::shared_ptr<const net::TransportSecurity> server_context(const ServerTlsFlags& flags);

struct ClientTlsFlags {
  bool enabled = false;     ///< --tls
  std::string ca_file;      ///< --tls-ca FILE; empty: the system's store
  std::string server_name;  ///< --tls-server-name NAME; empty: the address is verified
  bool insecure = false;    ///< --insecure: no verification at all
};

/// Adds --tls, --tls-ca, --tls-server-name and --insecure (the last three need --tls).
void add_client_tls_flags(CLI::App& app, ClientTlsFlags& flags);

/// The client context the flags ask for, or null without --tls. Throws std::system_error
/// (an unreadable --tls-ca, say).
std::shared_ptr<const net::TransportSecurity> client_context(const ClientTlsFlags& flags);

/// What a failed connection attempt's `error` says when it came from the TLS handshake (a
/// certificate not verified, a protocol alert, the handshake's deadline); nothing when it
/// came from the TCP connect.
std::optional<std::string> handshake_failure(std::error_code error);

}  // namespace reactor::apps
