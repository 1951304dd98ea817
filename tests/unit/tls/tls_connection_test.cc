// Unit tests for TLS connections (src/net/secure_io.cc over src/tls/tls_session.cc), the
// server's side: a TcpServer with a tls::TlsContext on a loop of each backend, against
// TcpClients, hand-driven OpenSSL peers (TlsPeer) and raw sockets that misbehave, all on
// the test's thread. Suites named ...Threads serve from two loops. The client's side
// (verification, SNI, ALPN, resumption): tls_client_test.cc.
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "net_test_util.h"
#include "reactor/core/error.h"
#include "reactor/net/tcp_client.h"
#include "reactor/net/tcp_server.h"
#include "reactor/tls/tls_context.h"
#include "tls_test_util.h"

namespace reactor::net {
namespace {

using test::pattern;
using test::RawClient;
using test::Recorder;
using test::run_for;
using test::run_until;
using test::TlsPeer;
using namespace std::chrono_literals;

std::shared_ptr<tls::TlsContext> server_tls() {
  tls::ServerConfig config;
  config.certificates.push_back({test::tls_test_certs().cert, test::tls_test_certs().key});
  return tls::TlsContext::server(config);
}

std::shared_ptr<tls::TlsContext> client_tls() {
  tls::ClientConfig config;
  config.ca_file = test::tls_test_certs().ca;
  return tls::TlsContext::client(config);
}

/// One TcpClient of the echo test: sends its payload in pieces, one per loop turn, and
/// keeps what comes back.
struct EchoClient {
  std::string payload;
  std::vector<size_t> pieces;
  std::string echoed;
  std::vector<Recorder::Closed> closes;
  std::unique_ptr<TcpClient> client;
};

class TlsConnectionTest : public ::testing::TestWithParam<std::string> {
 protected:
  ~TlsConnectionTest() override {
    for (EchoClient& e : echo_) e.client.reset();
    server_.reset();
    rec_.forget();
    // Let the loop finish what closing the connections posted (their removal).
    loop_.post([this] { loop_.stop(); });
    loop_.run();
  }

  void start(ConnectionCallbacks cb, TcpServerOptions options = {}) {
    options.tls = server_tls();
    server_ =
        std::make_unique<TcpServer>(loop_, InetAddress::loopback_ipv4(0), std::move(cb), options);
    server_->start();
  }
  void start() { start(rec_.callbacks()); }
  uint16_t port() const { return server_->address().port(); }
  test::TlsCounts counts() const { return test::tls_counts(server_->stats()); }

  /// A hand-driven TLS client, its handshake done and its connection reported.
  std::unique_ptr<TlsPeer> connect_peer(SSL_CTX* ctx = nullptr) {
    const size_t before = rec_.connects();
    auto peer = TlsPeer::connect(ctx ? ctx : peer_ctx_.get(), port());
    EXPECT_TRUE(run_until(loop_, [&] { return peer->handshake() && rec_.connects() > before; }));
    return peer;
  }

  /// Runs the loop while the peer keeps pumping (and, with `read` false, only writing).
  bool pump_until(TlsPeer& peer, const std::function<bool()>& done, bool read = true,
                  std::chrono::milliseconds timeout = 10s) {
    return run_until(
        loop_,
        [&] {
          read ? peer.pump() : static_cast<void>(peer.flush());
          return done();
        },
        timeout);
  }

  /// Checks, from a task posted on the loop, that the loop thread's OpenSSL error queue is
  /// empty: what a failed handshake queued was drained, not left for the next connection.
  void expect_no_openssl_error() {
    bool checked = false;
    unsigned long left = 0;
    loop_.post([&] {
      left = ERR_peek_error();
      checked = true;
    });
    ASSERT_TRUE(run_until(loop_, [&] { return checked; }));
    EXPECT_EQ(left, 0u) << ERR_reason_error_string(left);
  }

  void check_echo_integrity(size_t threads);
  void send_pieces(EchoClient& e, const TcpConnectionPtr& c, size_t piece, size_t at);

