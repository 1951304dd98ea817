// chat [PORT]: 58 lines; seed 2 leaves chat broadcast as an exercise, in words only, no Python.
// Each complete line a client sends goes, unchanged, to every other client: the protocol of
// `reactor chat` and co_chat, so the three serve the same clients (names are the clients'
// business: "ann: hi"). A line split over several reads waits in the connection's input for
// its newline. A client with more than 1 MiB of output unsent is not reading: it is dropped, so
// it never stalls the room; so is one that sends 64 KiB without a newline. The naive Python
// broadcast, the seed's sendall() to each member, halts the whole loop behind the slowest
// reader, and relays each recv(1024) chunk as if it were a line.
#include <reactor/net/tcp_server.h>

#include <cstdio>
#include <map>

#include "example.h"

using namespace reactor;
constexpr size_t kMaxOutput = 1 << 20, kMaxLine = 64 << 10;
using Room = std::map<net::TcpConnection*, net::TcpConnectionPtr>;

// Every complete line in `input` to everyone in `room` but `from`; a partial line stays.
void relay(Room& room, const net::TcpConnectionPtr& from, net::Buffer& input) {
  if (size_t end = input.view().rfind('\n'); end != std::string_view::npos) {
    std::string_view lines = input.view().substr(0, end + 1);
    for (auto& [raw, member] : Room(room)) {  // a copy: abort() takes a member out of `room`
      if (member == from) continue;
      if (member->pending_output() + lines.size() <= kMaxOutput) {
        member->send(lines);
      } else {
        std::fprintf(stderr, "chat: dropping %s: not reading\n",
                     member->peer_address().to_string().c_str());
        member->abort();
      }
    }
    input.consume(end + 1);
  }
  if (input.size() > kMaxLine) {
    std::fprintf(stderr, "chat: dropping %s: line too long\n",
                 from->peer_address().to_string().c_str());
    from->abort();
  }
}

int main(int argc, char** argv) {
  EventLoop loop;
  Room room;
  net::ConnectionCallbacks cb;
  cb.on_connect = [&room](const net::TcpConnectionPtr& c) { room.emplace(c.get(), c); };
  cb.on_close = [&room](const net::TcpConnectionPtr& c, const net::CloseInfo&) {
    room.erase(c.get());
  };
  cb.on_message = [&room](const net::TcpConnectionPtr& c, net::Buffer& in) { relay(room, c, in); };
  net::TcpServer server(
      loop, net::InetAddress::loopback_ipv4(example::port_arg(argc, argv, 1, 12345)), cb);
  example::stop_on_signals(loop);
  server.start();
  example::announce(server.address());
  loop.run();
}
