// Unit tests for ServerOptions::on_response (src/http/session.cc: Session::note, report):
// the fields of each record, one record per response written and in write order, error
// answers (400, 408, 500) included.
#include <gtest/gtest.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "http_test_util.h"
#include "reactor/core/log.h"
#include "reactor/http/server.h"

namespace reactor::http {
namespace {

using test::Reply;
using test::run_for;
using test::run_until;
using test::wire_request;
using namespace std::chrono_literals;

// A ResponseRecord copied out of its call.
struct Copy {
  std::string client, request_line, method, referer, user_agent;
  int status = 0;
  size_t body_bytes = 0;
  Clock::time_point started, finished;
};

class ResponseRecordTest : public ::testing::Test {
 protected:
  void start(RequestHandler handler, ServerOptions options = {}) {
    options.on_response = [this](const ResponseRecord& r) {
      records_.push_back({r.connection.peer_address().host(), std::string(r.request_line),
                          std::string(r.method), std::string(r.referer), std::string(r.user_agent),
                          r.status, r.body_bytes, r.started, r.finished});
    };
    f_.start(std::move(handler), std::move(options));
  }
  static void echo_target(const Request& r, Responder responder) {
    responder.send(Response::text(200, std::string(r.target())));
  }
  std::vector<Reply> replies(test::RawClient& c, size_t n, std::vector<bool> heads = {}) {
    std::vector<Reply> out;
    EXPECT_TRUE(f_.replies(c, n, out, std::move(heads))) << "got " << out.size() << " of " << n;
    return out;
  }

