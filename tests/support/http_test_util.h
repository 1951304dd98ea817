#pragma once
// Helpers for the HTTP unit tests: a strict parser of the responses the server writes, an
// in-process http::Server on the test's loop with raw-socket clients, and a worker thread
// to answer requests from off the loop.
#include <gtest/gtest.h>

#include <charconv>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "http/parser.h"
#include "reactor/core/log.h"
#include "reactor/core/unique_function.h"
#include "reactor/http/request.h"
#include "reactor/http/server.h"
#include "test_util.h"

namespace reactor::test {

/// One response as read off the wire.
struct Reply {
  int status = 0;
  std::string reason;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  /// The value of the first field named `name` (case-insensitive), if any.
  std::optional<std::string> header(std::string_view name) const {
    for (const auto& [n, v] : headers)
      if (http::iequals(n, name)) return v;
    return std::nullopt;
  }
  size_t count(std::string_view name) const {
    size_t n = 0;
    for (const auto& h : headers) n += http::iequals(h.first, name);
    return n;
  }
};

enum class ParseResult { complete, need_more, error };

/// Parses one response at the front of `in` and removes it. `head`: the answer to a HEAD
/// request (no body whatever Content-Length says). Strict about the shapes our server must
/// produce: "HTTP/1.1 DDD reason", "Name: value" lines, one Content-Length unless 1xx/204.
inline ParseResult take_reply(std::string& in, Reply& out, bool head = false) {
  const size_t end = in.find("\r\n\r\n");
  if (end == std::string::npos) return ParseResult::need_more;
  std::string_view block(in.data(), end);
  const size_t eol = block.find("\r\n");
  std::string_view status_line = block.substr(0, eol);
  if (status_line.size() < 13 || !status_line.starts_with("HTTP/1.1 ") || status_line[12] != ' ')
    return ParseResult::error;
  Reply r;
  if (std::from_chars(status_line.data() + 9, status_line.data() + 12, r.status).ec != std::errc{})
    return ParseResult::error;
  r.reason = std::string(status_line.substr(13));
  std::string_view rest =
      eol == std::string_view::npos ? std::string_view{} : block.substr(eol + 2);
  while (!rest.empty()) {
    size_t next = rest.find("\r\n");
    std::string_view line = rest.substr(0, next);
    rest = next == std::string_view::npos ? std::string_view{} : rest.substr(next + 2);
    size_t colon = line.find(": ");
    if (colon == std::string_view::npos || colon == 0) return ParseResult::error;
    r.headers.emplace_back(line.substr(0, colon), line.substr(colon + 2));
  }
  size_t length = 0;
  const bool bodiless = r.status < 200 || r.status == 204 || r.status == 304;
  if (!bodiless) {
    auto cl = r.header("Content-Length");
    if (!cl || r.count("Content-Length") != 1) return ParseResult::error;
    if (std::from_chars(cl->data(), cl->data() + cl->size(), length).ec != std::errc{})
      return ParseResult::error;
  } else if (r.status != 304 && r.count("Content-Length") != 0) {
    return ParseResult::error;
  }
  if (head || bodiless) length = 0;
  const size_t start = end + 4;
  if (in.size() < start + length) return ParseResult::need_more;
  r.body = in.substr(start, length);
  in.erase(0, start + length);
  out = std::move(r);
  return ParseResult::complete;
}

/// A request in wire form; a Content-Length is added when `body` is given.
inline std::string wire_request(std::string_view method, std::string_view target,
                                std::optional<std::string_view> body = std::nullopt,
                                std::string_view extra_headers = {}) {
  std::string out;
  out.append(method).append(" ").append(target).append(" HTTP/1.1\r\nHost: test\r\n");
  out.append(extra_headers);
  if (body) out.append("Content-Length: ").append(std::to_string(body->size())).append("\r\n");
  out.append("\r\n");
  if (body) out.append(*body);
  return out;
}

/// Parses `text` (one whole request) with the server's own parser. The returned parser owns
/// nothing: keep `text` alive while using request().
inline std::unique_ptr<http::detail::RequestParser> parse_request(const std::string& text) {
  auto parser = std::make_unique<http::detail::RequestParser>();
  auto result = parser->parse(text);
  EXPECT_EQ(result.state, http::detail::RequestParser::State::complete) << text << result.reason;
  return parser;
}

/// One thread running posted jobs in order; joined on destruction. Jobs are copyable
/// std::functions, so move-only state (a Responder) travels in a shared_ptr.
class Worker {
 public:
  Worker() : thread_([this] { run(); }) {}
  ~Worker() {
    {
      std::lock_guard lock(mu_);
      done_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }
  void post(UniqueFunction<void()> job) {
    {
      std::lock_guard lock(mu_);
      jobs_.push_back(std::move(job));
    }
    cv_.notify_one();
  }
  std::thread::id id() const { return thread_.get_id(); }

 private:
  void run() {
    for (;;) {
      UniqueFunction<void()> job;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [this] { return done_ || !jobs_.empty(); });
        if (jobs_.empty()) return;
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      job();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<UniqueFunction<void()>> jobs_;
  bool done_ = false;
  std::thread thread_;  // last: starts after the rest is built
};

/// Collects the library's log lines while alive; the default sink is back afterwards.
class LogCapture {
 public:
  LogCapture() {
    set_log_sink([this](LogLevel level, std::string_view message) {
      std::lock_guard lock(mu_);
      lines_.emplace_back(level, std::string(message));
    });
  }
  ~LogCapture() { set_log_sink({}); }
  size_t errors_containing(std::string_view text) {
    std::lock_guard lock(mu_);
    size_t n = 0;
    for (const auto& [level, line] : lines_)
      n += level == LogLevel::error && line.find(text) != std::string::npos;
    return n;
  }

 private:
  std::mutex mu_;
  std::vector<std::pair<LogLevel, std::string>> lines_;
};

/// An http::Server on the test thread's loop, and clients for it. Declare first in a test
/// (after anything its handler uses that must outlive it).
class ServerFixture {
 public:
  /// `backend`: the loop's selector (a make_selector() name; empty: the default).
  explicit ServerFixture(std::string_view backend = {}) : loop_(backend) {}
  ~ServerFixture() {
    server_.reset();
    loop_.post([this] { loop_.stop(); });  // let the loop run what closing posted
    loop_.run();
  }

  void start(http::RequestHandler handler, http::ServerOptions options = {}) {
    server_ = std::make_unique<http::Server>(loop_, net::InetAddress::loopback_ipv4(0),
                                             std::move(handler), options);
    server_->start();
  }
  uint16_t port() const { return server_->address().port(); }
  /// Destroys the server now (it resets the connections still open).
  void stop_server() { server_.reset(); }
  EventLoop& loop() { return loop_; }
  http::Server& server() { return *server_; }

  std::unique_ptr<RawClient> connect() {
    auto c = std::make_unique<RawClient>(port());
    EXPECT_TRUE(c->connected()) << std::strerror(c->error);
    return c;
  }

  /// Runs the loop until `n` more responses arrived on `c` (appended to `out`) or the
  /// deadline; false on a timeout or a malformed response. `heads[i]` marks HEAD answers.
  bool replies(RawClient& c, size_t n, std::vector<Reply>& out, std::vector<bool> heads = {},
               std::chrono::milliseconds timeout = 10s) {
    const size_t want = out.size() + n;
    bool bad = false;
    run_until(
        loop_,
        [&] {
          c.pump();
          while (out.size() < want) {
            Reply r;
            const size_t index = out.size() + n - want;
            auto result = take_reply(c.received, r, index < heads.size() && heads[index]);
            if (result == ParseResult::error) bad = true;
            if (result != ParseResult::complete) break;
            out.push_back(std::move(r));
          }
          return bad || out.size() >= want;
        },
        timeout);
    EXPECT_FALSE(bad) << "malformed response: " << c.received.substr(0, 200);
    return !bad && out.size() >= want;
  }

  /// Sends `request` on `c` and returns the next response (status 0 on a timeout).
  Reply exchange(RawClient& c, const std::string& request, bool head = false) {
    c.send(request);
    std::vector<Reply> got;
    if (!replies(c, 1, got, {head})) return {};
    return got.front();
  }

  /// Runs the loop until the server closed `c` (EOF or reset); false at the deadline.
  bool closed_by_server(RawClient& c, std::chrono::milliseconds timeout = 10s) {
    return run_until(
        loop_,
        [&] {
          c.pump();
          return c.eof || c.error != 0;
        },
        timeout);
  }

 protected:
  FdLeakGuard leaks_;
  EventLoop loop_;
  std::unique_ptr<http::Server> server_;
};

}  // namespace reactor::test
