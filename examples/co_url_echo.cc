// co_url_echo [PORT]: url_echo with its handler written as a coroutine (co::handler): the
// same Router and http::Server, and a handler that could co_await I/O (a backend, a timer)
// between reading the request and answering, without blocking the loop or keeping a
// callback's state by hand. 30 lines; the tutorial's Python: 95 (seed 5, as url_echo).
#include <reactor/co/http.h>
#include <reactor/http/server.h>

#include <string>
#include <string_view>

#include "example.h"
using namespace reactor;

co::Task<http::Response> echo_url(co::Request request) {  // owns its copy of the request
  std::string_view url = request.target();                // as sent, query included
  if (url.starts_with('/')) url.remove_prefix(1);
  co_return http::Response::text(200, std::string(url.empty() ? "add a path to the URL" : url));
}

int main(int argc, char** argv) {
  EventLoop loop;
  example::stop_on_signals(loop);
  http::Router router;
  router.route_prefix("GET", "/", co::handler(echo_url));
  auto at = net::InetAddress::loopback_ipv4(example::port_arg(argc, argv, 1, 9999));
  http::Server server(loop, at, router.handler());
  server.start();
  example::announce(server.address());
  loop.run();
}
