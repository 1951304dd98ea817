// callback_loop [PORT]: seed 2's loop calling each ready socket's callback, as an EventLoop and
// two Handlers (REACTOR_TRACE=1 shows each dispatch). The Python sendall()s on a non-blocking
// socket: that raises once a client stops reading, and the server dies. Here unsent bytes wait,
// write interest on, reading paused. 43 lines; the tutorial's Python: 45 (seed 2).
#include <map>

#include "example.h"

struct EchoHandler final : example::Watched {  // one client: what it sends comes back
  EchoHandler(reactor::EventLoop& l, reactor::UniqueFd s, std::map<int, EchoHandler>& c)
      : Watched(l, std::move(s)), all(c) {}
  void handle_events(uint32_t) override {
    if (unsent.empty()) {
      char buf[64 << 10];
      ssize_t n = read(fd(), buf, sizeof buf);
      if (n < 0 && errno == EAGAIN) return;
      if (n <= 0) return (void)all.erase(fd());  // EOF or error: destroys this handler
      unsent.assign(buf, static_cast<size_t>(n));
    }
    ssize_t n = send(fd(), unsent.data(), unsent.size(), MSG_NOSIGNAL);
    if (n < 0 && errno != EAGAIN) return (void)all.erase(fd());
    if (n > 0) unsent.erase(0, static_cast<size_t>(n));  // a partial write keeps the rest
    loop().set_interest(fd(), unsent.empty() ? reactor::io::kReadable : reactor::io::kWritable);
  }
  std::map<int, EchoHandler>& all;
  std::string unsent;
};

struct AcceptHandler final : example::Watched {  // the listener: an EchoHandler per client
  using Watched::Watched;
  void handle_events(uint32_t) override {
    reactor::UniqueFd s(accept4(fd(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (s) clients.try_emplace(s.get(), loop(), std::move(s), clients);
  }
  std::map<int, EchoHandler> clients;  // destroyed, so unwatched and closed, before the listener
};

int main(int argc, char** argv) {
  reactor::EventLoop loop;
  example::stop_on_signals(loop);
  AcceptHandler acceptor(loop, example::listen(example::port_arg(argc, argv, 1, 12345)));
  loop.run();
}
