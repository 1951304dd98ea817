#include "reactor/core/log.h"

#include <unistd.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>

namespace reactor {
namespace {

std::atomic<LogLevel> g_level{LogLevel::info};

// The sink is replaced rarely and called rarely (errors, not per message), so a mutex and a
// shared_ptr copy are enough: a sink being replaced while another thread calls it finishes
// that call on the old one.
std::mutex g_mutex;
std::shared_ptr<const LogSink> g_sink;

void write_stderr(LogLevel level, std::string_view message) {
  std::string line = "reactor: ";
  line += to_string(level);
  line += ": ";
  line += message;
  line += '\n';
  // One write per line, so lines from several threads do not interleave.
  [[maybe_unused]] ssize_t n = ::write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace

void set_log_sink(LogSink sink) {
  auto next = sink ? std::make_shared<const LogSink>(std::move(sink)) : nullptr;
  std::lock_guard lock(g_mutex);
  g_sink = std::move(next);
}

void set_log_level(LogLevel level) {
  g_level.store(level, std::memory_order_relaxed);
}

bool log_enabled(LogLevel level) {
  return level >= g_level.load(std::memory_order_relaxed);
}

void log(LogLevel level, std::string_view message) {
  if (!log_enabled(level)) return;
  std::shared_ptr<const LogSink> sink;
  {
    std::lock_guard lock(g_mutex);
    sink = g_sink;
  }
  if (sink)
    (*sink)(level, message);
  else
    write_stderr(level, message);
}

std::string_view to_string(LogLevel level) {
  switch (level) {
    case LogLevel::debug: return "debug";
    case LogLevel::info: return "info";
    case LogLevel::warning: return "warning";
    case LogLevel::error: return "error";
  }
  return "?";
}

}  // namespace reactor
