#include "reactor/net/socket_activation.h"

#include <fcntl.h>
#include <unistd.h>

#include <charconv>
#include <cstdlib>
#include <optional>
#include <string_view>

namespace reactor::net {
namespace {

constexpr int kFirstFd = 3;  // SD_LISTEN_FDS_START

// The whole value must be a decimal number: "12x" or "" is not 12 or 0.
std::optional<long> number(const char* text) {
  if (!text) return std::nullopt;
  std::string_view s(text);
  long value = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) return std::nullopt;
  return value;
}

}  // namespace

std::vector<UniqueFd> take_listen_fds() {
  const std::optional<long> pid = number(std::getenv("LISTEN_PID"));
  const std::optional<long> count = number(std::getenv("LISTEN_FDS"));
  ::unsetenv("LISTEN_PID");
  ::unsetenv("LISTEN_FDS");
  ::unsetenv("LISTEN_FDNAMES");
  std::vector<UniqueFd> fds;
  // Variables meant for another process (a parent that passed its environment on) name
  // descriptors that are not ours to take.
  if (!pid || !count || *pid != ::getpid() || *count <= 0 || *count > 1024 - kFirstFd) return fds;
  for (int fd = kFirstFd; fd < kFirstFd + static_cast<int>(*count); ++fd) {
    if (::fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) continue;  // not open: nothing to own
    fds.emplace_back(fd);
  }
  return fds;
}

}  // namespace reactor::net
