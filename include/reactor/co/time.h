#pragma once
// Waiting on the loop's timers: co::sleep_for, co::sleep_until, co::timeout.
#include <system_error>

#include "reactor/co/detail/waiter.h"
#include "reactor/co/task.h"
#include "reactor/co/when.h"
#include "reactor/core/event_loop.h"

namespace reactor::co {

namespace detail {

class SleepAwaiter final : public Waiter {
 public:
  SleepAwaiter(Clock::time_point until, std::stop_token token)
      : until_(until), token_(std::move(token)) {}
  SleepAwaiter(SleepAwaiter&&) = default;  // only before it is awaited
  ~SleepAwaiter() { stop_waiting(); }

  bool await_ready() const noexcept { return false; }
  template <class P>
  bool await_suspend(std::coroutine_handle<P> awaiting) {
    const Context& context = context_of(awaiting);
    if (!arm(context, awaiting, token_)) return false;
    loop_ = context.loop;
    auto delay = until_ - Clock::now();  // run_after counts from now, not the iteration's start
    timer_ = loop_->run_after(delay, [this] {
      timer_ = {};
      complete();
    });
    return true;
  }
  void await_resume() const { throw_if_cancelled(); }

 private:
  void stop_waiting() noexcept override {
    if (timer_) loop_->cancel(std::exchange(timer_, {}));
  }

  Clock::time_point until_;
  std::stop_token token_;
  EventLoop* loop_ = nullptr;
  TimerId timer_;
};

}  // namespace detail

/// Suspends until `deadline` on the loop's timers (a past deadline still yields to the
/// loop once). Throws std::system_error(operation_canceled) when stopped.
inline detail::SleepAwaiter sleep_until(Clock::time_point deadline, std::stop_token token = {}) {
  return detail::SleepAwaiter(deadline, std::move(token));
}
inline detail::SleepAwaiter sleep_for(Clock::duration delay, std::stop_token token = {}) {
  return detail::SleepAwaiter(Clock::now() + delay, std::move(token));
}

/// The error co::timeout throws: std::errc::timed_out.
std::system_error timed_out_error();

/// Runs `task`, but stops it if it has not ended after `limit`, then throws
/// std::system_error(timed_out). Otherwise returns (or rethrows) what the task did.
template <class T>
Task<T> timeout(Task<T> task, Clock::duration limit) {
  auto sleeper = [](Clock::duration d) -> Task<void> { co_await sleep_for(d); };
  auto result = co_await when_any(std::move(task), sleeper(limit));
  if (result.index() == 1) throw timed_out_error();
  if constexpr (!std::is_void_v<T>) co_return std::get<0>(std::move(result));
}

/// The value an awaitable of this layer produces.
template <class A>
using AwaitResult = decltype(std::declval<A&>().await_resume());

/// A Task that awaits `awaitable` (moved into its frame): any awaitable of this layer can
/// then be passed where a Task is taken (when_all, when_any, timeout).
template <class A>
Task<AwaitResult<A>> as_task(A awaitable) {
  co_return co_await std::move(awaitable);
}

/// timeout() around a single awaitable: `co_await co::timeout(conn.read_some(buf), 5s)`.
template <class A>
  requires requires(A& a) { a.await_resume(); }
Task<AwaitResult<A>> timeout(A awaitable, Clock::duration limit) {
  co_return co_await timeout(as_task(std::move(awaitable)), limit);
}

}  // namespace reactor::co
