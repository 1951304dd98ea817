// tcp_udp_stdin [PORT]: 69 lines; seed 3 lists TCP plus UDP in one service, and the terminal
// beside sockets, among the uses of multiplexing, in words only, no Python. One loop serves a
// TCP echo and a UDP echo (both on PORT; for 0 each gets its own, and the second line says which
// UDP got) and reads stdin: each line typed goes, unchanged, to every TCP client. End of input
// (Ctrl-D) ends only the reading of stdin. A naive Python calls sys.stdin.readline() when stdin
// is readable: every client waits until a newline comes, and lines it read ahead into its
// buffer wait there unseen by select(). This reads what is there, once per wake-up.
#include <reactor/net/tcp_server.h>
#include <reactor/net/udp_socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <map>
#include <string>

#include "example.h"

using namespace reactor;
using Clients = std::map<net::TcpConnection*, net::TcpConnectionPtr>;

// stdin as a source of lines. It stays blocking (the terminal is the shell's too), which is
// safe: a level-triggered loop calls it only when input is there, and it reads once.
struct Terminal final : Handler {
  EventLoop& loop;
  Clients& clients;
  std::string partial;
  Terminal(EventLoop& l, Clients& c) : loop(l), clients(c) {}
  void handle_events(uint32_t) override {
    char buf[4096];
    ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
    if (n < 0 && errno == EAGAIN) return;  // someone made it non-blocking; wait for more
    if (n <= 0) {  // end of input (or an error): stop reading stdin, serve on
      loop.unwatch(STDIN_FILENO);
      std::printf("stdin closed; still serving\n");
      return;
    }
    partial.append(buf, size_t(n));
    size_t end = partial.rfind('\n');
    if (end == std::string::npos) return;
    for (auto& [raw, c] : Clients(clients)) c->send(std::string_view(partial).substr(0, end + 1));
    partial.erase(0, end + 1);
  }
};

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  auto at = net::InetAddress::loopback_ipv4(example::port_arg(argc, argv, 1, 8001));
  EventLoop loop;
  Clients clients;
  net::ConnectionCallbacks cb;
  cb.on_connect = [&clients](const net::TcpConnectionPtr& c) { clients.emplace(c.get(), c); };
  cb.on_close = [&clients](const net::TcpConnectionPtr& c, const net::CloseInfo&) {
    clients.erase(c.get());
  };
  cb.on_message = [](const net::TcpConnectionPtr& c, net::Buffer& in) { c->send(in); };
  net::TcpServer tcp(loop, at, cb);
  net::UdpSocket udp(loop, at, [&udp](std::string_view data, const net::InetAddress& from) {
    udp.send_to(data, from);
  });
  Terminal terminal(loop, clients);
  example::stop_on_signals(loop);
  tcp.start();
  example::announce(tcp.address());
  std::printf("udp on %s\n", udp.address().to_string().c_str());
  if (loop.watch(STDIN_FILENO, io::kReadable, terminal))  // epoll refuses files and /dev/null
    std::printf("stdin cannot be watched; serving without it\n");
  loop.run();
}
