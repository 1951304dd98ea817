// co_http_proxy: an HTTP server whose handler awaits another server. GET /anything is
// fetched from the backend (--backend-host, --backend-port) and its answer relayed; a
// backend that is down or answers garbage gets the client a 502, a slow one a 504.
#include <reactor/co/connect.h>
#include <reactor/co/http.h>
#include <reactor/co/time.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <optional>

#include "support/server_main.h"

using namespace reactor;

constexpr size_t kMaxResponse = 4 << 20;

// One exchange: connect, send the request, read the response to its end (the request asks
// the backend to close after it). Each step throws on failure, and when co::timeout stops
// the task, the step it is waiting in ends with operation_canceled.
co::Task<std::string> fetch(net::InetAddress backend, std::string request) {
  co::Connection c = co_await co::connect(backend);
  co_await c.write(request);
  std::string response;
  char buf[16 << 10];
  while (size_t n = co_await c.read_some(buf)) {
    if (response.size() + n > kMaxResponse)
      throw std::system_error(std::make_error_code(std::errc::message_size));
    response.append(buf, n);
  }
  co_return response;
}

// The value of the Content-Type field in a response head, or "".
std::string content_type(std::string_view head) {
  std::string lower(head);
  std::ranges::transform(lower, lower.begin(), [](unsigned char ch) { return std::tolower(ch); });
  size_t at = lower.find("\r\ncontent-type:");
  if (at == std::string::npos) return {};
  std::string_view value = head.substr(at + 15, head.find("\r\n", at + 15) - at - 15);
  size_t first = value.find_first_not_of(" \t"), last = value.find_last_not_of(" \t");
  return first == std::string_view::npos ? "" : std::string(value.substr(first, last - first + 1));
}

// "HTTP/1.1 200 OK\r\n<fields>\r\n\r\n<body>" as a Response, or nullopt if it is not one.
std::optional<http::Response> parse(std::string_view raw) {
  size_t head = raw.find("\r\n\r\n");
  int status = 0;
  if (!raw.starts_with("HTTP/1.") || head == std::string_view::npos || head < 12 ||
      std::from_chars(raw.data() + 9, raw.data() + 12, status).ptr != raw.data() + 12 ||
      status < 200 || status > 599)
    return std::nullopt;
  http::Response response(status);
  response.content_type(content_type(raw.substr(0, head + 2)));
  return std::move(response.body(std::string(raw.substr(head + 4))));
}

co::Task<http::Response> proxy(co::Request request, net::InetAddress backend,
                               std::chrono::milliseconds limit) {
  std::string ask = "GET " + std::string(request.target()) +
                    " HTTP/1.1\r\nHost: " + backend.to_string() + "\r\nConnection: close\r\n\r\n";
  try {
    // The whole exchange, connecting included, gets `limit`; then fetch() is stopped
    // wherever it waits, and its connection is closed as its frame goes.
    std::string raw = co_await co::timeout(fetch(backend, std::move(ask)), limit);
    if (auto response = parse(raw)) co_return std::move(*response);
    co_return http::Response::text(502, "the backend's answer is not HTTP\n");
  } catch (const std::system_error& e) {
    if (e.code() == std::errc::timed_out)
      co_return http::Response::text(504, "the backend did not answer in time\n");
    co_return http::Response::text(502, "the backend failed: " + e.code().message() + "\n");
  }
}

int main(int argc, char** argv) {
  examples::ServerMain app("co_http_proxy", "HTTP proxy of GET requests, on coroutines",
                           examples::Threads::any);
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  int timeout_ms = 5000;
  app.cli()
      .add_option("--backend-host", host, "the backend's address")
      ->capture_default_str()
      ->check(CLI::ValidIPV4);
  app.cli().add_option("--backend-port", port, "the backend's port")->required();
  app.cli()
      .add_option("--backend-timeout", timeout_ms, "ms an exchange with the backend may take")
      ->capture_default_str()
      ->check(CLI::Range(1, 3600 * 1000));
  return app.serve(argc, argv, [&](http::Router& router) {
    router.route_prefix("GET", "/",
                        co::handler(proxy, *net::InetAddress::parse(host, port),
                                    std::chrono::milliseconds(timeout_ms)));
  });
}
