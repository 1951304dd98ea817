#include "reactor/core/unique_fd.h"

#include <unistd.h>

namespace reactor {

void UniqueFd::reset(int fd) noexcept {
  // close() is not retried on EINTR: on Linux the descriptor is released either way.
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

}  // namespace reactor
