#pragma once
#include <cstdint>
#include <exception>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "http/parser.h"
#include "http/request_counters.h"
#include "http/wire.h"
#include "reactor/core/timer_id.h"
#include "reactor/http/router.h"
#include "reactor/http/server.h"
#include "reactor/net/tcp_connection.h"

namespace reactor::http::detail {

/// Logs (level error) the exception a request handler threw.
void log_handler_error(std::exception_ptr error);

/// What every session of one server shares.
struct SessionConfig {
  RequestHandler handler;
  ServerOptions options;
  Limits limits;
  std::shared_ptr<RequestCounters> counters;  // null unless options.count_requests
};

/// The HTTP state of one connection: parses requests out of its input, hands them to the
/// handler, and writes responses back in request order. Loop thread only.
///
///   request sequence:   written_ ........ next_sequence_
///                       |<-- pending_ -->|   (one entry per request not yet written)
///
/// The connection's phase (what it reads, which deadline runs, when it ends):
///
///            first byte           head complete            "100 Continue" sent
///   idle ──────────────► head ─────────────────► body ─────────────────────► continued
///    ▲                    │                        │                             │
///    └────────────────────┴── request complete ────┴─────────────────────────────┘
///                             (dispatched; phase back to idle before the handler runs)
///
///   any of those ──► closing_asked   a request saying "Connection: close" is dispatched
///   any of those ──► closing         a complete request answered with "Connection: close"
///                                    for the server's own reason (drain, a handler that
///                                    threw), or the client's FIN
///   any of those ──► closing_unread  an error answer (parse error, limit, timeout): the
///                                    rest of that request may still be on its way
///   closing* ──► (connection closed) once pending_ is empty: closing_unread, or any with
///                input left unread, lingers until the client's FIN so that no reset eats
///                the answer; the others close once the answer is flushed
///
///   phase       deadline (armed after each read)       input      at the deadline
///   idle        idle_timeout, only if pending_ empty   parsed     close silently
///   head        header_timeout from the first byte     parsed     408, closing_unread
///   body        body_timeout from the last read        parsed     408, closing_unread
///   continued   as body                                parsed     408, closing_unread
///   closing*    none                                   discarded  -
class Session final : public net::ConnectionContext {
 public:
  Session(std::shared_ptr<const SessionConfig> config, const net::TcpConnectionPtr& connection);
  static Session* of(const net::TcpConnection& c) { return c.context<Session>(); }

  void on_input(const net::TcpConnectionPtr& connection, net::Buffer& input);
  /// A response for request `sequence` is ready (from Responder::send). A null `response`:
  /// its Responder was dropped unsent (answered 500).
  void complete(const net::TcpConnectionPtr& connection, uint64_t sequence,
                const Response* response);
  /// Server drain: close now if idle, else after the responses in flight.
  void drain(const net::TcpConnectionPtr& connection);
  /// The client half-closed: answer what it asked, then close.
  void peer_shutdown(const net::TcpConnectionPtr& connection);
  /// The connection closed: drop the timer now rather than when it would have fired.
  void closed(EventLoop& loop);
  /// The handler for request `sequence` threw, inside its call or (a coroutine handler)
  /// later: logged; unless already answered, 500 with "Connection: close", as its state is
  /// unknown.
  void handler_threw(const net::TcpConnectionPtr& connection, uint64_t sequence,
                     std::exception_ptr error);

 private:
  enum class Phase : uint8_t {
    idle,
    head,
    body,
    continued,
    closing,
    closing_unread,
    closing_asked
  };

  //   in_handler ──► awaited ──► ready       the handler returned, its Responder answers later
  //   in_handler ──► ready                   answered inside the handler
  //   in_handler ──► dropped ──► ready       Responder destroyed inside the handler: when it
  //                                          returns, 500; when it throws, 500 + close
  //   awaited ──► ready                      session-made answers (errors) start at awaited
  // A ready answer waits in `wire` for the earlier ones; the front one goes out at once.
  enum class Answer : uint8_t { in_handler, awaited, dropped, ready };
  // What on_response needs of a request after the parser has moved on, then of its answer
  // until that is written; kept only when on_response is set.
  struct Note {
    std::string request_line, method, referer, user_agent;
    Clock::time_point started;
    Clock::time_point finished;
    int status = 0;
    std::size_t body_bytes = 0;
  };
  struct Pending {
    std::string wire;
    std::unique_ptr<Note> note;
    Answer answer = Answer::awaited;
    ConnectionHeader connection = ConnectionHeader::none;
    bool head = false;  // a fact of the request, not a state: the answer carries no body
    // What the request counters need (method and started are filled only when counting).
    uint8_t method = kOtherMethod;
    uint16_t status = 0;
    Clock::time_point started{};
  };

  bool closing() const { return phase_ >= Phase::closing; }
  void close_after_owed(Phase why);
  bool parse_one(const net::TcpConnectionPtr& connection, net::Buffer& input);
  void dispatch(const net::TcpConnectionPtr& connection, const Request& request);
  Pending* unanswered(const net::TcpConnectionPtr& connection, uint64_t sequence);
  void answer(const net::TcpConnectionPtr& connection, uint64_t sequence, const Response& response);
  void fail(const net::TcpConnectionPtr& connection, int status, std::string_view why,
            std::string_view input);
  void write_ready(const net::TcpConnectionPtr& connection, net::Buffer& out);
  static std::unique_ptr<RequestParser>& spare_parser();
  inline void take_parser();
  inline void release_parser();
  static std::unique_ptr<Note>& spare_note();
  std::unique_ptr<Note> fresh_note();
  std::unique_ptr<Note> note(const Request* request, std::string_view input);
  void note_partial(std::string_view input);
  void report(const net::TcpConnection& connection, const Note& note) const;
  void flush(const net::TcpConnectionPtr& connection, net::Buffer& out, bool input_left = true);
  void update_deadline(const net::TcpConnectionPtr& connection);
  void set_deadline(const net::TcpConnectionPtr& connection, Clock::time_point when);
  void on_timer(const net::TcpConnectionPtr& connection);

  std::shared_ptr<const SessionConfig> config_;
  LoopRequestCounters* counts_ = nullptr;  // this loop's block, when the server counts
  // Only while a request is being parsed: between requests it goes back to the thread
  // (see release_parser()).
  std::unique_ptr<RequestParser> parser_;
  std::vector<Pending> pending_;
  // The request still arriving, for the record of a 408: its first line as far as it came,
  // or (once its head is parsed) its note. Kept only when on_response is set.
  std::unique_ptr<Note> partial_;
  uint64_t next_sequence_ = 0;
  uint64_t written_ = 0;
  // The last request this connection answers: set by a drain that finds one arriving.
  uint64_t last_sequence_ = UINT64_MAX;
  // While on_input runs: where answers made meanwhile collect, to leave in one write.
  net::Buffer* batch_ = nullptr;
  Clock::time_point request_start_{};
  Clock::time_point deadline_ = Clock::time_point::max();  // max: none
  Clock::time_point timer_at_{};
  TimerId timer_;
  Phase phase_ = Phase::idle;
};

}  // namespace reactor::http::detail
