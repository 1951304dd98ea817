#include "net/socket_ops.h"

#include <fcntl.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <string>

namespace reactor::net::detail {

std::error_code last_error() {
  return {errno, std::system_category()};
}

UniqueFd make_socket(int family, int type) {
  UniqueFd fd(::socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) throw std::system_error(last_error(), "socket");
  return fd;
}

UniqueFd listen_on(const InetAddress& address, bool reuse_port, int backlog) {
  UniqueFd fd = make_socket(address.family(), SOCK_STREAM);
  int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (reuse_port && ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0)
    throw std::system_error(last_error(), "setsockopt(SO_REUSEPORT)");
  if (::bind(fd.get(), address.sockaddr_ptr(), address.length()) < 0)
    throw std::system_error(last_error(), "bind " + address.to_string());
  if (::listen(fd.get(), backlog) < 0)
    throw std::system_error(last_error(), "listen " + address.to_string());
  return fd;
}

int accept(int listen_fd) {
  for (;;) {
    int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0 || errno != EINTR) return fd;
  }
}

void adopt_listener(int fd) {
  const std::string what = "inherited descriptor " + std::to_string(fd);
  int type = 0;
  int listening = 0;
  socklen_t len = sizeof type;
  if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
    throw std::system_error(last_error(), what + " is not a socket");
  len = sizeof listening;
  if (::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0)
    throw std::system_error(last_error(), what);
  if (type != SOCK_STREAM || !listening)
    throw std::system_error(std::make_error_code(std::errc::invalid_argument),
                            what + " is not a listening stream socket");
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 ||
      ::fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
    throw std::system_error(last_error(), what);
}

bool output_unacked(int fd) {
  int unacked = 0;
  return ::ioctl(fd, SIOCOUTQ, &unacked) == 0 && unacked > 0;
}

bool input_waiting(int fd) {
  char byte;
  return ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
}

void set_no_delay(int fd, bool on) {
  int v = on ? 1 : 0;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, sizeof v);
}

void set_linger_zero(int fd) {
  linger l{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
}

std::error_code socket_error(int fd) {
  int err = 0;
  socklen_t len = sizeof err;
  if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) return last_error();
  return {err, std::system_category()};
}

InetAddress local_address(int fd) {
  sockaddr_in6 sa{};
  socklen_t len = sizeof sa;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) < 0) return {};
  return InetAddress::from_sockaddr(reinterpret_cast<sockaddr*>(&sa), len);
}

InetAddress peer_address(int fd) {
  sockaddr_in6 sa{};
  socklen_t len = sizeof sa;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&sa), &len) < 0) return {};
  return InetAddress::from_sockaddr(reinterpret_cast<sockaddr*>(&sa), len);
}

}  // namespace reactor::net::detail
