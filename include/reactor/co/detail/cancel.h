#pragma once
// How a stop request travels down a tree of coroutines without allocating: each spawned
// task and each when_all/when_any owns a CancelScope; a child scope listens to its parent,
// and every suspended awaiter listens to the scope of the task it runs in.
#include <coroutine>

namespace reactor {
class EventLoop;
}

namespace reactor::co::detail {

class CancelScope;

/// Something told when a scope is asked to stop. Intrusive: listening never allocates.
class StopListener {
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
  CancelScope* scope_ = nullptr;
  StopListener* prev_ = nullptr;
  StopListener* next_ = nullptr;
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
    listener.prev_ = nullptr;
    listener.next_ = head_;
    if (head_) head_->prev_ = &listener;
    head_ = &listener;
  }
  /// Removes `listener` from whatever scope it listens to; harmless if none.
  static void unlisten(StopListener& listener) noexcept {
    CancelScope* scope = listener.scope_;
    if (!scope) return;
    if (listener.prev_)
      listener.prev_->next_ = listener.next_;
    else
      scope->head_ = listener.next_;
    if (listener.next_) listener.next_->prev_ = listener.prev_;
    listener.scope_ = nullptr;
    listener.prev_ = listener.next_ = nullptr;
  }

 private:
  void on_stop() noexcept override { request_stop(); }

  StopListener* head_ = nullptr;
  bool requested_ = false;
};

/// What a coroutine inherits from the one awaiting it: its loop and its stop scope.
struct Context {
  EventLoop* loop = nullptr;
  CancelScope* scope = nullptr;
};

}  // namespace reactor::co::detail
