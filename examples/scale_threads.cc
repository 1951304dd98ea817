// scale_threads [PORT] [THREADS]: 35 lines; the tutorial's Python: 57 (seed 2's six code blocks,
// lines 45-152, put together). Seed 2's scaling step, over threads: an echo server on THREADS
// loops (default 4), one per thread; the acceptor hands connections to them in turn, and each
// connection stays on its loop, so no lock is needed. Nothing is printed per message; SIGUSR1
// prints how many connections each loop took. Seed 2 forks after making the listener and the
// selector, so four processes share one epoll set: each wakes for every client, blocks in
// accept() on a socket it never made non-blocking, and spins on clients it does not own.
#include <reactor/net/tcp_server.h>

#include <cstdio>

#include "example.h"

using namespace reactor;

int main(int argc, char** argv) {
  EventLoop loop;
  net::TcpServerOptions options;
  options.threads = argc > 2 ? size_t(std::atoi(argv[2])) : 4;
  net::ConnectionCallbacks cb;
  cb.on_message = [](const net::TcpConnectionPtr& c, net::Buffer& in) { c->send(in); };
  net::TcpServer server(
      loop, net::InetAddress::loopback_ipv4(example::port_arg(argc, argv, 1, 12345)), cb, options);
  example::stop_on_signals(loop);  // before start(): the loop threads inherit the signal mask
  loop.on_signal(SIGUSR1, [&server](int) {
    auto stats = server.stats();  // a snapshot of every loop's counters, from this thread
    for (size_t i = 0; i < stats.size(); ++i)
      std::printf("loop %zu: %llu connections\n", i,
                  static_cast<unsigned long long>(stats[i].accepted));
    std::fflush(stdout);
  });
  server.start();
  example::announce(server.address());
  loop.run();
}
