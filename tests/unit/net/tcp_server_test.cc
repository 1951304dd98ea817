// Unit tests for net::TcpServer (src/net/tcp_server.cc, acceptor.cc): accepting, stats,
// draining, teardown, running out of descriptors, and serving from several loops
// (suites named ...Threads; CTest label "threads").
#include "reactor/net/tcp_server.h"

#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "net/socket_ops.h"
#include "net_test_util.h"

namespace reactor::net {
namespace {

using test::pattern;
using test::RawClient;
using test::Recorder;
using test::run_for;
using test::run_until;
using namespace std::chrono_literals;

class TcpServerTest : public ::testing::Test {
 protected:
  ~TcpServerTest() override {
    server_.reset();
    rec_.forget();
    loop_.post([this] { loop_.stop(); });  // let the loop run what closing posted
    loop_.run();
  }

  void start(ConnectionCallbacks cb, TcpServerOptions options = {}) {
    server_ =
        std::make_unique<TcpServer>(loop_, InetAddress::loopback_ipv4(0), std::move(cb), options);
    server_->start();
  }
  void start() { start(rec_.callbacks()); }
  uint16_t port() const { return server_->address().port(); }

  std::unique_ptr<RawClient> connect() {
    const size_t before = rec_.connects();
    auto client = std::make_unique<RawClient>(port());
    EXPECT_TRUE(client->connected()) << std::strerror(client->error);
    EXPECT_TRUE(run_until(loop_, [&] { return rec_.connects() > before; }));
    return client;
  }

  /// Sends `text` and waits for the echo.
  bool echo(RawClient& client, const std::string& text) {
    const size_t want = client.received.size() + text.size();
    client.send(text);
    return run_until(loop_, [&] {
      client.pump();
      return client.received.size() >= want;
    });
  }

