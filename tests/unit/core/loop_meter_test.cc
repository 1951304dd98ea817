// Unit tests for a loop's measurement of itself (src/core/loop_meter.cc and its hooks in
// event_loop.cc and timer_queue.cc): off by default, iterations and time accounted, timer
// lag, stalls counted and reported with what ran, on every selector backend.
#include "core/loop_meter.h"

#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "reactor/core/log.h"
#include "test_util.h"

namespace reactor {
namespace {

using test::run_for;
using test::run_until;
using namespace std::chrono_literals;

// Holds the loop thread for `d`, as a slow callback would.
void spin(Clock::duration d) {
  const auto end = Clock::now() + d;
  while (Clock::now() < end) {
  }
}

class ReadSpinner final : public Handler {
 public:
  ReadSpinner(int fd, Clock::duration hold) : fd_(fd), hold_(hold) {}
  void handle_events(uint32_t) override {
    char buf[64];
    while (::read(fd_, buf, sizeof buf) > 0) {
    }
    spin(hold_);
    ++calls;
  }
  int calls = 0;

 private:
  int fd_;
  Clock::duration hold_;
};

uint64_t lag_count(const LoopStats& s) {
  uint64_t n = 0;
  for (uint64_t c : s.lag) n += c;
  return n;
}

class LoopMeterTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    loop_.set_metrics(true);
    loop_.set_stall_threshold(10ms);
    loop_.on_stall([this](const StallReport& r) { reports_.push_back(r); });
  }
  test::FdLeakGuard leaks_;
  EventLoop loop_{GetParam()};
  std::vector<StallReport> reports_;
};

TEST(LoopMeterDefaults, OffUnlessAsked) {
  EventLoop loop;
  EXPECT_FALSE(loop.measuring());
  int fired = 0;
  loop.run_after(1ms, [&] { spin(20ms); });
  ASSERT_TRUE(run_until(loop, [&] { return ++fired > 30; }));
  const LoopStats s = loop.stats();
  EXPECT_GT(s.iterations, 0u);  // always counted
  EXPECT_EQ(s.busy.count(), 0);
  EXPECT_EQ(s.waiting.count(), 0);
  EXPECT_EQ(s.stalls, 0u);
  EXPECT_EQ(lag_count(s), 0u);
}

TEST(LoopMeterDefaults, NewLoopsTakeTheDefault) {
  EXPECT_FALSE(EventLoop::metrics_default());
  EventLoop::set_metrics_default(true);
  EventLoop::set_stall_threshold_default(7ms);
  EXPECT_EQ(EventLoop::stall_threshold_default(), 7ms);
  {
    EventLoop loop;
    EXPECT_TRUE(loop.measuring());
  }
  EventLoop::set_metrics_default(false);
  EventLoop::set_stall_threshold_default(100ms);
  EventLoop loop;
  EXPECT_FALSE(loop.measuring());
}

TEST_P(LoopMeterTest, BusyAndWaitingAddUpToTheTimeRun) {
  const auto before = Clock::now();
  loop_.set_metrics(false);
  loop_.set_metrics(true);  // restarts the measurement now
  TimerId ticks = loop_.run_every(2ms, [] { spin(1ms); });
  run_for(loop_, 60ms);
  loop_.cancel(ticks);
  const auto elapsed = Clock::now() - before;
  const LoopStats s = loop_.stats();
  // What is measured lies inside [before, now], and ends no earlier than the stop timer's
  // deadline, 60 ms after before.
  EXPECT_LE(s.busy + s.waiting, elapsed);
  EXPECT_GE(s.busy + s.waiting, 55ms);
  EXPECT_GE(s.busy, 1ms);  // at least one tick ran
  EXPECT_GT(s.iterations, 1u);
}

