// Unit tests for TLS connections (src/net/secure_io.cc over src/tls/tls_session.cc), the
// client's side, on a loop of each backend: what a TcpClient sends before its handshake is
// done, how the server's end reaches it, and a refused server. The server's side:
// tls_connection_test.cc; verification, SNI, ALPN and resumption: tls_handshake_test.cc.
#include <openssl/err.h>
#include <openssl/x509_vfy.h>
#include <sys/socket.h>

#include <memory>
#include <string>
#include <vector>

#include "net_test_util.h"
#include "reactor/net/tcp_client.h"
#include "reactor/net/tcp_server.h"
#include "reactor/tls/tls_context.h"
#include "tls_test_util.h"

namespace reactor::net {
namespace {

using test::pattern;
using test::Recorder;
using test::run_for;
using test::run_until;
using test::TlsPeer;
using namespace std::chrono_literals;

const test::TlsTestCerts& certs() {
  return test::tls_test_certs();
}

/// A client context that trusts the test CA.
std::shared_ptr<tls::TlsContext> client_tls() {
  tls::ClientConfig config;
  config.ca_file = certs().ca;
  return tls::TlsContext::client(config);
}

class TlsClientTest : public ::testing::TestWithParam<std::string> {
 protected:
  ~TlsClientTest() override {
    clients_.clear();
    server_.reset();
    server_rec_.forget();
    client_rec_.forget();
    loop_.post([this] { loop_.stop(); });  // let the loop run what closing posted
    loop_.run();
  }

  void start_server(ConnectionCallbacks cb) {
    tls::ServerConfig config;
    config.certificates.push_back({certs().cert, certs().key});
    TcpServerOptions options;
    options.tls = tls::TlsContext::server(config);
    server_ =
        std::make_unique<TcpServer>(loop_, InetAddress::loopback_ipv4(0), std::move(cb), options);
    server_->start();
  }
  void start_server() { start_server(server_rec_.callbacks()); }
  test::TlsCounts server_counts() const { return test::tls_counts(server_->stats()); }

  /// A connecting TcpClient of the server through `tls`; its failed attempts go to errors_.
  TcpClient& connect(std::shared_ptr<tls::TlsContext> tls) {
    TcpClientOptions options;
    options.tls = std::move(tls);
    clients_.push_back(
        std::make_unique<TcpClient>(loop_, server_->address(), client_rec_.callbacks(), options));
    TcpClient& client = *clients_.back();
    client.on_connect_error([this](std::error_code e) {
      errors_.push_back(e);
      // Posted: runs once the failed event is over, as the next connection's would.
      loop_.post([this] { left_in_queue_.push_back(ERR_peek_error()); });
    });
    client.connect();
    return client;
  }

  /// Waits for the client's one attempt to end; true if it connected.
  bool connected() {
    EXPECT_TRUE(run_until(loop_, [&] { return errors_.size() + client_rec_.connects() == 1; }));
    return client_rec_.connects() == 1;
  }

  /// A round trip through the echo server on the client's connection.
  void expect_echo(TcpClient& client, const std::string& text) {
    const std::string before = client_rec_.data();
    client.connection()->send(text);
    EXPECT_TRUE(run_until(loop_, [&] { return client_rec_.data() == before + text; }));
  }

  test::FdLeakGuard leaks_;
  EventLoop loop_{GetParam()};
  Recorder server_rec_;  // echoes
  Recorder client_rec_{/*echo=*/false};
  std::unique_ptr<TcpServer> server_;
  std::vector<std::unique_ptr<TcpClient>> clients_;
  std::vector<std::error_code> errors_;
  std::vector<unsigned long> left_in_queue_;
};

// Without a CA file the system's store decides, and it does not know the test CA. The
// failed handshake is counted on the server's side too, and leaves no OpenSSL error on
// the loop's thread.
TEST_P(TlsClientTest, TheSystemStoreDoesNotKnowTheTestCa) {
  start_server();
  connect(tls::TlsContext::client({}));
  ASSERT_FALSE(connected());
  ASSERT_EQ(errors_.size(), 1u);
  EXPECT_EQ(errors_[0],
            std::error_code(X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, tls::verify_category()))
      << errors_[0].message();
  ASSERT_TRUE(
      run_until(loop_, [&] { return server_counts().failures == 1 && !left_in_queue_.empty(); }));
  EXPECT_EQ(server_rec_.connects(), 0u);
  EXPECT_EQ(left_in_queue_, std::vector<unsigned long>{0});
}

// Before its handshake is done, a client's send() is queued (as plaintext, counted against
// the high-water mark) and flows once it is. The server is played by hand, late: the TCP
// connect completes in the listener's backlog and the ClientHello waits unanswered.
TEST_P(TlsClientTest, SendBeforeTheHandshakeIsQueuedThenDelivered) {
  UniqueFd listener(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  InetAddress any = InetAddress::loopback_ipv4(0);
  ASSERT_EQ(::bind(listener.get(), any.sockaddr_ptr(), any.length()), 0);
  ASSERT_EQ(::listen(listener.get(), 1), 0);
  sockaddr_in sa{};
  socklen_t len = sizeof sa;
  ASSERT_EQ(::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&sa), &len), 0);

