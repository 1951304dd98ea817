// Unit tests for net::LoopPool (src/net/loop_pool.cc). Every test here runs loops on
// their own threads (suite LoopPoolThreads: CTest label "threads").
#include "reactor/net/loop_pool.h"

#include <atomic>
#include <future>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "test_util.h"

namespace reactor::net {
namespace {

using test::wait_until;

/// Runs `fn` on `loop` and waits for its result.
template <class Fn>
auto on_loop(EventLoop& loop, Fn fn) {
  std::promise<decltype(fn())> result;
  auto future = result.get_future();
  loop.post([&] {
    if constexpr (std::is_void_v<decltype(fn())>) {
      fn();
      result.set_value();
    } else {
      result.set_value(fn());
    }
  });
  EXPECT_EQ(future.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  return future.get();
}

TEST(LoopPoolThreads, StartAndStop) {
  test::FdLeakGuard leaks;
  LoopPool pool(3);
  EXPECT_EQ(pool.size(), 0u);
  pool.start();
  ASSERT_EQ(pool.size(), 3u);
  for (size_t i = 0; i < pool.size(); ++i) {
    EXPECT_FALSE(pool.loop(i).in_loop_thread());
    EXPECT_EQ(pool.loop(i).backend(), "epoll");
  }
  pool.stop();
  EXPECT_EQ(pool.size(), 0u);
  pool.stop();  // twice: harmless
}

TEST(LoopPoolThreads, LoopsRunOnDistinctThreads) {
  test::FdLeakGuard leaks;
  LoopPool pool(4);
  pool.start();
  std::set<std::thread::id> threads;
  std::set<EventLoop*> loops;
  for (size_t i = 0; i < pool.size(); ++i) {
    EventLoop& loop = pool.loop(i);
    loops.insert(&loop);
    auto [id, inside] = on_loop(loop, [&loop] {
      return std::make_pair(std::this_thread::get_id(), loop.in_loop_thread());
    });
    EXPECT_TRUE(inside);
    threads.insert(id);
  }
  EXPECT_EQ(loops.size(), 4u);
  EXPECT_EQ(threads.size(), 4u);
  EXPECT_EQ(threads.count(std::this_thread::get_id()), 0u);
}

TEST(LoopPoolThreads, PostToEachLoop) {
  test::FdLeakGuard leaks;
  constexpr int kTasks = 1000;
  LoopPool pool(3);
  pool.start();
  std::vector<std::atomic<int>> counts(pool.size());
  std::atomic<int> wrong_thread{0};
  for (int t = 0; t < kTasks; ++t)
    for (size_t i = 0; i < pool.size(); ++i) {
      EventLoop* loop = &pool.loop(i);
      loop->post([&counts, &wrong_thread, i, loop] {
        if (!loop->in_loop_thread()) ++wrong_thread;
        ++counts[i];
      });
    }
  EXPECT_TRUE(wait_until([&] {
    for (auto& c : counts)
      if (c != kTasks) return false;
    return true;
  }));
  EXPECT_EQ(wrong_thread, 0);
  pool.stop();
}

TEST(LoopPoolThreads, TimersRunOnPoolLoops) {
  test::FdLeakGuard leaks;
  LoopPool pool(2);
  pool.start();
  std::atomic<int> fired{0};
  for (size_t i = 0; i < pool.size(); ++i) {
    EventLoop& loop = pool.loop(i);
    loop.post([&] { loop.run_after(std::chrono::milliseconds(5), [&] { ++fired; }); });
  }
  EXPECT_TRUE(wait_until([&] { return fired == 2; }));
}

TEST(LoopPoolThreads, StopRunsTasksAlreadyPosted) {
  LoopPool pool(2);
  pool.start();
  std::atomic<int> ran{0};
  for (size_t i = 0; i < pool.size(); ++i)
    for (int t = 0; t < 100; ++t) pool.loop(i).post([&] { ++ran; });
  pool.stop();
  EXPECT_EQ(ran, 200);
}

TEST(LoopPoolThreads, DestructorStops) {
  test::FdLeakGuard leaks;
  std::atomic<int> ran{0};
  {
    LoopPool pool(2);
    pool.start();
    pool.loop(1).post([&] { ++ran; });
  }
  EXPECT_EQ(ran, 1);
}

// stop() tells each loop to stop from this thread while the loop's own thread may already
// be leaving run() and destroying the loop: stop() must not touch a loop after that.
TEST(LoopPoolThreads, StopRacesWithTheLoopsExit) {
  test::FdLeakGuard leaks;
  std::atomic<int> ran{0};
  for (int round = 0; round < 50; ++round) {
    LoopPool pool(2);
    pool.start();
    for (size_t i = 0; i < pool.size(); ++i) pool.loop(i).post([&] { ++ran; });
    pool.stop();
  }
  EXPECT_EQ(ran, 100);
}

TEST(LoopPoolThreads, BackendIsPassedOn) {
  test::FdLeakGuard leaks;
  LoopPool pool(2, "poll");
  pool.start();
  for (size_t i = 0; i < pool.size(); ++i)
    EXPECT_EQ(on_loop(pool.loop(i), [&] { return std::string(pool.loop(i).backend()); }), "poll");
}

TEST(LoopPoolThreads, UnknownBackendThrowsFromStartAndLeavesNothing) {
  test::FdLeakGuard leaks;
  LoopPool pool(2, "nope");
  EXPECT_THROW(pool.start(), std::invalid_argument);
  EXPECT_EQ(pool.size(), 0u);
}

TEST(LoopPoolThreads, EmptyPool) {
  LoopPool pool(0);
  pool.start();
  EXPECT_EQ(pool.size(), 0u);
  pool.stop();
}

}  // namespace
}  // namespace reactor::net
