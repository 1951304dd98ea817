#include "reactor/co/detail/waiter.h"

#include "core/check.h"
#include "reactor/co/detail/runtime.h"
#include "reactor/core/event_loop.h"

namespace reactor::co::detail {

Waiter::Waiter(Waiter&& other) noexcept : StopListener() {
  REACTOR_CHECK(!other.handle_, "a co awaitable was moved after it was awaited");
}

// Another thread may ask for the stop: it must not touch this Waiter, only name it.
void Waiter::arm_token(const std::stop_token& token) {
  runtime_ = &Runtime::of(*loop_);
  slot_ = runtime_->open_slot(*this, generation_);
  has_slot_ = true;
  token_callback_.emplace(token, TokenCallback{runtime_, slot_, generation_});
}

void Waiter::disarm_token() noexcept {
  token_callback_.reset();  // waits for a callback running on another thread
  if (has_slot_) {
    runtime_->close_slot(slot_);
    has_slot_ = false;
  }
}

void Waiter::TokenCallback::operator()() const noexcept {
  runtime->post_cancel(slot, generation);
}

void Waiter::on_stop() noexcept {
  cancel_now();
}

void Waiter::cancel_now() noexcept {
  if (cancelled_) return;
  stop_waiting();
  cancelled_ = true;
  if (!has_slot_) {
    if (!runtime_) runtime_ = &Runtime::of(*loop_);
    slot_ = runtime_->open_slot(*this, generation_);
    has_slot_ = true;
  }
  runtime_->post_cancel(slot_, generation_);
}

void Waiter::deliver_cancel() noexcept {
  if (!cancelled_) {  // a stop token's request: the loop thread acts on it only now
    stop_waiting();
    cancelled_ = true;
  }
  disarm();
  handle_.resume();
}

}  // namespace reactor::co::detail