  test::ServerFixture f_;
  std::vector<Copy> records_;
  std::vector<std::unique_ptr<Responder>> held_;  // after f_: destroyed while it exists
};

TEST_F(ResponseRecordTest, GetWithRefererAndUserAgent) {
  start(echo_target);
  auto c = f_.connect();
  const Clock::time_point before = Clock::now();
  Reply r = f_.exchange(*c, wire_request("GET", "/a?x=1", std::nullopt,
                                         "Referer: http://ref/\r\nUser-Agent: curl/8.0\r\n"));
  ASSERT_EQ(r.status, 200);
  ASSERT_EQ(records_.size(), 1u);
  const Copy& got = records_[0];
  EXPECT_EQ(got.client, "127.0.0.1");
  EXPECT_EQ(got.request_line, "GET /a?x=1 HTTP/1.1");
  EXPECT_EQ(got.method, "GET");
  EXPECT_EQ(got.referer, "http://ref/");
  EXPECT_EQ(got.user_agent, "curl/8.0");
  EXPECT_EQ(got.status, 200);
  EXPECT_EQ(got.body_bytes, 6u);
  EXPECT_LE(before - 1ms, got.started) << "the loop's iteration time may be a little older";
  EXPECT_LE(got.started, got.finished);
  EXPECT_LE(got.finished, Clock::now());
}

TEST_F(ResponseRecordTest, AbsentHeadersAreEmptyAndHttp10IsSaid) {
  start(echo_target);
  auto c = f_.connect();
  ASSERT_EQ(f_.exchange(*c, "GET /old HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").status, 200);
  ASSERT_EQ(records_.size(), 1u);
  EXPECT_EQ(records_[0].request_line, "GET /old HTTP/1.0");
  EXPECT_EQ(records_[0].referer, "");
  EXPECT_EQ(records_[0].user_agent, "");
}

TEST_F(ResponseRecordTest, HeadSendsNoBodyBytes) {
  start(echo_target);
  auto c = f_.connect();
  ASSERT_EQ(f_.exchange(*c, wire_request("HEAD", "/four"), true).status, 200);
  ASSERT_EQ(records_.size(), 1u);
  EXPECT_EQ(records_[0].request_line, "HEAD /four HTTP/1.1");
  EXPECT_EQ(records_[0].method, "HEAD");
  EXPECT_EQ(records_[0].body_bytes, 0u);
}

TEST_F(ResponseRecordTest, PostCountsTheResponseBody) {
  start([](const Request& r, Responder responder) {
    responder.send(Response::text(201, std::string(r.body()) + "!"));
  });
  auto c = f_.connect();
  ASSERT_EQ(f_.exchange(*c, wire_request("POST", "/echo", "hello")).status, 201);
  ASSERT_EQ(records_.size(), 1u);
  EXPECT_EQ(records_[0].request_line, "POST /echo HTTP/1.1");
  EXPECT_EQ(records_[0].status, 201);
  EXPECT_EQ(records_[0].body_bytes, 6u);
}

TEST_F(ResponseRecordTest, MalformedRequestIsRecordedWithItsRawFirstLine) {
  start(echo_target);
  auto c = f_.connect();
  c->send(wire_request("GET", "/good") + "\r\nBAD \"RE\x01QUEST\r\nHost: x\r\n\r\n");
  auto got = replies(*c, 2);
  ASSERT_EQ(got.size(), 2u);
  ASSERT_EQ(got[1].status, 400);
  ASSERT_EQ(records_.size(), 2u);
  EXPECT_EQ(records_[0].request_line, "GET /good HTTP/1.1");
  EXPECT_EQ(records_[1].request_line, "BAD \"RE\x01QUEST") << "the empty line before is skipped";
  EXPECT_EQ(records_[1].method, "");
  EXPECT_EQ(records_[1].status, 400);
  EXPECT_EQ(records_[1].body_bytes, got[1].body.size());
}

TEST_F(ResponseRecordTest, UnsupportedVersionIsRecordedWithItsLine) {
  start(echo_target);
  auto c = f_.connect();
  ASSERT_EQ(f_.exchange(*c, "GET /v HTTP/9.9\r\nHost: x\r\n\r\n").status, 505);
  ASSERT_EQ(records_.size(), 1u);
  EXPECT_EQ(records_[0].request_line, "GET /v HTTP/9.9");
  EXPECT_EQ(records_[0].status, 505);
}

TEST_F(ResponseRecordTest, HeaderTimeoutRecordsTheFirstLineAsItArrivedInPieces) {
  ServerOptions options;
  options.header_timeout = 100ms;
  start(echo_target, options);
  auto c = f_.connect();
  c->send("GET /sp");
  run_for(f_.loop(), 20ms);
  c->send("lit HTTP/1.1\r\nUser-Agent: slow\r\n");
  auto got = replies(*c, 1);
  ASSERT_EQ(got.size(), 1u);
  ASSERT_EQ(got[0].status, 408);
  ASSERT_EQ(records_.size(), 1u);
  EXPECT_EQ(records_[0].request_line, "GET /split HTTP/1.1");
  EXPECT_EQ(records_[0].status, 408);
  EXPECT_GE(records_[0].finished - records_[0].started, 100ms);
}

TEST_F(ResponseRecordTest, HeaderTimeoutBeforeALineEndedRecordsThePart) {
  ServerOptions options;
  options.header_timeout = 50ms;
  start(echo_target, options);
  auto c = f_.connect();
  c->send("GE");
  auto got = replies(*c, 1);
  ASSERT_EQ(got.size(), 1u);
  ASSERT_EQ(records_.size(), 1u);
  EXPECT_EQ(records_[0].request_line, "GE");
  EXPECT_EQ(records_[0].status, 408);
}

TEST_F(ResponseRecordTest, BodyTimeoutRecordsTheParsedHead) {
  ServerOptions options;
  options.body_timeout = 50ms;
  start(echo_target, options);
  auto c = f_.connect();
  c->send(wire_request("POST", "/b", std::nullopt, "Content-Length: 10\r\nUser-Agent: ua\r\n") +
          "half");
  auto got = replies(*c, 1);
  ASSERT_EQ(got.size(), 1u);
  ASSERT_EQ(records_.size(), 1u);
  EXPECT_EQ(records_[0].request_line, "POST /b HTTP/1.1");
  EXPECT_EQ(records_[0].user_agent, "ua");
  EXPECT_EQ(records_[0].status, 408);
}

TEST_F(ResponseRecordTest, PipelinedAnswersOutOfOrderAreRecordedInWriteOrder) {
  start([this](const Request&, Responder responder) {
    held_.push_back(std::make_unique<Responder>(std::move(responder)));
  });
  auto c = f_.connect();
  c->send(wire_request("GET", "/0") + wire_request("GET", "/1") + wire_request("GET", "/2"));
  ASSERT_TRUE(run_until(f_.loop(), [&] { return held_.size() == 3; }));
  held_[2]->send(Response::text(200, "two"));
  held_[1]->send(Response::text(200, "1"));
  run_for(f_.loop(), 20ms);
  EXPECT_TRUE(records_.empty()) << "nothing is written before the first answer";
  held_[0]->send(Response::text(404, "zero!"));
  auto got = replies(*c, 3);
  ASSERT_EQ(records_.size(), 3u);
  EXPECT_EQ(records_[0].request_line, "GET /0 HTTP/1.1");
  EXPECT_EQ(records_[0].status, 404);
  EXPECT_EQ(records_[0].body_bytes, 5u);
  EXPECT_EQ(records_[1].request_line, "GET /1 HTTP/1.1");
  EXPECT_EQ(records_[1].body_bytes, 1u);
  EXPECT_EQ(records_[2].request_line, "GET /2 HTTP/1.1");
  EXPECT_EQ(records_[2].body_bytes, 3u);
}

TEST_F(ResponseRecordTest, HandlerThatThrowsIsRecordedAs500AndNothingAfterIt) {
  test::LogCapture log;
  start([](const Request& r, Responder responder) {
    if (r.target() == "/throw") throw std::runtime_error("handler bug");
    responder.send(Response::text(200, "fine"));
  });
  auto c = f_.connect();
  c->send(wire_request("GET", "/ok") + wire_request("GET", "/throw") + wire_request("GET", "/no"));
  auto got = replies(*c, 2);
  ASSERT_TRUE(f_.closed_by_server(*c));
  ASSERT_EQ(records_.size(), 2u);
  EXPECT_EQ(records_[0].request_line, "GET /ok HTTP/1.1");
  EXPECT_EQ(records_[1].request_line, "GET /throw HTTP/1.1");
  EXPECT_EQ(records_[1].status, 500);
}

TEST_F(ResponseRecordTest, AnswerNeverWrittenIsNotRecorded) {
  start([this](const Request&, Responder responder) {
    held_.push_back(std::make_unique<Responder>(std::move(responder)));
  });
  auto c = f_.connect();
  c->send(wire_request("GET", "/a") + wire_request("GET", "/b"));
  ASSERT_TRUE(run_until(f_.loop(), [&] { return held_.size() == 2; }));
  held_[1]->send(Response::text(200, "b"));
  c->reset();
  ASSERT_TRUE(run_until(f_.loop(), [&] { return f_.server().stats().at(0).open == 0; }));
  held_[0]->send(Response::text(200, "a"));
  run_for(f_.loop(), 10ms);
  EXPECT_TRUE(records_.empty());
}

}  // namespace
}  // namespace reactor::http
