#include "reactor/co/detail/frame_pool.h"

#include <array>
#include <new>
#include <utility>

namespace reactor::co::detail {
namespace {

constexpr std::size_t kGrain = 64;
constexpr std::size_t kClasses = 64;                // frames up to 4 KiB are pooled
constexpr std::size_t kMaxPooledBytes = 4u << 20;  // per thread; beyond it, frames go back

// Trivially destructible, so still readable after the pool's destructor ran: a frame freed
// later in the thread's exit (a loop destroyed after the pool) goes straight back.
thread_local bool t_pool_gone = false;

struct FreeFrame {
  FreeFrame* next;
};

// One per thread. Pooled frames are plain operator-new blocks, so a frame made on one
// thread and freed on another simply joins the second thread's lists.
class FramePool {
 public:
  FramePool() = default;
  FramePool(const FramePool&) = delete;
  FramePool& operator=(const FramePool&) = delete;
  ~FramePool() {
    t_pool_gone = true;
    for (FreeFrame* head : lists_)
      while (head) ::operator delete(std::exchange(head, head->next));
  }

  void* allocate(std::size_t size) {
    std::size_t c = size_class(size);
    if (c >= kClasses) return ::operator new(size);
    if (FreeFrame* frame = lists_[c]) {
      lists_[c] = frame->next;
      pooled_ -= class_bytes(c);
      return frame;
    }
    return ::operator new(class_bytes(c));
  }

  void free(void* frame, std::size_t size) noexcept {
    std::size_t c = size_class(size);
    if (c >= kClasses || pooled_ + class_bytes(c) > kMaxPooledBytes) {
      ::operator delete(frame);
      return;
    }
    lists_[c] = new (frame) FreeFrame{lists_[c]};
    pooled_ += class_bytes(c);
  }

 private:
  static std::size_t size_class(std::size_t size) { return (size + kGrain - 1) / kGrain; }
  static std::size_t class_bytes(std::size_t c) { return c * kGrain; }

  std::array<FreeFrame*, kClasses> lists_{};
  std::size_t pooled_ = 0;
};

thread_local FramePool t_pool;

}  // namespace

void* allocate_frame(std::size_t size) {
  if (t_pool_gone) return ::operator new(size);
  return t_pool.allocate(size);
}

void free_frame(void* frame, std::size_t size) noexcept {
  if (t_pool_gone) return ::operator delete(frame);
  t_pool.free(frame, size);
}

}  // namespace reactor::co::detail
