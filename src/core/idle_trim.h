#pragma once
#include <chrono>

#include "reactor/core/timer_id.h"

namespace reactor::detail {

/// Gives the heap's free pages back to the kernel once a loop has been quiet for kQuiet
/// after doing work. glibc keeps what a burst freed: big blocks end up in its per-thread
/// arenas (it raises its mmap threshold as they are freed), and an arena shrinks only from
/// its top, so a few big requests leave tens of MiB resident for good. malloc_trim(0)
/// returns every free page. The loop reports each iteration (a compare and a store; nothing
/// per message) and bounds its wait so that an owed trim happens without a timer. One per
/// loop (kept per thread); loop thread only.
class IdleTrim {
 public:
  using TrimFunction = void (*)();
  static constexpr Clock::duration kQuiet = std::chrono::seconds(1);

  explicit constexpr IdleTrim(TrimFunction trim = &trim_heap) : trim_(trim) {}

  /// After every loop iteration that started at `now`; `busy`: it dispatched events.
  void after_iteration(Clock::time_point now, bool busy);
  /// The loop's wait (-1: forever) shortened so that it ends when an owed trim is due.
  std::chrono::milliseconds bound_wait(std::chrono::milliseconds timeout,
                                       Clock::time_point now) const;
  /// Returns free heap pages of every arena to the kernel (glibc); a no-op elsewhere.
  static void trim_heap();

 private:
  TrimFunction trim_;
  Clock::time_point last_busy_{};
  bool owed_ = false;  // busy since the last trim
};

}  // namespace reactor::detail
