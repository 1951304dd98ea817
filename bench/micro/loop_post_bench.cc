// Micro-benchmarks of EventLoop::post(): the queue plus eventfd wake-up that hands work
// to a loop from another thread. Each iteration posts a batch of tasks and runs the loop
// until the batch's last task stops it; the time per item is the cost of one task from
// post() to its execution. Cross-thread numbers need two cores: run it unpinned.

#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#include "reactor/core/event_loop.h"

namespace {

using reactor::EventLoop;

constexpr int64_t kBatch = 100'000;

// Posts from the loop thread itself: the mutex and vector, no wake-up write.
void BM_PostSameThread(benchmark::State& state) {
  EventLoop loop;
  uint64_t ran = 0;
  for (auto _ : state) {
    for (int64_t i = 0; i < kBatch - 1; ++i) loop.post([&ran] { ++ran; });
    loop.post([&ran, &loop] {
      ++ran;
      loop.stop();
    });
    loop.run();
  }
  if (ran != static_cast<uint64_t>(state.iterations() * kBatch)) state.SkipWithError("lost tasks");
  state.SetItemsProcessed(state.iterations() * kBatch);
}
BENCHMARK(BM_PostSameThread)->Unit(benchmark::kMillisecond)->UseRealTime();

// `producers` threads post kBatch tasks between them while the loop runs them.
void BM_PostCrossThread(benchmark::State& state) {
  const auto producers = static_cast<int>(state.range(0));
  EventLoop loop;
  uint64_t ran = 0;
  const uint64_t per_batch = static_cast<uint64_t>(kBatch / producers) * static_cast<uint64_t>(producers);
  for (auto _ : state) {
    const uint64_t stop_at = ran + per_batch;
    std::vector<std::thread> threads;
    for (int p = 0; p < producers; ++p) {
      threads.emplace_back([&loop, &ran, stop_at, producers] {
        for (int64_t i = 0; i < kBatch / producers; ++i)
          loop.post([&ran, &loop, stop_at] {
            if (++ran == stop_at) loop.stop();
          });
      });
    }
    loop.run();
    for (auto& t : threads) t.join();
  }
  if (ran != state.iterations() * per_batch) state.SkipWithError("lost tasks");
  state.SetItemsProcessed(static_cast<int64_t>(ran));
}
BENCHMARK(BM_PostCrossThread)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

// Latency of a hand-off: a task bounces between two loops on two threads, each hop a
// post() that has to wake the other loop up.
void BM_PostPingPong(benchmark::State& state) {
  constexpr int64_t kHops = 10'000;
  EventLoop here;
  std::atomic<EventLoop*> there{nullptr};
  std::thread other([&there] {
    EventLoop loop;
    there.store(&loop);
    loop.run();
    there.store(nullptr);
  });
  while (there.load() == nullptr) std::this_thread::yield();
  EventLoop* away = there.load();
  int64_t hops = 0;
  std::function<void()> back;
  std::function<void()> out = [&] { away->post([&] { here.post(back); }); };
  back = [&] {
    if (++hops % kHops == 0)
      here.stop();
    else
      out();
  };
  for (auto _ : state) {
    out();
    here.run();
  }
  away->stop();
  other.join();
  state.SetItemsProcessed(hops);
}
BENCHMARK(BM_PostPingPong)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
