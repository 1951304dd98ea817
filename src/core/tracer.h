#pragma once
// Trace mode's writer (docs/trace.md has the grammar): one line per reactor step, kept in
// the loop's buffer and handed to the sink in batches, once per loop iteration (just
// before the loop blocks) rather than one write per line, so thousands of connections
// stay usable with tracing on.
//
// Every call site is `if (auto* t = detail::tracer(loop)) [[unlikely]] t->...`: with
// tracing off a step costs one load and one predictable branch, and nothing is formatted.
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <type_traits>

#include "reactor/core/event_loop.h"

namespace reactor::detail {

/// One key=value of a trace line: an integer or a word (which must hold no space).
struct TraceField {
  TraceField(std::string_view k, std::string_view v) : key(k), text(v), is_text(true) {}
  template <class Int>
  requires std::is_integral_v<Int> TraceField(std::string_view k, Int v)
      : key(k), number(static_cast<int64_t>(v)) {}

  std::string_view key;
  std::string_view text;
  int64_t number = 0;
  bool is_text = false;
};

class Tracer {
 public:
  Tracer(unsigned loop_index, EventLoop::TraceSink sink);
  ~Tracer();  // flushes

  /// Appends "trace LOOP EVENT key=value ...\n".
  [[gnu::cold]] void line(std::string_view event, std::initializer_list<TraceField> fields = {});
  /// Hands what is buffered to the sink.
  void flush();

 private:
  unsigned loop_index_;
  EventLoop::TraceSink sink_;
  std::string buffer_;
};

/// The loop's tracer while trace mode is on, else null. Every trace hook asks here. The
/// benchmark's baseline build (-DREACTOR_TRACE=OFF) compiles the hooks out, to measure
/// what they cost when trace mode is off (docs/performance.md).
inline Tracer* tracer(const EventLoop& loop) {
#ifdef REACTOR_NO_TRACE
  (void)loop;
  return nullptr;
#else
  return loop.tracer_.get();
#endif
}

/// "R", "W", "RW", or "-" for none: an interest or readiness mask as trace prints it.
std::string_view interest_letters(uint32_t interest);
/// The readiness letters R W H E (H: either hang-up, both halves or the peer's write half).
std::string events_letters(uint32_t events);

}  // namespace reactor::detail
