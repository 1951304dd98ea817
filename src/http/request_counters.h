#pragma once
// The counters behind http::RequestStats: one block per loop, written by that loop's
// sessions only (a relaxed load+store, no locked add, no lookup: a session holds its loop's
// block from its start), read by any thread.
#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string_view>
#include <vector>

#include "core/counter.h"
#include "reactor/core/timer_id.h"
#include "reactor/http/request_stats.h"

namespace reactor::http::detail {

using reactor::detail::Counter;

/// The index of "other" in RequestStats::kMethods.
constexpr uint8_t kOtherMethod = RequestStats::kMethods.size() - 1;
/// The index of `method` in RequestStats::kMethods, kOtherMethod for anything else.
uint8_t method_class(std::string_view method);

class LoopRequestCounters {
 public:
  explicit LoopRequestCounters(unsigned loop) : loop_(loop) {}
  /// One response written. `started` and `finished` are loop iteration times.
  void count(uint8_t method, int status, Clock::time_point started, Clock::time_point finished);
  RequestStats snapshot() const;
  unsigned loop() const { return loop_; }

 private:
  const unsigned loop_;
  std::array<Counter, RequestStats::kMethods.size() * RequestStats::kStatusClasses.size()>
      requests_;
  std::array<Counter, RequestStats::kDurationBounds.size() + 1> durations_;
  Counter duration_sum_ns_;
};

/// Every loop's block of one server. Thread-safe.
class RequestCounters {
 public:
  /// The block of loop `loop`, made the first time; a session calls it once, at its start.
  LoopRequestCounters& of_loop(unsigned loop);
  /// One snapshot per loop that served a request, in order of first use.
  std::vector<RequestStats> snapshot() const;

 private:
  mutable std::mutex mutex_;  // guards the list, not the counters
  std::vector<std::unique_ptr<LoopRequestCounters>> loops_;
};

}  // namespace reactor::http::detail
