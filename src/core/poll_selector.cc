#include <poll.h>

#include <cerrno>

#include "core/check.h"
#include "core/selectors.h"

namespace reactor::detail {
namespace {

// Keeps a dense pollfd array (what poll() wants) plus a descriptor -> slot index so that
// modify and remove are O(1); removal swaps the last entry into the hole.
class PollSelector final : public Selector {
 public:
  std::error_code add(int fd, uint32_t interest, uint64_t token) override {
    if (fd < 0) return std::make_error_code(std::errc::bad_file_descriptor);
    if (static_cast<size_t>(fd) >= slot_of_.size())
      slot_of_.resize(static_cast<size_t>(fd) + 1, -1);
    if (slot_of_[static_cast<size_t>(fd)] >= 0) return std::make_error_code(std::errc::file_exists);
    slot_of_[static_cast<size_t>(fd)] = static_cast<int>(fds_.size());
    fds_.push_back({fd, to_poll(interest), 0});
    tokens_.push_back(token);
    return {};
  }

  std::error_code modify(int fd, uint32_t interest, uint64_t token) override {
    int slot = slot_for(fd);
    if (slot < 0) return std::make_error_code(std::errc::no_such_file_or_directory);
    fds_[static_cast<size_t>(slot)].events = to_poll(interest);
    tokens_[static_cast<size_t>(slot)] = token;
    return {};
  }

  void remove(int fd) override {
    int slot = slot_for(fd);
    if (slot < 0) return;
    auto s = static_cast<size_t>(slot);
    fds_[s] = fds_.back();
    tokens_[s] = tokens_.back();
    slot_of_[static_cast<size_t>(fds_[s].fd)] = slot;
    fds_.pop_back();
    tokens_.pop_back();
    slot_of_[static_cast<size_t>(fd)] = -1;
  }

  void wait(std::chrono::milliseconds timeout, std::vector<ReadyEvent>& ready) override {
    ready.clear();
    int n = ::poll(fds_.data(), fds_.size(), static_cast<int>(timeout.count()));
    if (n < 0) {
      REACTOR_CHECK(errno == EINTR, "poll failed");
      return;
    }
    for (size_t i = 0; i < fds_.size() && n > 0; ++i) {
      short re = fds_[i].revents;
      if (re == 0) continue;
      --n;
      uint32_t r = 0;
      if (re & (POLLIN | POLLPRI | POLLRDHUP)) r |= io::kReadable;
      if (re & POLLRDHUP) r |= io::kReadHangup;
      if (re & POLLOUT) r |= io::kWritable;
      if (re & POLLHUP) r |= io::kHangup;
      if (re & (POLLERR | POLLNVAL)) r |= io::kError;
      ready.push_back({r, tokens_[i]});
    }
  }

  std::string_view name() const override { return "poll"; }

 private:
  static short to_poll(uint32_t interest) {
    return static_cast<short>((interest & io::kReadable ? POLLIN | POLLRDHUP : 0) |
                              (interest & io::kWritable ? POLLOUT : 0));
  }
  int slot_for(int fd) const {
    if (fd < 0 || static_cast<size_t>(fd) >= slot_of_.size()) return -1;
    return slot_of_[static_cast<size_t>(fd)];
  }

  std::vector<pollfd> fds_;
  std::vector<uint64_t> tokens_;
  std::vector<int> slot_of_;
};

}  // namespace

std::unique_ptr<Selector> make_poll_selector() {
  return std::make_unique<PollSelector>();
}

}  // namespace reactor::detail
