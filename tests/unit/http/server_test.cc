// Unit tests for http::Server, its sessions and Responder (src/http/server.cc, session.cc,
// responder.cc): an in-process server on the test's loop and raw-socket clients. Answers
// made later, out of order, twice, never, after the close, from other threads (suites named
// ...Threads; CTest label "threads"), handlers that throw, limits, timeouts and the drain.
#include "reactor/http/server.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "http_test_util.h"
#include "reactor/core/log.h"

namespace reactor::http {
namespace {

using test::LogCapture;
using test::Reply;
using test::run_for;
using test::run_until;
using test::wire_request;
using namespace std::chrono_literals;

// "/<i>", formatted without operator+ (GCC 12 warns falsely about it: -Wrestrict).
std::string slash(int i) {
  char text[16];
  int n = std::snprintf(text, sizeof text, "/%d", i);
  return std::string(text, static_cast<size_t>(n));
}

// Pipelined GETs of /0 .. /n-1 in one string.
std::string pipelined(int n, std::string_view prefix = "/") {
  std::string out;
  for (int i = 0; i < n; ++i) out += wire_request("GET", std::string(prefix) + std::to_string(i));
  return out;
}

class ServerTest : public ::testing::Test {
 protected:
  /// Answers with the request-target as the body.
  static void echo_target(const Request& r, Responder responder) {
    responder.send(Response::text(200, std::string(r.target())));
  }
  /// A handler that keeps every Responder (with its target) for the test to answer.
  RequestHandler holding() {
    return [this](const Request& r, Responder responder) {
      held_.emplace_back(std::string(r.target()),
                         std::make_unique<Responder>(std::move(responder)));
    };
  }
  std::vector<Reply> replies(test::RawClient& c, size_t n) {
    std::vector<Reply> out;
    EXPECT_TRUE(f_.replies(c, n, out)) << "got " << out.size() << " of " << n;
    return out;
  }

  test::ServerFixture f_;
  // After f_: Responders still held at the end are destroyed (answering 500) while the
  // server and its loop still exist.
  std::vector<std::pair<std::string, std::unique_ptr<Responder>>> held_;
};

TEST_F(ServerTest, AnswersSeveralRequestsOnOneConnection) {
  f_.start(echo_target);
  auto c = f_.connect();
  for (std::string target : {"/a", "/b?x=1", "/c"}) {
    Reply r = f_.exchange(*c, wire_request("GET", target));
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, target);
    EXPECT_FALSE(r.header("Connection"));
    EXPECT_EQ(r.count("Date"), 1u);
  }
  EXPECT_EQ(f_.server().stats().at(0).accepted, 1u);
}

// on_response's records on one keep-alive connection: each its own request's fields, none
// left over from the previous one (the session reuses its note).
TEST_F(ServerTest, OnResponseRecordsEachRequestsOwnFields) {
  struct Seen {
    std::string line, method, user_agent;
    int status;
    bool timed;
  };
  std::vector<Seen> seen;
  ServerOptions options;
  options.on_response = [&](const ResponseRecord& r) {
    seen.push_back({std::string(r.request_line), std::string(r.method), std::string(r.user_agent),
                    r.status, r.finished >= r.started});
  };
  f_.start(echo_target, options);
  auto c = f_.connect();
  EXPECT_EQ(f_.exchange(*c, wire_request("GET", "/a", std::nullopt, "User-Agent: t/1\r\n")).status,
            200);
  EXPECT_EQ(f_.exchange(*c, wire_request("DELETE", "/b")).status, 200);
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].method, "GET");
  EXPECT_EQ(seen[1].method, "DELETE");
  EXPECT_EQ(seen[0].line, "GET /a HTTP/1.1");
  EXPECT_EQ(seen[1].line, "DELETE /b HTTP/1.1");
  EXPECT_EQ(seen[0].user_agent, "t/1");
  EXPECT_EQ(seen[1].user_agent, "");
  EXPECT_EQ(seen[1].status, 200);
  EXPECT_TRUE(seen[0].timed && seen[1].timed);
}

