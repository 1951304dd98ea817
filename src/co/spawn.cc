#include "reactor/co/spawn.h"

namespace reactor::co::detail {
namespace {

// Owns a root that has not started yet, so a loop destroyed before the posted start runs
// frees the frame instead of leaking it.
struct PendingRoot {
  std::coroutine_handle<RootPromise> root;
  explicit PendingRoot(std::coroutine_handle<RootPromise> r) : root(r) {}
  PendingRoot(PendingRoot&& other) noexcept : root(std::exchange(other.root, {})) {}
  PendingRoot& operator=(PendingRoot&&) = delete;
  ~PendingRoot() {
    if (root) root.destroy();
  }
};

void start_in_loop(EventLoop& loop, std::coroutine_handle<RootPromise> root) {
  RootPromise& promise = root.promise();
  promise.context = Context{&loop, &promise.scope};
  promise.runtime = &Runtime::of(loop);
  promise.runtime->adopt(promise);
  root.resume();
}

}  // namespace

void start_root(EventLoop& loop, std::coroutine_handle<RootPromise> root) {
  if (loop.in_loop_thread()) return start_in_loop(loop, root);
  loop.post([&loop, pending = PendingRoot(root)]() mutable {
    start_in_loop(loop, std::exchange(pending.root, {}));
  });
}

}  // namespace reactor::co::detail
