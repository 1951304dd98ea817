// `reactor echo`: every byte a client sends comes back to it.
#include "commands.h"
#include "tcp_service.h"

namespace reactor::apps {

void add_echo_command(CLI::App& app, std::function<int()>& run) {
  auto* cmd = app.add_subcommand("echo", "TCP echo server");
  auto flags = std::make_shared<ServerFlags>();
  add_server_flags(*cmd, *flags, true);
  add_proxy_flags(*cmd, *flags);
  add_server_tls_flags(*cmd, flags->tls);
  cmd->callback([&run, flags] {
    run = [flags] {
      return serve(
          "reactor echo", *flags, [flags](EventLoop& loop, const net::InetAddress& address) {
            net::ConnectionCallbacks cb;
            cb.on_message = [](const net::TcpConnectionPtr& c, net::Buffer& input) {
              c->send(input);
            };
            // Back-pressure: a client that sends but does not read gets no more of our memory
            // than the high-water mark; we stop reading from it until its output drains.
            cb.on_high_water = [](const net::TcpConnectionPtr& c, size_t) { c->pause_reading(); };
            cb.on_low_water = [](const net::TcpConnectionPtr& c) { c->resume_reading(); };
            return std::make_unique<TcpService>(loop, address, std::move(cb), *flags);
          });
    };
  });
}

}  // namespace reactor::apps
