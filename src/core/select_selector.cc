#include <sys/select.h>

#include <array>
#include <cerrno>

#include "core/check.h"
#include "core/selectors.h"
#include "reactor/core/error.h"

namespace reactor::detail {
namespace {

// fd_set is a fixed bitmap of FD_SETSIZE bits: FD_SET on a larger descriptor writes past it.
// So descriptors >= FD_SETSIZE are refused up front with a clear error.
class SelectSelector final : public Selector {
 public:
  SelectSelector() {
    FD_ZERO(&read_);
    FD_ZERO(&write_);
  }

  std::error_code add(int fd, uint32_t interest, uint64_t token) override {
    if (fd < 0) return std::make_error_code(std::errc::bad_file_descriptor);
    if (fd >= FD_SETSIZE) return Errc::fd_beyond_select_limit;
    if (entry(fd).watched) return std::make_error_code(std::errc::file_exists);
    entry(fd).watched = true;
    if (fd > max_fd_) max_fd_ = fd;
    return modify(fd, interest, token);
  }

  std::error_code modify(int fd, uint32_t interest, uint64_t token) override {
    if (fd < 0 || fd >= FD_SETSIZE || !entry(fd).watched)
      return std::make_error_code(std::errc::no_such_file_or_directory);
    entry(fd).token = token;
    if (interest & io::kReadable)
      FD_SET(fd, &read_);
    else
      FD_CLR(fd, &read_);
    if (interest & io::kWritable)
      FD_SET(fd, &write_);
    else
      FD_CLR(fd, &write_);
    return {};
  }

  void remove(int fd) override {
    if (fd < 0 || fd >= FD_SETSIZE || !entry(fd).watched) return;
    entry(fd).watched = false;
    FD_CLR(fd, &read_);
    FD_CLR(fd, &write_);
    while (max_fd_ >= 0 && !entry(max_fd_).watched) --max_fd_;
  }

  void wait(std::chrono::milliseconds timeout, std::vector<ReadyEvent>& ready) override {
    ready.clear();
    fd_set r = read_, w = write_;
    timeval tv{timeout.count() / 1000, static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
    int n = ::select(max_fd_ + 1, &r, &w, nullptr, timeout.count() < 0 ? nullptr : &tv);
    if (n < 0) {
      REACTOR_CHECK(errno == EINTR, "select failed");
      return;
    }
    for (int fd = 0; fd <= max_fd_ && n > 0; ++fd) {
      uint32_t events =
          (FD_ISSET(fd, &r) ? io::kReadable : 0u) | (FD_ISSET(fd, &w) ? io::kWritable : 0u);
      if (events == 0) continue;
      n -= (events == (io::kReadable | io::kWritable)) ? 2 : 1;
      ready.push_back({events, entry(fd).token});
    }
  }

  std::string_view name() const override { return "select"; }

 private:
  struct Entry {
    uint64_t token = 0;
    bool watched = false;
  };
  Entry& entry(int fd) { return entries_[static_cast<size_t>(fd)]; }

  fd_set read_, write_;
  int max_fd_ = -1;
  std::array<Entry, FD_SETSIZE> entries_{};
};

}  // namespace

std::unique_ptr<Selector> make_select_selector() {
  return std::make_unique<SelectSelector>();
}

}  // namespace reactor::detail
