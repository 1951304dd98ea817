#include "reactor/co/detail/runtime.h"

#include <utility>

#include "core/check.h"
#include "reactor/co/detail/waiter.h"
#include "reactor/core/event_loop.h"

namespace reactor::co::detail {
namespace {

thread_local Runtime* t_runtime = nullptr;

}  // namespace

Runtime& Runtime::of(EventLoop& loop) {
  loop.assert_in_loop_thread();
  if (t_runtime) return *t_runtime;
  t_runtime = new Runtime(loop);
  loop.on_destroy([] { delete std::exchange(t_runtime, nullptr); });
  return *t_runtime;
}

Runtime::~Runtime() {
  // The loop is going away with coroutines still parked on it: free their frames without
  // resuming them. Destroying a root unlinks it (~RootPromise), so always take the head.
  while (roots_) roots_->destroy_frame();
  // Only now: ending these closes connections, and a close resumes whatever still waits on
  // them, so nothing may wait any more.
  while (LoopBound* bound = bound_) {
    list_erase(bound_, *bound);
    bound->end_with_loop();
  }
}

void Runtime::adopt(RootLink& root) noexcept {
  list_push(roots_, root);
}

void Runtime::release(RootLink& root) noexcept {
  list_erase(roots_, root);
}

void Runtime::bind(LoopBound& bound) noexcept {
  list_push(bound_, bound);
}

void Runtime::unbind(LoopBound& bound) noexcept {
  list_erase(bound_, bound);
}

uint32_t Runtime::open_slot(Waiter& waiter, uint32_t& generation) {
  uint32_t slot;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
  } else {
    slot = static_cast<uint32_t>(slots_.size());
    slots_.emplace_back();
  }
  slots_[slot].waiter = &waiter;
  generation = ++slots_[slot].generation;
  return slot;
}

void Runtime::close_slot(uint32_t slot) noexcept {
  slots_[slot].waiter = nullptr;
  ++slots_[slot].generation;  // a cancellation posted for the old waiter finds nothing
  free_slots_.push_back(slot);
}

void Runtime::post_cancel(uint32_t slot, uint32_t generation) {
  loop_.post([this, slot, generation] { deliver(slot, generation); });
}

void Runtime::deliver(uint32_t slot, uint32_t generation) {
  Slot& s = slots_[slot];
  if (s.waiter && s.generation == generation) s.waiter->deliver_cancel();
}

}  // namespace reactor::co::detail
