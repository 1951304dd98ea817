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
  uint64_t one = 1;
  // EAGAIN means the counter is saturated, so the loop will wake anyway.
  [[maybe_unused]] ssize_t n = ::write(fd_.get(), &one, sizeof one);
}

void Wakeup::handle_events(uint32_t) {
  uint64_t count;  // one read resets the counter, however many notify() calls it holds
  [[maybe_unused]] ssize_t n = ::read(fd_.get(), &count, sizeof count);
}

}  // namespace reactor::detail
