// Unit tests for net::TcpClient (src/net/tcp_client.cc): connecting without blocking,
// reporting failures, retrying with back-off, and closing, on every selector backend.
#include "reactor/net/tcp_client.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "net_test_util.h"
#include "reactor/core/error.h"
#include "reactor/net/tcp_server.h"

namespace reactor::net {
namespace {

using test::Recorder;
using test::run_for;
using test::run_until;
using namespace std::chrono_literals;

/// A loopback port with nothing listening on it (bound once, then released).
uint16_t unused_port() {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  InetAddress any = InetAddress::loopback_ipv4(0);
  EXPECT_EQ(::bind(fd.get(), any.sockaddr_ptr(), any.length()), 0);
  sockaddr_in sa{};
  socklen_t len = sizeof sa;
  ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&sa), &len);
  return ntohs(sa.sin_port);
}

class TcpClientTest : public ::testing::TestWithParam<std::string> {
 protected:
  ~TcpClientTest() override {
    server_.reset();
    server_rec_.forget();
    client_rec_.forget();
    loop_.post([this] { loop_.stop(); });  // let the loop run what closing posted
    loop_.run();
  }

  void start_server(uint16_t port = 0) {
    server_ = std::make_unique<TcpServer>(loop_, InetAddress::loopback_ipv4(port),
                                          server_rec_.callbacks());
    server_->start();
  }
  InetAddress server_address() const { return server_->address(); }

  test::FdLeakGuard leaks_;
  EventLoop loop_{GetParam()};
  Recorder server_rec_;  // echoes
  Recorder client_rec_{/*echo=*/false};
  std::unique_ptr<TcpServer> server_;
};

TEST_P(TcpClientTest, ConnectsAndTalks) {
  start_server();
  TcpClient client(loop_, server_address(), client_rec_.callbacks());
  int errors = 0;
  client.on_connect_error([&](std::error_code) { ++errors; });
  EXPECT_EQ(client.connection(), nullptr);
  client.connect();
  EXPECT_EQ(client_rec_.connects(), 0u) << "callbacks never run inside connect()";
  ASSERT_TRUE(run_until(loop_, [&] { return client_rec_.connects() == 1; }));
  ASSERT_NE(client.connection(), nullptr);
  EXPECT_EQ(client.connection(), client_rec_.connection());
  EXPECT_EQ(client.connection()->peer_address(), server_address());
  client.connection()->send("ping");
  ASSERT_TRUE(run_until(loop_, [&] { return client_rec_.data() == "ping"; }));
  EXPECT_EQ(server_rec_.connects(), 1u);
  EXPECT_EQ(errors, 0);
}

TEST_P(TcpClientTest, RefusedIsReportedThroughOnConnectError) {
  TcpClient client(loop_, InetAddress::loopback_ipv4(unused_port()), client_rec_.callbacks());
  std::vector<std::error_code> errors;
  client.on_connect_error([&](std::error_code ec) { errors.push_back(ec); });
  client.connect();
  ASSERT_TRUE(run_until(loop_, [&] { return !errors.empty(); }));
  EXPECT_EQ(errors[0], std::errc::connection_refused) << errors[0].message();
  run_for(loop_, 50ms);
  EXPECT_EQ(errors.size(), 1u) << "no retry unless asked";
  EXPECT_EQ(client.connection(), nullptr);
  EXPECT_EQ(client_rec_.connects(), 0u);
}

TEST_P(TcpClientTest, RetriesWithBackOffUntilTheServerAppears) {
  const uint16_t port = unused_port();
  TcpClientOptions options;
  options.retry = true;
  options.initial_delay = 10ms;
  options.max_delay = 80ms;
  TcpClient client(loop_, InetAddress::loopback_ipv4(port), client_rec_.callbacks(), options);
  std::vector<Clock::time_point> failures;
  client.on_connect_error([&](std::error_code ec) {
    EXPECT_EQ(ec, std::errc::connection_refused);
    failures.push_back(Clock::now());
  });
  client.connect();
  ASSERT_TRUE(run_until(loop_, [&] { return failures.size() >= 4; }));
  // Delays double: 10, 20, 40 ms (generous bounds: only the growth matters).
  auto gap = [&](size_t i) { return failures[i + 1] - failures[i]; };
  EXPECT_GE(gap(0), 10ms);
  EXPECT_GT(gap(2), gap(0));
  EXPECT_GE(gap(2), 30ms);

  start_server(port);
  ASSERT_TRUE(run_until(
      loop_, [&] { return client_rec_.connects() == 1; }, 5s));
  const size_t failed = failures.size();
  run_for(loop_, 100ms);
  EXPECT_EQ(failures.size(), failed) << "no attempts once connected";
  EXPECT_EQ(server_rec_.connects(), 1u);
}

TEST_P(TcpClientTest, DisconnectStopsRetrying) {
  TcpClientOptions options;
  options.retry = true;
  options.initial_delay = 5ms;
  TcpClient client(loop_, InetAddress::loopback_ipv4(unused_port()), client_rec_.callbacks(),
                   options);
  int errors = 0;
  client.on_connect_error([&](std::error_code) {
    if (++errors == 2) client.disconnect();
  });
  client.connect();
  ASSERT_TRUE(run_until(loop_, [&] { return errors >= 2; }));
  run_for(loop_, 50ms);
  EXPECT_EQ(errors, 2);
}