  test::FdLeakGuard leaks_;
  EventLoop loop_;
  Recorder rec_;
  std::unique_ptr<TcpServer> server_;
};

int no_delay_of(const TcpConnectionPtr& c) {
  int on = -1;
  socklen_t len = sizeof on;
  if (::getsockopt(c->fd(), IPPROTO_TCP, TCP_NODELAY, &on, &len) != 0) return -1;
  return on;
}

// TcpServerOptions::no_delay is set on the listener only; the accepted sockets inherit it
// (Linux copies the option). A kernel that stopped doing so would fail here.
TEST_F(TcpServerTest, AcceptedSocketsHaveNoDelayAsConfigured) {
  for (bool no_delay : {true, false}) {
    SCOPED_TRACE(no_delay ? "no_delay on" : "no_delay off");
    TcpServerOptions options;
    options.no_delay = no_delay;
    start(rec_.callbacks(), options);
    auto client = connect();
    auto c = rec_.connection(rec_.connects() - 1);
    ASSERT_TRUE(c);
    EXPECT_EQ(no_delay_of(c), no_delay ? 1 : 0);
    server_.reset();
    client.reset();
  }
}

TEST_F(TcpServerTest, StartBindsAnEphemeralPort) {
  start();
  EXPECT_NE(port(), 0);
  EXPECT_EQ(server_->address().host(), "127.0.0.1");
  EXPECT_EQ(server_->loop_count(), 1u);
  ASSERT_EQ(server_->stats().size(), 1u);
  EXPECT_EQ(server_->stats()[0].accepted, 0u);
}

TEST_F(TcpServerTest, AddressInUseThrows) {
  start();
  TcpServer second(loop_, server_->address(), rec_.callbacks());
  EXPECT_THROW(second.start(), std::system_error);
}

TEST_F(TcpServerTest, StatsCount) {
  start();
  auto a = connect();
  auto b = connect();
  ASSERT_TRUE(echo(*a, std::string(100, 'a')));
  ASSERT_TRUE(echo(*b, std::string(50, 'b')));
  ConnectionStats s = server_->stats()[0];
  EXPECT_EQ(s.accepted, 2u);
  EXPECT_EQ(s.open, 2u);
  EXPECT_EQ(s.bytes_read, 150u);
  EXPECT_EQ(s.bytes_written, 150u);
  EXPECT_EQ(s.accept_failures, 0u);
  EXPECT_GT(s.loop_events, 0u);
  a.reset();
  b.reset();
  ASSERT_TRUE(run_until(loop_, [&] { return server_->stats()[0].open == 0; }));
  EXPECT_EQ(server_->stats()[0].accepted, 2u);
  EXPECT_EQ(rec_.closes(), 2u);
}

TEST_F(TcpServerTest, StopAcceptingRefusesNewcomersAndKeepsOthers) {
  start();
  auto a = connect();
  server_->stop_accepting();
  RawClient late(port());
  EXPECT_FALSE(late.connected());
  EXPECT_EQ(late.error, ECONNREFUSED);
  EXPECT_TRUE(echo(*a, "still served"));
  server_->stop_accepting();  // twice: harmless
}

using TcpServerDeathTest = TcpServerTest;

TEST_F(TcpServerDeathTest, StopAcceptingFromAnotherThreadAborts) {
  start();
  EXPECT_DEATH(std::thread([this] { server_->stop_accepting(); }).join(),
               "does not own this EventLoop");
}

TEST_F(TcpServerTest, DrainClosesGracefullyAndCallsDone) {
  start();
  std::vector<std::unique_ptr<RawClient>> clients;
  for (int i = 0; i < 3; ++i) clients.push_back(connect());
  int done = 0;
  server_->drain(2s, [&] { ++done; });
  // Every client sees EOF (nothing lost) and closes; then the drain is done.
  ASSERT_TRUE(run_until(loop_, [&] {
    bool all = true;
    for (auto& c : clients) {
      c->pump();
      if (c->eof && c->connected()) c->close();
      all = all && c->eof;
    }
    return all && done > 0;
  }));
  EXPECT_EQ(done, 1);
  ASSERT_EQ(rec_.closes(), 3u);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(rec_.closed(i).reason, CloseReason::local) << i;
  run_for(loop_, 10ms);
  EXPECT_EQ(done, 1);
  RawClient late(port());
  EXPECT_FALSE(late.connected()) << "a draining server does not accept";
}

TEST_F(TcpServerTest, DrainWithCustomTell) {
  start();
  auto client = connect();
  int done = 0;
  server_->drain(
      2s, [&] { ++done; },
      [](const TcpConnectionPtr& c) {
        c->send("goodbye");
        c->close();
      });
  ASSERT_TRUE(run_until(loop_, [&] {
    client->pump();
    return client->eof;
  }));
  EXPECT_EQ(client->received, "goodbye");
  client->close();
  ASSERT_TRUE(run_until(loop_, [&] { return done == 1; }));
}

TEST_F(TcpServerTest, DrainWithoutConnectionsIsDoneAtOnce) {
  start();
  int done = 0;
  server_->drain(10s, [&] { ++done; });
  ASSERT_TRUE(run_until(
      loop_, [&] { return done == 1; }, 1s));
}

TEST_F(TcpServerTest, DrainDeadlineResetsAPeerThatNeverReads) {
  ConnectionCallbacks cb = rec_.callbacks_then([](const TcpConnectionPtr& c) {
    test::cap_kernel_buffer(c->fd(), SO_SNDBUF);
    c->send(pattern(4 << 20));  // far more than the capped buffers hold
  });
  TcpServerOptions options;
  options.connection.close_timeout = 1h;  // so only the drain's deadline can end it
  start(cb, options);
  RawClient client(port());  // never reads
  test::cap_kernel_buffer(client.fd(), SO_RCVBUF);
  ASSERT_TRUE(run_until(loop_, [&] { return rec_.connects() == 1; }));
  ASSERT_GT(rec_.connection()->pending_output(), 0u);
  int done = 0;
  server_->drain(100ms, [&] { ++done; });
  ASSERT_TRUE(run_until(loop_, [&] { return done == 1; }));
  ASSERT_EQ(rec_.closes(), 1u);
  EXPECT_EQ(rec_.closed().reason, CloseReason::aborted) << rec_.closed();
  EXPECT_GT(rec_.closed().unsent, 0u);
  ASSERT_TRUE(run_until(loop_, [&] {
    client.pump();
    return client.error != 0 || client.eof;
  }));
  EXPECT_EQ(client.error, ECONNRESET);
}

// The drain's default close skips the linger for a quiet connection (nothing queued,
// unacknowledged or unread): a client that keeps its socket open after the server's FIN
// does not hold the drain until its deadline.
TEST_F(TcpServerTest, DrainDoesNotWaitForTheFinOfAQuietClient) {
  TcpServerOptions options;
  options.connection.close_timeout = 1h;  // the linger, were there one, could not end
  start(rec_.callbacks(), options);
  auto client = connect();
  ASSERT_TRUE(echo(*client, "answered"));
  int done = 0;
  server_->drain(1h, [&] { ++done; });
  ASSERT_TRUE(run_until(loop_, [&] {
    client->pump();
    return client->eof && done == 1;
  }));
  EXPECT_TRUE(client->connected()) << "the client kept its socket open";
  ASSERT_EQ(rec_.closes(), 1u);
  EXPECT_EQ(rec_.closed().reason, CloseReason::local) << rec_.closed();
}

// Bytes the server has not read when it closes would turn the close into a reset: the
// drain then lingers until the client's FIN after all.
TEST_F(TcpServerTest, DrainLingersWhileInputIsUnread) {
  ConnectionCallbacks cb = rec_.callbacks();
  cb.on_message = [](const TcpConnectionPtr& c, Buffer& in) {
    c->send(in);
    c->pause_reading();  // what comes next stays in the kernel
  };
  TcpServerOptions options;
  options.connection.close_timeout = 1h;
  start(cb, options);
  auto client = connect();
  ASSERT_TRUE(echo(*client, "first"));
  client->send("unread");
  ASSERT_TRUE(run_until(loop_, [&] { return detail::input_waiting(rec_.connection()->fd()); }));
  int done = 0;
  server_->drain(1h, [&] { ++done; });
  ASSERT_TRUE(run_until(loop_, [&] {
    client->pump();
    return client->eof;
  }));
  run_for(loop_, 50ms);
  EXPECT_EQ(done, 0) << "closed with input unread";
  EXPECT_EQ(client->error, 0) << std::strerror(client->error);
  client->close();
  ASSERT_TRUE(run_until(loop_, [&] { return done == 1; }));
  EXPECT_EQ(rec_.closed().reason, CloseReason::local) << rec_.closed();
}

// A listening socket made elsewhere (as systemd passes one), blocking and inheritable.
UniqueFd raw_listener(int type = SOCK_STREAM, bool listening = true) {
  UniqueFd fd(::socket(AF_INET, type, 0));
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  if (listening) {
    EXPECT_EQ(::listen(fd.get(), 16), 0);
  }
  return fd;
}

TEST_F(TcpServerTest, AdoptServesAnInheritedListeningSocket) {
  UniqueFd listener = raw_listener();
  const int fd = listener.get();
  const uint16_t inherited_port = detail::local_address(fd).port();
  server_ = std::make_unique<TcpServer>(loop_, InetAddress::loopback_ipv4(0), rec_.callbacks());
  server_->adopt(std::move(listener));
  EXPECT_EQ(port(), inherited_port) << "address() is the inherited socket's before start()";
  server_->start();
  EXPECT_EQ(port(), inherited_port);
  EXPECT_TRUE(::fcntl(fd, F_GETFL) & O_NONBLOCK);
  EXPECT_TRUE(::fcntl(fd, F_GETFD) & FD_CLOEXEC);
  auto client = connect();
  EXPECT_TRUE(echo(*client, "through the inherited socket"));
}

TEST_F(TcpServerTest, AdoptRefusesWhatIsNotAListeningStreamSocket) {
  struct Case {
    const char* what;
    UniqueFd fd;
  };
  Case cases[] = {{"bound, not listening", raw_listener(SOCK_STREAM, false)},
                  {"datagram", raw_listener(SOCK_DGRAM, false)},
                  {"not a socket", UniqueFd(::open("/dev/null", O_RDONLY | O_CLOEXEC))}};
  for (Case& c : cases) {
    SCOPED_TRACE(c.what);
    TcpServer server(loop_, InetAddress::loopback_ipv4(0), rec_.callbacks());
    server.adopt(std::move(c.fd));
    try {
      server.start();
      ADD_FAILURE() << "started";
    } catch (const std::system_error& e) {
      EXPECT_NE(std::string(e.what()).find("inherited descriptor"), std::string::npos) << e.what();
    }
  }
}

// One socket cannot be a SO_REUSEPORT listener per loop: reuse_port falls back to one
// acceptor handing connections out in turn, so every loop still gets its share.
TEST_F(TcpServerTest, ThreadsAdoptedSocketWithReusePortServesEveryLoop) {
  TcpServerOptions options;
  options.threads = 2;
  options.balancing = Balancing::reuse_port;
  server_ =
      std::make_unique<TcpServer>(loop_, InetAddress::loopback_ipv4(0), rec_.callbacks(), options);
  server_->adopt(raw_listener());
  server_->start();
  std::vector<std::unique_ptr<RawClient>> clients;
  for (int i = 0; i < 4; ++i) clients.push_back(connect());
  auto stats = server_->stats();
  ASSERT_EQ(stats.size(), 2u);
  EXPECT_EQ(stats[0].accepted, 2u);
  EXPECT_EQ(stats[1].accepted, 2u);
  clients.clear();
  ASSERT_TRUE(run_until(loop_, [&] { return rec_.closes() == 4; }));
}

TEST_F(TcpServerTest, DestructorResetsOpenConnections) {
  start();
  auto client = connect();
  server_.reset();
  EXPECT_EQ(rec_.closes(), 1u);
  EXPECT_EQ(rec_.closed().reason, CloseReason::aborted);
  ASSERT_TRUE(run_until(loop_, [&] {
    client->pump();
    return client->error != 0 || client->eof;
  }));
  EXPECT_EQ(client->error, ECONNRESET);
}

// A server destroyed from inside one of its connections' callbacks: that connection is
// reset, but not freed under the callback that is still running for it (ASan would see it).
TEST_F(TcpServerTest, DestroyedFromInsideAConnectionsCallback) {
  std::weak_ptr<TcpConnection> weak;
  std::vector<CloseReason> closes;
  ConnectionCallbacks cb;  // nothing but the server holds the connection
  cb.on_message = [&](const TcpConnectionPtr& c, Buffer& in) {
    weak = c;
    in.clear();
    server_.reset();
  };
  cb.on_close = [&](const TcpConnectionPtr&, const CloseInfo& info) {
    closes.push_back(info.reason);
  };
  start(cb);
  RawClient client(port());
  client.send("stop");
  ASSERT_TRUE(run_until(loop_, [&] { return server_ == nullptr; }));
  EXPECT_EQ(closes, std::vector<CloseReason>{CloseReason::aborted});
  ASSERT_TRUE(run_until(loop_, [&] { return weak.expired(); })) << "the connection leaked";
}

// The server and then its loop go away without the loop running again: nothing may be
// left behind (no reference cycle between a connection and its group).
TEST(TcpServerLifetime, ConnectionsAreFreedWhenServerAndLoopGo) {
  test::FdLeakGuard leaks;
  std::weak_ptr<TcpConnection> weak;
  std::unique_ptr<RawClient> client;
  {
    EventLoop loop;
    Recorder rec;
    TcpServer server(loop, InetAddress::loopback_ipv4(0), rec.callbacks());
    server.start();
    client = std::make_unique<RawClient>(server.address().port());
    ASSERT_TRUE(run_until(loop, [&] { return rec.connects() == 1; }));
    weak = rec.connection();
    rec.forget();
  }
  EXPECT_TRUE(weak.expired()) << "connection leaked: TcpServer's destructor aborted it, and its "
                                 "removal from the group was posted to a loop that never ran";
  client.reset();
}

// ---------------------------------------------------------------------------------------
// Out of descriptors (EMFILE): the acceptor must not spin, must count, and must resume.

/// Lowers RLIMIT_NOFILE for the test's duration and restores it.
class FdLimit {
 public:
  explicit FdLimit(rlim_t soft) {
    ::getrlimit(RLIMIT_NOFILE, &saved_);
    rlimit lowered = saved_;
    lowered.rlim_cur = soft;
    ok_ = ::setrlimit(RLIMIT_NOFILE, &lowered) == 0;
  }
  ~FdLimit() { ::setrlimit(RLIMIT_NOFILE, &saved_); }
  bool ok() const { return ok_; }

