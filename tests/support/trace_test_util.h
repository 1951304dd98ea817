#pragma once
// Helpers for the tests of trace mode: a sink that keeps every batch the loop hands it,
// and a strict parser of the grammar (docs/trace.md) that checks each line's keys, their
// order and their values, so a test can read a trace field by field.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "reactor/core/event_loop.h"

namespace reactor::test {

/// One parsed line: "trace LOOP EVENT key=value ...".
struct TraceLine {
  unsigned loop = 0;
  std::string event;
  std::vector<std::pair<std::string, std::string>> fields;  // in line order
  std::string text;                                         // the line, without '\n'

  /// The value of `key`; fails the test (and returns "") when the line has none.
  std::string get(std::string_view key) const {
    for (const auto& [k, v] : fields)
      if (k == key) return v;
    ADD_FAILURE() << "no " << key << "= in: " << text;
    return {};
  }
  int64_t num(std::string_view key) const { return std::strtoll(get(key).c_str(), nullptr, 10); }
  int fd() const { return static_cast<int>(num("fd")); }
  bool is(std::string_view e) const { return event == e; }
  bool is(std::string_view e, int for_fd) const {
    return event == e && has("fd") && fd() == for_fd;
  }
  bool has(std::string_view key) const {
    for (const auto& f : fields)
      if (f.first == key) return true;
    return false;
  }
};

inline std::ostream& operator<<(std::ostream& os, const TraceLine& l) {
  return os << l.text;
}

namespace trace_detail {

// What a value may be: the grammar's domains.
enum class Kind { count, signed_count, interest, events, reason, peer, word };

inline const std::map<std::string, std::vector<std::pair<std::string, Kind>>, std::less<>>&
schema() {
  using K = Kind;
  static const std::map<std::string, std::vector<std::pair<std::string, Kind>>, std::less<>> s = {
      {"wait", {{"timeout_ms", K::signed_count}}},
      {"ready", {{"count", K::count}}},
      {"watch", {{"fd", K::count}, {"interest", K::interest}}},
      {"interest", {{"fd", K::count}, {"from", K::interest}, {"to", K::interest}}},
      {"unwatch", {{"fd", K::count}}},
      {"dispatch", {{"fd", K::count}, {"events", K::events}}},
      {"accept", {{"fd", K::count}, {"peer", K::peer}}},
      {"read", {{"fd", K::count}, {"bytes", K::count}}},
      {"write", {{"fd", K::count}, {"bytes", K::count}, {"queued", K::count}}},
      {"close", {{"fd", K::count}, {"reason", K::reason}}},
      {"timer", {{"id", K::count}}},
      {"task", {}},
      {"signal", {{"signo", K::count}}},
      {"request", {{"fd", K::count}, {"method", K::word}, {"target", K::word}}},
      {"response", {{"fd", K::count}, {"status", K::count}}},
      {"handshake", {{"fd", K::count}, {"version", K::word}, {"resumed", K::count}}},
  };
  return s;
}

// Hand-written rather than std::regex: GCC 12's <regex> trips -Wmaybe-uninitialized under
// the sanitizers, and -Werror makes that fatal.
inline bool is_count(std::string_view v) {
  if (v.empty() || v.size() > 19 || (v[0] == '0' && v.size() > 1)) return false;
  return std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; });
}

inline bool is_in_order(std::string_view v, std::string_view letters) {  // a subsequence
  size_t at = 0;
  for (char c : v) {
    at = letters.find(c, at);
    if (at == std::string_view::npos) return false;
    ++at;
  }
  return !v.empty();
}

inline bool is_peer(std::string_view v) {
  const size_t colon = v.rfind(':');
  if (colon == std::string_view::npos || !is_count(v.substr(colon + 1)) ||
      v.substr(colon + 1) == "0")
    return false;
  std::string_view ip = v.substr(0, colon);
  for (int part = 0; part < 4; ++part) {
    const size_t dot = part < 3 ? ip.find('.') : ip.size();
    if (dot == std::string_view::npos || dot == 0 || dot > 3) return false;
    for (char c : ip.substr(0, dot))
      if (c < '0' || c > '9') return false;
    ip.remove_prefix(std::min(dot + 1, ip.size()));
  }
  return ip.empty();
}

