#pragma once
// Helpers shared by the unit tests of every layer: descriptor counting for leak checks,
// waiting on a condition with a deadline (while a loop runs, or from another thread),
// and small raw-socket peers that never block the loop thread.
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "reactor/core/event_loop.h"
#include "reactor/core/selector.h"
#include "reactor/core/unique_fd.h"

namespace reactor::test {

using namespace std::chrono_literals;

/// Every selector backend the library has, for INSTANTIATE_TEST_SUITE_P: a new backend is
/// tested everywhere without touching a test.
inline auto all_backends() {
  return ::testing::ValuesIn(std::vector<std::string>(selector_names().begin(),
                                                      selector_names().end()));
}

/// A backend's name as a test name ("epoll-et" -> "epoll_et").
inline std::string backend_name(const ::testing::TestParamInfo<std::string>& param) {
  std::string name = param.param;
  std::replace(name.begin(), name.end(), '-', '_');
  return name;
}

/// Descriptors open in this process (entries of /proc/self/fd, minus the one reading it).
/// The process's resident set (VmRSS), in bytes.
inline size_t rss_bytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stoul(line.substr(6)) * 1024;
  ADD_FAILURE() << "no VmRSS in /proc/self/status";
  return 0;
}

inline size_t open_fd_count() {
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return 0;
  size_t n = 0;
  while (dirent* e = ::readdir(dir))
    if (e->d_name[0] != '.') ++n;
  ::closedir(dir);
  return n - 1;
}

/// Declare first in a fixture (so it is destroyed last): fails the test if descriptors
/// opened during the test are still open when everything else is gone.
class FdLeakGuard {
 public:
  FdLeakGuard() : before_(open_fd_count()) {}
  ~FdLeakGuard() { EXPECT_EQ(open_fd_count(), before_) << "descriptor leak"; }
  FdLeakGuard(const FdLeakGuard&) = delete;
  FdLeakGuard& operator=(const FdLeakGuard&) = delete;

 private:
  size_t before_;
};

/// Runs `loop` until `done()` holds or `timeout` passes; returns done(). Checks every
/// millisecond from a timer, so it works on every backend and never sleeps blindly.
template <class Pred>
bool run_until(EventLoop& loop, Pred done, std::chrono::milliseconds timeout = 10s) {
  if (done()) return true;
  const auto deadline = Clock::now() + timeout;
  TimerId check = loop.run_every(1ms, [&] {
    if (done() || Clock::now() >= deadline) loop.stop();
  });
  loop.run();
  loop.cancel(check);
  return done();
}

/// Runs `loop` for `window` (timers and events keep working), then returns.
inline void run_for(EventLoop& loop, std::chrono::milliseconds window) {
  TimerId id = loop.run_after(window, [&loop] { loop.stop(); });
  loop.run();
  loop.cancel(id);
}

/// Waits (off any loop) until `done()` holds or `timeout` passes; returns done().
template <class Pred>
bool wait_until(Pred done, std::chrono::milliseconds timeout = 10s) {
  const auto deadline = Clock::now() + timeout;
  while (!done()) {
    if (Clock::now() >= deadline) return done();
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

/// A connected, non-blocking AF_UNIX stream socket pair.
inline std::pair<UniqueFd, UniqueFd> socket_pair() {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0)
    ADD_FAILURE() << "socketpair: " << std::strerror(errno);
  return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}

inline void write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {
      pollfd p{fd, POLLOUT, 0};
      ::poll(&p, 1, 1000);
      continue;
    }
    if (n <= 0) {
      ADD_FAILURE() << "write: " << std::strerror(errno);
      return;
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
}

/// Reads and discards everything readable now; returns the byte count.
inline size_t drain(int fd) {
  char buf[4096];
  size_t total = 0;
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) return total;
    total += static_cast<size_t>(n);
  }
}

/// A TCP client of 127.0.0.1:`port` driven by hand from the loop thread. The connect
/// blocks (on loopback the handshake completes without the server's accept); after that
/// the socket is non-blocking, so pump() never stalls the loop that serves it.
class RawClient {
 public:
  explicit RawClient(uint16_t port) : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (!fd_ || ::connect(fd_.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
      error = errno;
      fd_.reset();
      return;
    }
    ::fcntl(fd_.get(), F_SETFL, ::fcntl(fd_.get(), F_GETFL) | O_NONBLOCK);
  }

  bool connected() const { return static_cast<bool>(fd_); }
  int fd() const { return fd_.get(); }

  /// Queues `bytes` and writes what the kernel takes now.
  void send(std::string_view bytes) {
    outbox_.append(bytes);
    flush();
  }
  /// Writes queued bytes; true once all are out.
  bool flush() {
    while (!outbox_.empty() && fd_) {
      ssize_t n = ::send(fd_.get(), outbox_.data(), outbox_.size(), MSG_NOSIGNAL);
      if (n < 0) {
        if (errno != EAGAIN && errno != EINTR) error = errno;
        break;
      }
      outbox_.erase(0, static_cast<size_t>(n));
    }
    return outbox_.empty();
  }

  /// Flushes, then reads at most `max` bytes available now into `received`; notes EOF
  /// and errors. Never blocks.
  void pump(size_t max = SIZE_MAX) {
    flush();
    char buf[65536];
    while (fd_ && !eof && max > 0) {
      ssize_t n = ::read(fd_.get(), buf, std::min(sizeof buf, max));
      if (n > 0) {
        received.append(buf, static_cast<size_t>(n));
        max -= static_cast<size_t>(n);
      } else if (n == 0) {
        eof = true;
      } else {
        if (errno != EAGAIN && errno != EINTR) error = errno;
        if (errno != EINTR) return;
      }
    }
  }

  void shutdown_write() { ::shutdown(fd_.get(), SHUT_WR); }
  void close() { fd_.reset(); }
  /// Closes with SO_LINGER 0: the peer gets a RST.
  void reset() {
    linger l{1, 0};
    ::setsockopt(fd_.get(), SOL_SOCKET, SO_LINGER, &l, sizeof l);
    fd_.reset();
  }

  std::string received;
  bool eof = false;
  int error = 0;

 private:
  UniqueFd fd_;
  std::string outbox_;
};

}  // namespace reactor::test
