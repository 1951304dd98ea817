// Unit tests for EventLoop (src/core/event_loop.cc, wakeup.cc): dispatching, interest
// changes, stale events, tasks, timers and thread checks, on every selector backend.
// Suites named ...Threads call the loop from other threads (CTest label "threads").
#include "reactor/core/event_loop.h"

#include <fcntl.h>
#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "test_util.h"

namespace reactor {
namespace {

using test::run_for;
using test::run_until;
using test::socket_pair;
using test::write_all;
using namespace std::chrono_literals;

/// Counts its calls and runs an optional action.
class CountingHandler final : public Handler {
 public:
  explicit CountingHandler(std::function<void(uint32_t)> action = {})
      : action_(std::move(action)) {}
  void handle_events(uint32_t ready) override {
    ++calls;
    last = ready;
    if (action_) action_(ready);
  }
  int calls = 0;
  uint32_t last = 0;

 private:
  std::function<void(uint32_t)> action_;
};

class EventLoopTest : public ::testing::TestWithParam<std::string> {
 protected:
  test::FdLeakGuard leaks_;
  EventLoop loop_{GetParam()};
};

TEST_P(EventLoopTest, ReportsBackend) {
  EXPECT_EQ(loop_.backend(), GetParam());
  EXPECT_EQ(loop_.edge_triggered(), GetParam() == "epoll-et");
  EXPECT_TRUE(loop_.in_loop_thread());
}

TEST_P(EventLoopTest, WatchDispatchesReadiness) {
  auto ab = socket_pair();
  UniqueFd& a = ab.first;
  UniqueFd& b = ab.second;
  std::string got;
  CountingHandler h([&](uint32_t) {
    char buf[16];
    ssize_t n;
    while ((n = ::read(a.get(), buf, sizeof buf)) > 0) got.append(buf, static_cast<size_t>(n));
  });
  ASSERT_FALSE(loop_.watch(a.get(), io::kReadable, h));
  EXPECT_EQ(loop_.interest(a.get()), io::kReadable);
  write_all(b.get(), "ping");
  ASSERT_TRUE(run_until(loop_, [&] { return got == "ping"; }));
  EXPECT_EQ(h.calls, 1);
  EXPECT_TRUE(h.last & io::kReadable);
  EXPECT_GE(loop_.stats().events, 1u);
  EXPECT_GE(loop_.stats().iterations, 1u);
  // Nothing more to read: no more calls.
  run_for(loop_, 20ms);
  EXPECT_EQ(h.calls, 1);
  loop_.unwatch(a.get());
  EXPECT_EQ(loop_.interest(a.get()), 0u);
}

TEST_P(EventLoopTest, SetInterest) {
  auto ab = socket_pair();
  UniqueFd& a = ab.first;
  UniqueFd& b = ab.second;
  CountingHandler h;
  ASSERT_FALSE(loop_.watch(a.get(), 0, h));
  run_for(loop_, 20ms);
  EXPECT_EQ(h.calls, 0);

  loop_.set_interest(a.get(), io::kWritable);
  EXPECT_EQ(loop_.interest(a.get()), io::kWritable);
  ASSERT_TRUE(run_until(loop_, [&] { return h.calls > 0; }));
  EXPECT_EQ(h.last, io::kWritable);

  loop_.set_interest(a.get(), 0);
  const int before = h.calls;
  run_for(loop_, 20ms);
  EXPECT_EQ(h.calls, before);

  write_all(b.get(), "x");
  loop_.set_interest(a.get(), io::kReadable);
  ASSERT_TRUE(run_until(loop_, [&] { return h.calls > before; }));
  EXPECT_EQ(h.last & (io::kReadable | io::kWritable), io::kReadable);
  loop_.unwatch(a.get());
}

TEST_P(EventLoopTest, UnwatchedDescriptorIsNotDispatched) {
  auto ab = socket_pair();
  UniqueFd& a = ab.first;
  UniqueFd& b = ab.second;
  CountingHandler h;
  ASSERT_FALSE(loop_.watch(a.get(), io::kReadable, h));
  loop_.unwatch(a.get());
  loop_.unwatch(a.get());  // twice: harmless
  write_all(b.get(), "x");
  run_for(loop_, 20ms);
  EXPECT_EQ(h.calls, 0);
}

// Two descriptors are ready in the same batch; whichever handler runs first unwatches and
// closes the other. The other's event, already collected, must be dropped.
TEST_P(EventLoopTest, UnwatchFromAnotherHandlerInSameBatch) {
  auto p1 = socket_pair();
  auto p2 = socket_pair();
  UniqueFd* ends[2] = {&p1.first, &p2.first};
  int calls[2] = {0, 0};
  bool first_done = false;
  auto make = [&](int self) {
    return [&, self](uint32_t) {
      ++calls[self];
      if (first_done) return;
      first_done = true;
      UniqueFd& other = *ends[1 - self];
      loop_.unwatch(other.get());
      other.reset();
      test::drain(ends[self]->get());
      loop_.stop();  // after this batch: a stale event would be dispatched before that
    };
  };
  CountingHandler h0(make(0)), h1(make(1));
  ASSERT_FALSE(loop_.watch(p1.first.get(), io::kReadable, h0));
  ASSERT_FALSE(loop_.watch(p2.first.get(), io::kReadable, h1));
  write_all(p1.second.get(), "x");
  write_all(p2.second.get(), "x");
  TimerId failsafe = loop_.run_after(5s, [&] { loop_.stop(); });
  loop_.run();
  loop_.cancel(failsafe);
  EXPECT_EQ(calls[0] + calls[1], 1) << calls[0] << " " << calls[1];
  for (UniqueFd* end : ends)
    if (*end) loop_.unwatch(end->get());
}

// As above, but the first handler also opens a new descriptor that gets the closed one's
// number and watches it with a new handler: the stale event must not reach the new one.
TEST_P(EventLoopTest, ReusedDescriptorNumberDoesNotGetStaleEvent) {
  auto p1 = socket_pair();
  auto p2 = socket_pair();
  UniqueFd* ends[2] = {&p1.first, &p2.first};
  int calls[2] = {0, 0};
  bool first_done = false;
  int reused_number = -1;
  UniqueFd replacement, replacement_peer;
  CountingHandler fresh;  // the new descriptor is never readable: it must never be called
  auto make = [&](int self) {
    return [&, self](uint32_t) {
      ++calls[self];
      if (first_done) return;
      first_done = true;
      UniqueFd& other = *ends[1 - self];
      const int number = other.get();
      loop_.unwatch(number);
      other.reset();
      auto xy = socket_pair();
      UniqueFd& x = xy.first;
      UniqueFd& y = xy.second;
      // The new socket usually gets the freed (lowest) number by itself; force it if not.
      if (x.get() == number)
        x.release();
      else
        ASSERT_EQ(::dup2(x.get(), number), number);
      replacement.reset(number);
      replacement_peer = std::move(y);
      reused_number = number;
      ASSERT_FALSE(loop_.watch(number, io::kReadable, fresh));
      test::drain(ends[self]->get());
      loop_.stop();
    };
  };
  CountingHandler h0(make(0)), h1(make(1));
  ASSERT_FALSE(loop_.watch(p1.first.get(), io::kReadable, h0));
  ASSERT_FALSE(loop_.watch(p2.first.get(), io::kReadable, h1));
  write_all(p1.second.get(), "x");
  write_all(p2.second.get(), "x");
  TimerId failsafe = loop_.run_after(5s, [&] { loop_.stop(); });
  loop_.run();
  loop_.cancel(failsafe);
  ASSERT_GE(reused_number, 0);
  EXPECT_EQ(calls[0] + calls[1], 1);
  EXPECT_EQ(fresh.calls, 0) << "stale event delivered to the new handler";
  // The new registration works normally afterwards.
  write_all(replacement_peer.get(), "y");
  ASSERT_TRUE(run_until(loop_, [&] { return fresh.calls > 0; }));
  loop_.unwatch(replacement.get());
  for (UniqueFd* end : ends)
    if (*end) loop_.unwatch(end->get());
}

TEST_P(EventLoopTest, PostOnLoopThreadRunsAfterTheBatchNotInline) {
  auto ab = socket_pair();
  UniqueFd& a = ab.first;
  UniqueFd& b = ab.second;
  std::vector<std::string> order;
  CountingHandler h([&](uint32_t) {
    test::drain(a.get());
    loop_.post([&] { order.push_back("task"); });
    order.push_back("handler");
  });
  ASSERT_FALSE(loop_.watch(a.get(), io::kReadable, h));
  write_all(b.get(), "x");
  ASSERT_TRUE(run_until(loop_, [&] { return order.size() == 2; }));
  EXPECT_EQ(order, (std::vector<std::string>{"handler", "task"}));
  loop_.unwatch(a.get());
}

TEST_P(EventLoopTest, DispatchOnLoopThreadRunsInline) {
  bool ran = false;
  loop_.dispatch([&] { ran = true; });
  EXPECT_TRUE(ran);
}

TEST_P(EventLoopTest, TasksPostedBeforeStopRunBeforeRunReturns) {
  int ran = 0;
  loop_.post([&] {
    loop_.stop();
    loop_.post([&] { ++ran; });
  });
  loop_.run();
  EXPECT_EQ(ran, 1);
}

TEST_P(EventLoopTest, RunAgainAfterStop) {
  for (int round = 0; round < 3; ++round) {
    int fired = 0;
    loop_.run_after(1ms, [&] {
      ++fired;
      loop_.stop();
    });
    TimerId failsafe = loop_.run_after(5s, [&] { loop_.stop(); });
    loop_.run();
    loop_.cancel(failsafe);
    EXPECT_EQ(fired, 1) << "round " << round;
  }
}

TEST_P(EventLoopTest, RunAfterFiresInDeadlineOrder) {
  std::vector<int> order;
  loop_.run_after(30ms, [&] { order.push_back(30); });
  loop_.run_after(10ms, [&] { order.push_back(10); });
  loop_.run_after(20ms, [&] { order.push_back(20); });
  ASSERT_TRUE(run_until(loop_, [&] { return order.size() == 3; }));
  EXPECT_EQ(order, (std::vector<int>{10, 20, 30}));
}

TEST_P(EventLoopTest, TimersNeverFireEarly) {
  const auto start = Clock::now();
  Clock::time_point fired_at{};
  loop_.run_after(25ms, [&] { fired_at = Clock::now(); });
  ASSERT_TRUE(run_until(loop_, [&] { return fired_at != Clock::time_point{}; }));
  EXPECT_GE(fired_at - start, 25ms);
}

TEST_P(EventLoopTest, EqualDelaysFireInSchedulingOrder) {
  std::vector<int> order;
  for (int i = 0; i < 8; ++i) loop_.run_after(100ms, [&order, i] { order.push_back(i); });
  for (int i = 8; i < 12; ++i) loop_.run_after(0ms, [&order, i] { order.push_back(i); });
  ASSERT_TRUE(run_until(loop_, [&] { return order.size() == 12; }));
  EXPECT_EQ(order, (std::vector<int>{8, 9, 10, 11, 0, 1, 2, 3, 4, 5, 6, 7}));
}

TEST_P(EventLoopTest, RunEveryDoesNotDrift) {
  // Each callback runs longer than the period: until the loop's clock is a full interval
  // past the iteration that fired it. The next deadline counts from the previous deadline
  // (at most one interval after that iteration's now()), so it has passed when the callback
  // returns and the timer fires again in the very next iteration, however slow the machine.
  // A deadline counted from the end of the callback would still be an interval away, and
  // the 1 ms probe timer would run iterations without it in between.
  constexpr auto kInterval = 5ms;
  constexpr int kFires = 20;
  std::vector<uint64_t> iterations;
  TimerId probe = loop_.run_every(1ms, [] {});
  TimerId id = loop_.run_every(kInterval, [&] {
    iterations.push_back(loop_.stats().iterations);
    const auto until = loop_.now() + kInterval;
    while (Clock::now() <= until) {
    }
  });
  ASSERT_TRUE(run_until(loop_, [&] { return iterations.size() >= kFires; }));
  loop_.cancel(id);
  loop_.cancel(probe);
  for (size_t i = 1; i < iterations.size(); ++i)
    EXPECT_EQ(iterations[i], iterations[i - 1] + 1) << "fire " << i << " waited: drift";
}

TEST_P(EventLoopTest, CancelledTimerDoesNotFire) {
  int fired = 0;
  TimerId id = loop_.run_after(5ms, [&] { ++fired; });
  EXPECT_TRUE(id);
  loop_.cancel(id);
  bool later = false;
  loop_.run_after(20ms, [&] { later = true; });
  ASSERT_TRUE(run_until(loop_, [&] { return later; }));
  EXPECT_EQ(fired, 0);
}

TEST_P(EventLoopTest, CancelOneShotFromItsOwnCallback) {
  int fired = 0;
  TimerId id;
  id = loop_.run_after(1ms, [&] {
    ++fired;
    loop_.cancel(id);  // already fired: harmless
  });
  ASSERT_TRUE(run_until(loop_, [&] { return fired == 1; }));
  run_for(loop_, 10ms);
  EXPECT_EQ(fired, 1);
}

TEST_P(EventLoopTest, CancelPeriodicFromItsOwnCallback) {
  int fired = 0;
  TimerId id;
  id = loop_.run_every(1ms, [&] {
    if (++fired == 3) loop_.cancel(id);
  });
  ASSERT_TRUE(run_until(loop_, [&] { return fired >= 3; }));
  run_for(loop_, 20ms);
  EXPECT_EQ(fired, 3);
}

TEST_P(EventLoopTest, CancelOfStaleIdIsHarmless) {
  int first = 0, second = 0;
  TimerId stale = loop_.run_after(0ms, [&] { ++first; });
  ASSERT_TRUE(run_until(loop_, [&] { return first == 1; }));
  loop_.cancel(stale);
  loop_.cancel(TimerId{});  // names nothing
  // The slot of the stale id is reused: cancelling the stale id must not cancel this.
  TimerId fresh = loop_.run_after(1ms, [&] { ++second; });
  loop_.cancel(stale);
  loop_.cancel(stale);
  ASSERT_TRUE(run_until(
      loop_, [&] { return second == 1; }, 2s));
  loop_.cancel(fresh);
  EXPECT_EQ(first, 1);
}

TEST_P(EventLoopTest, TimersScheduledFromCallbacks) {
  // A zero-delay timer scheduled from a timer callback waits for the next iteration, so a
  // self-rescheduling chain neither starves the loop nor recurses.
  constexpr int kChain = 50;
  int fired = 0;
  std::vector<uint64_t> iterations;
  std::function<void()> step = [&] {
    ++fired;
    iterations.push_back(loop_.stats().iterations);
    if (fired < kChain) loop_.run_after(0ms, step);
  };
  loop_.run_after(0ms, step);
  ASSERT_TRUE(run_until(loop_, [&] { return fired == kChain; }));
  EXPECT_EQ(fired, kChain);
  for (size_t i = 1; i < iterations.size(); ++i) EXPECT_GT(iterations[i], iterations[i - 1]);
}

TEST_P(EventLoopTest, RequeueDeliversAgainAfterTheOtherReadyDescriptors) {
  auto p1 = socket_pair();
  auto p2 = socket_pair();
  std::vector<std::pair<char, uint32_t>> calls;  // who, ready mask
  bool requeued = false;
  CountingHandler h1([&](uint32_t ready) {
    test::drain(p1.first.get());  // nothing left: only the requeue can bring it back
    calls.push_back({'1', ready});
    if (!requeued) loop_.requeue(p1.first.get(), io::kReadable | io::kError);
    requeued = true;
  });
  CountingHandler h2([&](uint32_t ready) {
    test::drain(p2.first.get());
    calls.push_back({'2', ready});
  });
  ASSERT_FALSE(loop_.watch(p1.first.get(), io::kReadable, h1));
  ASSERT_FALSE(loop_.watch(p2.first.get(), io::kReadable, h2));
  write_all(p1.second.get(), "x");
  write_all(p2.second.get(), "x");
  ASSERT_TRUE(run_until(loop_, [&] { return h1.calls >= 2 && h2.calls >= 1; }));
  run_for(loop_, 20ms);
  EXPECT_EQ(h1.calls, 2);
  EXPECT_EQ(h2.calls, 1);
  ASSERT_EQ(calls.size(), 3u);
  EXPECT_EQ(calls.back().first, '1');
  EXPECT_EQ(calls.back().second, io::kReadable | io::kError);  // exactly what was requeued
  loop_.unwatch(p1.first.get());
  loop_.unwatch(p2.first.get());
}

TEST_P(EventLoopTest, RequeueOfUnwatchedDescriptorIsDropped) {
  auto ab = socket_pair();
  UniqueFd& a = ab.first;
  UniqueFd& b = ab.second;
  CountingHandler h([&](uint32_t) {
    test::drain(a.get());
    loop_.requeue(a.get(), io::kReadable);
    loop_.unwatch(a.get());  // the requeued delivery is now stale
  });
  ASSERT_FALSE(loop_.watch(a.get(), io::kReadable, h));
  write_all(b.get(), "x");
  ASSERT_TRUE(run_until(loop_, [&] { return h.calls > 0; }));
  run_for(loop_, 20ms);
  EXPECT_EQ(h.calls, 1);
}

TEST_P(EventLoopTest, SignalsAreOrdinaryEvents) {
  // Covered in depth by signal_test; here: every backend can watch the signalfd.
  int got = 0;
  loop_.on_signal(SIGUSR2, [&](int signo) {
    EXPECT_EQ(signo, SIGUSR2);
    ++got;
  });
  ASSERT_EQ(::pthread_kill(::pthread_self(), SIGUSR2), 0);
  ASSERT_TRUE(run_until(loop_, [&] { return got == 1; }));
}

INSTANTIATE_TEST_SUITE_P(Backends, EventLoopTest,
                         test::all_backends(), test::backend_name);

// Edge-triggered specifics.
TEST(EventLoopEdgeTriggered, UnreadDataIsNotReportedAgainWithoutRequeue) {
  test::FdLeakGuard leaks;
  EventLoop loop("epoll-et");
  auto ab = socket_pair();
  UniqueFd& a = ab.first;
  UniqueFd& b = ab.second;
  CountingHandler h;  // never reads
  ASSERT_FALSE(loop.watch(a.get(), io::kReadable, h));
  write_all(b.get(), "x");
  ASSERT_TRUE(run_until(loop, [&] { return h.calls > 0; }));
  run_for(loop, 20ms);
  EXPECT_EQ(h.calls, 1);
  loop.unwatch(a.get());
}

TEST(EventLoopEdgeTriggered, RequeueCallsTheHandlerAgainInTheNextIteration) {
  test::FdLeakGuard leaks;
  EventLoop loop("epoll-et");
  auto ab = socket_pair();
  UniqueFd& a = ab.first;
  UniqueFd& b = ab.second;
  std::vector<uint64_t> iterations;
  CountingHandler h([&](uint32_t) {
    iterations.push_back(loop.stats().iterations);
    if (iterations.size() == 1) loop.requeue(a.get(), io::kReadable);  // data left unread
  });
  ASSERT_FALSE(loop.watch(a.get(), io::kReadable, h));
  write_all(b.get(), "x");
  ASSERT_TRUE(run_until(loop, [&] { return h.calls >= 2; }));
  run_for(loop, 20ms);
  EXPECT_EQ(h.calls, 2);
  ASSERT_EQ(iterations.size(), 2u);
  // event_loop.h: requeue "delivers `ready` to fd's handler again next iteration".
  EXPECT_GT(iterations[1], iterations[0]) << "requeued delivery ran in the same iteration";
  loop.unwatch(a.get());
}

/// A user selector: wraps the poll backend and counts the loop's calls into it.
class CountingSelector final : public Selector {
 public:
  struct Counts {
    int add = 0, modify = 0, remove = 0, wait = 0;
  };
  explicit CountingSelector(Counts& counts) : counts_(counts) {}
  std::error_code add(int fd, uint32_t interest, uint64_t token) override {
    ++counts_.add;
    return inner_->add(fd, interest, token);
  }
  std::error_code modify(int fd, uint32_t interest, uint64_t token) override {
    ++counts_.modify;
    return inner_->modify(fd, interest, token);
  }
  void remove(int fd) override {
    ++counts_.remove;
    inner_->remove(fd);
  }
  void wait(std::chrono::milliseconds timeout, std::vector<ReadyEvent>& ready) override {
    ++counts_.wait;
    inner_->wait(timeout, ready);
  }
  std::string_view name() const override { return "counting"; }