// ServerOptions::count_requests: every response written counts once, by its request's
// method and its status class; one that failed to parse counts as "other".
TEST_F(ServerTest, CountsRequestsByMethodAndStatusClass) {
  ServerOptions options;
  options.count_requests = true;
  f_.start(
      [](const Request& r, Responder responder) {
        responder.send(Response::text(r.target() == "/missing" ? 404 : 200, "x"));
      },
      options);
  auto c = f_.connect();
  c->send(wire_request("GET", "/a") + wire_request("HEAD", "/b") +
          wire_request("DELETE", "/missing") + wire_request("GET", "/c") + "BAD REQUEST\r\n\r\n");
  std::vector<Reply> got;
  ASSERT_TRUE(f_.replies(*c, 5, got, {false, true}));
  EXPECT_EQ(got[4].status, 400);
  const auto stats = f_.server().request_stats();
  ASSERT_EQ(stats.size(), 1u);
  EXPECT_EQ(stats[0].loop, f_.loop().index());
  EXPECT_EQ(stats[0].count("GET", "2xx"), 2u);
  EXPECT_EQ(stats[0].count("HEAD", "2xx"), 1u);
  EXPECT_EQ(stats[0].count("DELETE", "4xx"), 1u);
  EXPECT_EQ(stats[0].count("other", "4xx"), 1u);
  uint64_t requests = 0, durations = 0;
  for (uint64_t n : stats[0].requests) requests += n;
  for (uint64_t n : stats[0].durations) durations += n;
  EXPECT_EQ(requests, 5u);
  EXPECT_EQ(durations, 5u);
}

TEST_F(ServerTest, CountsNothingUnlessAsked) {
  f_.start(echo_target);
  auto c = f_.connect();
  EXPECT_EQ(f_.exchange(*c, wire_request("GET", "/a")).status, 200);
  EXPECT_TRUE(f_.server().request_stats().empty());
}

TEST_F(ServerTest, HeadDropsTheBodyTheHandlerGave) {
  f_.start(echo_target);
  auto c = f_.connect();
  Reply r = f_.exchange(*c, wire_request("HEAD", "/four"), true);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("Content-Length"), "5");
  EXPECT_EQ(f_.exchange(*c, wire_request("GET", "/next")).body, "/next") << "no stray body bytes";
}

TEST_F(ServerTest, HandlerThatThrowsGives500ClosesAndIsLogged) {
  LogCapture log;
  int calls = 0;
  f_.start([&](const Request& r, Responder responder) {
    ++calls;
    if (r.target() == "/throw") throw std::runtime_error("handler bug");
    responder.send(Response::text(200, "fine"));
  });
  auto c = f_.connect();
  c->send(wire_request("GET", "/ok") + wire_request("GET", "/throw") + wire_request("GET", "/no"));
  auto got = replies(*c, 2);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].body, "fine");
  EXPECT_FALSE(got[0].header("Connection"));
  EXPECT_EQ(got[1].status, 500);
  EXPECT_EQ(got[1].reason, "Internal Server Error");
  EXPECT_EQ(got[1].header("Connection"), "close");
  ASSERT_TRUE(f_.closed_by_server(*c));
  EXPECT_EQ(c->received, "") << "nothing after the 500";
  EXPECT_EQ(calls, 2) << "the request after the throw is not handled";
  EXPECT_EQ(log.errors_containing("handler bug"), 1u);
}

TEST_F(ServerTest, HandlerThrowingSomethingElseIsLoggedAsUnknown) {
  LogCapture log;
  f_.start([](const Request&, Responder) { throw 42; });
  auto c = f_.connect();
  Reply r = f_.exchange(*c, wire_request("GET", "/throw"));
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.header("Connection"), "close");
  EXPECT_TRUE(f_.closed_by_server(*c));
  EXPECT_EQ(log.errors_containing("unknown exception"), 1u);
}

// The Responder moved out before the throw: the 500 is the answer, its later send is ignored.
TEST_F(ServerTest, ThrowAfterKeepingTheResponderGives500AndTheLaterSendIsIgnored) {
  LogCapture log;
  f_.start([this](const Request& r, Responder responder) {
    held_.emplace_back(std::string(r.target()), std::make_unique<Responder>(std::move(responder)));
    throw std::logic_error("kept then threw");
  });
  auto c = f_.connect();
  Reply r = f_.exchange(*c, wire_request("GET", "/kept"));
  EXPECT_EQ(r.status, 500);
  ASSERT_EQ(held_.size(), 1u);
  held_[0].second->send(Response::text(200, "too late"));
  EXPECT_TRUE(f_.closed_by_server(*c));
  EXPECT_EQ(c->received, "");
  EXPECT_EQ(log.errors_containing("kept then threw"), 1u);
}

