#pragma once
// co::Task<T>: the coroutine type of the coroutine layer.
#include <coroutine>
#include <exception>
#include <type_traits>
#include <utility>
#include <variant>

#include "reactor/co/detail/cancel.h"
#include "reactor/co/detail/frame_pool.h"

namespace reactor::co {

/// A value or the exception that took its place: what a finished task leaves.
template <class T>
class Outcome {
 public:
  bool has_value() const { return state_.index() == 1; }
  std::exception_ptr error() const { return state_.index() == 2 ? std::get<2>(state_) : nullptr; }
  /// The value; rethrows the exception if there is one.
  T& value() & {
    rethrow_if_error();
    return std::get<1>(state_);
  }
  T&& value() && {
    rethrow_if_error();
    return std::get<1>(std::move(state_));
  }
  template <class U>
  void set_value(U&& value) {
    state_.template emplace<1>(std::forward<U>(value));
  }
  void set_error(std::exception_ptr error) { state_.template emplace<2>(std::move(error)); }

 private:
  void rethrow_if_error() const {
    if (state_.index() == 2) std::rethrow_exception(std::get<2>(state_));
  }
  std::variant<std::monostate, T, std::exception_ptr> state_;
};

template <>
class Outcome<void> {
 public:
  bool has_value() const { return done_ && !error_; }
  std::exception_ptr error() const { return error_; }
  void value() const {
    if (error_) std::rethrow_exception(error_);
  }
  void set_value() { done_ = true; }
  void set_error(std::exception_ptr error) {
    done_ = true;
    error_ = std::move(error);
  }

 private:
  std::exception_ptr error_;
  bool done_ = false;
};

namespace detail {

/// What every promise of this layer shares: the inherited Context, the coroutine to resume
/// when this one finishes, and frames from the per-thread pool.
struct PromiseBase {
  Context context;
  std::coroutine_handle<> continuation;

  static void* operator new(std::size_t size) { return allocate_frame(size); }
  static void operator delete(void* frame, std::size_t size) noexcept { free_frame(frame, size); }

  std::suspend_always initial_suspend() noexcept { return {}; }
  /// Symmetric transfer to the awaiting coroutine: a long chain of tasks finishing one
  /// into the next runs in constant stack.
  struct FinalAwaiter {
    bool await_ready() noexcept { return false; }
    template <class P>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<P> self) noexcept {
      std::coroutine_handle<> next = self.promise().continuation;
      return next ? next : std::noop_coroutine();
    }
    void await_resume() noexcept {}
  };
  FinalAwaiter final_suspend() noexcept { return {}; }
};

/// The Context of the coroutine that awaits (only coroutines of this layer may).
template <class P>
const Context& context_of(std::coroutine_handle<P> awaiting) {
  static_assert(std::is_base_of_v<PromiseBase, P>,
                "reactor::co awaitables can only be awaited inside a reactor::co::Task");
  return awaiting.promise().context;
}

template <class T>
struct ValuePromise : PromiseBase {
  Outcome<T> outcome;
  template <class U = T>
  void return_value(U&& value) {
    outcome.set_value(std::forward<U>(value));
  }
  void unhandled_exception() { outcome.set_error(std::current_exception()); }
};

template <>
struct ValuePromise<void> : PromiseBase {
  Outcome<void> outcome;
  void return_void() { outcome.set_value(); }
  void unhandled_exception() { outcome.set_error(std::current_exception()); }
};

}  // namespace detail

/// A lazy, move-only coroutine that produces a T (or throws). It starts when awaited (or
/// spawned) and runs on the awaiting coroutine's loop, under its stop scope; its exception
/// is rethrown in the awaiter. Frames come from a per-thread pool (no malloc once warm).
template <class T = void>
class [[nodiscard]] Task {
  static_assert(!std::is_reference_v<T>, "a Task returns values, not references");

 public:
  struct promise_type : detail::ValuePromise<T> {
    Task get_return_object() {
      return Task(std::coroutine_handle<promise_type>::from_promise(*this));
    }
  };
  using Handle = std::coroutine_handle<promise_type>;
  using value_type = T;

  Task() = default;
  Task(Task&& other) noexcept : handle_(std::exchange(other.handle_, {})) {}
  Task& operator=(Task&& other) noexcept {
    if (this != &other) {
      if (handle_) handle_.destroy();
      handle_ = std::exchange(other.handle_, {});
    }
    return *this;
  }
  ~Task() {
    if (handle_) handle_.destroy();
  }
  explicit operator bool() const { return static_cast<bool>(handle_); }

  struct Awaiter {
    Handle handle;
    bool await_ready() const noexcept { return false; }
    template <class P>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<P> awaiting) noexcept {
      handle.promise().context = detail::context_of(awaiting);
      handle.promise().continuation = awaiting;
      return handle;
    }
    T await_resume() { return std::move(handle.promise().outcome).value(); }
  };
  /// `co_await std::move(task)` or `co_await make_task()`: runs it and takes its result.
  Awaiter operator co_await() && noexcept { return Awaiter{handle_}; }

  /// For the layer's own drivers (spawn, when_all): the frame, still owned by this Task.
  Handle handle() const noexcept { return handle_; }

 private:
  explicit Task(Handle handle) : handle_(handle) {}
  Handle handle_;
};

}  // namespace reactor::co
