// co::Task, spawn, when_all/when_any, sleep and timeout, cancellation, and teardown of a
// loop with coroutines still suspended on it.
#include "reactor/co/spawn.h"
#include "reactor/co/time.h"
#include "reactor/co/when.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <thread>

using namespace std::chrono_literals;
using reactor::EventLoop;
namespace co = reactor::co;

namespace {

co::Task<int> answer() { co_return 42; }

co::Task<int> add_one(int depth) {
  if (depth == 0) co_return 0;
  co_return 1 + co_await add_one(depth - 1);
}

co::Task<void> fail() {
  throw std::runtime_error("boom");
  co_return;
}

// Runs `task` on `loop` until it ends (bounded by a 10 s guard timer); returns its outcome.
template <class T>
co::Spawned<T> run(EventLoop& loop, co::Task<T> task) {
  auto spawned = co::spawn(loop, std::move(task));
  auto guard = loop.run_after(10s, [&loop] { loop.stop(); });
  auto poll = loop.run_every(1ms, [&loop, &spawned] {
    if (spawned.done()) loop.stop();
  });
  if (!spawned.done()) loop.run();
  loop.cancel(guard);
  loop.cancel(poll);
  return spawned;
}

TEST(CoTask, ReturnsValueAndRunsLazily) {
  EventLoop loop;
  bool started = false;
  auto body = [&]() -> co::Task<int> {
    started = true;
    co_return co_await answer();
  };
  co::Task<int> task = body();
  EXPECT_FALSE(started);
  auto spawned = run(loop, std::move(task));
  ASSERT_TRUE(spawned.done());
  EXPECT_EQ(spawned.get(), 42);
}

TEST(CoTask, LongChainsDoNotGrowTheStack) {
  EventLoop loop;
  // 100,000 nested awaits: without symmetric transfer each start and finish would add stack
  // frames and overflow. ASan's instrumentation keeps GCC from making the transfer a tail
  // call, so that build runs a shorter chain (the release build checks the property).
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  constexpr int kDepth = 2000;
#else
  constexpr int kDepth = 100000;
#endif
  auto spawned = run(loop, add_one(kDepth));
  EXPECT_EQ(spawned.get(), kDepth);
}

TEST(CoTask, ExceptionReachesTheAwaiter) {
  EventLoop loop;
  auto body = []() -> co::Task<std::string> {
    try {
      co_await fail();
    } catch (const std::runtime_error& e) {
      co_return e.what();
    }
    co_return "none";
  };
  EXPECT_EQ(run(loop, body()).get(), "boom");
  EXPECT_THROW(run(loop, fail()).get(), std::runtime_error);
}

TEST(CoTask, SpawnCallbackGetsTheOutcome) {
  EventLoop loop;
  int value = 0;
  co::spawn(loop, answer(), [&](co::Outcome<int>&& outcome) {
    value = outcome.value();
    loop.stop();
  });
  EXPECT_EQ(value, 42);  // it never suspended: done inside spawn
}

TEST(CoTask, InvokeKeepsLambdaCapturesAlive) {
  EventLoop loop;
  std::string seen;
  {
    std::string word = "kept";
    auto spawned = co::spawn(
        loop,
        [word, &seen]() -> co::Task<void> {
          co_await co::sleep_for(1ms);
          seen = word;  // read after the first suspension
        });
    auto guard = loop.run_after(10s, [&] { loop.stop(); });
    auto poll = loop.run_every(1ms, [&] {
      if (spawned.done()) loop.stop();
    });
    loop.run();
    loop.cancel(guard);
    loop.cancel(poll);
  }
  EXPECT_EQ(seen, "kept");
}

TEST(CoTask, SleepWaitsOnTheLoopTimers) {
  EventLoop loop;
  auto body = []() -> co::Task<reactor::Clock::duration> {
    auto start = reactor::Clock::now();
    co_await co::sleep_for(20ms);
    co_return reactor::Clock::now() - start;
  };
  EXPECT_GE(run(loop, body()).get(), 20ms);
}

TEST(CoTask, WhenAllReturnsEveryValue) {
  EventLoop loop;
  auto slow = []() -> co::Task<int> {
    co_await co::sleep_for(5ms);
    co_return 1;
  };
  auto body = [&]() -> co::Task<int> {
    auto [a, b, c] = co_await co::when_all(slow(), answer(), co::as_task(co::sleep_for(1ms)));
    static_assert(std::is_same_v<decltype(c), std::monostate>);
    co_return a + b;
  };
  EXPECT_EQ(run(loop, body()).get(), 43);
}

TEST(CoTask, WhenAllStopsTheOthersOnError) {
  EventLoop loop;
  bool slow_cancelled = false;
  auto slow = [&]() -> co::Task<void> {
    try {
      co_await co::sleep_for(10s);
    } catch (const std::system_error& e) {
      slow_cancelled = e.code() == std::errc::operation_canceled;
      throw;
    }
  };
  auto body = [&]() -> co::Task<void> { co_await co::when_all(slow(), fail()); };
  EXPECT_THROW(run(loop, body()).get(), std::runtime_error);
  EXPECT_TRUE(slow_cancelled);
}

TEST(CoTask, WhenAnyCancelsTheLoser) {
  EventLoop loop;
  bool loser_cancelled = false;
  auto loser = [&]() -> co::Task<int> {
    try {
      co_await co::sleep_for(10s);
    } catch (const std::system_error& e) {
      loser_cancelled = e.code() == std::errc::operation_canceled;
      throw;
    }
    co_return 0;
  };
  auto winner = []() -> co::Task<std::string> {
    co_await co::sleep_for(1ms);
    co_return "won";
  };
  auto body = [&]() -> co::Task<std::string> {
    auto result = co_await co::when_any(loser(), winner());
    EXPECT_EQ(result.index(), 1u);
    co_return std::get<1>(result);
  };
  EXPECT_EQ(run(loop, body()).get(), "won");
  EXPECT_TRUE(loser_cancelled);
}

TEST(CoTask, WhenAllKeepsATupleResultWhole) {
  EventLoop loop;
  auto pair = []() -> co::Task<std::tuple<int, int>> { co_return std::tuple(1, 2); };
  auto body = [&]() -> co::Task<int> {
    auto result = co_await co::when_all(pair(), answer());
    static_assert(std::is_same_v<decltype(result), std::tuple<std::tuple<int, int>, int>>);
    co_return std::get<1>(std::get<0>(result)) + std::get<1>(result);
  };
  EXPECT_EQ(run(loop, body()).get(), 44);
}

// Once a child has won, the others are not started: one that would finish at once (a read
// with bytes at hand) would otherwise take what it finished with, only to have it dropped.
TEST(CoTask, WhenAnyStartsNoChildAfterOneWonAtOnce) {
  EventLoop loop;
  bool second_started = false;
  auto second = [&]() -> co::Task<int> {
    second_started = true;
    co_return 2;
  };
  auto body = [&]() -> co::Task<size_t> {
    auto result = co_await co::when_any(answer(), second());
    co_return result.index();
  };
  EXPECT_EQ(run(loop, body()).get(), 0u);
  EXPECT_FALSE(second_started);
}

TEST(CoTask, TimeoutThrowsTimedOut) {
  EventLoop loop;
  auto body = []() -> co::Task<void> { co_await co::timeout(co::sleep_for(10s), 5ms); };
  try {
    run(loop, body()).get();
    FAIL() << "no timeout";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::timed_out);
  }
  auto quick = []() -> co::Task<int> { co_return co_await co::timeout(answer(), 10s); };
  EXPECT_EQ(run(loop, quick()).get(), 42);
}

