// Unit tests for net::TcpConnection (src/net/tcp_connection.cc): the life of one
// connection, served by a TcpServer on a loop of each backend and driven by a raw socket
// from the same thread. Suites named ...Threads call the connection from other threads.
#include "reactor/net/tcp_connection.h"

#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "net_test_util.h"
#include "reactor/core/error.h"
#include "reactor/net/tcp_server.h"

namespace reactor::net {
namespace {

using test::pattern;
using test::RawClient;
using test::Recorder;
using test::run_for;
using test::run_until;
using namespace std::chrono_literals;

class TcpConnectionTest : public ::testing::TestWithParam<std::string> {
 protected:
  ~TcpConnectionTest() override {
    server_.reset();
    rec_.forget();
    // Let the loop finish what closing the connections posted (their removal).
    loop_.post([this] { loop_.stop(); });
    loop_.run();
  }

  void start(ConnectionCallbacks cb, ConnectionOptions options = {}) {
    TcpServerOptions server_options;
    server_options.connection = options;
    server_ = std::make_unique<TcpServer>(loop_, InetAddress::loopback_ipv4(0), std::move(cb),
                                          server_options);
    server_->start();
  }
  void start() { start(rec_.callbacks()); }
  uint16_t port() const { return server_->address().port(); }

  /// Connects a raw client and waits until the server has the connection.
  std::unique_ptr<RawClient> connect() {
    const size_t before = rec_.connects();
    auto client = std::make_unique<RawClient>(port());
    EXPECT_TRUE(client->connected()) << std::strerror(client->error);
    EXPECT_TRUE(run_until(loop_, [&] { return rec_.connects() > before; }));
    return client;
  }

