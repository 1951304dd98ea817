#pragma once
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "http/parser.h"
#include "reactor/core/timer_id.h"
#include "reactor/http/router.h"
#include "reactor/http/server.h"
#include "reactor/net/tcp_connection.h"

namespace reactor::http::detail {

/// What every session of one server shares.
struct SessionConfig {
  RequestHandler handler;
  ServerOptions options;
  Limits limits;
};

/// The HTTP state of one connection: parses requests out of its input, hands them to the
/// handler, and writes responses back in request order. Loop thread only.
///
///   request sequence:   written_ ........ next_sequence_
///                       |<-- pending_ -->|   (one entry per request not yet written)
class Session final : public net::ConnectionContext {
 public:
  Session(std::shared_ptr<const SessionConfig> config, const net::TcpConnectionPtr& connection);
  static Session* of(const net::TcpConnection& c) { return c.context<Session>(); }

  void on_input(const net::TcpConnectionPtr& connection, net::Buffer& input);
  /// A response for request `sequence` is ready (from Responder::send).
  /// A null `response`: its Responder was dropped unsent (answered 500).
  void complete(const net::TcpConnectionPtr& connection, uint64_t sequence,
                const Response* response);
  /// Server drain: close now if idle, else after the responses in flight.
  void drain(const net::TcpConnectionPtr& connection);
  /// The client half-closed: answer what it asked, then close.
  void peer_shutdown(const net::TcpConnectionPtr& connection);
  /// The connection closed: drop the timer now rather than when it would have fired.
  void closed(EventLoop& loop);

 private:
  enum class Wait : uint8_t { none, idle, header, body };
  // in_handler -> awaited (handler returned, the Responder is out there) -> ready
  // in_handler -> dropped (Responder destroyed inside the handler) -> ready (500)
  enum class Answer : uint8_t { in_handler, awaited, dropped, ready };
  struct Pending {
    std::string wire;  // the serialized response once ready, if earlier ones are not
    bool head = false;
    bool close = false;
    bool client_close = false;  // the client said this is its last request
    bool http10_keep_alive = false;
    Answer answer = Answer::in_handler;
  };

  bool parse_one(const net::TcpConnectionPtr& connection, net::Buffer& input);
  void dispatch(const net::TcpConnectionPtr& connection, const Request& request);
  void handler_threw(const net::TcpConnectionPtr& connection, uint64_t sequence,
                     std::string_view what);
  Pending* unanswered(const net::TcpConnectionPtr& connection, uint64_t sequence);
  void answer(const net::TcpConnectionPtr& connection, uint64_t sequence, const Response& response);
  void fail(const net::TcpConnectionPtr& connection, int status, std::string_view why);
  void serialize(net::Buffer& out, Pending& slot, const Response& response);
  void write_ready(const net::TcpConnectionPtr& connection, net::Buffer& out);
  void flush(const net::TcpConnectionPtr& connection, net::Buffer& out, bool input_left = true);
  void update_wait(const net::TcpConnectionPtr& connection, bool partial_request);
  void set_deadline(const net::TcpConnectionPtr& connection, Wait wait, Clock::time_point when);
  void on_timer(const net::TcpConnectionPtr& connection);

  std::shared_ptr<const SessionConfig> config_;
  RequestParser parser_;
  std::vector<Pending> pending_;
  uint64_t next_sequence_ = 0;
  uint64_t written_ = 0;
  Clock::time_point request_start_{};
  Clock::time_point deadline_{};
  Clock::time_point timer_at_{};
  TimerId timer_;
  Wait wait_ = Wait::none;
  bool in_batch_ = false;
  bool closing_ = false;        // a Connection: close response is queued: ignore more input
  bool client_closed_ = false;  // ... and the client asked for it: no need to linger
  bool draining_ = false;
  bool continue_sent_ = false;
  bool request_started_ = false;
};

}  // namespace reactor::http::detail
