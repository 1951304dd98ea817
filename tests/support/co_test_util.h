#pragma once
// Helpers for the coroutine layer's tests: running a task to its end on a loop.
#include <chrono>
#include <utility>

#include "reactor/co/spawn.h"
#include "test_util.h"

namespace reactor::test {

/// Spawns `task` on `loop` and runs the loop until the task ended or `timeout` passed
/// (done() on the result says which).
template <class T>
co::Spawned<T> run_task(EventLoop& loop, co::Task<T> task,
                        std::chrono::milliseconds timeout = 10s) {
  auto spawned = co::spawn(loop, std::move(task));
  run_until(
      loop, [&] { return spawned.done(); }, timeout);
  return spawned;
}

}  // namespace reactor::test
