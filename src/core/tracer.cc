#include "core/tracer.h"

#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <mutex>

namespace reactor::detail {
namespace {

// A batch flushes early past this size, so a busy iteration holds bounded memory.
constexpr size_t kFlushAt = 64 << 10;

// Loops on several threads share stderr: one batch at a time, so their lines never
// interleave mid-line (a pipe keeps a write whole only up to PIPE_BUF bytes).
std::mutex g_stderr_mutex;

void write_stderr(std::string_view lines) {
  std::lock_guard lock(g_stderr_mutex);
  while (!lines.empty()) {
    ssize_t n = ::write(STDERR_FILENO, lines.data(), lines.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // stderr closed or broken: tracing must not stop the server
    lines.remove_prefix(static_cast<size_t>(n));
  }
}

}  // namespace

Tracer::Tracer(unsigned loop_index, EventLoop::TraceSink sink)
    : loop_index_(loop_index), sink_(sink ? std::move(sink) : EventLoop::TraceSink(write_stderr)) {}

Tracer::~Tracer() {
  flush();
}

void Tracer::line(std::string_view event, std::initializer_list<TraceField> fields) {
  char number[24];
  auto append_number = [&](int64_t value) {
    auto end = std::to_chars(number, number + sizeof number, value).ptr;
    buffer_.append(number, end);
  };
  buffer_ += "trace ";
  append_number(loop_index_);
  buffer_ += ' ';
  buffer_ += event;
  for (const TraceField& f : fields) {
    buffer_ += ' ';
    buffer_ += f.key;
    buffer_ += '=';
    if (f.is_text)
      buffer_ += f.text;
    else
      append_number(f.number);
  }
  buffer_ += '\n';
  if (buffer_.size() >= kFlushAt) flush();
}

void Tracer::flush() {
  if (buffer_.empty()) return;
  sink_(buffer_);
  buffer_.clear();
}

std::string_view interest_letters(uint32_t interest) {
  const bool r = interest & io::kReadable;
  const bool w = interest & io::kWritable;
  return r && w ? "RW" : r ? "R" : w ? "W" : "-";
}

std::string events_letters(uint32_t events) {
  std::string letters;
  if (events & io::kReadable) letters += 'R';
  if (events & io::kWritable) letters += 'W';
  if (events & (io::kHangup | io::kReadHangup)) letters += 'H';
  if (events & io::kError) letters += 'E';
  if (letters.empty()) letters = "-";
  return letters;
}

}  // namespace reactor::detail