TEST(CoTask, TimeoutAroundAWhenAll) {
  EventLoop loop;
  auto body = []() -> co::Task<void> {
    co_await co::timeout(co::when_all(co::as_task(co::sleep_for(10s)), answer()), 5ms);
  };
  try {
    run(loop, body()).get();
    FAIL() << "no timeout";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::timed_out);
  }
}

TEST(CoTask, StopTokenCancelsAWait) {
  EventLoop loop;
  std::stop_source source;
  auto body = [&]() -> co::Task<bool> {
    try {
      co_await co::sleep_for(10s, source.get_token());
    } catch (const std::system_error& e) {
      co_return e.code() == std::errc::operation_canceled;
    }
    co_return false;
  };
  loop.run_after(2ms, [&] { source.request_stop(); });
  EXPECT_TRUE(run(loop, body()).get());
}

TEST(CoTaskThreads, StopTokenFromAnotherThread) {
  EventLoop loop;
  std::stop_source source;
  auto body = [&]() -> co::Task<bool> {
    try {
      co_await co::sleep_for(10s, source.get_token());
    } catch (const std::system_error& e) {
      co_return e.code() == std::errc::operation_canceled;
    }
    co_return false;
  };
  std::jthread stopper([&] {
    std::this_thread::sleep_for(5ms);  // not a race fix: stopping late or early both pass
    source.request_stop();
  });
  EXPECT_TRUE(run(loop, body()).get());
}

TEST(CoTask, SpawnedRequestStop) {
  EventLoop loop;
  auto body = []() -> co::Task<void> { co_await co::sleep_for(10s); };
  auto spawned = co::spawn(loop, body());
  loop.run_after(2ms, [&] { spawned.request_stop(); });
  auto guard = loop.run_after(10s, [&] { loop.stop(); });
  auto poll = loop.run_every(1ms, [&] {
    if (spawned.done()) loop.stop();
  });
  loop.run();
  loop.cancel(guard);
  loop.cancel(poll);
  ASSERT_TRUE(spawned.done());
  EXPECT_THROW(spawned.get(), std::system_error);
}

TEST(CoTask, DestroyingTheLoopFreesSuspendedCoroutines) {
  int destroyed = 0;
  bool resumed = false;
  struct Probe {
    int* count;
    ~Probe() { ++*count; }
  };
  {
    EventLoop loop;
    for (int i = 0; i < 100; ++i) {
      co::spawn(loop, [&]() -> co::Task<void> {
        Probe probe{&destroyed};
        co_await co::when_all(co::as_task(co::sleep_for(10s)), co::as_task(co::sleep_for(20s)));
        resumed = true;
      });
    }
    loop.run_after(1ms, [&] { loop.stop(); });
    loop.run();
  }
  EXPECT_EQ(destroyed, 100);  // under ASan, a leaked frame or a use after free fails too
  EXPECT_FALSE(resumed);
}

TEST(CoTask, ThousandsOfConcurrentCoroutines) {
  EventLoop loop;
  int finished = 0;
  for (int i = 0; i < 5000; ++i)
    co::spawn(loop, [&finished, i]() -> co::Task<void> {
      co_await co::sleep_for(std::chrono::microseconds(i % 50));
      ++finished;
    });
  auto guard = loop.run_after(10s, [&] { loop.stop(); });
  auto poll = loop.run_every(1ms, [&] {
    if (finished == 5000) loop.stop();
  });
  loop.run();
  loop.cancel(guard);
  loop.cancel(poll);
  EXPECT_EQ(finished, 5000);
}

}  // namespace
