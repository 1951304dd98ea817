// partial_writes [PORT] [MIB]: 39 lines; the tutorial's Python: 40 (seed 5, lines 57-96).
// Seed 5's EPOLLOUT step: each client gets MIB MiB (default 8), 256 KiB at a time; send() writes
// what the kernel takes and queues the rest for writability (--trace: `interest`); the next piece
// waits for that. The Python holds whole responses, spins on an early EOF, closes no socket.
#include <reactor/net/tcp_server.h>

#include "example.h"

using namespace reactor;
struct Progress final : net::ConnectionContext {
  size_t sent = 0, sends = 0, partial = 0, most = 0;
};

int main(int argc, char** argv) {
  std::string body(size_t(argc > 2 ? std::atoi(argv[2]) : 8) << 20, '\0');
  for (size_t i = 0; i < body.size(); ++i) body[i] = char(i % 251);  // the order shows
  net::ConnectionCallbacks cb;
  cb.on_message = [](const net::TcpConnectionPtr&, net::Buffer& in) { in.clear(); };
  cb.on_connect = cb.on_write_complete = [&body](const net::TcpConnectionPtr& c) {
    if (!c->context<Progress>()) c->set_context(std::make_unique<Progress>());
    auto& p = *c->context<Progress>();
    if (p.sent == body.size()) {  // dprintf: written at once, no stdio buffer to flush
      dprintf(1, "%s: %zu bytes in %zu sends, %zu partial, at most %zu queued\n",
              c->peer_address().to_string().c_str(), p.sent, p.sends, p.partial, p.most);
      return c->close();  // our FIN, then the client's
    }
    auto piece = std::string_view(body).substr(p.sent, 256 << 10);
    c->send(piece);
    p.sent += piece.size(), ++p.sends;
    if (size_t q = c->pending_output(); q > 0) ++p.partial, p.most = q > p.most ? q : p.most;
  };
  EventLoop loop;
  net::TcpServer server(
      loop, net::InetAddress::loopback_ipv4(example::port_arg(argc, argv, 1, 9999)), cb);
  example::stop_on_signals(loop);
  server.start();
  example::announce(server.address());
  loop.run();
}
