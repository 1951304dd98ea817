// url_echo [PORT]: seed 5's Server/Loop URL-echo HTTP server on reactor's http::Server and
// Router: GET /anything answers "anything". The Python's edge-triggered read loop never ends
// once a client closes (recv() returns b"" forever), a malformed request line kills it, its
// Content-Length counts characters, not bytes, and no answered connection is closed or
// unregistered. The http layer parses incrementally, answers bad requests with a status, and
// keeps a connection alive or closes it as HTTP says. 30 lines; the tutorial's Python: 95.
#include <reactor/http/server.h>

#include <string>
#include <string_view>

#include "example.h"
using namespace reactor;

int main(int argc, char** argv) {
  EventLoop loop;
  example::stop_on_signals(loop);
  http::Router router;
  router.route_prefix("GET", "/", [](const http::Request& request, http::Responder responder) {
    std::string_view url = request.target();  // as sent, query included
    if (url.starts_with('/')) url.remove_prefix(1);
    responder.send(
        http::Response::text(200, std::string(url.empty() ? "add a path to the URL" : url)));
  });
  auto at = net::InetAddress::loopback_ipv4(example::port_arg(argc, argv, 1, 9999));
  http::Server server(loop, at, router.handler());
  server.start();
  example::announce(server.address());
  loop.run();
}