 private:
  rlimit saved_{};
  bool ok_ = false;
};

/// Skips the calling test under UBSan (see tests/unit/core/CMakeLists.txt).
#ifdef REACTOR_TEST_UBSAN
#define SKIP_IF_UBSAN() \
  GTEST_SKIP() << "UBSan's vptr check needs a free descriptor; EMFILE is tested without it"
#else
#define SKIP_IF_UBSAN() static_cast<void>(0)
#endif

int highest_open_fd() {
  int high = -1;
  DIR* dir = ::opendir("/proc/self/fd");
  while (dirent* e = ::readdir(dir))
    if (e->d_name[0] != '.') high = std::max(high, std::atoi(e->d_name));
  ::closedir(dir);
  return high;
}

class TcpServerEmfileTest : public ::testing::TestWithParam<std::string> {
 protected:
  ~TcpServerEmfileTest() override {
    server_.reset();
    rec_.forget();
    loop_.post([this] { loop_.stop(); });
    loop_.run();
  }
  test::FdLeakGuard leaks_;
  EventLoop loop_{GetParam()};
  Recorder rec_;
  std::unique_ptr<TcpServer> server_;
};

TEST_P(TcpServerEmfileTest, AcceptorPausesWithoutSpinningAndResumes) {
  SKIP_IF_UBSAN();
  server_ = std::make_unique<TcpServer>(loop_, InetAddress::loopback_ipv4(0), rec_.callbacks());
  server_->start();
  const uint16_t port = server_->address().port();
  std::vector<UniqueFd> fillers;
  std::vector<std::unique_ptr<RawClient>> rejected;
  {
    FdLimit limit(static_cast<rlim_t>(highest_open_fd() + 1 + 64));
    ASSERT_TRUE(limit.ok());
    for (;;) {
      int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
      if (fd < 0) break;
      fillers.emplace_back(fd);
    }
    ASSERT_EQ(errno, EMFILE);
    ASSERT_GE(fillers.size(), 40u);
    // A client's socket takes the slot of one filler: the process stays at its limit.
    auto add_client = [&] {
      fillers.pop_back();
      rejected.push_back(std::make_unique<RawClient>(port));
      EXPECT_TRUE(rejected.back()->connected()) << std::strerror(rejected.back()->error);
    };
    add_client();
    ASSERT_TRUE(run_until(loop_, [&] { return server_->stats()[0].accept_failures > 0; }));

    // Keep clients coming for a while: each one meets EMFILE. The loop must sleep between
    // them, not spin on the listening socket that stays readable.
    const uint64_t iterations_before = loop_.stats().iterations;
    int added = 0;
    TimerId more = loop_.run_every(50ms, [&] {
      if (added++ < 5) add_client();
    });
    run_for(loop_, 300ms);
    loop_.cancel(more);
    const uint64_t iterations = loop_.stats().iterations - iterations_before;
    EXPECT_LT(iterations, 300u) << "the loop spins while out of descriptors";
    EXPECT_GE(server_->stats()[0].accept_failures, 2u);
    // Every failure here was for want of a descriptor: none counts as "other".
    EXPECT_EQ(server_->stats()[0].accept_out_of_fds, server_->stats()[0].accept_failures);
    EXPECT_EQ(rec_.connects(), 0u);

    // The rejected clients were not left hanging: each sees its connection end.
    ASSERT_TRUE(run_until(loop_, [&] {
      bool all = true;
      for (auto& c : rejected) {
        c->pump();
        all = all && (c->eof || c->error != 0);
      }
      return all;
    }));
    fillers.clear();
  }
  // Descriptors are back: the server accepts again (after its short pause).
  auto client = std::make_unique<RawClient>(port);
  ASSERT_TRUE(client->connected());
  ASSERT_TRUE(run_until(
      loop_, [&] { return rec_.connects() == 1; }, 5s));
  client->send("back");
  ASSERT_TRUE(run_until(loop_, [&] {
    client->pump();
    return client->received == "back";
  }));
}

TEST_F(TcpServerTest, WaitingBacklogIsRejectedInOneGoWhenOutOfDescriptors) {
  SKIP_IF_UBSAN();
  // Out of descriptors with several connections waiting: the acceptor's spare-descriptor
  // trick should accept-and-close all of them at once (acceptor.h: "immediately close what
  // waits in the backlog"), not one per 100 ms pause.
  server_ = std::make_unique<TcpServer>(loop_, InetAddress::loopback_ipv4(0), rec_.callbacks());
  server_->start();
  const uint16_t port = server_->address().port();
  constexpr size_t kWaiting = 10;
  std::vector<UniqueFd> fillers;
  std::vector<std::unique_ptr<RawClient>> waiting;
  {
    FdLimit limit(static_cast<rlim_t>(highest_open_fd() + 1 + 32));
    ASSERT_TRUE(limit.ok());
    for (int fd; (fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0;) fillers.emplace_back(fd);
    ASSERT_GE(fillers.size(), kWaiting);
    for (size_t i = 0; i < kWaiting; ++i) {
      fillers.pop_back();
      waiting.push_back(std::make_unique<RawClient>(port));
      ASSERT_TRUE(waiting.back()->connected());
    }
    // All of them wait in the backlog before the loop first runs, so the first failures
    // the server reports must already cover every one: rejecting one per pause would show
    // a count of one or two first. (A count, not a clock: the machine may be slow.)
    uint64_t first_failures = 0;
    const bool all_ended = run_until(loop_, [&] {
      if (first_failures == 0) first_failures = server_->stats()[0].accept_failures;
      size_t ended = 0;
      for (auto& c : waiting) {
        c->pump();
        if (c->eof || c->error != 0) ++ended;
      }
      return ended == kWaiting;
    });
    fillers.clear();
    ASSERT_TRUE(all_ended);
    EXPECT_GE(first_failures, kWaiting) << "rejected the waiting connections one per pause";
    EXPECT_GE(server_->stats()[0].accept_failures, kWaiting);
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, TcpServerEmfileTest, test::all_backends(), test::backend_name);

// ---------------------------------------------------------------------------------------
// Several loops.

class TcpServerThreadsTest : public TcpServerTest,
                             public ::testing::WithParamInterface<Balancing> {};

TEST_P(TcpServerThreadsTest, ConnectionsLandOnEveryLoop) {
  TcpServerOptions options;
  options.threads = 2;
  options.balancing = GetParam();
  start(rec_.callbacks(), options);
  ASSERT_EQ(server_->loop_count(), 2u);
  constexpr size_t kClients = 24;
  std::vector<std::unique_ptr<RawClient>> clients;
  for (size_t i = 0; i < kClients; ++i) clients.push_back(connect());
  for (size_t i = 0; i < kClients; ++i)
    ASSERT_TRUE(echo(*clients[i], "hello " + std::to_string(i)));
  EXPECT_EQ(rec_.thread_count(), 2u);
  std::vector<ConnectionStats> stats = server_->stats();
  ASSERT_EQ(stats.size(), 2u);
  EXPECT_GT(stats[0].accepted, 0u);
  EXPECT_GT(stats[1].accepted, 0u);
  EXPECT_EQ(stats[0].accepted + stats[1].accepted, kClients);
  EXPECT_EQ(stats[0].open + stats[1].open, kClients);
  if (GetParam() != Balancing::reuse_port) {
    // One at a time, each after the previous one was registered: an exact split.
    EXPECT_EQ(stats[0].accepted, kClients / 2);
  }
  for (size_t i = 0; i < kClients; ++i) {
    EXPECT_NE(&rec_.connection(i)->loop(), &loop_) << "served on the base loop";
  }
  clients.clear();
  ASSERT_TRUE(run_until(loop_, [&] { return rec_.closes() == kClients; }));
  ASSERT_TRUE(run_until(loop_, [&] {
    auto s = server_->stats();
    return s[0].open == 0 && s[1].open == 0;
  }));
}

TEST_P(TcpServerThreadsTest, DrainAcrossLoops) {
  TcpServerOptions options;
  options.threads = 2;
  options.balancing = GetParam();
  start(rec_.callbacks(), options);
  std::vector<std::unique_ptr<RawClient>> clients;
  for (int i = 0; i < 6; ++i) clients.push_back(connect());
  int done = 0;
  server_->drain(5s, [&] {
    EXPECT_TRUE(loop_.in_loop_thread());
    ++done;
  });
  ASSERT_TRUE(run_until(loop_, [&] {
    for (auto& c : clients) {
      c->pump();
      if (c->eof && c->connected()) c->close();
    }
    return done > 0;
  }));
  EXPECT_EQ(done, 1);
  EXPECT_EQ(rec_.closes(), 6u);
}

TEST_P(TcpServerThreadsTest, DestructorResetsConnectionsOnEveryLoop) {
  TcpServerOptions options;
  options.threads = 2;
  options.balancing = GetParam();
  start(rec_.callbacks(), options);
  std::vector<std::unique_ptr<RawClient>> clients;
  for (int i = 0; i < 6; ++i) clients.push_back(connect());
  server_.reset();
  EXPECT_EQ(rec_.closes(), 6u);
  for (auto& c : clients) {
    ASSERT_TRUE(run_until(loop_, [&] {
      c->pump();
      return c->error != 0 || c->eof;
    }));
    EXPECT_EQ(c->error, ECONNRESET);
  }
}

INSTANTIATE_TEST_SUITE_P(Balancing, TcpServerThreadsTest, test::all_balancings(),
                         test::balancing_name);

TEST_F(TcpServerTest, ThreadsLeastConnectionsPicksTheEmptierLoop) {
  TcpServerOptions options;
  options.threads = 2;
  options.balancing = Balancing::least_connections;
  start(rec_.callbacks(), options);
  std::vector<std::unique_ptr<RawClient>> clients;
  for (int i = 0; i < 4; ++i) clients.push_back(connect());
  // Close both clients served by the first connection's loop.
  EventLoop* emptied = &rec_.connection(0)->loop();
  for (size_t i = 0; i < 4; ++i)
    if (&rec_.connection(i)->loop() == emptied) clients[i].reset();
  ASSERT_TRUE(run_until(loop_, [&] {
    auto s = server_->stats();
    return s[0].open + s[1].open == 2;
  }));
  for (int i = 0; i < 2; ++i) clients.push_back(connect());
  EXPECT_EQ(&rec_.connection(4)->loop(), emptied);
  EXPECT_EQ(&rec_.connection(5)->loop(), emptied);
}

}  // namespace
}  // namespace reactor::net
