#pragma once
// Starting coroutines: co::spawn and co::invoke.
#include <functional>
#include <memory>
#include <type_traits>
#include <utility>

#include "reactor/co/detail/runtime.h"
#include "reactor/co/task.h"
#include "reactor/core/event_loop.h"

namespace reactor::co {

namespace detail {

struct RootPromise;
struct Root {
  using promise_type = RootPromise;
  std::coroutine_handle<RootPromise> handle;
};

/// The frame of a detached task: owns the top CancelScope, is linked into the loop's
/// Runtime while suspended, and frees itself when the task ends.
struct RootPromise : PromiseBase, RootLink {
  CancelScope scope;
  Runtime* runtime = nullptr;

  Root get_return_object() { return Root{std::coroutine_handle<RootPromise>::from_promise(*this)}; }
  std::suspend_never final_suspend() noexcept { return {}; }
  void return_void() noexcept {}
  void unhandled_exception() noexcept { std::terminate(); }  // only a completion callback can throw
  void destroy_frame() noexcept override {
    std::coroutine_handle<RootPromise>::from_promise(*this).destroy();
  }
  ~RootPromise() {
    if (runtime) runtime->release(*this);
  }
};

template <class T, class Done>
Root run_root(Task<T> task, Done done) {
  Outcome<T> outcome;
  try {
    if constexpr (std::is_void_v<T>) {
      co_await std::move(task);
      outcome.set_value();
    } else {
      outcome.set_value(co_await std::move(task));
    }
  } catch (...) {
    outcome.set_error(std::current_exception());
  }
  done(std::move(outcome));
}

/// Starts `root` on `loop`: at once on the loop thread, else posted.
void start_root(EventLoop& loop, std::coroutine_handle<RootPromise> root);

template <class T>
struct SpawnState {
  EventLoop* loop;
  CancelScope* scope = nullptr;  // while the task runs
  bool done = false;
  Outcome<T> outcome;
};

template <class F, class... Args>
using InvokeResult = std::invoke_result_t<F&, Args&...>;

}  // namespace detail

/// The stored result of a spawned task. Loop thread only, except request_stop().
template <class T>
class Spawned {
 public:
  /// False until the task finished (and forever if its loop was destroyed first).
  bool done() const { return state_->done; }
  /// The finished task's value; rethrows its exception.
  T get() { return std::move(state_->outcome).value(); }
  /// Any thread: cancels the task (every awaitable in it ends with operation_canceled).
  void request_stop() {
    state_->loop->dispatch([state = state_] {
      if (state->scope) state->scope->request_stop();
    });
  }

 private:
  template <class U>
  friend Spawned<U> spawn(EventLoop& loop, Task<U> task);
  explicit Spawned(std::shared_ptr<detail::SpawnState<T>> state) : state_(std::move(state)) {}
  std::shared_ptr<detail::SpawnState<T>> state_;
};

/// Starts `task` detached on `loop` (any thread: at once on the loop thread, else posted).
/// `on_done(Outcome<T>)` runs on the loop thread when it ends; it must not throw. If the
/// loop is destroyed first, the task's frames are freed without resuming it and on_done
/// never runs.
template <class T, class Done>
  requires std::is_invocable_v<Done&, Outcome<T>&&>
void spawn(EventLoop& loop, Task<T> task, Done on_done) {
  auto root = detail::run_root(std::move(task), std::move(on_done)).handle;
  detail::start_root(loop, root);
}

/// Starts `task` detached and keeps its outcome in the returned handle.
template <class T>
Spawned<T> spawn(EventLoop& loop, Task<T> task) {
  auto state = std::make_shared<detail::SpawnState<T>>();
  state->loop = &loop;
  auto root = detail::run_root(std::move(task), [state](Outcome<T>&& outcome) {
                state->outcome = std::move(outcome);
                state->done = true;
                state->scope = nullptr;
              }).handle;
  state->scope = &root.promise().scope;
  detail::start_root(loop, root);
  return Spawned<T>(std::move(state));
}

/// A Task that owns `fn` and `args` (copied into its frame) and awaits `fn(args...)`.
/// This is how to start a coroutine *lambda* safely: a lambda's captures live in the
/// lambda object, not in the coroutine frame, so `spawn(loop, [x]() -> Task<> {...}())`
/// reads `x` from a temporary that died at the first suspension. Pass the lambda itself:
/// `spawn(loop, co::invoke([x]() -> Task<> {...}))`, or spawn(loop, fn, args...).
template <class F, class... Args>
auto invoke(F fn, Args... args) -> Task<typename detail::InvokeResult<F, Args...>::value_type> {
  co_return co_await std::invoke(fn, args...);
}

/// spawn(loop, invoke(fn, args...)): the function and its arguments live as long as the
/// coroutine does.
template <class F, class... Args>
  requires std::is_invocable_v<F&, Args&...>
auto spawn(EventLoop& loop, F fn, Args... args) {
  return spawn(loop, co::invoke(std::move(fn), std::move(args)...));
}

}  // namespace reactor::co
