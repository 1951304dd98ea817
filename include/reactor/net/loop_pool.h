#pragma once
#include <cstddef>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "reactor/core/event_loop.h"

namespace reactor::net {

/// N threads, each running its own EventLoop. The loops it lends stay valid until stop().
/// Create it, and register signal handlers, on the main thread before start(), so that the
/// threads inherit the blocked-signal mask.
class LoopPool {
 public:
  explicit LoopPool(size_t threads, std::string backend = {});
  ~LoopPool();
  LoopPool(const LoopPool&) = delete;
  LoopPool& operator=(const LoopPool&) = delete;

  /// Starts the threads; returns once every loop exists.
  void start();
  /// Any thread but the pool's own: stops every loop and joins the threads.
  void stop();

  size_t size() const { return loops_.size(); }
  EventLoop& loop(size_t i) const { return *loops_[i]; }

 private:
  size_t threads_;
  std::string backend_;
  std::vector<EventLoop*> loops_;
  std::vector<std::thread> workers_;
};

}  // namespace reactor::net
