#include "reactor/http/responder.h"

#include <optional>

#include "http/responder_access.h"
#include "http/session.h"
#include "reactor/net/tcp_connection.h"

namespace reactor::http {

// Dropped unsent: the session answers 500 (it tells a drop inside the handler, which
// may be an exception unwinding, from a later one).
Responder::~Responder() {
  if (pending_) deliver(nullptr);
}

void Responder::send(Response response) {
  if (pending_) deliver(&response);
}

// On the loop thread the response is only borrowed (no copy, no move); another thread's
// moves into the task that carries it there. Null: dropped unsent.
void Responder::deliver(Response* response) {
  pending_ = false;
  auto connection = connection_.lock();
  if (!connection) return;  // closed and gone: nobody to answer
  if (connection->loop().in_loop_thread()) {
    if (auto* s = detail::Session::of(*connection)) s->complete(connection, sequence_, response);
    return;
  }
  std::optional<Response> moved;
  if (response) moved.emplace(std::move(*response));
  EventLoop& loop = connection->loop();
  loop.post([connection = std::move(connection), sequence = sequence_, moved = std::move(moved)] {
    if (auto* s = detail::Session::of(*connection))
      s->complete(connection, sequence, moved ? &*moved : nullptr);
  });
}

namespace detail {

// Like deliver(), but the session answers as for a handler that threw. Without a session
// to tell (the connection is gone, or the Responder already answered) it only logs.
void ResponderAccess::handler_threw(Responder& responder, std::exception_ptr error) {
  auto connection =
      std::exchange(responder.pending_, false) ? responder.connection_.lock() : nullptr;
  if (!connection) return log_handler_error(std::move(error));
  connection->loop().dispatch(
      [connection, sequence = responder.sequence_, error = std::move(error)]() mutable {
        if (auto* s = Session::of(*connection))
          s->handler_threw(connection, sequence, std::move(error));
        else
          log_handler_error(std::move(error));
      });
}

}  // namespace detail
}  // namespace reactor::http
