#pragma once
// The one way to make a Responder: its constructor is private so that users only ever
// receive one from the server (a session makes one per request; tests make unbound ones).
#include <cstdint>
#include <memory>

#include "reactor/http/responder.h"

namespace reactor::http::detail {

struct ResponderAccess {
  /// The right to answer request `sequence` of `connection` (an empty one: answers go nowhere).
  static Responder make(std::weak_ptr<net::TcpConnection> connection, uint64_t sequence) {
    return Responder(std::move(connection), sequence);
  }
};

}  // namespace reactor::http::detail