 private:
  Counts& counts_;
  std::unique_ptr<Selector> inner_ = make_selector("poll");
};

TEST(EventLoopUserSelector, TimersTasksAndDescriptorsGoThroughIt) {
  test::FdLeakGuard leaks;
  CountingSelector::Counts counts;
  {
    EventLoop loop(std::make_unique<CountingSelector>(counts));
    EXPECT_EQ(loop.backend(), "counting");
    EXPECT_FALSE(loop.edge_triggered());
    EXPECT_EQ(counts.add, 1) << "the loop's own wake-up descriptor";

    auto ab = socket_pair();
    std::string got;
    CountingHandler h([&](uint32_t) {
      char buf[16];
      ssize_t n;
      while ((n = ::read(ab.first.get(), buf, sizeof buf)) > 0)
        got.append(buf, static_cast<size_t>(n));
    });
    ASSERT_FALSE(loop.watch(ab.first.get(), 0, h));
    loop.set_interest(ab.first.get(), io::kReadable);
    loop.set_interest(ab.first.get(), io::kReadable);  // unchanged: no call
    EXPECT_EQ(counts.add, 2);
    EXPECT_EQ(counts.modify, 1);

    bool timer = false, task = false;
    loop.run_after(1ms, [&] { timer = true; });
    std::thread poster([&] { loop.post([&] { task = true; }); });
    write_all(ab.second.get(), "ping");
    const bool all = run_until(loop, [&] { return timer && task && got == "ping"; });
    poster.join();
    ASSERT_TRUE(all);
    EXPECT_GE(h.calls, 1);
    EXPECT_EQ(static_cast<uint64_t>(counts.wait), loop.stats().iterations);
    loop.unwatch(ab.first.get());
    EXPECT_EQ(counts.remove, 1);
  }
  EXPECT_EQ(counts.remove, 2) << "the wake-up descriptor is removed when the loop goes";
  EXPECT_EQ(counts.add, 2);
}

TEST(EventLoopDeathTest, NullSelectorAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(EventLoop(std::unique_ptr<Selector>()), "needs a selector");
}

// A task that throws leaves run(); the tasks of its batch that had already run must not run
// again (nor the one that threw) when the loop runs next.
TEST(EventLoop, ThrowingTaskDoesNotMakeItsBatchRunAgain) {
  test::FdLeakGuard leaks;
  EventLoop loop;
  int before = 0, throws = 0, after = 0;
  loop.post([&] { ++before; });
  loop.post([&] {
    ++throws;
    throw std::runtime_error("task bug");
  });
  EXPECT_THROW(loop.run(), std::runtime_error);
  loop.post([&] { ++after; });
  EXPECT_NO_THROW(run_for(loop, 20ms));
  EXPECT_EQ(before, 1) << "a task of the thrown batch ran again";
  EXPECT_EQ(throws, 1);
  EXPECT_EQ(after, 1);
}

TEST(EventLoop, UnknownBackendThrows) {
  test::FdLeakGuard leaks;
  EXPECT_THROW(EventLoop("kqueue"), std::invalid_argument);
  // The failed construction left nothing behind: a loop can still be made on this thread.
  EventLoop loop;
  EXPECT_EQ(loop.backend(), "epoll");
}

// While a loop lives a second one on its thread aborts (EventLoopDeathTest); once it is
// destroyed the thread may make a new one, and that one works.
TEST(EventLoop, NewLoopAllowedAfterThePreviousIsDestroyed) {
  test::FdLeakGuard leaks;
  for (int round = 0; round < 3; ++round) {
    auto loop = std::make_unique<EventLoop>();
    int ran = 0;
    loop->post([&] { ++ran; });
    run_for(*loop, 1ms);
    EXPECT_EQ(ran, 1) << "round " << round;
  }
}

TEST(EventLoopDeathTest, SecondLoopAbortsAfterANewOneReplacedTheFirst) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        { EventLoop first; }
        EventLoop second;  // allowed: the first is gone
        EventLoop third;   // not allowed: the second lives
      },
      "only one EventLoop may exist per thread");
}

