#pragma once
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <system_error>

#include "reactor/core/event_loop.h"
#include "reactor/core/handler.h"
#include "reactor/core/unique_fd.h"
#include "reactor/net/inet_address.h"
#include "reactor/net/tcp_connection.h"
#include "reactor/net/transport_security.h"

namespace reactor::net {

struct TcpClientOptions {
  bool retry = false;  ///< reconnect after a failed attempt, with exponential back-off
  std::chrono::milliseconds initial_delay{250};
  std::chrono::milliseconds max_delay{30000};
  std::chrono::milliseconds connect_timeout{10000};
  bool no_delay = true;
  /// Local address to bind before connecting (e.g. another 127.x source when a load
  /// generator runs out of ephemeral ports on one).
  std::optional<InetAddress> bind_to;
  ConnectionOptions connection;
  /// Speak TLS (a tls::TlsContext::client()); null: plain TCP. A failed handshake (the
  /// server's certificate not verified, say) is a failed attempt: on_connect_error.
  std::shared_ptr<const TransportSecurity> tls;
  /// The server's name, sent as SNI and verified against its certificate; empty: its
  /// IP address is verified instead.
  std::string server_name;
};

/// Connects to one server without blocking and runs the resulting TcpConnection with the
/// given callbacks. Loop thread only; destroy it on its loop (it resets an open connection).
class TcpClient final : private Handler {
 public:
  TcpClient(EventLoop& loop, InetAddress server, ConnectionCallbacks callbacks,
            TcpClientOptions options = {});
  ~TcpClient();
  TcpClient(const TcpClient&) = delete;
  TcpClient& operator=(const TcpClient&) = delete;

  /// Called for every failed attempt (refused, unreachable, timed out, a failed TLS
  /// handshake); a retry follows
  /// when options.retry is set.
  void on_connect_error(std::function<void(std::error_code)> callback) {
    on_error_ = std::move(callback);
  }
  void connect();
  /// Stops retrying and closes the connection gracefully, if there is one.
  void disconnect();
  /// The open connection, or null.
  TcpConnectionPtr connection() const;

 private:
  void attempt();
  void handle_events(uint32_t ready) override;
  void failed(std::error_code error);
  void give_up_attempt();

  EventLoop& loop_;
  InetAddress server_;
  TcpClientOptions options_;
  detail::ConnectionGroup* group_;  // a counted reference, released by the destructor
  std::function<void(std::error_code)> on_error_;
  UniqueFd connecting_;
  TimerId retry_timer_;
  TimerId timeout_timer_;
  std::chrono::milliseconds delay_;
  bool wanted_ = false;
};

}  // namespace reactor::net
