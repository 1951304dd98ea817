#pragma once
// Coroutine HTTP handlers: co::Task<http::Response> functions on the same http::Router.
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "reactor/co/spawn.h"
#include "reactor/co/task.h"
#include "reactor/http/request.h"
#include "reactor/http/response.h"
#include "reactor/http/router.h"

namespace reactor::co {

/// An owning copy of an http::Request: a coroutine handler outlives the parser's buffer
/// the original points into, so it gets this instead (same accessors). Its views point
/// into one allocation of its own, which a move keeps and a copy duplicates.
class Request {
 public:
  explicit Request(const http::Request& request);
  Request(const Request& other);
  Request(Request&&) noexcept = default;
  Request& operator=(const Request& other) { return *this = Request(other); }
  Request& operator=(Request&&) noexcept = default;
  ~Request() = default;

  std::string_view method() const noexcept { return method_; }
  std::string_view target() const noexcept { return target_; }
  std::string_view path() const noexcept { return path_; }
  std::string_view query() const noexcept { return query_; }
  http::Version version() const noexcept { return version_; }
  std::span<const http::Header> headers() const noexcept { return headers_; }
  std::optional<std::string_view> header(std::string_view name) const noexcept;
  std::string_view body() const noexcept { return body_; }
  bool keep_alive() const noexcept { return keep_alive_; }

 private:
  std::string_view rebased(std::string_view view, const Request& from) const noexcept;

  // Method, target, header names and values, body: one allocation. Not a std::string, whose
  // move copies a short string's bytes (into its own small buffer) and so would leave the
  // views behind.
  std::unique_ptr<char[]> storage_;
  std::size_t size_ = 0;
  std::string_view method_, target_, path_, query_, body_;
  std::vector<http::Header> headers_;  // views into storage_
  http::Version version_;
  bool keep_alive_;
};

namespace detail {
using CoRequestHandler = std::function<Task<http::Response>(Request)>;
/// Runs the handler's coroutine on the calling thread's loop and sends what it returns.
http::RequestHandler make_handler(CoRequestHandler handler);
}  // namespace detail

/// An http::RequestHandler that runs `fn(co::Request, args...)` — a coroutine function
/// returning Task<http::Response> — for each request; `fn` and `args` are copied and the
/// Request moved into its frame (so `fn` may take `const co::Request&`: by value is one
/// more copy). It may co_await any I/O (co::connect to a backend, say) without blocking
/// the loop.
/// Register it like any handler: `router.route("GET", "/x", co::handler(fn))`. An
/// exception escaping it answers 500 with "Connection: close" and is logged, as for a
/// plain handler; if the connection closed meanwhile, the response is dropped.
template <class F, class... Args>
http::RequestHandler handler(F fn, Args... args) {
  return detail::make_handler([fn = std::move(fn), ... args = std::move(args)](Request request) {
    return co::invoke(fn, std::move(request), args...);  // qualified: no ADL to std::invoke
  });
}

}  // namespace reactor::co