// An answer sent before the throw was complete: it stands, and the connection goes on.
TEST_F(ServerTest, ThrowAfterSendKeepsTheAnswer) {
  LogCapture log;
  f_.start([](const Request&, Responder responder) {
    responder.send(Response::text(200, "sent first"));
    throw 42;  // not even a std::exception
  });
  auto c = f_.connect();
  c->send(pipelined(2));
  auto got = replies(*c, 2);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].body, "sent first");
  EXPECT_EQ(got[1].body, "sent first");
  run_for(f_.loop(), 20ms);
  c->pump();
  EXPECT_EQ(c->received, "") << "no extra 500 after an answer";
  EXPECT_EQ(log.errors_containing("unknown exception"), 2u);
}

TEST_F(ServerTest, InvalidStatusFromTheHandlerIsALogged500) {
  LogCapture log;
  f_.start([](const Request&, Responder responder) {
    responder.send(Response::text(200, "never").status(600));
  });
  auto c = f_.connect();
  Reply r = f_.exchange(*c, wire_request("GET", "/bad-status"));
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.header("Connection"), "close");
  EXPECT_TRUE(f_.closed_by_server(*c));
  EXPECT_EQ(log.errors_containing("600 outside 100-599"), 1u);
}

TEST_F(ServerTest, ResponderDroppedUnsentGives500) {
  f_.start([](const Request&, Responder) {});
  auto c = f_.connect();
  Reply r = f_.exchange(*c, wire_request("GET", "/dropped"));
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(f_.exchange(*c, wire_request("GET", "/again")).status, 500);
}

TEST_F(ServerTest, MovedFromResponderDoesNotAnswer) {
  f_.start([](const Request&, Responder responder) {
    Responder moved(std::move(responder));
    moved.send(Response::text(200, "from the moved-to one"));
  });  // the moved-from one is destroyed unsent: it owes nothing
  auto c = f_.connect();
  c->send(pipelined(2));
  auto got = replies(*c, 2);
  for (const Reply& r : got) EXPECT_EQ(r.status, 200);
  run_for(f_.loop(), 20ms);
  c->pump();
  EXPECT_EQ(c->received, "");
}

TEST_F(ServerTest, SecondSendIsIgnored) {
  f_.start([](const Request& r, Responder responder) {
    responder.send(Response::text(200, std::string(r.target())));
    responder.send(Response::text(500, "again"));
  });
  auto c = f_.connect();
  c->send(pipelined(3));
  auto got = replies(*c, 3);
  ASSERT_EQ(got.size(), 3u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(got[i].body, slash(i));
  run_for(f_.loop(), 20ms);
  c->pump();
  EXPECT_EQ(c->received, "");
}

TEST_F(ServerTest, AnswerMadeLaterOnTheLoop) {
  f_.start(holding());
  auto c = f_.connect();
  c->send(wire_request("GET", "/later"));
  ASSERT_TRUE(run_until(f_.loop(), [&] { return held_.size() == 1; }));
  f_.loop().run_after(10ms, [&] { held_[0].second->send(Response::text(200, "late")); });
  auto got = replies(*c, 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].body, "late");
}

TEST_F(ServerTest, OutOfOrderAnswersAreWrittenInRequestOrder) {
  f_.start(holding());
  auto c = f_.connect();
  c->send(pipelined(5));
  ASSERT_TRUE(run_until(f_.loop(), [&] { return held_.size() == 5; }));
  for (int i = 4; i >= 1; --i)
    held_[i].second->send(Response::text(200, "answer " + held_[i].first));
  run_for(f_.loop(), 30ms);
  c->pump();
  EXPECT_EQ(c->received, "") << "nothing may pass the unanswered first request";
  held_[0].second->send(Response::text(200, "answer " + held_[0].first));
  auto got = replies(*c, 5);
  ASSERT_EQ(got.size(), 5u);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(got[i].body, "answer /" + std::to_string(i));
}

