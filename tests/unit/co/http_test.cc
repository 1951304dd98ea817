// Coroutine HTTP handlers (src/co/http.cc) on a real http::Server, over every selector
// backend, driven by raw TCP clients: answers after a suspension, pipelining in order, a
// call to a second TCP server, exceptions answered like a plain handler's, the owning
// request copy, and a client that leaves while its handler is suspended.
#include "reactor/co/http.h"

#include <coroutine>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "co_test_util.h"
#include "http_test_util.h"
#include "net_test_util.h"
#include "reactor/co/time.h"
#include "reactor/net/tcp_client.h"
#include "reactor/net/tcp_server.h"

namespace reactor {
namespace {

using http::Response;
using net::InetAddress;
using test::Reply;
using test::run_until;
using test::wire_request;
using namespace std::chrono_literals;

// A one-shot event between coroutines of one loop: wait() parks until open(), which resumes
// the waiter at once.
class Gate {
 public:
  auto wait() {
    struct Awaiter {
      Gate* gate;
      bool await_ready() const noexcept { return gate->open_; }
      void await_suspend(std::coroutine_handle<> handle) noexcept { gate->waiting_ = handle; }
      void await_resume() const noexcept {}
    };
    return Awaiter{this};
  }
  void open() {
    open_ = true;
    if (waiting_) std::exchange(waiting_, {}).resume();
  }
  bool waiting() const { return static_cast<bool>(waiting_); }

 private:
  std::coroutine_handle<> waiting_;
  bool open_ = false;
};

// One exchange with a TCP echo backend as an awaitable, over net::TcpClient (the layer's
// own co::connect is not part of this test): connects, sends `message`, and resumes with
// as many bytes as came back. The resumption is posted, so the client is never destroyed
// inside its own connection's callback.
class EchoCall {
 public:
  EchoCall(EventLoop& loop, InetAddress backend, std::string message)
      : loop_(loop), message_(std::move(message)), client_(loop, backend, callbacks()) {
    client_.on_connect_error([this](std::error_code error) {
      error_ = error;
      finish();
    });
  }
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> handle) {
    waiting_ = handle;
    client_.connect();
  }
  std::string await_resume() {
    if (error_) throw std::system_error(error_, "backend");
    return reply_;
  }

 private:
  net::ConnectionCallbacks callbacks() {
    net::ConnectionCallbacks cb;
    cb.on_connect = [this](const net::TcpConnectionPtr& c) { c->send(message_); };
    cb.on_message = [this](const net::TcpConnectionPtr&, net::Buffer& in) {
      reply_ += in.view();
      in.clear();
      if (reply_.size() >= message_.size()) finish();
    };
    return cb;
  }
  void finish() {
    loop_.post([handle = std::exchange(waiting_, {})] {
      if (handle) handle.resume();
    });
  }

  EventLoop& loop_;
  std::string message_;
  std::string reply_;
  std::error_code error_;
  std::coroutine_handle<> waiting_;
  net::TcpClient client_;
};

std::string describe(const co::Request& r) {
  std::string out(r.method());
  out.append(" ").append(r.target()).append(" ").append(r.header("X-Probe").value_or("-"));
  out.append(" ").append(r.body());
  return out;
}

uint64_t open_connections(const http::Server& server) {
  uint64_t open = 0;
  for (const auto& s : server.stats()) open += s.open;
  return open;
}

// What the handlers of a test share with it (passed to them as an argument).
struct Shared {
  Gate gate;
  int started = 0;
  int finished = 0;
};

class CoHttpTest : public ::testing::TestWithParam<std::string> {
 protected:
  void start() { f_.start(router_.handler()); }

  Shared shared_;
  http::Router router_;
  test::ServerFixture f_{GetParam()};
};

TEST_P(CoHttpTest, AnswersAfterASleep) {
  router_.route("GET", "/slow", co::handler([](const co::Request& r) -> co::Task<Response> {
                  co_await co::sleep_for(20ms);
                  co_return Response::text(200, std::string(r.path()));
                }));
  start();
  auto c = f_.connect();
  const auto begin = Clock::now();
  Reply r = f_.exchange(*c, wire_request("GET", "/slow"));
  EXPECT_GE(Clock::now() - begin, 20ms);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "/slow");
  // Keep-alive: the connection serves the next request too.
  r = f_.exchange(*c, wire_request("GET", "/slow"));
  EXPECT_EQ(r.status, 200);
}

