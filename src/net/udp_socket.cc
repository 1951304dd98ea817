#include "reactor/net/udp_socket.h"

#include <sys/socket.h>

#include <cerrno>

#include "core/tracer.h"
#include "net/socket_ops.h"

namespace reactor::net {
namespace {
constexpr int kReadQuota = 64;  // datagrams per wake-up, so one sender cannot starve others
constexpr size_t kMaxDatagram = 65536;
thread_local char t_datagram[kMaxDatagram];

void trace_write(const EventLoop& loop, int fd, size_t bytes, size_t queued) {
  if (auto* t = reactor::detail::tracer(loop)) [[unlikely]]
    t->line("write", {{"fd", fd}, {"bytes", bytes}, {"queued", queued}});
}

void add(std::atomic<uint64_t>& counter, uint64_t n) {
  counter.store(counter.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

ssize_t send_datagram(int fd, std::string_view data, const InetAddress& to) {
  for (;;) {
    ssize_t n =
        ::sendto(fd, data.data(), data.size(), MSG_NOSIGNAL, to.sockaddr_ptr(), to.length());
    if (n >= 0 || errno != EINTR) return n;
  }
}
}  // namespace

UdpSocket::UdpSocket(EventLoop& loop, InetAddress bind_at, OnDatagram on_datagram)
    : loop_(loop),
      fd_(detail::make_socket(bind_at.family(), SOCK_DGRAM)),
      on_datagram_(std::move(on_datagram)) {
  if (::bind(fd_.get(), bind_at.sockaddr_ptr(), bind_at.length()) < 0)
    throw std::system_error(detail::last_error(), "bind " + bind_at.to_string());
  address_ = detail::local_address(fd_.get());
  if (auto ec = loop_.watch(fd_.get(), io::kReadable, *this)) throw std::system_error(ec, "watch");
}

UdpSocket::~UdpSocket() {
  if (destroyed_) *destroyed_ = true;
  loop_.unwatch(fd_.get());
}

std::error_code UdpSocket::send_to(std::string_view data, const InetAddress& to) {
  loop_.assert_in_loop_thread();
  if (queue_.empty()) {
    if (send_datagram(fd_.get(), data, to) >= 0) {
      count_sent(data.size());
      trace_write(loop_, fd_.get(), data.size(), 0);
      return {};
    }
    if (errno != EAGAIN && errno != EWOULDBLOCK) return detail::last_error();
  }
  if (queued_bytes_ + data.size() > kMaxQueuedBytes) {
    ++dropped_;
    return std::make_error_code(std::errc::no_buffer_space);
  }
  queue_.emplace_back(std::string(data), to);
  queued_bytes_ += data.size();
  trace_write(loop_, fd_.get(), 0, queued_bytes_);
  loop_.set_interest(fd_.get(), io::kReadable | io::kWritable);
  return {};
}

void UdpSocket::flush_queue() {
  while (!queue_.empty()) {
    auto& [data, to] = queue_.front();
    ssize_t n = send_datagram(fd_.get(), data, to);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n < 0) ++dropped_;  // failed for good (e.g. EMSGSIZE): counted, not retried
    queued_bytes_ -= data.size();
    if (n >= 0) {
      count_sent(data.size());
      trace_write(loop_, fd_.get(), data.size(), queued_bytes_);
    }
    queue_.pop_front();
  }
  loop_.set_interest(fd_.get(), io::kReadable);
}

void UdpSocket::handle_events(uint32_t ready) {
  if (ready & io::kWritable) flush_queue();
  if (!(ready & (io::kReadable | io::kError))) return;
  // The callback may destroy this socket (a coroutine resumed by its datagram ends, say):
  // a flag on this stack frame says whether `this` still exists after each call.
  bool destroyed = false;
  destroyed_ = &destroyed;
  const bool quota_used = read_datagrams(destroyed);
  if (destroyed) return;
  destroyed_ = nullptr;
  if (quota_used && loop_.edge_triggered()) loop_.requeue(fd_.get(), io::kReadable);
}

// True when it stopped at the quota with datagrams possibly left; false when none are left
// (or the callback destroyed the socket).
bool UdpSocket::read_datagrams(const bool& destroyed) {
  for (int i = 0; i < kReadQuota; ++i) {
    sockaddr_in6 from{};
    socklen_t len = sizeof from;
    ssize_t n = ::recvfrom(fd_.get(), t_datagram, sizeof t_datagram, 0,
                           reinterpret_cast<sockaddr*>(&from), &len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;  // EAGAIN, or an ICMP error from an earlier send: nothing to read now
    }
    if (auto* t = reactor::detail::tracer(loop_)) [[unlikely]]
      t->line("read", {{"fd", fd_.get()}, {"bytes", n}});
    add(datagrams_received_, 1);
    add(bytes_received_, static_cast<uint64_t>(n));
    on_datagram_({t_datagram, static_cast<size_t>(n)},
                 InetAddress::from_sockaddr(reinterpret_cast<sockaddr*>(&from), len));
    if (destroyed) return false;
  }
  return true;
}

void UdpSocket::count_sent(size_t bytes) {
  add(datagrams_sent_, 1);
  add(bytes_sent_, bytes);
}

UdpStats UdpSocket::stats() const {
  return {datagrams_received_.load(std::memory_order_relaxed),
          bytes_received_.load(std::memory_order_relaxed),
          datagrams_sent_.load(std::memory_order_relaxed),
          bytes_sent_.load(std::memory_order_relaxed)};
}

}  // namespace reactor::net
