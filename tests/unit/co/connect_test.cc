// Unit tests for co::connect (src/co/connect.cc): a client connection as an awaitable,
// with net::TcpClient's refusal, retry with back-off, timeout, and stopping; on every
// selector backend, against a co::Server on the same loop.
#include "reactor/co/connect.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <memory>
#include <string>
#include <vector>

#include "co_test_util.h"
#include "reactor/co/server.h"
#include "reactor/co/time.h"
#include "reactor/core/error.h"

namespace reactor::co {
namespace {

using test::error_of;
using test::run_for;
using test::run_until;
using test::run_until_done;
using test::unused_port;
using namespace std::chrono_literals;

const std::error_code kCanceled = std::make_error_code(std::errc::operation_canceled);

Task<void> echo(Connection conn) {
  char buf[4096];
  while (std::size_t n = co_await conn.read_some(buf)) co_await conn.write({buf, n});
}

/// Connects, sends `message`, and returns the echo of it.
Task<std::string> round_trip(net::InetAddress server, net::TcpClientOptions options,
                             std::string message) {
  Connection conn = co_await connect(server, options);
  co_await conn.write(message);
  std::string echoed(message.size(), '\0');
  co_await conn.read_exactly(echoed);
  co_return echoed;
}

class CoConnectTest : public ::testing::TestWithParam<std::string> {
 protected:
  ~CoConnectTest() override {
    server_.reset();
    loop_.post([this] { loop_.stop(); });  // let the loop run what closing posted
    loop_.run();
  }

  void start_echo_server(uint16_t port = 0) {
    server_ = std::make_unique<Server>(loop_, net::InetAddress::loopback_ipv4(port));
    server_->serve(echo);
    server_->start();
  }