TEST_P(LoopMeterTest, CountsTimerLag) {
  // Two timers due together: the second starts only after the first held the loop 30 ms.
  const auto due = Clock::now() + 2ms;
  loop_.run_after(2ms, [] { spin(30ms); });
  loop_.run_after(2ms, [] {});
  loop_.run_after(due - Clock::now() + 50ms, [this] { loop_.stop(); });
  loop_.run();
  const LoopStats s = loop_.stats();
  EXPECT_EQ(lag_count(s), 3u);
  uint64_t late = 0;  // above 25 ms
  for (size_t i = 0; i < LoopStats::kLagBounds.size(); ++i)
    if (LoopStats::kLagBounds[i] > 25ms) late += s.lag[i];
  late += s.lag.back();
  EXPECT_GE(late, 1u);
  EXPECT_GE(s.lag_sum, 30ms);
}

TEST_P(LoopMeterTest, ReportsAStalledReadWithItsDescriptor) {
  auto [a, b] = test::socket_pair();
  ReadSpinner h(a.get(), 30ms);
  ASSERT_FALSE(loop_.watch(a.get(), io::kReadable, h));
  test::write_all(b.get(), "x");
  ASSERT_TRUE(run_until(loop_, [&] { return h.calls == 1; }));
  run_for(loop_, 5ms);
  loop_.unwatch(a.get());
  EXPECT_EQ(loop_.stats().stalls, 1u);
  ASSERT_EQ(reports_.size(), 1u);
  const StallReport& r = reports_[0];
  EXPECT_EQ(r.loop, loop_.index());
  ASSERT_EQ(r.callbacks, 1u);
  EXPECT_EQ(r.ran[0].kind, CallbackKind::io);
  EXPECT_EQ(r.ran[0].fd, a.get());
  EXPECT_TRUE(r.ran[0].events & io::kReadable);
  EXPECT_GE(r.held, 30ms);
  EXPECT_EQ(r.suppressed, 0u);
  EXPECT_EQ(describe_callback(r.ran[0]), "read on fd " + std::to_string(a.get()));
}

// Callbacks are not timed one by one: an iteration that ran several lists them all, in the
// order they ran, the first StallReport::kListed of them.
TEST_P(LoopMeterTest, ListsEveryCallbackOfAStalledIteration) {
  std::vector<std::pair<UniqueFd, UniqueFd>> pairs;
  std::vector<std::unique_ptr<ReadSpinner>> handlers;
  for (int i = 0; i < 6; ++i) {
    pairs.push_back(test::socket_pair());
    handlers.push_back(std::make_unique<ReadSpinner>(pairs.back().first.get(), 3ms));
    ASSERT_FALSE(loop_.watch(pairs.back().first.get(), io::kReadable, *handlers.back()));
  }
  for (auto& [a, b] : pairs) test::write_all(b.get(), "x");  // all ready before the wait
  ASSERT_TRUE(run_until(loop_, [&] { return !reports_.empty(); }));
  for (auto& [a, b] : pairs) loop_.unwatch(a.get());
  const StallReport& r = reports_[0];
  EXPECT_EQ(r.callbacks, 6u);
  EXPECT_GE(r.held, 18ms);
  for (size_t i = 0; i < StallReport::kListed; ++i) EXPECT_EQ(r.ran[i].kind, CallbackKind::io);
  const std::string line = to_string(r);
  EXPECT_NE(line.find("; ran read on fd "), std::string::npos) << line;
  EXPECT_NE(line.find(" and 2 more"), std::string::npos) << line;
}

TEST_P(LoopMeterTest, NamesTimersAndTasks) {
  TimerId timer = loop_.run_after(1ms, [] { spin(30ms); });
  ASSERT_TRUE(run_until(loop_, [&] { return !reports_.empty(); }));
  // run_until's own check timer may be due in the same iteration: look for ours in the list.
  const StallReport& r = reports_[0];
  const StallReport::Callback* ours = nullptr;
  for (size_t i = 0; i < std::min<size_t>(r.callbacks, StallReport::kListed); ++i)
    if (r.ran[i].kind == CallbackKind::timer && r.ran[i].timer == timer.slot) ours = &r.ran[i];
  ASSERT_NE(ours, nullptr) << to_string(r);
  EXPECT_EQ(describe_callback(*ours), "timer " + std::to_string(timer.slot));
}

