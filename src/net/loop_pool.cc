#include "reactor/net/loop_pool.h"

#include <future>

#include "core/check.h"

namespace reactor::net {

LoopPool::LoopPool(size_t threads, std::string backend)
    : threads_(threads), backend_(std::move(backend)) {}

LoopPool::~LoopPool() {
  stop();
}

void LoopPool::start() {
  REACTOR_CHECK(workers_.empty(), "LoopPool started twice");
  for (size_t i = 0; i < threads_; ++i) {
    std::promise<EventLoop*> ready;
    auto made = ready.get_future();
    workers_.emplace_back([this, &ready] {
      std::unique_ptr<EventLoop> loop;
      try {
        loop = std::make_unique<EventLoop>(backend_);
      } catch (...) {
        ready.set_exception(std::current_exception());
        return;
      }
      ready.set_value(loop.get());
      loop->run();
    });
    try {
      loops_.push_back(made.get());
    } catch (...) {
      workers_.back().join();
      workers_.pop_back();
      stop();
      throw;
    }
  }
}

void LoopPool::stop() {
  for (EventLoop* loop : loops_) loop->stop();
  for (std::thread& t : workers_) t.join();
  workers_.clear();
  loops_.clear();
}

}  // namespace reactor::net
