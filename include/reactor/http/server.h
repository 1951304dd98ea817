#pragma once
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include "reactor/core/event_loop.h"
#include "reactor/http/request_stats.h"
#include "reactor/http/router.h"
#include "reactor/net/connection_stats.h"
#include "reactor/net/inet_address.h"
#include "reactor/net/tcp_server.h"

namespace reactor::http {

/// One answered request, as an access log sees it. Valid only
/// during the ServerOptions::on_response call.
struct ResponseRecord {
  const net::TcpConnection& connection;  ///< its peer_address() is the client (PROXY-aware)
  /// The request line as received, without CRLF ("GET / HTTP/1.1"); for a request that
  /// could not be parsed, its first line as far as it arrived (empty if none did).
  std::string_view request_line;
  std::string_view method;      ///< empty when the request line could not be parsed
  std::string_view referer;     ///< empty when absent
  std::string_view user_agent;  ///< empty when absent
  int status;
  std::size_t body_bytes;      ///< the response body's length as sent (0 for HEAD)
  Clock::time_point started;   ///< the iteration in which the request's first byte arrived
  Clock::time_point finished;  ///< the response was ready to be written
};

struct ServerOptions {
  std::size_t max_request_line = 8192;   ///< longer: 414
  std::size_t max_header_bytes = 65536;  ///< longer header block: 431
  std::size_t max_headers = 100;         ///< more field lines: 431
  std::size_t max_body = 16 << 20;       ///< larger body: 413
  /// From a request's first byte until its header block is complete (slow clients): 408.
  std::chrono::milliseconds header_timeout{10000};
  /// Longest pause between two reads of a request body: 408.
  std::chrono::milliseconds body_timeout{30000};
  /// A keep-alive connection with no request in progress is closed after this long.
  std::chrono::milliseconds idle_timeout{60000};
  /// Pipelined requests answered asynchronously that may wait before reading pauses.
  std::size_t max_pipeline = 64;
  /// Response bytes queued for a client that is not reading before its requests stop
  /// being read (memory per connection stays bounded).
  std::size_t max_output = 1 << 20;
  /// Called on the connection's loop thread for every response, error responses to
  /// malformed requests and timeouts (408) included, once each, as it is queued for writing
  /// and so in write order; an answer never written (its connection closed first) is not
  /// reported. It must not call into the server. Unset: nothing about a request is kept
  /// once its handler has it.
  std::function<void(const ResponseRecord&)> on_response;
  /// Count requests by method and status class, and their durations, per loop
  /// (Server::request_stats()): a few relaxed stores per response, no record built.
  bool count_requests = false;
  net::TcpServerOptions tcp;
};

/// An HTTP/1.1 server: persistent connections, pipelining (responses in request order,
/// those ready together leave in one write), chunked and 100-continue uploads, limits and
/// timeouts. Base-loop thread only, except stats() and request_stats().
class Server {
 public:
  Server(EventLoop& loop, net::InetAddress listen_at, RequestHandler handler,
         ServerOptions options = {});
  ~Server();

  /// Before start(): serve an already-listening socket instead of binding (as
  /// net::TcpServer::adopt).
  void adopt(UniqueFd listening) { tcp_->adopt(std::move(listening)); }
  /// Binds and listens; throws std::system_error on failure.
  void start();
  const net::InetAddress& address() const { return tcp_->address(); }
  /// Stops accepting; idle keep-alive connections close at once, requests in flight finish
  /// and are answered with "Connection: close"; what remains at the deadline is reset.
  void drain(std::chrono::milliseconds deadline, std::function<void()> done);
  std::vector<net::ConnectionStats> stats() const { return tcp_->stats(); }
  /// Any thread: one entry per loop that has served a connection; empty unless
  /// ServerOptions::count_requests.
  std::vector<RequestStats> request_stats() const;

 private:
  struct Shared;
  std::shared_ptr<const Shared> shared_;
  std::unique_ptr<net::TcpServer> tcp_;
};

}  // namespace reactor::http
