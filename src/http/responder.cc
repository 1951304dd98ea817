#include "reactor/http/responder.h"

#include "http/session.h"
#include "reactor/net/tcp_connection.h"

namespace reactor::http {

// Dropped unsent: the session answers 500 (it tells a drop inside the handler, which
// may be an exception unwinding, from a later one).
Responder::~Responder() {
  if (pending_) deliver(std::nullopt);
}

void Responder::send(Response response) {
  if (pending_) deliver(std::move(response));
}

void Responder::deliver(std::optional<Response> response) {
  pending_ = false;
  auto connection = connection_.lock();
  if (!connection) return;  // closed and gone: nobody to answer
  if (connection->loop().in_loop_thread()) {
    if (auto* s = detail::Session::of(*connection))
      s->complete(connection, sequence_, response ? &*response : nullptr);
    return;
  }
  EventLoop& loop = connection->loop();
  loop.post(
      [connection = std::move(connection), sequence = sequence_, response = std::move(response)] {
        if (auto* s = detail::Session::of(*connection))
          s->complete(connection, sequence, response ? &*response : nullptr);
      });
}

}  // namespace reactor::http
