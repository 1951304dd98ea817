#include "metrics.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdio>

#include "reactor/http/router.h"

namespace reactor::apps {
namespace {

constexpr std::array<std::string_view, 5> kCloseReasons{"peer", "local", "aborted", "error",
                                                        "timeout"};

// Close enough to when the process started, for process_start_time_seconds: static
// initialisation, before main().
const std::chrono::system_clock::time_point g_started = std::chrono::system_clock::now();

double seconds(std::chrono::nanoseconds d) {
  return static_cast<double>(d.count()) / 1e9;
}

// "0.00025" rather than "2.5e-04": a bucket bound as people write it.
std::string bound_text(std::chrono::microseconds bound) {
  char text[32];
  std::snprintf(text, sizeof text, "%.6f", static_cast<double>(bound.count()) / 1e6);
  std::string s(text);
  while (s.back() == '0') s.pop_back();
  if (s.back() == '.') s.pop_back();
  return s;
}

// Builds the exposition text family by family.
class Exposition {
 public:
  explicit Exposition(std::string& out) : out_(out) {}

  void family(std::string_view name, std::string_view type, std::string_view help) {
    out_.append("# HELP ").append(name).append(" ").append(help).append("\n");
    out_.append("# TYPE ").append(name).append(" ").append(type).append("\n");
  }
  void sample(std::string_view name, std::string_view labels, uint64_t value) {
    start(name, labels);
    out_.append(std::to_string(value)).append("\n");
  }
  void sample(std::string_view name, std::string_view labels, double value) {
    start(name, labels);
    char text[32];
    auto result = std::to_chars(text, text + sizeof text, value);
    out_.append(text, result.ptr).append("\n");
  }
  /// `counts` per bucket (not cumulative), the last one above every bound.
  template <size_t N>
  void histogram(std::string_view name, const std::string& labels,
                 const std::array<std::chrono::microseconds, N>& bounds,
                 const std::array<uint64_t, N + 1>& counts, std::chrono::nanoseconds sum) {
    const std::string bucket = std::string(name) + "_bucket";
    uint64_t cumulative = 0;
    for (size_t i = 0; i <= N; ++i) {
      cumulative += counts[i];
      const std::string le = i < N ? bound_text(bounds[i]) : "+Inf";
      sample(bucket, labels + ",le=\"" + le + "\"", cumulative);
    }
    sample(std::string(name) + "_sum", labels, seconds(sum));
    // The +Inf bucket's value, so that _count and it agree even mid-update.
    sample(std::string(name) + "_count", labels, cumulative);
  }

