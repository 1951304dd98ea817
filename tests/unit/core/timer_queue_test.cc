// Unit tests for reactor::detail::TimerQueue (src/core/timer_queue.cc), driven with
// explicit time points: no clock, no loop, no waiting.
#include "core/timer_queue.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace reactor::detail {
namespace {

using namespace std::chrono_literals;
constexpr Clock::duration kOnce = Clock::duration::zero();

class TimerQueueTest : public ::testing::Test {
 protected:
  const Clock::time_point t0_ = Clock::now();
  TimerQueue q_;
  std::vector<int> fired_;

  TimerId at(Clock::duration offset, int tag, Clock::duration interval = kOnce) {
    return q_.add(t0_ + offset, interval, [this, tag] { fired_.push_back(tag); });
  }
};

TEST_F(TimerQueueTest, EmptyQueue) {
  EXPECT_EQ(q_.size(), 0u);
  EXPECT_FALSE(q_.next_deadline());
  q_.run_due(t0_ + 1h);
  EXPECT_TRUE(fired_.empty());
}

TEST_F(TimerQueueTest, FiresInDeadlineOrder) {
  at(30ms, 3);
  at(10ms, 1);
  at(20ms, 2);
  EXPECT_EQ(q_.size(), 3u);
  EXPECT_EQ(q_.next_deadline(), t0_ + 10ms);
  q_.run_due(t0_ + 1h);
  EXPECT_EQ(fired_, (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(q_.size(), 0u);
  EXPECT_FALSE(q_.next_deadline());
}

TEST_F(TimerQueueTest, FiresOnlyWhatIsDue) {
  at(10ms, 1);
  at(20ms, 2);
  q_.run_due(t0_ + 9ms);
  EXPECT_TRUE(fired_.empty());
  q_.run_due(t0_ + 10ms);  // a deadline equal to now is due
  EXPECT_EQ(fired_, (std::vector<int>{1}));
  EXPECT_EQ(q_.next_deadline(), t0_ + 20ms);
  EXPECT_EQ(q_.size(), 1u);
}

TEST_F(TimerQueueTest, TiesFireInSchedulingOrder) {
  for (int i = 0; i < 100; ++i) at(5ms, i);
  at(1ms, -1);
  q_.run_due(t0_ + 5ms);
  ASSERT_EQ(fired_.size(), 101u);
  EXPECT_EQ(fired_.front(), -1);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(fired_[static_cast<size_t>(i) + 1], i);
}

TEST_F(TimerQueueTest, Cancel) {
  TimerId a = at(10ms, 1);
  TimerId b = at(20ms, 2);
  EXPECT_TRUE(a);
  q_.cancel(a);
  EXPECT_EQ(q_.size(), 1u);
  EXPECT_EQ(q_.next_deadline(), t0_ + 20ms);  // the cancelled earlier one is skipped
  q_.run_due(t0_ + 1h);
  EXPECT_EQ(fired_, (std::vector<int>{2}));
  q_.cancel(a);  // stale ids: harmless
  q_.cancel(b);
  q_.cancel(TimerId{});
  q_.cancel(TimerId{12345, 7});  // a slot that never existed
  EXPECT_EQ(q_.size(), 0u);
}

TEST_F(TimerQueueTest, StaleIdDoesNotCancelTheSlotsNextTimer) {
  TimerId old = at(1ms, 1);
  q_.run_due(t0_ + 1ms);
  TimerId reused = at(2ms, 2);
  EXPECT_EQ(reused.slot, old.slot);              // the slot is recycled...
  EXPECT_NE(reused.generation, old.generation);  // ...under a new generation
  q_.cancel(old);
  EXPECT_EQ(q_.size(), 1u);
  q_.run_due(t0_ + 2ms);
  EXPECT_EQ(fired_, (std::vector<int>{1, 2}));
}

TEST_F(TimerQueueTest, PeriodicKeepsItsPhaseAndSkipsMissedTicks) {
  at(10ms, 1, 10ms);
  q_.run_due(t0_ + 10ms);
  EXPECT_EQ(q_.next_deadline(), t0_ + 20ms);
  // Late by 3.5 periods: fires once (no burst), next deadline stays on the 10 ms grid.
  q_.run_due(t0_ + 55ms);
  EXPECT_EQ(fired_.size(), 2u);
  EXPECT_EQ(q_.next_deadline(), t0_ + 60ms);
  q_.run_due(t0_ + 60ms);
  EXPECT_EQ(fired_.size(), 3u);
  EXPECT_EQ(q_.size(), 1u);
}

TEST_F(TimerQueueTest, PeriodicCountsFromTheDeadlineNotFromWhenItRan) {
  at(10ms, 1, 10ms);
  q_.run_due(t0_ + 13ms);  // fired 3 ms late
  EXPECT_EQ(q_.next_deadline(), t0_ + 20ms) << "the lateness carried into the schedule";
  q_.run_due(t0_ + 29ms);  // 9 ms late: still on the grid
  EXPECT_EQ(q_.next_deadline(), t0_ + 30ms);
  EXPECT_EQ(fired_.size(), 2u);
}

TEST_F(TimerQueueTest, PeriodicCancelledFromItsOwnCallback) {
  TimerId id;
  int fired = 0;
  id = q_.add(t0_ + 1ms, 1ms, [&] {
    if (++fired == 3) q_.cancel(id);
  });
  for (int ms = 1; ms <= 10; ++ms) q_.run_due(t0_ + std::chrono::milliseconds(ms));
  EXPECT_EQ(fired, 3);
  EXPECT_EQ(q_.size(), 0u);
  EXPECT_FALSE(q_.next_deadline());
}

TEST_F(TimerQueueTest, OneShotCancelledFromItsOwnCallbackIsHarmless) {
  TimerId id;
  TimerId other = at(5ms, 2);
  id = q_.add(t0_ + 1ms, kOnce, [&] {
    fired_.push_back(1);
    q_.cancel(id);
  });
  q_.run_due(t0_ + 10ms);
  EXPECT_EQ(fired_, (std::vector<int>{1, 2}));
  q_.cancel(other);
}

TEST_F(TimerQueueTest, CallbackCancelsAnotherDueTimer) {
  TimerId victim;
  q_.add(t0_ + 1ms, kOnce, [&] {
    fired_.push_back(1);
    q_.cancel(victim);
  });
  victim = at(2ms, 2);
  at(3ms, 3);
  q_.run_due(t0_ + 10ms);
  EXPECT_EQ(fired_, (std::vector<int>{1, 3}));
}

TEST_F(TimerQueueTest, TimersAddedByCallbacksWaitForTheNextRun) {
  q_.add(t0_, kOnce, [&] {
    fired_.push_back(1);
    at(0ms, 2);  // already due, but must not run in this call
  });
  q_.run_due(t0_ + 1ms);
  EXPECT_EQ(fired_, (std::vector<int>{1}));
  EXPECT_EQ(q_.size(), 1u);
  q_.run_due(t0_ + 1ms);
  EXPECT_EQ(fired_, (std::vector<int>{1, 2}));
}

TEST_F(TimerQueueTest, CallbackMayAddManyTimers) {
  // Growing the slot table from inside a callback must not break the firing timer
  // (its slot may move), periodic or not.
  int ticks = 0;
  q_.add(t0_ + 1ms, 1ms, [&] {
    ++ticks;
    for (int i = 0; i < 1000; ++i) at(1h, i);
  });
  q_.run_due(t0_ + 1ms);
  q_.run_due(t0_ + 2ms);
  q_.run_due(t0_ + 3ms);
  EXPECT_EQ(ticks, 3);
  EXPECT_EQ(q_.size(), 3001u);
}

TEST_F(TimerQueueTest, CompactionAfterManyCancels) {
  constexpr int kTimers = 5000;
  std::vector<TimerId> ids;
  for (int i = 0; i < kTimers; ++i) ids.push_back(at(std::chrono::milliseconds(i + 1), i));
  // Cancel the earliest 4500: the heap is rebuilt on the way (stale > live).
  for (int i = 0; i < 4500; ++i) q_.cancel(ids[static_cast<size_t>(i)]);
  EXPECT_EQ(q_.size(), 500u);
  EXPECT_EQ(q_.next_deadline(), t0_ + std::chrono::milliseconds(4501));
  q_.run_due(t0_ + 1h);
  ASSERT_EQ(fired_.size(), 500u);
  for (size_t i = 0; i < fired_.size(); ++i) EXPECT_EQ(fired_[i], 4500 + static_cast<int>(i));
  EXPECT_EQ(q_.size(), 0u);
  EXPECT_FALSE(q_.next_deadline());
}

TEST_F(TimerQueueTest, CompactionKeepsTieOrder) {
  std::vector<TimerId> victims;
  for (int i = 0; i < 3000; ++i) {
    victims.push_back(at(1ms, -1));
    at(2ms, i);
    victims.push_back(at(3ms, -1));
  }
  for (TimerId id : victims) q_.cancel(id);
  EXPECT_EQ(q_.size(), 3000u);
  q_.run_due(t0_ + 2ms);
  ASSERT_EQ(fired_.size(), 3000u);
  for (int i = 0; i < 3000; ++i) ASSERT_EQ(fired_[static_cast<size_t>(i)], i);
}

TEST_F(TimerQueueTest, TwoHundredThousandAddAndCancel) {
  constexpr int kTimers = 200'000;
  std::vector<TimerId> ids;
  ids.reserve(kTimers);
  for (int i = 0; i < kTimers; ++i) ids.push_back(at(std::chrono::microseconds(i), i));
  EXPECT_EQ(q_.size(), static_cast<size_t>(kTimers));
  // Cancel every one but each 1000th, in an order unrelated to the deadlines.
  for (int i = kTimers - 1; i >= 0; --i)
    if (i % 1000 != 0) q_.cancel(ids[static_cast<size_t>(i)]);
  EXPECT_EQ(q_.size(), static_cast<size_t>(kTimers / 1000));
  EXPECT_EQ(q_.next_deadline(), t0_);
  q_.run_due(t0_ + 1h);
  ASSERT_EQ(fired_.size(), static_cast<size_t>(kTimers / 1000));
  for (size_t i = 0; i < fired_.size(); ++i) EXPECT_EQ(fired_[i], static_cast<int>(i) * 1000);
  // Slots are reused: a second round does not grow anything.
  for (int i = 0; i < kTimers; ++i) q_.cancel(at(1ms, i));
  EXPECT_EQ(q_.size(), 0u);
  EXPECT_FALSE(q_.next_deadline());
}

TEST(TimerQueueDeathTest, NegativeIntervalAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        TimerQueue q;
        q.add(Clock::now(), -1ms, [] {});
      },
      "interval must not be negative");
}

}  // namespace
}  // namespace reactor::detail
