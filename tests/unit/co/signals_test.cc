// co::Signals (src/co/signals.cc), over every selector backend: signals raised to this
// thread reach a parked waiter or wait as pending (once per number), cancellation leaves
// them pending, and a Signals may go before its loop (or inside its own delivery).
#include "reactor/co/signals.h"

#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <memory>
#include <stop_token>
#include <string>
#include <system_error>

#include "co_test_util.h"
#include "reactor/co/time.h"
#include "reactor/co/when.h"

namespace reactor {
namespace {

using test::run_task;
using test::run_until;
using namespace std::chrono_literals;

bool blocked(int signo) {
  sigset_t mask;
  pthread_sigmask(SIG_SETMASK, nullptr, &mask);
  return sigismember(&mask, signo) == 1;
}

// Neither signal is waiting in the kernel any more: the loop's signalfd has read them.
bool none_pending() {
  sigset_t pending;
  sigpending(&pending);
  return sigismember(&pending, SIGUSR1) != 1 && sigismember(&pending, SIGUSR2) != 1;
}

co::Task<int> wait_for(co::Signals& signals, std::stop_token token = {}) {
  co_return co_await signals.wait(std::move(token));
}

template <class T>
bool canceled(co::Spawned<T>& spawned) {
  try {
    spawned.get();
  } catch (const std::system_error& e) {
    return e.code() == std::errc::operation_canceled;
  }
  return false;
}

class CoSignalsTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    // Only this thread exists, and raise() directs the signal at it.
    ASSERT_FALSE(blocked(SIGUSR1));
    ASSERT_FALSE(blocked(SIGUSR2));
    signals_ = std::make_unique<co::Signals>(loop_, std::initializer_list<int>{SIGUSR1, SIGUSR2});
  }
  // Raises `signo` and runs the loop until the signalfd has read it.
  bool raise_and_settle(int signo) { return ::raise(signo) == 0 && run_until(loop_, none_pending); }

  test::FdLeakGuard leaks_;
  EventLoop loop_{GetParam()};
  std::unique_ptr<co::Signals> signals_;
};

TEST_P(CoSignalsTest, ParkedWaiterGetsTheSignal) {
  EXPECT_TRUE(blocked(SIGUSR1));
  auto spawned = co::spawn(loop_, wait_for(*signals_));
  ASSERT_FALSE(spawned.done());
  ASSERT_EQ(::raise(SIGUSR2), 0);
  ASSERT_TRUE(run_until(loop_, [&] { return spawned.done(); }));
  EXPECT_EQ(spawned.get(), SIGUSR2);
}

TEST_P(CoSignalsTest, PendingSignalsAreKeptOncePerNumber) {
  // Each raise is read before the next, so the kernel cannot merge them: the queue must.
  ASSERT_TRUE(raise_and_settle(SIGUSR1));
  ASSERT_TRUE(raise_and_settle(SIGUSR1));
  ASSERT_TRUE(raise_and_settle(SIGUSR2));
  auto first = co::spawn(loop_, wait_for(*signals_));
  ASSERT_TRUE(first.done()) << "pending: taken without waiting";
  EXPECT_EQ(first.get(), SIGUSR1);
  auto second = co::spawn(loop_, wait_for(*signals_));
  ASSERT_TRUE(second.done());
  EXPECT_EQ(second.get(), SIGUSR2);
  auto third = co::spawn(loop_, wait_for(*signals_));
  EXPECT_FALSE(third.done()) << "SIGUSR1 was kept twice";
}

TEST_P(CoSignalsTest, StopTokenCancelsAndLosesNothing) {
  std::stop_source stop;
  auto spawned = co::spawn(loop_, wait_for(*signals_, stop.get_token()));
  ASSERT_FALSE(spawned.done());
  stop.request_stop();
  ASSERT_TRUE(run_until(loop_, [&] { return spawned.done(); }));
  EXPECT_TRUE(canceled(spawned));
  ASSERT_TRUE(raise_and_settle(SIGUSR1));
  auto next = co::spawn(loop_, wait_for(*signals_));
  ASSERT_TRUE(next.done()) << "the signal must wait as pending, not go to the cancelled wait";
  EXPECT_EQ(next.get(), SIGUSR1);
}

TEST_P(CoSignalsTest, StopRacingASignalLosesNothing) {
  std::stop_source stop;
  auto spawned = co::spawn(loop_, wait_for(*signals_, stop.get_token()));
  ASSERT_EQ(::raise(SIGUSR1), 0);  // in the signalfd when the stop is asked for
  stop.request_stop();
  ASSERT_TRUE(run_until(loop_, [&] { return spawned.done(); }));
  int got = 0;
  try {
    got = spawned.get();
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::operation_canceled);
    ASSERT_TRUE(run_until(loop_, none_pending));
    auto next = co::spawn(loop_, wait_for(*signals_));
    ASSERT_TRUE(next.done());
    got = next.get();
  }
  EXPECT_EQ(got, SIGUSR1);
}

