#pragma once
#include <atomic>
#include <cstdint>

namespace reactor::detail {

/// A counter written by one thread (its loop) and read by any: a relaxed load+store is
/// enough and avoids a locked read-modify-write on every event.
class Counter {
 public:
  void add(uint64_t n) {
    v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  void sub(uint64_t n) {
    v_.store(v_.load(std::memory_order_relaxed) - n, std::memory_order_relaxed);
  }
  uint64_t get() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

}  // namespace reactor::detail