 private:
  void start(std::string_view name, std::string_view labels) {
    out_.append(name);
    if (!labels.empty()) out_.append("{").append(labels).append("}");
    out_.append(" ");
  }
  std::string& out_;
};

std::string loop_label(unsigned loop) {
  return "loop=\"" + std::to_string(loop) + "\"";
}

void write_loops(Exposition& e, const std::vector<const EventLoop*>& loops) {
  std::vector<std::pair<std::string, LoopStats>> all;
  for (const EventLoop* loop : loops) all.emplace_back(loop_label(loop->index()), loop->stats());
  auto each = [&](std::string_view name, std::string_view type, std::string_view help, auto value) {
    e.family(name, type, help);
    for (const auto& [label, s] : all) e.sample(name, label, value(s));
  };
  each("reactor_loop_iterations_total", "counter", "Event loop iterations.",
       [](const LoopStats& s) { return s.iterations; });
  each("reactor_loop_events_total", "counter", "Ready descriptors dispatched to handlers.",
       [](const LoopStats& s) { return s.events; });
  each("reactor_loop_busy_seconds_total", "counter", "Time spent running callbacks.",
       [](const LoopStats& s) { return seconds(s.busy); });
  each("reactor_loop_wait_seconds_total", "counter",
       "Time spent outside callbacks, mostly waiting for events.",
       [](const LoopStats& s) { return seconds(s.waiting); });
  each("reactor_loop_stalls_total", "counter",
       "Iterations whose callbacks ran longer than --stall-warn.",
       [](const LoopStats& s) { return s.stalls; });
  e.family("reactor_loop_lag_seconds", "histogram",
           "How late timers fired: the callback's start minus its deadline.");
  for (const auto& [label, s] : all)
    e.histogram("reactor_loop_lag_seconds", label, LoopStats::kLagBounds, s.lag, s.lag_sum);
}

void write_connections(Exposition& e, const std::vector<net::ConnectionStats>& connections) {
  std::vector<std::pair<std::string, const net::ConnectionStats*>> all;
  for (const auto& c : connections) all.emplace_back(loop_label(c.loop->index()), &c);
  auto each = [&](std::string_view name, std::string_view type, std::string_view help, auto value) {
    e.family(name, type, help);
    for (const auto& [label, s] : all) e.sample(name, label, value(*s));
  };
  using Stats = net::ConnectionStats;
  each("reactor_connections_open", "gauge", "TCP connections open now.",
       [](const Stats& s) { return s.open; });
  each("reactor_connections_accepted_total", "counter", "TCP connections accepted.",
       [](const Stats& s) { return s.accepted; });
  e.family("reactor_connections_closed_total", "counter", "TCP connections closed, by reason.");
  for (const auto& [label, s] : all)
    for (size_t i = 0; i < kCloseReasons.size(); ++i)
      e.sample("reactor_connections_closed_total",
               label + ",reason=\"" + std::string(kCloseReasons[i]) + "\"", s->closed[i]);
  each("reactor_tcp_received_bytes_total", "counter", "Bytes read from TCP connections.",
       [](const Stats& s) { return s.bytes_read; });
  each("reactor_tcp_sent_bytes_total", "counter", "Bytes written to TCP connections.",
       [](const Stats& s) { return s.bytes_written; });
  e.family("reactor_accept_errors_total", "counter",
           "Failed accepts: out_of_fds (EMFILE, ENFILE) or other.");
  for (const auto& [label, s] : all) {
    e.sample("reactor_accept_errors_total", label + ",kind=\"out_of_fds\"", s->accept_out_of_fds);
    e.sample("reactor_accept_errors_total", label + ",kind=\"other\"",
             s->accept_failures - std::min(s->accept_failures, s->accept_out_of_fds));
  }
  each("reactor_proxy_rejected_total", "counter",
       "Connections closed for want of a valid PROXY header from a trusted peer.",
       [](const Stats& s) { return s.proxy_rejected; });
}

void write_tls(Exposition& e, const std::vector<net::ConnectionStats>& connections) {
  e.family("reactor_tls_handshakes_total", "counter",
           "TLS handshakes, by result: completed, failed, or timeout (past the deadline).");
  for (const auto& s : connections) {
    const std::string label = loop_label(s.loop->index());
    e.sample("reactor_tls_handshakes_total", label + ",result=\"completed\"", s.tls_handshakes);
    e.sample("reactor_tls_handshakes_total", label + ",result=\"failed\"",
             s.tls_handshake_failures);
    e.sample("reactor_tls_handshakes_total", label + ",result=\"timeout\"",
             s.tls_handshake_timeouts);
  }
  e.family("reactor_tls_resumed_total", "counter",
           "Completed TLS handshakes that resumed an earlier session.");
  for (const auto& s : connections)
    e.sample("reactor_tls_resumed_total", loop_label(s.loop->index()), s.tls_resumed);
}

void write_udp(Exposition& e, const MetricsSources::Udp& udp) {
  const std::string label = loop_label(udp.loop);
  e.family("reactor_udp_received_datagrams_total", "counter", "UDP datagrams received.");
  e.sample("reactor_udp_received_datagrams_total", label, udp.stats.datagrams_received);
  e.family("reactor_udp_sent_datagrams_total", "counter", "UDP datagrams sent.");
  e.sample("reactor_udp_sent_datagrams_total", label, udp.stats.datagrams_sent);
  e.family("reactor_udp_received_bytes_total", "counter", "Bytes of UDP datagrams received.");
  e.sample("reactor_udp_received_bytes_total", label, udp.stats.bytes_received);
  e.family("reactor_udp_sent_bytes_total", "counter", "Bytes of UDP datagrams sent.");
  e.sample("reactor_udp_sent_bytes_total", label, udp.stats.bytes_sent);
}

void write_http(Exposition& e, const std::vector<http::RequestStats>& loops) {
  using Stats = http::RequestStats;
  e.family("reactor_http_requests_total", "counter",
           "HTTP responses written, by request method and status class.");
  for (const Stats& s : loops)
    for (size_t m = 0; m < Stats::kMethods.size(); ++m)
      for (size_t c = 0; c < Stats::kStatusClasses.size(); ++c)
        e.sample("reactor_http_requests_total",
                 loop_label(s.loop) + ",method=\"" + std::string(Stats::kMethods[m]) +
                     "\",status=\"" + std::string(Stats::kStatusClasses[c]) + "\"",
                 s.requests[m * Stats::kStatusClasses.size() + c]);
  e.family("reactor_http_request_duration_seconds", "histogram",
           "From the loop iteration in which a request's first byte arrived to the one in which "
           "its response was queued, in the loop's per-iteration time (as nginx's "
           "$request_time): an answer given in the iteration its request arrived counts as 0.");
  for (const Stats& s : loops)
    e.histogram("reactor_http_request_duration_seconds", loop_label(s.loop), Stats::kDurationBounds,
                s.durations, s.duration_sum);
}

}  // namespace

std::string format_metrics(const MetricsSources& sources) {
  std::string out;
  Exposition e(out);
  e.family("process_start_time_seconds", "gauge", "Start time of the process since the epoch.");
  e.sample(
      "process_start_time_seconds", "",
      seconds(std::chrono::duration_cast<std::chrono::nanoseconds>(g_started.time_since_epoch())));
  if (!sources.loops.empty()) write_loops(e, sources.loops);
  if (!sources.connections.empty()) write_connections(e, sources.connections);
  if (sources.tls) write_tls(e, sources.connections);
  if (sources.udp) write_udp(e, *sources.udp);
  if (sources.http) write_http(e, *sources.http);
  return out;
}

std::optional<net::InetAddress> parse_host_port(std::string_view text) {
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  std::string_view host = text.substr(0, colon);
  const std::string_view port_text = text.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  else if (host.find(':') != std::string_view::npos)
    return std::nullopt;  // IPv6 needs brackets: "[::1]:9100"
  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || ec != std::errc() || end != port_text.data() + port_text.size() ||
      port > 65535)
    return std::nullopt;
  return net::InetAddress::parse(host, static_cast<uint16_t>(port));
}

struct MetricsServer::State {
  State(EventLoop& loop, const net::InetAddress& address, Collect c)
      : collect(std::move(c)), server(loop, address, make_router().handler()) {}

  http::Router& make_router() {
    router.route("GET", "/metrics", [this](const http::Request&, http::Responder r) {
      http::Response res(200);
      res.content_type("text/plain; version=0.0.4; charset=utf-8");
      r.send(std::move(res.body(format_metrics(collect()))));
    });
    return router;
  }

  Collect collect;
  http::Router router;  // before server, which holds its handler
  http::Server server;
};

MetricsServer::MetricsServer(EventLoop& loop, const net::InetAddress& address, Collect collect)
    : state_(std::make_unique<State>(loop, address, std::move(collect))) {}
MetricsServer::~MetricsServer() = default;

void MetricsServer::start() {
  state_->server.start();
}

void MetricsServer::drain(std::chrono::milliseconds deadline, std::function<void()> done) {
  state_->server.drain(deadline, std::move(done));
}

const net::InetAddress& MetricsServer::address() const {
  return state_->server.address();
}

}  // namespace reactor::apps
