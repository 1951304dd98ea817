#pragma once
// Thin wrappers over the socket syscalls: EINTR retried, errors as std::error_code,
// SIGPIPE suppressed per call (MSG_NOSIGNAL) instead of changing the process disposition.
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

#include "reactor/core/unique_fd.h"
#include "reactor/net/inet_address.h"

namespace reactor::net::detail {

std::error_code last_error();

/// A non-blocking, close-on-exec socket; throws std::system_error on failure.
UniqueFd make_socket(int family, int type);
/// socket + SO_REUSEADDR (+ SO_REUSEPORT) + bind + listen; throws with the address in the message.
UniqueFd listen_on(const InetAddress& address, bool reuse_port, int backlog = 4096);
/// accept4 non-blocking; returns -1 and sets errno on failure.
int accept(int listen_fd);

/// read/readv/send that retry EINTR and return -1 with errno otherwise. Inline: each
/// message makes one read and one send, and an out-of-line wrapper costs more than its loop.
inline ssize_t read(int fd, void* data, size_t n) {
  for (;;) {
    ssize_t got = ::read(fd, data, n);
    if (got >= 0 || errno != EINTR) return got;
  }
}
inline ssize_t readv(int fd, const iovec* iov, int count) {
  for (;;) {
    ssize_t got = ::readv(fd, iov, count);
    if (got >= 0 || errno != EINTR) return got;
  }
}
inline ssize_t send(int fd, const void* data, size_t n) {
  for (;;) {
    ssize_t sent = ::send(fd, data, n, MSG_NOSIGNAL);
    if (sent >= 0 || errno != EINTR) return sent;
  }
}

/// Makes an inherited descriptor fit to accept on: checks it is a listening stream socket
/// (throws std::system_error naming the descriptor otherwise), sets O_NONBLOCK and
/// FD_CLOEXEC.
void adopt_listener(int fd);
/// True when received bytes wait unread on `fd` (its FIN alone does not count).
bool input_waiting(int fd);
/// True when bytes sent on `fd` are not yet acknowledged by the peer (SIOCOUTQ).
bool output_unacked(int fd);
void set_no_delay(int fd, bool on);
void set_linger_zero(int fd);
std::error_code socket_error(int fd);
InetAddress local_address(int fd);
InetAddress peer_address(int fd);

}  // namespace reactor::net::detail
