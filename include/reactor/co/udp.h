#pragma once
// co::UdpSocket: datagrams as awaitables.
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <span>
#include <stop_token>
#include <string>
#include <string_view>
#include <utility>

#include "reactor/co/detail/waiter.h"
#include "reactor/co/task.h"
#include "reactor/net/udp_socket.h"

namespace reactor::co {

struct Datagram {
  std::size_t size = 0;    ///< bytes copied
  bool truncated = false;  ///< the datagram was longer than the buffer
  net::InetAddress from;
};

/// A bound UDP socket for coroutines (net::UdpSocket underneath). Datagrams that arrive
/// while no coroutine is receiving wait in a bounded queue (beyond it they are dropped and
/// counted, as UDP may). Loop thread only.
class UdpSocket {
 public:
  /// Throws std::system_error if the socket cannot be bound.
  UdpSocket(EventLoop& loop, net::InetAddress bind_at);
  /// A coroutine still receiving resumes (inside this call) with operation_canceled.
  ~UdpSocket();
  UdpSocket(const UdpSocket&) = delete;
  UdpSocket& operator=(const UdpSocket&) = delete;

  const net::InetAddress& address() const { return socket_.address(); }
  /// Datagrams dropped because the receive queue was full, plus the socket's send drops.
  uint64_t dropped() const { return dropped_ + socket_.dropped(); }

  class ReceiveAwaiter;
  /// → Datagram: the next datagram, copied into `into` (the rest of a longer one is lost,
  /// and `truncated` says so). One receiver at a time. A waiting receiver is resumed inline
  /// when its datagram is read, and may destroy this socket then.
  ReceiveAwaiter receive_from(std::span<char> into, std::stop_token token = {});
  /// Sends one datagram (queued if the kernel cannot take it now); nothing to await, as a
  /// datagram send never waits on the peer. Throws std::system_error for errors such as
  /// EMSGSIZE.
  void send_to(std::string_view data, const net::InetAddress& to);

  static constexpr std::size_t kMaxQueuedDatagrams = 1024;

 private:
  void received(std::string_view data, const net::InetAddress& from);

  net::UdpSocket socket_;
  std::deque<std::pair<std::string, net::InetAddress>> queue_;
  ReceiveAwaiter* receiver_ = nullptr;
  uint64_t dropped_ = 0;
};

class UdpSocket::ReceiveAwaiter final : public detail::Waiter {
 public:
  ReceiveAwaiter(ReceiveAwaiter&&) = default;  // only before it is awaited
  ~ReceiveAwaiter();
  bool await_ready();
  template <class P>
  bool await_suspend(std::coroutine_handle<P> awaiting) {
    return park(detail::context_of(awaiting), awaiting);
  }
  Datagram await_resume();

 private:
  friend class UdpSocket;
  ReceiveAwaiter(UdpSocket& socket, std::span<char> into, std::stop_token token)
      : socket_(&socket), into_(into), token_(std::move(token)) {}
  bool park(const detail::Context& context, std::coroutine_handle<> handle);
  void stop_waiting() noexcept override;
  void fill(std::string_view data, const net::InetAddress& from);

  UdpSocket* socket_;
  std::span<char> into_;
  std::stop_token token_;
  Datagram result_;
  bool complete_ = false;
};

}  // namespace reactor::co