TEST_P(LoopMeterTest, NamesPostedTasks) {
  loop_.post([] { spin(30ms); });
  ASSERT_TRUE(run_until(loop_, [&] { return !reports_.empty(); }));
  // The wake-up that brought the task is the loop's own: not listed.
  ASSERT_EQ(reports_[0].callbacks, 1u);
  EXPECT_EQ(reports_[0].ran[0].kind, CallbackKind::task);
  EXPECT_EQ(describe_callback(reports_[0].ran[0]), "posted task");
}

TEST_P(LoopMeterTest, ReportsAtMostOnceASecond) {
  const auto start = Clock::now();
  loop_.post([] { spin(15ms); });
  ASSERT_TRUE(run_until(loop_, [&] { return loop_.stats().stalls == 1; }));
  loop_.post([] { spin(15ms); });
  ASSERT_TRUE(run_until(loop_, [&] { return loop_.stats().stalls == 2; }));
  // Both stalls within a second: the second is counted, not reported.
  if (Clock::now() - start < 900ms) {
    EXPECT_EQ(reports_.size(), 1u);
  }
}

TEST_P(LoopMeterTest, QuickIterationsAreNoStalls) {
  loop_.set_stall_threshold(0ms);  // zero: nothing is a stall
  loop_.post([] { spin(15ms); });
  run_for(loop_, 20ms);
  loop_.set_stall_threshold(1s);
  loop_.post([] { spin(15ms); });
  run_for(loop_, 20ms);
  EXPECT_EQ(loop_.stats().stalls, 0u);
  EXPECT_TRUE(reports_.empty());
}

TEST_P(LoopMeterTest, DefaultSinkLogsOneLine) {
  std::vector<std::string> lines;
  set_log_sink([&](LogLevel level, std::string_view m) {
    if (level == LogLevel::warning) lines.emplace_back(m);
  });
  loop_.on_stall(nullptr);
  loop_.post([] { spin(20ms); });
  const bool seen = run_until(loop_, [&] { return !lines.empty(); });
  set_log_sink(nullptr);
  ASSERT_TRUE(seen);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("loop " + std::to_string(loop_.index()) + " stalled"), std::string::npos)
      << lines[0];
  EXPECT_NE(lines[0].find("stalled: posted task held it "), std::string::npos) << lines[0];
}

TEST(StallReportText, NamesALoneCallbackAndSaysHowManyWereNotReported) {
  StallReport r;
  r.loop = 2;
  r.held = 153ms;
  r.callbacks = 1;
  r.ran[0] = {CallbackKind::io, 7, io::kWritable, 0};
  r.suppressed = 3;
  EXPECT_EQ(to_string(r),
            "loop 2 stalled: write on fd 7 held it 153 ms; 3 earlier stall(s) not reported");
  r.ran[0] = {CallbackKind::signal, 7, 0, 0};
  r.suppressed = 0;
  r.held = 100us;
  EXPECT_EQ(to_string(r), "loop 2 stalled: signal on fd 7 held it <1 ms");
}

TEST(StallReportText, ListsSeveralCallbacksWithoutBlamingOne) {
  StallReport r;
  r.loop = 1;
  r.held = 120ms;
  r.callbacks = 2;
  r.ran[0] = {CallbackKind::io, 9, io::kReadable | io::kWritable, 0};
  r.ran[1] = {CallbackKind::timer, -1, 0, 4};
  EXPECT_EQ(to_string(r),
            "loop 1 stalled: callbacks held it 120 ms; ran read+write on fd 9, timer 4");
  r.callbacks = 7;
  r.ran[2] = {CallbackKind::task, -1, 0, 0};
  r.ran[3] = {CallbackKind::io, 3, io::kReadHangup, 0};
  EXPECT_EQ(to_string(r),
            "loop 1 stalled: callbacks held it 120 ms; ran read+write on fd 9, timer 4, posted "
            "task, read on fd 3 and 3 more");
  r.callbacks = 0;
  EXPECT_EQ(to_string(r),
            "loop 1 stalled: callbacks held it 120 ms; ran nothing but the loop's own wake-up");
}

INSTANTIATE_TEST_SUITE_P(Backends, LoopMeterTest, test::all_backends(), test::backend_name);

}  // namespace
}  // namespace reactor
