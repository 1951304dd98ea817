// selector_echo [PORT [BACKEND]]: seed 1's `selectors` echo server on reactor's Selector alone,
// no event loop. The Python never sends what it reads, and dies on bytes that are not UTF-8.
// Here unsent bytes wait, with write interest on (reading paused) until they are gone, a partial
// write keeps the rest, a socket leaves the selector before it closes, EOF and errors close that
// client only, and reads go on until EAGAIN, as the edge-triggered BACKEND needs (epoll,
// epoll-et, poll, select). 63 lines; the tutorial's Python: 65 (seed 1).
#include <reactor/core/selector.h>

#include <map>

#include "example.h"
using namespace reactor;

struct Client {
  UniqueFd fd;
  std::string peer, unsent;
};

bool serve(Client& c) {  // echoes until the socket would block; false once the client is done
  for (char buf[64 << 10];;) {
    if (c.unsent.empty()) {
      ssize_t n = read(c.fd.get(), buf, sizeof buf);
      if (n <= 0) return n < 0 && errno == EAGAIN;  // 0: the client's EOF
      std::printf("echoing %zd bytes to %s\n", n, c.peer.c_str());
      c.unsent.assign(buf, static_cast<size_t>(n));
    }
    ssize_t n = send(c.fd.get(), c.unsent.data(), c.unsent.size(), MSG_NOSIGNAL);
    if (n < 0) return errno == EAGAIN;
    c.unsent.erase(0, static_cast<size_t>(n));  // a partial write keeps the rest
  }
}

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // a line at a time, into a pipe too
  UniqueFd listener = example::listen(example::port_arg(argc, argv, 1, 65432));
  UniqueFd stop = example::stop_signals_fd();
  std::map<int, Client> clients;  // by descriptor, which is each socket's token too
  auto selector = make_selector(argc > 2 ? argv[2] : "");  // destroyed before the sockets
  for (int fd : {listener.get(), stop.get()}) selector->add(fd, io::kReadable, fd);
  for (std::vector<ReadyEvent> ready;;) {
    selector->wait(std::chrono::milliseconds(-1), ready);
    for (ReadyEvent e : ready) {
      int fd = static_cast<int>(e.token);
      if (fd == stop.get()) return 0;
      if (fd == listener.get()) {
        for (;;) {  // accept until EAGAIN
          UniqueFd s(accept4(fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
          if (!s || selector->add(s.get(), io::kReadable, s.get())) break;
          Client& c = clients[s.get()];
          c.peer = example::peer_address(s.get()).to_string();
          std::printf("accepted %s\n", c.peer.c_str());
          c.fd = std::move(s);
        }
      } else if (Client& c = clients.at(fd); serve(c)) {
        selector->modify(fd, c.unsent.empty() ? io::kReadable : io::kWritable, e.token);
      } else {
        std::printf("closing %s\n", c.peer.c_str());
        selector->remove(fd);  // first: a selector must never hold a closed descriptor
        clients.erase(fd);
      }
    }
  }
}
