// Unit tests for the net layer's trace lines (src/net/acceptor.cc, tcp_connection.cc):
// a TcpServer and its client on one loop, read field by field. The whole story of an echo
// (accept, watch, dispatch, read, write, EOF, close, unwatch), a write the kernel cannot
// take at once (queued output, write interest), and a close line followed by its unwatch
// whatever ended the connection. Parameterised over every backend.
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "net_test_util.h"
#include "reactor/net/tcp_server.h"
#include "trace_test_util.h"

namespace reactor::net {
namespace {

using test::pattern;
using test::RawClient;
using test::Recorder;
using test::run_for;
using test::run_until;
using test::TraceLine;
using namespace std::chrono_literals;

/// "127.0.0.1:PORT" of a socket's own end.
std::string local_address_of(int fd) {
  sockaddr_in sa{};
  socklen_t len = sizeof sa;
  EXPECT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len), 0);
  return "127.0.0.1:" + std::to_string(ntohs(sa.sin_port));
}

class TcpTraceTest : public ::testing::TestWithParam<std::string> {
 protected:
  TcpTraceTest() : loop_(GetParam()) { loop_.set_trace(capture_.sink()); }
  ~TcpTraceTest() override {
    server_.reset();
    rec_.forget();
    loop_.post([this] { loop_.stop(); });  // let the loop run what closing posted
    loop_.run();
  }

  /// Starts a server whose connections get `cb` (rec_'s echo by default); each new
  /// connection's descriptor is noted in fds_ and then `then` runs for it.
  template <class Then>
  void start(Then then, TcpServerOptions options = {}) {
    server_ = std::make_unique<TcpServer>(loop_, InetAddress::loopback_ipv4(0),
                                          rec_.callbacks_then([this, then](auto& c) {
                                            fds_.push_back(c->fd());
                                            then(c);
                                          }),
                                          options);
    server_->start();
  }
  void start() {
    start([](const TcpConnectionPtr&) {});
  }

  std::unique_ptr<RawClient> connect() {
    const size_t before = rec_.connects();
    auto client = std::make_unique<RawClient>(server_->address().port());
    EXPECT_TRUE(client->connected()) << std::strerror(client->error);
    EXPECT_TRUE(run_until(loop_, [&] { return rec_.connects() > before; }));
    return client;
  }

  /// Every line about `fd` (fd= equal to it), in order.
  std::vector<TraceLine> about(int fd) const {
    std::vector<TraceLine> picked;
    for (auto& l : capture_.lines())
      if (l.has("fd") && l.fd() == fd) picked.push_back(l);
    return picked;
  }
  static std::vector<std::string> texts(const std::vector<TraceLine>& lines) {
    std::vector<std::string> t;
    for (auto& l : lines) t.push_back(l.text);
    return t;
  }
  std::string line(const std::string& rest) const {
    return "trace " + std::to_string(loop_.index()) + " " + rest;
  }
  static std::string fd_field(int fd) { return "fd=" + std::to_string(fd); }

  /// A close line is followed at once by the unwatch of its descriptor, and nothing is
  /// traced about that descriptor afterwards unless a new connection gets the number.
  void expect_every_close_then_unwatch() const {
    const auto lines = capture_.lines();
    std::vector<int> closed;
    for (size_t i = 0; i < lines.size(); ++i) {
      const TraceLine& l = lines[i];
      if (l.is("accept") || l.is("watch")) {
        closed.erase(std::remove(closed.begin(), closed.end(), l.fd()), closed.end());
      } else if (l.has("fd") && std::find(closed.begin(), closed.end(), l.fd()) != closed.end()) {
        ADD_FAILURE() << "a line about a closed descriptor: " << l;
      }
      if (!l.is("close")) continue;
      ASSERT_LT(i + 1, lines.size()) << "the trace ends with " << l;
      EXPECT_EQ(lines[i + 1].text, line("unwatch " + fd_field(l.fd()))) << "after " << l;
      closed.push_back(l.fd());
      ++i;
    }
  }

  /// The reason of the one close line about `fd`.
  std::string close_reason(int fd) const {
    std::vector<std::string> reasons;
    for (auto& l : about(fd))
      if (l.is("close")) reasons.push_back(l.get("reason"));
    EXPECT_EQ(reasons.size(), 1u) << capture_.text();
    return reasons.empty() ? "" : reasons[0];
  }

  test::FdLeakGuard leaks_;
  test::TraceCapture capture_;
  EventLoop loop_;
  Recorder rec_;
  std::unique_ptr<TcpServer> server_;
  std::vector<int> fds_;  // the server's descriptor of each connection, in order
};