TEST_P(TcpClientTest, DisconnectClosesGracefully) {
  start_server();
  TcpClient client(loop_, server_address(), client_rec_.callbacks());
  client.connect();
  ASSERT_TRUE(run_until(loop_, [&] { return client_rec_.connects() == 1; }));
  client.connection()->send("last");
  ASSERT_TRUE(run_until(loop_, [&] { return server_rec_.data() == "last"; }));
  client.disconnect();
  ASSERT_TRUE(
      run_until(loop_, [&] { return client_rec_.closes() == 1 && server_rec_.closes() == 1; }));
  EXPECT_EQ(client_rec_.closed().reason, CloseReason::local) << client_rec_.closed();
  EXPECT_EQ(server_rec_.closed().reason, CloseReason::peer) << server_rec_.closed();
  EXPECT_EQ(client.connection(), nullptr);
}

TEST_P(TcpClientTest, ServerCloseIsThePeersClose) {
  start_server();
  TcpClient client(loop_, server_address(), client_rec_.callbacks());
  client.connect();
  ASSERT_TRUE(run_until(loop_, [&] { return server_rec_.connects() == 1; }));
  server_rec_.connection()->close();
  ASSERT_TRUE(run_until(loop_, [&] { return client_rec_.closes() == 1; }));
  EXPECT_EQ(client_rec_.closed().reason, CloseReason::peer) << client_rec_.closed();
}

TEST_P(TcpClientTest, DestroyingTheClientResetsItsConnection) {
  start_server();
  {
    TcpClient client(loop_, server_address(), client_rec_.callbacks());
    client.connect();
    ASSERT_TRUE(run_until(loop_, [&] { return server_rec_.connects() == 1; }));
  }
  EXPECT_EQ(client_rec_.closes(), 1u);
  EXPECT_EQ(client_rec_.closed().reason, CloseReason::aborted);
  ASSERT_TRUE(run_until(loop_, [&] { return server_rec_.closes() == 1; }));
  EXPECT_EQ(server_rec_.closed().reason, CloseReason::error) << server_rec_.closed();
  EXPECT_EQ(server_rec_.closed().error, std::errc::connection_reset);
}

// The common pattern of dropping the client when its connection closes: the client (and its
// group's references) go while the connection's own close is still running. ASan and the
// connection count tell whether anything was used after it was freed, or leaked.
TEST_P(TcpClientTest, DestroyingTheClientFromItsOwnCloseCallback) {
  start_server();
  std::unique_ptr<TcpClient> client;
  std::weak_ptr<TcpConnection> weak;
  ConnectionCallbacks cb = client_rec_.callbacks();
  cb.on_connect = [&](const TcpConnectionPtr& c) { weak = c; };
  cb.on_close = [&](const TcpConnectionPtr&, const CloseInfo&) { client.reset(); };
  client = std::make_unique<TcpClient>(loop_, server_address(), cb);
  client->connect();
  ASSERT_TRUE(run_until(loop_, [&] { return server_rec_.connects() == 1; }));
  server_rec_.connection()->close();
  ASSERT_TRUE(run_until(loop_, [&] { return client == nullptr; }));
  ASSERT_TRUE(run_until(loop_, [&] { return weak.expired(); })) << "the connection leaked";
}

TEST_P(TcpClientTest, DestroyingTheClientMidConnectIsClean) {
  start_server();
  int errors = 0;
  {
    TcpClient client(loop_, server_address(), client_rec_.callbacks());
    client.on_connect_error([&](std::error_code) { ++errors; });
    client.connect();
  }
  run_for(loop_, 20ms);
  EXPECT_EQ(client_rec_.connects(), 0u);
  EXPECT_EQ(errors, 0);
}

TEST_P(TcpClientTest, BindsToTheRequestedSourceAddress) {
  start_server();
  TcpClientOptions options;
  options.bind_to = InetAddress::parse("127.0.0.2", 0);
  TcpClient client(loop_, server_address(), client_rec_.callbacks(), options);
  client.connect();
  ASSERT_TRUE(run_until(loop_, [&] { return server_rec_.connects() == 1; }));
  EXPECT_EQ(server_rec_.connection()->peer_address().host(), "127.0.0.2");
}

TEST_P(TcpClientTest, ConnectTimesOut) {
  // A listener with a full accept queue drops further SYNs, so a connect to it hangs.
  UniqueFd listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  InetAddress any = InetAddress::loopback_ipv4(0);
  ASSERT_EQ(::bind(listener.get(), any.sockaddr_ptr(), any.length()), 0);
  ASSERT_EQ(::listen(listener.get(), 0), 0);
  sockaddr_in sa{};
  socklen_t len = sizeof sa;
  ::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&sa), &len);
  const InetAddress target = InetAddress::from_sockaddr(reinterpret_cast<sockaddr*>(&sa), len);
  // Fill the queue (never accepted). Non-blocking: the second one already hangs.
  std::vector<UniqueFd> fillers;
  for (int i = 0; i < 2; ++i) {
    fillers.emplace_back(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    ::connect(fillers.back().get(), target.sockaddr_ptr(), target.length());
  }
  run_for(loop_, 20ms);  // let the first handshake complete

  TcpClientOptions options;
  options.connect_timeout = 100ms;
  TcpClient client(loop_, target, client_rec_.callbacks(), options);
  std::vector<std::error_code> errors;
  client.on_connect_error([&](std::error_code ec) { errors.push_back(ec); });
  client.connect();
  ASSERT_TRUE(run_until(
      loop_, [&] { return !errors.empty() || client_rec_.connects() > 0; }, 5s));
  if (client_rec_.connects() > 0) GTEST_SKIP() << "the kernel completed the handshake anyway";
  EXPECT_EQ(errors[0], Errc::connect_timed_out) << errors[0].message();
  EXPECT_EQ(client.connection(), nullptr);
}

INSTANTIATE_TEST_SUITE_P(Backends, TcpClientTest,
                         test::all_backends(), test::backend_name);

}  // namespace
}  // namespace reactor::net
