#pragma once
// The one way to make a Responder: its constructor is private so that users only ever
// receive one from the server (a session makes one per request; tests make unbound ones).
#include <cstdint>
#include <exception>
#include <memory>

#include "reactor/http/responder.h"

namespace reactor::http::detail {

struct ResponderAccess {
  /// The right to answer request `sequence` of `connection` (an empty one: answers go nowhere).
  static Responder make(std::weak_ptr<net::TcpConnection> connection, uint64_t sequence) {
    return Responder(std::move(connection), sequence);
  }
  /// Any thread. The handler that holds `responder` failed after its call returned (a
  /// coroutine handler's exception): answered as if it had thrown inside the call — logged,
  /// and 500 with "Connection: close" unless already answered. Takes the right to answer.
  static void handler_threw(Responder& responder, std::exception_ptr error);
};

}  // namespace reactor::http::detail
