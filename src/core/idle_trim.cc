#include "core/idle_trim.h"

#include <algorithm>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace reactor::detail {

void IdleTrim::after_iteration(Clock::time_point now, bool busy) {
  if (busy) {
    last_busy_ = now;
    owed_ = true;
    return;
  }
  if (!owed_ || now - last_busy_ < kQuiet) return;
  owed_ = false;
  trim_();
}

std::chrono::milliseconds IdleTrim::bound_wait(std::chrono::milliseconds timeout,
                                               Clock::time_point now) const {
  using std::chrono::milliseconds;
  if (!owed_) return timeout;
  const Clock::duration left = last_busy_ + kQuiet - now;
  // Rounded up, so that the iteration after the wait finds the quiet period over.
  const milliseconds due =
      left <= Clock::duration::zero() ? milliseconds(0) : std::chrono::ceil<milliseconds>(left);
  return timeout < milliseconds(0) ? due : std::min(timeout, due);
}

void IdleTrim::trim_heap() {
#if defined(__GLIBC__)
  ::malloc_trim(0);
#endif
}

}  // namespace reactor::detail