TEST(EventLoopDeathTest, SecondLoopInSameThreadAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        EventLoop first;
        EventLoop second;
      },
      "only one EventLoop may exist per thread");
}

void watch_from_foreign_thread() {
  EventLoop loop;
  auto ab = socket_pair();
  UniqueFd& a = ab.first;
  CountingHandler h;
  std::thread foreign([&] { (void)loop.watch(a.get(), io::kReadable, h); });
  foreign.join();
}

TEST(EventLoopDeathTest, WatchFromForeignThreadAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(watch_from_foreign_thread(), "does not own this EventLoop");
}

TEST(EventLoopDeathTest, TimerFromForeignThreadAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        EventLoop loop;
        std::thread foreign([&] { loop.run_after(1ms, [] {}); });
        foreign.join();
      },
      "does not own this EventLoop");
}

// Every loop-thread-only member checks its thread (event_loop.h): one case per member.
struct ForeignCall {
  const char* name;
  void (*call)(EventLoop& loop, int watched_fd);
};

void call_from_foreign_thread(void (*call)(EventLoop&, int)) {
  EventLoop loop;
  auto ab = socket_pair();
  CountingHandler h;
  (void)loop.watch(ab.first.get(), io::kReadable, h);
  std::thread foreign([&] { call(loop, ab.first.get()); });
  foreign.join();
  loop.unwatch(ab.first.get());
}

