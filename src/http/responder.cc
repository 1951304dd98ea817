#include "reactor/http/responder.h"

#include "http/session.h"
#include "reactor/net/tcp_connection.h"

namespace reactor::http {

Responder::~Responder() {
  if (pending_) send(Response::text(500, "Internal Server Error\n"));
}

void Responder::send(Response response) {
  if (!pending_) return;
  pending_ = false;
  auto connection = connection_.lock();
  if (!connection) return;  // closed and gone: nobody to answer
  if (connection->loop().in_loop_thread()) {
    if (auto* s = detail::Session::of(*connection)) s->complete(connection, sequence_, response);
    return;
  }
  EventLoop& loop = connection->loop();
  loop.post(
      [connection = std::move(connection), sequence = sequence_, response = std::move(response)] {
        if (auto* s = detail::Session::of(*connection)) s->complete(connection, sequence, response);
      });
}

}  // namespace reactor::http
