#pragma once
#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include "reactor/core/event_loop.h"
#include "reactor/core/handler.h"
#include "reactor/core/unique_fd.h"
#include "reactor/net/inet_address.h"

namespace reactor::net {

/// What a UdpSocket has received and sent so far: a snapshot, taken from any thread.
struct UdpStats {
  uint64_t datagrams_received = 0;
  uint64_t bytes_received = 0;
  uint64_t datagrams_sent = 0;  ///< handed to the kernel (at once or from the queue)
  uint64_t bytes_sent = 0;
};

/// A bound UDP socket on a loop: each datagram received is handed to the callback (which may
/// destroy the socket); sends that the kernel cannot take right now are queued (bounded)
/// until it can. Loop thread only.
class UdpSocket final : private Handler {
 public:
  using OnDatagram = std::function<void(std::string_view data, const InetAddress& from)>;
  /// Throws std::system_error if the socket cannot be bound.
  UdpSocket(EventLoop& loop, InetAddress bind_at, OnDatagram on_datagram);
  ~UdpSocket();
  UdpSocket(const UdpSocket&) = delete;
  UdpSocket& operator=(const UdpSocket&) = delete;

  const InetAddress& address() const { return address_; }
  /// Sends one datagram. Queued if the socket buffer is full; dropped (and counted) only
  /// when the queue already holds max_queued bytes. Errors such as EMSGSIZE are returned.
  std::error_code send_to(std::string_view data, const InetAddress& to);
  uint64_t dropped() const { return dropped_; }
  /// Any thread.
  UdpStats stats() const;

  static constexpr size_t kMaxQueuedBytes = 4 << 20;

 private:
  void handle_events(uint32_t ready) override;
  void flush_queue();
  bool read_datagrams(const bool& destroyed);
  void count_sent(size_t bytes);

  EventLoop& loop_;
  UniqueFd fd_;
  InetAddress address_;
  OnDatagram on_datagram_;
  std::deque<std::pair<std::string, InetAddress>> queue_;
  size_t queued_bytes_ = 0;
  uint64_t dropped_ = 0;
  // Written by the loop thread only, read by any (stats()): relaxed load+store.
  std::atomic<uint64_t> datagrams_received_{0}, bytes_received_{0};
  std::atomic<uint64_t> datagrams_sent_{0}, bytes_sent_{0};
  bool* destroyed_ = nullptr;  // while handle_events runs: set when the callback destroys us
};

}  // namespace reactor::net