inline bool valid(Kind kind, std::string_view v) {
  switch (kind) {
    case Kind::count:
      return is_count(v);
    case Kind::signed_count:
      return v == "-1" || is_count(v);
    case Kind::interest:
      return v == "R" || v == "W" || v == "RW" || v == "-";
    case Kind::events:
      return v == "-" || is_in_order(v, "RWHE");
    case Kind::reason:
      return v == "peer" || v == "local" || v == "aborted" || v == "error" || v == "timeout";
    case Kind::peer:
      return is_peer(v);
    case Kind::word:  // printable, no space (a target may hold '=')
      return !v.empty() &&
             std::all_of(v.begin(), v.end(), [](char c) { return c > ' ' && c <= '~'; });
  }
  return false;
}

inline std::vector<std::string_view> split(std::string_view s, char by) {
  std::vector<std::string_view> parts;
  for (size_t at = 0;;) {
    size_t end = s.find(by, at);
    parts.push_back(s.substr(at, end == std::string_view::npos ? end : end - at));
    if (end == std::string_view::npos) return parts;
    at = end + 1;
  }
}

}  // namespace trace_detail

/// Parses one line (no '\n') and checks it against the grammar: the event is known, its
/// keys are exactly the documented ones in the documented order, every value is in its
/// domain. Returns the reason it is malformed, or nothing.
inline std::optional<std::string> trace_line_error(std::string_view text, TraceLine& out) {
  using namespace trace_detail;
  auto words = split(text, ' ');
  if (words.size() < 3 || words[0] != "trace") return "not 'trace LOOP EVENT ...'";
  if (!trace_detail::is_count(words[1])) return "bad LOOP";
  out = {};
  out.text = std::string(text);
  out.loop = static_cast<unsigned>(std::strtoul(std::string(words[1]).c_str(), nullptr, 10));
  out.event = std::string(words[2]);
  auto it = schema().find(out.event);
  if (it == schema().end()) return "unknown event";
  const auto& keys = it->second;
  if (words.size() - 3 != keys.size()) return "wrong number of fields";
  for (size_t i = 0; i < keys.size(); ++i) {
    std::string_view kv = words[3 + i];
    size_t eq = kv.find('=');
    if (eq == std::string_view::npos) return "field without '='";
    std::string key(kv.substr(0, eq)), value(kv.substr(eq + 1));
    if (key != keys[i].first) return "field " + key + " where " + keys[i].first + " belongs";
    if (!valid(keys[i].second, value)) return "bad value of " + key;
    out.fields.emplace_back(std::move(key), std::move(value));
  }
  return std::nullopt;
}

/// Parses trace text (whole lines, each ending in '\n'); every malformed line fails the test.
inline std::vector<TraceLine> parse_trace(std::string_view text) {
  std::vector<TraceLine> lines;
  if (text.empty()) return lines;
  EXPECT_EQ(text.back(), '\n') << "trace output ends mid-line";
  if (text.back() == '\n') text.remove_suffix(1);
  for (std::string_view l : trace_detail::split(text, '\n')) {
    TraceLine parsed;
    if (auto error = trace_line_error(l, parsed))
      ADD_FAILURE() << "malformed trace line (" << *error << "): '" << l << "'";
    else
      lines.push_back(std::move(parsed));
  }
  return lines;
}

/// A trace sink that keeps every batch (one string per call). Loop thread only, like the
/// loop that calls it.
class TraceCapture {
 public:
  EventLoop::TraceSink sink() {
    return [this](std::string_view batch) { batches.emplace_back(batch); };
  }
  std::string text() const {
    std::string all;
    for (const auto& b : batches) all += b;
    return all;
  }
  std::vector<TraceLine> lines() const { return parse_trace(text()); }
  /// The lines of `event` only.
  std::vector<TraceLine> lines(std::string_view event) const {
    std::vector<TraceLine> picked;
    for (auto& l : lines())
      if (l.event == event) picked.push_back(std::move(l));
    return picked;
  }
  void clear() { batches.clear(); }

  std::vector<std::string> batches;
};

/// The readiness letters the trace grammar prints for `events`, written out again here
/// from the grammar (not taken from the tracer) so that a wrong mapping shows.
inline std::string expected_letters(uint32_t events) {
  std::string s;
  if (events & io::kReadable) s += 'R';
  if (events & io::kWritable) s += 'W';
  if (events & (io::kHangup | io::kReadHangup)) s += 'H';
  if (events & io::kError) s += 'E';
  return s.empty() ? "-" : s;
}

}  // namespace reactor::test