std::string foreign_call_name(const ::testing::TestParamInfo<ForeignCall>& param) {
  return param.param.name;
}

class EventLoopForeignThreadDeathTest : public ::testing::TestWithParam<ForeignCall> {};

TEST_P(EventLoopForeignThreadDeathTest, Aborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(call_from_foreign_thread(GetParam().call), "does not own this EventLoop");
}

INSTANTIATE_TEST_SUITE_P(
    Members, EventLoopForeignThreadDeathTest,
    ::testing::Values(
        ForeignCall{"run", [](EventLoop& l, int) { l.run(); }},
        ForeignCall{"set_interest", [](EventLoop& l, int fd) { l.set_interest(fd, 0); }},
        ForeignCall{"interest", [](EventLoop& l, int fd) { (void)l.interest(fd); }},
        ForeignCall{"unwatch", [](EventLoop& l, int fd) { l.unwatch(fd); }},
        ForeignCall{"requeue", [](EventLoop& l, int fd) { l.requeue(fd, io::kReadable); }},
        ForeignCall{"run_every", [](EventLoop& l, int) { l.run_every(1ms, [] {}); }},
        ForeignCall{"cancel", [](EventLoop& l, int) { l.cancel(TimerId{}); }},
        ForeignCall{"on_signal", [](EventLoop& l, int) { l.on_signal(SIGUSR2, [](int) {}); }},
        ForeignCall{"now", [](EventLoop& l, int) { (void)l.now(); }}),
    foreign_call_name);