TEST_F(ServerTest, HeadAnsweredLaterStillHasNoBody) {
  f_.start(holding());
  auto c = f_.connect();
  c->send(wire_request("HEAD", "/h") + wire_request("GET", "/g"));
  ASSERT_TRUE(run_until(f_.loop(), [&] { return held_.size() == 2; }));
  held_[1].second->send(Response::text(200, "get body"));
  held_[0].second->send(Response::text(200, "head body"));
  std::vector<Reply> got;
  ASSERT_TRUE(f_.replies(*c, 2, got, {true, false}));
  EXPECT_EQ(got[0].header("Content-Length"), "9");
  EXPECT_EQ(got[0].body, "");
  EXPECT_EQ(got[1].body, "get body");
}

TEST_F(ServerTest, ResponderSentAfterTheConnectionClosedIsHarmless) {
  f_.start(holding());
  auto c = f_.connect();
  c->send(wire_request("GET", "/a") + wire_request("GET", "/b"));
  ASSERT_TRUE(run_until(f_.loop(), [&] { return held_.size() == 2; }));
  c->reset();  // a FIN would only half-close: the server would wait to answer
  ASSERT_TRUE(run_until(f_.loop(), [&] { return f_.server().stats().at(0).open == 0; }));
  held_[0].second->send(Response::text(200, "to nobody"));
  held_[1].second.reset();  // destroyed unsent: its 500 goes nowhere either
  run_for(f_.loop(), 10ms);
  auto other = f_.connect();
  other->send(wire_request("GET", "/c"));
  ASSERT_TRUE(run_until(f_.loop(), [&] { return held_.size() == 3; }));
  held_[2].second->send(Response::text(200, "served"));
  auto got = replies(*other, 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].body, "served");
}

TEST_F(ServerTest, ResponderOutlivingTheServerIsHarmless) {
  f_.start(holding());
  auto c = f_.connect();
  c->send(wire_request("GET", "/a") + wire_request("GET", "/b"));
  ASSERT_TRUE(run_until(f_.loop(), [&] { return held_.size() == 2; }));
  f_.stop_server();  // resets the open connection
  EXPECT_TRUE(f_.closed_by_server(*c, 2s));
  held_[0].second->send(Response::text(200, "too late"));
  held_.clear();  // the second one is destroyed unsent
  run_for(f_.loop(), 10ms);
}

TEST_F(ServerTest, ConnectionCloseRequestIsAnsweredThenClosed) {
  f_.start(echo_target);
  auto c = f_.connect();
  c->send(wire_request("GET", "/bye", std::nullopt, "Connection: close\r\n") +
          wire_request("GET", "/x"));
  auto got = replies(*c, 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].header("Connection"), "close");
  ASSERT_TRUE(f_.closed_by_server(*c));
  EXPECT_EQ(c->received, "") << "the request after Connection: close is not answered";
}

// A client that asked to close will send nothing more, so the server lets its connection go
// as soon as the answer is out, without waiting for the client's FIN (which never comes).
TEST_F(ServerTest, ConnectionCloseRequestDoesNotWaitForTheClientsFin) {
  f_.start(echo_target);
  auto c = f_.connect();
  c->send(wire_request("GET", "/bye", std::nullopt, "Connection: close\r\n"));
  ASSERT_EQ(replies(*c, 1).size(), 1u);
  EXPECT_TRUE(run_until(f_.loop(), [&] { return f_.server().stats().at(0).open == 0; }))
      << "the server still holds the connection";
}

// When the server decides to close (here: a malformed request), the client may still be
// sending: the connection lingers until the client's FIN, so no reset can eat the 400.
TEST_F(ServerTest, ServerInitiatedCloseLingersUntilTheClientsFin) {
  f_.start(echo_target);
  auto c = f_.connect();
  c->send("BAD REQUEST\r\n\r\n");
  auto got = replies(*c, 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].status, 400);
  run_for(f_.loop(), 50ms);
  EXPECT_EQ(f_.server().stats().at(0).open, 1u) << "closed before the client's FIN";
  c->close();
  EXPECT_TRUE(run_until(f_.loop(), [&] { return f_.server().stats().at(0).open == 0; }));
}

