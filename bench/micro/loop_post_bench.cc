// Micro-benchmarks of EventLoop::post(): the queue plus eventfd wake-up that hands work
// to a loop from another thread. Each iteration posts a batch of tasks and runs the loop
// until the batch's last task stops it; the time per item is the cost of one task from
// post() to its execution. Cross-thread numbers need two cores: run it unpinned.
//
// A lost wake-up (the loop asleep in its selector with tasks queued) would hang a
// cross-thread benchmark for good, so those run with a guard timer on every loop: its
// tick wakes the loop every kGuard whatever happens, and a tick that finds work queued
// while nothing ran for kStalled makes the benchmark report an error, not a number.

#include <benchmark/benchmark.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "reactor/core/event_loop.h"

namespace {

using reactor::EventLoop;

constexpr int64_t kBatch = 100'000;
constexpr auto kGuard = std::chrono::milliseconds(250);
constexpr auto kStalled = std::chrono::milliseconds(100);  // healthy: microseconds

// Ticks every kGuard on `loop`; counts the ticks at which `stuck()` holds.
class StallGuard {
 public:
  StallGuard(EventLoop& loop, std::function<bool()> stuck) : loop_(loop) {
    id_ = loop.run_every(kGuard, [this, stuck = std::move(stuck)] {
      if (stuck()) ++stalls;
    });
  }
  ~StallGuard() { loop_.cancel(id_); }
  StallGuard(const StallGuard&) = delete;
  StallGuard& operator=(const StallGuard&) = delete;
  uint64_t stalls = 0;

 private:
  EventLoop& loop_;
  reactor::TimerId id_;
};

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
  const uint64_t per_batch =
      static_cast<uint64_t>(kBatch / producers) * static_cast<uint64_t>(producers);
  std::atomic<uint64_t> posted{0};
  reactor::Clock::time_point last_ran = reactor::Clock::now();
  StallGuard guard(loop, [&] { return posted.load() > ran && loop.now() - last_ran >= kStalled; });
  for (auto _ : state) {
    const uint64_t stop_at = ran + per_batch;
    std::vector<std::thread> threads;
    for (int p = 0; p < producers; ++p) {
      threads.emplace_back([&loop, &ran, &posted, &last_ran, stop_at, producers] {
        for (int64_t i = 0; i < kBatch / producers; ++i) {
          posted.fetch_add(1);
          loop.post([&ran, &loop, &last_ran, stop_at] {
            last_ran = loop.now();
            if (++ran == stop_at) loop.stop();
          });
        }
      });
    }
    loop.run();
    for (auto& t : threads) t.join();
  }
  if (guard.stalls > 0)
    state.SkipWithError(("lost wake-up: the loop slept with posted tasks queued (" +
                         std::to_string(guard.stalls) +
                         " guard tick(s) found tasks queued and none run for 100 ms)")
                            .c_str());
  else if (ran != state.iterations() * per_batch)
    state.SkipWithError("lost tasks");
  state.SetItemsProcessed(static_cast<int64_t>(ran));
}
BENCHMARK(BM_PostCrossThread)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

// Latency of a hand-off: a task bounces between two loops on two threads, each hop a
// post() that has to wake the other loop up.
void BM_PostPingPong(benchmark::State& state) {
  constexpr uint64_t kHops = 10'000;
  EventLoop here;
  std::atomic<EventLoop*> there{nullptr};
  std::thread other([&there] {
    EventLoop loop;
    StallGuard keep_awake(loop, [] { return false; });  // only its tick matters here
    there.store(&loop);
    loop.run();
    there.store(nullptr);
  });
  while (there.load() == nullptr) std::this_thread::yield();
  EventLoop* away = there.load();
  uint64_t hops = 0;
  bool running = false;
  reactor::Clock::time_point last_hop = reactor::Clock::now();
  StallGuard guard(here, [&] { return running && here.now() - last_hop >= kStalled; });
  std::function<void()> back;
  std::function<void()> out = [&] { away->post([&] { here.post(back); }); };
  back = [&] {
    last_hop = here.now();
    if (++hops % kHops == 0)
      here.stop();
    else
      out();
  };
  for (auto _ : state) {
    running = true;
    last_hop = reactor::Clock::now();
    out();
    here.run();
    running = false;
  }
  away->stop();
  other.join();
  if (guard.stalls > 0)
    state.SkipWithError(("lost wake-up: a hop waited on a sleeping loop (" +
                         std::to_string(guard.stalls) +
                         " guard tick(s) found tasks queued and none run for 100 ms)")
                            .c_str());
  state.SetItemsProcessed(static_cast<int64_t>(hops));
}
BENCHMARK(BM_PostPingPong)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
