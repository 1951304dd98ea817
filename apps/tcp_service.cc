#include "tcp_service.h"

namespace reactor::apps {

net::TcpServerOptions server_options(const ServerFlags& flags) {
  net::TcpServerOptions options;
  options.threads = flags.threads;
  if (flags.balancing == "least-connections") options.balancing = net::Balancing::least_connections;
  if (flags.balancing == "reuse-port") options.balancing = net::Balancing::reuse_port;
  options.proxy.enabled = flags.proxy_protocol;
  if (flags.proxy_from) options.proxy.trusted = *net::Cidr::parse_list(*flags.proxy_from);
  options.tls = flags.tls.context;
  if (flags.tls.handshake_timeout_ms)
    options.connection.handshake_timeout =
        std::chrono::milliseconds(*flags.tls.handshake_timeout_ms);
  return options;
}

TcpService::TcpService(EventLoop& loop, const net::InetAddress& address,
                       net::ConnectionCallbacks callbacks, const ServerFlags& flags)
    : server_(loop, address, std::move(callbacks), server_options(flags)) {}

bool TcpService::adopt(UniqueFd listening) {
  server_.adopt(std::move(listening));
  return true;
}

net::InetAddress TcpService::start() {
  server_.start();
  return server_.address();
}

void TcpService::drain(std::chrono::milliseconds deadline, std::function<void()> done) {
  server_.drain(deadline, std::move(done));
}

}  // namespace reactor::apps
