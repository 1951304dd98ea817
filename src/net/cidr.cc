#include <arpa/inet.h>

#include <charconv>
#include <cstring>

#include "reactor/net/proxy_protocol.h"

namespace reactor::net {
namespace {

// ::ffff:a.b.c.d, the form a dual-stack socket gives an IPv4 peer.
constexpr uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

// The 128-bit form of `address` (IPv4 as IPv4-mapped).
void to_bytes(const InetAddress& address, uint8_t out[16]) {
  if (address.family() == AF_INET6) {
    std::memcpy(out, &reinterpret_cast<const sockaddr_in6*>(address.sockaddr_ptr())->sin6_addr, 16);
    return;
  }
  std::memcpy(out, kMappedPrefix, 12);
  std::memcpy(out + 12, &reinterpret_cast<const sockaddr_in*>(address.sockaddr_ptr())->sin_addr, 4);
}

}  // namespace

std::optional<Cidr> Cidr::parse(std::string_view text) {
  const size_t slash = text.find('/');
  auto address = InetAddress::parse(text.substr(0, slash), 0);
  if (!address || text.substr(0, slash) == "localhost") return std::nullopt;
  Cidr c;
  c.v4_ = address->family() == AF_INET;
  const unsigned max = c.v4_ ? 32 : 128;
  unsigned prefix = max;
  if (slash != std::string_view::npos) {
    std::string_view digits = text.substr(slash + 1);
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
    if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() || prefix > max)
      return std::nullopt;
  }
  c.prefix_ = static_cast<uint8_t>(c.v4_ ? prefix + 96 : prefix);
  to_bytes(*address, c.bytes_);
  // Keep only the network part, so that to_string() shows the range, not the host given.
  for (unsigned bit = c.prefix_; bit < 128; ++bit)
    c.bytes_[bit / 8] = static_cast<uint8_t>(c.bytes_[bit / 8] & ~(0x80u >> (bit % 8)));
  return c;
}

std::optional<std::vector<Cidr>> Cidr::parse_list(std::string_view text) {
  std::vector<Cidr> out;
  while (true) {
    const size_t comma = text.find(',');
    auto one = parse(text.substr(0, comma));
    if (!one) return std::nullopt;
    out.push_back(*one);
    if (comma == std::string_view::npos) return out;
    text.remove_prefix(comma + 1);
  }
}

std::vector<Cidr> Cidr::loopback() {
  return {*parse("127.0.0.0/8"), *parse("::1/128")};
}

bool Cidr::contains(const InetAddress& address) const {
  uint8_t b[16];
  to_bytes(address, b);
  const unsigned whole = prefix_ / 8, rest = prefix_ % 8;
  if (std::memcmp(b, bytes_, whole) != 0) return false;
  if (rest == 0) return true;
  const auto mask = static_cast<uint8_t>(0xff00u >> rest);
  return (b[whole] & mask) == bytes_[whole];
}

std::string Cidr::to_string() const {
  char text[INET6_ADDRSTRLEN] = {};
  if (v4_)
    ::inet_ntop(AF_INET, bytes_ + 12, text, sizeof text);
  else
    ::inet_ntop(AF_INET6, bytes_, text, sizeof text);
  return std::string(text) + '/' + std::to_string(v4_ ? prefix_ - 96 : prefix_);
}

}  // namespace reactor::net
