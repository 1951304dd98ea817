#include "reactor/http/router.h"

#include <algorithm>

namespace reactor::http {

Router& Router::route(std::string method, std::string path, RequestHandler handler) {
  routes_.push_back({std::move(method), std::move(path), false, std::move(handler)});
  return *this;
}

Router& Router::route_prefix(std::string method, std::string prefix, RequestHandler handler) {
  routes_.push_back({std::move(method), std::move(prefix), true, std::move(handler)});
  return *this;
}

bool Router::matches(const Route& route, std::string_view path) const {
  return route.prefix ? path.starts_with(route.path) : path == route.path;
}

void Router::dispatch(const Request& request, Responder responder) const {
  std::string_view method = request.method() == "HEAD" ? "GET" : request.method();
  const Route* best = nullptr;
  std::vector<std::string_view> allowed;
  for (const Route& r : routes_) {
    if (!matches(r, request.path())) continue;
    if (std::find(allowed.begin(), allowed.end(), r.method) == allowed.end()) {
      allowed.push_back(r.method);
      if (r.method == "GET") allowed.push_back("HEAD");
    }
    if (r.method != method) continue;
    // Exact beats prefix; among prefixes the longest wins.
    if (!best || (best->prefix && (!r.prefix || r.path.size() > best->path.size()))) best = &r;
  }
  if (best) return best->handler(request, std::move(responder));
  if (allowed.empty()) return responder.send(Response::text(404, "Not Found\n"));
  std::string allow;
  for (std::string_view m : allowed) {
    if (!allow.empty()) allow += ", ";
    allow += m;
  }
  responder.send(Response::text(405, "Method Not Allowed\n").header("Allow", std::move(allow)));
}

}  // namespace reactor::http
