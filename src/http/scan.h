#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "http/char_class.h"

namespace reactor::http::detail {

// Bulk scans for the long runs of a request: line ends, the target, field values.
// Each returns the first byte in [i, end) that needs a closer look (or end); the bytes
// before it are surely plain. On x86-64 they test 16 bytes per step with SSE2, which is
// part of the baseline ABI (no -march flag needed):
//  - a 16-byte load is issued only where all 16 bytes lie inside the input, so nothing
//    past the caller's buffer is ever read (the guard-page tests fault on an over-read);
//  - near the end of the input the last block is loaded from size - 16 instead, and the
//    bits of bytes before i are shifted out; a hit at or past `end` (a later line) means
//    there is none in [i, end), so min() maps it to end and every answer is exact;
//  - an input shorter than 16 bytes, and every target without SSE2, use a byte loop.
inline constexpr std::uint64_t kOnes = 0x0101010101010101ull;

inline std::uint64_t load64(const char* p) {
  std::uint64_t x;
  std::memcpy(&x, p, sizeof x);
  return x;
}
inline std::uint32_t load32(const char* p) {
  std::uint32_t x;
  std::memcpy(&x, p, sizeof x);
  return x;
}

// `byte_hit(c)` says whether byte c needs a closer look; under SSE2, `block_hits(v)`
// says the same of the 16 bytes of v at once (as 0xFF bytes).
#if defined(__SSE2__)
inline __m128i load128(const char* p) {
  return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
}
inline unsigned movemask(__m128i v) {
  return static_cast<unsigned>(_mm_movemask_epi8(v));
}
inline std::size_t first_bit(unsigned mask) {
  return static_cast<std::size_t>(__builtin_ctz(mask));
}

template <typename BlockHits, typename ByteHit>
inline std::size_t first_hit(const char* p, std::size_t i, std::size_t end, std::size_t size,
                             BlockHits block_hits, ByteHit byte_hit) {
  if (size < 16) {
    while (i < end && !byte_hit(p[i])) ++i;
    return i;
  }
  for (; i < end; i += 16) {
    if (i + 16 > size) {  // the input's last bytes: reload its final 16, skip those before i
      const std::size_t at = size - 16;
      const unsigned hits = movemask(block_hits(load128(p + at))) >> (i - at);
      return hits != 0 ? std::min(i + first_bit(hits), end) : end;
    }
    const unsigned hits = movemask(block_hits(load128(p + i)));
    if (hits != 0) return std::min(i + first_bit(hits), end);
  }
  return end;
}
#else
template <typename ByteHit>
inline std::size_t first_hit(const char* p, std::size_t i, std::size_t end, std::size_t,
                             ByteHit byte_hit) {
  while (i < end && !byte_hit(p[i])) ++i;
  return i;
}
#endif

// The first `c` in [i, end), or end: memchr without its call and dispatch, which cost
// more than the search on lines this short.
inline std::size_t find_byte(const char* p, std::size_t i, std::size_t end, std::size_t size,
                             char c) {
  const auto byte_hit = [c](char b) { return b == c; };
#if defined(__SSE2__)
  const __m128i needle = _mm_set1_epi8(c);
  const auto block_hits = [needle](__m128i x) { return _mm_cmpeq_epi8(x, needle); };
  return first_hit(p, i, end, size, block_hits, byte_hit);
#else
  return first_hit(p, i, end, size, byte_hit);
#endif
}

// The first byte of [i, end) that is not SP..0x7E or obs-text, or end. HT stops it
// too; the caller's exact loop accepts it and goes on.
inline std::size_t skip_plain_value(const char* p, std::size_t i, std::size_t end,
                                    std::size_t size) {
  const auto byte_hit = [](char b) { return static_cast<unsigned char>(b) < 0x20 || b == 0x7f; };
#if defined(__SSE2__)
  const __m128i ctl_max = _mm_set1_epi8(0x1f);
  const __m128i del = _mm_set1_epi8(0x7f);
  // Unsigned x <= 0x1F exactly when min(x, 0x1F) == x.
  const auto block_hits = [ctl_max, del](__m128i x) {
    return _mm_or_si128(_mm_cmpeq_epi8(_mm_min_epu8(x, ctl_max), x), _mm_cmpeq_epi8(x, del));
  };
  return first_hit(p, i, end, size, block_hits, byte_hit);
#else
  return first_hit(p, i, end, size, byte_hit);
#endif
}

// The first byte of [i, end) that is not a request-target byte (0x21..0x7E except
// '#'), or end.
inline std::size_t skip_plain_target(const char* p, std::size_t i, std::size_t end,
                                     std::size_t size) {
  const auto byte_hit = [](char b) { return !is(b, kTarget); };
#if defined(__SSE2__)
  const __m128i space = _mm_set1_epi8(0x20);
  const __m128i del = _mm_set1_epi8(0x7f);
  const __m128i hash = _mm_set1_epi8('#');
  // Signed x > 0x20 is 0x21..0x7F: obs-text bytes are negative and fall out.
  const auto block_hits = [=](__m128i x) {
    const __m128i good = _mm_andnot_si128(
        _mm_or_si128(_mm_cmpeq_epi8(x, del), _mm_cmpeq_epi8(x, hash)), _mm_cmpgt_epi8(x, space));
    return _mm_cmpeq_epi8(good, _mm_setzero_si128());
  };
  return first_hit(p, i, end, size, block_hits, byte_hit);
#else
  return first_hit(p, i, end, size, byte_hit);
#endif
}

// Whether the token at p (validated tchar, length already equal) is `lower`, ignoring
// ASCII case, a word at a time: two overlapping loads cover 4-16 bytes, three 17-24.
// OR-ing 0x20 is exact for `lower` made of lowercase letters, digits and '-': the only
// bytes it turns into one of those, other than the byte itself, are 'A'-'Z' and the
// CTLs 0x10-0x19 and CR, which neither a token nor a field value may hold.
inline bool lower_equals(const char* p, std::string_view lower) {
  const std::size_t n = lower.size();
  const char* q = lower.data();
  if (n < 8) {
    constexpr std::uint32_t kCase = 0x20202020u;
    return ((load32(p) | kCase) == (load32(q) | kCase)) &&
           ((load32(p + n - 4) | kCase) == (load32(q + n - 4) | kCase));
  }
  constexpr std::uint64_t kCase = kOnes * 0x20;
  const auto same = [&](std::size_t at) {
    return (load64(p + at) | kCase) == (load64(q + at) | kCase);
  };
  return same(0) && same(n / 2 - 4) && same(n - 8);
}

// A field value or list element (no CTL, see above) equal to `lower` ignoring case.
inline bool is_named(std::string_view s, std::string_view lower) {
  return s.size() == lower.size() && lower_equals(s.data(), lower);
}

}  // namespace reactor::http::detail
