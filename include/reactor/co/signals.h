#pragma once
// co::Signals: waiting for POSIX signals in a coroutine.
#include <deque>
#include <initializer_list>
#include <stop_token>

#include "reactor/co/detail/waiter.h"
#include "reactor/core/event_loop.h"

namespace reactor::co {

/// Delivers the given signals to a waiting coroutine through the loop's signalfd
/// (EventLoop::on_signal). A signal that arrives while nobody waits is kept (once per
/// number, like the kernel) until the next wait(). Loop thread only.
class Signals {
 public:
  Signals(EventLoop& loop, std::initializer_list<int> signos);
  ~Signals();
  Signals(const Signals&) = delete;
  Signals& operator=(const Signals&) = delete;

  class WaitAwaiter;
  /// → int: the number of the next signal.
  WaitAwaiter wait(std::stop_token token = {});

 private:
  void delivered(int signo);

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
  WaitAwaiter(Signals& signals, std::stop_token token) : signals_(&signals), token_(std::move(token)) {}
  bool park(const detail::Context& context, std::coroutine_handle<> handle);
  void stop_waiting() noexcept override;

  Signals* signals_;
  std::stop_token token_;
  int signo_ = 0;
  bool complete_ = false;
};

}  // namespace reactor::co
