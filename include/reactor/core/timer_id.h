#pragma once
#include <chrono>
#include <cstdint>

namespace reactor {

using Clock = std::chrono::steady_clock;

/// Names one scheduled timer so it can be cancelled. Default-constructed: names nothing.
/// A stale id (its timer already fired or was cancelled) is harmless to cancel.
struct TimerId {
  uint32_t slot = 0;
  uint32_t generation = 0;
  explicit operator bool() const { return generation != 0; }
};

}  // namespace reactor
