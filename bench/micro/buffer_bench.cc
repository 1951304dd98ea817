// Micro-benchmarks of net::Buffer on the paths a connection takes for every read and
// write: append then consume in the steady state (no allocation expected), a standing
// backlog that forces the occasional slide to the front, the readv-style prepare/commit
// pair the read path uses, and the idle-release policy (free when empty, allocate again
// on the next byte) that keeps idle connections small.

#include <benchmark/benchmark.h>

#include <cstring>
#include <string>

#include "reactor/net/buffer.h"

namespace {

using reactor::net::Buffer;

// Append n bytes, consume them: the echo server's output buffer under a fast reader.
void BM_AppendConsume(benchmark::State& state) {
  const auto n = static_cast<size_t>(state.range(0));
  const std::string payload(n, 'x');
  Buffer buf;
  for (auto _ : state) {
    buf.append(payload);
    benchmark::DoNotOptimize(buf.data());
    buf.consume(n);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * n));
}
BENCHMARK(BM_AppendConsume)->Arg(64)->Arg(1024)->Arg(16384);

// A reader that lags by `backlog` bytes: 1 KiB in, 1 KiB out, with the backlog kept
// buffered, so begin_ creeps forward and make_room() has to slide the data back.
void BM_AppendConsumeWithBacklog(benchmark::State& state) {
  const auto backlog = static_cast<size_t>(state.range(0));
  constexpr size_t kChunk = 1024;
  const std::string chunk(kChunk, 'y');
  Buffer buf;
  for (size_t i = 0; i < backlog; i += kChunk) buf.append(chunk);
  for (auto _ : state) {
    buf.append(chunk);
    buf.consume(kChunk);
    benchmark::DoNotOptimize(buf.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kChunk));
}
BENCHMARK(BM_AppendConsumeWithBacklog)->Arg(4096)->Arg(60 * 1024);

// What a readv into the buffer looks like: prepare() a 64 KiB window, let "the kernel"
// fill `n` bytes of it (a memcpy here), commit(n), hand the bytes on, consume them.
void BM_PrepareCommit(benchmark::State& state) {
  const auto n = static_cast<size_t>(state.range(0));
  const std::string wire(n, 'z');
  Buffer buf;
  for (auto _ : state) {
    char* dst = buf.prepare(64 * 1024);
    std::memcpy(dst, wire.data(), n);
    buf.commit(n);
    benchmark::DoNotOptimize(buf.view());
    buf.consume(n);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * n));
}
BENCHMARK(BM_PrepareCommit)->Arg(64)->Arg(1024)->Arg(16384);

// The idle-release policy's price: every message allocates and frees the storage.
void BM_AppendConsumeRelease(benchmark::State& state) {
  const auto n = static_cast<size_t>(state.range(0));
  const std::string payload(n, 'w');
  Buffer buf;
  for (auto _ : state) {
    buf.append(payload);
    benchmark::DoNotOptimize(buf.data());
    buf.consume(n);
    buf.release_if_empty();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * n));
}
BENCHMARK(BM_AppendConsumeRelease)->Arg(64)->Arg(1024);

// Growth from empty to `n` bytes in 1 KiB appends, then drop: a burst into a cold buffer.
void BM_GrowFromEmpty(benchmark::State& state) {
  const auto n = static_cast<size_t>(state.range(0));
  const std::string chunk(1024, 'g');
  for (auto _ : state) {
    Buffer buf;
    for (size_t i = 0; i < n; i += chunk.size()) buf.append(chunk);
    benchmark::DoNotOptimize(buf.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * n));
}
BENCHMARK(BM_GrowFromEmpty)->Arg(64 * 1024)->Arg(1024 * 1024);

}  // namespace
