#include "access_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <system_error>

namespace reactor::apps {
namespace {

UniqueFd open_log(const std::string& path) {
  return UniqueFd(::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644));
}

template <typename Int>
void append_number(std::string& out, Int value) {
  char digits[24];
  auto end = std::to_chars(digits, digits + sizeof digits, value).ptr;
  out.append(digits, end);
}

// "02/Dec/2026:07:10:00 +0000", without strftime: %b follows the locale. Many lines share
// a second, so each thread keeps the last one formatted.
void append_date(std::string& out, std::chrono::system_clock::time_point when) {
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  thread_local std::time_t cached = -1;
  thread_local char text[40];
  thread_local int length = 0;
  const auto since_epoch = std::chrono::floor<std::chrono::seconds>(when.time_since_epoch());
  const auto seconds = static_cast<std::time_t>(since_epoch.count());
  if (seconds != cached) {
    std::tm parts{};
    gmtime_r(&seconds, &parts);
    length = std::snprintf(text, sizeof text, "%02d/%s/%04d:%02d:%02d:%02d +0000", parts.tm_mday,
                           kMonths[parts.tm_mon], parts.tm_year + 1900, parts.tm_hour, parts.tm_min,
                           parts.tm_sec);
    cached = seconds;
  }
  out.append(text, static_cast<size_t>(length));
}

// A quoted field as nginx's escape=default writes it; "-" for an empty one.
void append_quoted(std::string& out, std::string_view field) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  out += '"';
  if (field.empty()) out += '-';
  for (char c : field) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (byte < 0x20 || byte >= 0x7f) {
      out += "\\x";
      out += kHex[byte >> 4];
      out += kHex[byte & 0xf];
    } else {
      out += c;
    }
  }
  out += '"';
}

}  // namespace

void append_combined(std::string& out, const http::ResponseRecord& record,
                     std::chrono::system_clock::time_point started) {
  out += record.connection.peer_address().host();
  out += " - - [";
  append_date(out, started);
  out += "] ";
  append_quoted(out, record.request_line);
  out += ' ';
  append_number(out, record.status);
  out += ' ';
  if (record.body_bytes == 0)
    out += '-';
  else
    append_number(out, record.body_bytes);
  out += ' ';
  append_quoted(out, record.referer);
  out += ' ';
  append_quoted(out, record.user_agent);
  out += '\n';
}

AccessLog::AccessLog(std::string path) : path_(std::move(path)) {
  if (path_ == "-") return;
  file_ = open_log(path_);
  if (!file_) throw std::system_error(errno, std::generic_category(), "open " + path_);
}

AccessLog::~AccessLog() {
  flush();
}

void AccessLog::attach(EventLoop& loop) {
  loop_ = &loop;
  timer_ = loop.run_every(kFlushEvery, [this] { flush(); });
  // With stderr SIGHUP still does nothing, rather than end the process as by default.
  loop.on_signal(SIGHUP, [this](int) { reopen(); });
}

void AccessLog::detach() {
  if (loop_) loop_->cancel(timer_);
  loop_ = nullptr;
}

void AccessLog::log(const http::ResponseRecord& record) {
  // The request began on the steady clock; the wall clock dates it, read now.
  const auto age = Clock::now() - record.started;
  const auto started = std::chrono::system_clock::now() -
                       std::chrono::duration_cast<std::chrono::system_clock::duration>(age);
  thread_local std::string line;
  line.clear();
  append_combined(line, record, started);
  bool full = false;
  {
    std::lock_guard lock(buffer_mutex_);
    buffer_ += line;
    full = buffer_.size() >= kFlushAt;
  }
  if (!full) return;
  // A loop never waits for another's write: if one is under way, the buffer goes later.
  std::unique_lock file_lock(file_mutex_, std::try_to_lock);
  if (file_lock.owns_lock()) write_locked();
}

void AccessLog::flush() {
  std::lock_guard file_lock(file_mutex_);
  write_locked();
}

void AccessLog::reopen() {
  if (path_ == "-") return;
  std::lock_guard file_lock(file_mutex_);
  write_locked();  // what was logged before the signal goes to the renamed file
  UniqueFd fresh = open_log(path_);
  if (!fresh) {
    std::fprintf(stderr, "reactor http: cannot reopen access log %s: %s\n", path_.c_str(),
                 std::generic_category().message(errno).c_str());
    return;
  }
  file_ = std::move(fresh);
}

// Swaps the buffer out (so loggers go on appending meanwhile) and writes it whole. A write
// error drops the lines: the log must never stop the server. A regular file's write does
// not wait for the disk (no fsync), so the loop doing it is held only briefly.
void AccessLog::write_locked() {
  {
    std::lock_guard lock(buffer_mutex_);
    writing_.swap(buffer_);
  }
  const int fd = file_ ? file_.get() : STDERR_FILENO;
  size_t done = 0;
  while (done < writing_.size()) {
    ssize_t n = ::write(fd, writing_.data() + done, writing_.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  writing_.clear();
}

}  // namespace reactor::apps
