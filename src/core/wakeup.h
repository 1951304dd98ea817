#pragma once
#include "reactor/core/handler.h"
#include "reactor/core/unique_fd.h"

namespace reactor::detail {

/// An eventfd that another thread writes to make the loop's wait return. EventLoop::post
/// coalesces the writes (only a post into an empty queue notifies), so this stays simple.
class Wakeup final : public Handler {
 public:
  Wakeup();
  int fd() const { return fd_.get(); }
  /// Any thread.
  void notify();
  void handle_events(uint32_t ready) override;

 private:
  UniqueFd fd_;
};

}  // namespace reactor::detail