TEST_P(CoHttpTest, PipelinedRequestsAreAnsweredInOrder) {
  std::vector<std::string> completed;
  // Sleeps for the milliseconds its query names, then answers with its target.
  router_.route(
      "GET", "/delay",
      co::handler(
          [](const co::Request& r, std::vector<std::string>* done) -> co::Task<Response> {
            co_await co::sleep_for(std::chrono::milliseconds(std::stoi(std::string(r.query()))));
            done->emplace_back(r.target());
            co_return Response::text(200, std::string(r.target()));
          },
          &completed));
  router_.route("GET", "/plain", [](const http::Request& r, http::Responder responder) {
    responder.send(Response::text(200, std::string(r.target())));
  });
  start();
  auto c = f_.connect();
  const std::vector<std::string> targets = {"/delay?30", "/delay?0", "/plain", "/delay?10"};
  std::string requests;
  for (const auto& t : targets) requests += wire_request("GET", t);
  c->send(requests);
  std::vector<Reply> got;
  ASSERT_TRUE(f_.replies(*c, targets.size(), got));
  for (std::size_t i = 0; i < targets.size(); ++i) EXPECT_EQ(got[i].body, targets[i]);
  // They ran concurrently: the timers' order, not the requests'.
  EXPECT_EQ(completed, (std::vector<std::string>{"/delay?0", "/delay?10", "/delay?30"}));
}