TEST_P(TcpTraceTest, AnEchoTellsTheWholeStory) {
  start();
  auto client = connect();
  ASSERT_EQ(fds_.size(), 1u);
  const int c = fds_[0];
  const std::string sent = "hello, trace\n";
  client->send(sent);
  ASSERT_TRUE(run_until(loop_, [&] {
    client->pump();
    return client->received.size() >= sent.size();
  }));
  EXPECT_EQ(client->received, sent);
  client->shutdown_write();
  ASSERT_TRUE(run_until(loop_, [&] { return rec_.closes() == 1; }));
  EXPECT_EQ(rec_.closed().reason, CloseReason::peer);

  const std::string fc = fd_field(c);
  const std::string n = std::to_string(sent.size());
  // select cannot tell a FIN from data: there the EOF comes as plain readability.
  const std::string fin = GetParam() == "select" ? "R" : "RH";
  const std::vector<std::string> want = {
      line("accept " + fc + " peer=" + local_address_of(client->fd())),
      line("watch " + fc + " interest=R"),
      line("dispatch " + fc + " events=R"),
      line("read " + fc + " bytes=" + n),
      line("write " + fc + " bytes=" + n + " queued=0"),
      line("dispatch " + fc + " events=" + fin),
      line("read " + fc + " bytes=0"),
      line("interest " + fc + " from=R to=-"),
      line("close " + fc + " reason=peer"),
      line("unwatch " + fc),
  };
  EXPECT_EQ(texts(about(c)), want);

  // Around the accept: the listening socket's dispatch before it, the new watch after it,
  // all in the same iteration.
  const auto lines = capture_.lines();
  ASSERT_FALSE(lines.empty());
  ASSERT_TRUE(lines[0].is("watch")) << lines[0];
  const int listener = lines[0].fd();
  EXPECT_EQ(lines[0].text, line("watch " + fd_field(listener) + " interest=R"));
  auto accept = std::find_if(lines.begin(), lines.end(), [](auto& l) { return l.is("accept"); });
  ASSERT_TRUE(accept != lines.end() && accept != lines.begin() && accept + 1 != lines.end());
  EXPECT_EQ((accept - 1)->text, line("dispatch " + fd_field(listener) + " events=R"));
  EXPECT_EQ((accept + 1)->text, line("watch " + fc + " interest=R"));
  // Each read, and the write it leads to, follow their dispatch directly.
  for (size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].is("read", c)) {
      ASSERT_GT(i, 0u);
      EXPECT_TRUE(lines[i - 1].is("dispatch", c)) << lines[i - 1];
    }
    if (lines[i].is("write", c)) {
      ASSERT_GT(i, 0u);
      EXPECT_TRUE(lines[i - 1].is("read", c)) << lines[i - 1];
    }
  }
}

// The kernel takes part of a big send: the write line says what is queued, the connection
// asks for writability, and the rest leaves on write events until nothing waits.
TEST_P(TcpTraceTest, AWriteTheKernelCannotTakeQueuesAndAsksForWritability) {
  constexpr size_t kTotal = 1 << 20;
  const std::string payload = pattern(kTotal);
  start([&](const TcpConnectionPtr& conn) {
    test::cap_kernel_buffer(conn->fd(), SO_SNDBUF, 8 << 10);
    conn->send(payload);
  });
  auto client = connect();  // it reads nothing until the server has queued
  ASSERT_EQ(fds_.size(), 1u);
  const int c = fds_[0];
  ASSERT_TRUE(run_until(loop_, [&] {
    client->pump();
    return client->received.size() >= kTotal;
  }));
  EXPECT_TRUE(client->received == payload) << "echoed bytes differ";
  // The last write empties the queue and gives the write interest back.
  ASSERT_TRUE(run_until(loop_, [&] { return loop_.interest(c) == io::kReadable; }));
  run_for(loop_, 1ms);  // flushes the batch

  const auto lines = about(c);
  size_t taken = 0, writes = 0, write_dispatches = 0;
  for (size_t i = 0; i < lines.size(); ++i) {
    const TraceLine& l = lines[i];
    if (l.is("dispatch") && l.get("events").find('W') != std::string::npos) ++write_dispatches;
    if (!l.is("write")) continue;
    ++writes;
    taken += static_cast<size_t>(l.num("bytes"));
    EXPECT_EQ(static_cast<size_t>(l.num("queued")), kTotal - taken) << l;
    const bool first = writes == 1, last = taken == kTotal;
    if (first) {
      // The send that could not finish: what it left is queued, and only then does the
      // connection ask for writability.
      EXPECT_LT(static_cast<size_t>(l.num("bytes")), kTotal) << l;
      ASSERT_LT(i + 1, lines.size());
      EXPECT_EQ(lines[i + 1].text, line("interest " + fd_field(c) + " from=R to=RW"));
    } else {
      EXPECT_TRUE(lines[i - 1].is("dispatch")) << "write not after a dispatch: " << l;
    }
    if (last) {
      ASSERT_LT(i + 1, lines.size());
      EXPECT_EQ(lines[i + 1].text, line("interest " + fd_field(c) + " from=RW to=R"));
    }
  }
  EXPECT_EQ(taken, kTotal);
  EXPECT_GE(writes, 2u);
  EXPECT_GE(write_dispatches, writes - 1) << "each later write comes from a W dispatch";
}

