// Unit tests for co::Server (src/co/server.cc): a coroutine per connection (serve(), on
// one loop and on two), connections taken one by one (accept()), drains, and handlers
// that throw. Raw sockets drive it from the test thread; suites named ...Threads run
// handlers on the server's own loop threads.
#include "reactor/co/server.h"

#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "co_test_util.h"
#include "reactor/co/time.h"
#include "reactor/core/log.h"

namespace reactor::co {
namespace {

using test::RawClient;
using test::run_until;
using test::run_until_done;
using namespace std::chrono_literals;

const std::error_code kCanceled = std::make_error_code(std::errc::operation_canceled);

uint16_t local_port(int fd) {
  sockaddr_in sa{};
  socklen_t len = sizeof sa;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
  return ntohs(sa.sin_port);
}

/// Echoes until the peer ends its stream, then returns (which closes the connection).
Task<void> echo(Connection conn) {
  char buf[4096];
  while (std::size_t n = co_await conn.read_some(buf)) co_await conn.write({buf, n});
}

class CoServerTest : public ::testing::TestWithParam<std::string> {
 protected:
  ~CoServerTest() override {
    server_.reset();
    loop_.post([this] { loop_.stop(); });  // let the loop run what closing posted
    loop_.run();
  }

  Server& make_server(size_t threads = 1) {
    net::TcpServerOptions options;
    options.threads = threads;
    server_ = std::make_unique<Server>(loop_, net::InetAddress::loopback_ipv4(0), options);
    return *server_;
  }
  uint16_t port() const { return server_->address().port(); }

  /// Each client sends its own message and ends its stream; true once each has its echo
  /// back and the server's end of stream.
  bool echo_round(size_t clients) {
    std::vector<std::unique_ptr<RawClient>> peers;
    for (size_t i = 0; i < clients; ++i) {
      peers.push_back(std::make_unique<RawClient>(port()));
      peers.back()->send("client " + std::to_string(i));
      peers.back()->shutdown_write();
    }
    const bool all = run_until(loop_, [&] {
      for (auto& peer : peers) peer->pump();
      for (auto& peer : peers)
        if (!peer->eof) return false;
      return true;
    });
    for (size_t i = 0; i < clients; ++i)
      EXPECT_EQ(peers[i]->received, "client " + std::to_string(i));
    return all;
  }