TEST_F(ServerTest, Http10KeepAliveIsSaidAloud) {
  f_.start(echo_target);
  auto c = f_.connect();
  Reply r = f_.exchange(*c, "GET /k HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  EXPECT_EQ(r.header("Connection"), "keep-alive");
  r = f_.exchange(*c, "GET /end HTTP/1.0\r\n\r\n");
  EXPECT_EQ(r.header("Connection"), "close");
  EXPECT_TRUE(f_.closed_by_server(*c));
}

TEST_F(ServerTest, BadRequestIsAnsweredThenClosed) {
  int calls = 0;
  f_.start([&](const Request& r, Responder responder) {
    ++calls;
    echo_target(r, std::move(responder));
  });
  auto c = f_.connect();
  c->send(wire_request("GET", "/good") + "BAD REQUEST\r\n\r\n" + wire_request("GET", "/never"));
  auto got = replies(*c, 2);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].body, "/good");
  EXPECT_EQ(got[1].status, 400);
  EXPECT_EQ(got[1].header("Connection"), "close");
  EXPECT_TRUE(f_.closed_by_server(*c));
  EXPECT_EQ(calls, 1);
}

TEST_F(ServerTest, ErrorWaitsForTheAsyncAnswersBeforeIt) {
  f_.start(holding());
  auto c = f_.connect();
  c->send(wire_request("GET", "/slow") + "GET / HTTP/9.9\r\nHost: x\r\n\r\n");
  ASSERT_TRUE(run_until(f_.loop(), [&] { return held_.size() == 1; }));
  run_for(f_.loop(), 20ms);
  c->pump();
  EXPECT_EQ(c->received, "") << "the 505 may not overtake the first answer";
  held_[0].second->send(Response::text(200, "first"));
  auto got = replies(*c, 2);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].body, "first");
  EXPECT_EQ(got[1].status, 505);
  EXPECT_TRUE(f_.closed_by_server(*c));
}

TEST_F(ServerTest, PipelineLimitPausesReadingUntilAnswersLeave) {
  ServerOptions options;
  options.max_pipeline = 4;
  f_.start(holding(), options);
  auto c = f_.connect();
  c->send(pipelined(10));
  ASSERT_TRUE(run_until(f_.loop(), [&] { return held_.size() == 4; }));
  run_for(f_.loop(), 30ms);
  EXPECT_EQ(held_.size(), 4u) << "at most max_pipeline requests wait for answers";
  size_t answered = 0;
  ASSERT_TRUE(run_until(f_.loop(), [&] {
    for (; answered < held_.size(); ++answered)
      held_[answered].second->send(Response::text(200, held_[answered].first));
    return answered == 10;
  }));
  auto got = replies(*c, 10);
  ASSERT_EQ(got.size(), 10u);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(got[i].body, slash(i));
}

TEST_F(ServerTest, ExpectContinueGetsTheInterimResponse) {
  f_.start([](const Request& r, Responder responder) {
    responder.send(Response::text(200, std::string(r.body())));
  });
  auto c = f_.connect();
  c->send("POST /up HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n");
  const std::string interim = "HTTP/1.1 100 Continue\r\n\r\n";
  ASSERT_TRUE(run_until(f_.loop(), [&] {
    c->pump();
    return c->received.size() >= interim.size();
  }));
  EXPECT_EQ(c->received, interim);
  c->received.clear();
  Reply r = f_.exchange(*c, "body");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "body");
}

// Between requests a connection gives its parser back to the thread; one with a request
// half-read keeps its own while other connections' requests go through.
TEST_F(ServerTest, AHalfReadRequestKeepsItsParserWhileOthersAreServed) {
  f_.start(echo_target);
  auto a = f_.connect();
  auto b = f_.connect();
  const std::string request = wire_request("GET", "/a?long=query");
  a->send(request.substr(0, request.size() / 2));  // sent before b's, so read no later
  for (std::string target : {"/b1", "/b2", "/b3"}) {
    Reply r = f_.exchange(*b, wire_request("GET", target));
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, target);
  }
  Reply r = f_.exchange(*a, request.substr(request.size() / 2));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "/a?long=query");
  r = f_.exchange(*b, wire_request("GET", "/b4"));
  EXPECT_EQ(r.body, "/b4");
}

