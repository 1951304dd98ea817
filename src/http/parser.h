#pragma once
// The HTTP/1.1 request parser: pure (bytes in, verdict out), incremental and
// zero-copy. It never touches a descriptor or a buffer it does not get passed.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "reactor/http/request.h"

namespace reactor::http::detail {

/// Upper bounds that keep a hostile peer from making us buffer without end.
struct Limits {
  std::size_t max_request_line = 8192;   ///< without CRLF; longer -> 414
  std::size_t max_header_bytes = 65536;  ///< header (and trailer) block with CRLFs -> 431
  std::size_t max_headers = 100;         ///< field lines (and trailer lines) -> 431
  std::size_t max_body = 16 << 20;       ///< decoded body -> 413
  friend bool operator==(const Limits&, const Limits&) = default;
};

// Verdicts where RFC 9112 leaves a choice (the tests pin each one):
//   bare LF as a line end ................................. 400 (CRLF only)
//   up to 4 empty lines (CRLF) before a request ........... skipped (§2.2)
//   HTTP/1.x, x > 1 ....................................... read as HTTP/1.1 (RFC 9110 §2.5)
//   other well-formed HTTP/d.d (0.9, 2.0, 3.0) ............ 505
//   HTTP/2 preface "PRI * HTTP/2.0" ....................... 505 (version checked before form)
//   no version ("GET /", HTTP/0.9), "http/1.1", "HTTP/1.10" 400
//   asterisk-form outside OPTIONS, CONNECT not authority .. 400
//   absolute-form: scheme "://" authority required; userinfo 400
//   '#' or non-ASCII byte in the request-target ........... 400
//   obs-fold, whitespace before ':' or a first field line . 400
//   missing Host (1.1), two Host fields ................... 400
//   Host not uri-host [":" port] (RFC 3986 §3.2.2-3.2.3) .. 400: reg-name with every '%'
//     followed by 2 HEXDIG; "[" IPv6address / IPvFuture "]"; IPv4address is read as a
//     reg-name (the RFC's first-match rule makes "1.2.3.999" a name, not an error);
//     userinfo '@', an IPv6 zone id ("%25" inside brackets, RFC 6874 is not part of
//     RFC 3986) and any non-digit in the port are rejected
//   empty port ("h:", "http://h:/") ....................... accepted: port = *DIGIT, and
//     RFC 9110 §4.2.3 reads it as the default port; CONNECT needs digits (§9.3.6)
//   port with many digits or > 65535 ...................... accepted (grammar only; the
//     port is the application's to judge)
//   empty host before a port (":80", "http://:80/") ....... 400 (RFC 9110 §4.2.1: "http"
//     and "https" URIs need a host)
//   empty Host field value ................................ 400 for origin-form and '*'
//     (the target URI would have no authority; RFC 9112 §3.3 lets us reject), accepted
//     for absolute-form and authority-form, whose target supplies the authority (§3.3)
//   the same authority rule checks absolute-form and CONNECT targets (empty port too)
//   Content-Length not exactly 1*DIGIT, or overflowing .... 400
//   second Content-Length field, even identical; "5, 5" .. 400
//   Content-Length > max_body ............................. 413 (before any body byte)
//   Content-Length together with Transfer-Encoding ........ 400
//   Transfer-Encoding on HTTP/1.0 ......................... 400
//   chunked not last, chunked twice, element not a token .. 400
//   another coding before a final chunked ("gzip, chunked") 501
//   chunk size: no digit, > 64 bits, whitespace not before ';' 400
//   chunk size line > 1 KiB, extensions > 4 KiB per request 400
//   decoded chunked body > max_body ....................... 413 (at the chunk size line)
//   trailer fields: checked like header fields, then dropped; limits 431
//   "Expect: 100-continue" in HTTP/1.0 .................... ignored (RFC 9110 §10.1.1)
//   request line > max_request_line ....................... 414
//   header block > max_header_bytes, fields > max_headers . 431

/// Parses one request at a time out of a connection's input, strictly per RFC 9112.
/// Each call gets the whole input from the first byte of the current request; the
/// parser keeps offsets (never pointers), so the caller's buffer may move between
/// calls. No byte is re-scanned by a later call (each is searched once for its line
/// end, then validated once when its line is whole), so feeding one byte at a time
/// costs O(n) in total. Not thread-safe; one parser per connection.
class RequestParser {
 public:
  enum class State : std::uint8_t { complete, need_more, error };

  struct Result {
    State state;
    /// complete: bytes this request occupies (leading empty lines included); the
    /// bytes after it (a pipelined request) were not looked at. need_more: 0.
    /// error: where the problem was found (diagnostic only).
    std::size_t consumed;
    /// error: 400, 413, 414, 431, 501 or 505; 0 otherwise. After an error the
    /// framing is lost: answer with this status and close the connection.
    int status;
    /// error: what was wrong, for logs (not a reason phrase); empty otherwise.
    std::string_view reason;
  };

