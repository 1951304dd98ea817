#include <sys/epoll.h>

#include <cerrno>

#include "core/check.h"
#include "core/selectors.h"
#include "reactor/core/unique_fd.h"

namespace reactor::detail {
namespace {

class EpollSelector final : public Selector {
 public:
  explicit EpollSelector(bool edge_triggered) : edge_(edge_triggered) {
    fd_.reset(::epoll_create1(EPOLL_CLOEXEC));
    if (!fd_) throw_errno("epoll_create1");
    events_.resize(256);
  }

  std::error_code add(int fd, uint32_t interest, uint64_t token) override {
    return control(EPOLL_CTL_ADD, fd, interest, token);
  }
  std::error_code modify(int fd, uint32_t interest, uint64_t token) override {
    return control(EPOLL_CTL_MOD, fd, interest, token);
  }
  void remove(int fd) override { ::epoll_ctl(fd_.get(), EPOLL_CTL_DEL, fd, nullptr); }

  void wait(std::chrono::milliseconds timeout, std::vector<ReadyEvent>& ready) override {
    int n = ::epoll_wait(fd_.get(), events_.data(), static_cast<int>(events_.size()),
                         static_cast<int>(timeout.count()));
    if (n < 0) {
      REACTOR_CHECK(errno == EINTR, "epoll_wait failed");
      n = 0;
    }
    // Sized once and filled by index: a push_back per event costs a capacity check each.
    ready.resize(static_cast<size_t>(n));
    for (size_t i = 0; i < ready.size(); ++i)
      ready[i] = {translate(events_[i].events), events_[i].data.u64};
    // A full batch suggests more are ready: grow so the next wait returns them in one call.
    if (static_cast<size_t>(n) == events_.size() && events_.size() < 8192)
      events_.resize(events_.size() * 2);
  }

  std::string_view name() const override { return edge_ ? "epoll-et" : "epoll"; }
  bool edge_triggered() const override { return edge_; }

 private:
  std::error_code control(int op, int fd, uint32_t interest, uint64_t token) {
    epoll_event ev{};
    ev.events = (interest & io::kReadable ? EPOLLIN | EPOLLRDHUP : 0u) |
                (interest & io::kWritable ? EPOLLOUT : 0u) | (edge_ ? EPOLLET : 0u);
    ev.data.u64 = token;
    if (::epoll_ctl(fd_.get(), op, fd, &ev) < 0) return {errno, std::system_category()};
    return {};
  }

  // Shifts instead of a branch per bit (this runs once per ready descriptor); the asserts
  // pin each shift to the kernel's and our bit positions.
  static_assert(EPOLLOUT >> 1 == io::kWritable && EPOLLERR == io::kError &&
                EPOLLHUP >> 2 == io::kHangup && EPOLLRDHUP >> 9 == io::kReadHangup);
  static uint32_t translate(uint32_t e) {
    const uint32_t readable = (e & (EPOLLIN | EPOLLPRI | EPOLLRDHUP)) != 0 ? io::kReadable : 0;
    return readable | (e & EPOLLOUT) >> 1 | (e & EPOLLERR) | (e & EPOLLHUP) >> 2 |
           (e & EPOLLRDHUP) >> 9;
  }

  UniqueFd fd_;
  bool edge_;
  std::vector<epoll_event> events_;
};

}  // namespace

std::unique_ptr<Selector> make_epoll_selector(bool edge_triggered) {
  return std::make_unique<EpollSelector>(edge_triggered);
}

}  // namespace reactor::detail