TEST_P(CoHttpTest, AwaitsACallToAnotherServer) {
  test::Recorder backend_recorder;  // echoes
  net::TcpServer backend(f_.loop(), InetAddress::loopback_ipv4(0), backend_recorder.callbacks());
  backend.start();
  router_.route("POST", "/proxy",
                co::handler(
                    [](const co::Request& r, InetAddress to) -> co::Task<Response> {
                      std::string echoed = co_await EchoCall(*EventLoop::current(), to,
                                                             "echo:" + std::string(r.body()));
                      co_return Response::text(200, std::move(echoed));
                    },
                    backend.address()));
  start();
  auto c = f_.connect();
  Reply r = f_.exchange(*c, wire_request("POST", "/proxy", "payload"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "echo:payload");
  EXPECT_EQ(backend_recorder.data(), "echo:payload");
}

// The answer to a plain handler's exception is the reference the coroutine ones must match.
TEST_P(CoHttpTest, ThrowingHandlerIsAnsweredLikeAPlainOne) {
  test::LogCapture log;
  router_.route("GET", "/plain", [](const http::Request&, http::Responder) {
    throw std::runtime_error("plain threw");
  });
  router_.route("GET", "/at-once", co::handler([](const co::Request&) -> co::Task<Response> {
                  throw std::runtime_error("threw before suspending");
                  co_return Response(200);
                }));
  router_.route("GET", "/later", co::handler([](const co::Request&) -> co::Task<Response> {
                  co_await co::sleep_for(1ms);
                  throw std::runtime_error("threw after suspending");
                }));
  start();
  auto exchange = [&](const std::string& target) {
    auto c = f_.connect();
    Reply r = f_.exchange(*c, wire_request("GET", target));
    EXPECT_TRUE(f_.closed_by_server(*c)) << target;
    return r;
  };
  const Reply plain = exchange("/plain");
  ASSERT_EQ(plain.status, 500);
  EXPECT_EQ(plain.header("Connection"), "close");
  for (const char* target : {"/at-once", "/later"}) {
    const Reply r = exchange(target);
    EXPECT_EQ(r.status, plain.status) << target;
    EXPECT_EQ(r.header("Connection"), plain.header("Connection")) << target;
    EXPECT_EQ(r.body, plain.body) << target;
  }
  EXPECT_EQ(log.errors_containing("plain threw"), 1u);
  EXPECT_EQ(log.errors_containing("threw before suspending"), 1u);
  EXPECT_EQ(log.errors_containing("threw after suspending"), 1u);
}

TEST_P(CoHttpTest, RequestCopyOutlivesTheParserBuffer) {
  // /hold reads its request only after /open, pipelined behind it, was read into the same
  // input buffer (emptied by /hold's dispatch) and overwrote /hold's bytes there. /open
  // takes its Request by value: a copy of the copy.
  router_.route("POST", "/hold",
                co::handler(
                    [](const co::Request& r, Shared* t) -> co::Task<Response> {
                      ++t->started;
                      co_await t->gate.wait();
                      co_return Response::text(200, describe(r));
                    },
                    &shared_));
  router_.route("POST", "/open",
                co::handler(
                    [](co::Request r, Shared* t) -> co::Task<Response> {
                      t->gate.open();
                      co_return Response::text(200, describe(r));
                    },
                    &shared_));
  start();
  auto c = f_.connect();
  c->send(wire_request("POST", "/hold", "first-body", "X-Probe: first-value\r\n"));
  ASSERT_TRUE(run_until(f_.loop(), [&] { return shared_.started == 1; }));
  ASSERT_TRUE(shared_.gate.waiting());
  c->send(wire_request("POST", "/open", "other-body", "X-Probe: other-value\r\n"));
  std::vector<Reply> got;
  ASSERT_TRUE(f_.replies(*c, 2, got));
  EXPECT_EQ(got[0].body, "POST /hold first-value first-body");
  EXPECT_EQ(got[1].body, "POST /open other-value other-body");
}

TEST_P(CoHttpTest, ClientLeavesWhileTheHandlerIsSuspended) {
  router_.route("GET", "/wait",
                co::handler(
                    [](const co::Request& r, Shared* t) -> co::Task<Response> {
                      ++t->started;
                      co_await t->gate.wait();
                      ++t->finished;
                      co_return Response::text(200, std::string(r.target()));
                    },
                    &shared_));
  start();
  auto c = f_.connect();
  c->send(wire_request("GET", "/wait"));
  ASSERT_TRUE(run_until(f_.loop(), [&] { return shared_.started == 1; }));
  c->reset();  // a FIN alone is a half-close: the server would wait to answer
  ASSERT_TRUE(run_until(f_.loop(), [&] { return open_connections(f_.server()) == 0; }));
  shared_.gate.open();  // the answer has nowhere to go: dropped
  EXPECT_EQ(shared_.finished, 1);
  // The server is unharmed.
  auto next = f_.connect();
  next->send(wire_request("GET", "/wait"));
  ASSERT_TRUE(run_until(f_.loop(), [&] { return shared_.started == 2; }));
  EXPECT_EQ(shared_.finished, 2) << "the gate is open: answered at once";
  std::vector<Reply> got;
  ASSERT_TRUE(f_.replies(*next, 1, got));
  EXPECT_EQ(got[0].body, "/wait");
}

TEST_P(CoHttpTest, HandlerStillSuspendedAtTeardown) {
  // Never resumed: the server goes, then the loop, which frees the coroutine (and the
  // Responder in it) without resuming it. Under ASan, nothing leaks.
  router_.route("GET", "/wait",
                co::handler(
                    [](const co::Request&, Shared* t) -> co::Task<Response> {
                      ++t->started;
                      co_await co::sleep_for(10s);
                      ++t->finished;
                      co_return Response(200);
                    },
                    &shared_));
  start();
  auto c = f_.connect();
  c->send(wire_request("GET", "/wait"));
  ASSERT_TRUE(run_until(f_.loop(), [&] { return shared_.started == 1; }));
  c->reset();  // a FIN alone is a half-close: the server would wait to answer
  ASSERT_TRUE(run_until(f_.loop(), [&] { return open_connections(f_.server()) == 0; }));
  EXPECT_EQ(shared_.finished, 0);
}

INSTANTIATE_TEST_SUITE_P(Backends, CoHttpTest,
                         test::all_backends(), test::backend_name);

}  // namespace
}  // namespace reactor
