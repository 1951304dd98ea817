#pragma once
// co::when_all and co::when_any: run tasks concurrently on the awaiting coroutine's loop.
#include <atomic>
#include <cstddef>
#include <exception>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>

#include "reactor/co/task.h"

namespace reactor::co {

/// What a Task<void> contributes to a when_all tuple or a when_any variant.
template <class T>
using Slot = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

namespace detail {

/// The state of one when_all/when_any, in the awaiting coroutine's frame. Children run
/// under `scope`, a child of the awaiting task's scope.
struct Group {
  std::optional<CancelScope> scope;
  std::coroutine_handle<> awaiting;
  std::size_t pending = 0;
  std::size_t first = static_cast<std::size_t>(-1);  // index of the first child to end
  std::exception_ptr error;                            // the first exception (when_all)
  bool any = false;

  /// A child ended. when_any: the first one wins and the others are told to stop.
  /// when_all: the first exception stops the others. Returns the coroutine to run next.
  std::coroutine_handle<> child_done(std::size_t index, std::exception_ptr child_error) noexcept {
    if (first == static_cast<std::size_t>(-1)) {
      first = index;
      if (any) scope->request_stop();
    }
    if (child_error && !any && !error) {
      error = child_error;
      scope->request_stop();
    }
    return --pending == 0 ? awaiting : std::noop_coroutine();
  }
};

struct DriverPromise;
/// A child's driver: awaits the child, stores its outcome, reports to the Group.
struct Driver {
  using promise_type = DriverPromise;
  std::coroutine_handle<DriverPromise> handle;
};

struct DriverPromise : PromiseBase {
  Group* group = nullptr;
  std::size_t index = 0;
  std::exception_ptr error;

  Driver get_return_object() {
    return Driver{std::coroutine_handle<DriverPromise>::from_promise(*this)};
  }
  struct Report {
    bool await_ready() noexcept { return false; }
    std::coroutine_handle<> await_suspend(std::coroutine_handle<DriverPromise> self) noexcept {
      auto& p = self.promise();
      return p.group->child_done(p.index, p.error);
    }
    void await_resume() noexcept {}
  };
  Report final_suspend() noexcept { return {}; }
  void return_void() noexcept {}
  void unhandled_exception() noexcept { error = std::current_exception(); }
};

template <class T>
Driver drive(Task<T>& task, Outcome<Slot<T>>& out) {
  try {
    if constexpr (std::is_void_v<T>) {
      co_await std::move(task);
      out.set_value(std::monostate{});
    } else {
      out.set_value(co_await std::move(task));
    }
  } catch (...) {
    out.set_error(std::current_exception());
    throw;  // to DriverPromise::unhandled_exception, which reports it to the Group
  }
}

/// The awaitable both combinators return; Result builds the value from the outcomes.
template <bool Any, class... Ts>
class GroupAwaiter {
 public:
  explicit GroupAwaiter(Task<Ts>... tasks) : tasks_(std::move(tasks)...) {}
  /// Only before it is awaited (so that timeout() and as_task() can take one).
  GroupAwaiter(GroupAwaiter&& other) noexcept : tasks_(std::move(other.tasks_)) {}
  ~GroupAwaiter() {
    for (auto& driver : drivers_)
      if (driver) driver.destroy();
  }

  bool await_ready() const noexcept { return false; }
  template <class P>
  bool await_suspend(std::coroutine_handle<P> awaiting) {
    const Context& context = context_of(awaiting);
    group_.any = Any;
    group_.scope.emplace(context.scope);
    group_.awaiting = awaiting;
    group_.pending = sizeof...(Ts) + 1;  // +1: held until every child has started
    start(context, std::index_sequence_for<Ts...>{});
    return --group_.pending != 0;
  }
  auto await_resume() {
    if constexpr (Any) {
      return winner(std::index_sequence_for<Ts...>{});
    } else {
      if (group_.error) std::rethrow_exception(group_.error);
      for_each_outcome([](auto& outcome) {
        if (!outcome.has_value()) throw_canceled();  // not started: the scope had stopped
      });
      return std::apply(
          [](auto&... outcome) { return std::tuple<Slot<Ts>...>(std::move(outcome).value()...); },
          outcomes_);
    }
  }

 private:
  template <std::size_t... I>
  void start(const Context& context, std::index_sequence<I...>) {
    (start_one<I>(context), ...);
  }
  template <class F>
  void for_each_outcome(F f) {
    std::apply([&](auto&... outcome) { (f(outcome), ...); }, outcomes_);
  }
  // A child is not started once the group's scope has stopped (a when_any already has its
  // winner, a when_all its error, or the awaiting task was stopped): a child that would
  // complete at once — a read with bytes at hand — would take them only to be dropped.
  template <std::size_t I>
  void start_one(const Context& context) {
    if (group_.scope->stop_requested()) {
      --group_.pending;
      return;
    }
    auto handle = drive(std::get<I>(tasks_), std::get<I>(outcomes_)).handle;
    drivers_[I] = handle;
    handle.promise().group = &group_;
    handle.promise().index = I;
    handle.promise().context = Context{context.loop, &*group_.scope};
    handle.resume();
  }
  template <std::size_t... I>
  std::variant<Slot<Ts>...> winner(std::index_sequence<I...>) {
    if (group_.first == static_cast<std::size_t>(-1)) throw_canceled();  // none started
    std::optional<std::variant<Slot<Ts>...>> result;
    ((group_.first == I ? (void)result.emplace(std::in_place_index<I>,
                                               std::move(std::get<I>(outcomes_)).value())
                        : void()),
     ...);
    return std::move(*result);
  }

  std::tuple<Task<Ts>...> tasks_;
  std::tuple<Outcome<Slot<Ts>>...> outcomes_;
  std::coroutine_handle<DriverPromise> drivers_[sizeof...(Ts)] = {};
  Group group_;
};

}  // namespace detail

/// Runs every task concurrently and returns all their values (void as std::monostate).
/// The first exception stops the others (their awaitables end with operation_canceled);
/// once all have ended, that exception is rethrown.
template <class... Ts>
detail::GroupAwaiter<false, Ts...> when_all(Task<Ts>... tasks) {
  static_assert(sizeof...(Ts) > 0);
  return detail::GroupAwaiter<false, Ts...>(std::move(tasks)...);
}

/// Runs every task concurrently; the first to end wins and the others are stopped. Returns
/// once all have ended: a variant holding the winner's value (its index says which won),
/// or rethrows the winner's exception. The losers' results are dropped, so make the losers
/// operations that lose nothing when cancelled (every awaitable of this layer is).
template <class... Ts>
detail::GroupAwaiter<true, Ts...> when_any(Task<Ts>... tasks) {
  static_assert(sizeof...(Ts) > 0);
  return detail::GroupAwaiter<true, Ts...>(std::move(tasks)...);
}

}  // namespace reactor::co
