#pragma once
// The PROXY protocol header parser (haproxy's doc/proxy-protocol.txt): pure, no I/O.
#include <cstddef>
#include <string_view>

#include "reactor/net/proxy_protocol.h"

namespace reactor::net::detail {

// Verdicts where the spec leaves a choice (proxy_header_test.cc pins each one):
//   v1 "PROXY", "TCP4"/"TCP6"/"UNKNOWN" .................. exact, upper case, one space each
//   v1 TCP4 address ...................................... four decimal octets 0-255, no
//     leading zero ("01"), as the spec demands against octal readings
//   v1 TCP6 address ...................................... what inet_pton accepts ("::1",
//     "::ffff:1.2.3.4"), at most 45 characters; never an IPv4 dotted quad
//   v1 port .............................................. 0-65535, digits only, no leading zero
//   v1 "UNKNOWN" ......................................... then CRLF, or one space and any
//     bytes but CR and LF up to CRLF; local (the socket's addresses stand)
//   v1 CR not followed by LF, LF not after CR ............ error
//   v1 107 bytes without the CRLF ........................ error
//   v2 version nibble not 2, command not LOCAL/PROXY ..... error
//   v2 family nibble > 3 (UNIX) or transport nibble > 2 .. error (the spec says "must")
//   v2 PROXY over INET/INET6 STREAM (\x11, \x21) ......... addresses
//   v2 PROXY over an UNSPEC family or transport .......... local (\x00 \x01 \x10 \x20)
//   v2 PROXY over DGRAM or UNIX (\x02 \x12 \x22 \x31 \x32) error: the spec lets a receiver
//     fall back to the real addresses, but a TCP listener told of a datagram or UNIX
//     client has a misconfigured proxy in front, and saying so beats guessing
//   v2 LOCAL ............................................. local, whatever the family says;
//     the family, length and TLV rules below still apply
//   v2 UNSPEC family ..................................... no address block: what the length
//     covers is read as TLVs (HAProxy's LOCAL health checks carry its TLVs there)
//   v2 length < the family's address block (12, 36, 216) . error
//   v2 length > kProxyV2MaxLength ........................ error
//   v2 TLVs .............................................. must tile the rest exactly; a
//     PP2_TYPE_CRC32C must be 4 bytes, appear once and match; the others are skipped
//
// Every verdict comes as early as the bytes allow: a prefix that no valid header starts
// with fails at once, so a peer sending garbage is not kept until the header deadline.
// For v1 this is exact except inside a TCP6 address, which is checked for what is cheap
// as it arrives (characters, group sizes, colons, one "::") and in full at its end.

/// The longest v1 header, CRLF included, and the fixed part of a v2 header.
inline constexpr size_t kProxyV1MaxBytes = 107;
inline constexpr size_t kProxyV2FixedBytes = 16;
/// The largest v2 length field accepted (the spec allows 65535): addresses and TLVs from
/// real proxies take a few hundred bytes (certificates' names included), and a pending
/// connection buffers the whole header. HAProxy, receiving, caps it at its buffer size
/// (tune.bufsize, 16 KiB by default); so does this.
inline constexpr size_t kProxyV2MaxLength = 16384 - kProxyV2FixedBytes;

struct ProxyParse {
  enum class State : uint8_t { need_more, complete, error };
  State state = State::need_more;
  size_t consumed = 0;     ///< complete: the header's length; the application's bytes follow
  ProxyHeader header;      ///< complete: what it said
  std::string_view error;  ///< error: why, for logs ("bad v1 source port", "CRC32C mismatch")
};

/// Parses the header at the start of `data`, v1 or v2 (told apart by the first byte).
/// Stateless: with need_more, call again with the same bytes and more. need_more also
/// promises that every byte of `data` belongs to the header, so a reader may consume them.
ProxyParse parse_proxy_header(std::string_view data);

/// CRC32C (Castagnoli), as the PP2_TYPE_CRC32C TLV carries it.
uint32_t crc32c(std::string_view data, uint32_t crc = 0);

}  // namespace reactor::net::detail
