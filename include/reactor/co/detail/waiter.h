#pragma once
#include <coroutine>
#include <cstdint>
#include <optional>
#include <stop_token>

#include "reactor/co/detail/cancel.h"

namespace reactor::co::detail {

class Runtime;

/// The base of every awaiter that parks a coroutine on the loop (on a timer, a connection,
/// a socket, a signal). It delivers cancellation — from the task's scope or from an explicit
/// std::stop_token — by resuming the coroutine with std::errc::operation_canceled:
///   1. the request arrives (scope: on the loop thread; token: on any thread);
///   2. on the loop thread the awaiter stops waiting at once (stop_waiting()), so nothing
///      it waited for (bytes, a connection) is taken and then dropped;
///   3. the resumption is posted, never run inside the stop request, and a posted step that
///      finds the awaiter already resumed or destroyed (slot generation) does nothing.
/// Movable only before it is awaited (a move yields an unarmed Waiter): once armed, the
/// loop holds its address.
class Waiter : private StopListener {
 public:
  Waiter() = default;
  Waiter(Waiter&& other) noexcept;
  Waiter& operator=(Waiter&&) = delete;

 protected:
  ~Waiter() { disarm(); }

  /// In await_suspend, before parking. Returns false (do not suspend; cancelled() is true)
  /// when a stop was already requested.
  bool arm(const Context& context, std::coroutine_handle<> handle, const std::stop_token& token) {
    if (context.scope->stop_requested() || token.stop_requested()) [[unlikely]] {
      cancelled_ = true;
      return false;
    }
    handle_ = handle;
    loop_ = context.loop;  // the runtime is looked up only if a stop needs it
    context.scope->listen(*this);
    if (token.stop_possible()) arm_token(token);
    return true;
  }
  /// Resumes the parked coroutine after a normal completion.
  void complete() {
    disarm();
    handle_.resume();
  }
  /// Forgets the stop request plumbing (complete() and the destructor call it).
  void disarm() noexcept {
    CancelScope::unlisten(*this);
    if (token_callback_ || has_slot_) [[unlikely]]
      disarm_token();
  }
  bool cancelled() const { return cancelled_; }
  /// Throws std::system_error(operation_canceled) if the wait was cancelled.
  void throw_if_cancelled() const {
    if (cancelled_) [[unlikely]]
      throw_canceled();
  }

  /// The derived awaiter unregisters from what it waits on (loop thread).
  virtual void stop_waiting() noexcept = 0;

 private:
  friend class Runtime;
  struct TokenCallback {
    Runtime* runtime;
    uint32_t slot;
    uint32_t generation;
    void operator()() const noexcept;
  };
  void on_stop() noexcept override;
  void arm_token(const std::stop_token& token);
  void disarm_token() noexcept;
  void cancel_now() noexcept;     // steps 2 and 3, on the loop thread
  void deliver_cancel() noexcept;  // the posted resumption

  std::coroutine_handle<> handle_;
  EventLoop* loop_ = nullptr;
  Runtime* runtime_ = nullptr;
  std::optional<std::stop_callback<TokenCallback>> token_callback_;
  uint32_t slot_ = 0;
  uint32_t generation_ = 0;
  bool has_slot_ = false;
  bool cancelled_ = false;
};

}  // namespace reactor::co::detail
