#include "core/timer_queue.h"

#include <algorithm>

#include "core/check.h"
#include "core/loop_meter.h"
#include "core/tracer.h"

namespace reactor::detail {

TimerId TimerQueue::add(Clock::time_point when, Clock::duration interval, Task task) {
  REACTOR_CHECK(interval.count() >= 0, "timer interval must not be negative");
  uint32_t slot;
  if (!free_.empty()) {
    slot = free_.back();
    free_.pop_back();
  } else {
    slot = static_cast<uint32_t>(slots_.size());
    slots_.emplace_back();
  }
  slots_[slot].task = std::move(task);
  slots_[slot].interval = interval;
  push(when, slot);
  return {slot, slots_[slot].generation};
}

void TimerQueue::push(Clock::time_point when, uint32_t slot) {
  heap_.push_back({when, next_sequence_++, slot, slots_[slot].generation});
  std::push_heap(heap_.begin(), heap_.end(), later);
}

void TimerQueue::release(uint32_t slot) {
  Slot& s = slots_[slot];
  s.task = nullptr;
  if (++s.generation == 0) s.generation = 1;  // 0 is the "no timer" id
  free_.push_back(slot);
}

void TimerQueue::cancel(TimerId id) {
  if (!id || id.slot >= slots_.size() || slots_[id.slot].generation != id.generation) return;
  release(id.slot);
  ++stale_;
  if (stale_ > 1024 && stale_ > heap_.size() / 2) {
    std::erase_if(heap_, [this](const Entry& e) { return !live(e); });
    std::make_heap(heap_.begin(), heap_.end(), later);
    stale_ = 0;
  }
}

void TimerQueue::drop_stale_top() {
  while (!heap_.empty() && !live(heap_.front())) {
    std::pop_heap(heap_.begin(), heap_.end(), later);
    heap_.pop_back();
    if (stale_ > 0) --stale_;
  }
}

std::optional<Clock::time_point> TimerQueue::next_deadline() {
  drop_stale_top();
  if (heap_.empty()) return std::nullopt;
  return heap_.front().when;
}

void TimerQueue::run_due(Clock::time_point now, Tracer* tracer, LoopMeter* meter) {
  const uint64_t horizon = next_sequence_;  // timers added by callbacks wait a round
  for (;;) {
    // The usual case, once per loop iteration: the earliest entry, live or not, is not
    // due, so none is. Only when it is due does a stale top need dropping to know more.
    if (heap_.empty() || heap_.front().when > now) return;
    drop_stale_top();
    if (heap_.empty()) return;
    Entry top = heap_.front();
    if (top.when > now || top.sequence >= horizon) return;
    std::pop_heap(heap_.begin(), heap_.end(), later);
    heap_.pop_back();
    fire(top, now, tracer, meter);
  }
}

void TimerQueue::fire(const Entry& entry, Clock::time_point now, Tracer* tracer, LoopMeter* meter) {
  if (tracer) [[unlikely]]
    tracer->line("timer", {{"id", entry.slot}});
  if (meter) [[unlikely]]
    meter->timer_due(entry.when, entry.slot);
  Slot& slot = slots_[entry.slot];
  Task task = std::move(slot.task);  // the callback may cancel (and so clear) its own slot
  const Clock::duration interval = slot.interval;
  if (interval.count() == 0) {
    release(entry.slot);
    task();
    return;
  }
  // Next deadline counts from this one; ticks missed while the loop was busy are skipped
  // (not fired in a burst) but the phase is kept.
  Clock::time_point next = entry.when + interval;
  if (next <= now) next += ((now - next) / interval + 1) * interval;
  push(next, entry.slot);
  task();
  // slots_ may have been reallocated by the callback; re-index. Only restore the callback if
  // the timer was not cancelled meanwhile.
  if (slots_[entry.slot].generation == entry.generation) slots_[entry.slot].task = std::move(task);
}

}  // namespace reactor::detail
