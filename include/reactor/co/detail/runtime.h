#pragma once
#include <cstdint>
#include <vector>

#include "reactor/co/detail/intrusive_list.h"

namespace reactor {
class EventLoop;
}

namespace reactor::co::detail {

class Waiter;

/// A detached coroutine tree (co::spawn's root). Linked into its loop's Runtime while it
/// runs, so that destroying the loop can free it without resuming it.
class RootLink : public ListNode<RootLink> {
 public:
  virtual void destroy_frame() noexcept = 0;

 protected:
  ~RootLink() = default;
};

/// Something that must end with its loop, after the roots are gone: a connection made by
/// co::connect owns its TcpClient, whose group owns the connection, and while that
/// connection is open only the loop's end can break the cycle.
class LoopBound : public ListNode<LoopBound> {
 public:
  /// Called once from the loop's destruction, already unbound.
  virtual void end_with_loop() noexcept = 0;

 protected:
  ~LoopBound() = default;
};

/// The coroutine layer's state for one loop (one per thread, like the loop): the roots
/// still suspended on it and the slots through which posted cancellations find their
/// Waiter. Created on first use; destroyed by the loop's on_destroy hook, which first
/// destroys every root still linked, then ends everything bound. Loop thread only, except
/// post_cancel().
class Runtime {
 public:
  /// The calling thread's runtime for `loop` (which must be this thread's loop).
  static Runtime& of(EventLoop& loop);
  EventLoop& loop() const { return loop_; }

  void adopt(RootLink& root) noexcept;
  void release(RootLink& root) noexcept;
  void bind(LoopBound& bound) noexcept;
  void unbind(LoopBound& bound) noexcept;

  /// A slot names a Waiter across threads: {slot, generation} stays valid only while the
  /// Waiter keeps it open.
  uint32_t open_slot(Waiter& waiter, uint32_t& generation);
  void close_slot(uint32_t slot) noexcept;
  /// Any thread: on the loop thread, delivers the cancellation to the slot's Waiter if it
  /// is still the same generation.
  void post_cancel(uint32_t slot, uint32_t generation);

 private:
  struct Slot {
    Waiter* waiter = nullptr;
    uint32_t generation = 0;
  };
  explicit Runtime(EventLoop& loop) : loop_(loop) {}
  ~Runtime();
  void deliver(uint32_t slot, uint32_t generation);

  EventLoop& loop_;

  RootLink* roots_ = nullptr;
  LoopBound* bound_ = nullptr;
  std::vector<Slot> slots_;
  std::vector<uint32_t> free_slots_;
};

}  // namespace reactor::co::detail
