#pragma once
#include <optional>
#include <vector>

#include "reactor/core/timer_id.h"
#include "reactor/core/unique_function.h"

namespace reactor::detail {

class Tracer;
class LoopMeter;

/// Timers in a binary min-heap ordered by (deadline, sequence), so ties fire in the order
/// they were scheduled. Callbacks live in a slab of slots; cancel frees the slot at once and
/// leaves its heap entry to be dropped lazily (its generation no longer matches). When
/// stale entries outnumber live ones the heap is rebuilt, so churn cannot grow it unbounded.
class TimerQueue {
 public:
  using Task = UniqueFunction<void()>;

  /// `interval` zero: one-shot.
  TimerId add(Clock::time_point when, Clock::duration interval, Task task);
  void cancel(TimerId id);
  /// The earliest live deadline, if any.
  std::optional<Clock::time_point> next_deadline();
  /// Fires every timer due at `now`; timers scheduled while it runs wait for the next call.
  /// With a tracer, each firing is traced ("timer id=SLOT"); with a meter, measured.
  void run_due(Clock::time_point now, Tracer* tracer = nullptr, LoopMeter* meter = nullptr);
  size_t size() const { return slots_.size() - free_.size(); }

 private:
  struct Entry {
    Clock::time_point when;
    uint64_t sequence;
    uint32_t slot;
    uint32_t generation;
  };
  struct Slot {
    Task task;
    Clock::duration interval{};
    uint32_t generation = 1;
  };
  static bool later(const Entry& a, const Entry& b) {
    return a.when != b.when ? a.when > b.when : a.sequence > b.sequence;
  }
  bool live(const Entry& e) const { return slots_[e.slot].generation == e.generation; }
  void push(Clock::time_point when, uint32_t slot);
  void release(uint32_t slot);
  void drop_stale_top();
  void fire(const Entry& entry, Clock::time_point now, Tracer* tracer, LoopMeter* meter);

  std::vector<Entry> heap_;
  std::vector<Slot> slots_;
  std::vector<uint32_t> free_;
  uint64_t next_sequence_ = 0;
  size_t stale_ = 0;
};

}  // namespace reactor::detail