  test::FdLeakGuard leaks_;
  EventLoop loop_{GetParam()};
  std::unique_ptr<Server> server_;
};

TEST_P(CoServerTest, ServesEachConnectionWithItsOwnCoroutine) {
  make_server().serve(echo);
  server_->start();
  EXPECT_TRUE(echo_round(10));
  EXPECT_EQ(server_->stats()[0].accepted, 10u);
  ASSERT_TRUE(run_until(loop_, [&] { return server_->stats()[0].open == 0; }));
}

TEST_P(CoServerTest, HandlerArgumentsAreCopiedIntoEachCoroutine) {
  int served = 0;
  auto greet = [](Connection conn, std::string greeting, int* count) -> Task<void> {
    co_await sleep_for(1ms);  // the arguments outlive a suspension
    ++*count;
    co_await conn.write(greeting);
  };
  make_server().serve(greet, std::string("hello from the server"), &served);
  server_->start();
  RawClient a(port()), b(port());
  ASSERT_TRUE(run_until(loop_, [&] {
    a.pump();
    b.pump();
    return a.eof && b.eof;
  }));
  EXPECT_EQ(a.received, "hello from the server");
  EXPECT_EQ(b.received, "hello from the server");
  EXPECT_EQ(served, 2);
}

TEST_P(CoServerTest, AcceptTakesQueuedConnectionsInOrder) {
  make_server().start();
  std::vector<std::unique_ptr<RawClient>> clients;
  for (int i = 0; i < 3; ++i) clients.push_back(std::make_unique<RawClient>(port()));
  ASSERT_TRUE(run_until(loop_, [&] { return server_->stats()[0].accepted == 3; }));
  auto taken = spawn(loop_, [this]() -> Task<std::vector<uint16_t>> {
    std::vector<uint16_t> ports;
    for (int i = 0; i < 3; ++i) {
      Connection conn = co_await server_->accept();
      ports.push_back(conn.peer_address().port());
    }
    co_return ports;
  });
  ASSERT_TRUE(taken.done()) << "all three were queued";
  std::vector<uint16_t> expected;
  for (auto& client : clients) expected.push_back(local_port(client->fd()));
  EXPECT_EQ(taken.get(), expected);
}

TEST_P(CoServerTest, AcceptWaitsForTheNextConnection) {
  make_server().start();
  auto taken = spawn(loop_, [this]() -> Task<std::string> {
    Connection conn = co_await server_->accept();
    char buf[16];
    std::size_t n = co_await conn.read_some(buf);
    co_return std::string(buf, n);
  });
  test::run_for(loop_, 5ms);
  EXPECT_FALSE(taken.done());
  RawClient client(port());
  client.send("first words");
  ASSERT_TRUE(run_until_done(loop_, taken));
  EXPECT_EQ(taken.get(), "first words");
}

TEST_P(CoServerTest, AStoppedAcceptLeavesTheConnectionForTheNext) {
  make_server().start();
  std::stop_source stop;
  auto stopped = spawn(loop_, [&]() -> Task<void> { co_await server_->accept(stop.get_token()); });
  test::run_for(loop_, 5ms);
  stop.request_stop();
  ASSERT_TRUE(run_until_done(loop_, stopped));
  EXPECT_EQ(test::error_of([&] { stopped.get(); }), kCanceled);
  RawClient client(port());
  auto next = spawn(loop_, as_task(server_->accept()));
  ASSERT_TRUE(run_until_done(loop_, next));
  EXPECT_TRUE(static_cast<bool>(next.get()));
}

TEST_P(CoServerTest, DestroyingTheServerEndsAWaitingAccept) {
  make_server().start();
  auto waiting = spawn(loop_, as_task(server_->accept()));
  test::run_for(loop_, 5ms);
  ASSERT_FALSE(waiting.done());
  server_.reset();
  ASSERT_TRUE(waiting.done());
  EXPECT_EQ(test::error_of([&] { waiting.get(); }), kCanceled);
}

// A stopped accept stops waiting at once and is resumed by a posted step; the server may
// be destroyed in between (ASan sees any touch of it).
TEST_P(CoServerTest, AStoppedAcceptOutlivesItsServer) {
  make_server().start();
  auto waiting = spawn(loop_, as_task(server_->accept()));
  ASSERT_FALSE(waiting.done());
  waiting.request_stop();
  server_.reset();
  ASSERT_TRUE(run_until_done(loop_, waiting));
  EXPECT_EQ(test::error_of([&] { waiting.get(); }), kCanceled);
}

// The drain closes each connection; the handlers parked in a read resume as their
// connections close (operation_canceled: the close is ours), then `done` runs.
TEST_P(CoServerTest, DrainResumesTheWaitingCoroutinesThenCallsDone) {
  std::vector<std::error_code> ended;
  auto park = [](Connection conn, std::vector<std::error_code>* out) -> Task<void> {
    char buf[16];
    try {
      co_await conn.read_some(buf);
      out->push_back({});
    } catch (const std::system_error& e) {
      out->push_back(e.code());
    }
  };
  make_server().serve(park, &ended);
  server_->start();
  std::vector<std::unique_ptr<RawClient>> clients;
  for (int i = 0; i < 3; ++i) clients.push_back(std::make_unique<RawClient>(port()));
  ASSERT_TRUE(run_until(loop_, [&] { return server_->stats()[0].accepted == 3; }));
  bool done = false;
  server_->drain(5s, [&] { done = true; });
  ASSERT_TRUE(run_until(loop_, [&] {
    for (auto& client : clients) {
      client->pump();
      if (client->eof) client->close();  // the peer answers our FIN with its own
    }
    return done;
  }));
  ASSERT_EQ(ended.size(), 3u) << "every handler resumed before done";
  for (auto& error : ended) EXPECT_EQ(error, kCanceled) << error.message();
  EXPECT_EQ(server_->stats()[0].open, 0u);
}

TEST_P(CoServerTest, AThrowingHandlerResetsItsConnectionAndTheServerGoesOn) {
  std::vector<std::string> logged;
  set_log_sink([&](LogLevel level, std::string_view message) {
    if (level == LogLevel::error) logged.emplace_back(message);
  });
  auto handler = [](Connection conn) -> Task<void> {
    std::string line;
    co_await conn.read_until(line, "\n", 100);
    if (line == "boom\n") throw std::runtime_error("the handler failed");
    co_await conn.write(line);
  };
  make_server().serve(handler);
  server_->start();
  RawClient bad(port());
  bad.send("boom\n");
  ASSERT_TRUE(run_until(loop_, [&] {
    bad.pump();
    return bad.error != 0 || bad.eof;
  }));
  EXPECT_EQ(bad.error, ECONNRESET);
  ASSERT_EQ(logged.size(), 1u);
  EXPECT_NE(logged[0].find("the handler failed"), std::string::npos) << logged[0];

  RawClient good(port());
  good.send("fine\n");
  ASSERT_TRUE(run_until(loop_, [&] {
    good.pump();
    return good.eof;
  }));
  EXPECT_EQ(good.received, "fine\n");
  set_log_sink({});
}

// An I/O error of the handler's own making (here read_until's limit) is a handler failure:
// logged as an error, even though the unwinding handler's Connection reset the connection.
TEST_P(CoServerTest, AnErrorThrownByTheHandlersOwnReadIsLoggedAsAnError) {
  std::vector<LogLevel> levels;
  set_log_sink([&](LogLevel level, std::string_view) { levels.push_back(level); });
  auto handler = [](Connection conn) -> Task<void> {
    std::string line;
    co_await conn.read_until(line, "\n", 4);
  };
  make_server().serve(handler);
  server_->start();
  RawClient client(port());
  client.send("toolongline");
  ASSERT_TRUE(run_until(loop_, [&] {
    client.pump();
    return client.error != 0 || client.eof;
  }));
  set_log_sink({});
  ASSERT_EQ(levels.size(), 1u);
  EXPECT_EQ(levels[0], LogLevel::error);
}

// A client's reset reaches a handler as an exception from its wait: the connection's
// ordinary end, logged at debug level, not as a handler failure.
TEST_P(CoServerTest, AResetEndingTheHandlerIsNotAnError) {
  std::vector<std::pair<LogLevel, std::string>> logged;
  set_log_sink([&](LogLevel level, std::string_view message) {
    logged.emplace_back(level, std::string(message));
  });
  set_log_level(LogLevel::debug);
  int ended = 0;
  auto handler = [&ended](Connection conn) -> Task<void> {
    struct Count {
      int* n;
      ~Count() { ++*n; }
    } count{&ended};
    char buf[64];
    while (size_t n = co_await conn.read_some(buf)) co_await conn.write({buf, n});
  };
  make_server().serve(handler);
  server_->start();
  {
    RawClient client(port());
    client.send("x");
    ASSERT_TRUE(run_until(loop_, [&] {
      client.pump();
      return client.received == "x";
    }));
    client.reset();
  }
  ASSERT_TRUE(run_until(loop_, [&] { return ended == 1; }));
  set_log_sink({});
  set_log_level(LogLevel::info);
  ASSERT_EQ(logged.size(), 1u);
  EXPECT_EQ(logged[0].first, LogLevel::debug) << logged[0].second;
}

INSTANTIATE_TEST_SUITE_P(Backends, CoServerTest, test::all_backends(), test::backend_name);

// Two serving loops: each handler runs on its connection's own loop thread.
class CoServerThreadsTest : public CoServerTest {};

TEST_P(CoServerThreadsTest, HandlersRunOnTheConnectionsLoops) {
  std::mutex mu;
  std::set<std::thread::id> threads;
  auto handler = [](Connection conn, std::mutex* m, std::set<std::thread::id>* seen) -> Task<void> {
    {
      std::lock_guard lock(*m);
      seen->insert(std::this_thread::get_id());
    }
    co_await echo(std::move(conn));
  };
  make_server(2).serve(handler, &mu, &threads);
  server_->start();
  EXPECT_TRUE(echo_round(20));
  std::lock_guard lock(mu);
  EXPECT_EQ(threads.size(), 2u) << "round robin over two loops";
  EXPECT_EQ(threads.count(std::this_thread::get_id()), 0u) << "not on the base loop";
}

TEST_P(CoServerThreadsTest, DrainReachesEveryLoop) {
  std::atomic<int> resumed{0};
  auto park = [](Connection conn, std::atomic<int>* count) -> Task<void> {
    char buf[16];
    try {
      co_await conn.read_some(buf);
    } catch (const std::system_error&) {
    }
    ++*count;
  };
  make_server(2).serve(park, &resumed);
  server_->start();
  std::vector<std::unique_ptr<RawClient>> clients;
  for (int i = 0; i < 6; ++i) clients.push_back(std::make_unique<RawClient>(port()));
  ASSERT_TRUE(run_until(loop_, [&] {
    uint64_t accepted = 0;
    for (auto& s : server_->stats()) accepted += s.accepted;
    return accepted == 6;
  }));
  bool done = false;
  server_->drain(5s, [&] { done = true; });
  ASSERT_TRUE(run_until(loop_, [&] {
    for (auto& client : clients) {
      client->pump();
      if (client->eof) client->close();
    }
    return done;
  }));
  EXPECT_EQ(resumed.load(), 6);
}

INSTANTIATE_TEST_SUITE_P(Backends, CoServerThreadsTest, test::all_backends(), test::backend_name);

}  // namespace
}  // namespace reactor::co
