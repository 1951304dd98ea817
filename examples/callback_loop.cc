// callback_loop [PORT]: seed 2's reactor with handlers, without TcpServer: the EventLoop
// waits, then calls the Handler of each ready descriptor (REACTOR_TRACE=1 shows each
// dispatch). The Python sendall()s on a non-blocking socket, which raises once a client stops
// reading and takes the server down (blocking, it would stall every client). Here unsent
// bytes wait in the client's handler, with write interest on until they are gone, and its
// reading pauses meanwhile. 84 lines; the tutorial's Python: 45 (seed 2).
#include <errno.h>
#include <reactor/core/event_loop.h>
#include <reactor/core/unique_fd.h>
#include <unistd.h>

#include <map>
#include <memory>
#include <string>

#include "example.h"
using namespace reactor;

struct EchoHandler;
using Clients = std::map<int, std::unique_ptr<EchoHandler>>;

// One client: what it sends comes back. Watched while it lives: the destructor's body, which
// unwatches, runs before the members are destroyed and so before the descriptor closes.
struct EchoHandler final : Handler {
  EchoHandler(EventLoop& l, UniqueFd s, Clients& c) : loop(l), fd(std::move(s)), all(c) {
    loop.watch(fd.get(), io::kReadable, *this);
  }
  ~EchoHandler() { loop.unwatch(fd.get()); }

  void handle_events(uint32_t) override {
    if (unsent.empty()) {
      char buf[64 << 10];
      ssize_t n = read(fd.get(), buf, sizeof buf);
      if (n < 0 && errno == EAGAIN) return;
      if (n <= 0) return (void)all.erase(fd.get());  // EOF or error: destroys this handler
      unsent.assign(buf, static_cast<size_t>(n));
    }
    ssize_t n = send(fd.get(), unsent.data(), unsent.size(), MSG_NOSIGNAL);
    if (n < 0 && errno != EAGAIN) return (void)all.erase(fd.get());
    if (n > 0) unsent.erase(0, static_cast<size_t>(n));  // a partial write keeps the rest
    loop.set_interest(fd.get(), unsent.empty() ? io::kReadable : io::kWritable);
  }

  EventLoop& loop;
  UniqueFd fd;
  Clients& all;
  std::string unsent;
};

// The listening socket: each connection it accepts gets an EchoHandler, which it owns.
struct AcceptHandler final : Handler {
  AcceptHandler(EventLoop& l, UniqueFd s) : loop(l), fd(std::move(s)) {
    loop.watch(fd.get(), io::kReadable, *this);
  }
  ~AcceptHandler() { loop.unwatch(fd.get()); }

  void handle_events(uint32_t) override {
    UniqueFd s(accept4(fd.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!s) return;     // the client left already (or no descriptor was left for it)
    int key = s.get();  // read before the move below
    clients[key] = std::make_unique<EchoHandler>(loop, std::move(s), clients);
  }

  EventLoop& loop;
  UniqueFd fd;
  Clients clients;  // destroyed, each one unwatched, before fd closes
};

int main(int argc, char** argv) {
  EventLoop loop;
  example::stop_on_signals(loop);
  auto at = net::InetAddress::loopback_ipv4(example::port_arg(argc, argv, 1, 12345));
  UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  int on = 1;
  setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  if (bind(fd.get(), at.sockaddr_ptr(), at.length()) || listen(fd.get(), SOMAXCONN))
    return std::perror("listen"), 1;
  sockaddr_storage bound;
  socklen_t len = sizeof bound;
  getsockname(fd.get(), reinterpret_cast<sockaddr*>(&bound), &len);
  example::announce(net::InetAddress::from_sockaddr(reinterpret_cast<sockaddr*>(&bound), len));
  AcceptHandler acceptor(loop, std::move(fd));
  loop.run();
}
