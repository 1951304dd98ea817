#pragma once
// An HTTP/1.x request as the parser hands it to the server: a read-only view.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace reactor::http {

namespace detail {
class RequestParser;
}

/// The protocol versions the parser accepts. HTTP/1.x with x > 1 is read as 1.1
/// (RFC 9110 §2.5: a higher minor version is backward compatible).
enum class Version : std::uint8_t { http_1_0, http_1_1 };

/// One header field line, exactly as received: name case preserved, value without
/// surrounding whitespace. Repeated fields stay separate lines, in arrival order.
struct Header {
  std::string_view name;
  std::string_view value;
};

/// ASCII case-insensitive equality: how HTTP compares field names and most tokens.
/// Locale-free on purpose (RFC 9110 §5.1); std::tolower would consult the C locale.
constexpr bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x + ('a' - 'A'));
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y + ('a' - 'A'));
    if (x != y) return false;
  }
  return true;
}

/// A parsed request. Every string_view points into bytes the Request does not own:
/// the connection's input buffer (request line, headers, Content-Length body) or the
/// parser's decoded chunked body. It is valid until that buffer is consumed or the
/// parser is reset — copy out what must outlive the handler.
class Request {
 public:
  /// The method token, case-sensitive ("GET", "POST", or anything token-shaped).
  std::string_view method() const noexcept { return method_; }
  /// The raw request-target: "/a/b?x=1", "http://host/a", "*" or "host:443".
  std::string_view target() const noexcept { return target_; }
  /// The path of the target, still percent-encoded; "/" for an absolute-form target
  /// without one; empty for the asterisk and authority forms.
  std::string_view path() const noexcept { return path_; }
  /// What follows the first '?' of the target (without the '?'); empty if none.
  std::string_view query() const noexcept { return query_; }
  Version version() const noexcept { return version_; }

  std::span<const Header> headers() const noexcept { return headers_; }
  /// The value of the first field named `name` (compared case-insensitively).
  std::optional<std::string_view> header(std::string_view name) const noexcept;

  /// The message body; for a chunked request, the decoded data (trailers dropped).
  std::string_view body() const noexcept { return body_; }

  /// Whether the connection may carry another request after this one (RFC 9112 §9.3):
  /// HTTP/1.1 unless "Connection: close"; HTTP/1.0 only with "Connection: keep-alive".
  bool keep_alive() const noexcept {
    if (connection_close_) return false;
    return version_ == Version::http_1_1 || connection_keep_alive_;
  }
  /// True for "Expect: 100-continue" in HTTP/1.1: the client waits for an interim
  /// response before sending the body.
  bool expects_continue() const noexcept { return expects_continue_; }

 private:
  friend class detail::RequestParser;

  std::string_view method_;
  std::string_view target_;
  std::string_view path_;
  std::string_view query_;
  std::vector<Header> headers_;
  std::string_view body_;
  Version version_ = Version::http_1_1;
  bool connection_close_ = false;
  bool connection_keep_alive_ = false;
  bool expects_continue_ = false;
};

}  // namespace reactor::http
