#pragma once
// The authority grammar of RFC 3986 §3.2.2-3.2.3 (host and port), as RFC 9112 uses it for
// Host and for the absolute-form and authority-form targets (verdicts in parser.h).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "http/scan.h"

namespace reactor::http::detail {

enum class Port : std::uint8_t { optional, required };

// authority = uri-host [":" port], without userinfo. The host must not be empty: the
// "http" and "https" schemes forbid it (RFC 9110 §4.2.1-4.2.2). port = *DIGIT, so
// "host:" is accepted unless the port is required (CONNECT, RFC 9110 §9.3.6).
// The byte right after `a` must be readable and be neither reg-name, '%' nor a digit, so
// that it stops the scans: every caller has one there, the CR or OWS after a Host value,
// the SP after a CONNECT target, the '/', '?' or SP after an absolute-form authority.
bool valid_authority(std::string_view a, Port port);

// The usual Host, checked 16 bytes at once: a name of letters, digits, '.' and '-'
// (a reg-name, so also every IPv4address), optionally ':' and digits. True only for
// values the full grammar accepts; false sends anything else (pct-encoding, brackets,
// sub-delims, or fewer than 16 readable bytes) to valid_authority.
inline bool plain_host(std::string_view value, std::size_t readable) {
#if defined(__SSE2__)
  const std::size_t n = value.size();
  if (n > 16 || readable < 16) return false;
  const __m128i x = load128(value.data());
  // Unsigned b <= k exactly when min(b, k) == b; b - 'a' wraps for bytes below 'a'.
  const auto at_most = [](__m128i b, char k) {
    return _mm_cmpeq_epi8(_mm_min_epu8(b, _mm_set1_epi8(k)), b);
  };
  // b | 0x20 lands in 'a'..'z' for letters of either case and for no other byte.
  const __m128i letter =
      at_most(_mm_sub_epi8(_mm_or_si128(x, _mm_set1_epi8(0x20)), _mm_set1_epi8('a')), 25);
  const __m128i digit = at_most(_mm_sub_epi8(x, _mm_set1_epi8('0')), 9);
  const __m128i mark =
      _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('.')), _mm_cmpeq_epi8(x, _mm_set1_epi8('-')));
  const unsigned all = (1u << n) - 1;
  const unsigned name = movemask(_mm_or_si128(_mm_or_si128(letter, digit), mark)) & all;
  const unsigned colon = movemask(_mm_cmpeq_epi8(x, _mm_set1_epi8(':'))) & all;
  if (colon == 0) return n > 0 && name == all;
  const unsigned host = (colon & -colon) - 1;    // the bytes before the first ':'
  const unsigned port = all & ~(host << 1 | 1);  // the bytes after it
  return host != 0 && (name & host) == host && (movemask(digit) & port) == port;
#else
  (void)value;
  (void)readable;
  return false;
#endif
}

}  // namespace reactor::http::detail
