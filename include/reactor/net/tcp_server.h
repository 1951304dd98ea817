#pragma once
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "reactor/core/event_loop.h"
#include "reactor/core/unique_fd.h"
#include "reactor/net/connection_stats.h"
#include "reactor/net/inet_address.h"
#include "reactor/net/loop_pool.h"
#include "reactor/net/proxy_protocol.h"
#include "reactor/net/tcp_connection.h"
#include "reactor/net/transport_security.h"

namespace reactor::net {

namespace detail {
class Acceptor;
class ProxyStages;
struct ConnectionGroup;
}  // namespace detail

/// How a multi-loop server spreads connections over its loops.
enum class Balancing {
  round_robin,        ///< one acceptor on the base loop hands connections out in turn
  least_connections,  ///< one acceptor; each connection goes to the loop with fewest open
  reuse_port,         ///< one SO_REUSEPORT listener per loop; the kernel spreads them
};

struct TcpServerOptions {
  /// Loops that serve connections. 1: the base loop does everything, no extra thread.
  size_t threads = 1;
  Balancing balancing = Balancing::round_robin;
  bool no_delay = true;  ///< TCP_NODELAY on accepted sockets
  ConnectionOptions connection;
  /// Expect a PROXY protocol header on every connection (off by default).
  ProxyProtocolOptions proxy;
  /// Serve TLS (a tls::TlsContext::server()); null: plain TCP.
  std::shared_ptr<const TransportSecurity> tls;
};

/// A TCP server: listens, accepts without blocking, and runs its connections on the base
/// loop or on a pool of loop threads it owns. Loop thread (of the base loop) only, except
/// stats(). Destroying it resets the connections that are still open.
class TcpServer {
 public:
  TcpServer(EventLoop& loop, InetAddress listen_at, ConnectionCallbacks callbacks,
            TcpServerOptions options = {});
  ~TcpServer();
  TcpServer(const TcpServer&) = delete;
  TcpServer& operator=(const TcpServer&) = delete;

  /// Before start(): serve `listening`, an already-listening socket (one inherited through
  /// socket activation, say), instead of binding `listen_at`. start() checks it is a
  /// listening stream socket and makes it non-blocking and close-on-exec. One socket cannot
  /// be one SO_REUSEPORT listener per loop: with Balancing::reuse_port, one acceptor on the
  /// base loop hands connections out in turn (as round_robin).
  void adopt(UniqueFd listening);
  /// Binds, listens and starts accepting. Throws std::system_error (e.g. address in use).
  void start();
  /// The bound address (the real port when asked for port 0).
  const InetAddress& address() const { return address_; }

  void stop_accepting();
  /// Graceful drain: stops accepting, calls `tell` for every open connection on its own
  /// loop (default: close(), which flushes what is owed; without lingering for the peer's
  /// FIN when the connection is quiet: nothing queued, nothing unacknowledged, nothing
  /// unread), resets whatever is still open at the deadline, then calls `done` on the base
  /// loop. The server must outlive `done`.
  void drain(std::chrono::milliseconds deadline, std::function<void()> done,
             std::function<void(const TcpConnectionPtr&)> tell = {});

  /// One entry per serving loop.
  std::vector<ConnectionStats> stats() const;
  size_t loop_count() const { return groups_.size(); }

 private:
  struct DrainState;
  void hand_out(UniqueFd fd);
  /// On `group`'s loop: a new connection, or (PROXY) a descriptor awaiting its header.
  static void serve_on(detail::ConnectionGroup& group, detail::ProxyStages* stages, UniqueFd fd);
  size_t pick_group();
  static void group_drained(DrainState& state);
  /// Runs `fn` on `loop`'s thread and waits for it.
  static void run_on(EventLoop& loop, const std::function<void()>& fn);

  EventLoop& loop_;
  InetAddress address_;
  ConnectionCallbacks callbacks_;
  TcpServerOptions options_;
  std::unique_ptr<LoopPool> pool_;
  std::vector<detail::ConnectionGroup*> groups_;  // each a counted reference (released last)
  // Each acceptor lives on one loop (the base loop, or one per group with reuse_port).
  std::vector<std::unique_ptr<detail::Acceptor>> acceptors_;
  // With options.proxy.enabled, one per group, on its loop: descriptors awaiting a header.
  std::vector<std::unique_ptr<detail::ProxyStages>> stages_;
  std::shared_ptr<DrainState> drain_;
  UniqueFd adopted_;  // from adopt(), until start() hands it to the acceptor
  size_t next_ = 0;
  bool started_ = false;
};

}  // namespace reactor::net
