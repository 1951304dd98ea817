#pragma once
// co::Server: a TCP server whose connections are served by coroutines.
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <stop_token>
#include <vector>

#include "reactor/co/connection.h"
#include "reactor/co/detail/waiter.h"
#include "reactor/co/spawn.h"
#include "reactor/net/tcp_server.h"

namespace reactor::co {

namespace detail {
/// One connection's coroutine under serve(): its frame owns copies of `fn` and `args`, and
/// the Connection, which moves into `fn` (co::invoke would pass it as an lvalue, and a
/// Connection cannot be copied).
template <class F, class... Args>
Task<void> serve_one(F fn, Connection connection, Args... args) {
  co_await std::invoke(fn, std::move(connection), args...);
}
}  // namespace detail

/// A net::TcpServer whose connections come out as co::Connection: either each is handed to
/// a coroutine started for it (serve(), any number of threads), or a coroutine on the base
/// loop takes them one by one (accept(), one thread). Base loop thread only.
class Server {
 public:
  Server(EventLoop& loop, net::InetAddress listen_at, net::TcpServerOptions options = {});
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// For every accepted connection, starts `fn(Connection, args...)` (a coroutine function
  /// returning Task<void>) on the connection's own loop; `fn` and `args` are copied into
  /// each coroutine's frame (see co::invoke). An exception escaping it is logged (an error;
  /// only debug when it is the close of its own connection — a reset, a drain — reaching a
  /// wait) and the connection reset. Call before start(); excludes accept().
  template <class F, class... Args>
  void serve(F fn, Args... args) {
    set_handler([fn = std::move(fn), ... args = std::move(args)](Connection connection) {
      return detail::serve_one(fn, std::move(connection), args...);
    });
  }

  /// Binds, listens and starts accepting; throws std::system_error (e.g. address in use).
  void start();
  const net::InetAddress& address() const { return tcp_.address(); }

  class AcceptAwaiter;
  /// → Connection: the next accepted connection (options.threads must be 1). Connections
  /// accepted while nobody awaits wait in a queue, in order — unbounded, each holding its
  /// descriptor, so a program that stops taking them should drain() the server. Once the
  /// server drains or is destroyed, accept() throws operation_canceled (a waiting one
  /// resumes with it).
  AcceptAwaiter accept(std::stop_token token = {});

  /// net::TcpServer::drain: stops accepting, closes every connection gracefully (their
  /// waiting coroutines resume as the connections close), resets what is left at the
  /// deadline, then `done`.
  void drain(std::chrono::milliseconds deadline, std::function<void()> done);
  std::vector<net::ConnectionStats> stats() const { return tcp_.stats(); }

 private:
  using Handler = std::function<Task<void>(Connection)>;
  void set_handler(Handler handler);
  net::ConnectionCallbacks callbacks();
  void connected(const net::TcpConnectionPtr& tcp);
  /// No more accept(): a waiting one resumes with operation_canceled.
  void stop_accepting();

  EventLoop& loop_;
  Handler handler_;
  std::deque<Connection> accepted_;  // accept() mode: waiting to be taken
  AcceptAwaiter* acceptor_ = nullptr;
  bool accepting_ = true;
  net::TcpServer tcp_;
};

class Server::AcceptAwaiter final : public detail::Waiter {
 public:
  AcceptAwaiter(AcceptAwaiter&&) = default;  // only before it is awaited
  ~AcceptAwaiter();
  bool await_ready();
  template <class P>
  bool await_suspend(std::coroutine_handle<P> awaiting) {
    return park(detail::context_of(awaiting), awaiting);
  }
  Connection await_resume();

 private:
  friend class Server;
  AcceptAwaiter(Server& server, std::stop_token token)
      : server_(&server), token_(std::move(token)) {}
  bool park(const detail::Context& context, std::coroutine_handle<> handle);
  void stop_waiting() noexcept override;

  Server* server_;
  std::stop_token token_;
  Connection connection_;
  bool parked_ = false;  // server_->acceptor_ is this (only then may server_ be touched)
};

}  // namespace reactor::co
