// The PROXY protocol header parser (haproxy's doc/proxy-protocol.txt, versions 1 and 2).
//
// The verdicts where the spec leaves a choice are listed in proxy_header.h.

#include "net/proxy_header.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <initializer_list>
#include <utility>

namespace reactor::net::detail {
namespace {

using State = ProxyParse::State;

ProxyParse need_more() {
  return {};
}

ProxyParse fail(std::string_view why) {
  ProxyParse p;
  p.state = State::error;
  p.error = why;
  return p;
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

bool is_hex(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// ---------------------------------------------------------------------------------
// Version 1: one text line. Each field is checked a character at a time, so that a
// field is refused by the first character no valid field could have there.

// A dotted quad, "192.168.0.1": four octets 0-255, no leading zeros.
class Ipv4Text {
 public:
  bool add(char c) {
    if (c == '.') {
      if (digits_ == 0 || octet_ == 3) return false;
      ++octet_;
      digits_ = 0;
      return true;
    }
    if (!is_digit(c) || (digits_ == 1 && bytes_[octet_] == 0)) return false;
    const unsigned value = bytes_[octet_] * 10u + static_cast<unsigned>(c - '0');
    if (value > 255) return false;
    bytes_[octet_] = static_cast<uint8_t>(value);
    ++digits_;
    return true;
  }
  bool complete() const { return octet_ == 3 && digits_ > 0; }
  InetAddress address(uint16_t port) const {
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    std::memcpy(&sa.sin_addr, bytes_, 4);
    return InetAddress::from_sockaddr(reinterpret_cast<const sockaddr*>(&sa), sizeof sa);
  }

 private:
  uint8_t bytes_[4] = {};
  unsigned octet_ = 0;
  unsigned digits_ = 0;
};

// An IPv6 address in text. While it arrives, what is cheap to know: the character set,
// the length, at most 4 characters between separators, one "::", 7 colons (8 with the
// "::"), only digits and 3 dots in an IPv4 tail ("::ffff:1.2.3.4"); inet_pton judges
// the whole.
class Ipv6Text {
 public:
  bool add(char c) {
    if (size_ == kMax || !(is_hex(c) || c == ':' || c == '.')) return false;
    if (dots_ > 0 && !is_digit(c) && c != '.') return false;
    if (c == ':') {
      if (++colons_ > 8) return false;
      if (size_ > 0 && text_[size_ - 1] == ':' && std::exchange(double_colon_, true)) return false;
      if (colons_ == 8 && !double_colon_) return false;  // 8 groups have 7 colons
    }
    if (c == '.' && ++dots_ > 3) return false;
    run_ = (c == ':' || c == '.') ? 0 : run_ + 1;
    if (run_ > 4) return false;
    text_[size_++] = c;
    return true;
  }
  bool complete() {
    text_[size_] = '\0';
    return ::inet_pton(AF_INET6, text_, &address_) == 1;
  }
  InetAddress address(uint16_t port) const {
    sockaddr_in6 sa{};
    sa.sin6_family = AF_INET6;
    sa.sin6_port = htons(port);
    sa.sin6_addr = address_;
    return InetAddress::from_sockaddr(reinterpret_cast<const sockaddr*>(&sa), sizeof sa);
  }

 private:
  static constexpr size_t kMax = 45;  // "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255"
  char text_[kMax + 1] = {};
  size_t size_ = 0;
  unsigned run_ = 0, colons_ = 0, dots_ = 0;
  bool double_colon_ = false;
  in6_addr address_{};
};

// A port, "0" to "65535", no leading zero.
class PortText {
 public:
  bool add(char c) {
    if (!is_digit(c) || (digits_ == 1 && value_ == 0)) return false;
    value_ = value_ * 10 + static_cast<unsigned>(c - '0');
    ++digits_;
    return value_ <= 65535;
  }
  bool complete() const { return digits_ > 0; }
  uint16_t value() const { return static_cast<uint16_t>(value_); }

 private:
  unsigned value_ = 0;
  unsigned digits_ = 0;
};

// One walk over the line: each call either moves past a whole piece (ok), runs out of
// input inside one that may still become valid (more), or meets a byte that it cannot
// hold (bad).
enum class Step : uint8_t { ok, more, bad };

class V1Reader {
 public:
  explicit V1Reader(std::string_view line) : line_(line) {}

  size_t position() const { return pos_; }

  Step literal(std::string_view text) {
    const size_t n = std::min(text.size(), line_.size() - pos_);
    if (line_.substr(pos_, n) != text.substr(0, n)) return Step::bad;
    pos_ += n;
    return n == text.size() ? Step::ok : Step::more;
  }

  // Which of `choices` the line goes on with; none of them: bad.
  Step one_of(std::initializer_list<std::string_view> choices, size_t& which) {
    const std::string_view rest = line_.substr(pos_);
    which = 0;
    for (const std::string_view choice : choices) {
      const size_t n = std::min(choice.size(), rest.size());
      if (rest.substr(0, n) == choice.substr(0, n)) {
        if (n < choice.size()) return Step::more;  // the choices share no whole prefix
        pos_ += n;
        return Step::ok;
      }
      ++which;
    }
    return Step::bad;
  }

  // Feeds characters to `text` up to `end`, which it moves past.
  template <typename Text>
  Step field(Text& text, char end) {
    for (; pos_ < line_.size(); ++pos_) {
      if (line_[pos_] == end) {
        ++pos_;
        return text.complete() ? Step::ok : Step::bad;
      }
      if (!text.add(line_[pos_])) return Step::bad;
    }
    return Step::more;
  }

  // After "UNKNOWN": CRLF, or a space and anything without CR or LF up to CRLF.
  Step rest_of_line() {
    if (pos_ == line_.size()) return Step::more;
    if (line_[pos_] != ' ' && line_[pos_] != '\r') return Step::bad;
    for (; pos_ < line_.size(); ++pos_) {
      if (line_[pos_] == '\n') return Step::bad;
      if (line_[pos_] == '\r') return literal("\r\n");
    }
    return Step::more;
  }

 private:
  std::string_view line_;
  size_t pos_ = 0;
};

// The verdict once the line's last piece is read: `step` from that piece, `why` its error.
ProxyParse settle(Step step, std::string_view why) {
  return step == Step::more ? need_more() : fail(why);
}

ProxyParse complete_v1(size_t consumed, std::optional<InetAddress> source,
                       std::optional<InetAddress> destination) {
  ProxyParse p;
  p.state = State::complete;
  p.consumed = consumed;
  p.header.version = 1;
  p.header.local = !source;
  p.header.source = source;
  p.header.destination = destination;
  return p;
}

// "SRC DST SPORT DPORT\r\n" after "TCP4 " or "TCP6 ".
template <typename Address>
ProxyParse parse_v1_addresses(V1Reader& reader) {
  Address source, destination;
  PortText source_port, destination_port;
  Step s = reader.field(source, ' ');
  if (s != Step::ok) return settle(s, "bad v1 source address");
  if ((s = reader.field(destination, ' ')) != Step::ok)
    return settle(s, "bad v1 destination address");
  if ((s = reader.field(source_port, ' ')) != Step::ok) return settle(s, "bad v1 source port");
  if ((s = reader.field(destination_port, '\r')) != Step::ok)
    return settle(s, "bad v1 destination port");
  if ((s = reader.literal("\n")) != Step::ok) return settle(s, "bad v1 line end");
  return complete_v1(reader.position(), source.address(source_port.value()),
                     destination.address(destination_port.value()));
}

ProxyParse parse_v1_line(std::string_view line) {
  V1Reader reader(line);
  Step s = reader.literal("PROXY ");
  if (s != Step::ok) return settle(s, "bad v1 signature");
  size_t protocol = 0;
  if ((s = reader.one_of({"TCP4 ", "TCP6 ", "UNKNOWN"}, protocol)) != Step::ok)
    return settle(s, "bad v1 protocol");
  if (protocol == 0) return parse_v1_addresses<Ipv4Text>(reader);
  if (protocol == 1) return parse_v1_addresses<Ipv6Text>(reader);
  if ((s = reader.rest_of_line()) != Step::ok) return settle(s, "bad v1 UNKNOWN line");
  return complete_v1(reader.position(), std::nullopt, std::nullopt);
}

ProxyParse parse_v1(std::string_view data) {
  ProxyParse p = parse_v1_line(data.substr(0, kProxyV1MaxBytes));
  // A valid line ends within kProxyV1MaxBytes, so wanting more past them is an error.
  if (p.state == State::need_more && data.size() >= kProxyV1MaxBytes)
    return fail("v1 line longer than 107 bytes");
  return p;
}

// ---------------------------------------------------------------------------------
// Version 2: a 16-byte fixed part, the address block its family implies, then TLVs.
//
//   0            12        13       14      16                    16+len
//   | signature  | ver|cmd | fam|tr | len   | addresses | TLV ... |

constexpr char kV2Signature[] = "\r\n\r\n\0\r\nQUIT\n";
constexpr size_t kV2SignatureBytes = sizeof kV2Signature - 1;
constexpr uint8_t kCommandLocal = 0x0, kCommandProxy = 0x1;
constexpr uint8_t kTcp4 = 0x11, kTcp6 = 0x21;
constexpr uint8_t kTypeCrc32c = 0x03;
constexpr size_t kTlvHeaderBytes = 3;

uint8_t byte_at(std::string_view data, size_t i) {
  return static_cast<uint8_t>(data[i]);
}

uint16_t u16_at(std::string_view data, size_t i) {
  return static_cast<uint16_t>(byte_at(data, i) << 8 | byte_at(data, i + 1));
}

// Checks the 14 bytes before the length, as far as they came. `block` gets the size of
// the address block the family implies.
std::string_view check_v2_prefix(std::string_view data, size_t& block) {
  const size_t n = std::min(data.size(), kV2SignatureBytes);
  if (data.substr(0, n) != std::string_view(kV2Signature, n)) return "bad v2 signature";
  if (data.size() <= 12) return {};
  const uint8_t version = byte_at(data, 12) >> 4, command = byte_at(data, 12) & 0xf;
  if (version != 2) return "bad v2 version";
  if (command != kCommandLocal && command != kCommandProxy) return "bad v2 command";
  if (data.size() <= 13) return {};
  const uint8_t family = byte_at(data, 13) >> 4, transport = byte_at(data, 13) & 0xf;
  if (family > 3 || transport > 2) return "bad v2 family";
  static constexpr size_t kBlock[] = {0, 12, 36, 216};
  block = kBlock[family];
  if (command == kCommandProxy && transport == 2) return "unsupported v2 family";
  if (command == kCommandProxy && family == 3) return "unsupported v2 family";
  return {};
}

// Walks the TLVs in header[from, total) as far as `header` reaches, so that a TLV that
// overruns the header fails as soon as its length arrives. `crc_at` gets the offset of
// a CRC32C value, or stays 0.
std::string_view walk_v2_tlvs(std::string_view header, size_t from, size_t total, size_t& crc_at) {
  for (size_t at = from; at < total;) {
    if (total - at < kTlvHeaderBytes) return "v2 TLV overruns the header";
    if (header.size() < at + kTlvHeaderBytes) return {};
    const size_t length = u16_at(header, at + 1);
    if (length > total - at - kTlvHeaderBytes) return "v2 TLV overruns the header";
    if (byte_at(header, at) == kTypeCrc32c) {
      if (length != 4) return "bad v2 CRC32C TLV length";
      if (crc_at != 0) return "second v2 CRC32C TLV";
      crc_at = at + kTlvHeaderBytes;
    }
    at += kTlvHeaderBytes + length;
  }
  return {};
}

// The whole header's CRC32C with the 4 bytes at `at` read as zeros.
bool crc32c_matches(std::string_view header, size_t at) {
  const uint32_t sent = static_cast<uint32_t>(u16_at(header, at)) << 16 | u16_at(header, at + 2);
  uint32_t crc = crc32c(header.substr(0, at));
  crc = crc32c(std::string_view("\0\0\0\0", 4), crc);
  crc = crc32c(header.substr(at + 4), crc);
  return crc == sent;
}

ProxyHeader v2_addresses(std::string_view header) {
  ProxyHeader h;
  h.version = 2;
  const uint8_t family = byte_at(header, 13);
  if ((byte_at(header, 12) & 0xf) == kCommandLocal || (family != kTcp4 && family != kTcp6)) {
    h.local = true;
    return h;
  }
  const size_t at = kProxyV2FixedBytes, bytes = family == kTcp4 ? 4 : 16;
  const uint16_t ports[2] = {u16_at(header, at + 2 * bytes), u16_at(header, at + 2 * bytes + 2)};
  for (size_t i = 0; i < 2; ++i) {
    sockaddr_storage ss{};
    if (family == kTcp4) {
      auto* sa = reinterpret_cast<sockaddr_in*>(&ss);
      sa->sin_family = AF_INET;
      sa->sin_port = htons(ports[i]);
      std::memcpy(&sa->sin_addr, header.data() + at + i * bytes, bytes);
    } else {
      auto* sa = reinterpret_cast<sockaddr_in6*>(&ss);
      sa->sin6_family = AF_INET6;
      sa->sin6_port = htons(ports[i]);
      std::memcpy(&sa->sin6_addr, header.data() + at + i * bytes, bytes);
    }
    (i == 0 ? h.source : h.destination) =
        InetAddress::from_sockaddr(reinterpret_cast<const sockaddr*>(&ss), sizeof ss);
  }
  return h;
}

ProxyParse parse_v2(std::string_view data) {
  size_t block = 0;
  if (const std::string_view why = check_v2_prefix(data, block); !why.empty()) return fail(why);
  if (data.size() < kProxyV2FixedBytes) return need_more();
  const size_t length = u16_at(data, 14);
  if (length < block) return fail("v2 length shorter than its addresses");
  if (length > kProxyV2MaxLength) return fail("v2 header too long");
  const size_t total = kProxyV2FixedBytes + length;
  const std::string_view header = data.substr(0, total);
  size_t crc_at = 0;
  const std::string_view why = walk_v2_tlvs(header, kProxyV2FixedBytes + block, total, crc_at);
  if (!why.empty()) return fail(why);
  if (header.size() < total) return need_more();
  if (crc_at != 0 && !crc32c_matches(header, crc_at)) return fail("CRC32C mismatch");
  ProxyParse p;
  p.state = State::complete;
  p.consumed = total;
  p.header = v2_addresses(header);
  return p;
}

constexpr std::array<uint32_t, 256> make_crc32c_table() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int bit = 0; bit < 8; ++bit) c = (c & 1) != 0 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    table[i] = c;
  }
  return table;
}

constexpr std::array<uint32_t, 256> kCrc32cTable = make_crc32c_table();

}  // namespace

ProxyParse parse_proxy_header(std::string_view data) {
  if (data.empty()) return need_more();
  if (data[0] == 'P') return parse_v1(data);
  if (data[0] == '\r') return parse_v2(data);
  return fail("not a PROXY protocol header");
}

uint32_t crc32c(std::string_view data, uint32_t crc) {
  crc = ~crc;
  for (const char c : data) crc = kCrc32cTable[(crc ^ static_cast<uint8_t>(c)) & 0xff] ^ (crc >> 8);
  return ~crc;
}

}  // namespace reactor::net::detail
