// `reactor udp-echo`: each datagram goes back to its sender.
#include "commands.h"
#include "reactor/net/udp_socket.h"
#include "service.h"

namespace reactor::apps {
namespace {

// Keeps Service::adopt's default: UdpSocket binds its own socket, so a socket passed by
// systemd is closed and --host/--port bound as usual (socket activation is for the TCP
// servers, whose restarts have connections to hand over).
class UdpEchoService final : public Service {
 public:
  UdpEchoService(EventLoop& loop, const net::InetAddress& address)
      : loop_(loop), address_(address) {}

  net::InetAddress start() override {
    socket_ = std::make_unique<net::UdpSocket>(
        loop_, address_, [this](std::string_view data, const net::InetAddress& from) {
          socket_->send_to(data, from);
        });
    return socket_->address();
  }
  // Datagrams have no connection to finish: what is queued is sent now or never.
  void drain(std::chrono::milliseconds, std::function<void()> done) override { done(); }

 private:
  EventLoop& loop_;
  net::InetAddress address_;
  std::unique_ptr<net::UdpSocket> socket_;
};

}  // namespace

void add_udp_echo_command(CLI::App& app, std::function<int()>& run) {
  auto* cmd = app.add_subcommand("udp-echo", "UDP echo server");
  auto flags = std::make_shared<ServerFlags>();
  add_server_flags(*cmd, *flags, false);
  cmd->callback([&run, flags] {
    run = [flags] {
      return serve("reactor udp-echo", *flags,
                   [](EventLoop& loop, const net::InetAddress& address) {
                     return std::make_unique<UdpEchoService>(loop, address);
                   });
    };
  });
}

}  // namespace reactor::apps
