#pragma once
// What the tutorial's examples share, so that each file holds only its idea: the port from
// the command line, the one "listening on HOST:PORT" line, a clean stop on Ctrl-C, and the
// socket setup of the examples that work below TcpServer.
// Public API only, like the examples themselves: they build against an installed reactor.
#include <errno.h>
#include <reactor/core/event_loop.h>
#include <reactor/core/unique_fd.h>
#include <reactor/net/inet_address.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>

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

/// Listens on 127.0.0.1:`port` (non-blocking) and announces it. A port in use ends the
/// program: exit code 1 and the reason on stderr.
inline reactor::UniqueFd listen(uint16_t port) {
  auto at = reactor::net::InetAddress::loopback_ipv4(port);
  reactor::UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  int on = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  sockaddr_storage bound{};
  socklen_t len = sizeof bound;
  auto* raw = reinterpret_cast<sockaddr*>(&bound);
  if (!fd || ::bind(fd.get(), at.sockaddr_ptr(), at.length()) != 0 ||
      ::listen(fd.get(), SOMAXCONN) != 0 || ::getsockname(fd.get(), raw, &len) != 0) {
    std::perror("listen");
    std::exit(1);
  }
  announce(reactor::net::InetAddress::from_sockaddr(raw, len));
  return fd;
}

/// The address of a connected socket's peer.
inline reactor::net::InetAddress peer_address(int fd) {
  sockaddr_storage peer{};
  socklen_t len = sizeof peer;
  ::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len);
  return reactor::net::InetAddress::from_sockaddr(reinterpret_cast<sockaddr*>(&peer), len);
}

/// For a program without an EventLoop: blocks SIGINT and SIGTERM and returns a descriptor
/// that becomes readable when one arrives, so that it can wait for a stop like for a client.
inline reactor::UniqueFd stop_signals_fd() {
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  sigprocmask(SIG_BLOCK, &stop, nullptr);
  return reactor::UniqueFd(::signalfd(-1, &stop, SFD_NONBLOCK | SFD_CLOEXEC));
}

/// A Handler that owns its descriptor and is watched for readability while it lives. The
/// destructor's body unwatches, and it runs before the members are destroyed: the loop never
/// holds a closed descriptor (whose number the next accept() may reuse).
class Watched : public reactor::Handler {
 public:
  Watched(reactor::EventLoop& loop, reactor::UniqueFd fd) : loop_(loop), fd_(std::move(fd)) {
    loop_.watch(fd_.get(), reactor::io::kReadable, *this);
  }
  ~Watched() { loop_.unwatch(fd_.get()); }
  Watched(const Watched&) = delete;
  Watched& operator=(const Watched&) = delete;

  reactor::EventLoop& loop() const { return loop_; }
  int fd() const { return fd_.get(); }

 private:
  reactor::EventLoop& loop_;
  reactor::UniqueFd fd_;
};

}  // namespace example