TEST_F(ServerTest, HeaderTimeoutAnswers408ThenCloses) {
  ServerOptions options;
  options.header_timeout = 50ms;
  f_.start(echo_target, options);
  auto c = f_.connect();
  c->send("GET / HTTP/1.1\r\nHost: x\r\n");
  auto got = replies(*c, 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].status, 408);
  EXPECT_EQ(got[0].header("Connection"), "close");
  EXPECT_TRUE(f_.closed_by_server(*c));
}

TEST_F(ServerTest, BodyTimeoutAnswers408ThenCloses) {
  ServerOptions options;
  options.body_timeout = 50ms;
  f_.start(echo_target, options);
  auto c = f_.connect();
  c->send(wire_request("POST", "/b", std::nullopt, "Content-Length: 10\r\n") + "half");
  auto got = replies(*c, 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].status, 408);
  EXPECT_TRUE(f_.closed_by_server(*c));
}

TEST_F(ServerTest, IdleTimeoutClosesSilently) {
  ServerOptions options;
  options.idle_timeout = 50ms;
  f_.start(echo_target, options);
  auto c = f_.connect();
  EXPECT_EQ(f_.exchange(*c, wire_request("GET", "/once")).status, 200);
  EXPECT_TRUE(f_.closed_by_server(*c));
  EXPECT_EQ(c->received, "");
}

TEST_F(ServerTest, WaitingForTheHandlerIsNotIdle) {
  ServerOptions options;
  options.idle_timeout = 30ms;
  options.header_timeout = 30ms;
  f_.start(holding(), options);
  auto c = f_.connect();
  c->send(wire_request("GET", "/slow"));
  ASSERT_TRUE(run_until(f_.loop(), [&] { return held_.size() == 1; }));
  run_for(f_.loop(), 100ms);
  c->pump();
  EXPECT_FALSE(c->eof) << "a request the handler still works on is not idle time";
  held_[0].second->send(Response::text(200, "worth the wait"));
  auto got = replies(*c, 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].body, "worth the wait");
}

// ---------------------------------------------------------------------------------------
// Drain.

TEST_F(ServerTest, DrainClosesIdleConnectionsAtOnceAndReportsDone) {
  f_.start(echo_target);
  auto a = f_.connect();
  auto b = f_.connect();
  EXPECT_EQ(f_.exchange(*a, wire_request("GET", "/a")).status, 200);
  EXPECT_EQ(f_.exchange(*b, wire_request("GET", "/b")).status, 200);
  int done = 0;
  const auto start = Clock::now();
  f_.server().drain(10s, [&] { ++done; });
  EXPECT_TRUE(f_.closed_by_server(*a, 2s));
  EXPECT_TRUE(f_.closed_by_server(*b, 2s));
  a->close();
  b->close();
  EXPECT_TRUE(run_until(
      f_.loop(), [&] { return done > 0; }, 3s));
  EXPECT_LT(Clock::now() - start, 3s);
  run_for(f_.loop(), 10ms);
  EXPECT_EQ(done, 1);
  test::RawClient late(f_.port());
  EXPECT_FALSE(late.connected()) << "no accepting while draining";
}

TEST_F(ServerTest, DrainLetsARequestInFlightFinishWithConnectionClose) {
  f_.start(holding());
  auto c = f_.connect();
  c->send(wire_request("GET", "/inflight"));
  ASSERT_TRUE(run_until(f_.loop(), [&] { return held_.size() == 1; }));
  int done = 0;
  f_.server().drain(10s, [&] { ++done; });
  run_for(f_.loop(), 20ms);
  c->pump();
  EXPECT_FALSE(c->eof);
  EXPECT_EQ(done, 0);
  held_[0].second->send(Response::text(200, "finished"));
  auto got = replies(*c, 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].body, "finished");
  EXPECT_EQ(got[0].header("Connection"), "close");
  EXPECT_TRUE(f_.closed_by_server(*c));
  c->close();
  EXPECT_TRUE(run_until(f_.loop(), [&] { return done == 1; }));
}

