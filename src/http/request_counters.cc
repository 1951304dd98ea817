#include "http/request_counters.h"

#include <algorithm>

namespace reactor::http::detail {
namespace {

// The index of `method` if it is the one of that index: one comparison, since the length
// and first letter already narrowed it to that candidate.
uint8_t is(std::string_view method, uint8_t index) {
  return method == RequestStats::kMethods[index] ? index : kOtherMethod;
}

}  // namespace

uint8_t method_class(std::string_view method) {
  // Indexes into RequestStats::kMethods, picked by length and first letter: no loop over
  // the table on every request.
  switch (method.size()) {
    case 3:
      return is(method, method[0] == 'G' ? 0 : 3);  // GET, PUT
    case 4:
      return is(method, method[0] == 'H' ? 1 : 2);  // HEAD, POST
    case 5:
      return is(method, method[0] == 'P' ? 6 : 8);  // PATCH, TRACE
    case 6:
      return is(method, 4);  // DELETE
    case 7:
      return is(method, method[0] == 'O' ? 5 : 7);  // OPTIONS, CONNECT
    default:
      return kOtherMethod;
  }
}

void LoopRequestCounters::count(uint8_t method, int status, Clock::time_point started,
                                Clock::time_point finished) {
  const int status_class = std::clamp(status / 100, 1, 5) - 1;
  requests_[method * RequestStats::kStatusClasses.size() + static_cast<size_t>(status_class)].add(
      1);
  const Clock::duration took = std::max(finished - started, Clock::duration::zero());
  size_t bucket = 0;
  while (bucket < RequestStats::kDurationBounds.size() &&
         took > RequestStats::kDurationBounds[bucket])
    ++bucket;
  durations_[bucket].add(1);
  duration_sum_ns_.add(
      static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(took).count()));
}

RequestStats LoopRequestCounters::snapshot() const {
  RequestStats s;
  s.loop = loop_;
  for (size_t i = 0; i < requests_.size(); ++i) s.requests[i] = requests_[i].get();
  for (size_t i = 0; i < durations_.size(); ++i) s.durations[i] = durations_[i].get();
  s.duration_sum = std::chrono::nanoseconds(duration_sum_ns_.get());
  return s;
}

LoopRequestCounters& RequestCounters::of_loop(unsigned loop) {
  std::lock_guard lock(mutex_);
  for (auto& l : loops_)
    if (l->loop() == loop) return *l;
  return *loops_.emplace_back(std::make_unique<LoopRequestCounters>(loop));
}

std::vector<RequestStats> RequestCounters::snapshot() const {
  std::lock_guard lock(mutex_);
  std::vector<RequestStats> all;
  for (const auto& l : loops_) all.push_back(l->snapshot());
  return all;
}

}  // namespace reactor::http::detail

namespace reactor::http {

uint64_t RequestStats::count(std::string_view method, std::string_view status_class) const {
  const auto m = std::find(kMethods.begin(), kMethods.end(), method);
  const auto c = std::find(kStatusClasses.begin(), kStatusClasses.end(), status_class);
  if (m == kMethods.end() || c == kStatusClasses.end()) return 0;
  return requests[static_cast<size_t>(m - kMethods.begin()) * kStatusClasses.size() +
                  static_cast<size_t>(c - kStatusClasses.begin())];
}

}  // namespace reactor::http
