#include "http/wire.h"

#include <charconv>
#include <cstring>
#include <ctime>

#include "reactor/http/request.h"

namespace reactor::http::detail {
namespace {

constexpr std::string_view kClose = "Connection: close\r\n";
constexpr std::string_view kKeepAlive = "Connection: keep-alive\r\n";
constexpr std::string_view kContentLength = "Content-Length: ";
constexpr std::string_view kContentType = "Content-Type: ";
constexpr size_t kMaxDigits = 20;  // of a size_t, or of an int with its sign

char* put(char* p, std::string_view s) {
  if (!s.empty()) std::memcpy(p, s.data(), s.size());  // an empty view may hold nullptr
  return p + s.size();
}

template <typename Number>
char* put_number(char* p, Number n) {
  return std::to_chars(p, p + kMaxDigits, n).ptr;
}

}  // namespace

std::string_view date_header() {
  // strftime on every response would cost more than the rest of the header; the text
  // changes once a second.
  thread_local std::time_t cached_second = -1;
  thread_local char text[64];
  thread_local size_t length = 0;
  std::time_t now = std::time(nullptr);
  if (now != cached_second) {
    cached_second = now;
    std::tm tm{};
    gmtime_r(&now, &tm);
    length = std::strftime(text, sizeof text, "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
  }
  return {text, length};
}

// Sizes the whole head first and writes it with one prepare(): a response is a dozen
// short pieces, and a bounds check and call per piece cost more than the copying.
void write_response(net::Buffer& out, const Response& response, bool head,
                    ConnectionHeader connection) {
  const int status = response.status();
  // 1xx, 204 and 304 responses end at the blank line (RFC 9112 §6.3); 1xx and 204 must
  // not carry Content-Length, and for 304 it would have to describe a body we do not know.
  const bool bodiless = status < 200 || status == 204 || status == 304;
  const std::string_view reason = reason_phrase(status);
  const std::string_view date = date_header();
  const std::string_view body = bodiless || head ? std::string_view() : response.body();
  const std::string_view connection_line = connection == ConnectionHeader::close ? kClose
                                           : connection == ConnectionHeader::keep_alive
                                               ? kKeepAlive
                                               : std::string_view();
  size_t size = 9 + kMaxDigits + 1 + reason.size() + 2 + date.size() + connection_line.size() + 2;
  const std::string_view type = response.content_type();
  if (!type.empty()) size += kContentType.size() + type.size() + 2;
  for (const auto& [name, value] : response.headers()) size += name.size() + 2 + value.size() + 2;
  if (!bodiless) size += kContentLength.size() + kMaxDigits + 2;
  size += body.size();

  // The length is the server's to state: a handler's own Content-Length is dropped, except
  // on a HEAD answer, where it tells the length a GET would have had (RFC 9110 §8.6).
  std::string_view length_given;
  char* const start = out.prepare(size);
  char* p = put(start, "HTTP/1.1 ");
  p = put_number(p, status);
  *p++ = ' ';
  p = put(p, reason);
  p = put(p, "\r\n");
  p = put(p, date);
  if (!type.empty()) {
    p = put(p, kContentType);
    p = put(p, type);
    p = put(p, "\r\n");
  }
  for (const auto& [name, value] : response.headers()) {
    if (iequals(name, "Content-Length")) {
      length_given = value;
      continue;
    }
    p = put(p, name);
    p = put(p, ": ");
    p = put(p, value);
    p = put(p, "\r\n");
  }
  if (!bodiless) {
    p = put(p, kContentLength);
    p = head && !length_given.empty() ? put(p, length_given)
                                      : put_number(p, response.body().size());
    p = put(p, "\r\n");
  }
  p = put(p, connection_line);
  p = put(p, "\r\n");
  p = put(p, body);
  out.commit(static_cast<size_t>(p - start));
}

}  // namespace reactor::http::detail