  explicit RequestParser(const Limits& limits = Limits{});

  /// Advances over `input`, which must start at the current request's first byte
  /// and hold at least the bytes of the previous call. After complete or error the
  /// same result is returned until reset() (after complete, with request() re-pointed
  /// at this `input`).
  Result parse(std::string_view input);

  /// Valid once headers_done(): request line and headers view the `input` of the
  /// latest parse() call. The body is set only when parse() returned complete.
  const Request& request() const noexcept { return request_; }

  /// True once the header block is parsed and accepted, so the server can look at
  /// request() (e.g. expects_continue()) and send "100 Continue" before the body.
  bool headers_done() const noexcept { return phase_ >= Phase::body && phase_ != Phase::failed; }

  /// Forgets the current request, keeping allocated capacity, for the next one.
  void reset() noexcept;

  /// True when this parser was made with `limits`: between requests it can then serve
  /// any connection that wants those.
  bool made_for(const Limits& limits) const noexcept { return asked_ == limits; }

 private:
  // Where parsing resumes. Each phase owns a contiguous range of the input:
  //
  //   [CRLF...] request-line CRLF *(field-line CRLF) CRLF [body]
  //   ^leading  ^request_line      ^headers                ^body / chunk_* / trailers
  //
  //   chunked body:  chunk_size -> chunk_data -> chunk_crlf -> chunk_size ...
  //                  chunk_size("0") -> trailers -> done
  enum class Phase : std::uint8_t {
    leading,
    request_line,
    headers,
    body,
    chunk_size,
    chunk_data,
    chunk_crlf,
    trailers,
    done,
    failed,
  };

  // An offset/length pair into the input; the input moves, offsets do not.
  struct Span {
    std::uint32_t offset = 0;
    std::uint32_t length = 0;
  };
  struct FieldSpan {
    Span name;
    Span value;
  };

  static Span span(std::size_t begin, std::size_t end) {
    return {static_cast<std::uint32_t>(begin), static_cast<std::uint32_t>(end - begin)};
  }
  static std::string_view view(std::string_view in, Span s) {
    return {in.data() + s.offset, s.length};
  }

  inline bool step(std::string_view in);
  inline bool next_line(std::string_view in, std::size_t bound, std::size_t& lf, int status,
                        std::string_view too_long);
  inline bool skip_leading_lines(std::string_view in);
  inline bool parse_request_line(std::string_view in, std::size_t lf);
  inline bool classify_target(std::string_view in);
  inline void split_path_query(std::string_view in, std::size_t begin, std::size_t end);
  inline bool parse_field_line(std::string_view in, std::size_t lf);
  inline bool interpret_field(std::string_view name, std::string_view value, std::size_t readable);
  bool set_content_length(std::string_view value);
  bool add_transfer_codings(std::string_view value);
  inline bool finish_headers();
  bool finish_trailers();
  bool parse_chunk_size(std::string_view in, std::size_t lf);
  bool read_chunk_data(std::string_view in);
  bool expect_chunk_crlf(std::string_view in);
  bool fail(int status, std::string_view reason);
  inline void bind_views(std::string_view in);

  Limits asked_;   // as given to the constructor
  Limits limits_;  // as applied
  Phase phase_ = Phase::leading;
  Result result_{State::need_more, 0, 0, {}};

  // Offsets into the input (see the diagram above).
  std::size_t pos_ = 0;          // first byte the current phase has not consumed
  std::size_t scan_ = 0;         // bytes in [pos_, scan_) are known to hold no LF
  std::size_t seen_ = 0;         // input size of the previous call
  std::size_t block_start_ = 0;  // first byte of the header or trailer block
  std::size_t body_start_ = 0;
  unsigned leading_lines_ = 0;

  Span method_, target_, path_, query_;
  bool root_path_ = false;             // absolute-form target without a path: path() is "/"
  bool target_has_authority_ = false;  // absolute-form or authority-form
  std::vector<FieldSpan> fields_;
  std::size_t trailer_count_ = 0;

  // Header semantics gathered while the field lines go by.
  unsigned host_count_ = 0;
  bool has_content_length_ = false;
  bool has_transfer_encoding_ = false;
  bool te_chunked_last_ = false;
  bool te_other_coding_ = false;
  unsigned te_chunked_count_ = 0;
  std::uint64_t content_length_ = 0;

  // Chunked decoding: the decoded body lives here, since chunks are not contiguous.
  std::uint64_t chunk_left_ = 0;
  std::size_t chunk_ext_bytes_ = 0;
  std::string body_;

  Request request_;
  std::uintptr_t bound_base_ = 0;  // input.data() the views were made from (compared only)
  bool bound_ = false;
};

}  // namespace reactor::http::detail
