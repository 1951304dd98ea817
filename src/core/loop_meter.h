#pragma once
// A loop's measurement of itself (EventLoop::set_metrics): where its time goes, how late
// its timers fire, and which iterations stall. The loop calls it only while measuring, from
// its observed iteration (the one trace mode uses too), so a loop that measures nothing pays
// nothing beyond the branch that picks that iteration.
//
// One clock read per iteration, at the end of its callbacks: the wait's return (the loop's
// now(), read anyway) is its start. Callbacks are not timed one by one: with many ready
// descriptors a read each would cost more than the rest of the measurement. What ran is
// remembered instead (a few stores), for the stall report. Each timer fired reads the clock
// once more, for its lag: timers are rare beside I/O.
#include <array>
#include <atomic>
#include <cstdint>

#include "core/counter.h"
#include "reactor/core/event_loop.h"
#include "reactor/core/loop_stats.h"

namespace reactor::detail {

class LoopMeter {
 public:
  explicit LoopMeter(unsigned loop_index) : loop_index_(loop_index) {}

  /// (Re)starts measuring at `now`: what came before is neither busy nor waiting.
  void restart(Clock::time_point now);
  /// The wait returned at `woke`: the time since the previous iteration ended was waiting.
  void begin(Clock::time_point woke);
  /// A callback ran (no clock read): remembered for this iteration's stall report.
  void ran(CallbackKind kind, int fd = -1, uint32_t events = 0, uint32_t timer = 0) {
    if (current_.callbacks < StallReport::kListed)
      current_.ran[current_.callbacks] = {kind, fd, events, timer};
    ++current_.callbacks;
  }
  /// Timer `slot`, due at `deadline`, is about to run: records its lag (reads the clock).
  void timer_due(Clock::time_point deadline, uint32_t slot);
  /// The iteration's callbacks are done: counts busy time and, past the threshold, a stall,
  /// which is reported (through `sink`, or logged) at most once a second. Calls the sink
  /// last: it may even turn measuring off.
  void end(EventLoop::StallSink& sink);

  void set_stall_threshold(Clock::duration threshold) { threshold_ = threshold; }
  Clock::duration stall_threshold() const { return threshold_; }
  /// Any thread: adds the counters to `stats`.
  void fill(LoopStats& stats) const;

 private:
  const unsigned loop_index_;
  Clock::duration threshold_{};
  Clock::time_point woke_{};      // this iteration's wait returned
  Clock::time_point ended_{};     // the previous iteration's callbacks ended
  Clock::time_point reported_{};  // the last stall report
  uint64_t unreported_ = 0;
  StallReport current_;  // what this iteration ran so far

  Counter busy_ns_, wait_ns_, stalls_, lag_sum_ns_;
  std::array<Counter, LoopStats::kLagBuckets> lag_;
};

}  // namespace reactor::detail
