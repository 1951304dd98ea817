// Unit tests for the server's request counters (src/http/request_counters.cc): the method
// classification, the status classes, the duration buckets and the per-loop blocks.
#include "http/request_counters.h"

#include <gtest/gtest.h>

#include <numeric>
#include <string>

namespace reactor::http::detail {
namespace {

using namespace std::chrono_literals;

size_t index_of(std::string_view method) {
  for (size_t i = 0; i < RequestStats::kMethods.size(); ++i)
    if (RequestStats::kMethods[i] == method) return i;
  return RequestStats::kMethods.size();
}

TEST(RequestCountersTest, ClassifiesEveryKnownMethodAsItself) {
  for (size_t i = 0; i + 1 < RequestStats::kMethods.size(); ++i)
    EXPECT_EQ(method_class(RequestStats::kMethods[i]), i) << RequestStats::kMethods[i];
}

TEST(RequestCountersTest, ClassifiesLookAlikesAsOther) {
  // Same length and first letter as a known one, a different case, a prefix, empty.
  for (std::string_view m : {"GXT", "PAT", "HEAP", "POSE", "PATCX", "TRACK", "DELETX", "OPTIONZ",
                             "CONNECX", "get", "Get", "GETS", "", "PROPFIND", "other"})
    EXPECT_EQ(method_class(m), kOtherMethod) << m;
  EXPECT_EQ(index_of("other"), kOtherMethod);
}

TEST(RequestCountersTest, CountsByMethodAndStatusClass) {
  LoopRequestCounters counters(3);
  const Clock::time_point t{};
  counters.count(method_class("GET"), 200, t, t);
  counters.count(method_class("GET"), 204, t, t);
  counters.count(method_class("GET"), 404, t, t);
  counters.count(method_class("HEAD"), 101, t, t);
  counters.count(method_class("POST"), 302, t, t);
  counters.count(kOtherMethod, 400, t, t);
  counters.count(method_class("PUT"), 503, t, t);
  const RequestStats s = counters.snapshot();
  EXPECT_EQ(s.loop, 3u);
  EXPECT_EQ(s.count("GET", "2xx"), 2u);
  EXPECT_EQ(s.count("GET", "4xx"), 1u);
  EXPECT_EQ(s.count("HEAD", "1xx"), 1u);
  EXPECT_EQ(s.count("POST", "3xx"), 1u);
  EXPECT_EQ(s.count("other", "4xx"), 1u);
  EXPECT_EQ(s.count("PUT", "5xx"), 1u);
  EXPECT_EQ(s.count("GET", "5xx"), 0u);
  EXPECT_EQ(s.count("nonsense", "2xx"), 0u);
  EXPECT_EQ(std::accumulate(s.requests.begin(), s.requests.end(), uint64_t{0}), 7u);
}

TEST(RequestCountersTest, PutsDurationsInTheirBucketsBoundsIncluded) {
  LoopRequestCounters counters(0);
  const Clock::time_point start = Clock::time_point{} + 1h;
  counters.count(0, 200, start, start);          // 0: the first bucket
  counters.count(0, 200, start, start + 100us);  // on the first bound: still the first
  counters.count(0, 200, start, start + 101us);  // just past it: the second
  counters.count(0, 200, start, start + 10s);    // the last bound
  counters.count(0, 200, start, start + 11s);    // above every bound
  counters.count(0, 200, start + 1ms, start);    // finished "before" started: 0
  const RequestStats s = counters.snapshot();
  EXPECT_EQ(s.durations[0], 3u);
  EXPECT_EQ(s.durations[1], 1u);
  EXPECT_EQ(s.durations[RequestStats::kDurationBounds.size() - 1], 1u);
  EXPECT_EQ(s.durations[RequestStats::kDurationBounds.size()], 1u);
  EXPECT_EQ(std::accumulate(s.durations.begin(), s.durations.end(), uint64_t{0}), 6u);
  EXPECT_EQ(s.duration_sum, 100us + 101us + 10s + 11s);
}

TEST(RequestCountersTest, KeepsOneBlockPerLoop) {
  RequestCounters all;
  LoopRequestCounters& a = all.of_loop(4);
  LoopRequestCounters& b = all.of_loop(1);
  EXPECT_EQ(&all.of_loop(4), &a);
  EXPECT_NE(&a, &b);
  a.count(0, 200, {}, {});
  a.count(0, 200, {}, {});
  b.count(1, 200, {}, {});
  const auto stats = all.snapshot();
  ASSERT_EQ(stats.size(), 2u);
  EXPECT_EQ(stats[0].loop, 4u);
  EXPECT_EQ(stats[0].count("GET", "2xx"), 2u);
  EXPECT_EQ(stats[1].loop, 1u);
  EXPECT_EQ(stats[1].count("HEAD", "2xx"), 1u);
}

}  // namespace
}  // namespace reactor::http::detail
