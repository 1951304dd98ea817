// Micro-benchmarks of timers: scheduling and cancelling a million of them, through the
// public EventLoop API (run_after/cancel) and straight on detail::TimerQueue (the heap
// without the loop's thread check and clock read), and how fast due timers fire.
// Deadlines come from a fixed pseudo-random sequence so the heap sees unordered input
// and every run sees the same one.

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "core/timer_queue.h"
#include "reactor/core/event_loop.h"

namespace {

using reactor::Clock;
using reactor::EventLoop;
using reactor::TimerId;
using reactor::detail::TimerQueue;

constexpr size_t kTimers = 1'000'000;

// Offsets in [1 s, 2 s): far enough that nothing fires while the benchmark runs.
std::vector<Clock::duration> offsets(size_t n) {
  std::vector<Clock::duration> out;
  out.reserve(n);
  uint64_t x = 0x9e3779b97f4a7c15ull;
  for (size_t i = 0; i < n; ++i) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;  // 64-bit LCG
    out.push_back(std::chrono::seconds(1) + std::chrono::microseconds((x >> 33) % 1'000'000));
  }
  return out;
}

// 1M run_after, then 1M cancel in the order scheduled.
void schedule_then_cancel(EventLoop& loop, const std::vector<Clock::duration>& delays,
                          std::vector<TimerId>& ids, uint64_t& fired) {
  for (size_t i = 0; i < kTimers; ++i) ids[i] = loop.run_after(delays[i], [&fired] { ++fired; });
  for (TimerId id : ids) loop.cancel(id);
}

// Steady state: one untimed round first, so the timer slots and the heap have already
// grown to a million entries and their pages are mapped.
void BM_LoopScheduleThenCancel(benchmark::State& state) {
  const auto delays = offsets(kTimers);
  std::vector<TimerId> ids(kTimers);
  uint64_t fired = 0;
  EventLoop loop;
  schedule_then_cancel(loop, delays, ids, fired);
  for (auto _ : state) schedule_then_cancel(loop, delays, ids, fired);
  benchmark::DoNotOptimize(fired);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kTimers));
}
BENCHMARK(BM_LoopScheduleThenCancel)->Unit(benchmark::kMillisecond);

// Cold: a fresh loop each time, so the storage grows from nothing (page faults included).
void BM_LoopScheduleThenCancelCold(benchmark::State& state) {
  const auto delays = offsets(kTimers);
  std::vector<TimerId> ids(kTimers);
  uint64_t fired = 0;
  for (auto _ : state) {
    auto loop = std::make_unique<EventLoop>();
    schedule_then_cancel(*loop, delays, ids, fired);
    state.PauseTiming();  // the loop's destruction is not part of the question
    loop.reset();
    state.ResumeTiming();
  }
  benchmark::DoNotOptimize(fired);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kTimers));
}
BENCHMARK(BM_LoopScheduleThenCancelCold)->Unit(benchmark::kMillisecond);

// 1M times: schedule one, cancel it (a request timeout that almost never fires).
void BM_LoopScheduleCancelPairs(benchmark::State& state) {
  const auto delays = offsets(kTimers);
  uint64_t fired = 0;
  EventLoop loop;
  for (auto _ : state) {
    for (size_t i = 0; i < kTimers; ++i)
      loop.cancel(loop.run_after(delays[i], [&fired] { ++fired; }));
  }
  benchmark::DoNotOptimize(fired);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kTimers));
}
BENCHMARK(BM_LoopScheduleCancelPairs)->Unit(benchmark::kMillisecond);

// The same 1M schedule-then-cancel on the queue alone (steady state, as above).
void BM_QueueScheduleThenCancel(benchmark::State& state) {
  const auto delays = offsets(kTimers);
  std::vector<TimerId> ids(kTimers);
  uint64_t fired = 0;
  TimerQueue queue;
  auto round = [&] {
    const Clock::time_point now = Clock::now();
    for (size_t i = 0; i < kTimers; ++i)
      ids[i] = queue.add(now + delays[i], Clock::duration::zero(), [&fired] { ++fired; });
    for (TimerId id : ids) queue.cancel(id);
  };
  round();
  for (auto _ : state) round();
  benchmark::DoNotOptimize(fired);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kTimers));
}
BENCHMARK(BM_QueueScheduleThenCancel)->Unit(benchmark::kMillisecond);

// Run-due throughput: 1M timers already due, one run_due() fires them all in order.
void BM_QueueRunDue(benchmark::State& state) {
  const auto delays = offsets(kTimers);
  uint64_t fired = 0;
  TimerQueue queue;
  for (auto _ : state) {
    state.PauseTiming();
    const Clock::time_point base = Clock::now() - std::chrono::seconds(10);
    for (size_t i = 0; i < kTimers; ++i)
      queue.add(base + delays[i], Clock::duration::zero(), [&fired] { ++fired; });
    state.ResumeTiming();
    queue.run_due(Clock::now());
  }
  if (fired != state.iterations() * kTimers) state.SkipWithError("not every timer fired");
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kTimers));
}
BENCHMARK(BM_QueueRunDue)->Unit(benchmark::kMillisecond);

// Steady state of a busy server: `n` pending timers; each step adds one and cancels the
// oldest, so the heap keeps its size and lazy deletion has to keep up.
void BM_QueueChurn(benchmark::State& state) {
  const auto n = static_cast<size_t>(state.range(0));
  const auto delays = offsets(n);
  std::vector<TimerId> ring(n);
  TimerQueue queue;
  const Clock::time_point base = Clock::now();
  for (size_t i = 0; i < n; ++i) ring[i] = queue.add(base + delays[i], {}, [] {});
  size_t i = 0;
  for (auto _ : state) {
    queue.cancel(ring[i]);
    ring[i] = queue.add(base + delays[i], {}, [] {});
    if (++i == n) i = 0;
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_QueueChurn)->Arg(1000)->Arg(100000);

}  // namespace
