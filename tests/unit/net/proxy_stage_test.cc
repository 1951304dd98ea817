// Unit tests for the PROXY protocol stage (src/net/proxy_stage.cc) through TcpServer: the
// header's addresses on the connection, headers split at every byte offset, rejection
// (bad header, untrusted peer, deadline, EOF) counted and closed without a reply, the
// application's bytes after the header, drain and teardown, several loops (suites named
// ...Threads; CTest label "threads").
#include "net/proxy_stage.h"

#include <arpa/inet.h>

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "net_test_util.h"
#include "reactor/net/tcp_server.h"
#include "trace_test_util.h"

namespace reactor::net {
namespace {

using test::RawClient;
using test::run_until;
using namespace std::chrono_literals;

// CRC32C (Castagnoli), bit by bit: written here again rather than taken from the parser,
// so that a wrong checksum there cannot agree with itself.
uint32_t crc32c(std::string_view data) {
  uint32_t crc = ~0u;
  for (unsigned char c : data) {
    crc ^= c;
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
  }
  return ~crc;
}

std::string be16(uint16_t v) {
  return {static_cast<char>(v >> 8), static_cast<char>(v & 0xff)};
}

std::string ip_bytes(int family, const char* text) {
  unsigned char b[16];
  EXPECT_EQ(::inet_pton(family, text, b), 1) << text;
  return std::string(reinterpret_cast<char*>(b), family == AF_INET ? 4 : 16);
}

// A v2 header: command 0 LOCAL / 1 PROXY, family byte (0x11 TCP4, 0x21 TCP6, 0 UNSPEC).
std::string v2(uint8_t command, uint8_t family, const std::string& body) {
  std::string h("\r\n\r\n\0\r\nQUIT\n", 12);
  h += static_cast<char>(0x20 | command);
  h += static_cast<char>(family);
  return h + be16(static_cast<uint16_t>(body.size())) + body;
}

const std::string kV1 = "PROXY TCP4 192.0.2.10 198.51.100.7 40000 8080\r\n";
const std::string kV1Six = "PROXY TCP6 2001:db8::10 2001:db8::7 40001 8080\r\n";
std::string v2_tcp4() {
  return v2(
      1, 0x11,
      ip_bytes(AF_INET, "203.0.113.5") + ip_bytes(AF_INET, "192.0.2.1") + be16(51000) + be16(443));
}
std::string v2_tcp6() {
  return v2(1, 0x21,
            ip_bytes(AF_INET6, "2001:db8::1") + ip_bytes(AF_INET6, "2001:db8::2") + be16(51001) +
                be16(443));
}
// v2 TCP4 with a CRC32C TLV, right or off by one bit.
std::string v2_crc(bool right) {
  std::string h = v2(1, 0x11,
                     ip_bytes(AF_INET, "203.0.113.5") + ip_bytes(AF_INET, "192.0.2.1") +
                         be16(51000) + be16(443) + std::string("\x03\x00\x04\0\0\0\0", 7));
  uint32_t crc = crc32c(h) ^ (right ? 0u : 1u);
  for (int i = 0; i < 4; ++i) h[h.size() - 4 + i] = static_cast<char>(crc >> (24 - 8 * i));
  return h;
}

InetAddress address(const char* host, uint16_t port) {
  return *InetAddress::parse(host, port);
}

InetAddress local_of(int fd) {
  sockaddr_in6 sa{};
  socklen_t len = sizeof sa;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
  return InetAddress::from_sockaddr(reinterpret_cast<sockaddr*>(&sa), len);
}

// What on_connect saw of each connection (any loop).
struct Seen {
  InetAddress peer, socket_peer;
  std::optional<ProxyHeader> header;
};

class ProxyStageTest : public ::testing::Test {
 protected:
  explicit ProxyStageTest(const std::string& backend = {}) : loop_(backend) {}
  ~ProxyStageTest() override {
    server_.reset();
    rec_.forget();
    loop_.post([this] { loop_.stop(); });  // let the loop run what closing posted
    loop_.run();
  }

  // A deadline far beyond run_until's: a rejection seen in time came from the stage's
  // verdict, not from the deadline (the tests of the deadline set a short one).
  static ProxyProtocolOptions enabled() {
    ProxyProtocolOptions o;
    o.enabled = true;
    o.header_timeout = 60s;
    return o;
  }

