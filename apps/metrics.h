#pragma once
// `--metrics HOST:PORT`: a second, plain HTTP listener on the base loop that answers
// GET /metrics in the Prometheus text exposition format 0.0.4. Every series carries the
// label loop="N", N being EventLoop::index() (the base loop is 0, a server's pool loops
// follow in order of creation).
#include <array>
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "reactor/core/event_loop.h"
#include "reactor/http/server.h"
#include "reactor/net/connection_stats.h"
#include "reactor/net/udp_socket.h"

namespace reactor::apps {

/// `reactor http`'s responses by method and status class, and their durations, per loop.
/// record() runs on the connection's loop thread and takes no lock once that loop has its
/// slot; write() reads from any thread.
class HttpMetrics {
 public:
  /// The method label's values: a bounded set, whatever clients send.
  static constexpr std::array<std::string_view, 10> kMethods{
      "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT", "TRACE", "other"};
  static constexpr std::array<std::chrono::microseconds, 16> kDurationBounds{
      std::chrono::microseconds(100),     std::chrono::microseconds(250),
      std::chrono::microseconds(500),     std::chrono::microseconds(1000),
      std::chrono::microseconds(2500),    std::chrono::microseconds(5000),
      std::chrono::microseconds(10000),   std::chrono::microseconds(25000),
      std::chrono::microseconds(50000),   std::chrono::microseconds(100000),
      std::chrono::microseconds(250000),  std::chrono::microseconds(500000),
      std::chrono::microseconds(1000000), std::chrono::microseconds(2500000),
      std::chrono::microseconds(5000000), std::chrono::microseconds(10000000)};

  HttpMetrics();
  ~HttpMetrics();
  void record(const http::ResponseRecord& response);
  /// Appends the HTTP families in the exposition format.
  void write(std::string& out) const;

 private:
  struct Slot;
  Slot& slot();

  const uint64_t id_;         // names this object in each thread's slot cache
  mutable std::mutex mutex_;  // guards slots_ (the list, not the counters)
  std::vector<std::unique_ptr<Slot>> slots_;
};

/// What one scrape reports. Built on the base loop; every part is readable from it.
struct MetricsSources {
  std::vector<const EventLoop*> loops;
  std::vector<net::ConnectionStats> connections;  ///< one per loop serving connections
  struct Udp {
    unsigned loop;
    net::UdpStats stats;
  };
  std::optional<Udp> udp;
  const HttpMetrics* http = nullptr;
};

/// The exposition text for `sources` (0.0.4: HELP and TYPE lines, counters ending in
/// _total, seconds and bytes, cumulative histogram buckets).
std::string format_metrics(const MetricsSources& sources);

/// "HOST:PORT" ("[V6]:PORT" for IPv6), or nothing if it is not one.
std::optional<net::InetAddress> parse_host_port(std::string_view text);

/// The metrics listener: an http::Server on `loop`, no pool, no PROXY header; GET (and
/// HEAD) /metrics gets the scrape, any other path 404.
class MetricsServer {
 public:
  using Collect = std::function<MetricsSources()>;
  MetricsServer(EventLoop& loop, const net::InetAddress& address, Collect collect);
  ~MetricsServer();
  /// Throws std::system_error (e.g. the port is in use).
  void start();
  void drain(std::chrono::milliseconds deadline, std::function<void()> done);
  const net::InetAddress& address() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace reactor::apps
