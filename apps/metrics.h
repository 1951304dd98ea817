#pragma once
// `--metrics HOST:PORT`: a second, plain HTTP listener on the base loop that answers
// GET /metrics in the Prometheus text exposition format 0.0.4. Every series carries the
// label loop="N", N being EventLoop::index() (the base loop is 0, a server's pool loops
// follow in order of creation).
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "reactor/core/event_loop.h"
#include "reactor/http/server.h"
#include "reactor/net/connection_stats.h"
#include "reactor/net/udp_socket.h"

namespace reactor::apps {

/// What one scrape reports. Built on the base loop; every part is readable from it.
struct MetricsSources {
  std::vector<const EventLoop*> loops;
  std::vector<net::ConnectionStats> connections;  ///< one per loop serving connections
  /// The connections are TLS: their handshake counters are reported too (a plain
  /// server's scrape does not carry series that would stay 0).
  bool tls = false;
  struct Udp {
    unsigned loop;
    net::UdpStats stats;
  };
  std::optional<Udp> udp;
  /// `reactor http`'s request counters (http::Server::request_stats()); unset for the
  /// other servers.
  std::optional<std::vector<http::RequestStats>> http;
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