  constexpr size_t kHigh = 64 << 10;
  std::vector<size_t> highs;
  int lows = 0;
  ConnectionCallbacks cb = client_rec_.callbacks();
  cb.on_high_water = [&](const TcpConnectionPtr&, size_t pending) { highs.push_back(pending); };
  cb.on_low_water = [&](const TcpConnectionPtr&) { ++lows; };
  TcpClientOptions options;
  options.tls = client_tls();
  options.connection.high_water_mark = kHigh;
  options.connection.low_water_mark = 16 << 10;
  TcpClient client(loop_, InetAddress::from_sockaddr(reinterpret_cast<sockaddr*>(&sa), len), cb,
                   options);
  client.connect();
  ASSERT_TRUE(run_until(loop_, [&] { return client.connection() != nullptr; }));
  TcpConnectionPtr c = client.connection();
  const std::string payload = pattern(256 << 10);
  c->send(payload);
  EXPECT_EQ(c->pending_output(), payload.size()) << "plaintext left before the handshake";
  EXPECT_EQ(highs, std::vector<size_t>{payload.size()});
  run_for(loop_, 20ms);
  EXPECT_EQ(c->pending_output(), payload.size());
  EXPECT_EQ(client_rec_.connects(), 0u);

  UniqueFd accepted(::accept4(listener.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
  ASSERT_TRUE(accepted);
  auto server_ctx = test::peer_server_context();
  TlsPeer server(server_ctx.get(), std::move(accepted), /*server=*/true);
  ASSERT_TRUE(run_until(loop_, [&] {
    server.handshake();
    server.pump();
    return server.received.size() >= payload.size() || server.failed;
  }));
  EXPECT_TRUE(server.received == payload) << "bytes reordered or corrupted";
  EXPECT_EQ(client_rec_.connects(), 1u);
  ASSERT_TRUE(run_until(loop_, [&] { return c->pending_output() == 0 && lows == 1; }));
  EXPECT_EQ(highs.size(), 1u);
}

// The server's close(): its output, then close_notify: a clean end for the client.
TEST_P(TlsClientTest, ServersCloseIsACleanEndForTheClient) {
  const std::string payload = pattern(1 << 20);
  start_server(server_rec_.callbacks_then([&](const TcpConnectionPtr& c) {
    c->send(payload);
    c->close();
  }));
  connect(client_tls());
  ASSERT_TRUE(
      run_until(loop_, [&] { return client_rec_.closes() == 1 && server_rec_.closes() == 1; }));
  EXPECT_TRUE(client_rec_.data() == payload) << client_rec_.data().size();
  EXPECT_EQ(client_rec_.closed().reason, CloseReason::peer) << client_rec_.closed();
  EXPECT_FALSE(client_rec_.closed().truncated);
  EXPECT_FALSE(client_rec_.closed().error);
  EXPECT_EQ(server_rec_.closed().reason, CloseReason::local) << server_rec_.closed();
  EXPECT_EQ(server_rec_.closed().unsent, 0u);
}

TEST_P(TlsClientTest, ServersAbortIsAResetForTheClient) {
  start_server();
  TcpClient& client = connect(client_tls());
  ASSERT_TRUE(connected());
  expect_echo(client, "ping");
  server_rec_.connection()->abort();
  ASSERT_TRUE(run_until(loop_, [&] { return client_rec_.closes() == 1; }));
  EXPECT_EQ(client_rec_.closed().reason, CloseReason::error) << client_rec_.closed();
  EXPECT_EQ(client_rec_.closed().error, std::errc::connection_reset) << client_rec_.closed();
  EXPECT_FALSE(client_rec_.closed().truncated);
}

INSTANTIATE_TEST_SUITE_P(Backends, TlsClientTest, test::all_backends(), test::backend_name);

}  // namespace
}  // namespace reactor::net
