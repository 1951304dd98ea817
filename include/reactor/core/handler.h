#pragma once
#include <cstdint>

namespace reactor {

/// What an EventLoop dispatches readiness to: one per watched descriptor. A handler never
/// owns its descriptor; whoever registered it must unwatch before closing the descriptor.
class Handler {
 public:
  /// `ready` is a mask of the io:: bits (selector.h).
  virtual void handle_events(uint32_t ready) = 0;

 protected:
  ~Handler() = default;
};

}  // namespace reactor