  test::FdLeakGuard leaks_;
  EventLoop loop_{GetParam()};
  test::SslContextPtr peer_ctx_ = test::peer_client_context();
  Recorder rec_;
  std::unique_ptr<TcpServer> server_;
  std::vector<EchoClient> echo_;
};

// One piece now, the next on a later loop turn, so that reads and writes interleave.
void TlsConnectionTest::send_pieces(EchoClient& e, const TcpConnectionPtr& c, size_t piece,
                                    size_t at) {
  c->send(std::string_view(e.payload).substr(at, e.pieces[piece]));
  if (piece + 1 < e.pieces.size())
    loop_.post([this, &e, c, piece, at] { send_pieces(e, c, piece + 1, at + e.pieces[piece]); });
}

// 20 clients, 1 B to 200 KiB each in random pieces (a record is 16 KiB: pieces end inside
// records and span them), echoed and checked byte by byte; then a clean end on both sides.
void TlsConnectionTest::check_echo_integrity(size_t threads) {
  constexpr size_t kClients = 20, kMax = 200 << 10;
  constexpr unsigned kSeed = 11;
  SCOPED_TRACE("seed " + std::to_string(kSeed));
  TcpServerOptions options;
  options.threads = threads;
  start(rec_.callbacks(), options);
  std::mt19937 rng(kSeed);
  std::uniform_int_distribution<size_t> size(1, kMax), piece(1, 40 << 10);
  std::uniform_int_distribution<int> byte(0, 255);
  auto tls = client_tls();
  echo_.resize(kClients);  // never resized again: the callbacks hold references
  size_t total = 0;
  for (size_t i = 0; i < kClients; ++i) {
    EchoClient& e = echo_[i];
    const size_t n = i == 0 ? 1 : i == 1 ? kMax : size(rng);
    total += n;
    for (size_t k = 0; k < n; ++k) e.payload.push_back(static_cast<char>(byte(rng)));
    for (size_t at = 0; at < n; at += e.pieces.back())
      e.pieces.push_back(std::min(piece(rng), n - at));
    ConnectionCallbacks cb;
    cb.on_connect = [this, &e](const TcpConnectionPtr& c) { send_pieces(e, c, 0, 0); };
    cb.on_message = [&e](const TcpConnectionPtr&, Buffer& in) {
      e.echoed.append(in.view());
      in.clear();
    };
    cb.on_close = [&e](const TcpConnectionPtr&, const CloseInfo& info) {
      e.closes.push_back({info.reason, info.error, info.unsent, info.truncated});
    };
    TcpClientOptions client_options;
    client_options.tls = tls;
    e.client =
        std::make_unique<TcpClient>(loop_, server_->address(), std::move(cb), client_options);
    e.client->connect();
  }
  ASSERT_TRUE(run_until(
      loop_,
      [&] {
        return std::all_of(echo_.begin(), echo_.end(),
                           [](const EchoClient& e) { return e.echoed.size() >= e.payload.size(); });
      },
      20s));
  for (size_t i = 0; i < kClients; ++i)
    EXPECT_TRUE(echo_[i].echoed == echo_[i].payload) << "client " << i << " got other bytes back";
  EXPECT_EQ(rec_.data().size(), total);
  EXPECT_EQ(rec_.connects(), kClients);
  EXPECT_EQ(rec_.thread_count(), threads);
  const test::TlsCounts tls_counts = counts();
  EXPECT_EQ(tls_counts.handshakes, kClients);
  EXPECT_EQ(tls_counts.failures, 0u);
  EXPECT_EQ(tls_counts.timeouts, 0u);
  for (EchoClient& e : echo_) e.client->disconnect();
  ASSERT_TRUE(run_until(loop_, [&] {
    return rec_.closes() == kClients &&
           std::all_of(echo_.begin(), echo_.end(),
                       [](const EchoClient& e) { return !e.closes.empty(); });
  }));
  for (size_t i = 0; i < kClients; ++i) {
    // The client's close() sent close_notify: the server saw a clean end of its stream.
    EXPECT_EQ(rec_.closed(i).reason, CloseReason::peer) << rec_.closed(i);
    EXPECT_FALSE(rec_.closed(i).truncated) << rec_.closed(i);
    ASSERT_EQ(echo_[i].closes.size(), 1u);
    EXPECT_EQ(echo_[i].closes[0].reason, CloseReason::local) << echo_[i].closes[0];
    EXPECT_FALSE(echo_[i].closes[0].truncated) << echo_[i].closes[0];
  }
}

TEST_P(TlsConnectionTest, EchoIntegrityWithRandomSizesAndSplits) {
  check_echo_integrity(1);
}

// A peer that stops reading: the echo server's output reaches the plaintext high-water
// mark, it pauses reading (as the echo server does), and so stops taking the peer's bytes:
// the peer, not the server, ends up holding them. Reading again, all arrive intact.
TEST_P(TlsConnectionTest, PeerThatStopsReadingMeetsPlaintextBackPressure) {
  constexpr size_t kHigh = 64 << 10, kLow = 16 << 10, kRecord = 16 << 10;
  int highs = 0, lows = 0;
  size_t max_pending = 0, reported = 0;
  ConnectionCallbacks cb = rec_.callbacks_then([](const TcpConnectionPtr& c) {
    test::cap_kernel_buffer(c->fd(), SO_SNDBUF);
    test::cap_kernel_buffer(c->fd(), SO_RCVBUF);
  });
  cb.on_message = [&](const TcpConnectionPtr& c, Buffer& in) {
    c->send(in);
    max_pending = std::max(max_pending, c->pending_output());
  };
  cb.on_high_water = [&](const TcpConnectionPtr& c, size_t pending) {
    ++highs;
    reported = pending;
    c->pause_reading();
  };
  cb.on_low_water = [&](const TcpConnectionPtr& c) {
    ++lows;
    c->resume_reading();
  };
  TcpServerOptions options;
  options.connection.high_water_mark = kHigh;
  options.connection.low_water_mark = kLow;
  start(cb, options);
  auto peer = connect_peer();
  test::cap_kernel_buffer(peer->fd(), SO_SNDBUF);
  test::cap_kernel_buffer(peer->fd(), SO_RCVBUF);
  TcpConnectionPtr c = rec_.connection();
  const std::string payload = pattern(4 << 20);
  peer->send(payload);
  ASSERT_TRUE(pump_until(
      *peer, [&] { return highs == 1 && c->reading_paused(); }, false));
  // For a while the peer pushes all it can, still reading nothing.
  pump_until(
      *peer, [] { return false; }, false, 30ms);
  EXPECT_EQ(highs, 1);
  EXPECT_EQ(lows, 0);
  EXPECT_TRUE(c->reading_paused());
  EXPECT_GT(peer->unsent(), 0u) << "the server took everything: no back-pressure";
  EXPECT_GE(reported, kHigh);
  EXPECT_LE(max_pending, kHigh + kRecord) << "pending output grew past a record over the mark";
  ASSERT_TRUE(pump_until(*peer, [&] { return peer->received.size() >= payload.size(); }));
  EXPECT_TRUE(peer->received == payload) << "bytes reordered or corrupted";
  EXPECT_LE(max_pending, kHigh + kRecord);
  EXPECT_GE(lows, 1);
  EXPECT_EQ(highs, lows);
  EXPECT_EQ(c->pending_output(), 0u);
  EXPECT_FALSE(c->reading_paused());
}

int bytes_in_socket(int fd) {
  int n = -1;
  EXPECT_EQ(::ioctl(fd, FIONREAD, &n), 0);
  return n;
}

// Records the session already took from the socket (read-ahead) while reading was paused:
// resume_reading() delivers them although no new byte comes to wake the loop.
TEST_P(TlsConnectionTest, ResumeDeliversRecordsTheSessionAlreadyHolds) {
  std::vector<std::string> seen;
  ConnectionCallbacks cb = rec_.callbacks();
  cb.on_message = [&](const TcpConnectionPtr& c, Buffer& in) {
    seen.emplace_back(in.view());
    in.clear();
    if (seen.size() == 1) c->pause_reading();
  };
  start(cb);
  auto peer = connect_peer();
  TcpConnectionPtr c = rec_.connection();
  std::string expected;
  for (char ch = 'a'; ch < 'k'; ++ch) {
    peer->send(std::string(100, ch));  // a record each, all in the socket before any read
    expected += std::string(100, ch);
  }
  ASSERT_TRUE(peer->flush());
  // TLS 1.3 adds 22 bytes to each record: a 5-byte header, the content type, a 16-byte tag.
  EXPECT_EQ(bytes_in_socket(c->fd()), 10 * (100 + 22)) << "the records are not all there yet";
  ASSERT_TRUE(run_until(loop_, [&] { return seen.size() == 1; }));
  run_for(loop_, 20ms);
  ASSERT_EQ(seen.size(), 1u) << "on_message ran while reading was paused";
  EXPECT_EQ(seen[0], std::string(100, 'a'));
  ASSERT_EQ(bytes_in_socket(c->fd()), 0) << "the session did not take them all: no test";
  c->resume_reading();
  ASSERT_TRUE(run_until(loop_, [&] {
    size_t n = 0;
    for (const std::string& s : seen) n += s.size();
    return n >= expected.size();
  }));
  std::string all;
  for (const std::string& s : seen) all += s;
  EXPECT_EQ(all, expected);
}

// close(): what was queued goes first, then close_notify, then the FIN.
TEST_P(TlsConnectionTest, CloseSendsCloseNotifyAfterThePendingOutput) {
  const std::string payload = pattern(1 << 20);
  ConnectionCallbacks cb = rec_.callbacks();
  start(cb);
  auto peer = connect_peer();
  test::cap_kernel_buffer(peer->fd(), SO_RCVBUF);
  TcpConnectionPtr c = rec_.connection();
  test::cap_kernel_buffer(c->fd(), SO_SNDBUF);
  c->send(payload);
  EXPECT_GT(c->pending_output(), 0u) << "the kernel took 1 MiB at once";
  c->close();
  ASSERT_TRUE(
      pump_until(*peer, [&] { return peer->got_close_notify || peer->eof || peer->failed; }));
  EXPECT_TRUE(peer->got_close_notify);
  EXPECT_TRUE(peer->received == payload) << peer->received.size();
  EXPECT_EQ(rec_.closes(), 0u) << "close() lingers for the peer's FIN";
  peer->close_notify();
  ::shutdown(peer->fd(), SHUT_WR);
  ASSERT_TRUE(run_until(loop_, [&] { return rec_.closes() == 1; }));
  EXPECT_EQ(rec_.closed().reason, CloseReason::local) << rec_.closed();
  EXPECT_EQ(rec_.closed().unsent, 0u);
  EXPECT_FALSE(rec_.closed().truncated);
}

TEST_P(TlsConnectionTest, PeersCloseNotifyIsACleanEnd) {
  start();
  auto peer = connect_peer();
  peer->send("bye");
  ASSERT_TRUE(peer->close_notify());
  ::shutdown(peer->fd(), SHUT_WR);
  ASSERT_TRUE(pump_until(*peer, [&] { return rec_.closes() == 1; }));
  EXPECT_EQ(rec_.data(), "bye");
  EXPECT_EQ(rec_.closed().reason, CloseReason::peer) << rec_.closed();
  EXPECT_FALSE(rec_.closed().truncated);
  EXPECT_FALSE(rec_.closed().error);
  EXPECT_TRUE(peer->got_close_notify) << "the server answered without close_notify";
}

// A FIN without close_notify may be an attacker's cut: reported, though still as the
// peer's end. Both ways a raw peer can do it: shutdown(SHUT_WR), or closing the socket.
TEST_P(TlsConnectionTest, PeerEndingWithoutCloseNotifyIsATruncation) {
  start();
  auto half = connect_peer();
  half->send("cut");
  ASSERT_TRUE(run_until(loop_, [&] { return rec_.data() == "cut"; }));
  ::shutdown(half->fd(), SHUT_WR);
  ASSERT_TRUE(run_until(loop_, [&] { return rec_.closes() == 1; }));
  EXPECT_EQ(rec_.closed(0).reason, CloseReason::peer) << rec_.closed(0);
  EXPECT_TRUE(rec_.closed(0).truncated) << rec_.closed(0);

  auto gone = connect_peer();
  gone->send("off");
  ASSERT_TRUE(run_until(loop_, [&] { return rec_.data() == "cutoff"; }));
  gone->pump();  // nothing unread left behind: the close sends a FIN, not a reset
  gone.reset();
  ASSERT_TRUE(run_until(loop_, [&] { return rec_.closes() == 2; }));
  EXPECT_EQ(rec_.closed(1).reason, CloseReason::peer) << rec_.closed(1);
  EXPECT_TRUE(rec_.closed(1).truncated) << rec_.closed(1);
}

TEST_P(TlsConnectionTest, AbortResetsThePeer) {
  start();
  auto peer = connect_peer();
  rec_.connection()->abort();
  ASSERT_TRUE(run_until(loop_, [&] { return rec_.closes() == 1; }));
  EXPECT_EQ(rec_.closed().reason, CloseReason::aborted) << rec_.closed();
  ASSERT_TRUE(
      pump_until(*peer, [&] { return peer->failed || peer->eof || peer->got_close_notify; }));
  EXPECT_TRUE(peer->failed);
  EXPECT_EQ(peer->sys_error, ECONNRESET);
  EXPECT_FALSE(peer->got_close_notify);
}

// shutdown() ends our stream (close_notify, FIN) and goes on reading the peer's.
TEST_P(TlsConnectionTest, ShutdownHalfClosesAndKeepsReading) {
  int write_closed = 0;
  ConnectionCallbacks cb = rec_.callbacks();
  cb.on_write_closed = [&](const TcpConnectionPtr&) { ++write_closed; };
  start(cb);
  auto peer = connect_peer();
  TcpConnectionPtr c = rec_.connection();
  c->send("half");
  c->shutdown();
  ASSERT_TRUE(
      pump_until(*peer, [&] { return peer->got_close_notify || peer->eof || peer->failed; }));
  EXPECT_TRUE(peer->got_close_notify);
  EXPECT_EQ(peer->received, "half");
  EXPECT_EQ(write_closed, 1);
  peer->send("after shutdown");
  ASSERT_TRUE(pump_until(*peer, [&] { return rec_.data() == "after shutdown"; }));
  EXPECT_FALSE(peer->failed);
  EXPECT_EQ(rec_.closes(), 0u);
  peer->close_notify();
  ::shutdown(peer->fd(), SHUT_WR);
  ASSERT_TRUE(run_until(loop_, [&] { return rec_.closes() == 1; }));
  EXPECT_EQ(rec_.closed().reason, CloseReason::local) << rec_.closed();
  EXPECT_FALSE(rec_.closed().truncated);
}

// The deadline covers the whole handshake: half a ClientHello then silence ...
TEST_P(TlsConnectionTest, HalfAClientHelloThenSilenceMeetsTheDeadline) {
  TcpServerOptions options;
  options.connection.handshake_timeout = 200ms;
  start(rec_.callbacks(), options);
  const std::string hello = test::client_hello();
  RawClient client(port());
  const auto sent = Clock::now();
  client.send(hello.substr(0, hello.size() / 2));
  ASSERT_TRUE(run_until(
      loop_,
      [&] {
        client.pump();
        return client.eof || client.error != 0;
      },
      5s));
  EXPECT_GE(Clock::now() - sent, 200ms);
  const test::TlsCounts c = counts();
  EXPECT_EQ(c.timeouts, 1u);
  EXPECT_EQ(c.failures, 0u);
  EXPECT_EQ(c.handshakes, 0u);
  EXPECT_EQ(rec_.connects(), 0u);
  EXPECT_EQ(rec_.closes(), 0u);
  const ConnectionStats s = server_->stats()[0];
  EXPECT_EQ(s.accepted, 1u);
  for (uint64_t closed : s.closed) EXPECT_EQ(closed, 0u) << "a connection that never began";
}

// ... and a ClientHello trickling in a byte at a time, each well within the deadline.
TEST_P(TlsConnectionTest, TrickledHandshakeMeetsTheDeadline) {
  TcpServerOptions options;
  options.connection.handshake_timeout = 300ms;
  start(rec_.callbacks(), options);
  const std::string hello = test::client_hello();
  RawClient client(port());
  const auto began = Clock::now();
  size_t next = 0;
  TimerId trickle = loop_.run_every(50ms, [&] {
    if (next < hello.size() && !client.eof && client.error == 0)
      client.send(hello.substr(next++, 1));
  });
  const bool ended = run_until(
      loop_,
      [&] {
        client.pump();
        return client.eof || client.error != 0;
      },
      5s);
  loop_.cancel(trickle);
  ASSERT_TRUE(ended);
  EXPECT_GE(Clock::now() - began, 300ms);
  EXPECT_GE(next, 4u) << "bytes kept coming: no idle time ran out, the handshake's did";
  EXPECT_LT(next, hello.size());
  EXPECT_EQ(counts().timeouts, 1u);
  EXPECT_EQ(counts().handshakes, 0u);
  EXPECT_EQ(rec_.connects(), 0u);
  EXPECT_EQ(rec_.closes(), 0u);
}

// Bytes that are no TLS at all: the handshake fails at once, is counted, leaves no
// OpenSSL error behind on the loop's thread, and disturbs no other connection.
void expect_refused_promptly(RawClient& client, EventLoop& loop) {
  const auto sent = Clock::now();
  ASSERT_TRUE(run_until(
      loop,
      [&] {
        client.pump();
        return client.eof || client.error != 0;
      },
      5s));
  EXPECT_LT(Clock::now() - sent, 2s);
}

TEST_P(TlsConnectionTest, GarbageInsteadOfAClientHelloFailsAlone) {
  start();
  auto peer = connect_peer();
  RawClient bad(port());
  bad.send(pattern(512));
  expect_refused_promptly(bad, loop_);
  expect_no_openssl_error();
  const test::TlsCounts c = counts();
  EXPECT_EQ(c.failures, 1u);
  EXPECT_EQ(c.timeouts, 0u);
  EXPECT_EQ(c.handshakes, 1u);
  EXPECT_EQ(rec_.connects(), 1u);
  EXPECT_EQ(rec_.closes(), 0u);
  peer->send("still served");
  ASSERT_TRUE(pump_until(*peer, [&] { return peer->received == "still served"; }));
}

TEST_P(TlsConnectionTest, PlainHttpToTheTlsPortIsClosedPromptly) {
  start();
  RawClient bad(port());
  bad.send("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
  expect_refused_promptly(bad, loop_);
  expect_no_openssl_error();
  EXPECT_EQ(counts().failures, 1u);
  EXPECT_EQ(rec_.connects(), 0u);
  EXPECT_EQ(rec_.closes(), 0u);
}

// TLS 1.0 and 1.1 are refused with a protocol_version alert: the ClientHello reached the
// server, which said no.
TEST_P(TlsConnectionTest, OldProtocolVersionsAreRefused) {
  start();
  for (int version : {TLS1_VERSION, TLS1_1_VERSION}) {
    SCOPED_TRACE(version);
    auto ctx = test::peer_client_context(version);
    auto peer = TlsPeer::connect(ctx.get(), port());
    ASSERT_TRUE(run_until(loop_, [&] { return peer->handshake() || peer->failed; }));
    EXPECT_TRUE(peer->failed);
    EXPECT_EQ(ERR_GET_REASON(peer->error), SSL_R_TLSV1_ALERT_PROTOCOL_VERSION)
        << ERR_reason_error_string(peer->error);
  }
  ASSERT_TRUE(run_until(loop_, [&] { return counts().failures == 2; }));
  EXPECT_EQ(counts().handshakes, 0u);
  EXPECT_EQ(rec_.connects(), 0u);
}

// A TLS 1.2 client asks to renegotiate: the server does not go along (OpenSSL answers
// no_renegotiation, which this client takes as fatal), and serves the next one as before.
TEST_P(TlsConnectionTest, RenegotiationIsRefused) {
  start();
  auto ctx = test::peer_client_context(TLS1_2_VERSION);
  auto peer = connect_peer(ctx.get());
  ASSERT_EQ(SSL_version(peer->ssl()), TLS1_2_VERSION);
  peer->send("before");
  ASSERT_TRUE(pump_until(*peer, [&] { return peer->received == "before"; }));
  ASSERT_EQ(SSL_renegotiate(peer->ssl()), 1);
  peer->handshake_done = false;
  ASSERT_TRUE(run_until(loop_, [&] { return peer->handshake() || peer->failed; }));
  EXPECT_FALSE(peer->handshake_done) << "the server renegotiated";
  EXPECT_EQ(ERR_GET_REASON(peer->error), SSL_R_NO_RENEGOTIATION)
      << ERR_reason_error_string(peer->error);
  ASSERT_TRUE(run_until(loop_, [&] { return rec_.closes() == 1; }));
  EXPECT_EQ(rec_.closed().reason, CloseReason::error) << rec_.closed();
  EXPECT_EQ(counts().handshakes, 1u);
  auto next = connect_peer();
  next->send("after");
  ASSERT_TRUE(pump_until(*next, [&] { return next->received == "after"; }));
}

INSTANTIATE_TEST_SUITE_P(Backends, TlsConnectionTest, test::all_backends(), test::backend_name);

// The echo test served from two loops: one SSL object per connection, each on its own loop.
class TlsConnectionThreadsTest : public TlsConnectionTest {};

TEST_P(TlsConnectionThreadsTest, EchoIntegrityOnTwoLoops) {
  check_echo_integrity(2);
}

INSTANTIATE_TEST_SUITE_P(Backends, TlsConnectionThreadsTest, test::all_backends(),
                         test::backend_name);

}  // namespace
}  // namespace reactor::net
