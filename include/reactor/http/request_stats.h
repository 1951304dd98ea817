#pragma once
#include <array>
#include <chrono>
#include <cstdint>
#include <string_view>

namespace reactor::http {

/// One loop's HTTP requests, counted by the server itself when ServerOptions::count_requests
/// is set (Server::request_stats()). A snapshot: plain values, read with relaxed loads while
/// the loop goes on counting.
struct RequestStats {
  /// The method label's values: a bounded set, whatever clients send. A request whose
  /// method is unknown, or which could not be parsed (400, 414, ...), counts as "other".
  static constexpr std::array<std::string_view, 10> kMethods{
      "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT", "TRACE", "other"};
  static constexpr std::array<std::string_view, 5> kStatusClasses{"1xx", "2xx", "3xx", "4xx",
                                                                  "5xx"};
  static constexpr std::array<std::chrono::microseconds, 16> kDurationBounds{
      std::chrono::microseconds(100),     std::chrono::microseconds(250),
      std::chrono::microseconds(500),     std::chrono::microseconds(1000),
      std::chrono::microseconds(2500),    std::chrono::microseconds(5000),
      std::chrono::microseconds(10000),   std::chrono::microseconds(25000),
      std::chrono::microseconds(50000),   std::chrono::microseconds(100000),
      std::chrono::microseconds(250000),  std::chrono::microseconds(500000),
      std::chrono::microseconds(1000000), std::chrono::microseconds(2500000),
      std::chrono::microseconds(5000000), std::chrono::microseconds(10000000)};

  unsigned loop = 0;  ///< EventLoop::index() of the loop that served them
  /// Responses written, by [method index * kStatusClasses.size() + status class index].
  std::array<uint64_t, kMethods.size() * kStatusClasses.size()> requests{};
  /// Request durations per bucket (not cumulative), the last one above every bound.
  /// A duration is measured in loop iterations' times (EventLoop::now(), read once per
  /// iteration after the wait), as nginx's $request_time uses its cached time: from the
  /// iteration in which the request's first byte arrived to the one in which its response
  /// was queued for writing. An answer given in the iteration its request arrived counts
  /// as 0; the time its handler took shows in the loop's busy time and stalls instead.
  std::array<uint64_t, kDurationBounds.size() + 1> durations{};
  std::chrono::nanoseconds duration_sum{0};

  uint64_t count(std::string_view method, std::string_view status_class) const;
};

}  // namespace reactor::http
