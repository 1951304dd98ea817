#pragma once
// The PROXY protocol header parser (haproxy's doc/proxy-protocol.txt): pure, no I/O.
#include <cstddef>
#include <string_view>

#include "reactor/net/proxy_protocol.h"

namespace reactor::net::detail {

/// The longest v1 header, CRLF included, and the fixed part of a v2 header.
inline constexpr size_t kProxyV1MaxBytes = 107;
inline constexpr size_t kProxyV2FixedBytes = 16;
/// The largest v2 length field accepted (the spec allows 65535): addresses and TLVs from
/// real proxies take a few hundred bytes, and a pending connection buffers the whole header.
inline constexpr size_t kProxyV2MaxLength = 4096;

struct ProxyParse {
  enum class State : uint8_t { need_more, complete, error };
  State state = State::need_more;
  size_t consumed = 0;     ///< complete: the header's length; the application's bytes follow
  ProxyHeader header;      ///< complete: what it said
  std::string_view error;  ///< error: why, for logs ("bad v1 port", "CRC32C mismatch", ...)
};

/// Parses the header at the start of `data`, v1 or v2 (told apart by the first byte).
/// Stateless: with need_more, call again with the same bytes and more. need_more also
/// promises that every byte of `data` belongs to the header, so a reader may consume them.
ProxyParse parse_proxy_header(std::string_view data);

/// CRC32C (Castagnoli), as the PP2_TYPE_CRC32C TLV carries it.
uint32_t crc32c(std::string_view data, uint32_t crc = 0);

}  // namespace reactor::net::detail
