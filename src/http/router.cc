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

const Router::Route* Router::find(std::string_view method, std::string_view path) const {
  const Route* best = nullptr;
  for (const Route& r : routes_) {
    if (r.method != method || !matches(r, path)) continue;
    if (!r.prefix) return &r;  // exact beats prefix, and the first exact route wins
    if (!best || r.path.size() > best->path.size()) best = &r;  // the longest prefix wins
  }
  return best;
}

void Router::dispatch(const Request& request, Responder responder) const {
  const Route* route = find(request.method(), request.path());
  if (!route && request.method() == "HEAD") route = find("GET", request.path());
  if (route) return route->handler(request, std::move(responder));
  std::string allow = allowed(request.path());
  if (allow.empty()) return responder.send(Response::text(404, "Not Found\n"));
  responder.send(Response::text(405, "Method Not Allowed\n").header("Allow", std::move(allow)));
}

std::string Router::allowed(std::string_view path) const {
  std::vector<std::string_view> methods;
  auto add = [&](std::string_view m) {
    if (std::find(methods.begin(), methods.end(), m) == methods.end()) methods.push_back(m);
  };
  for (const Route& r : routes_) {
    if (!matches(r, path)) continue;
    add(r.method);
    if (r.method == "GET") add("HEAD");
  }
  std::string allow;
  for (std::string_view m : methods) {
    if (!allow.empty()) allow += ", ";
    allow += m;
  }
  return allow;
}

}  // namespace reactor::http
