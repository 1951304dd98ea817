// selector_echo [PORT [BACKEND]]: seed 1's `selectors` echo server, the tutorials' first
// program, on reactor's Selector alone (no event loop). The Python keeps what it reads and
// never sends it, and dies on bytes that are not UTF-8. Here unsent bytes wait, with write
// interest on only until they are gone (reading pauses meanwhile), a partial write keeps the
// rest, a socket leaves the selector before it closes, EOF and errors close the client, and
// each socket is served until EAGAIN, as the edge-triggered BACKEND needs (epoll, epoll-et,
// poll, select). 87 lines; the tutorial's Python: 65 (seed 1).
#include <errno.h>
#include <reactor/core/selector.h>
#include <reactor/core/unique_fd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <map>
#include <string>

#include "example.h"
using namespace reactor;

struct Client {
  UniqueFd fd;
  std::string peer, unsent;
};

// Reads and echoes until the socket would block; false once the client is done.
bool serve(Client& c) {
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
  auto at = net::InetAddress::loopback_ipv4(example::port_arg(argc, argv, 1, 65432));
  UniqueFd listener(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  int on = 1;
  setsockopt(listener.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  if (bind(listener.get(), at.sockaddr_ptr(), at.length()) || listen(listener.get(), SOMAXCONN))
    return std::perror("listen"), 1;
  sockaddr_storage addr;  // getsockname() and accept4() write here
  auto* raw = reinterpret_cast<sockaddr*>(&addr);
  socklen_t len = sizeof addr;
  getsockname(listener.get(), raw, &len);
  example::announce(net::InetAddress::from_sockaddr(raw, len));
  sigset_t stop;  // SIGINT and SIGTERM arrive as a readable descriptor: a clean exit
  sigemptyset(&stop), sigaddset(&stop, SIGINT), sigaddset(&stop, SIGTERM);
  sigprocmask(SIG_BLOCK, &stop, nullptr);
  UniqueFd signals(signalfd(-1, &stop, SFD_NONBLOCK | SFD_CLOEXEC));
  std::map<int, Client> clients;  // by descriptor, which is each socket's token too
  auto selector = make_selector(argc > 2 ? argv[2] : "");  // destroyed before the sockets
  for (int fd : {listener.get(), signals.get()}) selector->add(fd, io::kReadable, fd);
  for (std::vector<ReadyEvent> ready;;) {
    selector->wait(std::chrono::milliseconds(-1), ready);
    for (ReadyEvent e : ready) {
      int fd = static_cast<int>(e.token);
      if (fd == signals.get()) return 0;
      while (fd == listener.get()) {  // accept until EAGAIN
        len = sizeof addr;
        UniqueFd s(accept4(fd, raw, &len, SOCK_NONBLOCK | SOCK_CLOEXEC));
        if (!s || selector->add(s.get(), io::kReadable, s.get())) break;
        Client& c = clients[s.get()];
        c.peer = net::InetAddress::from_sockaddr(raw, len).to_string();
        c.fd = std::move(s);
        std::printf("accepted %s\n", c.peer.c_str());
      }
      if (fd == listener.get()) continue;
      Client& c = clients.at(fd);
      if (serve(c)) {
        if (!c.unsent.empty())
          std::printf("%zu bytes wait for %s\n", c.unsent.size(), c.peer.c_str());
        selector->modify(fd, c.unsent.empty() ? io::kReadable : io::kWritable, e.token);
        continue;
      }
      std::printf("closing %s\n", c.peer.c_str());
      selector->remove(fd);  // first: a selector must never hold a closed descriptor
      clients.erase(fd);
    }
  }
}
