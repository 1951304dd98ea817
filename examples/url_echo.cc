// url_echo [PORT]: seed 5's Server/Loop URL-echo HTTP server on reactor's http::Server and
// Router: GET /anything answers "anything". The Python's edge-triggered read loop never ends
// once a client closes (recv() returns b"" forever), a malformed request line kills it, its
// Content-Length counts characters, not bytes, and no answered connection is closed or
// unregistered. The http layer parses incrementally, answers bad requests with a status, and
// keeps a connection alive or closes it as HTTP says. 27 lines; the tutorial's Python: 95.
#include <reactor/http/server.h>

#include <string>

#include "example.h"
using namespace reactor;

int main(int argc, char** argv) {
  EventLoop loop;
  example::stop_on_signals(loop);
  http::Router router;
  router.route_prefix("GET", "/", [](const http::Request& request, http::Responder responder) {
    std::string url(request.target().substr(1));  // as sent, query included, without its '/'
    responder.send(http::Response::text(200, url.empty() ? "add a path to the URL" : url));
  });
  auto at = net::InetAddress::loopback_ipv4(example::port_arg(argc, argv, 1, 9999));
  http::Server server(loop, at, router.handler());
  server.start();
  example::announce(server.address());
  loop.run();
}
