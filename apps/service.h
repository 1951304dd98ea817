#pragma once
// The shape every server subcommand shares: common flags, start-up, the one line on
// stdout, and a graceful stop on SIGINT/SIGTERM.
#include <CLI/CLI.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "metrics.h"
#include "reactor/core/event_loop.h"
#include "reactor/core/unique_fd.h"
#include "reactor/net/inet_address.h"
#include "tls_flags.h"

namespace reactor::apps {

struct ServerFlags {
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  size_t threads = 1;
  std::string backend;
  std::string balancing = "round-robin";
  int drain_ms = 5000;
  bool trace = false;
  std::string metrics;               ///< --metrics HOST:PORT; empty: no metrics listener
  std::optional<int> stall_warn_ms;  ///< --stall-warn MS, if given
  bool proxy_protocol = false;
  std::optional<std::string> proxy_from;  ///< not given: loopback only
  ServerTlsFlags tls;                     ///< add_server_tls_flags(); TCP servers only
  /// Loops measure themselves (and warn of stalls) with --metrics or --stall-warn.
  bool observed() const { return !metrics.empty() || stall_warn_ms.has_value(); }
};

/// Adds --host, --port, --backend, --drain-timeout, --trace, --metrics, --stall-warn and
/// (if `threads`) --threads, --balancing.
void add_server_flags(CLI::App& app, ServerFlags& flags, bool threads);

/// Adds --proxy-protocol and --proxy-from (TCP servers only).
void add_proxy_flags(CLI::App& app, ServerFlags& flags);

/// Adds --trace (trace mode for every loop the program makes).
void add_trace_flag(CLI::App& app, bool& trace);

/// A server a subcommand runs: started once, drained once.
class Service {
 public:
  virtual ~Service() = default;
  /// Before start(): serve `listening`, a socket inherited through socket activation,
  /// instead of binding. False (the default) when this service cannot; it then binds.
  virtual bool adopt(UniqueFd /*listening*/) { return false; }
  /// Binds and starts serving; throws std::system_error on failure. Returns the address.
  virtual net::InetAddress start() = 0;
  /// Stops accepting, finishes or closes what is open within `deadline`, then calls done.
  virtual void drain(std::chrono::milliseconds deadline, std::function<void()> done) = 0;
  /// Adds what --metrics reports of it (connections, datagrams, requests); any thread.
  virtual void collect_metrics(MetricsSources&) const {}
};

using ServiceFactory =
    std::function<std::unique_ptr<Service>(EventLoop& loop, const net::InetAddress& address)>;

/// Runs the service until SIGINT or SIGTERM, on the first socket systemd passed
/// (LISTEN_FDS, when LISTEN_PID is ours and the service can adopt it; any others are
/// closed) or else on --host/--port. Before `make` is called, flags.tls.context holds the
/// TLS context the flags ask for. Returns the process exit code: 0 after a graceful stop,
/// 1 when it (or its --metrics listener, or its TLS context) cannot start, 2 for a bad
/// --host, --proxy-from, --metrics or set of TLS flags (one line on stderr). `program`
/// begins the messages on stderr ("reactor echo", "co_echo").
int serve(const char* program, ServerFlags& flags, const ServiceFactory& make);

}  // namespace reactor::apps
