#pragma once
#include <atomic>

#include "reactor/core/handler.h"
#include "reactor/core/unique_fd.h"

namespace reactor::detail {

/// An eventfd that another thread writes to make the loop's wait return. Writes are
/// coalesced: only the first notify() after a drain touches the descriptor.
class Wakeup final : public Handler {
 public:
  Wakeup();
  int fd() const { return fd_.get(); }
  /// Any thread.
  void notify();
  void handle_events(uint32_t ready) override;

 private:
  UniqueFd fd_;
  std::atomic<bool> pending_{false};
};

}  // namespace reactor::detail
