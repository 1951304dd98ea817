#include "reactor/co/connect.h"

#include <memory>
#include <system_error>
#include <utility>

#include "co/stream.h"
#include "reactor/co/detail/waiter.h"
#include "reactor/core/event_loop.h"

namespace reactor::co {
namespace {

/// Runs a TcpClient until it connects (or, without retry, fails). The client's callbacks
/// name this awaiter only until the connection exists; from then on the client belongs to
/// the connection's Stream.
class ConnectAwaiter final : public detail::Waiter {
 public:
  ConnectAwaiter(net::InetAddress server, const net::TcpClientOptions& options,
                 std::stop_token token)
      : server_(server), options_(options), token_(std::move(token)) {}
  ConnectAwaiter(ConnectAwaiter&&) = default;  // only before it is awaited
  ~ConnectAwaiter() { stop_waiting(); }

  bool await_ready() const noexcept { return false; }
  template <class P>
  bool await_suspend(std::coroutine_handle<P> awaiting) {
    return park(detail::context_of(awaiting), awaiting);
  }
  Connection await_resume() {
    throw_if_cancelled();
    if (error_) throw std::system_error(error_);
    return std::move(connection_);
  }

 private:
  bool park(const detail::Context& context, std::coroutine_handle<> handle);
  void stop_waiting() noexcept override;
  void connected(const net::TcpConnectionPtr& tcp);
  void failed(std::error_code error);

  net::InetAddress server_;
  net::TcpClientOptions options_;
  std::stop_token token_;
  EventLoop* loop_ = nullptr;
  std::unique_ptr<net::TcpClient> client_;
  TimerId report_;  // resumes the coroutine with error_, outside the client's callback
  std::error_code error_;
  Connection connection_;
};

bool ConnectAwaiter::park(const detail::Context& context, std::coroutine_handle<> handle) {
  if (!arm(context, handle, token_)) return false;
  loop_ = context.loop;
  auto callbacks =
      detail::Stream::callbacks([this](const net::TcpConnectionPtr& tcp) { connected(tcp); });
  client_ = std::make_unique<net::TcpClient>(*loop_, server_, std::move(callbacks), options_);
  client_->on_connect_error([this](std::error_code error) { failed(error); });
  client_->connect();  // a failure reported inside it resumes us only from the timer
  return true;
}

void ConnectAwaiter::stop_waiting() noexcept {
  if (report_) loop_->cancel(std::exchange(report_, {}));
  client_.reset();  // never inside its own callback: connected() gave it away, failed() posts
}

// Inside the client's handle_events: the client lives on (in the Stream) and does nothing
// after this returns, so the coroutine may resume right here.
void ConnectAwaiter::connected(const net::TcpConnectionPtr& tcp) {
  connection_ = detail::Stream::attach(tcp);
  detail::Stream::of(*tcp).own(std::move(client_));
  complete();
}

// Inside the client's own call (a timer, an event, connect() itself), which goes on using
// the client after this returns: the resumption, which destroys the client, waits for the
// loop's next turn.
void ConnectAwaiter::failed(std::error_code error) {
  if (options_.retry) return;  // the client tries again after its back-off
  error_ = error;
  report_ = loop_->run_after(Clock::duration::zero(), [this] {
    report_ = {};
    client_.reset();
    complete();
  });
}

}  // namespace

Task<Connection> connect(net::InetAddress server, net::TcpClientOptions options,
                         std::stop_token token) {
  co_return co_await ConnectAwaiter(server, options, std::move(token));
}

Task<Connection> connect(net::InetAddress server) {
  return connect(server, net::TcpClientOptions{});
}

}  // namespace reactor::co