// --- however a connection ends, its close line is followed by its unwatch ------------

TEST_P(TcpTraceTest, ClosedByThePeer) {
  start();
  auto client = connect();
  client->close();
  ASSERT_TRUE(run_until(loop_, [&] { return rec_.closes() == 1; }));
  run_for(loop_, 1ms);
  EXPECT_EQ(close_reason(fds_[0]), "peer");
  expect_every_close_then_unwatch();
}

TEST_P(TcpTraceTest, ClosedHere) {
  start([](const TcpConnectionPtr& c) { c->close(); });
  auto client = connect();
  ASSERT_TRUE(run_until(loop_, [&] {
    client->pump();
    return client->eof;
  }));
  client->close();  // the server waits for our FIN before it closes
  ASSERT_TRUE(run_until(loop_, [&] { return rec_.closes() == 1; }));
  run_for(loop_, 1ms);
  EXPECT_EQ(close_reason(fds_[0]), "local");
  expect_every_close_then_unwatch();
}

TEST_P(TcpTraceTest, Aborted) {
  start([](const TcpConnectionPtr& c) { c->abort(); });
  auto client = connect();
  ASSERT_TRUE(run_until(loop_, [&] { return rec_.closes() == 1; }));
  run_for(loop_, 1ms);
  EXPECT_EQ(close_reason(fds_[0]), "aborted");
  expect_every_close_then_unwatch();
}

TEST_P(TcpTraceTest, ResetByThePeer) {
  start();
  auto client = connect();
  client->send("x");
  ASSERT_TRUE(run_until(loop_, [&] {  // echoed, so read: the reset finds no data
    client->pump();
    return client->received == "x";
  }));
  client->reset();
  ASSERT_TRUE(run_until(loop_, [&] { return rec_.closes() == 1; }));
  run_for(loop_, 1ms);
  EXPECT_EQ(close_reason(fds_[0]), "error");
  expect_every_close_then_unwatch();
}

TEST_P(TcpTraceTest, TimedOutFlushing) {
  TcpServerOptions options;
  options.connection.close_timeout = 50ms;
  const std::string payload = pattern(1 << 20);
  start(
      [&](const TcpConnectionPtr& c) {
        test::cap_kernel_buffer(c->fd(), SO_SNDBUF, 8 << 10);
        c->send(payload);  // the client never reads: this cannot leave
        c->close();
      },
      options);
  auto client = connect();
  ASSERT_TRUE(run_until(loop_, [&] { return rec_.closes() == 1; }));
  run_for(loop_, 1ms);
  EXPECT_EQ(close_reason(fds_[0]), "timeout");
  expect_every_close_then_unwatch();
}

TEST_P(TcpTraceTest, TheServerGoesWithConnectionsOpen) {
  start();
  auto a = connect();
  auto b = connect();
  ASSERT_EQ(fds_.size(), 2u);
  server_.reset();
  run_for(loop_, 1ms);
  EXPECT_EQ(close_reason(fds_[0]), "aborted");
  EXPECT_EQ(close_reason(fds_[1]), "aborted");
  expect_every_close_then_unwatch();
}

// Many connections, ended every way at once, in one trace: the rule holds throughout,
// even where a descriptor number is reused in the same batch.
TEST_P(TcpTraceTest, ManyConnectionsEndingEveryWay) {
  start([](const TcpConnectionPtr& c) {
    if (c->fd() % 3 == 0) c->abort();
  });
  std::vector<std::unique_ptr<RawClient>> clients;
  for (int i = 0; i < 12; ++i) clients.push_back(connect());
  for (size_t i = 0; i < clients.size(); ++i) {
    if (i % 2)
      clients[i]->close();
    else
      clients[i]->reset();
  }
  ASSERT_TRUE(run_until(loop_, [&] { return rec_.closes() == clients.size(); }));
  for (int i = 0; i < 12; ++i) clients.push_back(connect());
  server_.reset();
  run_for(loop_, 1ms);
  expect_every_close_then_unwatch();
  size_t accepts = 0, closes = 0;
  for (auto& l : capture_.lines()) {
    accepts += l.is("accept");
    closes += l.is("close");
  }
  EXPECT_EQ(accepts, 24u);
  EXPECT_EQ(closes, 24u);
}

INSTANTIATE_TEST_SUITE_P(Backends, TcpTraceTest, test::all_backends(), test::backend_name);

}  // namespace
}  // namespace reactor::net
