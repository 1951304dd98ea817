#include "http/parser.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>

#include "core/check.h"
#include "http/authority.h"
#include "http/char_class.h"
#include "http/scan.h"

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

Limits clamped(Limits limits) {
  limits.max_request_line = std::min(limits.max_request_line, kMaxHeadLimit);
  limits.max_header_bytes = std::min(limits.max_header_bytes, kMaxHeadLimit);
  return limits;
}

}  // namespace

RequestParser::RequestParser(const Limits& limits) : asked_(limits), limits_(clamped(limits)) {
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