TEST(EventLoopDeathTest, DestroyFromForeignThreadAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        auto loop = std::make_unique<EventLoop>();
        std::thread foreign([&] { loop.reset(); });
        foreign.join();
      },
      "does not own this EventLoop");
}

void watch_twice() {
  EventLoop loop;
  auto ab = socket_pair();
  UniqueFd& a = ab.first;
  CountingHandler h;
  (void)loop.watch(a.get(), io::kReadable, h);
  (void)loop.watch(a.get(), io::kReadable, h);
}

TEST(EventLoopDeathTest, DoubleWatchAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(watch_twice(), "already watched");
}

// Cross-thread use: post, stop and dispatch from other threads.
class EventLoopThreadsTest : public EventLoopTest {};

TEST_P(EventLoopThreadsTest, PostFromAnotherThread) {
  constexpr int kTasks = 2000;
  std::vector<int> seen;
  int wrong_thread = 0;
  std::thread poster([&] {
    for (int i = 0; i < kTasks; ++i)
      loop_.post([&, i] {
        if (!loop_.in_loop_thread()) ++wrong_thread;
        seen.push_back(i);
      });
  });
  const bool all = run_until(loop_, [&] { return seen.size() == kTasks; });
  poster.join();
  ASSERT_TRUE(all) << seen.size();
  EXPECT_EQ(wrong_thread, 0);
  for (int i = 0; i < kTasks; ++i) ASSERT_EQ(seen[static_cast<size_t>(i)], i) << "FIFO order";
}

