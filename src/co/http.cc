#include "reactor/co/http.h"

#include <cstring>
#include <functional>

#include "core/check.h"
#include "http/responder_access.h"

namespace reactor::co {
namespace {

// Whether `part` lies inside `whole` (std::less: a total order even across objects).
bool within(std::string_view part, std::string_view whole) {
  std::less<const char*> before;
  return !before(part.data(), whole.data()) &&
         !before(whole.data() + whole.size(), part.data() + part.size());
}

// Fills one allocation front to back with copies of the original's pieces.
class Packer {
 public:
  explicit Packer(char* out) : out_(out) {}
  std::string_view put(std::string_view bytes) {
    char* at = out_ + used_;
    if (!bytes.empty()) std::memcpy(at, bytes.data(), bytes.size());
    used_ += bytes.size();
    return {at, bytes.size()};
  }

 private:
  char* out_;
  std::size_t used_ = 0;
};

}  // namespace

// The path and query are views into the target, except where the parser made one up (the
// "/" of an absolute-form target without a path): only those get bytes of their own.
Request::Request(const http::Request& request)
    : version_(request.version()), keep_alive_(request.keep_alive()) {
  const std::string_view target = request.target();
  const bool path_inside = within(request.path(), target);
  const bool query_inside = within(request.query(), target);
  size_ = request.method().size() + target.size() + request.body().size();
  if (!path_inside) size_ += request.path().size();
  if (!query_inside) size_ += request.query().size();
  for (const http::Header& h : request.headers()) size_ += h.name.size() + h.value.size();

  storage_ = std::make_unique_for_overwrite<char[]>(size_);
  Packer pack(storage_.get());
  method_ = pack.put(request.method());
  target_ = pack.put(target);
  auto locate = [&](std::string_view part, bool inside) {
    return inside
               ? target_.substr(static_cast<std::size_t>(part.data() - target.data()), part.size())
               : pack.put(part);
  };
  path_ = locate(request.path(), path_inside);
  query_ = locate(request.query(), query_inside);
  headers_.reserve(request.headers().size());
  for (const http::Header& h : request.headers()) {
    const std::string_view name = pack.put(h.name);
    headers_.push_back({name, pack.put(h.value)});
  }
  body_ = pack.put(request.body());
}

Request::Request(const Request& other)
    : storage_(std::make_unique_for_overwrite<char[]>(other.size_)),
      size_(other.size_),
      headers_(other.headers_),
      version_(other.version_),
      keep_alive_(other.keep_alive_) {
  if (size_ > 0) std::memcpy(storage_.get(), other.storage_.get(), size_);
  method_ = rebased(other.method_, other);
  target_ = rebased(other.target_, other);
  path_ = rebased(other.path_, other);
  query_ = rebased(other.query_, other);
  body_ = rebased(other.body_, other);
  for (http::Header& h : headers_) {
    h.name = rebased(h.name, other);
    h.value = rebased(h.value, other);
  }
}

// The same bytes in this copy's storage as `view` in `from`'s.
std::string_view Request::rebased(std::string_view view, const Request& from) const noexcept {
  return {storage_.get() + (view.data() - from.storage_.get()), view.size()};
}

// A linear scan, as in http::Request: a dozen fields, looked up a handful of times.
std::optional<std::string_view> Request::header(std::string_view name) const noexcept {
  for (const http::Header& h : headers_)
    if (http::iequals(h.name, name)) return h.value;
  return std::nullopt;
}

namespace detail {
namespace {

// The coroutine's completion: its Response goes out through the request's Responder; its
// exception is answered by the session exactly as a throwing plain handler's.
struct Answer {
  http::Responder responder;
  void operator()(Outcome<http::Response>&& outcome) {
    if (std::exception_ptr error = outcome.error())
      return http::detail::ResponderAccess::handler_threw(responder, std::move(error));
    responder.send(std::move(outcome).value());
  }
};

}  // namespace

// The server calls a handler on the connection's loop thread, so the coroutine runs there
// and starts at once: one that never suspends answers inside this call, like a plain one.
http::RequestHandler make_handler(CoRequestHandler handler) {
  return [handler = std::move(handler)](const http::Request& request, http::Responder responder) {
    EventLoop* loop = EventLoop::current();
    REACTOR_CHECK(loop != nullptr, "a co::handler was called off any loop thread");
    spawn(*loop, handler(Request(request)), Answer{std::move(responder)});
  };
}

}  // namespace detail
}  // namespace reactor::co