  test::FdLeakGuard leaks_;
  EventLoop loop_{GetParam()};
  Recorder rec_;
  std::unique_ptr<TcpServer> server_;
};

TEST_P(TcpConnectionTest, EchoRoundTrip) {
  int write_completes = 0;
  ConnectionCallbacks cb = rec_.callbacks();
  cb.on_write_complete = [&](const TcpConnectionPtr&) { ++write_completes; };
  start(cb);
  auto client = connect();
  ASSERT_EQ(rec_.connects(), 1u);
  EXPECT_TRUE(rec_.connection()->connected());
  client->send("hello");
  ASSERT_TRUE(run_until(loop_, [&] {
    client->pump();
    return client->received == "hello";
  }));
  client->send(" world");
  ASSERT_TRUE(run_until(loop_, [&] {
    client->pump();
    return client->received == "hello world";
  }));
  EXPECT_EQ(rec_.data(), "hello world");
  EXPECT_GE(rec_.messages(), 2);
  EXPECT_GE(write_completes, 2);
  EXPECT_EQ(rec_.closes(), 0u);
  client->close();
  ASSERT_TRUE(run_until(loop_, [&] { return rec_.closes() == 1; }));
  EXPECT_EQ(rec_.closed().reason, CloseReason::peer) << rec_.closed();
  EXPECT_EQ(rec_.closed().unsent, 0u);
  EXPECT_FALSE(rec_.closed().error);
  EXPECT_FALSE(rec_.connection()->connected());
  run_for(loop_, 10ms);
  EXPECT_EQ(rec_.connects(), 1u);
  EXPECT_EQ(rec_.closes(), 1u);
}

TEST_P(TcpConnectionTest, ManyClientsEchoIndependently) {
  start();
  std::vector<std::unique_ptr<RawClient>> clients;
  for (int i = 0; i < 20; ++i) clients.push_back(connect());
  for (size_t i = 0; i < clients.size(); ++i) clients[i]->send("client " + std::to_string(i));
  ASSERT_TRUE(run_until(loop_, [&] {
    bool all = true;
    for (size_t i = 0; i < clients.size(); ++i) {
      clients[i]->pump();
      all = all && clients[i]->received == "client " + std::to_string(i);
    }
    return all;
  }));
  clients.clear();
  ASSERT_TRUE(run_until(loop_, [&] { return rec_.closes() == 20; }));
}

TEST_P(TcpConnectionTest, AddressesAreTheSocketsOwn) {
  start();
  auto client = connect();
  TcpConnectionPtr c = rec_.connection();
  EXPECT_EQ(c->local_address(), server_->address());
  sockaddr_in sa{};
  socklen_t len = sizeof sa;
  ASSERT_EQ(::getsockname(client->fd(), reinterpret_cast<sockaddr*>(&sa), &len), 0);
  EXPECT_EQ(c->peer_address(), InetAddress::from_sockaddr(reinterpret_cast<sockaddr*>(&sa), len));
  EXPECT_GE(c->fd(), 0);
  EXPECT_EQ(&c->loop(), &loop_);
}

TEST_P(TcpConnectionTest, LargeTransferToASlowReaderArrivesWhole) {
  const std::string payload = pattern(8 << 20);
  int write_completes = 0, high_water = 0;
  size_t sndbuf = 0;
  ConnectionCallbacks cb = rec_.callbacks_then([&](const TcpConnectionPtr& c) {
    sndbuf = test::cap_kernel_buffer(c->fd(), SO_SNDBUF);
    // In pieces of varying size, so that partial writes split them anywhere.
    size_t piece = 1000;
    for (size_t at = 0; at < payload.size(); at += piece) {
      piece = std::min(piece * 3 % 200'000 + 1, payload.size() - at);
      c->send(std::string_view(payload).substr(at, piece));
    }
    EXPECT_GT(c->pending_output(), 0u) << "the kernel took 8 MiB at once";
  });
  cb.on_write_complete = [&](const TcpConnectionPtr&) { ++write_completes; };
  cb.on_high_water = [&](const TcpConnectionPtr&, size_t pending) {
    ++high_water;
    EXPECT_GE(pending, size_t{1} << 20);
  };
  start(cb);
  RawClient client(port());
  const size_t rcvbuf = test::cap_kernel_buffer(client.fd(), SO_RCVBUF);
  // 64 KiB per millisecond at most: the server must wait for the reader many times.
  ASSERT_TRUE(run_until(
      loop_,
      [&] {
        client.pump(64 << 10);
        return client.received.size() >= payload.size();
      },
      30s))
      << client.received.size();
  EXPECT_TRUE(client.received == payload) << "bytes reordered or corrupted";
  ASSERT_TRUE(run_until(loop_, [&] { return write_completes >= 1; }));
  EXPECT_EQ(high_water, 1);
  EXPECT_EQ(rec_.connection()->pending_output(), 0u);
  EXPECT_LT(test::kernel_share(sndbuf, rcvbuf) + (1 << 20), payload.size());
}

TEST_P(TcpConnectionTest, HighAndLowWaterCallbacks) {
  std::vector<std::string> events;
  size_t reported_pending = 0, sndbuf = 0;
  ConnectionCallbacks cb = rec_.callbacks_then([&](const TcpConnectionPtr& c) {
    // Bounded kernel buffers at both ends (see below): 4 MiB is then well past what the
    // kernel can take, whatever the host's auto-tuning would allow.
    sndbuf = test::cap_kernel_buffer(c->fd(), SO_SNDBUF);
    const std::string chunk = pattern(32 << 10);
    for (int i = 0; i < 128; ++i) c->send(chunk);
  });
  ConnectionOptions options;
  options.high_water_mark = 64 << 10;
  options.low_water_mark = 16 << 10;
  cb.on_high_water = [&](const TcpConnectionPtr& c, size_t pending) {
    events.push_back("high");
    reported_pending = pending;
    EXPECT_EQ(pending, c->pending_output());
  };
  cb.on_low_water = [&](const TcpConnectionPtr& c) {
    events.push_back("low");
    EXPECT_LE(c->pending_output(), size_t{16} << 10);
  };
  start(cb, options);
  RawClient client(port());
  const size_t rcvbuf = test::cap_kernel_buffer(client.fd(), SO_RCVBUF);
  ASSERT_TRUE(run_until(loop_, [&] { return !events.empty(); }));
  ASSERT_LT(test::kernel_share(sndbuf, rcvbuf) + (64 << 10), size_t{4} << 20);
  EXPECT_EQ(events, std::vector<std::string>{"high"});
  EXPECT_GE(reported_pending, size_t{64} << 10);
  ASSERT_TRUE(run_until(loop_, [&] {
    client.pump();
    return client.received.size() == (size_t{4} << 20);
  }));
  EXPECT_EQ(events, (std::vector<std::string>{"high", "low"}));
}

TEST_P(TcpConnectionTest, PauseReadingStopsDeliveryUntilResume) {
  int messages = 0;
  size_t received = 0;
  ConnectionCallbacks cb = rec_.callbacks_then([](const TcpConnectionPtr& c) {
    // A receive queue larger than one read, so that more than one read's worth waits.
    test::cap_kernel_buffer(c->fd(), SO_RCVBUF, 256 << 10);
  });
  cb.on_message = [&](const TcpConnectionPtr& c, Buffer& in) {
    ++messages;
    received += in.size();
    in.clear();
    if (messages == 1) c->pause_reading();
  };
  start(cb);
  auto client = connect();
  TcpConnectionPtr c = rec_.connection();
  const std::string payload = pattern(4 << 20);
  client->send(payload);  // queued in the kernel before the server reads any of it
  ASSERT_TRUE(run_until(loop_, [&] {
    client->flush();
    return messages >= 1;
  }));
  EXPECT_TRUE(c->reading_paused());
  run_for(loop_, 50ms);
  EXPECT_EQ(messages, 1) << "on_message ran while reading was paused";
  EXPECT_LT(received, payload.size());
  c->resume_reading();
  EXPECT_FALSE(c->reading_paused());
  ASSERT_TRUE(run_until(loop_, [&] {
    client->flush();
    return received == payload.size();
  }));
}

TEST_P(TcpConnectionTest, ResumeRedeliversInputLeftInTheBuffer) {
  std::vector<std::string> seen;
  ConnectionCallbacks cb = rec_.callbacks();
  cb.on_message = [&](const TcpConnectionPtr& c, Buffer& in) {
    seen.emplace_back(in.view());
    if (seen.size() == 1) {
      c->pause_reading();  // leave the input where it is
      return;
    }
    in.clear();
  };
  start(cb);
  auto client = connect();
  client->send("abc");
  ASSERT_TRUE(run_until(loop_, [&] { return seen.size() == 1; }));
  run_for(loop_, 20ms);
  ASSERT_EQ(seen.size(), 1u);
  rec_.connection()->resume_reading();
  ASSERT_TRUE(run_until(loop_, [&] { return seen.size() == 2; }));
  EXPECT_EQ(seen[0], "abc");
  EXPECT_EQ(seen[1], "abc");  // nothing new arrived, the kept bytes came again
}

TEST_P(TcpConnectionTest, ShutdownFlushesThenClosesTheWriteHalf) {
  const std::string payload = pattern(2 << 20);
  ConnectionCallbacks cb = rec_.callbacks_then([&](const TcpConnectionPtr& c) {
    c->send(payload);
    c->shutdown();
    EXPECT_FALSE(c->connected());
  });
  start(cb);
  RawClient client(port());
  ASSERT_TRUE(run_until(loop_, [&] {
    client.pump(64 << 10);
    return client.eof;
  }));
  EXPECT_TRUE(client.received == payload) << client.received.size();
  // The read half stays open: the peer can still talk until it closes.
  EXPECT_EQ(rec_.closes(), 0u);
  client.close();
  ASSERT_TRUE(run_until(loop_, [&] { return rec_.closes() == 1; }));
  EXPECT_EQ(rec_.closed().reason, CloseReason::local) << rec_.closed();
  EXPECT_EQ(rec_.closed().unsent, 0u);
}

// on_write_closed tells when shutdown()'s queued output is out and our FIN sent: not at
// the shutdown() call while output waits, once when the peer has read it all.
TEST_P(TcpConnectionTest, WriteClosedComesOnceTheQueuedOutputIsOut) {
  const std::string payload = pattern(2 << 20);
  int write_closed = 0;
  size_t pending_then = 1;
  ConnectionCallbacks cb = rec_.callbacks_then([&](const TcpConnectionPtr& c) {
    test::cap_kernel_buffer(c->fd(), SO_SNDBUF);  // so that the kernel cannot take it all
    c->send(payload);
    c->shutdown();
  });
  cb.on_write_closed = [&](const TcpConnectionPtr& c) {
    ++write_closed;
    pending_then = c->pending_output();
  };
  start(cb);
  RawClient client(port());
  test::cap_kernel_buffer(client.fd(), SO_RCVBUF);
  ASSERT_TRUE(run_until(loop_, [&] { return rec_.connects() == 1; }));
  test::run_for(loop_, 10ms);
  EXPECT_EQ(write_closed, 0) << "the output is still queued";
  ASSERT_TRUE(run_until(loop_, [&] {
    client.pump(64 << 10);
    return client.eof;
  }));
  EXPECT_EQ(write_closed, 1);
  EXPECT_EQ(pending_then, 0u);
  EXPECT_TRUE(client.received == payload);
}

TEST_P(TcpConnectionTest, ShutdownStillReadsThePeer) {
  ConnectionCallbacks cb = rec_.callbacks();
  int bytes = 0;
  cb.on_message = [&](const TcpConnectionPtr&, Buffer& in) {
    bytes += static_cast<int>(in.size());
    in.clear();
  };
  start(cb);
  auto client = connect();
  rec_.connection()->shutdown();
  ASSERT_TRUE(run_until(loop_, [&] {
    client->pump();
    return client->eof;
  }));
  client->send("after shutdown");
  ASSERT_TRUE(run_until(loop_, [&] { return bytes == 14; }));
}

TEST_P(TcpConnectionTest, CloseReportsLocalWithNothingUnsent) {
  ConnectionCallbacks cb = rec_.callbacks_then([&](const TcpConnectionPtr& c) {
    c->send("bye");
    c->close();
    EXPECT_FALSE(c->connected());
  });
  start(cb);
  RawClient client(port());
  ASSERT_TRUE(run_until(loop_, [&] {
    client.pump();
    return client.eof;
  }));
  EXPECT_EQ(client.received, "bye");
  client.close();  // the peer's FIN completes the close
  ASSERT_TRUE(run_until(loop_, [&] { return rec_.closes() == 1; }));
  EXPECT_EQ(rec_.closed().reason, CloseReason::local) << rec_.closed();
  EXPECT_EQ(rec_.closed().unsent, 0u);
  EXPECT_FALSE(rec_.closed().error);
}

// Linger::none: closed as soon as the output is out, without waiting for the peer's FIN
// (the client below never closes), and still cleanly: FIN, not a reset.
TEST_P(TcpConnectionTest, CloseWithoutLingerFinishesWithoutThePeersFin) {
  ConnectionCallbacks cb = rec_.callbacks_then([&](const TcpConnectionPtr& c) {
    c->send("bye");
    c->close(Linger::none);
  });
  ConnectionOptions options;
  options.close_timeout = 30s;  // never the reason it ends
  start(cb, options);
  RawClient client(port());
  ASSERT_TRUE(run_until(loop_, [&] { return rec_.closes() == 1; }));
  EXPECT_EQ(rec_.closed().reason, CloseReason::local) << rec_.closed();
  EXPECT_EQ(rec_.closed().unsent, 0u);
  ASSERT_TRUE(run_until(loop_, [&] {
    client.pump();
    return client.eof || client.error != 0;
  }));
  EXPECT_EQ(client.error, 0) << std::strerror(client.error);
  EXPECT_EQ(client.received, "bye");
}

// With output still queued, Linger::none waits for the flush (not for the peer), so a
// large answer to a slow reader arrives whole.
TEST_P(TcpConnectionTest, CloseWithoutLingerFlushesFirst) {
  const std::string big = pattern(4 << 20);
  size_t queued = 0;
  ConnectionCallbacks cb = rec_.callbacks_then([&](const TcpConnectionPtr& c) {
    test::cap_kernel_buffer(c->fd(), SO_SNDBUF);
    c->send(big);
    queued = c->pending_output();
    c->close(Linger::none);
  });
  start(cb);
  RawClient client(port());
  test::cap_kernel_buffer(client.fd(), SO_RCVBUF);
  ASSERT_TRUE(run_until(
      loop_,
      [&] {
        client.pump();
        return client.eof || client.error != 0;
      },
      20s));
  EXPECT_EQ(client.error, 0) << std::strerror(client.error);
  EXPECT_TRUE(client.received == big) << client.received.size() << " of " << big.size();
  EXPECT_GT(queued, 0u) << "nothing was left to flush: the test proves nothing";
  ASSERT_TRUE(run_until(loop_, [&] { return rec_.closes() == 1; }));
  EXPECT_EQ(rec_.closed().reason, CloseReason::local) << rec_.closed();
}

// Linger::none, yet bytes wait unread (more than one read takes): closing now would reset
// the connection and could destroy the answer at the peer, so the connection lingers.
TEST_P(TcpConnectionTest, CloseWithoutLingerLingersWhenBytesWaitUnread) {
  bool closed_once = false;
  ConnectionCallbacks cb = rec_.callbacks_then([](const TcpConnectionPtr& c) {
    // A receive queue of its own size (not the host's tcp_rmem default), larger than one
    // read of the server's (64 KiB), so bytes are left waiting after the first.
    test::cap_kernel_buffer(c->fd(), SO_RCVBUF, 256 << 10);
  });
  cb.on_message = [&](const TcpConnectionPtr& c, Buffer& in) {
    in.clear();
    if (closed_once) return;
    closed_once = true;
    c->send("bye");
    c->close(Linger::none);
  };
  start(cb);
  RawClient client(port());
  ASSERT_TRUE(run_until(loop_, [&] { return rec_.connects() == 1; }));
  client.send(pattern(1 << 20));  // far more than one read of the server's takes
  ASSERT_TRUE(run_until(loop_, [&] {
    client.pump();
    return client.eof || client.error != 0;
  }));
  EXPECT_EQ(client.error, 0) << std::strerror(client.error) << ": the close was a reset";
  EXPECT_EQ(client.received, "bye");
  client.close();
  ASSERT_TRUE(run_until(loop_, [&] { return rec_.closes() == 1; }));
  EXPECT_EQ(rec_.closed().reason, CloseReason::local) << rec_.closed();
}

TEST_P(TcpConnectionTest, CloseGivesUpWaitingForThePeerAtTheDeadline) {
  ConnectionCallbacks cb = rec_.callbacks_then([&](const TcpConnectionPtr& c) { c->close(); });
  ConnectionOptions options;
  options.close_timeout = 100ms;
  start(cb, options);
  RawClient client(port());  // never closes
  ASSERT_TRUE(run_until(
      loop_, [&] { return rec_.closes() == 1; }, 5s));
  EXPECT_EQ(rec_.closed().reason, CloseReason::local) << rec_.closed();
  EXPECT_EQ(rec_.closed().unsent, 0u);
}

TEST_P(TcpConnectionTest, CloseTimesOutWhenThePeerNeverReads) {
  ConnectionCallbacks cb = rec_.callbacks_then([&](const TcpConnectionPtr& c) {
    test::cap_kernel_buffer(c->fd(), SO_SNDBUF);
    c->send(pattern(4 << 20));  // far more than the capped buffers hold
    c->close();
  });
  ConnectionOptions options;
  options.close_timeout = 100ms;
  start(cb, options);
  RawClient client(port());  // never reads
  test::cap_kernel_buffer(client.fd(), SO_RCVBUF);
  ASSERT_TRUE(run_until(
      loop_, [&] { return rec_.closes() == 1; }, 5s));
  EXPECT_EQ(rec_.closed().reason, CloseReason::timeout) << rec_.closed();
  EXPECT_EQ(rec_.closed().error, Errc::close_timed_out);
  EXPECT_GT(rec_.closed().unsent, 0u);
  ASSERT_TRUE(run_until(loop_, [&] {
    client.pump();
    return client.error != 0 || client.eof;
  }));
  EXPECT_EQ(client.error, ECONNRESET) << "the connection is reset, not closed cleanly";
}

TEST_P(TcpConnectionTest, AbortReportsAbortedAndResetsThePeer) {
  ConnectionCallbacks cb = rec_.callbacks_then([&](const TcpConnectionPtr& c) {
    test::cap_kernel_buffer(c->fd(), SO_SNDBUF);
    c->send(pattern(4 << 20));  // far more than the capped buffers hold
    c->abort();
    EXPECT_FALSE(c->connected());
  });
  start(cb);
  RawClient client(port());
  test::cap_kernel_buffer(client.fd(), SO_RCVBUF);
  ASSERT_TRUE(run_until(loop_, [&] { return rec_.closes() == 1; }));
  EXPECT_EQ(rec_.closed().reason, CloseReason::aborted) << rec_.closed();
  EXPECT_GT(rec_.closed().unsent, 0u) << "discarded output is counted";
  ASSERT_TRUE(run_until(loop_, [&] {
    client.pump();
    return client.error != 0 || client.eof;
  }));
  EXPECT_EQ(client.error, ECONNRESET);
}

TEST_P(TcpConnectionTest, PeerResetReportsError) {
  start();
  auto client = connect();
  client->reset();
  ASSERT_TRUE(run_until(loop_, [&] { return rec_.closes() == 1; }));
  EXPECT_EQ(rec_.closed().reason, CloseReason::error) << rec_.closed();
  EXPECT_EQ(rec_.closed().error, std::errc::connection_reset) << rec_.closed();
}

TEST_P(TcpConnectionTest, PeerResetWhileReadingIsPausedReportsError) {
  if (GetParam() == "select")
    GTEST_SKIP() << "select reports nothing for a descriptor without read or write interest, "
                    "so a paused connection learns of the reset only when it resumes";
  start();
  auto client = connect();
  rec_.connection()->pause_reading();
  client->reset();
  ASSERT_TRUE(run_until(loop_, [&] { return rec_.closes() == 1; }));
  EXPECT_EQ(rec_.closed().reason, CloseReason::error) << rec_.closed();
}

TEST_P(TcpConnectionTest, PeerSendsAndClosesAtOnce) {
  // Data and FIN are both queued before the server reads: one readiness report covers
  // both, and the EOF must not be missed (edge-triggered: no second report will come).
  ConnectionCallbacks cb = rec_.callbacks();
  cb.on_message = [&](const TcpConnectionPtr&, Buffer& in) { in.clear(); };
  start(cb);
  {
    RawClient client(port());
    client.send("request");
    client.close();
  }
  ASSERT_TRUE(run_until(
      loop_, [&] { return rec_.closes() == 1; }, 2s))
      << "connections: " << rec_.connects() << "; the peer's FIN was never noticed";
  EXPECT_EQ(rec_.closed().reason, CloseReason::peer) << rec_.closed();
}

// More than one wake-up's read quota queued in front of the FIN: edge-triggered, the rest
// is read after a requeue, and its last short read must still be followed by the EOF.
TEST_P(TcpConnectionTest, PeerFinBehindMoreThanOneReadQuota) {
  size_t got = 0;
  int peer_shutdowns = 0;
  int rcvbuf = 0;
  ConnectionCallbacks cb = rec_.callbacks_then([&](const TcpConnectionPtr& c) {
    // Room for everything in the server's receive queue: then no later arrival makes a
    // new edge, and only the requeue can lead the connection to the FIN. (SO_RCVBUF is
    // capped by net.core.rmem_max; the FORCE variant needs CAP_NET_ADMIN.)
    int big = 8 << 20;
    if (::setsockopt(c->fd(), SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big) != 0)
      ::setsockopt(c->fd(), SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    socklen_t len = sizeof rcvbuf;
    ::getsockopt(c->fd(), SOL_SOCKET, SO_RCVBUF, &rcvbuf, &len);
  });
  cb.on_message = [&](const TcpConnectionPtr&, Buffer& in) {
    got += in.size();
    in.clear();
  };
  cb.on_peer_shutdown = [&](const TcpConnectionPtr& c) {
    ++peer_shutdowns;
    c->shutdown();
  };
  start(cb);
  RawClient client(port());
  ASSERT_TRUE(run_until(loop_, [&] { return rec_.connects() == 1; }));
  // Fill the kernel's buffers while the loop does not run, then queue the FIN behind it.
  const std::string block(64 << 10, 'x');
  size_t sent = 0;
  for (int i = 0; i < 48; ++i) {  // 3 MiB
    ssize_t n = ::send(client.fd(), block.data(), block.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  client.shutdown_write();
  // Past one wake-up's quota (16 reads of up to 128 KiB), all of it already at the server.
  if (rcvbuf < (6 << 20)) GTEST_SKIP() << "receive buffer of only " << rcvbuf << " bytes";
  ASSERT_GT(sent, size_t{2} << 20);
  ASSERT_TRUE(run_until(
      loop_, [&] { return peer_shutdowns == 1 && rec_.closes() == 1; }, 5s))
      << "read " << got << " of " << sent << " bytes; peer shutdowns seen: " << peer_shutdowns;
  EXPECT_EQ(got, sent);
  EXPECT_EQ(rec_.closed().reason, CloseReason::peer) << rec_.closed();
}

TEST_P(TcpConnectionTest, PeerHalfCloseWithoutCallbackFlushesThenCloses) {
  start();  // echoes
  auto client = connect();
  const std::string payload = pattern(2 << 20);
  client->send(payload);
  bool half_closed = false;
  ASSERT_TRUE(run_until(
      loop_,
      [&] {
        if (!half_closed && client->flush()) {
          client->shutdown_write();
          half_closed = true;
        }
        client->pump(64 << 10);
        return client->eof;
      },
      5s));
  EXPECT_TRUE(client->received == payload) << client->received.size();
  ASSERT_TRUE(run_until(loop_, [&] { return rec_.closes() == 1; }));
  EXPECT_EQ(rec_.closed().reason, CloseReason::peer) << rec_.closed();
  EXPECT_EQ(rec_.closed().unsent, 0u);
}

TEST_P(TcpConnectionTest, PeerHalfCloseWithCallbackLetsTheConnectionSend) {
  int peer_shutdowns = 0;
  ConnectionCallbacks cb = rec_.callbacks();
  cb.on_peer_shutdown = [&](const TcpConnectionPtr& c) {
    ++peer_shutdowns;
    EXPECT_TRUE(c->connected());
    c->send("reply now;");
    // ...and later, from a timer: the connection is still open for sending.
    loop_.run_after(20ms, [c] {
      EXPECT_TRUE(c->connected());
      c->send("reply later");
      c->shutdown();
    });
  };
  start(cb);
  auto client = connect();
  client->send("question");
  client->shutdown_write();
  ASSERT_TRUE(run_until(
      loop_,
      [&] {
        client->pump();
        return client->eof;
      },
      2s))
      << "received: " << client->received << "; peer shutdowns seen: " << peer_shutdowns;
  EXPECT_EQ(client->received, "questionreply now;reply later");
  EXPECT_EQ(peer_shutdowns, 1);
  ASSERT_TRUE(run_until(loop_, [&] { return rec_.closes() == 1; }));
  EXPECT_EQ(rec_.closed().reason, CloseReason::peer) << rec_.closed();
}

TEST_P(TcpConnectionTest, CloseFromAnotherConnectionsCallback) {
  ConnectionCallbacks cb = rec_.callbacks();
  cb.on_message = [&](const TcpConnectionPtr& c, Buffer& in) {
    if (in.view() == "close the other") {
      TcpConnectionPtr other = rec_.connection(0) == c ? rec_.connection(1) : rec_.connection(0);
      other->close();
    }
    in.clear();
  };
  start(cb);
  auto a = connect();
  auto b = connect();
  a->send("close the other");
  ASSERT_TRUE(run_until(loop_, [&] {
    b->pump();
    return b->eof;
  }));
  b->close();
  ASSERT_TRUE(run_until(loop_, [&] { return rec_.closes() == 1; }));
  EXPECT_EQ(rec_.closed().reason, CloseReason::local) << rec_.closed();
  EXPECT_TRUE(rec_.connection(0)->connected());
  EXPECT_FALSE(rec_.connection(1)->connected());
}

TEST_P(TcpConnectionTest, SendAfterCloseIsIgnored) {
  ConnectionCallbacks cb = rec_.callbacks_then([&](const TcpConnectionPtr& c) {
    c->send("one");
    c->close();
    c->send("two");
    c->shutdown();  // no effect either
  });
  start(cb);
  RawClient client(port());
  ASSERT_TRUE(run_until(loop_, [&] {
    client.pump();
    return client.eof;
  }));
  EXPECT_EQ(client.received, "one");
}

TEST_P(TcpConnectionTest, SendBufferDrainsIt) {
  ConnectionCallbacks cb = rec_.callbacks_then([&](const TcpConnectionPtr& c) {
    Buffer out;
    out.append("framed");
    uint8_t len = 6;
    out.prepend(&len, 1);
    c->send(out);
    EXPECT_TRUE(out.empty());
  });
  start(cb);
  RawClient client(port());
  ASSERT_TRUE(run_until(loop_, [&] {
    client.pump();
    return client.received.size() == 7;
  }));
  EXPECT_EQ(client.received, std::string("\x06") + "framed");
}

TEST_P(TcpConnectionTest, ContextLivesAsLongAsTheConnection) {
  struct Tracked : ConnectionContext {
    explicit Tracked(int* d) : destroyed(d) {}
    ~Tracked() override { ++*destroyed; }
    int* destroyed;
    int value = 42;
  };
  int destroyed = 0;
  ConnectionCallbacks cb = rec_.callbacks_then(
      [&](const TcpConnectionPtr& c) { c->set_context(std::make_unique<Tracked>(&destroyed)); });
  start(cb);
  auto client = connect();
  ASSERT_NE(rec_.connection()->context<Tracked>(), nullptr);
  EXPECT_EQ(rec_.connection()->context<Tracked>()->value, 42);
  client->close();
  ASSERT_TRUE(run_until(loop_, [&] { return rec_.closes() == 1; }));
  run_for(loop_, 5ms);
  EXPECT_EQ(destroyed, 0);  // the recorder still holds the connection
  rec_.forget();
  EXPECT_EQ(destroyed, 1);
}

TEST_P(TcpConnectionTest, ConnectionIsFreedAfterClose) {
  start();
  auto client = connect();
  std::weak_ptr<TcpConnection> weak = rec_.connection();
  rec_.forget();
  EXPECT_FALSE(weak.expired());  // the server owns it while open
  client->close();
  ASSERT_TRUE(run_until(loop_, [&] { return weak.expired(); }));
}

// The server's stats count each finished connection once, under its CloseReason.
TEST_P(TcpConnectionTest, StatsCountClosesByReason) {
  ConnectionOptions options;
  options.close_timeout = 100ms;
  start(rec_.callbacks(), options);
  auto closed_after = [&](size_t n) {
    return run_until(loop_, [&] { return rec_.closes() == n; });
  };
  auto peer = connect();  // peer: the client closes first
  peer->close();
  ASSERT_TRUE(closed_after(1));
  auto local = connect();  // local: close() completes once the client closes too
  rec_.connection(1)->close();
  ASSERT_TRUE(run_until(loop_, [&] {
    local->pump();
    return local->eof;
  }));
  local->close();
  ASSERT_TRUE(closed_after(2));
  auto aborted = connect();
  rec_.connection(2)->abort();
  ASSERT_TRUE(closed_after(3));
  auto reset = connect();  // error: the client resets
  reset->reset();
  ASSERT_TRUE(closed_after(4));
  auto stuck = connect();  // timeout: close() cannot flush to a client that never reads
  test::cap_kernel_buffer(stuck->fd(), SO_RCVBUF);
  test::cap_kernel_buffer(rec_.connection(4)->fd(), SO_SNDBUF);
  rec_.connection(4)->send(pattern(4 << 20));
  rec_.connection(4)->close();
  ASSERT_TRUE(run_until(
      loop_, [&] { return rec_.closes() == 5; }, 5s));
  const ConnectionStats s = server_->stats()[0];
  EXPECT_EQ(s.closed, (std::array<uint64_t, 5>{1, 1, 1, 1, 1}));
  EXPECT_EQ(s.loop, &loop_);
}

INSTANTIATE_TEST_SUITE_P(Backends, TcpConnectionTest, test::all_backends(), test::backend_name);

// send / close / abort from a thread that does not own the connection's loop.
class TcpConnectionThreadsTest : public TcpConnectionTest {};

TEST_P(TcpConnectionThreadsTest, SendFromAnotherThread) {
  start();
  auto client = connect();
  TcpConnectionPtr c = rec_.connection();
  std::string expected;
  for (int i = 0; i < 2000; ++i) expected += "message " + std::to_string(i) + "\n";
  std::thread sender([c] {
    for (int i = 0; i < 2000; ++i) c->send("message " + std::to_string(i) + "\n");
  });
  const bool all = run_until(loop_, [&] {
    client->pump();
    return client->received.size() >= expected.size();
  });
  sender.join();
  ASSERT_TRUE(all) << client->received.size();
  EXPECT_EQ(client->received, expected);  // in order
}

// send(Buffer&) is any-thread too: the bytes are copied into the posted task and the
// caller's buffer is drained at once, ready for the next message.
TEST_P(TcpConnectionThreadsTest, SendBufferFromAnotherThread) {
  start();
  auto client = connect();
  TcpConnectionPtr c = rec_.connection();
  std::string expected;
  for (int i = 0; i < 1000; ++i) expected += "buffer " + std::to_string(i) + "\n";
  std::atomic<int> left_in_buffer{0};
  std::thread sender([c, &left_in_buffer] {
    Buffer out;  // reused: every send drains it
    for (int i = 0; i < 1000; ++i) {
      out.append("buffer " + std::to_string(i) + "\n");
      c->send(out);
      if (!out.empty()) ++left_in_buffer;
    }
  });
  const bool all = run_until(loop_, [&] {
    client->pump();
    return client->received.size() >= expected.size();
  });
  sender.join();
  ASSERT_TRUE(all) << client->received.size();
  EXPECT_EQ(client->received, expected);  // in order, each message once
  EXPECT_EQ(left_in_buffer.load(), 0);
}

TEST_P(TcpConnectionThreadsTest, CloseFromAnotherThread) {
  start();
  auto client = connect();
  TcpConnectionPtr c = rec_.connection();
  std::thread closer([c] {
    c->send("last words");
    c->close();
  });
  const bool eof = run_until(loop_, [&] {
    client->pump();
    return client->eof;
  });
  closer.join();
  ASSERT_TRUE(eof);
  EXPECT_EQ(client->received, "last words");
  client->close();
  ASSERT_TRUE(run_until(loop_, [&] { return rec_.closes() == 1; }));
  EXPECT_EQ(rec_.closed().reason, CloseReason::local) << rec_.closed();
}

TEST_P(TcpConnectionThreadsTest, AbortFromAnotherThread) {
  start();
  auto client = connect();
  TcpConnectionPtr c = rec_.connection();
  std::thread aborter([c] { c->abort(); });
  const bool closed = run_until(loop_, [&] { return rec_.closes() == 1; });
  aborter.join();
  ASSERT_TRUE(closed);
  EXPECT_EQ(rec_.closed().reason, CloseReason::aborted) << rec_.closed();
  ASSERT_TRUE(run_until(loop_, [&] {
    client->pump();
    return client->error != 0 || client->eof;
  }));
  EXPECT_EQ(client->error, ECONNRESET);
}

TEST_P(TcpConnectionThreadsTest, ShutdownFromAnotherThread) {
  start();
  auto client = connect();
  TcpConnectionPtr c = rec_.connection();
  std::thread t([c] { c->shutdown(); });
  const bool eof = run_until(loop_, [&] {
    client->pump();
    return client->eof;
  });
  t.join();
  EXPECT_TRUE(eof);
}

INSTANTIATE_TEST_SUITE_P(Backends, TcpConnectionThreadsTest, test::all_backends(),
                         test::backend_name);

// Loop-thread-only calls abort when made from another thread (REACTOR_CHECK, on in every
// build), instead of racing with the loop.
class TcpConnectionDeathTest : public TcpConnectionTest {};

TEST_P(TcpConnectionDeathTest, GettersFromAnotherThreadAbort) {
  start();
  auto client = connect();
  TcpConnectionPtr c = rec_.connection();
  EXPECT_EQ(c->pending_output(), 0u);  // fine on the loop thread
  EXPECT_DEATH(std::thread([c] { static_cast<void>(c->pending_output()); }).join(),
               "does not own this EventLoop");
  EXPECT_DEATH(std::thread([c] { static_cast<void>(c->peer_address()); }).join(),
               "does not own this EventLoop");
  EXPECT_DEATH(std::thread([c] { c->pause_reading(); }).join(), "does not own this EventLoop");
}

INSTANTIATE_TEST_SUITE_P(Backends, TcpConnectionDeathTest, ::testing::Values("epoll"),
                         test::backend_name);

}  // namespace
}  // namespace reactor::net