TEST_P(EventLoopThreadsTest, PostFromManyThreads) {
  constexpr int kThreads = 4, kEach = 500;
  int count = 0;
  std::vector<std::thread> posters;
  for (int t = 0; t < kThreads; ++t)
    posters.emplace_back([&] {
      for (int i = 0; i < kEach; ++i) loop_.post([&] { ++count; });
    });
  const bool all = run_until(loop_, [&] { return count == kThreads * kEach; });
  for (auto& t : posters) t.join();
  EXPECT_TRUE(all) << count;
}

// Without any timer to wake it, the loop relies on post()'s wake-up alone: a single lost
// wake-up leaves it asleep with tasks queued (only the failsafe ends the wait). The failsafe
// is far off so that a slow machine (or TSan) finishing late is not taken for a lost one.
TEST_P(EventLoopThreadsTest, EveryPostWakesAnIdleLoop) {
  constexpr int kThreads = 3, kEach = 20000;
  int count = 0;
  bool failsafe = false;
  int done_at_failsafe = 0;
  TimerId guard = loop_.run_after(30s, [&] {
    failsafe = true;
    done_at_failsafe = count;
    loop_.stop();
  });
  std::vector<std::thread> posters;
  for (int t = 0; t < kThreads; ++t)
    posters.emplace_back([&] {
      for (int i = 0; i < kEach; ++i) {
        loop_.post([&] {
          if (++count == kThreads * kEach) loop_.stop();
        });
        if (i % 64 == 0) std::this_thread::yield();  // let the loop go idle now and then
      }
    });
  loop_.run();
  for (auto& t : posters) t.join();
  loop_.cancel(guard);
  EXPECT_FALSE(failsafe) << "the loop slept with " << kThreads * kEach - done_at_failsafe
                         << " posted tasks not run: a wake-up was lost";
  EXPECT_EQ(count, kThreads * kEach);
}

