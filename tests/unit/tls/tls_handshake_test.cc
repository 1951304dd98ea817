// Handshakes through tls::TlsContext on the real path (TcpServer, TcpClient and their
// connections over 127.0.0.1): what the contexts decide, ALPN, SNI, verification of the
// server's chain, name and address, and session resumption (src/tls/tls_context.cc).
#include <gtest/gtest.h>
#include <openssl/x509_vfy.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "net_test_util.h"
#include "reactor/net/tcp_client.h"
#include "reactor/net/tcp_server.h"
#include "reactor/tls/tls_context.h"
#include "tls_test_certs.h"

namespace reactor::tls {
namespace {

using test::run_until;
using namespace std::chrono_literals;

const test::TlsTestCerts& certs() {
  return test::tls_test_certs();
}

/// What one connection attempt came to, seen from the client.
struct Outcome {
  bool connected = false;
  std::error_code error;  // the failed handshake's
  std::string client_alpn, server_alpn;
};

/// Connects once with `tls`, exchanges a line (so that a TLS 1.3 ticket, sent after the
/// handshake, has arrived) and disconnects.
Outcome connect_once(EventLoop& loop, const net::InetAddress& server,
                     const std::shared_ptr<TlsContext>& tls, const std::string& server_name) {
  Outcome outcome;
  bool failed = false;
  std::string reply;
  net::ConnectionCallbacks cb;
  cb.on_connect = [&](const net::TcpConnectionPtr& c) {
    outcome.connected = true;
    outcome.client_alpn = c->alpn();
    c->send("ping");
  };
  cb.on_message = [&](const net::TcpConnectionPtr&, net::Buffer& in) { reply += in.take_all(); };
  net::TcpClientOptions options;
  options.tls = tls;
  options.server_name = server_name;
  net::TcpClient client(loop, server, cb, options);
  client.on_connect_error([&](std::error_code e) {
    outcome.error = e;
    failed = true;
  });
  client.connect();
  EXPECT_TRUE(test::run_until(loop, [&] { return failed || reply == "ping"; })) << "no outcome";
  client.disconnect();
  return outcome;
}

net::ConnectionStats sum(const std::vector<net::ConnectionStats>& per_loop) {
  net::ConnectionStats total;
  for (const net::ConnectionStats& s : per_loop) {
    total.tls_handshakes += s.tls_handshakes;
    total.tls_resumed += s.tls_resumed;
    total.tls_handshake_failures += s.tls_handshake_failures;
  }
  return total;
}

class TlsHandshakeTest : public ::testing::Test {
 protected:
  ~TlsHandshakeTest() override {
    server_.reset();
    server_rec_.forget();
    loop_.post([this] { loop_.stop(); });  // let the loop run what closing posted
    loop_.run();
  }

  void serve(const ServerConfig& config) {
    net::TcpServerOptions options;
    options.tls = TlsContext::server(config);
    server_ = std::make_unique<net::TcpServer>(loop_, net::InetAddress::loopback_ipv4(0),
                                               server_rec_.callbacks(), options);
    server_->start();
  }
  void serve(const std::string& cert, const std::string& key) {
    ServerConfig config;
    config.certificates.push_back({cert, key});
    serve(config);
  }

  /// connect_once(), adding the ALPN protocol the server's side of the connection saw.
  Outcome attempt(const std::shared_ptr<TlsContext>& tls, const std::string& server_name = "") {
    size_t served = server_rec_.connects();
    Outcome outcome = connect_once(loop_, server_->address(), tls, server_name);
    if (outcome.connected && server_rec_.connects() > served)
      outcome.server_alpn = server_rec_.connection(served)->alpn();
    return outcome;
  }

  net::ConnectionStats server_stats() const { return sum(server_->stats()); }

  static std::shared_ptr<TlsContext> client(std::vector<std::string> alpn = {},
                                            const std::string& ca = certs().ca) {
    ClientConfig config;
    config.ca_file = ca;
    config.alpn = std::move(alpn);
    return TlsContext::client(config);
  }

