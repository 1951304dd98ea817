// Micro-benchmark of dispatch: an EventLoop watching `n` descriptors that are all
// readable and stay so (level-triggered: nobody drains them), so every wait returns all
// of them. One benchmark iteration runs the loop until `n` events were dispatched (one
// wait when the backend returns them all at once); the time per item is the cost of one
// dispatched event, its share of the wait included.
// Registered per backend: "epoll", "poll", "select" (select refuses descriptors at or
// past FD_SETSIZE, so the largest n stays well below 1024).

#include <benchmark/benchmark.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <string>
#include <vector>

#include "reactor/core/event_loop.h"
#include "reactor/core/unique_fd.h"

namespace {

using reactor::EventLoop;
using reactor::UniqueFd;

// Counts events and stops the loop once the count reaches the target. A backend may
// hand back fewer events per wait than are ready (a bounded event array), so a run can
// take more than one iteration and overshoot the target; the count stays exact.
class CountingHandler final : public reactor::Handler {
 public:
  explicit CountingHandler(EventLoop& loop) : loop_(loop) {}
  void handle_events(uint32_t) override {
    if (++count == target) loop_.stop();
  }
  uint64_t count = 0;
  uint64_t target = 0;

 private:
  EventLoop& loop_;
};

enum class Kind { eventfd, socketpair };

// `n` descriptors with one readable byte/count each; the returned fds are the ones to watch.
std::vector<UniqueFd> readable_fds(Kind kind, size_t n, std::vector<int>& watch) {
  std::vector<UniqueFd> owned;
  for (size_t i = 0; i < n; ++i) {
    if (kind == Kind::eventfd) {
      UniqueFd fd(::eventfd(1, EFD_NONBLOCK | EFD_CLOEXEC));
      watch.push_back(fd.get());
      owned.push_back(std::move(fd));
    } else {
      int sv[2];
      if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) break;
      UniqueFd reader(sv[0]), writer(sv[1]);
      char byte = 'r';
      if (::write(writer.get(), &byte, 1) != 1) break;
      watch.push_back(reader.get());
      owned.push_back(std::move(reader));
      owned.push_back(std::move(writer));
    }
  }
  return owned;
}

void BM_Dispatch(benchmark::State& state, std::string backend, Kind kind) {
  const auto n = static_cast<size_t>(state.range(0));
  std::vector<int> fds;
  std::vector<UniqueFd> owned = readable_fds(kind, n, fds);
  if (fds.size() != n) {
    state.SkipWithError("could not create the descriptors");
    return;
  }
  EventLoop loop(backend);
  CountingHandler handler(loop);
  for (int fd : fds) {
    if (loop.watch(fd, reactor::io::kReadable, handler)) {
      state.SkipWithError("backend refused a descriptor");
      for (int w : fds) loop.unwatch(w);
      return;
    }
  }
  for (auto _ : state) {
    handler.target = handler.count + n;
    loop.run();  // returns after the iteration in which the n-th event arrived
  }
  for (int fd : fds) loop.unwatch(fd);
  if (handler.count < state.iterations() * n) state.SkipWithError("lost events");
  state.SetItemsProcessed(static_cast<int64_t>(handler.count));
  state.counters["events_per_run"] =
      static_cast<double>(handler.count) / static_cast<double>(state.iterations());
}

// Registered by hand to put the backend and descriptor kind into the name.
const bool kRegistered = [] {
  for (const char* backend : {"epoll", "poll", "select"}) {
    std::string b(backend);
    benchmark::RegisterBenchmark(("BM_Dispatch/eventfd/" + b).c_str(), BM_Dispatch, b,
                                 Kind::eventfd)
        ->Arg(1)
        ->Arg(16)
        ->Arg(128)
        ->Arg(512);
    benchmark::RegisterBenchmark(("BM_Dispatch/socketpair/" + b).c_str(), BM_Dispatch, b,
                                 Kind::socketpair)
        ->Arg(128);
  }
  return true;
}();

}  // namespace