TEST_P(EventLoopThreadsTest, StopFromAnotherThread) {
  std::atomic<bool> running{false};
  bool failsafe = false;
  loop_.post([&] { running = true; });
  TimerId guard = loop_.run_after(10s, [&] {
    failsafe = true;
    loop_.stop();
  });
  std::thread stopper([&] {
    test::wait_until([&] { return running.load(); });
    std::this_thread::sleep_for(20ms);  // let the loop block in its wait: stop must wake it
    loop_.stop();
  });
  loop_.run();
  stopper.join();
  loop_.cancel(guard);
  EXPECT_TRUE(running);
  EXPECT_FALSE(failsafe) << "stop() from another thread did not wake the loop";
}

TEST_P(EventLoopThreadsTest, DispatchFromAnotherThreadRunsOnLoopThread) {
  bool ran = false, on_loop = false;
  std::thread other([&] {
    loop_.dispatch([&] {
      ran = true;
      on_loop = loop_.in_loop_thread();
    });
  });
  other.join();
  EXPECT_FALSE(ran) << "dispatch from another thread must not run the task there";
  ASSERT_TRUE(run_until(loop_, [&] { return ran; }));
  EXPECT_TRUE(on_loop);
}

// Tasks are move-only: a descriptor owned by another thread travels inside the task and
// is closed by it on the loop thread (the FdLeakGuard fails the test if it never is).
TEST_P(EventLoopThreadsTest, DescriptorMovedIntoAPostIsClosedOnTheLoopThread) {
  std::atomic<int> number{-1};
  bool closed_on_loop = false;
  std::thread poster([&] {
    auto ab = socket_pair();  // this thread owns both ends
    number = ab.first.get();
    loop_.post([&, fd = std::move(ab.first)]() mutable {
      closed_on_loop = loop_.in_loop_thread() && fd;
      fd.reset();
    });
  });
  poster.join();  // the poster's own end (ab.second) is closed already
  ASSERT_TRUE(run_until(loop_, [&] { return closed_on_loop; }));
  EXPECT_EQ(::fcntl(number.load(), F_GETFD), -1) << "descriptor still open after the task";
}

