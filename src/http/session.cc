#include "http/session.h"

#include "http/responder_access.h"
#include "http/wire.h"
#include "reactor/core/log.h"

namespace reactor::http::detail {
namespace {

// Responses made while one read's worth of requests is processed collect here and leave in
// one write. One per thread: only one session is inside on_input on a thread at a time.
thread_local net::Buffer t_batch;

const Response& internal_error() {
  static const Response response = Response::text(500, "Internal Server Error\n");
  return response;
}

}  // namespace

Session::Session(std::shared_ptr<const SessionConfig> config,
                 const net::TcpConnectionPtr& connection)
    : config_(std::move(config)), parser_(config_->limits) {
  update_wait(connection, false);
}

void Session::on_input(const net::TcpConnectionPtr& connection, net::Buffer& input) {
  if (closing_) return input.clear();  // answered with Connection: close; the rest is moot
  in_batch_ = true;
  while (!input.empty() && !closing_ && parse_one(connection, input)) {
  }
  in_batch_ = false;
  flush(connection, t_batch, !input.empty());
  if (connection->connected()) update_wait(connection, !input.empty());
}

// Parses and dispatches one request; false when it needs more input or must stop.
bool Session::parse_one(const net::TcpConnectionPtr& connection, net::Buffer& input) {
  if (pending_.size() >= config_->options.max_pipeline ||
      connection->pending_output() >= config_->options.max_output) {
    connection->pause_reading();  // resumed (and the input redelivered) as answers leave
    return false;
  }
  if (!request_started_) {
    request_started_ = true;
    request_start_ = connection->loop().now();
  }
  auto result = parser_.parse(input.view());
  switch (result.state) {
    case RequestParser::State::need_more: {
      const Request& r = parser_.request();
      if (parser_.headers_done() && r.expects_continue() && !continue_sent_ && pending_.empty() &&
          r.version() == Version::http_1_1) {
        continue_sent_ = true;
        t_batch.append(std::string_view("HTTP/1.1 100 Continue\r\n\r\n"));
      }
      return false;
    }
    case RequestParser::State::error:
      fail(connection, result.status, result.reason);
      input.clear();
      return false;
    case RequestParser::State::complete:
      dispatch(connection, parser_.request());
      input.consume(result.consumed);
      parser_.reset();
      continue_sent_ = false;
      request_started_ = false;
      return true;
  }
  return false;
}

void Session::dispatch(const net::TcpConnectionPtr& connection, const Request& request) {
  Pending slot;
  slot.head = request.method() == "HEAD";
  slot.client_close = !request.keep_alive();
  slot.close = slot.client_close || draining_;
  slot.http10_keep_alive = !slot.close && request.version() == Version::http_1_0;
  closing_ = slot.close;
  pending_.push_back(std::move(slot));
  const uint64_t sequence = next_sequence_++;
  try {
    config_->handler(request, ResponderAccess::make(connection, sequence));
  } catch (const std::exception& e) {
    return handler_threw(connection, sequence, e.what());
  } catch (...) {
    return handler_threw(connection, sequence, "unknown exception");
  }
  Pending* owed = unanswered(connection, sequence);
  if (!owed) return;
  if (owed->answer == Answer::dropped) return answer(connection, sequence, internal_error());
  owed->answer = Answer::awaited;
}

// The handler's state is unknown after a throw: answer 500 and end the connection. An answer
// it sent before throwing stands (it was complete); the connection then goes on.
void Session::handler_threw(const net::TcpConnectionPtr& connection, uint64_t sequence,
                            std::string_view what) {
  std::string message = "http: a request handler threw: ";
  message += what;
  reactor::log(LogLevel::error, message);
  Pending* owed = unanswered(connection, sequence);
  if (!owed) return;
  owed->close = true;
  closing_ = true;
  answer(connection, sequence, internal_error());
}

void Session::fail(const net::TcpConnectionPtr& connection, int status, std::string_view why) {
  Pending slot;
  slot.close = true;
  closing_ = true;
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
  Pending& slot = pending_[sequence - written_];
  if (sequence != written_) {
    net::Buffer wire;
    serialize(wire, slot, response);
    slot.wire = wire.take_all();
    slot.answer = Answer::ready;
    return;
  }
  net::Buffer local;
  net::Buffer& out = in_batch_ ? t_batch : local;
  serialize(out, slot, response);
  slot.answer = Answer::ready;
  write_ready(connection, out);
  if (!in_batch_) flush(connection, out);
}

void Session::serialize(net::Buffer& out, Pending& slot, const Response& response) {
  auto header = slot.close               ? ConnectionHeader::close
                : slot.http10_keep_alive ? ConnectionHeader::keep_alive
                                         : ConnectionHeader::none;
  write_response(out, response, slot.head, header);
}

// Moves the responses that are ready, in order, from the front of pending_ into `out`.
void Session::write_ready(const net::TcpConnectionPtr& connection, net::Buffer& out) {
  size_t done = 0;
  bool close = false;
  for (; done < pending_.size() && pending_[done].answer == Answer::ready && !close; ++done) {
    if (done > 0) out.append(pending_[done].wire);  // the first is already in `out`
    close = pending_[done].close;
    client_closed_ = pending_[done].client_close;
  }
  pending_.erase(pending_.begin(), pending_.begin() + static_cast<ptrdiff_t>(done));
  written_ += done;
  if (close) {
    pending_.clear();  // nothing after a Connection: close response is ever written
    closing_ = true;
  }
  if (connection->reading_paused() && pending_.size() < config_->options.max_pipeline && !closing_)
    connection->resume_reading();
}

void Session::flush(const net::TcpConnectionPtr& connection, net::Buffer& out, bool input_left) {
  if (!out.empty()) connection->send(out);
  if (!closing_ || !pending_.empty()) return;
  // A client that asked to close sends nothing more (RFC 9112 §9.6), so its connection
  // closes as soon as the answer is out. Otherwise (errors, drain, unread pipelined input)
  // the connection lingers until the client's FIN, so that no reset eats the answer.
  const bool linger = !client_closed_ || input_left;
  connection->close(linger ? net::Linger::until_peer_fin : net::Linger::none);
}

void Session::drain(const net::TcpConnectionPtr& connection) {
  draining_ = true;
  if (pending_.empty() && !request_started_) return connection->close();
  if (!pending_.empty()) {
    pending_.back().close = true;  // the last answer owed says Connection: close
    closing_ = true;
  }
}

void Session::peer_shutdown(const net::TcpConnectionPtr& connection) {
  closing_ = true;  // a partial request can never complete now
  if (pending_.empty()) connection->close();
}

void Session::closed(EventLoop& loop) {
  loop.cancel(timer_);
  timer_ = {};
}

void Session::update_wait(const net::TcpConnectionPtr& connection, bool partial_request) {
  const ServerOptions& o = config_->options;
  const Clock::time_point now = connection->loop().now();
  if (closing_) return set_deadline(connection, Wait::none, now);
  if (partial_request && parser_.headers_done())
    return set_deadline(connection, Wait::body, now + o.body_timeout);
  if (partial_request)
    return set_deadline(connection, Wait::header, request_start_ + o.header_timeout);
  if (pending_.empty()) return set_deadline(connection, Wait::idle, now + o.idle_timeout);
  set_deadline(connection, Wait::none, now);  // the handler is working: its business
}

// Moving a deadline later costs nothing: the armed timer re-arms itself when it fires
// early. Only a deadline earlier than the armed one touches the timer heap.
void Session::set_deadline(const net::TcpConnectionPtr& connection, Wait wait,
                           Clock::time_point when) {
  wait_ = wait;
  deadline_ = when;
  if (wait == Wait::none || (timer_ && timer_at_ <= when)) return;
  EventLoop& loop = connection->loop();
  loop.cancel(timer_);
  timer_at_ = when;
  std::weak_ptr<net::TcpConnection> weak = connection;
  timer_ = loop.run_after(when - Clock::now(), [weak] {
    if (auto c = weak.lock(); c && c->connected()) Session::of(*c)->on_timer(c);
  });
}

void Session::on_timer(const net::TcpConnectionPtr& connection) {
  timer_ = {};
  if (wait_ == Wait::none) return;
  if (Clock::now() < deadline_) return set_deadline(connection, wait_, deadline_);
  if (wait_ == Wait::idle) return connection->close();
  fail(connection, 408, wait_ == Wait::header ? "header timeout" : "body timeout");
}

}  // namespace reactor::http::detail
