// server_received [PORT]: seed 3's multi-client server; each line a client sends comes back
// after "Server received ". Per line, not per read() like the Python: TCP keeps no message
// boundaries, so a message may arrive in pieces or with others. The Python also loses what a
// partial send() leaves, and a reset kills it. 32 lines; the tutorial's Python: 33 (seed 3).
#include <reactor/net/tcp_server.h>

#include <string>

#include "example.h"
using namespace reactor;

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // a line at a time, into a pipe too
  EventLoop loop;
  example::stop_on_signals(loop);
  net::ConnectionCallbacks cb;
  cb.on_connect = [](const net::TcpConnectionPtr& c) {
    std::printf("connected by %s\n", c->peer_address().to_string().c_str());
  };
  cb.on_message = [](const net::TcpConnectionPtr& c, net::Buffer& in) {
    for (size_t end; (end = in.view().find('\n')) != std::string_view::npos; in.consume(end + 1))
      c->send("Server received " + std::string(in.view().substr(0, end + 1)));
    if (in.size() > 64 << 10) c->close();  // a line that never ends: not our protocol
  };
  cb.on_high_water = [](const net::TcpConnectionPtr& c, size_t) { c->pause_reading(); };
  cb.on_low_water = [](const net::TcpConnectionPtr& c) { c->resume_reading(); };
  auto at = net::InetAddress::loopback_ipv4(example::port_arg(argc, argv, 1, 8001));
  net::TcpServer server(loop, at, std::move(cb));
  server.start();
  example::announce(server.address());
  loop.run();
}
