#include "http/parser.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "core/check.h"

// Why the choices listed in parser.h lean strict: every request this parser accepts
// may also pass through a proxy or cache with its own parser. Where RFC 9112 lets a
// recipient be lenient (bare LF, duplicate Content-Length, obs-fold, whitespace in
// odd places), two lenient parsers rarely agree on where a message ends, and that
// disagreement is request smuggling. No conforming client needs the leniency.

namespace reactor::http::detail {

namespace {

constexpr unsigned kMaxLeadingEmptyLines = 4;
constexpr std::size_t kMaxChunkLine = 1024;      // hex size + extensions, without CRLF
constexpr std::size_t kMaxChunkExtBytes = 4096;  // summed over the chunks of one request
constexpr std::size_t kInitialFieldCapacity = 32;
constexpr std::size_t kKeptBodyCapacity = 64 << 10;
// Spans are 32-bit; these caps keep every offset of a request head below 2^32.
constexpr std::size_t kMaxHeadLimit = std::size_t{1} << 30;

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

constexpr std::array<std::uint8_t, 256> kCharClass = make_char_classes();

inline bool is(char c, std::uint8_t cls) {
  return (kCharClass[static_cast<unsigned char>(c)] & cls) != 0;
}
inline bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
inline bool is_ows(char c) {
  return c == ' ' || c == '\t';
}

bool all_of_class(std::string_view s, std::uint8_t cls) {
  return std::all_of(s.begin(), s.end(), [cls](char c) { return is(c, cls); });
}

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

// Calls f on each non-empty element of a comma-separated list (RFC 9110 §5.6.1:
// empty elements are ignored); stops early when f returns false.
template <typename F>
bool for_each_element(std::string_view list, F&& f) {
  std::size_t i = 0;
  while (i <= list.size()) {
    std::size_t comma = list.find(',', i);
    if (comma == std::string_view::npos) comma = list.size();
    const std::string_view element = trim_ows(list.substr(i, comma - i));
    if (!element.empty() && !f(element)) return false;
    i = comma + 1;
  }
  return true;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The authority grammar of RFC 3986 §3.2.2-3.2.3, as RFC 9112 uses it for Host and
// for the absolute-form and authority-form targets (see the verdicts in parser.h).

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

enum class Port : std::uint8_t { optional, required };

// authority = uri-host [":" port], without userinfo. The host must not be empty: the
// "http" and "https" schemes forbid it (RFC 9110 §4.2.1-4.2.2). port = *DIGIT, so
// "host:" is accepted unless the port is required (CONNECT, RFC 9110 §9.3.6).
// The byte right after `a` must be readable and be neither reg-name, '%' nor a digit, so
// that it stops the scans: every caller has one there, the CR or OWS after a Host value,
// the SP after a CONNECT target, the '/', '?' or SP after an absolute-form authority.
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

// chunk-ext = *( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] )
bool valid_chunk_ext(std::string_view s) {
  std::size_t i = 0;
  const std::size_t n = s.size();
  auto skip_bws = [&] {
    while (i < n && is_ows(s[i])) ++i;
  };
  while (i < n) {
    skip_bws();
    if (i == n || s[i] != ';') return false;
    ++i;
    skip_bws();
    const std::size_t name = i;
    while (i < n && is(s[i], kToken)) ++i;
    if (i == name) return false;
    const std::size_t after_name = i;
    skip_bws();
    if (i == n || s[i] != '=') {
      i = after_name;  // trailing BWS is only allowed before ';' or '='
      continue;
    }
    ++i;
    skip_bws();
    if (i < n && s[i] == '"') {
      for (++i; i < n && s[i] != '"'; ++i) {
        if (s[i] == '\\' && ++i == n) return false;
        if (!is(s[i], kFieldValue)) return false;
      }
      if (i == n) return false;
      ++i;
    } else {
      const std::size_t value = i;
      while (i < n && is(s[i], kToken)) ++i;
      if (i == value) return false;
    }
  }
  return true;
}

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
constexpr std::uint64_t kOnes = 0x0101010101010101ull;

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
std::size_t first_hit(const char* p, std::size_t i, std::size_t end, std::size_t size,
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
std::size_t first_hit(const char* p, std::size_t i, std::size_t end, std::size_t,
                      ByteHit byte_hit) {
  while (i < end && !byte_hit(p[i])) ++i;
  return i;
}
#endif

// The first `c` in [i, end), or end: memchr without its call and dispatch, which cost
// more than the search on lines this short.
std::size_t find_byte(const char* p, std::size_t i, std::size_t end, std::size_t size, char c) {
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
std::size_t skip_plain_value(const char* p, std::size_t i, std::size_t end, std::size_t size) {
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
std::size_t skip_plain_target(const char* p, std::size_t i, std::size_t end, std::size_t size) {
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

// The usual Host, checked 16 bytes at once: a name of letters, digits, '.' and '-'
// (a reg-name, so also every IPv4address), optionally ':' and digits. True only for
// values the full grammar accepts; false sends anything else (pct-encoding, brackets,
// sub-delims, or fewer than 16 readable bytes) to valid_authority.
bool plain_host(std::string_view value, std::size_t readable) {
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

// Whether the token at p (validated tchar, length already equal) is `lower`, ignoring
// ASCII case, a word at a time: two overlapping loads cover 4-16 bytes, three 17-24.
// OR-ing 0x20 is exact for `lower` made of lowercase letters, digits and '-': the only
// bytes it turns into one of those, other than the byte itself, are 'A'-'Z' and the
// CTLs 0x10-0x19 and CR, which neither a token nor a field value may hold.
bool lower_equals(const char* p, std::string_view lower) {
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
bool is_named(std::string_view s, std::string_view lower) {
  return s.size() == lower.size() && lower_equals(s.data(), lower);
}

}  // namespace

RequestParser::RequestParser(const Limits& limits) : limits_(limits) {
  limits_.max_request_line = std::min(limits_.max_request_line, kMaxHeadLimit);
  limits_.max_header_bytes = std::min(limits_.max_header_bytes, kMaxHeadLimit);
  fields_.reserve(kInitialFieldCapacity);
  request_.headers_.reserve(kInitialFieldCapacity);
}

// Runs once per keep-alive request, so it assigns members one by one rather than
// rebuilding the Request (which would also drop the headers vector's capacity).
void RequestParser::reset() noexcept {
  phase_ = Phase::leading;
  result_ = {State::need_more, 0, 0, {}};
  pos_ = scan_ = seen_ = block_start_ = body_start_ = 0;
  leading_lines_ = 0;
  method_ = target_ = path_ = query_ = Span{};
  root_path_ = target_has_authority_ = false;
  fields_.clear();
  trailer_count_ = 0;
  host_count_ = 0;
  has_content_length_ = has_transfer_encoding_ = false;
  te_chunked_last_ = te_other_coding_ = false;
  te_chunked_count_ = 0;
  content_length_ = chunk_left_ = 0;
  chunk_ext_bytes_ = 0;
  if (!body_.empty()) {
    body_.clear();
    // One huge chunked upload should not pin its buffer for the connection's life.
    if (body_.capacity() > kKeptBodyCapacity) std::string().swap(body_);
  }
  request_.method_ = request_.target_ = request_.path_ = request_.query_ = {};
  request_.headers_.clear();
  request_.body_ = {};
  request_.version_ = Version::http_1_1;
  request_.connection_close_ = request_.connection_keep_alive_ = false;
  request_.expects_continue_ = false;
  bound_ = false;
}

RequestParser::Result RequestParser::parse(std::string_view in) {
  if (phase_ == Phase::failed) return result_;
  REACTOR_CHECK(in.size() >= seen_,
                "RequestParser::parse: input must start at the request and keep every byte");
  seen_ = in.size();
  while (step(in)) {
  }
  if (phase_ == Phase::failed) return result_;
  // A repeated call after complete re-points the views in case the buffer moved.
  if (headers_done()) bind_views(in);
  if (phase_ != Phase::done) return {State::need_more, 0, 0, {}};
  result_ = {State::complete, pos_, 0, {}};
  return result_;
}

// One move of the state machine; false when it must wait for input or has finished.
// A request head usually arrives whole, so its phases fall through into each other
// instead of coming back through the caller's loop once per phase.
bool RequestParser::step(std::string_view in) {
  std::size_t lf = 0;
  switch (phase_) {
    case Phase::leading:
      if (!skip_leading_lines(in)) return false;
      [[fallthrough]];
    case Phase::request_line:
      if (!next_line(in, pos_ + limits_.max_request_line + 2, lf, 414, "request line too long") ||
          !parse_request_line(in, lf)) {
        return false;
      }
      [[fallthrough]];
    case Phase::headers:
      while (next_line(in, block_start_ + limits_.max_header_bytes, lf, 431,
                       "header block too large")) {
        if (!parse_field_line(in, lf)) return false;
        if (phase_ != Phase::headers) return phase_ != Phase::done;
      }
      return false;
    case Phase::trailers:
      return next_line(in, block_start_ + limits_.max_header_bytes, lf, 431,
                       "trailer block too large") &&
             parse_field_line(in, lf);
    case Phase::body:
      if (in.size() - body_start_ < content_length_) return false;
      pos_ = body_start_ + static_cast<std::size_t>(content_length_);
      phase_ = Phase::done;
      return false;
    case Phase::chunk_size:
      return next_line(in, pos_ + kMaxChunkLine + 2, lf, 400, "chunk size line too long") &&
             parse_chunk_size(in, lf);
    case Phase::chunk_data:
      return read_chunk_data(in);
    case Phase::chunk_crlf:
      return expect_chunk_crlf(in);
    case Phase::done:
    case Phase::failed:
      return false;
  }
  return false;
}

// Looks for the LF ending the line at pos_, resuming where the last call stopped
// so no byte goes through memchr twice. `bound` is the first offset the LF may
// not reach; the search never reads past it, so junk cannot make us scan far.
// True when the line is complete; otherwise waits for input or fails with `status`.
bool RequestParser::next_line(std::string_view in, std::size_t bound, std::size_t& lf, int status,
                              std::string_view too_long) {
  scan_ = std::max(scan_, pos_);
  const std::size_t stop = std::min(in.size(), bound);
  if (scan_ < stop) {
    lf = find_byte(in.data(), scan_, stop, in.size(), '\n');
    if (lf < stop) {
      scan_ = lf + 1;
      return true;
    }
    scan_ = stop;
  }
  return in.size() >= bound ? fail(status, too_long) : false;
}

bool RequestParser::skip_leading_lines(std::string_view in) {
  while (pos_ < in.size()) {
    if (in[pos_] == '\n') return fail(400, "bare LF line ending");
    if (in[pos_] != '\r') {
      phase_ = Phase::request_line;
      return true;
    }
    if (pos_ + 1 == in.size()) return false;
    if (in[pos_ + 1] != '\n') return fail(400, "CR not followed by LF");
    if (++leading_lines_ > kMaxLeadingEmptyLines) {
      return fail(400, "too many empty lines before the request");
    }
    pos_ += 2;
  }
  return false;
}

//   method SP request-target SP HTTP-version CRLF
//   ^pos_  ^i              ^t  ^v           ^end  ^lf
bool RequestParser::parse_request_line(std::string_view in, std::size_t lf) {
  if (in[lf - 1] != '\r') return fail(400, "bare LF line ending");
  const char* p = in.data();
  const std::size_t begin = pos_;
  const std::size_t end = lf - 1;
  // p[end] is the CR, which is neither tchar nor a target byte: it stops both loops
  // without a bound check.
  std::size_t i = begin;
  while (is(p[i], kToken)) ++i;
  if (i == begin || p[i] != ' ') return fail(400, "malformed method");
  method_ = span(begin, i);
  const std::size_t t = ++i;
  i = skip_plain_target(p, i, end, in.size());
  while (is(p[i], kTarget)) ++i;
  if (i == t) return fail(400, "missing request-target");
  if (i == end) return fail(400, "missing HTTP-version");
  if (p[i] != ' ') return fail(400, "invalid character in request-target");
  target_ = span(t, i);
  const std::string_view v(p + i + 1, end - i - 1);
  if (v.size() != 8 || v.substr(0, 5) != "HTTP/" || !is_digit(v[5]) || v[6] != '.' ||
      !is_digit(v[7])) {
    return fail(400, "malformed HTTP-version");
  }
  if (v[5] != '1') return fail(505, "unsupported HTTP major version");
  request_.version_ = v[7] == '0' ? Version::http_1_0 : Version::http_1_1;
  if (!classify_target(in)) return false;
  pos_ = block_start_ = lf + 1;
  phase_ = Phase::headers;
  return true;
}

// RFC 9112 §3.2: origin-form for everything, asterisk-form only for OPTIONS,
// authority-form only (and always) for CONNECT, absolute-form for any but CONNECT.
bool RequestParser::classify_target(std::string_view in) {
  const std::string_view method = view(in, method_);
  const std::string_view target = view(in, target_);
  const bool connect = method == "CONNECT";
  const std::size_t begin = target_.offset;
  const std::size_t end = begin + target.size();
  if (target.front() == '/') {
    if (connect) return fail(400, "CONNECT requires an authority-form target");
    split_path_query(in, begin, end);
    return true;
  }
  if (target == "*") {
    if (method != "OPTIONS") return fail(400, "asterisk-form target outside OPTIONS");
    path_ = query_ = span(end, end);
    return true;
  }
  if (connect) {
    if (!valid_authority(target, Port::required)) {
      return fail(400, "malformed authority-form target");
    }
    target_has_authority_ = true;
    path_ = query_ = span(end, end);
    return true;
  }
  // absolute-form, restricted to URIs with an authority: scheme "://" authority ...
  std::size_t i = 0;
  const bool alpha = (target[0] | 0x20) >= 'a' && (target[0] | 0x20) <= 'z';
  while (i < target.size() && is(target[i], kScheme)) ++i;
  if (!alpha || target.substr(i, 3) != "://") return fail(400, "malformed request-target");
  const std::size_t authority = i + 3;
  const std::size_t path = std::min(target.find_first_of("/?", authority), target.size());
  if (!valid_authority(target.substr(authority, path - authority), Port::optional)) {
    return fail(400, "malformed authority in absolute-form target");
  }
  target_has_authority_ = true;
  split_path_query(in, begin + path, end);
  root_path_ = path_.length == 0;
  return true;
}

void RequestParser::split_path_query(std::string_view in, std::size_t begin, std::size_t end) {
  const std::size_t mark = find_byte(in.data(), begin, end, in.size(), '?');
  path_ = span(begin, mark);
  query_ = mark < end ? span(mark + 1, end) : span(end, end);
}

//   field-name ":" OWS field-value OWS CRLF
//   ^pos_      ^i      ^v          ^last ^end ^lf
bool RequestParser::parse_field_line(std::string_view in, std::size_t lf) {
  if (lf == pos_ || in[lf - 1] != '\r') return fail(400, "bare LF line ending");
  const char* p = in.data();
  const std::size_t begin = pos_;
  const std::size_t end = lf - 1;
  pos_ = lf + 1;
  if (begin == end) return phase_ == Phase::headers ? finish_headers() : finish_trailers();

  const bool trailer = phase_ == Phase::trailers;
  const std::size_t count = trailer ? ++trailer_count_ : fields_.size() + 1;
  if (count > limits_.max_headers) {
    return fail(431, trailer ? "too many trailer fields" : "too many header fields");
  }
  if (is_ows(p[begin])) return fail(400, "obs-fold or whitespace before a field line");
  // p[end] is the CR, which is neither tchar nor OWS: it stops the name and OWS loops
  // without a bound check.
  std::size_t i = begin;
  while (is(p[i], kToken)) ++i;
  if (p[i] != ':') {
    return fail(400, is_ows(p[i]) ? "whitespace after field name" : "invalid field name");
  }
  if (i == begin) return fail(400, "empty field name");
  const std::size_t colon = i;
  for (++i; is_ows(p[i]);) ++i;
  const std::size_t v = i;
  // The hot loop of the parser: most value bytes go sixteen (or eight) at a time.
  for (i = skip_plain_value(p, i, end, in.size()); i < end; ++i) {
    if (!is(p[i], kFieldValue)) return fail(400, "invalid character in field value");
  }
  std::size_t last = end;
  while (last > v && is_ows(p[last - 1])) --last;
  if (trailer) return true;
  fields_.push_back({span(begin, colon), span(v, last)});
  return interpret_field(std::string_view(p + begin, colon - begin),
                         std::string_view(p + v, last - v), in.size() - v);
}

// The fields that change framing or connection handling; others pass through.
// `readable`: how many bytes from value.data() on lie inside the input.
bool RequestParser::interpret_field(std::string_view name, std::string_view value,
                                    std::size_t readable) {
  switch (name.size()) {
    case 4:
      if (!lower_equals(name.data(), "host")) break;
      if (++host_count_ > 1) return fail(400, "more than one Host");
      // An empty Host is only meaningful when the target carries the authority.
      if (value.empty() ? !target_has_authority_
                        : !plain_host(value, readable) && !valid_authority(value, Port::optional)) {
        return fail(400, "invalid Host");
      }
      break;
    case 6:
      // RFC 9110 §10.1.1: a 100-continue expectation in HTTP/1.0 is ignored.
      if (lower_equals(name.data(), "expect") && is_named(value, "100-continue") &&
          request_.version_ == Version::http_1_1) {
        request_.expects_continue_ = true;
      }
      break;
    case 10:
      if (!lower_equals(name.data(), "connection")) break;
      for_each_element(value, [this](std::string_view option) {
        if (is_named(option, "close")) request_.connection_close_ = true;
        if (is_named(option, "keep-alive")) request_.connection_keep_alive_ = true;
        return true;
      });
      break;
    case 14:
      if (lower_equals(name.data(), "content-length")) return set_content_length(value);
      break;
    case 17:
      if (lower_equals(name.data(), "transfer-encoding")) return add_transfer_codings(value);
      break;
    default:
      break;
  }
  return true;
}

bool RequestParser::set_content_length(std::string_view value) {
  if (has_content_length_) return fail(400, "more than one Content-Length");
  has_content_length_ = true;
  if (value.empty()) return fail(400, "empty Content-Length");
  constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();
  std::uint64_t n = 0;
  for (const char c : value) {
    if (!is_digit(c)) return fail(400, "Content-Length is not a decimal number");
    const auto digit = static_cast<std::uint64_t>(c - '0');
    if (n > (kMax - digit) / 10) return fail(400, "Content-Length overflows");
    n = n * 10 + digit;
  }
  content_length_ = n;
  return true;
}

// Field lines combine into one list; finish_headers() judges the whole of it.
bool RequestParser::add_transfer_codings(std::string_view value) {
  has_transfer_encoding_ = true;
  return for_each_element(value, [this](std::string_view coding) {
    if (!all_of_class(coding, kToken)) return fail(400, "malformed Transfer-Encoding");
    const bool chunked = is_named(coding, "chunked");
    te_chunked_count_ += chunked ? 1 : 0;
    te_other_coding_ = te_other_coding_ || !chunked;
    te_chunked_last_ = chunked;
    return true;
  });
}

// RFC 9112 §6.3: decide the body length once, from the complete header block.
bool RequestParser::finish_headers() {
  const bool http11 = request_.version_ == Version::http_1_1;
  if (http11 && host_count_ == 0) return fail(400, "missing Host");
  if (has_transfer_encoding_) {
    if (!http11) return fail(400, "Transfer-Encoding in an HTTP/1.0 request");
    if (has_content_length_) return fail(400, "both Content-Length and Transfer-Encoding");
    if (!te_chunked_last_) return fail(400, "chunked is not the final transfer coding");
    if (te_chunked_count_ > 1) return fail(400, "chunked applied more than once");
    if (te_other_coding_) return fail(501, "unsupported transfer coding");
    phase_ = Phase::chunk_size;
    return true;
  }
  if (content_length_ > limits_.max_body) return fail(413, "Content-Length over the limit");
  body_start_ = pos_;
  phase_ = content_length_ == 0 ? Phase::done : Phase::body;
  return true;
}

bool RequestParser::finish_trailers() {
  phase_ = Phase::done;
  return true;
}

//   chunk-size [ chunk-ext ] CRLF
bool RequestParser::parse_chunk_size(std::string_view in, std::size_t lf) {
  if (lf == pos_ || in[lf - 1] != '\r') return fail(400, "bare LF line ending");
  const std::size_t begin = pos_;
  const std::size_t end = lf - 1;
  pos_ = lf + 1;
  std::uint64_t size = 0;
  std::size_t i = begin;
  for (int digit = 0; i < end && (digit = hex_value(in[i])) >= 0; ++i) {
    if (size >> 60 != 0) return fail(400, "chunk size overflows");
    size = size << 4 | static_cast<std::uint64_t>(digit);
  }
  if (i == begin) return fail(400, "missing chunk size");
  if (i < end) {
    chunk_ext_bytes_ += end - i;
    if (chunk_ext_bytes_ > kMaxChunkExtBytes) return fail(400, "chunk extensions too long");
    if (!valid_chunk_ext(in.substr(i, end - i))) return fail(400, "malformed chunk extension");
  }
  if (size == 0) {
    block_start_ = pos_;
    phase_ = Phase::trailers;
    return true;
  }
  // body_ never exceeds max_body, so the subtraction cannot wrap.
  if (size > limits_.max_body - body_.size()) return fail(413, "chunked body over the limit");
  chunk_left_ = size;
  phase_ = Phase::chunk_data;
  return true;
}

// Chunk data is copied as it arrives, so each byte is handled once however the
// input is split; the copy is the price of handing out one contiguous body.
bool RequestParser::read_chunk_data(std::string_view in) {
  const std::size_t available = in.size() - pos_;
  if (available == 0) return false;
  const std::size_t take =
      static_cast<std::size_t>(std::min<std::uint64_t>(available, chunk_left_));
  body_.append(in.data() + pos_, take);
  pos_ += take;
  chunk_left_ -= take;
  if (chunk_left_ != 0) return false;
  phase_ = Phase::chunk_crlf;
  return true;
}

bool RequestParser::expect_chunk_crlf(std::string_view in) {
  const std::size_t available = in.size() - pos_;
  if ((available >= 1 && in[pos_] != '\r') || (available >= 2 && in[pos_ + 1] != '\n')) {
    return fail(400, "chunk data not followed by CRLF");
  }
  if (available < 2) return false;
  pos_ += 2;
  phase_ = Phase::chunk_size;
  return true;
}

bool RequestParser::fail(int status, std::string_view reason) {
  phase_ = Phase::failed;
  result_ = {State::error, pos_, status, reason};
  return false;
}

// Turns the stored offsets into views of `in`. The head is re-pointed only when
// the caller's buffer moved (rare: it grows geometrically), so trickling a body in
// costs nothing per call. bound_base_ is compared, never dereferenced.
void RequestParser::bind_views(std::string_view in) {
  const auto base = reinterpret_cast<std::uintptr_t>(in.data());
  if (!bound_ || base != bound_base_) {
    request_.method_ = view(in, method_);
    request_.target_ = view(in, target_);
    request_.path_ = root_path_ ? std::string_view("/") : view(in, path_);
    request_.query_ = view(in, query_);
    request_.headers_.clear();
    for (const FieldSpan& f : fields_) {
      request_.headers_.push_back({view(in, f.name), view(in, f.value)});
    }
    bound_ = true;
    bound_base_ = base;
  }
  if (phase_ != Phase::done) return;
  request_.body_ =
      has_transfer_encoding_
          ? std::string_view(body_)
          : std::string_view(in.data() + body_start_, static_cast<std::size_t>(content_length_));
}

}  // namespace reactor::http::detail
