// Unit tests for signal delivery (src/core/signal_source.cc): signals arrive as ordinary
// events through EventLoop::on_signal, and the library never relies on (or changes) the
// process-wide SIGPIPE disposition.
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "reactor/core/event_loop.h"
#include "reactor/net/inet_address.h"
#include "reactor/net/tcp_server.h"
#include "test_util.h"

namespace reactor {
namespace {

using test::run_until;
using namespace std::chrono_literals;

bool blocked(int signo) {
  sigset_t mask;
  pthread_sigmask(SIG_SETMASK, nullptr, &mask);
  return sigismember(&mask, signo) == 1;
}

void (*disposition(int signo))(int) {
  struct sigaction sa {};
  sigaction(signo, nullptr, &sa);
  return sa.sa_handler;
}

class SignalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Only this thread exists: a process-directed signal can go nowhere else.
    ASSERT_FALSE(blocked(SIGUSR1));
    ASSERT_FALSE(blocked(SIGUSR2));
  }
  test::FdLeakGuard leaks_;
};

TEST_F(SignalTest, KillDeliversAsEvent) {
  {
    EventLoop loop;
    int got = 0;
    loop.on_signal(SIGUSR1, [&](int signo) {
      EXPECT_EQ(signo, SIGUSR1);
      ++got;
    });
    EXPECT_TRUE(blocked(SIGUSR1));
    ASSERT_EQ(::kill(::getpid(), SIGUSR1), 0);
    ASSERT_TRUE(run_until(loop, [&] { return got == 1; }));
    test::run_for(loop, 10ms);
    EXPECT_EQ(got, 1);
    // Again: the signalfd stays armed.
    ASSERT_EQ(::kill(::getpid(), SIGUSR1), 0);
    ASSERT_TRUE(run_until(loop, [&] { return got == 2; }));
  }
  EXPECT_FALSE(blocked(SIGUSR1)) << "the mask must be restored when the loop goes";
  EXPECT_EQ(disposition(SIGUSR1), SIG_DFL);
}

TEST_F(SignalTest, PthreadKillDeliversAsEvent) {
  EventLoop loop;
  int got = 0;
  loop.on_signal(SIGUSR1, [&](int) { ++got; });
  ASSERT_EQ(::pthread_kill(::pthread_self(), SIGUSR1), 0);
  ASSERT_TRUE(run_until(loop, [&] { return got == 1; }));
}

TEST_F(SignalTest, SeveralSignalsEachToItsCallback) {
  EventLoop loop;
  int usr1 = 0, usr2 = 0;
  loop.on_signal(SIGUSR1, [&](int) { ++usr1; });
  loop.on_signal(SIGUSR2, [&](int) { ++usr2; });
  ASSERT_EQ(::kill(::getpid(), SIGUSR2), 0);
  ASSERT_TRUE(run_until(loop, [&] { return usr2 == 1; }));
  EXPECT_EQ(usr1, 0);
  ASSERT_EQ(::kill(::getpid(), SIGUSR1), 0);
  ASSERT_EQ(::kill(::getpid(), SIGUSR2), 0);
  ASSERT_TRUE(run_until(loop, [&] { return usr1 == 1 && usr2 == 2; }));
}

TEST_F(SignalTest, ReRegisteringReplacesTheCallback) {
  EventLoop loop;
  int first = 0, second = 0;
  loop.on_signal(SIGUSR1, [&](int) { ++first; });
  loop.on_signal(SIGUSR1, [&](int) { ++second; });
  ASSERT_EQ(::kill(::getpid(), SIGUSR1), 0);
  ASSERT_TRUE(run_until(loop, [&] { return second == 1; }));
  EXPECT_EQ(first, 0);
}

TEST_F(SignalTest, DispositionIsNotChanged) {
  const auto before = disposition(SIGUSR1);
  {
    EventLoop loop;
    loop.on_signal(SIGUSR1, [](int) {});
    EXPECT_EQ(disposition(SIGUSR1), before);
  }
  EXPECT_EQ(disposition(SIGUSR1), before);
}

TEST(SignalDeathTest, PendingSignalIsDrainedWhenTheLoopGoes) {
  // Raised but never read: destroying the loop must take it before unblocking, or the
  // default action (terminate) would run. Run in a child so a failure cannot kill us.
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        {
          EventLoop loop;
          loop.on_signal(SIGUSR1, [](int) {});
          ::kill(::getpid(), SIGUSR1);
        }
        std::exit(blocked(SIGUSR1) ? 2 : 0);
      },
      ::testing::ExitedWithCode(0), "");
}

// Writing to a peer that has gone must end the connection with an error, not kill the
// process with SIGPIPE, and the library must not get there by ignoring SIGPIPE globally.
TEST_F(SignalTest, WriteToClosedPeerDoesNotRaiseSigpipe) {
  ASSERT_EQ(disposition(SIGPIPE), SIG_DFL) << "the test needs SIGPIPE's default action";
  ASSERT_FALSE(blocked(SIGPIPE));
  {
    EventLoop loop;
    net::TcpConnectionPtr server_side;
    bool peer_gone = false;
    int closes = 0;
    net::CloseInfo info{net::CloseReason::local, {}, 0};
    net::ConnectionCallbacks cb;
    cb.on_connect = [&](const net::TcpConnectionPtr& c) { server_side = c; };
    cb.on_message = [](const net::TcpConnectionPtr&, net::Buffer& in) { in.clear(); };
    // Keep the connection open after the peer's FIN so that we can write into the void.
    cb.on_peer_shutdown = [&](const net::TcpConnectionPtr&) { peer_gone = true; };
    cb.on_close = [&](const net::TcpConnectionPtr&, const net::CloseInfo& i) {
      ++closes;
      info = i;
    };
    net::TcpServer server(loop, net::InetAddress::loopback_ipv4(0), cb);
    server.start();
    test::RawClient client(server.address().port());
    ASSERT_TRUE(client.connected());
    ASSERT_TRUE(run_until(loop, [&] { return server_side != nullptr; }));
    client.close();
    ASSERT_TRUE(run_until(loop, [&] { return peer_gone; }));
    const std::string chunk(1000, 'x');
    TimerId writer = loop.run_every(1ms, [&] {
      if (server_side->connected()) server_side->send(chunk);
    });
    ASSERT_TRUE(run_until(loop, [&] { return closes == 1; }));
    loop.cancel(writer);
    EXPECT_EQ(info.reason, net::CloseReason::error);
    EXPECT_TRUE(info.error == std::errc::broken_pipe || info.error == std::errc::connection_reset)
        << info.error.message();
    server_side.reset();
  }
  EXPECT_EQ(disposition(SIGPIPE), SIG_DFL);
  EXPECT_FALSE(blocked(SIGPIPE));
}

}  // namespace
}  // namespace reactor
