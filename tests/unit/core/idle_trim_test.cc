// Unit tests for reactor::detail::IdleTrim (src/core/idle_trim.cc), driven with explicit
// time points and a counting trim function: no clock, no loop, no waiting.
#include "core/idle_trim.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "test_util.h"

namespace reactor::detail {
namespace {

using namespace std::chrono_literals;
using std::chrono::milliseconds;

int g_trims = 0;
void count_trim() {
  ++g_trims;
}

class IdleTrimTest : public ::testing::Test {
 protected:
  void SetUp() override { g_trims = 0; }
  const Clock::time_point t0_ = Clock::now();
  IdleTrim trim_{&count_trim};
};

TEST_F(IdleTrimTest, NeverTrimsALoopThatDidNothing) {
  for (auto t : {0s, 1s, 5s, 60s}) trim_.after_iteration(t0_ + t, false);
  EXPECT_EQ(g_trims, 0);
  EXPECT_EQ(trim_.bound_wait(milliseconds(-1), t0_ + 60s), milliseconds(-1));
  EXPECT_EQ(trim_.bound_wait(milliseconds(250), t0_ + 60s), milliseconds(250));
}

TEST_F(IdleTrimTest, TrimsOnceWhenQuietForTheWholePeriodAfterWork) {
  trim_.after_iteration(t0_, true);
  trim_.after_iteration(t0_ + 999ms, false);
  EXPECT_EQ(g_trims, 0);
  trim_.after_iteration(t0_ + IdleTrim::kQuiet, false);
  EXPECT_EQ(g_trims, 1);
  for (auto t : {2s, 3s, 60s}) trim_.after_iteration(t0_ + t, false);
  EXPECT_EQ(g_trims, 1);  // nothing happened since: nothing more to give back
  EXPECT_EQ(trim_.bound_wait(milliseconds(-1), t0_ + 60s), milliseconds(-1));
}

TEST_F(IdleTrimTest, WorkRestartsTheQuietPeriod) {
  trim_.after_iteration(t0_, true);
  trim_.after_iteration(t0_ + 900ms, true);
  trim_.after_iteration(t0_ + 1500ms, false);
  EXPECT_EQ(g_trims, 0);
  trim_.after_iteration(t0_ + 1900ms, false);
  EXPECT_EQ(g_trims, 1);
  // A second burst owes a second trim.
  trim_.after_iteration(t0_ + 10s, true);
  trim_.after_iteration(t0_ + 11s, false);
  EXPECT_EQ(g_trims, 2);
}

TEST_F(IdleTrimTest, BoundsTheWaitToWhenTheTrimIsDue) {
  trim_.after_iteration(t0_, true);
  EXPECT_EQ(trim_.bound_wait(milliseconds(-1), t0_ + 300ms), 700ms);  // forever: cut short
  EXPECT_EQ(trim_.bound_wait(milliseconds(5000), t0_ + 300ms), 700ms);
  EXPECT_EQ(trim_.bound_wait(milliseconds(200), t0_ + 300ms), 200ms);  // an earlier timer
  EXPECT_EQ(trim_.bound_wait(milliseconds(0), t0_ + 300ms), 0ms);
  EXPECT_EQ(trim_.bound_wait(milliseconds(-1), t0_ + 3s), 0ms);  // overdue
  // Rounded up: waking a little early would only cost an iteration that trims nothing.
  EXPECT_EQ(trim_.bound_wait(milliseconds(-1), t0_ + IdleTrim::kQuiet - 100us), 1ms);
}

// A wait bounded this way always ends in an iteration that trims: no spinning at 0 ms.
TEST_F(IdleTrimTest, TheBoundedWaitEndsInTheTrim) {
  trim_.after_iteration(t0_, true);
  Clock::time_point now = t0_ + 123456us;
  const milliseconds wait = trim_.bound_wait(milliseconds(-1), now);
  trim_.after_iteration(now + wait, false);
  EXPECT_EQ(g_trims, 1);
}

// What the trim is for: memory a thread freed inside its arena, below a block still in
// use (so the arena cannot shrink from its top), leaves the process.
TEST(IdleTrimHeap, TrimHeapReturnsFreedArenaMemory) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "the sanitizer's allocator replaces malloc; malloc_trim has nothing to do";
#elif !defined(__GLIBC__)
  GTEST_SKIP() << "trim_heap is a no-op without glibc";
#else
  constexpr size_t kBlock = 32 << 10, kCount = 1024;  // 32 MiB below the mmap threshold
  size_t held = 0, freed_rss = 0, trimmed_rss = 0;
  std::thread([&] {  // a thread of its own: its own arena, as a loop thread has
    std::vector<char*> blocks;
    for (size_t i = 0; i < kCount; ++i) {
      blocks.push_back(static_cast<char*>(std::malloc(kBlock)));
      std::memset(blocks.back(), 1, kBlock);
    }
    held = test::rss_bytes();
    for (size_t i = 0; i + 1 < kCount; ++i) std::free(blocks[i]);
    freed_rss = test::rss_bytes();
    IdleTrim::trim_heap();
    trimmed_rss = test::rss_bytes();
    std::free(blocks.back());
  })
      .join();
  ASSERT_GT(freed_rss, held - (kBlock * kCount) / 2) << "glibc returned it without a trim";
  EXPECT_LT(trimmed_rss, held - (kBlock * kCount) / 2);
#endif
}

}  // namespace
}  // namespace reactor::detail
