#pragma once
#include <cstdint>
#include <memory>
#include <string_view>

namespace reactor::net {

namespace detail {
class SecureSession;
struct ConnectionGroup;
}  // namespace detail

/// What secures the connections of a server or a client: tls::TlsContext (reactor_tls,
/// include/reactor/tls/tls_context.h) is the implementation. net holds only this interface,
/// so a program without TLS needs no TLS library to build or link. Thread-safe: one object
/// serves the connections of every loop.
class TransportSecurity {
 public:
  virtual ~TransportSecurity() = default;

  enum class Role : uint8_t { server, client };

 private:
  friend struct detail::ConnectionGroup;
  /// One connection's session over the connected, non-blocking socket `fd` (borrowed; the
  /// connection owns it). `peer_name` (clients): the name to send as SNI and to verify,
  /// or an IP address literal to verify instead. Null when no session could be made.
  virtual std::unique_ptr<detail::SecureSession> new_session(Role role, int fd,
                                                             std::string_view peer_name) const = 0;
};

}  // namespace reactor::net
