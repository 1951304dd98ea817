#include "http/authority.h"

#include "http/char_class.h"

namespace reactor::http::detail {
namespace {

// IPv4address = dec-octet "." dec-octet "." dec-octet "." dec-octet; dec-octet is
// 0-255 without a leading zero.
bool valid_ipv4(std::string_view s) {
  std::size_t i = 0;
  for (int octet = 0; octet < 4; ++octet) {
    if (octet > 0 && (i == s.size() || s[i++] != '.')) return false;
    const std::size_t start = i;
    unsigned value = 0;
    while (i < s.size() && i - start < 3 && is_digit(s[i])) value = value * 10 + (s[i++] - '0');
    if (i == start || value > 255 || (i - start > 1 && s[start] == '0')) return false;
  }
  return i == s.size();
}

// IPv6address: eight h16 groups of 1-4 HEXDIG, the last two of which may be written
// as an IPv4address; one "::" stands for one or more groups of zeros.
bool valid_ipv6(std::string_view s) {
  std::size_t i = 0;
  int groups = 0;
  bool gap = s.substr(0, 2) == "::";
  if (gap) i = 2;
  while (i < s.size()) {
    std::size_t j = i;
    while (j < s.size() && j - i < 4 && hex_value(s[j]) >= 0) ++j;
    if (j < s.size() && s[j] == '.') {  // ls32 as an IPv4address ends the literal
      if (!valid_ipv4(s.substr(i))) return false;
      groups += 2;
      break;
    }
    if (j == i) return false;
    ++groups;
    i = j;
    if (i == s.size()) break;
    if (s[i++] != ':' || i == s.size()) return false;  // a single trailing ':' is not "::"
    if (s[i] == ':') {
      if (gap) return false;
      gap = true;
      ++i;
    }
  }
  return gap ? groups <= 7 : groups == 8;
}

// IPvFuture = "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" )
bool valid_ipvfuture(std::string_view s) {
  if (s.empty() || (s[0] | 0x20) != 'v') return false;
  std::size_t i = 1;
  while (i < s.size() && hex_value(s[i]) >= 0) ++i;
  if (i == 1 || i + 1 >= s.size() || s[i] != '.') return false;
  for (++i; i < s.size(); ++i) {
    if (!is(s[i], kRegName) && s[i] != ':') return false;
  }
  return true;
}

// Where the host of `a` ends: after "]" of an IP-literal, or at the first byte that is
// not reg-name (unreserved / sub-delims / pct-encoded). npos when the host is malformed.
std::size_t host_end(std::string_view a) {
  if (!a.empty() && a[0] == '[') {
    const std::size_t close = a.find(']');
    if (close == std::string_view::npos) return std::string_view::npos;
    const std::string_view literal = a.substr(1, close - 1);
    return valid_ipv6(literal) || valid_ipvfuture(literal) ? close + 1 : std::string_view::npos;
  }
  // s[a.size()] is readable and ends the run (see valid_authority): no bound check.
  const char* s = a.data();
  std::size_t i = 0;
  for (;;) {
    while (is(s[i], kRegName)) ++i;
    if (s[i] != '%') return i;
    if (i + 2 >= a.size() || hex_value(a[i + 1]) < 0 || hex_value(a[i + 2]) < 0) {
      return std::string_view::npos;
    }
    i += 3;
  }
}

}  // namespace

bool valid_authority(std::string_view a, Port port) {
  const std::size_t end = host_end(a);
  if (end == 0 || end == std::string_view::npos) return false;
  if (end == a.size()) return port == Port::optional;
  if (a[end] != ':') return false;
  if (end + 1 == a.size()) return port == Port::optional;
  const char* s = a.data();
  std::size_t i = end + 1;
  while (is_digit(s[i])) ++i;
  return i == a.size();
}

}  // namespace reactor::http::detail
