#include "reactor/co/server.h"

#include <exception>
#include <string>
#include <system_error>
#include <utility>

#include "co/stream.h"
#include "core/check.h"
#include "reactor/core/log.h"

namespace reactor::co {
namespace {

// A handler's exception is the server's to report: log it, and reset the connection (it
// stopped in an unknown state, so a graceful close could send a half-made reply). An I/O
// error thrown after the connection closed (a reset by the client, a drain) is only how
// the close reached the handler: the connection's ordinary end, logged at debug.
void handler_failed(const std::exception_ptr& error, detail::Stream& stream) {
  LogLevel level = LogLevel::error;
  std::string message = "co::Server: a connection handler threw: ";
  try {
    std::rethrow_exception(error);
  } catch (const std::system_error& e) {
    // Not when the close is the handler's own abort (~Connection while this unwinds).
    if (stream.closed() && stream.close_info().reason != net::CloseReason::aborted)
      level = LogLevel::debug;
    message += e.what();
  } catch (const std::exception& e) {
    message += e.what();
  } catch (...) {
    message += "(not a std::exception)";
  }
  if (log_enabled(level)) log(level, message);
  stream.abort();
}

}  // namespace

Server::Server(EventLoop& loop, net::InetAddress listen_at, net::TcpServerOptions options)
    : loop_(loop), tcp_(loop, listen_at, callbacks(), options) {}

Server::~Server() {
  stop_accepting();
}

void Server::set_handler(Handler handler) {
  loop_.assert_in_loop_thread();
  REACTOR_CHECK(tcp_.loop_count() == 0, "co::Server::serve() after start()");
  handler_ = std::move(handler);
}

void Server::start() {
  loop_.assert_in_loop_thread();
  tcp_.start();
  REACTOR_CHECK(handler_ || tcp_.loop_count() == 1,
                "co::Server without serve() is for accept(), which needs options.threads == 1");
}

net::ConnectionCallbacks Server::callbacks() {
  return detail::Stream::callbacks([this](const net::TcpConnectionPtr& tcp) { connected(tcp); });
}

// On the connection's own loop (any of the server's threads under serve()).
void Server::connected(const net::TcpConnectionPtr& tcp) {
  Connection connection = detail::Stream::attach(tcp);
  if (handler_) {
    spawn(tcp->loop(), handler_(std::move(connection)), [tcp](Outcome<void>&& outcome) {
      if (outcome.error()) handler_failed(outcome.error(), detail::Stream::of(*tcp));
    });
    return;
  }
  if (AcceptAwaiter* acceptor = std::exchange(acceptor_, nullptr)) {
    acceptor->connection_ = std::move(connection);
    acceptor->parked_ = false;
    acceptor->complete();
  } else {
    accepted_.push_back(std::move(connection));
  }
}

Server::AcceptAwaiter Server::accept(std::stop_token token) {
  loop_.assert_in_loop_thread();
  REACTOR_CHECK(!handler_, "co::Server: accept() and serve() exclude each other");
  return AcceptAwaiter(*this, std::move(token));
}

void Server::drain(std::chrono::milliseconds deadline, std::function<void()> done) {
  loop_.assert_in_loop_thread();
  stop_accepting();
  // Through the Stream, so that a read it ends reports operation_canceled (our close), not
  // the end of the peer's stream.
  tcp_.drain(deadline, std::move(done), [](const net::TcpConnectionPtr& tcp) {
    detail::Stream::of(*tcp).close(net::Linger::until_peer_fin);
  });
}

void Server::stop_accepting() {
  accepting_ = false;
  if (AcceptAwaiter* acceptor = std::exchange(acceptor_, nullptr)) {
    acceptor->parked_ = false;
    acceptor->complete();
  }
}

Server::AcceptAwaiter::~AcceptAwaiter() {
  stop_waiting();
}

bool Server::AcceptAwaiter::await_ready() {
  REACTOR_CHECK(!server_->acceptor_, "co::Server: accept() is already waiting");
  if (token_.stop_requested()) return false;  // arm() reports it
  if (!server_->accepting_) return true;      // await_resume throws
  if (server_->accepted_.empty()) return false;
  connection_ = std::move(server_->accepted_.front());
  server_->accepted_.pop_front();
  return true;
}

bool Server::AcceptAwaiter::park(const detail::Context& context, std::coroutine_handle<> handle) {
  if (!arm(context, handle, token_)) return false;
  server_->acceptor_ = this;
  parked_ = true;
  return true;
}

// Once unparked it never touches the server again: a cancelled accept is resumed by a
// posted step, and the server may be gone by then (and by its destructor).
void Server::AcceptAwaiter::stop_waiting() noexcept {
  if (!std::exchange(parked_, false)) return;
  if (server_->acceptor_ == this) server_->acceptor_ = nullptr;
}

Connection Server::AcceptAwaiter::await_resume() {
  throw_if_cancelled();
  if (!connection_) detail::throw_canceled();
  return std::move(connection_);
}

}  // namespace reactor::co