TEST_P(CoSignalsTest, WhenAnyCancelsTheWaitAndLosesNothing) {
  auto timed = [&]() -> co::Task<std::size_t> {
    auto result = co_await co::when_any(wait_for(*signals_), co::as_task(co::sleep_for(1ms)));
    co_return result.index();
  };
  auto first = run_task(loop_, timed());
  ASSERT_TRUE(first.done());
  EXPECT_EQ(first.get(), 1u);
  ASSERT_TRUE(raise_and_settle(SIGUSR2));
  auto next = co::spawn(loop_, wait_for(*signals_));
  ASSERT_TRUE(next.done());
  EXPECT_EQ(next.get(), SIGUSR2);
}

TEST_P(CoSignalsTest, DestroyedBeforeTheLoop) {
  auto spawned = co::spawn(loop_, wait_for(*signals_));
  ASSERT_FALSE(spawned.done());
  signals_.reset();
  ASSERT_TRUE(spawned.done()) << "resumed inside the destructor";
  EXPECT_TRUE(canceled(spawned));
  // Still registered with the loop: read and ignored (under ASan, no use after free).
  EXPECT_TRUE(blocked(SIGUSR1));
  ASSERT_TRUE(raise_and_settle(SIGUSR1));
  // A new Signals takes the number over.
  signals_ = std::make_unique<co::Signals>(loop_, std::initializer_list<int>{SIGUSR1});
  auto next = co::spawn(loop_, wait_for(*signals_));
  EXPECT_FALSE(next.done()) << "the ignored signal must not have been kept for the new one";
  ASSERT_EQ(::raise(SIGUSR1), 0);
  ASSERT_TRUE(run_until(loop_, [&] { return next.done(); }));
  EXPECT_EQ(next.get(), SIGUSR1);
}

TEST_P(CoSignalsTest, DestroyedWhileACancellationIsOnItsWay) {
  // A stop from the task's scope unparks the waiter at once and resumes it later: the
  // Signals may be gone by then (under ASan, the awaiter must not touch it).
  auto spawned = co::spawn(loop_, wait_for(*signals_));
  spawned.request_stop();
  signals_.reset();
  ASSERT_TRUE(run_until(loop_, [&] { return spawned.done(); }));
  EXPECT_TRUE(canceled(spawned));
}

TEST_P(CoSignalsTest, WaiterMayReplaceTheSignalsWhenResumed) {
  // Each round's Signals lives in the coroutine's frame. The first round's ends inside its
  // own delivery, and the second registers SIGUSR1 again there, replacing the very callback
  // that is running.
  signals_.reset();
  int rounds = 0;
  auto body = [&]() -> co::Task<void> {
    for (int i = 0; i < 2; ++i) {
      co::Signals own(loop_, {SIGUSR1});
      co_await own.wait();
      ++rounds;
    }
  };
  auto spawned = co::spawn(loop_, body());
  ASSERT_EQ(::raise(SIGUSR1), 0);
  ASSERT_TRUE(run_until(loop_, [&] { return rounds == 1; }));
  ASSERT_FALSE(spawned.done());
  ASSERT_EQ(::raise(SIGUSR1), 0);
  ASSERT_TRUE(run_until(loop_, [&] { return spawned.done(); }));
  EXPECT_EQ(rounds, 2);
}

using CoSignalsDeathTest = CoSignalsTest;

TEST_P(CoSignalsDeathTest, TwoWaitersAtOnceAbort) {
  EXPECT_DEATH(
      {
        auto a = co::spawn(loop_, wait_for(*signals_));
        auto b = co::spawn(loop_, wait_for(*signals_));
      },
      "two coroutines wait");
}

class CoSignalsTeardownTest : public ::testing::TestWithParam<std::string> {
 protected:
  test::FdLeakGuard leaks_;
};

TEST_P(CoSignalsTeardownTest, DestroyingTheLoopWhileParked) {
  bool resumed = false;
  {
    EventLoop loop(GetParam());
    co::spawn(loop, [&]() -> co::Task<void> {
      co::Signals own(loop, {SIGUSR1});
      co_await own.wait();
      resumed = true;
    });
    test::run_for(loop, 5ms);
  }
  EXPECT_FALSE(resumed);
  EXPECT_FALSE(blocked(SIGUSR1)) << "the loop restores the mask when it goes";
}

INSTANTIATE_TEST_SUITE_P(Backends, CoSignalsTest,
                         test::all_backends(), test::backend_name);
INSTANTIATE_TEST_SUITE_P(Backends, CoSignalsTeardownTest,
                         test::all_backends(), test::backend_name);
INSTANTIATE_TEST_SUITE_P(Backends, CoSignalsDeathTest, ::testing::Values("epoll"));

}  // namespace
}  // namespace reactor