  test::FdLeakGuard leaks_;
  EventLoop loop_{GetParam()};
  std::unique_ptr<Server> server_;
};

TEST_P(CoConnectTest, ConnectsAndTalks) {
  start_echo_server();
  auto talk = spawn(loop_, round_trip(server_->address(), {}, "ping"));
  EXPECT_FALSE(talk.done()) << "connecting takes a turn of the loop";
  ASSERT_TRUE(run_until_done(loop_, talk));
  EXPECT_EQ(talk.get(), "ping");
}

TEST_P(CoConnectTest, TheConnectionKnowsBothEnds) {
  start_echo_server();
  auto ends = spawn(loop_, [this]() -> Task<bool> {
    Connection conn = co_await connect(server_->address());
    co_return conn.peer_address() == server_->address() &&
        conn.local_address().host() == "127.0.0.1" && &conn.loop() == &loop_;
  });
  ASSERT_TRUE(run_until_done(loop_, ends));
  EXPECT_TRUE(ends.get());
}

// The client lives in the connection's Stream: dropping the connection must close it
// gracefully (the server's handler reads the end of the stream), then free both.
TEST_P(CoConnectTest, DroppingTheConnectionClosesItGracefully) {
  std::vector<std::size_t> reads;
  server_ = std::make_unique<Server>(loop_, net::InetAddress::loopback_ipv4(0));
  server_->serve(
      [](Connection conn, std::vector<std::size_t>* out) -> Task<void> {
        char buf[16];
        out->push_back(co_await conn.read_some(buf));
        out->push_back(co_await conn.read_some(buf));
      },
      &reads);
  server_->start();
  auto hello = spawn(loop_, [this]() -> Task<void> {
    Connection conn = co_await connect(server_->address());
    co_await conn.write("hello");
  });
  ASSERT_TRUE(run_until_done(loop_, hello));
  ASSERT_TRUE(run_until(loop_, [&] { return reads.size() == 2; }));
  EXPECT_EQ(reads[0], 5u);
  EXPECT_EQ(reads[1], 0u) << "the end of the stream, not a reset";
  ASSERT_TRUE(run_until(loop_, [&] { return server_->stats()[0].open == 0; }));
}

TEST_P(CoConnectTest, ARefusedConnectThrowsWithoutRetry) {
  auto refused = spawn(loop_, connect(net::InetAddress::loopback_ipv4(unused_port())));
  ASSERT_TRUE(run_until_done(loop_, refused));
  EXPECT_EQ(error_of([&] { refused.get(); }), std::errc::connection_refused);
}

TEST_P(CoConnectTest, ARetryingConnectWaitsForTheServerToAppear) {
  const uint16_t port = unused_port();
  net::TcpClientOptions options;
  options.retry = true;
  options.initial_delay = 5ms;
  options.max_delay = 20ms;
  auto talk = spawn(loop_, round_trip(net::InetAddress::loopback_ipv4(port), options, "late"));
  run_for(loop_, 50ms);  // several refused attempts
  ASSERT_FALSE(talk.done());
  start_echo_server(port);
  ASSERT_TRUE(run_until_done(loop_, talk));
  EXPECT_EQ(talk.get(), "late");
}

TEST_P(CoConnectTest, AConnectThatHangsTimesOut) {
  // A listener with a full accept queue drops further SYNs, so a connect to it hangs.
  UniqueFd listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  net::InetAddress any = net::InetAddress::loopback_ipv4(0);
  ASSERT_EQ(::bind(listener.get(), any.sockaddr_ptr(), any.length()), 0);
  ASSERT_EQ(::listen(listener.get(), 0), 0);
  sockaddr_in sa{};
  socklen_t len = sizeof sa;
  ::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&sa), &len);
  const auto target = net::InetAddress::from_sockaddr(reinterpret_cast<sockaddr*>(&sa), len);
  std::vector<UniqueFd> fillers;  // never accepted; the second already hangs
  for (int i = 0; i < 2; ++i) {
    fillers.emplace_back(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    ::connect(fillers.back().get(), target.sockaddr_ptr(), target.length());
  }
  run_for(loop_, 20ms);  // let the first handshake complete

  net::TcpClientOptions options;
  options.connect_timeout = 50ms;
  auto hanging = spawn(loop_, connect(target, options));
  ASSERT_TRUE(run_until_done(loop_, hanging));
  const std::error_code error = error_of([&] { hanging.get(); });
  if (!error) GTEST_SKIP() << "the kernel completed the handshake anyway";
  EXPECT_EQ(error, Errc::connect_timed_out) << error.message();
}

TEST_P(CoConnectTest, AStopTokenEndsARetryingConnect) {
  net::TcpClientOptions options;
  options.retry = true;
  options.initial_delay = 5ms;
  std::stop_source stop;
  auto retrying = spawn(
      loop_, connect(net::InetAddress::loopback_ipv4(unused_port()), options, stop.get_token()));
  run_for(loop_, 30ms);
  ASSERT_FALSE(retrying.done()) << "a retrying connect waits";
  stop.request_stop();
  ASSERT_TRUE(run_until_done(loop_, retrying));
  EXPECT_EQ(error_of([&] { retrying.get(); }), kCanceled);
}

TEST_P(CoConnectTest, ATimeoutAroundAConnectStopsIt) {
  net::TcpClientOptions options;
  options.retry = true;
  options.initial_delay = 5ms;
  auto bounded =
      spawn(loop_, timeout(connect(net::InetAddress::loopback_ipv4(unused_port()), options), 30ms));
  ASSERT_TRUE(run_until_done(loop_, bounded));
  EXPECT_EQ(error_of([&] { bounded.get(); }), std::errc::timed_out);
}

TEST_P(CoConnectTest, AStopBeforeTheConnectStartsMakesNoAttempt) {
  start_echo_server();
  std::stop_source stop;
  stop.request_stop();
  auto stopped = spawn(loop_, connect(server_->address(), {}, stop.get_token()));
  ASSERT_TRUE(stopped.done());
  EXPECT_EQ(error_of([&] { stopped.get(); }), kCanceled);
  run_for(loop_, 10ms);
  EXPECT_EQ(server_->stats()[0].accepted, 0u);
}

INSTANTIATE_TEST_SUITE_P(Backends, CoConnectTest, test::all_backends(), test::backend_name);

}  // namespace
}  // namespace reactor::co