// The reader sees the counters move forward only, and sees them reach what the loop did:
// it stops once it has read kIterations, and the loop runs until the reader has stopped.
TEST_P(EventLoopThreadsTest, StatsReadableFromAnotherThread) {
  constexpr uint64_t kIterations = 20;
  std::atomic<bool> reader_done{false};
  uint64_t last_iterations = 0, last_events = 0;  // the reader's; read after join
  bool went_back = false;
  std::thread reader([&] {
    const auto deadline = Clock::now() + 10s;
    while (last_iterations < kIterations && Clock::now() < deadline) {
      const LoopStats s = loop_.stats();
      went_back |= s.iterations < last_iterations || s.events < last_events;
      last_iterations = s.iterations;
      last_events = s.events;
      loop_.post([] {});  // an event (the wake-up) for the events counter
      std::this_thread::yield();
    }
    reader_done = true;
  });
  const bool finished = run_until(loop_, [&] { return reader_done.load(); });
  reader.join();
  ASSERT_TRUE(finished);
  EXPECT_FALSE(went_back) << "a counter went backwards";
  EXPECT_GE(last_iterations, kIterations) << "the reader never saw the loop's iterations";
  EXPECT_GE(last_events, 1u) << "the reader never saw an event";
  const LoopStats now = loop_.stats();
  EXPECT_GE(now.iterations, last_iterations);
  EXPECT_GE(now.events, last_events);
}

// The members marked "any thread" do not abort from another thread, and do their job.
TEST_P(EventLoopThreadsTest, AnyThreadMembersWorkFromAnotherThread) {
  bool in_loop = true, edge = false;
  std::string backend;
  int ran = 0;
  std::thread other([&] {
    in_loop = loop_.in_loop_thread();
    backend = std::string(loop_.backend());
    edge = loop_.edge_triggered();
    (void)loop_.stats();
    loop_.post([&] { ++ran; });
    loop_.dispatch([&] { ++ran; });
    loop_.stop();
  });
  other.join();
  TimerId failsafe = loop_.run_after(10s, [&] { loop_.stop(); });
  loop_.run();
  loop_.cancel(failsafe);
  EXPECT_FALSE(in_loop);
  EXPECT_EQ(backend, GetParam());
  EXPECT_EQ(edge, GetParam() == "epoll-et");
  EXPECT_EQ(ran, 2);
}

INSTANTIATE_TEST_SUITE_P(Backends, EventLoopThreadsTest,
                         test::all_backends(), test::backend_name);

}  // namespace
}  // namespace reactor
