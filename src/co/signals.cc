#include "reactor/co/signals.h"

#include <algorithm>
#include <system_error>
#include <utility>

#include "core/check.h"

namespace reactor::co {

Signals::Signals(EventLoop& loop, std::initializer_list<int> signos)
    : self_(std::make_shared<Signals*>(this)) {
  for (int signo : signos) {
    // The callback may be replaced (a later registration of `signo`) while it runs, from
    // the coroutine it resumes: it reads its capture once, before delivering.
    loop.on_signal(signo, [self = self_](int number) {
      if (Signals* signals = *self) signals->delivered(number);
    });
  }
}

Signals::~Signals() {
  *self_ = nullptr;
  if (WaitAwaiter* waiter = std::exchange(waiter_, nullptr)) {
    waiter->signals_ = nullptr;
    waiter->complete();  // not complete_: await_resume throws operation_canceled
  }
}

Signals::WaitAwaiter Signals::wait(std::stop_token token) {
  return WaitAwaiter(*this, std::move(token));
}

// The waiter resumes inline and may destroy this object: nothing touches `this` after.
void Signals::delivered(int signo) {
  if (WaitAwaiter* waiter = std::exchange(waiter_, nullptr)) {
    waiter->signals_ = nullptr;
    waiter->signo_ = signo;
    waiter->complete_ = true;
    waiter->complete();
    return;
  }
  if (std::find(pending_.begin(), pending_.end(), signo) == pending_.end())
    pending_.push_back(signo);
}

Signals::WaitAwaiter::~WaitAwaiter() {
  stop_waiting();
}

bool Signals::WaitAwaiter::await_ready() {
  auto& pending = signals_->pending_;
  if (pending.empty()) return false;
  signo_ = pending.front();
  pending.pop_front();
  complete_ = true;
  return true;
}

bool Signals::WaitAwaiter::park(const detail::Context& context, std::coroutine_handle<> handle) {
  REACTOR_CHECK(!signals_->waiter_, "two coroutines wait on one co::Signals");
  if (!arm(context, handle, token_)) return false;
  signals_->waiter_ = this;
  return true;
}

int Signals::WaitAwaiter::await_resume() {
  throw_if_cancelled();
  if (!complete_) detail::throw_canceled();
  return signo_;
}

// Unparked, a signal that arrives is kept as pending for the next wait(). A cancelled
// waiter resumes later (posted), when the Signals may be gone: it forgets it.
void Signals::WaitAwaiter::stop_waiting() noexcept {
  if (signals_ && signals_->waiter_ == this) signals_->waiter_ = nullptr;
  signals_ = nullptr;
}

}  // namespace reactor::co
