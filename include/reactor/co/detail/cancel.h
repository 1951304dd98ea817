#pragma once
// How a stop request travels down a tree of coroutines without allocating: each spawned
// task and each when_all/when_any owns a CancelScope; a child scope listens to its parent,
// and every suspended awaiter listens to the scope of the task it runs in.
#include <coroutine>
#include <utility>

#include "reactor/co/detail/intrusive_list.h"

namespace reactor {
class EventLoop;
}

namespace reactor::co::detail {

class CancelScope;

/// Something told when a scope is asked to stop. Intrusive: listening never allocates.
class StopListener : public ListNode<StopListener> {
 public:
  /// Loop thread. The listener is already unlinked when this runs.
  virtual void on_stop() noexcept = 0;

 protected:
  StopListener() = default;
  StopListener(const StopListener&) = delete;
  StopListener& operator=(const StopListener&) = delete;
  ~StopListener() = default;

 private:
  friend class CancelScope;
  CancelScope* scope_ = nullptr;  // the scope it listens to, if any
};

/// A stop flag with listeners; loop thread only.
class CancelScope final : private StopListener {
 public:
  /// A child scope stops when its parent does (at once if the parent already has).
  explicit CancelScope(CancelScope* parent = nullptr) noexcept;
  ~CancelScope();

  /// Sets the flag and tells every listener, once. Listeners never resume a coroutine
  /// from inside this call (a Waiter posts its resumption), so it is safe anywhere.
  void request_stop() noexcept;
  bool stop_requested() const noexcept { return requested_; }

  /// Adds `listener` (not yet listening anywhere); the caller checked stop_requested().
  /// Inline, like unlisten(): every parked awaiter does both once per wait.
  void listen(StopListener& listener) noexcept {
    listener.scope_ = this;
    list_push(head_, listener);
  }
  /// Removes `listener` from whatever scope it listens to; harmless if none.
  static void unlisten(StopListener& listener) noexcept {
    if (CancelScope* scope = std::exchange(listener.scope_, nullptr))
      list_erase(scope->head_, listener);
  }

 private:
  void on_stop() noexcept override { request_stop(); }

  StopListener* head_ = nullptr;
  bool requested_ = false;
};

/// Throws std::system_error(operation_canceled): how every stopped or abandoned wait of
/// this layer ends.
[[noreturn]] void throw_canceled();

/// What a coroutine inherits from the one awaiting it: its loop and its stop scope.
struct Context {
  EventLoop* loop = nullptr;
  CancelScope* scope = nullptr;
};

}  // namespace reactor::co::detail
