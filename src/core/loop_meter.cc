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

std::string describe_callback(const StallReport& r) {
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
  std::string line = "loop " + std::to_string(r.loop) + " stalled: callbacks held it " +
                     millis(r.held) + ", longest " + describe_callback(r) + " (" +
                     millis(r.longest) + ")";
  if (r.suppressed > 0)
    line += "; " + std::to_string(r.suppressed) + " earlier stall(s) not reported";
  return line;
}

namespace detail {

void LoopMeter::restart(Clock::time_point now) {
  woke_ = last_ = ended_ = now;
  longest_ = {};
}

void LoopMeter::begin(Clock::time_point woke) {
  wait_ns_.add(nanos(woke - ended_));
  woke_ = last_ = woke;
  longest_.longest = {};
}

void LoopMeter::after_callback(CallbackKind kind, int fd, uint32_t events, uint32_t timer) {
  const Clock::time_point now = Clock::now();
  const auto took = std::chrono::duration_cast<std::chrono::nanoseconds>(now - last_);
  last_ = now;
  if (took <= longest_.longest) return;
  longest_.longest = took;
  longest_.kind = kind;
  longest_.fd = fd;
  longest_.events = events;
  longest_.timer = timer;
}

void LoopMeter::timer_due(Clock::time_point deadline) {
  const Clock::duration lag = std::max(last_ - deadline, Clock::duration::zero());
  lag_sum_ns_.add(nanos(lag));
  size_t i = 0;
  while (i < LoopStats::kLagBounds.size() && lag > LoopStats::kLagBounds[i]) ++i;
  lag_[i].add(1);
}

void LoopMeter::end(EventLoop::StallSink& sink) {
  const Clock::duration held = last_ - woke_;
  busy_ns_.add(nanos(held));
  ended_ = last_;
  if (threshold_ <= Clock::duration::zero() || held <= threshold_) return;
  stalls_.add(1);
  if (reported_ != Clock::time_point{} && last_ - reported_ < std::chrono::seconds(1)) {
    ++unreported_;
    return;
  }
  reported_ = last_;
  StallReport report = longest_;
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
