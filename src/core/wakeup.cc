#include "core/wakeup.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdint>

#include "core/check.h"

namespace reactor::detail {

Wakeup::Wakeup() : fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
  if (!fd_) throw_errno("eventfd");
}

void Wakeup::notify() {
  if (pending_.exchange(true, std::memory_order_acq_rel)) return;
  uint64_t one = 1;
  // EAGAIN means the counter is already non-zero: the loop will wake anyway.
  [[maybe_unused]] ssize_t n = ::write(fd_.get(), &one, sizeof one);
}

void Wakeup::handle_events(uint32_t) {
  // Clear the flag before draining: a notify() racing with us then writes again.
  pending_.store(false, std::memory_order_release);
  uint64_t count;
  [[maybe_unused]] ssize_t n = ::read(fd_.get(), &count, sizeof count);
}

}  // namespace reactor::detail
