#include "service.h"

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <system_error>

#include "reactor/core/selector.h"
#include "reactor/net/proxy_protocol.h"
#include "reactor/net/socket_activation.h"

namespace reactor::apps {
namespace {

// Checked here rather than by CLI11, whose usage errors print the whole usage: a bad list
// is one line on stderr, like a bad --host.
bool proxy_flags_valid(const char* program, const ServerFlags& flags) {
  if (!flags.proxy_from) return true;
  if (!flags.proxy_protocol) {
    std::fprintf(stderr, "%s: --proxy-from needs --proxy-protocol\n", program);
    return false;
  }
  if (net::Cidr::parse_list(*flags.proxy_from)) return true;
  std::fprintf(stderr, "%s: --proxy-from '%s' is not a list of CIDR ranges\n", program,
               flags.proxy_from->c_str());
  return false;
}

}  // namespace

void add_trace_flag(CLI::App& app, bool& trace) {
  app.add_flag("--trace", trace,
               "write one line per reactor step to stderr (docs/trace.md; REACTOR_TRACE=1 too)");
}

void add_proxy_flags(CLI::App& app, ServerFlags& flags) {
  app.add_flag("--proxy-protocol", flags.proxy_protocol,
               "expect a PROXY protocol header (v1 or v2) on every connection; a connection "
               "without a valid one is closed");
  app.add_option("--proxy-from", flags.proxy_from,
                 "CIDR[,CIDR...] allowed to send the header (default: 127.0.0.0/8,::1/128; "
                 "needs --proxy-protocol)");
}

void add_server_flags(CLI::App& app, ServerFlags& flags, bool threads) {
  app.add_option("--host", flags.host, "address to listen on")->capture_default_str();
  app.add_option("--port", flags.port, "port to listen on (0 picks a free one)")
      ->capture_default_str();
  std::vector<std::string> backends(selector_names().begin(), selector_names().end());
  app.add_option("--backend", flags.backend, "selector backend (default: epoll)")
      ->check(CLI::IsMember(backends));
  app.add_option("--drain-timeout", flags.drain_ms,
                 "milliseconds a graceful stop may take before open connections are reset")
      ->capture_default_str()
      ->check(CLI::Range(0, 600000));
  add_trace_flag(app, flags.trace);
  app.add_option("--metrics", flags.metrics,
                 "HOST:PORT of a second listener serving Prometheus metrics at /metrics")
      ->check([](const std::string& text) {
        return parse_host_port(text) ? std::string() : "not HOST:PORT ([V6]:PORT for IPv6)";
      });
  app.add_option("--stall-warn", flags.stall_warn_ms,
                 "warn on stderr when one loop iteration's callbacks run longer than MS "
                 "(default 100, 0: never; loops measure themselves with --metrics or this)")
      ->check(CLI::Range(0, 600000));
  if (!threads) return;
  app.add_option("--threads", flags.threads, "event loops (threads) serving connections")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  app.add_option("--balancing", flags.balancing,
                 "how connections are spread over loops: round-robin, least-connections, "
                 "reuse-port")
      ->capture_default_str()
      ->check(CLI::IsMember({"round-robin", "least-connections", "reuse-port"}));
}

namespace {

// What a scrape reports: every loop the program runs (the base loop first), and the service.
MetricsSources collect(const EventLoop& base, const Service& service, bool tls) {
  MetricsSources sources;
  sources.tls = tls;
  sources.loops.push_back(&base);
  service.collect_metrics(sources);
  for (const auto& c : sources.connections)
    if (std::find(sources.loops.begin(), sources.loops.end(), c.loop) == sources.loops.end())
      sources.loops.push_back(c.loop);
  return sources;
}

// After the service's start: a failure here is the service's failure too (exit 1).
bool start_metrics(const char* program, const std::string& at, MetricsServer& metrics) {
  try {
    metrics.start();
    return true;
  } catch (const std::system_error& e) {
    std::fprintf(stderr, "%s: cannot start --metrics on %s: %s\n", program, at.c_str(),
                 e.code().message().c_str());
    return false;
  }
}

// Before any loop: a certificate that cannot be used fails the start like a busy port.
bool load_tls(const char* program, ServerTlsFlags& flags) {
  try {
    flags.context = server_context(flags);
    return true;
  } catch (const std::system_error& e) {  // what() names the file and the problem
    std::fprintf(stderr, "%s: %s\n", program, e.what());
    return false;
  }
}

}  // namespace

int serve(const char* program, ServerFlags& flags, const ServiceFactory& make) {
  auto address = net::InetAddress::parse(flags.host, flags.port);
  if (!address) {
    std::fprintf(stderr, "%s: --host '%s' is not an IPv4/IPv6 address\n", program,
                 flags.host.c_str());
    return 2;
  }
  if (!proxy_flags_valid(program, flags)) return 2;
  if (!server_tls_flags_valid(program, flags.tls)) return 2;
  if (!load_tls(program, flags.tls)) return 1;
  // SIGINT and SIGTERM stay blocked for the rest of the process, teardown included (the
  // loop restores the mask it found): a supervisor that repeats the signal after the
  // graceful stop must not turn exit status 0 into death by signal.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  if (flags.trace) EventLoop::set_trace_default(true);       // the pool's loops too
  std::vector<UniqueFd> inherited = net::take_listen_fds();  // before any thread starts
  if (flags.observed()) {
    EventLoop::set_metrics_default(true);
    EventLoop::set_stall_threshold_default(
        std::chrono::milliseconds(flags.stall_warn_ms.value_or(100)));
  }
  EventLoop loop(flags.backend);
  std::unique_ptr<Service> service = make(loop, *address);
  const bool activated = !inherited.empty() && service->adopt(std::move(inherited.front()));
  inherited.clear();
  std::unique_ptr<MetricsServer> metrics;
  if (!flags.metrics.empty())
    metrics = std::make_unique<MetricsServer>(loop, *parse_host_port(flags.metrics), [&] {
      return collect(loop, *service, flags.tls.context != nullptr);
    });
  bool stopping = false;
  auto stop = [&](int) {
    if (stopping) return;  // a second signal while draining changes nothing
    stopping = true;
    auto left = std::make_shared<int>(metrics ? 2 : 1);
    auto drained = [left, &loop] {
      if (--*left == 0) loop.stop();
    };
    service->drain(std::chrono::milliseconds(flags.drain_ms), drained);
    if (metrics) metrics->drain(std::chrono::milliseconds(flags.drain_ms), drained);
  };
  // Before start(): loop threads created by start() inherit the blocked signals.
  loop.on_signal(SIGINT, stop);
  loop.on_signal(SIGTERM, stop);
  try {
    net::InetAddress bound = service->start();
    if (metrics && !start_metrics(program, flags.metrics, *metrics)) return 1;
    std::printf("listening on %s\n", bound.to_string().c_str());
    std::fflush(stdout);
  } catch (const std::system_error& e) {
    if (activated)  // what() names the descriptor and what is wrong with it
      std::fprintf(stderr, "%s: cannot start on the inherited socket: %s\n", program, e.what());
    else
      std::fprintf(stderr, "%s: cannot start on %s: %s\n", program, address->to_string().c_str(),
                   e.code().message().c_str());
    return 1;
  }
  loop.run();
  service.reset();
  return 0;
}

}  // namespace reactor::apps
