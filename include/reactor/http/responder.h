#pragma once
#include <cstdint>
#include <memory>
#include <utility>

#include "reactor/http/response.h"

namespace reactor::net {
class TcpConnection;
}

namespace reactor::http {

namespace detail {
struct ResponderAccess;
}

/// The right to answer one request. Move it wherever the answer gets made (another thread,
/// a timer, after async work) and call send() once, from any thread. Responses go out in
/// request order whatever order they are sent in. If the connection closed meanwhile the
/// response is dropped; if a Responder is destroyed unsent, the client gets a 500.
/// Only the server makes them (a handler receives one per request).
class Responder {
 public:
  Responder(Responder&& other) noexcept
      : connection_(std::move(other.connection_)),
        sequence_(other.sequence_),
        pending_(std::exchange(other.pending_, false)) {}
  Responder& operator=(Responder&&) = delete;
  Responder(const Responder&) = delete;
  Responder& operator=(const Responder&) = delete;
  ~Responder();

  /// Any thread; at most once.
  void send(Response response);

 private:
  friend struct detail::ResponderAccess;
  Responder(std::weak_ptr<net::TcpConnection> connection, uint64_t sequence)
      : connection_(std::move(connection)), sequence_(sequence), pending_(true) {}

  void deliver(Response* response);

  std::weak_ptr<net::TcpConnection> connection_;
  uint64_t sequence_;
  bool pending_;
};

}  // namespace reactor::http
