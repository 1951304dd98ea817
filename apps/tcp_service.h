#pragma once
#include "reactor/net/tcp_server.h"
#include "service.h"

namespace reactor::apps {

/// A Service that is a plain TcpServer with the given callbacks.
class TcpService final : public Service {
 public:
  TcpService(EventLoop& loop, const net::InetAddress& address, net::ConnectionCallbacks callbacks,
             const ServerFlags& flags);
  bool adopt(UniqueFd listening) override;
  net::InetAddress start() override;
  void drain(std::chrono::milliseconds deadline, std::function<void()> done) override;

 private:
  net::TcpServer server_;
};

net::TcpServerOptions server_options(const ServerFlags& flags);

}  // namespace reactor::apps
