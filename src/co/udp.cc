#include "reactor/co/udp.h"

#include <algorithm>
#include <cstring>
#include <system_error>

#include "core/check.h"

namespace reactor::co {

UdpSocket::UdpSocket(EventLoop& loop, net::InetAddress bind_at)
    : socket_(loop, bind_at, [this](std::string_view data, const net::InetAddress& from) {
        received(data, from);
      }) {}

// A coroutine still parked here would otherwise wait forever on a socket that is gone.
UdpSocket::~UdpSocket() {
  if (ReceiveAwaiter* receiver = std::exchange(receiver_, nullptr)) {
    receiver->socket_ = nullptr;
    receiver->complete();  // not complete_: await_resume throws operation_canceled
  }
}

UdpSocket::ReceiveAwaiter UdpSocket::receive_from(std::span<char> into, std::stop_token token) {
  return ReceiveAwaiter(*this, into, std::move(token));
}

void UdpSocket::send_to(std::string_view data, const net::InetAddress& to) {
  const uint64_t dropped_before = socket_.dropped();
  std::error_code error = socket_.send_to(data, to);
  // A full send queue drops the datagram and counts it (dropped()): UDP's own loss, not an
  // error of this call. Anything else (EMSGSIZE, an unreachable address family) is one.
  if (error && socket_.dropped() == dropped_before)
    throw std::system_error(error, "send_to " + to.to_string());
}

// Called by net::UdpSocket for every datagram read. The parked receiver resumes inline (no
// copy through the queue); it may destroy this socket before returning, so nothing here
// touches `this` after complete().
void UdpSocket::received(std::string_view data, const net::InetAddress& from) {
  if (ReceiveAwaiter* receiver = std::exchange(receiver_, nullptr)) {
    receiver->socket_ = nullptr;
    receiver->fill(data, from);
    receiver->complete();
    return;
  }
  if (queue_.size() >= kMaxQueuedDatagrams) {
    ++dropped_;
    return;
  }
  queue_.emplace_back(std::string(data), from);
}

UdpSocket::ReceiveAwaiter::~ReceiveAwaiter() {
  stop_waiting();
}

bool UdpSocket::ReceiveAwaiter::await_ready() {
  auto& queue = socket_->queue_;
  if (queue.empty()) return false;
  fill(queue.front().first, queue.front().second);
  queue.pop_front();
  return true;
}

bool UdpSocket::ReceiveAwaiter::park(const detail::Context& context,
                                     std::coroutine_handle<> handle) {
  REACTOR_CHECK(!socket_->receiver_, "two coroutines receive on one co::UdpSocket");
  if (!arm(context, handle, token_)) return false;
  socket_->receiver_ = this;
  return true;
}

Datagram UdpSocket::ReceiveAwaiter::await_resume() {
  throw_if_cancelled();
  if (!complete_) detail::throw_canceled();
  return result_;
}

// Unparked, the datagrams that arrive wait in the socket's queue for the next receiver.
// A cancelled receiver resumes later (posted), when the socket may be gone: it forgets it.
void UdpSocket::ReceiveAwaiter::stop_waiting() noexcept {
  if (socket_ && socket_->receiver_ == this) socket_->receiver_ = nullptr;
  socket_ = nullptr;
}

void UdpSocket::ReceiveAwaiter::fill(std::string_view data, const net::InetAddress& from) {
  const std::size_t n = std::min(data.size(), into_.size());
  if (n > 0) std::memcpy(into_.data(), data.data(), n);
  result_ = Datagram{n, data.size() > into_.size(), from};
  complete_ = true;
}

}  // namespace reactor::co
