#pragma once
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace reactor::net {

/// An IPv4 or IPv6 socket address (a value type, 28 bytes).
class InetAddress {
 public:
  /// 0.0.0.0:0
  InetAddress() { storage_.v4.sin_family = AF_INET; }
  /// Parses a numeric address ("127.0.0.1", "::1", "[::1]") or "localhost"; nullopt if invalid.
  static std::optional<InetAddress> parse(std::string_view host, uint16_t port);
  static InetAddress any_ipv4(uint16_t port);
  static InetAddress loopback_ipv4(uint16_t port);
  static InetAddress from_sockaddr(const sockaddr* sa, socklen_t len);

  int family() const { return storage_.v4.sin_family; }
  uint16_t port() const;
  std::string host() const;       ///< "127.0.0.1" or "::1"
  std::string to_string() const;  ///< "127.0.0.1:80" or "[::1]:80"

  const sockaddr* sockaddr_ptr() const { return reinterpret_cast<const sockaddr*>(&storage_); }
  socklen_t length() const;
  bool operator==(const InetAddress& other) const;

 private:
  union Storage {
    sockaddr_in v4;
    sockaddr_in6 v6;
  } storage_{};
};

}  // namespace reactor::net
