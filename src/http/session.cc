#include "http/session.h"

#include "core/tracer.h"
#include "http/responder_access.h"
#include "reactor/core/log.h"

namespace reactor::http::detail {
namespace {

// Responses made while one read's worth of requests is processed collect here and leave in
// one write. One per thread: only one session is inside on_input on a thread at a time.
thread_local net::Buffer t_batch;

constexpr Clock::time_point kNoDeadline = Clock::time_point::max();

const Response& internal_error() {
  static const Response response = Response::text(500, "Internal Server Error\n");
  return response;
}

}  // namespace

void log_handler_error(std::exception_ptr error) {
  std::string message = "http: a request handler threw: ";
  try {
    std::rethrow_exception(std::move(error));
  } catch (const std::exception& e) {
    message += e.what();
  } catch (...) {
    message += "unknown exception";
  }
  reactor::log(LogLevel::error, message);
}

Session::Session(std::shared_ptr<const SessionConfig> config,
                 const net::TcpConnectionPtr& connection)
    : config_(std::move(config)) {
  if (config_->counters) counts_ = &config_->counters->of_loop(connection->loop().index());
  update_deadline(connection);
}

// One parser per thread, not per connection, while connections are between requests: an
// idle keep-alive connection then costs little more than its socket (the parser with its
// field vectors is ~1.9 KB), and the next request on this thread, often another
// connection's, takes it back without allocating.
std::unique_ptr<RequestParser>& Session::spare_parser() {
  thread_local std::unique_ptr<RequestParser> spare;
  return spare;
}

inline void Session::take_parser() {
  std::unique_ptr<RequestParser>& spare = spare_parser();
  if (spare && spare->made_for(config_->limits)) [[likely]]
    parser_ = std::move(spare);
  else
    parser_ = std::make_unique<RequestParser>(config_->limits);
}

// The parser is between requests (reset after its last one).
inline void Session::release_parser() {
  std::unique_ptr<RequestParser>& spare = spare_parser();
  if (!spare)
    spare = std::move(parser_);
  else
    parser_.reset();
}

void Session::on_input(const net::TcpConnectionPtr& connection, net::Buffer& input) {
  if (closing()) return input.clear();  // answered with Connection: close; the rest is moot
  batch_ = &t_batch;
  while (!input.empty() && !closing() && parse_one(connection, input)) {
  }
  batch_ = nullptr;
  flush(connection, t_batch, !input.empty());
  if (connection->connected()) update_deadline(connection);
  if (phase_ == Phase::idle && parser_) release_parser();
}

// Enters a closing phase; the first reason stays (it decides the linger).
void Session::close_after_owed(Phase why) {
  if (!closing()) phase_ = why;
}

// Parses and dispatches one request; false when it needs more input or must stop.
bool Session::parse_one(const net::TcpConnectionPtr& connection, net::Buffer& input) {
  if (pending_.size() >= config_->options.max_pipeline ||
      connection->pending_output() >= config_->options.max_output) {
    connection->pause_reading();  // resumed (and the input redelivered) as answers leave
    return false;
  }
  if (phase_ == Phase::idle) {
    phase_ = Phase::head;
    request_start_ = connection->loop().now();
  }
  if (!parser_) take_parser();
  auto result = parser_->parse(input.view());
  switch (result.state) {
    case RequestParser::State::need_more: {
      if (!parser_->headers_done()) {
        if (config_->options.on_response) note_partial(input.view());
        return false;
      }
      if (phase_ == Phase::continued) return false;
      const Request& r = parser_->request();
      if (config_->options.on_response && phase_ == Phase::head) partial_ = note(&r, {});
      phase_ = Phase::body;
      if (r.expects_continue() && pending_.empty() && r.version() == Version::http_1_1) {
        phase_ = Phase::continued;
        batch_->append(std::string_view("HTTP/1.1 100 Continue\r\n\r\n"));
      }
      return false;
    }
    case RequestParser::State::error:
      fail(connection, result.status, result.reason, input.view());
      input.clear();
      return false;
    case RequestParser::State::complete:
      phase_ = Phase::idle;  // before the handler runs: it may drain the server
      dispatch(connection, parser_->request());
      input.consume(result.consumed);
      parser_->reset();
      return true;
  }
  return false;
}

void Session::dispatch(const net::TcpConnectionPtr& connection, const Request& request) {
  const uint64_t sequence = next_sequence_++;
  if (auto* t = reactor::detail::tracer(connection->loop())) [[unlikely]]
    t->line("request",
            {{"fd", connection->fd()}, {"method", request.method()}, {"target", request.target()}});
  Pending slot;
  slot.answer = Answer::in_handler;
  slot.head = request.method() == "HEAD";
  if (!request.keep_alive()) close_after_owed(Phase::closing_asked);
  if (sequence >= last_sequence_) close_after_owed(Phase::closing);
  slot.connection = closing()                                ? ConnectionHeader::close
                    : request.version() == Version::http_1_0 ? ConnectionHeader::keep_alive
                                                             : ConnectionHeader::none;
  if (config_->options.on_response) {
    slot.note = note(&request, {});
    partial_.reset();
  }
  if (counts_) {
    slot.method = method_class(request.method());
    slot.started = request_start_;
  }
  pending_.push_back(std::move(slot));
  try {
    config_->handler(request, ResponderAccess::make(connection, sequence));
  } catch (...) {
    return handler_threw(connection, sequence, std::current_exception());
  }
  Pending* owed = unanswered(connection, sequence);
  if (!owed) return;
  if (owed->answer == Answer::dropped) return answer(connection, sequence, internal_error());
  owed->answer = Answer::awaited;
}

// The handler's state is unknown after a throw: answer 500 and end the connection. An answer
// it sent before throwing stands (it was complete); the connection then goes on.
void Session::handler_threw(const net::TcpConnectionPtr& connection, uint64_t sequence,
                            std::exception_ptr error) {
  log_handler_error(std::move(error));
  Pending* owed = unanswered(connection, sequence);
  if (!owed) return;
  owed->connection = ConnectionHeader::close;
  close_after_owed(Phase::closing);
  answer(connection, sequence, internal_error());
}

// `input`: the bytes of the request that failed to parse; empty for a timeout, whose
// request is what partial_ kept of it (nothing if no byte of it arrived).
void Session::fail(const net::TcpConnectionPtr& connection, int status, std::string_view why,
                   std::string_view input) {
  Pending slot;
  slot.connection = ConnectionHeader::close;
  if (config_->options.on_response)
    slot.note = input.empty() && partial_ ? std::move(partial_) : note(nullptr, input);
  if (counts_) {  // a timeout's request may have a method; one that failed to parse has none
    if (input.empty() && parser_ && parser_->headers_done())
      slot.method = method_class(parser_->request().method());
    slot.started = request_start_;
  }
  close_after_owed(Phase::closing_unread);
  pending_.push_back(std::move(slot));
  std::string body(reason_phrase(status));
  if (!why.empty()) {
    body += ": ";
    body += why;
  }
  body += '\n';
  const uint64_t sequence = next_sequence_++;
  answer(connection, sequence, Response::text(status, std::move(body)));
}

void Session::complete(const net::TcpConnectionPtr& connection, uint64_t sequence,
                       const Response* response) {
  Pending* owed = unanswered(connection, sequence);
  if (!owed) return;
  if (response) return answer(connection, sequence, *response);
  // Dropped while its handler runs: dispatch answers once it knows whether it threw.
  if (owed->answer == Answer::in_handler)
    owed->answer = Answer::dropped;
  else
    answer(connection, sequence, internal_error());
}

// The slot of request `sequence` if it still waits for its answer, else nullptr (answered,
// or the connection is gone).
Session::Pending* Session::unanswered(const net::TcpConnectionPtr& connection, uint64_t sequence) {
  if (!connection->connected() || sequence < written_ || sequence - written_ >= pending_.size())
    return nullptr;
  Pending& slot = pending_[sequence - written_];
  return slot.answer == Answer::ready ? nullptr : &slot;
}

void Session::answer(const net::TcpConnectionPtr& connection, uint64_t sequence,
                     const Response& response) {
  if (auto* t = reactor::detail::tracer(connection->loop())) [[unlikely]]
    t->line("response", {{"fd", connection->fd()}, {"status", response.status()}});
  Pending& slot = pending_[sequence - written_];
  slot.answer = Answer::ready;
  slot.status = static_cast<uint16_t>(response.status());
  if (slot.note) {  // reported when written (write_ready), which may be later
    slot.note->status = response.status();
    slot.note->body_bytes = slot.head ? 0 : response.body().size();
    slot.note->finished = Clock::now();
  }
  if (sequence != written_) {
    net::Buffer wire;
    write_response(wire, response, slot.head, slot.connection);
    slot.wire = wire.take_all();
    return;
  }
  net::Buffer local;
  net::Buffer& out = batch_ ? *batch_ : local;
  write_response(out, response, slot.head, slot.connection);
  write_ready(connection, out);
  if (!batch_) flush(connection, out);
}

namespace {

// A request's first line as far as it is in `input`: the empty lines a request may begin
// with (RFC 9112 §2.2) skipped, at most `limit` bytes.
std::string_view first_line(std::string_view input, size_t limit) {
  input.remove_prefix(std::min(input.find_first_not_of("\r\n"), input.size()));
  return input.substr(0, std::min(input.find_first_of("\r\n"), limit));
}

}  // namespace

// The Note reported last on this thread, kept for reuse by the thread rather than by each
// connection, so that an idle connection holds none.
std::unique_ptr<Session::Note>& Session::spare_note() {
  thread_local std::unique_ptr<Note> spare;
  return spare;
}

// A cleared Note: the spare one when there is one, whose strings keep their capacity, so
// that keep-alive requests allocate nothing for on_response.
std::unique_ptr<Session::Note> Session::fresh_note() {
  std::unique_ptr<Note> n = std::move(spare_note());
  if (!n) return std::make_unique<Note>();
  n->request_line.clear();
  n->method.clear();
  n->referer.clear();
  n->user_agent.clear();
  n->started = n->finished = {};
  n->status = 0;
  n->body_bytes = 0;
  return n;
}

// `request` parsed, or (null) the raw input of one that failed to parse, whose first line
// is kept as far as it arrived (an access log shows what was sent).
std::unique_ptr<Session::Note> Session::note(const Request* request, std::string_view input) {
  std::unique_ptr<Note> n = fresh_note();
  n->started = request_start_;
  if (!request) {
    n->request_line = first_line(input, config_->limits.max_request_line);
    return n;
  }
  n->method = request->method();
  n->request_line.append(n->method).append(" ").append(request->target());
  n->request_line.append(request->version() == Version::http_1_0 ? " HTTP/1.0" : " HTTP/1.1");
  n->referer = request->header("Referer").value_or("");
  n->user_agent = request->header("User-Agent").value_or("");
  return n;
}

// A head split across reads: keeps its first line as it grows, copying each byte once.
void Session::note_partial(std::string_view input) {
  if (!partial_) {
    partial_ = fresh_note();
    partial_->started = request_start_;
  }
  std::string_view line = first_line(input, config_->limits.max_request_line);
  if (line.size() > partial_->request_line.size())
    partial_->request_line.append(line.substr(partial_->request_line.size()));
}

void Session::report(const net::TcpConnection& connection, const Note& n) const {
  ResponseRecord record{connection, n.request_line, n.method,  n.referer, n.user_agent,
                        n.status,   n.body_bytes,   n.started, n.finished};
  config_->options.on_response(record);
}

// Moves the responses that are ready, in order, from the front of pending_ into `out`.
void Session::write_ready(const net::TcpConnectionPtr& connection, net::Buffer& out) {
  size_t done = 0;
  bool close = false;
  for (; done < pending_.size() && pending_[done].answer == Answer::ready && !close; ++done) {
    if (done > 0) out.append(pending_[done].wire);  // the first is already in `out`
    // The iteration's time, not a clock read: see RequestStats::durations.
    if (counts_)
      counts_->count(pending_[done].method, pending_[done].status, pending_[done].started,
                     connection->loop().now());
    // Reported here, in write order; an answer that is never written (after a close) is not.
    if (pending_[done].note) {
      report(*connection, *pending_[done].note);
      if (!spare_note()) spare_note() = std::move(pending_[done].note);  // for a later request
    }
    close = pending_[done].connection == ConnectionHeader::close;
  }
  pending_.erase(pending_.begin(), pending_.begin() + static_cast<ptrdiff_t>(done));
  written_ += done;
  if (close) pending_.clear();  // nothing after a Connection: close response is ever written
  if (connection->reading_paused() && pending_.size() < config_->options.max_pipeline && !closing())
    connection->resume_reading();
}

void Session::flush(const net::TcpConnectionPtr& connection, net::Buffer& out, bool input_left) {
  if (!out.empty()) connection->send(out);
  if (!closing() || !pending_.empty()) return;
  // Lingering (reading on until the client's FIN) protects the answer from the reset that
  // bytes arriving after close() would cause; it is owed only when more bytes may come.
  // After an error answer the rest of that request may still be on its way, and unread
  // pipelined input is known to be there: linger. After a complete request with nothing
  // unread, a client that asked to close sends nothing more (RFC 9112 §9.6), and one told
  // "Connection: close" (drain) has no reason to: close once the answer is out, as nginx's
  // `lingering_close on` does; Linger::none still lingers if bytes wait in the kernel when
  // the output is flushed. Were we to linger there, a client that keeps its socket open
  // would hold the process until the drain deadline. What remains is a pipelining client
  // whose next request is on the wire as we close; no server can tell that from one that
  // is done, and the request gets no answer either way.
  const bool linger = phase_ == Phase::closing_unread || input_left;
  connection->close(linger ? net::Linger::until_peer_fin : net::Linger::none);
}

void Session::drain(const net::TcpConnectionPtr& connection) {
  // Idle: no request begun, nothing unread (Linger::none checks the kernel's queue once
  // more), so nothing a late byte's reset could destroy that the client still waits for.
  if (pending_.empty() && phase_ == Phase::idle) return connection->close(net::Linger::none);
  if (pending_.empty()) {
    last_sequence_ = next_sequence_;  // the request arriving is the last
    return;
  }
  pending_.back().connection = ConnectionHeader::close;  // the last answer owed says so
  close_after_owed(Phase::closing);
}

void Session::peer_shutdown(const net::TcpConnectionPtr& connection) {
  close_after_owed(Phase::closing);  // a partial request can never complete now
  if (pending_.empty()) connection->close();
}

void Session::closed(EventLoop& loop) {
  loop.cancel(timer_);
  timer_ = {};
}

void Session::update_deadline(const net::TcpConnectionPtr& connection) {
  const ServerOptions& o = config_->options;
  const Clock::time_point now = connection->loop().now();
  switch (phase_) {
    case Phase::idle:  // with answers owed, the handler is working: its business
      return set_deadline(connection, pending_.empty() ? now + o.idle_timeout : kNoDeadline);
    case Phase::head:
      return set_deadline(connection, request_start_ + o.header_timeout);
    case Phase::body:
    case Phase::continued:
      return set_deadline(connection, now + o.body_timeout);
    case Phase::closing:
    case Phase::closing_unread:
    case Phase::closing_asked:
      return set_deadline(connection, kNoDeadline);
  }
}

// Moving a deadline later costs nothing: the armed timer re-arms itself when it fires
// early. Only a deadline earlier than the armed one touches the timer heap.
void Session::set_deadline(const net::TcpConnectionPtr& connection, Clock::time_point when) {
  deadline_ = when;
  if (when == kNoDeadline || (timer_ && timer_at_ <= when)) return;
  EventLoop& loop = connection->loop();
  loop.cancel(timer_);
  timer_at_ = when;
  std::weak_ptr<net::TcpConnection> weak = connection;
  timer_ = loop.run_after(when - Clock::now(), [weak] {
    if (auto c = weak.lock(); c && c->connected()) Session::of(*c)->on_timer(c);
  });
}

// What a deadline means depends on the phase it was set in; every phase change that is
// not followed by update_deadline() (a read) moves to a closing phase, which has none.
void Session::on_timer(const net::TcpConnectionPtr& connection) {
  timer_ = {};
  if (deadline_ == kNoDeadline) return;
  if (Clock::now() < deadline_) return set_deadline(connection, deadline_);
  switch (phase_) {
    case Phase::idle:
      return connection->close();
    case Phase::head:
      return fail(connection, 408, "header timeout", {});
    case Phase::body:
    case Phase::continued:
      return fail(connection, 408, "body timeout", {});
    case Phase::closing:
    case Phase::closing_unread:
    case Phase::closing_asked:
      return;
  }
}

}  // namespace reactor::http::detail
