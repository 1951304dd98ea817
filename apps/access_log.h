#pragma once
// `reactor http --access-log PATH`: one Combined Log Format line per response.
#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>

#include "reactor/core/event_loop.h"
#include "reactor/core/timer_id.h"
#include "reactor/core/unique_fd.h"
#include "reactor/http/server.h"

namespace reactor::apps {

/// Appends `record` to `out` as one Combined Log Format line (newline included), dated
/// `started` (UTC). Every quoted field is escaped ('"' and '\' by a backslash, control
/// bytes and bytes >= 0x7f as \xHH), so that the line always parses.
void append_combined(std::string& out, const http::ResponseRecord& record,
                     std::chrono::system_clock::time_point started);

/// An access log file (or stderr): lines are buffered in memory and leave in large writes,
/// at least once a second (attach()), when the buffer passes kFlushAt, and on destruction.
/// log() and flush() are thread-safe: every loop of a server logs into the one buffer.
class AccessLog {
 public:
  static constexpr std::size_t kFlushAt = 64 << 10;
  static constexpr std::chrono::seconds kFlushEvery{1};

  /// Opens `path` for appending (created 0644); "-" is stderr. Throws std::system_error.
  explicit AccessLog(std::string path);
  ~AccessLog();
  AccessLog(const AccessLog&) = delete;
  AccessLog& operator=(const AccessLog&) = delete;

  /// Base-loop thread, before other loops start: the flush timer and SIGHUP (reopen) on
  /// `loop`, until detach().
  void attach(EventLoop& loop);
  void detach();

  /// Any thread: one line for `record`.
  void log(const http::ResponseRecord& record);
  /// Any thread: writes out the lines buffered so far, in the order they were logged.
  void flush();
  /// After the file was renamed (logrotate): flushes to it, then opens `path` anew. A
  /// failure is reported on stderr and the old file stays in use. Nothing for stderr.
  void reopen();

 private:
  void write_locked();

  const std::string path_;
  // Formatting happens outside any lock; buffer_mutex_ covers only an append of a formatted
  // line (~150 bytes), so loops rarely meet there. file_mutex_ serialises writes and the
  // reopen, so that buffers leave in order and none goes to a closed descriptor.
  std::mutex buffer_mutex_;
  std::string buffer_;
  std::mutex file_mutex_;
  std::string writing_;  // file_mutex_: the buffer being written, swapped out of buffer_
  UniqueFd file_;        // file_mutex_; empty for stderr
  EventLoop* loop_ = nullptr;
  TimerId timer_;
};

}  // namespace reactor::apps