  test::FdLeakGuard leaks_;
  EventLoop loop_;
  test::Recorder server_rec_;  // echoes
  std::unique_ptr<net::TcpServer> server_;
};

TEST_F(TlsHandshakeTest, ServerVerifiedByItsAddressOrItsName) {
  serve(certs().cert, certs().key);
  auto tls = client();
  EXPECT_TRUE(attempt(tls).connected);  // no name: 127.0.0.1 is verified, and no SNI is sent
  EXPECT_TRUE(attempt(tls, "localhost").connected);
  EXPECT_TRUE(attempt(tls, "LOCALHOST").connected);
  EXPECT_EQ(server_stats().tls_handshakes, 3u);
}

TEST_F(TlsHandshakeTest, WrongNameIsRefused) {
  serve(certs().cert, certs().key);
  Outcome o = attempt(client(), "other.example");
  EXPECT_FALSE(o.connected);
  EXPECT_EQ(o.error, std::error_code(X509_V_ERR_HOSTNAME_MISMATCH, verify_category()))
      << o.error.message();
  serve(certs().wrong_name_cert, certs().wrong_name_key);  // no 127.0.0.1 in it either
  o = attempt(client());
  EXPECT_EQ(o.error, std::error_code(X509_V_ERR_IP_ADDRESS_MISMATCH, verify_category()))
      << o.error.message();
}

TEST_F(TlsHandshakeTest, UnknownCaIsRefusedUnlessVerificationIsOff) {
  serve(certs().other_cert, certs().other_key);
  Outcome o = attempt(client(), "localhost");
  EXPECT_FALSE(o.connected);
  EXPECT_EQ(o.error.category(), verify_category()) << o.error.message();
  EXPECT_EQ(o.error.value(), X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY) << o.error.message();
  EXPECT_EQ(server_stats().tls_handshakes, 0u);

  ClientConfig insecure;
  insecure.verify = false;
  EXPECT_TRUE(attempt(TlsContext::client(insecure), "localhost").connected);
}

TEST_F(TlsHandshakeTest, AlpnFollowsTheServersPreference) {
  ServerConfig config;
  config.certificates.push_back({certs().cert, certs().key});
  config.alpn = {"h2", "http/1.1"};
  serve(config);
  Outcome o = attempt(client({"http/1.1", "h2"}));
  ASSERT_TRUE(o.connected) << o.error.message();
  EXPECT_EQ(o.client_alpn, "h2");
  EXPECT_EQ(o.server_alpn, "h2");
  o = attempt(client({"http/1.1"}));
  EXPECT_EQ(o.client_alpn, "http/1.1");
  EXPECT_EQ(o.server_alpn, "http/1.1");
  o = attempt(client());  // a client that offers nothing gets nothing, and is served
  ASSERT_TRUE(o.connected) << o.error.message();
  EXPECT_EQ(o.server_alpn, "");
}

TEST_F(TlsHandshakeTest, AlpnWithoutACommonProtocolIsRefused) {
  ServerConfig config;
  config.certificates.push_back({certs().cert, certs().key});
  config.alpn = {"http/1.1"};
  serve(config);
  Outcome o = attempt(client({"spdy/3", "h2"}));
  EXPECT_FALSE(o.connected);
  EXPECT_EQ(o.error.category(), openssl_category());
  EXPECT_NE(o.error.message().find("no application protocol"), std::string::npos)
      << o.error.message();
  EXPECT_TRUE(run_until(loop_, [&] { return server_stats().tls_handshake_failures == 1; }));
}

TEST_F(TlsHandshakeTest, ServerWithoutAlpnIgnoresTheClients) {
  serve(certs().cert, certs().key);
  Outcome o = attempt(client({"h2"}));
  ASSERT_TRUE(o.connected) << o.error.message();
  EXPECT_EQ(o.client_alpn, "");
}

TEST_F(TlsHandshakeTest, SniSelectsTheCertificate) {
  // The client verifies the name it sent: it connects only if the server presented the
  // certificate for that name.
  ServerConfig config;
  config.certificates.push_back({certs().cert, certs().key});
  config.certificates.push_back({certs().wrong_name_cert, certs().wrong_name_key});
  serve(config);
  auto tls = client();
  EXPECT_TRUE(attempt(tls, "other.example").connected);
  EXPECT_TRUE(attempt(tls, "Other.Example").connected);
  EXPECT_TRUE(attempt(tls, "localhost").connected);
  EXPECT_TRUE(attempt(tls).connected);                // no SNI: the default, which names 127.0.0.1
  Outcome unknown = attempt(tls, "unknown.example");  // the default again, not its name
  EXPECT_EQ(unknown.error, std::error_code(X509_V_ERR_HOSTNAME_MISMATCH, verify_category()));
}

TEST_F(TlsHandshakeTest, ClientResumesItsLastSession) {
  serve(certs().cert, certs().key);
  auto tls = client();
  for (const char* name : {"localhost", "localhost", "", "", "localhost"})
    ASSERT_TRUE(attempt(tls, name).connected) << name;
  EXPECT_EQ(server_stats().tls_handshakes, 5u);
  EXPECT_EQ(server_stats().tls_resumed, 3u) << "the first to each name is a full handshake";
}

TEST_F(TlsHandshakeTest, ResumptionWorksAcrossSniCertificates) {
  // Tickets are sealed with the default context's keys, whichever certificate was chosen.
  ServerConfig config;
  config.certificates.push_back({certs().cert, certs().key});
  config.certificates.push_back({certs().wrong_name_cert, certs().wrong_name_key});
  serve(config);
  auto tls = client();
  ASSERT_TRUE(attempt(tls, "other.example").connected);
  ASSERT_TRUE(attempt(tls, "other.example").connected);
  EXPECT_EQ(server_stats().tls_resumed, 1u);
}

TEST_F(TlsHandshakeTest, NoResumptionWhenEitherSideTurnsItOff) {
  ServerConfig config;
  config.certificates.push_back({certs().cert, certs().key});
  config.session_tickets = false;
  serve(config);
  auto tls = client();
  ASSERT_TRUE(attempt(tls, "localhost").connected);
  ASSERT_TRUE(attempt(tls, "localhost").connected);
  EXPECT_EQ(server_stats().tls_resumed, 0u) << "no tickets from the server";

  serve(certs().cert, certs().key);
  ClientConfig forgetful;
  forgetful.ca_file = certs().ca;
  forgetful.session_resumption = false;
  tls = TlsContext::client(forgetful);
  ASSERT_TRUE(attempt(tls, "localhost").connected);
  ASSERT_TRUE(attempt(tls, "localhost").connected);
  EXPECT_EQ(server_stats().tls_handshakes, 2u);
  EXPECT_EQ(server_stats().tls_resumed, 0u) << "the client keeps no session";
}

TEST_F(TlsHandshakeTest, TlsOneThreeOnlyOnBothSides) {
  ServerConfig config;
  config.certificates.push_back({certs().cert, certs().key});
  config.min_version = Version::tls1_3;
  serve(config);
  ClientConfig strict;
  strict.ca_file = certs().ca;
  strict.min_version = Version::tls1_3;
  EXPECT_TRUE(attempt(TlsContext::client(strict)).connected);
}

// One client context shared by clients on two threads (its session cache is locked), and
// a server context shared by the server's two loops.
TEST(TlsHandshakeThreads, ContextsServeEveryLoop) {
  test::FdLeakGuard leaks;
  EventLoop loop;
  test::Recorder recorder;
  ServerConfig config;
  config.certificates.push_back({certs().cert, certs().key});
  net::TcpServerOptions options;
  options.threads = 2;
  options.tls = TlsContext::server(config);
  auto server = std::make_unique<net::TcpServer>(loop, net::InetAddress::loopback_ipv4(0),
                                                 recorder.callbacks(), options);
  server->start();
  ClientConfig client_config;
  client_config.ca_file = certs().ca;
  auto tls = TlsContext::client(client_config);
  constexpr int kPerThread = 5;
  std::atomic<int> connected{0}, finished{0};
  auto run_client = [&] {
    EventLoop client_loop;
    for (int i = 0; i < kPerThread; ++i)
      connected += connect_once(client_loop, server->address(), tls, "localhost").connected;
    ++finished;
  };
  std::thread a(run_client), b(run_client);
  EXPECT_TRUE(run_until(
      loop, [&] { return finished == 2; }, 60s));  // the server accepts
  a.join();
  b.join();
  EXPECT_EQ(connected, 2 * kPerThread);
  net::ConnectionStats total = sum(server->stats());
  EXPECT_EQ(total.tls_handshakes, 2u * kPerThread);
  // At most each thread's first handshake is a full one.
  EXPECT_GE(total.tls_resumed, 2u * kPerThread - 2);
  server.reset();
  recorder.forget();
  loop.post([&] { loop.stop(); });
  loop.run();
}

}  // namespace
}  // namespace reactor::tls
