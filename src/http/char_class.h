#pragma once
// The character classes of HTTP/1.1 and URI syntax (RFC 9110 §5.6.2, RFC 3986 §2-3), one
// lookup table for every check of the parser and the authority grammar.
#include <algorithm>
#include <array>
#include <cstdint>
#include <string_view>

namespace reactor::http::detail {

enum : std::uint8_t {
  kToken = 1,       // tchar (RFC 9110 §5.6.2)
  kFieldValue = 2,  // HT, SP, VCHAR, obs-text
  kTarget = 4,      // VCHAR except '#': a request-target never carries a fragment
  kRegName = 8,     // unreserved / sub-delims (RFC 3986 §3.2.2), without '%'
  kScheme = 16,     // ALPHA / DIGIT / "+" / "-" / "."
};

constexpr std::array<std::uint8_t, 256> make_char_classes() {
  std::array<std::uint8_t, 256> table{};
  constexpr std::string_view token_marks = "!#$%&'*+-.^_`|~";
  constexpr std::string_view reg_name_marks = "-._~!$&'()*+,;=";
  constexpr std::string_view scheme_marks = "+-.";
  for (int c = 0; c < 256; ++c) {
    const char ch = static_cast<char>(c);
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    const bool vchar = c > 0x20 && c < 0x7f;
    std::uint8_t bits = 0;
    if (alnum || (vchar && token_marks.find(ch) != std::string_view::npos)) bits |= kToken;
    if (c == '\t' || (c >= 0x20 && c != 0x7f)) bits |= kFieldValue;
    if (vchar && c != '#') bits |= kTarget;
    if (alnum || (vchar && reg_name_marks.find(ch) != std::string_view::npos)) bits |= kRegName;
    if (alnum || (vchar && scheme_marks.find(ch) != std::string_view::npos)) bits |= kScheme;
    table[static_cast<std::size_t>(c)] = bits;
  }
  return table;
}

inline constexpr std::array<std::uint8_t, 256> kCharClass = make_char_classes();

inline bool is(char c, std::uint8_t cls) {
  return (kCharClass[static_cast<unsigned char>(c)] & cls) != 0;
}
inline bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
inline bool is_ows(char c) {
  return c == ' ' || c == '\t';
}

inline bool all_of_class(std::string_view s, std::uint8_t cls) {
  return std::all_of(s.begin(), s.end(), [cls](char c) { return is(c, cls); });
}

inline std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

inline int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace reactor::http::detail
