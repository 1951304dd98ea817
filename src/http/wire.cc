#include "http/wire.h"

#include <charconv>
#include <cstring>
#include <ctime>

namespace reactor::http::detail {
namespace {

void put(net::Buffer& out, std::string_view s) { out.append(s); }

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

void write_response(net::Buffer& out, const Response& response, bool head,
                    ConnectionHeader connection) {
  char number[24];
  auto status = std::to_chars(number, number + sizeof number, response.status()).ptr;
  put(out, "HTTP/1.1 ");
  put(out, {number, static_cast<size_t>(status - number)});
  put(out, " ");
  put(out, reason_phrase(response.status()));
  put(out, "\r\n");
  put(out, date_header());
  for (const auto& [name, value] : response.headers()) {
    put(out, name);
    put(out, ": ");
    put(out, value);
    put(out, "\r\n");
  }
  // 1xx, 204 and 304 responses end at the blank line (RFC 9112 §6.3); 1xx and 204 must
  // not carry Content-Length, and for 304 it would have to describe a body we do not know.
  const int status_code = response.status();
  const bool bodiless = status_code < 200 || status_code == 204 || status_code == 304;
  if (!bodiless) {
    auto end = std::to_chars(number, number + sizeof number, response.body().size()).ptr;
    put(out, "Content-Length: ");
    put(out, {number, static_cast<size_t>(end - number)});
    put(out, "\r\n");
  }
  if (connection == ConnectionHeader::close) put(out, "Connection: close\r\n");
  if (connection == ConnectionHeader::keep_alive) put(out, "Connection: keep-alive\r\n");
  put(out, "\r\n");
  if (!head && !bodiless) put(out, response.body());
}

}  // namespace reactor::http::detail
