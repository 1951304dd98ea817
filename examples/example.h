#pragma once
// What the tutorial's examples share, so that each file holds only its idea: the port from
// the command line, the one "listening on HOST:PORT" line, and a clean stop on Ctrl-C.
// Public API only, like the examples themselves: they build against an installed reactor.
#include <reactor/core/event_loop.h>
#include <reactor/net/inet_address.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>

namespace example {

/// argv[i] as a port, or `fallback` when absent ("0" picks a free one).
inline uint16_t port_arg(int argc, char** argv, int i, uint16_t fallback) {
  return i < argc ? static_cast<uint16_t>(std::atoi(argv[i])) : fallback;
}

/// The first line on stdout, which scripts and tests wait for.
inline void announce(const reactor::net::InetAddress& bound) {
  std::printf("listening on %s\n", bound.to_string().c_str());
  std::fflush(stdout);
}

/// Ctrl-C or SIGTERM ends loop.run(), so destructors close everything cleanly.
inline void stop_on_signals(reactor::EventLoop& loop) {
  loop.on_signal(SIGINT, [&loop](int) { loop.stop(); });
  loop.on_signal(SIGTERM, [&loop](int) { loop.stop(); });
}

}  // namespace example
