#pragma once
#include <array>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace reactor {

/// Counters a loop keeps about itself (EventLoop::stats()): a snapshot, taken from any
/// thread. iterations and events are always counted; the rest only while the loop measures
/// itself (EventLoop::set_metrics), and stay where they were while it does not.
struct LoopStats {
  /// Upper bounds of the timer-lag histogram's buckets; one more bucket takes the rest.
  static constexpr std::array<std::chrono::microseconds, 12> kLagBounds{
      std::chrono::microseconds(50),     std::chrono::microseconds(100),
      std::chrono::microseconds(250),    std::chrono::microseconds(500),
      std::chrono::microseconds(1000),   std::chrono::microseconds(2500),
      std::chrono::microseconds(5000),   std::chrono::microseconds(10000),
      std::chrono::microseconds(25000),  std::chrono::microseconds(100000),
      std::chrono::microseconds(250000), std::chrono::microseconds(1000000)};
  static constexpr size_t kLagBuckets = kLagBounds.size() + 1;

  uint64_t iterations = 0;
  uint64_t events = 0;  ///< ready descriptors dispatched to handlers
  /// Running callbacks: from each wait's return to the end of the iteration's last callback.
  std::chrono::nanoseconds busy{};
  /// The rest of the time measured: blocked in the selector, mostly.
  std::chrono::nanoseconds waiting{};
  uint64_t stalls = 0;  ///< iterations whose callbacks ran longer than the stall threshold
  /// Timers fired, by how late (start of the callback minus its deadline): lag[i] counts
  /// those above kLagBounds[i-1] and at most kLagBounds[i]; the last, those above all.
  std::array<uint64_t, kLagBuckets> lag{};
  std::chrono::nanoseconds lag_sum{};
};

/// The kind of callback a loop ran: readiness of a descriptor, a timer, a posted task (or
/// the wake-up that brings them), a signal.
enum class CallbackKind : uint8_t { io, timer, task, signal };

/// A stalled iteration: its callbacks held the loop longer than the stall threshold. The
/// loop times the iteration as a whole (one clock read per iteration, not one per callback,
/// so that measuring stays cheap when many descriptors are ready): it knows what ran, and
/// when one callback ran alone, that one held it; among several it cannot tell which.
struct StallReport {
  /// One callback the iteration ran.
  struct Callback {
    CallbackKind kind = CallbackKind::io;
    int fd = -1;          ///< io and signal: the descriptor; else -1
    uint32_t events = 0;  ///< io: the readiness handled (io:: bits)
    uint32_t timer = 0;   ///< timer: its slot (trace mode's "timer id=")
  };
  static constexpr size_t kListed = 4;

  unsigned loop = 0;                    ///< EventLoop::index()
  std::chrono::nanoseconds held{};      ///< the iteration's callbacks, together
  uint32_t callbacks = 0;               ///< how many ran (the loop's own wake-up not counted)
  std::array<Callback, kListed> ran{};  ///< the first min(callbacks, kListed), in order
  /// Stalls of this loop not reported since the previous report (reports are rate limited
  /// to one a second per loop).
  uint64_t suppressed = 0;
};

/// "read on fd 7", "timer 3", "posted task", "signal on fd 5".
std::string describe_callback(const StallReport::Callback& callback);
/// The whole report as one line (no newline), as the default stall sink logs it.
std::string to_string(const StallReport& report);

}  // namespace reactor
