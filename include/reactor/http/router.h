#pragma once
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "reactor/http/request.h"
#include "reactor/http/responder.h"

namespace reactor::http {

/// What answers a request: call responder.send() now or later. The Request (and every view
/// in it) is valid only during the call; copy what an asynchronous answer needs. A handler
/// that throws without having answered gets its client a 500 and "Connection: close"; the
/// exception is logged (reactor::log, level error) either way.
using RequestHandler = std::function<void(const Request& request, Responder responder)>;

/// Matches method and path. Exact paths win over prefixes, longer prefixes over shorter.
/// HEAD is served by a HEAD route if one matches (even a prefix route where a GET route is
/// exact), else by the GET route; the server drops the body either way, and a HEAD handler
/// may set Content-Length itself. A path no route matches gets 404; a matched path with
/// another method gets 405 and an Allow header.
class Router {
 public:
  Router& route(std::string method, std::string path, RequestHandler handler);
  Router& route_prefix(std::string method, std::string prefix, RequestHandler handler);

  void dispatch(const Request& request, Responder responder) const;
  /// The router as a RequestHandler (it must outlive the server).
  RequestHandler handler() const {
    return [this](const Request& r, Responder res) { dispatch(r, std::move(res)); };
  }

 private:
  struct Route {
    std::string method;
    std::string path;
    bool prefix;
    RequestHandler handler;
  };
  bool matches(const Route& route, std::string_view path) const;
  const Route* find(std::string_view method, std::string_view path) const;
  /// The Allow header for `path`: every method with a matching route, HEAD with GET.
  std::string allowed(std::string_view path) const;

  std::vector<Route> routes_;
};

}  // namespace reactor::http