// The drain closes an idle keep-alive connection without lingering for the client's FIN
// (nothing was received after its last answer): a client that keeps its socket open
// holds nothing up.
TEST_F(ServerTest, DrainDoesNotWaitForAnIdleClientsFin) {
  http::ServerOptions options;
  options.tcp.connection.close_timeout = 1h;  // a linger could not end before the test's
  f_.start(echo_target, options);
  auto c = f_.connect();
  EXPECT_EQ(f_.exchange(*c, wire_request("GET", "/a")).status, 200);
  int done = 0;
  f_.server().drain(1h, [&] { ++done; });
  EXPECT_TRUE(f_.closed_by_server(*c));
  EXPECT_EQ(c->error, 0) << std::strerror(c->error);
  EXPECT_TRUE(run_until(f_.loop(), [&] { return done == 1; }));
  EXPECT_TRUE(c->connected()) << "the client never closed";
}

// A request arriving when the drain begins is answered with Connection: close; the
// request was read to its end, so the close does not wait for the client's FIN either.
TEST_F(ServerTest, DrainAnswersARequestInFlightThenClosesWithoutWaitingForTheFin) {
  http::ServerOptions options;
  options.tcp.connection.close_timeout = 1h;
  f_.start(echo_target, options);
  auto c = f_.connect();
  const std::string whole = wire_request("GET", "/inflight");
  c->send(whole.substr(0, whole.size() - 2));  // all but the head's final CRLF
  run_for(f_.loop(), 20ms);
  int done = 0;
  f_.server().drain(1h, [&] { ++done; });
  run_for(f_.loop(), 20ms);
  EXPECT_EQ(done, 0) << "a request in flight was dropped";
  c->send("\r\n");
  auto got = replies(*c, 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].body, "/inflight");
  EXPECT_EQ(got[0].header("Connection"), "close");
  EXPECT_TRUE(f_.closed_by_server(*c));
  EXPECT_EQ(c->error, 0) << std::strerror(c->error);
  EXPECT_TRUE(run_until(f_.loop(), [&] { return done == 1; }));
}

// An error answer leaves the rest of its request unread, maybe still arriving: that close
// lingers until the client's FIN, so no reset can destroy the answer.
TEST_F(ServerTest, AnErrorAnswerLingersUntilTheClientsFin) {
  http::ServerOptions options;
  options.tcp.connection.close_timeout = 1h;
  f_.start(echo_target, options);
  auto c = f_.connect();
  c->send("NOT A REQUEST\r\n\r\n");
  auto got = replies(*c, 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].status, 400);
  EXPECT_TRUE(f_.closed_by_server(*c));
  run_for(f_.loop(), 50ms);
  EXPECT_EQ(f_.server().stats()[0].open, 1u) << "closed without waiting for the client";
  c->close();
  EXPECT_TRUE(run_until(f_.loop(), [&] { return f_.server().stats()[0].open == 0; }));
}

TEST_F(ServerTest, DrainDeadlineResetsWhatIsLeft) {
  f_.start(holding());
  auto c = f_.connect();
  c->send(wire_request("GET", "/stuck"));
  ASSERT_TRUE(run_until(f_.loop(), [&] { return held_.size() == 1; }));
  int done = 0;
  const auto start = Clock::now();
  f_.server().drain(50ms, [&] { ++done; });
  EXPECT_TRUE(run_until(
      f_.loop(), [&] { return done == 1; }, 5s));
  EXPECT_GE(Clock::now() - start, 45ms);
  EXPECT_TRUE(f_.closed_by_server(*c, 2s));
  held_[0].second->send(Response::text(200, "after the reset"));
  run_for(f_.loop(), 10ms);
  EXPECT_EQ(done, 1);
}

// ---------------------------------------------------------------------------------------
// Answers from other threads (CTest label "threads").

class ServerThreadsTest : public ServerTest {};

TEST_F(ServerThreadsTest, AnsweredFromAnotherThreadInOrder) {
  test::Worker worker;
  std::atomic<int> off_loop{0};
  f_.start([&](const Request& r, Responder responder) {
    // The job owns the Responder: tasks are move-only, so it travels by move.
    worker.post([&, responder = std::move(responder), target = std::string(r.target())]() mutable {
      if (std::this_thread::get_id() == worker.id()) ++off_loop;
      responder.send(Response::text(200, target));
    });
  });
  auto c = f_.connect();
  c->send(pipelined(50));
  auto got = replies(*c, 50);
  ASSERT_EQ(got.size(), 50u);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(got[i].body, slash(i));
  EXPECT_EQ(off_loop.load(), 50);
}