  void start(ProxyProtocolOptions proxy = enabled(), size_t threads = 1,
             Balancing balancing = Balancing::round_robin,
             InetAddress at = InetAddress::loopback_ipv4(0)) {
    TcpServerOptions options;
    options.proxy = std::move(proxy);
    options.threads = threads;
    options.balancing = balancing;
    auto cb = rec_.callbacks_then([this](const TcpConnectionPtr& c) {
      const ProxyHeader* h = c->proxy_header();
      std::lock_guard lock(mu_);
      seen_.push_back({c->peer_address(), c->socket_peer_address(),
                       h ? std::optional<ProxyHeader>(*h) : std::nullopt});
    });
    server_ = std::make_unique<TcpServer>(loop_, at, std::move(cb), options);
    server_->start();
  }
  uint16_t port() const { return server_->address().port(); }

  Seen seen(size_t i) {
    std::lock_guard lock(mu_);
    return seen_.at(i);
  }
  uint64_t rejected() const {
    uint64_t n = 0;
    for (const auto& s : server_->stats()) n += s.proxy_rejected;
    return n;
  }

  /// Runs the loop until `client` has received `n` bytes.
  bool receive(RawClient& client, size_t n) {
    return run_until(loop_,
                     [&] {
                       client.pump();
                       return client.received.size() >= n || client.eof || client.error;
                     }) &&
           client.received.size() == n;
  }
  /// Runs the loop until the server closed `client` (FIN or reset).
  bool closed(RawClient& client) {
    return run_until(loop_, [&] {
      client.pump();
      return client.eof || client.error != 0;
    });
  }

  /// Sends `header` + `data` in one write and checks the echo and the addresses.
  void expect_served(const std::string& header, const InetAddress* source) {
    RawClient client(port());
    ASSERT_TRUE(client.connected());
    client.send(header + "hello");
    ASSERT_TRUE(receive(client, 5));
    EXPECT_EQ(client.received, "hello");
    EXPECT_EQ(rec_.data(), "hello");
    Seen s = seen(0);
    ASSERT_TRUE(s.header.has_value());
    EXPECT_EQ(s.socket_peer, local_of(client.fd()));
    EXPECT_EQ(s.peer, source ? *source : s.socket_peer);
    EXPECT_EQ(s.header->local, source == nullptr);
    EXPECT_EQ(rejected(), 0u);
  }

  /// Sends `bytes` and expects the connection closed without a reply, and counted. `fin`:
  /// with an end of stream rather than a reset (the stage had seen every byte sent).
  void expect_rejected(const std::string& bytes, bool fin = true) {
    const uint64_t before = rejected();
    RawClient client(port());
    ASSERT_TRUE(client.connected());
    client.send(bytes);
    ASSERT_TRUE(closed(client));
    EXPECT_EQ(client.received, "");
    if (fin) {
      EXPECT_TRUE(client.eof && client.error == 0) << std::strerror(client.error);
    }
    EXPECT_TRUE(run_until(loop_, [&] { return rejected() == before + 1; }));
    EXPECT_EQ(rec_.connects(), 0u);
  }

