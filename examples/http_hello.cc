// http_hello [PORT]: seed 4's HTTP/1.0 "Hello, world!" server (its epoll listing is in seed
// 5), on TcpServer and Buffer, not the http layer: the step is the raw protocol. The Python
// spins on a client that leaves early, buffers an endless head and never closes what it
// answered. Here the head may take any number of reads, one past 8 KiB gets 431, and the
// answer is flushed before a close that awaits the client's FIN. 39 lines; the Python: 40.
#include <reactor/net/tcp_server.h>

#include <string_view>

#include "example.h"
using namespace reactor;

constexpr std::string_view kHello =
    "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, world!";
constexpr std::string_view kTooLarge =
    "HTTP/1.0 431 Request Header Fields Too Large\r\nContent-Length: 0\r\n\r\n";
constexpr size_t kMaxHead = 8192;

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // a line at a time, into a pipe too
  EventLoop loop;
  example::stop_on_signals(loop);
  net::ConnectionCallbacks cb;
  cb.on_message = [](const net::TcpConnectionPtr& c, net::Buffer& in) {
    std::string_view head = in.view();
    if (head.find("\n\r\n") == head.npos && head.find("\n\n") == head.npos) {
      if (head.size() > kMaxHead) c->send(kTooLarge), c->close();
      return;  // the rest of the head is still on its way
    }
    std::printf("%.*s\n", static_cast<int>(head.find_first_of("\r\n")), head.data());
    c->send(kHello);
    c->close();  // the answer first, then FIN; the close waits for the client's
  };
  auto at = net::InetAddress::loopback_ipv4(example::port_arg(argc, argv, 1, 8080));
  net::TcpServer server(loop, at, std::move(cb));
  server.start();
  example::announce(server.address());
  loop.run();
}