TEST_F(ServerThreadsTest, ReverseOrderFromAnotherThreadIsWrittenInRequestOrder) {
  test::Worker worker;
  f_.start(holding());
  auto c = f_.connect();
  c->send(pipelined(20));
  ASSERT_TRUE(run_until(f_.loop(), [&] { return held_.size() == 20; }));
  worker.post([&] {
    for (size_t i = held_.size(); i-- > 0;)
      held_[i].second->send(Response::text(200, held_[i].first));
  });
  auto got = replies(*c, 20);
  ASSERT_EQ(got.size(), 20u);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(got[i].body, slash(i));
}

TEST_F(ServerThreadsTest, DroppedOnAnotherThreadGives500) {
  test::Worker worker;
  f_.start([&](const Request&, Responder responder) {
    // Destroyed unsent on the worker when the job ends.
    worker.post([dropped = std::move(responder)] {});
  });
  auto c = f_.connect();
  EXPECT_EQ(f_.exchange(*c, wire_request("GET", "/x")).status, 500);
}

TEST_F(ServerThreadsTest, SentFromAnotherThreadAfterTheCloseIsHarmless) {
  test::Worker worker;
  f_.start(holding());
  auto c = f_.connect();
  c->send(pipelined(3));
  ASSERT_TRUE(run_until(f_.loop(), [&] { return held_.size() == 3; }));
  c->reset();
  ASSERT_TRUE(run_until(f_.loop(), [&] { return f_.server().stats().at(0).open == 0; }));
  std::atomic<bool> sent{false};
  worker.post([&] {
    held_[0].second->send(Response::text(200, "nobody"));
    held_[1].second.reset();
    sent = true;
  });
  ASSERT_TRUE(run_until(f_.loop(), [&] { return sent.load(); }));
  run_for(f_.loop(), 10ms);
}

// Several loop threads, each connection's answers made on yet another thread: every
// answer crosses threads twice (loop -> worker -> loop), and each must wake its loop.
TEST_F(ServerThreadsTest, ManyConnectionsOnSeveralLoopsAnsweredFromWorkers) {
  test::Worker worker_a, worker_b;
  std::atomic<int> next{0};
  ServerOptions options;
  options.tcp.threads = 3;
  f_.start(
      [&](const Request& r, Responder responder) {
        test::Worker& w = next++ % 2 == 0 ? worker_a : worker_b;
        w.post([responder = std::move(responder), target = std::string(r.target())]() mutable {
          responder.send(Response::text(200, target));
        });
      },
      options);
  constexpr int kClients = 12, kRounds = 200;
  std::vector<std::unique_ptr<test::RawClient>> clients;
  for (int i = 0; i < kClients; ++i) clients.push_back(f_.connect());
  auto accepted = [&] {
    uint64_t n = 0;
    for (const auto& s : f_.server().stats()) n += s.accepted;
    return n;
  };
  // The base loop accepts and hands the connections out; after that only the pool's loops
  // and the workers are involved.
  ASSERT_TRUE(run_until(f_.loop(), [&] { return accepted() == static_cast<uint64_t>(kClients); }));
  EXPECT_EQ(f_.server().stats().size(), 3u);
  for (int round = 0; round < kRounds; ++round) {
    for (int i = 0; i < kClients; ++i)
      clients[i]->send(wire_request("GET", "/c" + std::to_string(i) + "-" + std::to_string(round)));
    // The base loop does nothing for these connections: wait off any loop, with a deadline.
    for (int i = 0; i < kClients; ++i) {
      Reply r;
      bool ok = test::wait_until(
          [&] {
            clients[i]->pump();
            return test::take_reply(clients[i]->received, r) == test::ParseResult::complete;
          },
          10s);
      ASSERT_TRUE(ok) << "client " << i << " round " << round << ": no answer";
      EXPECT_EQ(r.body, "/c" + std::to_string(i) + "-" + std::to_string(round));
    }
  }
  EXPECT_EQ(accepted(), static_cast<uint64_t>(kClients));
}

}  // namespace
}  // namespace reactor::http
