#include "core/loop_meter.h"

#include <algorithm>
#include <string>
#include <utility>

#include "reactor/core/log.h"
#include "reactor/core/selector.h"

namespace reactor {
namespace {

uint64_t nanos(Clock::duration d) {
  if (d <= Clock::duration::zero()) return 0;
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(d).count());
}

std::string millis(std::chrono::nanoseconds d) {
  // Whole milliseconds, but say "<1" rather than a misleading 0.
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  return ms == 0 ? std::string("<1 ms") : std::to_string(ms) + " ms";
}

std::string_view io_kind(uint32_t events) {
  const bool read = (events & (io::kReadable | io::kReadHangup)) != 0;
  const bool write = (events & io::kWritable) != 0;
  if (read && write) return "read+write";
  if (read) return "read";
  if (write) return "write";
  return "hangup";
}

}  // namespace

std::string describe_callback(const StallReport::Callback& r) {
  switch (r.kind) {
    case CallbackKind::io:
      return std::string(io_kind(r.events)) + " on fd " + std::to_string(r.fd);
    case CallbackKind::timer:
      return "timer " + std::to_string(r.timer);
    case CallbackKind::task:
      return "posted task";
    case CallbackKind::signal:
      return "signal on fd " + std::to_string(r.fd);
  }
  return "callback";
}

std::string to_string(const StallReport& r) {
  // One callback alone is named as the culprit; among several, which one held the loop is
  // not measured, so they are only listed.
  std::string line = "loop " + std::to_string(r.loop) + " stalled: ";
  if (r.callbacks == 1) {
    line += describe_callback(r.ran[0]) + " held it " + millis(r.held);
  } else {
    line += "callbacks held it " + millis(r.held) + "; ran ";
    const size_t listed = std::min<size_t>(r.callbacks, StallReport::kListed);
    for (size_t i = 0; i < listed; ++i) line += (i > 0 ? ", " : "") + describe_callback(r.ran[i]);
    if (r.callbacks > listed) line += " and " + std::to_string(r.callbacks - listed) + " more";
    if (r.callbacks == 0) line += "nothing but the loop's own wake-up";
  }
  if (r.suppressed > 0)
    line += "; " + std::to_string(r.suppressed) + " earlier stall(s) not reported";
  return line;
}

namespace detail {

void LoopMeter::restart(Clock::time_point now) {
  woke_ = ended_ = now;
  current_.callbacks = 0;
}

void LoopMeter::begin(Clock::time_point woke) {
  wait_ns_.add(nanos(woke - ended_));
  woke_ = woke;
  current_.callbacks = 0;
}

void LoopMeter::timer_due(Clock::time_point deadline, uint32_t slot) {
  ran(CallbackKind::timer, -1, 0, slot);
  const Clock::duration lag = std::max(Clock::now() - deadline, Clock::duration::zero());
  lag_sum_ns_.add(nanos(lag));
  size_t i = 0;
  while (i < LoopStats::kLagBounds.size() && lag > LoopStats::kLagBounds[i]) ++i;
  lag_[i].add(1);
}

void LoopMeter::end(EventLoop::StallSink& sink) {
  const Clock::time_point now = Clock::now();
  const Clock::duration held = now - woke_;
  busy_ns_.add(nanos(held));
  ended_ = now;
  if (threshold_ <= Clock::duration::zero() || held <= threshold_) return;
  stalls_.add(1);
  if (reported_ != Clock::time_point{} && now - reported_ < std::chrono::seconds(1)) {
    ++unreported_;
    return;
  }
  reported_ = now;
  StallReport report = current_;
  report.loop = loop_index_;
  report.held = std::chrono::duration_cast<std::chrono::nanoseconds>(held);
  report.suppressed = std::exchange(unreported_, 0);
  if (sink)
    sink(report);
  else
    log(LogLevel::warning, to_string(report));
}

void LoopMeter::fill(LoopStats& stats) const {
  stats.busy = std::chrono::nanoseconds(busy_ns_.get());
  stats.waiting = std::chrono::nanoseconds(wait_ns_.get());
  stats.stalls = stalls_.get();
  stats.lag_sum = std::chrono::nanoseconds(lag_sum_ns_.get());
  for (size_t i = 0; i < lag_.size(); ++i) stats.lag[i] = lag_[i].get();
}

}  // namespace detail
}  // namespace reactor
