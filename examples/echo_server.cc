// echo_server [PORT]: seed 1's echo server the way reactor means it: a TcpServer and its
// ConnectionCallbacks. The Python keeps what it reads and never sends it; the usual fix,
// sendall(), stalls every client behind one that does not read (or raises, non-blocking).
// Here send() writes what the kernel takes and queues the rest; once a client's queue reaches
// the high-water mark we stop reading from it, and read again at the low-water mark.
// 52 lines; the tutorial's Python: 65 (seed 1).
#include <reactor/net/tcp_server.h>

#include <cstdio>
#include <memory>
#include <string>

#include "example.h"
using namespace reactor;
using net::TcpConnectionPtr;

struct Peer : net::ConnectionContext {  // kept: once the socket is closed it has no peer
  std::string name;
};
const char* peer(const TcpConnectionPtr& c) {
  return c->context<Peer>()->name.c_str();
}

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // a line at a time, into a pipe too
  EventLoop loop;
  example::stop_on_signals(loop);
  net::ConnectionCallbacks cb;
  cb.on_connect = [](const TcpConnectionPtr& c) {
    auto p = std::make_unique<Peer>();
    p->name = c->peer_address().to_string();
    std::printf("accepted %s\n", p->name.c_str());
    c->set_context(std::move(p));
  };
  cb.on_message = [](const TcpConnectionPtr& c, net::Buffer& input) { c->send(input); };
  cb.on_high_water = [](const TcpConnectionPtr& c, size_t pending) {
    std::printf("%zu bytes queued for %s: pausing its reads\n", pending, peer(c));
    c->pause_reading();
  };
  cb.on_low_water = [](const TcpConnectionPtr& c) {
    std::printf("queue for %s at the low-water mark: reading again\n", peer(c));
    c->resume_reading();
  };
  cb.on_close = [](const TcpConnectionPtr& c, const net::CloseInfo& info) {
    std::printf("closed %s (%s)\n", peer(c), std::string(to_string(info.reason)).c_str());
  };
  auto at = net::InetAddress::loopback_ipv4(example::port_arg(argc, argv, 1, 65432));
  net::TcpServer server(loop, at, std::move(cb));
  server.start();
  example::announce(server.address());
  loop.run();
}
