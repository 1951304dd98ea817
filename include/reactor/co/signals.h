#pragma once
// co::Signals: waiting for POSIX signals in a coroutine.
#include <coroutine>
#include <deque>
#include <initializer_list>
#include <memory>
#include <stop_token>

#include "reactor/co/detail/waiter.h"
#include "reactor/co/task.h"
#include "reactor/core/event_loop.h"

namespace reactor::co {

/// Delivers the given signals to a waiting coroutine through the loop's signalfd
/// (EventLoop::on_signal). A signal that arrives while nobody waits is kept (once per
/// number, like the kernel) until the next wait(). Loop thread only.
///
/// The loop cannot unregister a signal: once this object is gone its signals stay blocked
/// and are ignored until a new Signals (or on_signal) claims them, which replaces the
/// registration (so two live Signals for one number: the newer one gets it).
class Signals {
 public:
  Signals(EventLoop& loop, std::initializer_list<int> signos);
  /// A coroutine still waiting resumes (inside this call) with operation_canceled.
  ~Signals();
  Signals(const Signals&) = delete;
  Signals& operator=(const Signals&) = delete;

  class WaitAwaiter;
  /// → int: the number of the next signal. One waiter at a time. A waiting coroutine is
  /// resumed inline when its signal is read, and may destroy this object then.
  WaitAwaiter wait(std::stop_token token = {});

 private:
  void delivered(int signo);

  // The loop's callbacks reach this object through here; null once it is gone (they may
  // outlive it, as they stay registered as long as the loop lives).
  std::shared_ptr<Signals*> self_;
  std::deque<int> pending_;
  WaitAwaiter* waiter_ = nullptr;
};

class Signals::WaitAwaiter final : public detail::Waiter {
 public:
  WaitAwaiter(WaitAwaiter&&) = default;  // only before it is awaited
  ~WaitAwaiter();
  bool await_ready();
  template <class P>
  bool await_suspend(std::coroutine_handle<P> awaiting) {
    return park(detail::context_of(awaiting), awaiting);
  }
  int await_resume();

 private:
  friend class Signals;
  WaitAwaiter(Signals& signals, std::stop_token token)
      : signals_(&signals), token_(std::move(token)) {}
  bool park(const detail::Context& context, std::coroutine_handle<> handle);
  void stop_waiting() noexcept override;

  Signals* signals_;
  std::stop_token token_;
  int signo_ = 0;
  bool complete_ = false;
};

}  // namespace reactor::co
