#pragma once
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace reactor::http {

/// A response under construction: status, Content-Type, other headers and body. A status
/// outside 100-599 (RFC 9110 §15) throws std::invalid_argument where it is set, so a
/// handler's mistake surfaces in the handler (as a logged 500, see RequestHandler).
/// The server adds Date, Content-Length (a handler's own counts only in an answer to HEAD)
/// and Connection itself; a HEAD request gets the same headers, no body. Content-Type has a place
/// of its own, so that the common response (a short type and body) allocates nothing.
class Response {
 public:
  /// Throws std::invalid_argument for a status outside 100-599.
  explicit Response(int status = 200) : status_(checked(status)) {}

  /// Throws std::invalid_argument for a status outside 100-599.
  Response& status(int code) {
    status_ = checked(code);
    return *this;
  }
  Response& header(std::string name, std::string value) {
    headers_.emplace_back(std::move(name), std::move(value));
    return *this;
  }
  /// Sets (replaces) the Content-Type; empty: none is sent.
  Response& content_type(std::string value) {
    content_type_ = std::move(value);
    return *this;
  }
  Response& body(std::string bytes) {
    body_ = std::move(bytes);
    return *this;
  }

  int status() const { return status_; }
  const std::string& content_type() const { return content_type_; }
  /// The headers added with header(), in order (Content-Type is not among them).
  const std::vector<std::pair<std::string, std::string>>& headers() const { return headers_; }
  const std::string& body() const { return body_; }

  /// A plain-text response, e.g. Response::text(404, "not found\n").
  static Response text(int status, std::string body);

 private:
  static int checked(int status) {
    if (status < 100 || status > 599) reject_status(status);
    return status;
  }
  [[noreturn]] static void reject_status(int status);

  int status_;
  std::string content_type_;
  std::vector<std::pair<std::string, std::string>> headers_;
  std::string body_;
};

/// The standard reason phrase for a status code ("OK", "Not Found"), or "Unknown".
std::string_view reason_phrase(int status);

}  // namespace reactor::http
