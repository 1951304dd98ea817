#pragma once
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "reactor/net/inet_address.h"

namespace reactor::net {

/// An address range: "10.0.0.0/8", "::1/128", or one host ("127.0.0.1" means /32). An IPv4
/// range also matches the IPv4-mapped IPv6 form of its addresses (::ffff:10.1.2.3), as a
/// dual-stack listener reports them.
class Cidr {
 public:
  /// Nullopt unless `text` is an address with an optional "/PREFIX" in range.
  static std::optional<Cidr> parse(std::string_view text);
  /// Parses "A[,B...]" (no empty items); nullopt if any item is invalid.
  static std::optional<std::vector<Cidr>> parse_list(std::string_view text);
  /// 127.0.0.0/8 and ::1/128.
  static std::vector<Cidr> loopback();

  bool contains(const InetAddress& address) const;
  std::string to_string() const;  ///< "10.0.0.0/8"

 private:
  uint8_t bytes_[16] = {};  // IPv4 ranges are kept in their IPv4-mapped IPv6 form
  uint8_t prefix_ = 0;      // in bits, of the 128-bit form
  bool v4_ = false;
};

/// A listener option: every connection must begin with a PROXY protocol header (haproxy's
/// doc/proxy-protocol.txt, version 1 or 2), whose source becomes the connection's
/// peer_address(). Never guessed: with `enabled`, a connection without a valid header is
/// closed without a reply (and counted); without it, a header is ordinary data.
struct ProxyProtocolOptions {
  bool enabled = false;
  /// Peers allowed to send a header; a connection from any other is closed at once.
  std::vector<Cidr> trusted = Cidr::loopback();
  /// From accept to the header's last byte; then the connection is closed.
  std::chrono::milliseconds header_timeout{3000};
};

/// What a connection's PROXY header said.
struct ProxyHeader {
  uint8_t version = 0;  ///< 1 or 2
  /// v2 LOCAL, v1 UNKNOWN, or an unspecified family: the proxy's own connection (a health
  /// check, say), with no client addresses; the socket's addresses stand.
  bool local = false;
  std::optional<InetAddress> source;       ///< the client, as the proxy saw it
  std::optional<InetAddress> destination;  ///< the address the client connected to
};

}  // namespace reactor::net