  test::FdLeakGuard leaks_;
  EventLoop loop_;
  test::Recorder rec_;
  std::unique_ptr<TcpServer> server_;
  std::mutex mu_;
  std::vector<Seen> seen_;
};

class ProxyStageBackendTest : public ProxyStageTest,
                              public ::testing::WithParamInterface<std::string> {
 protected:
  ProxyStageBackendTest() : ProxyStageTest(GetParam()) {}

  /// The header's bytes the stage took so far, from trace mode's read lines.
  size_t taken(const test::TraceCapture& trace) {
    size_t n = 0;
    for (const auto& l : trace.lines("read")) n += static_cast<size_t>(l.num("bytes"));
    return n;
  }

  /// Sends `header` split at `at` and waits, between the two writes, until the stage has
  /// taken the first part (so the split really reaches the parser); then expects `data`
  /// echoed and the source from the header.
  void expect_split(const std::string& header, size_t at, const InetAddress& source) {
    SCOPED_TRACE("split at " + std::to_string(at));
    test::TraceCapture trace;
    loop_.set_trace(trace.sink());
    const size_t seen_before = seen_.size();
    RawClient client(port());
    ASSERT_TRUE(client.connected());
    client.send(header.substr(0, at));
    ASSERT_TRUE(run_until(loop_, [&] { return taken(trace) == at; }));
    const std::string data = "data after " + std::to_string(at);
    client.send(header.substr(at) + data);
    ASSERT_TRUE(receive(client, data.size()));
    EXPECT_EQ(client.received, data);
    ASSERT_EQ(seen_.size(), seen_before + 1);
    EXPECT_EQ(seen_.back().peer, source);
    loop_.set_trace(false);
  }
};

TEST_P(ProxyStageBackendTest, V1Tcp4SourceBecomesPeerAddress) {
  start();
  InetAddress source = address("192.0.2.10", 40000);
  expect_served(kV1, &source);
  EXPECT_EQ(seen(0).header->version, 1);
  EXPECT_EQ(*seen(0).header->destination, address("198.51.100.7", 8080));
}

TEST_P(ProxyStageBackendTest, V1Tcp6) {
  start();
  InetAddress source = address("2001:db8::10", 40001);
  expect_served(kV1Six, &source);
}

TEST_P(ProxyStageBackendTest, V1UnknownKeepsTheSocketsAddresses) {
  start();
  expect_served("PROXY UNKNOWN\r\n", nullptr);
}

TEST_P(ProxyStageBackendTest, V2Tcp4AndTcp6) {
  start();
  InetAddress source = address("203.0.113.5", 51000);
  expect_served(v2_tcp4(), &source);
  EXPECT_EQ(seen(0).header->version, 2);
  RawClient client(port());
  client.send(v2_tcp6() + "x");
  ASSERT_TRUE(receive(client, 1));
  EXPECT_EQ(seen(1).peer, address("2001:db8::1", 51001));
  EXPECT_EQ(*seen(1).header->destination, address("2001:db8::2", 443));
}

TEST_P(ProxyStageBackendTest, V2LocalKeepsTheSocketsAddresses) {
  start();
  expect_served(v2(0, 0, ""), nullptr);
}

TEST_P(ProxyStageBackendTest, V2Crc32cRightIsServedWrongIsRejected) {
  start();
  InetAddress source = address("203.0.113.5", 51000);
  expect_served(v2_crc(true), &source);
  rec_.forget();
  const size_t connects = rec_.connects();
  RawClient client(port());
  client.send(v2_crc(false) + "hello");
  ASSERT_TRUE(closed(client));
  EXPECT_EQ(client.received, "");
  EXPECT_TRUE(run_until(loop_, [&] { return rejected() == 1; }));
  EXPECT_EQ(rec_.connects(), connects);
}

TEST_P(ProxyStageBackendTest, SplitAtEveryOffsetV1) {
  start();
  for (size_t at = 1; at < kV1.size(); ++at) expect_split(kV1, at, address("192.0.2.10", 40000));
  EXPECT_EQ(rejected(), 0u);
}

TEST_P(ProxyStageBackendTest, SplitAtEveryOffsetV2) {
  start();
  const std::string h = v2_crc(true);
  for (size_t at = 1; at < h.size(); ++at) expect_split(h, at, address("203.0.113.5", 51000));
  EXPECT_EQ(rejected(), 0u);
}

TEST_P(ProxyStageBackendTest, HeaderTrickledOneByteAtATime) {
  start();
  test::TraceCapture trace;
  loop_.set_trace(trace.sink());
  const std::string h = v2_tcp6();
  RawClient client(port());
  for (size_t i = 0; i < h.size(); ++i) {
    client.send(h.substr(i, 1));
    if (i + 1 < h.size()) {
      ASSERT_TRUE(run_until(loop_, [&] { return taken(trace) == i + 1; }));
    }
  }
  client.send("ok");
  ASSERT_TRUE(receive(client, 2));
  EXPECT_EQ(seen(0).peer, address("2001:db8::1", 51001));
  // Each step is a read line of the grammar (docs/trace.md).
  EXPECT_EQ(trace.lines("read").size(), h.size() + 1);  // h.size() by the stage, 2 bytes after
  loop_.set_trace(false);
}

// The application's bytes share the header's segment, and many more follow: all arrive,
// in order, none taken by the stage. On epoll-et this also checks that the connection
// registered after the stage is told about bytes that were already waiting.
TEST_P(ProxyStageBackendTest, BytesAfterTheHeaderArriveInOrderAndComplete) {
  start();
  const std::string payload = test::pattern(256 << 10);
  RawClient client(port());
  client.send(kV1 + payload);
  ASSERT_TRUE(run_until(loop_, [&] {
    client.pump();
    return client.received.size() >= payload.size() || client.eof;
  }));
  EXPECT_TRUE(client.received == payload);
  EXPECT_TRUE(rec_.data() == payload);
}

TEST_P(ProxyStageBackendTest, HeaderAndFinInOneGoStillDeliversTheData) {
  start();
  RawClient client(port());
  client.send(kV1 + "last words");
  client.shutdown_write();
  ASSERT_TRUE(run_until(loop_, [&] { return rec_.closes() == 1; }));
  EXPECT_EQ(rec_.data(), "last words");
}

TEST_P(ProxyStageBackendTest, NoHeaderIsClosedWithoutReply) {
  start();
  expect_rejected("hello\r\n");
}

TEST_P(ProxyStageBackendTest, BadHeadersAreClosedWithoutReply) {
  start();
  expect_rejected("PROXY TCP4 192.0.2.10 198.51.100.7 40000 70000\r\nhello");
  expect_rejected("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\nhello");  // a lone LF
  expect_rejected(v2(2, 0x11, std::string(12, '\0')));       // no such command
  expect_rejected("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
}

TEST_P(ProxyStageBackendTest, EofBeforeTheHeaderEndsIsRejected) {
  start();
  RawClient client(port());
  client.send("PROXY TCP4 192.0");
  client.shutdown_write();
  ASSERT_TRUE(closed(client));
  EXPECT_EQ(client.received, "");
  EXPECT_TRUE(run_until(loop_, [&] { return rejected() == 1; }));
  EXPECT_EQ(rec_.connects(), 0u);
}

TEST_P(ProxyStageBackendTest, UntrustedPeerIsClosedAtOnce) {
  ProxyProtocolOptions o = enabled();
  o.trusted = *Cidr::parse_list("10.0.0.0/8,::1/128");
  start(o);
  expect_rejected(kV1 + "hello", false);  // closed at accept: its bytes may come after
}

TEST_P(ProxyStageBackendTest, DeadlineClosesAPartialHeader) {
  ProxyProtocolOptions o = enabled();
  o.header_timeout = 100ms;
  start(o);
  expect_rejected("PROXY TCP4 ");
}

TEST_P(ProxyStageBackendTest, DeadlineClosesASilentConnection) {
  ProxyProtocolOptions o = enabled();
  o.header_timeout = 100ms;
  start(o);
  expect_rejected("");
}

TEST_P(ProxyStageBackendTest, DisabledHeaderIsOrdinaryData) {
  start(ProxyProtocolOptions{});
  RawClient client(port());
  client.send(kV1 + "hello");
  ASSERT_TRUE(receive(client, kV1.size() + 5));
  EXPECT_EQ(client.received, kV1 + "hello");
  EXPECT_FALSE(seen(0).header.has_value());
  EXPECT_EQ(seen(0).peer, seen(0).socket_peer);
}

TEST_P(ProxyStageBackendTest, DualStackListenerTrustsIpv4MappedLoopback) {
  start(enabled(), 1, Balancing::round_robin, address("::", 0));
  RawClient client(port());  // to 127.0.0.1: the server sees ::ffff:127.0.0.1
  client.send(kV1 + "hi");
  ASSERT_TRUE(receive(client, 2));
  EXPECT_EQ(seen(0).peer, address("192.0.2.10", 40000));
  EXPECT_EQ(seen(0).socket_peer.family(), AF_INET6);
}

TEST_P(ProxyStageBackendTest, DrainClosesPendingHeaders) {
  start();
  RawClient served(port());
  served.send(kV1 + "a");
  ASSERT_TRUE(receive(served, 1));
  test::TraceCapture trace;
  loop_.set_trace(trace.sink());
  RawClient pending(port());
  pending.send("PROXY TCP4 ");
  ASSERT_TRUE(run_until(loop_, [&] { return taken(trace) == 11; }));
  loop_.set_trace(false);
  int done = 0;
  server_->drain(5s, [&] { ++done; });
  ASSERT_TRUE(closed(pending));
  EXPECT_EQ(pending.received, "");
  ASSERT_TRUE(run_until(loop_, [&] {
    served.pump();
    if (served.eof && served.connected()) served.close();
    return done == 1;
  }));
  EXPECT_EQ(rec_.connects(), 1u);
  EXPECT_EQ(rejected(), 0u);  // dropped by the drain, not rejected
}

TEST_P(ProxyStageBackendTest, DestructionClosesPendingHeaders) {
  start();
  test::TraceCapture trace;
  loop_.set_trace(trace.sink());
  RawClient pending(port());
  pending.send("PROXY ");
  ASSERT_TRUE(run_until(loop_, [&] { return taken(trace) == 6; }));
  loop_.set_trace(false);
  server_.reset();
  ASSERT_TRUE(closed(pending));  // and the leak guard checks its descriptor is gone
  EXPECT_EQ(rec_.connects(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Backends, ProxyStageBackendTest, test::all_backends(), test::backend_name);

// ---------------------------------------------------------------------------------------
// Several loops: the stage runs on the loop that serves the connection.

class ProxyStageThreadsTest : public ProxyStageTest,
                              public ::testing::WithParamInterface<Balancing> {};

TEST_P(ProxyStageThreadsTest, EveryLoopServesHeadersAndCountsRejections) {
  start(enabled(), 2, GetParam());
  // One at a time, each served before the next connects: least_connections then sees
  // every loop's load (and reuse_port puts all on one loop with odds of 2^-23).
  constexpr uint16_t kClients = 24;
  for (uint16_t i = 0; i < kClients; ++i) {
    RawClient client(port());
    const auto p = static_cast<uint16_t>(40000 + i);
    const std::string want = "client " + std::to_string(i);
    client.send("PROXY TCP4 192.0.2.10 198.51.100.7 " + std::to_string(p) + " 80\r\n" + want);
    ASSERT_TRUE(receive(client, want.size()));
    EXPECT_EQ(client.received, want);
  }
  std::vector<uint16_t> ports;
  for (size_t i = 0; i < kClients; ++i) ports.push_back(seen(i).peer.port());
  std::sort(ports.begin(), ports.end());
  for (uint16_t i = 0; i < kClients; ++i) EXPECT_EQ(ports[i], 40000 + i);
  EXPECT_EQ(rec_.thread_count(), 2u);
  for (int i = 0; i < 4; ++i) {
    RawClient bad(port());
    bad.send("no header\r\n");
    ASSERT_TRUE(closed(bad));
  }
  EXPECT_TRUE(run_until(loop_, [&] { return rejected() == 4; }));
}

// Pending descriptors on both loops when the server goes: each is closed, none leaks.
// They are admitted in accept order on their loop, so once a later client of each loop
// was served, the earlier ones of that loop wait in its stage.
TEST_P(ProxyStageThreadsTest, DestructionClosesPendingHeadersOnEveryLoop) {
  start(enabled(), 2, GetParam());
  std::vector<std::unique_ptr<RawClient>> pending;
  for (int i = 0; i < 6; ++i) {
    pending.push_back(std::make_unique<RawClient>(port()));
    pending.back()->send("PROXY ");
  }
  std::vector<std::unique_ptr<RawClient>> served;
  for (int i = 0; i < 32 && rec_.thread_count() < 2; ++i) {
    served.push_back(std::make_unique<RawClient>(port()));
    served.back()->send(kV1 + "x");
    ASSERT_TRUE(receive(*served.back(), 1));
  }
  ASSERT_EQ(rec_.thread_count(), 2u);
  server_.reset();
  for (auto& c : pending) {
    ASSERT_TRUE(closed(*c));
    EXPECT_EQ(c->received, "");
  }
  EXPECT_EQ(rec_.connects(), served.size());
}

INSTANTIATE_TEST_SUITE_P(Balancings, ProxyStageThreadsTest, test::all_balancings(),
                         test::balancing_name);

}  // namespace
}  // namespace reactor::net
