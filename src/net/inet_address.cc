#include "reactor/net/inet_address.h"

#include <arpa/inet.h>

#include <cstring>

namespace reactor::net {

std::optional<InetAddress> InetAddress::parse(std::string_view host, uint16_t port) {
  if (host == "localhost") return loopback_ipv4(port);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  std::string text(host);
  InetAddress a;
  std::memset(&a.storage_, 0, sizeof a.storage_);
  if (::inet_pton(AF_INET, text.c_str(), &a.storage_.v4.sin_addr) == 1) {
    a.storage_.v4.sin_family = AF_INET;
    a.storage_.v4.sin_port = htons(port);
    return a;
  }
  if (::inet_pton(AF_INET6, text.c_str(), &a.storage_.v6.sin6_addr) == 1) {
    a.storage_.v6.sin6_family = AF_INET6;
    a.storage_.v6.sin6_port = htons(port);
    return a;
  }
  return std::nullopt;
}

InetAddress InetAddress::any_ipv4(uint16_t port) {
  InetAddress a;
  a.storage_.v4.sin_addr.s_addr = htonl(INADDR_ANY);
  a.storage_.v4.sin_port = htons(port);
  return a;
}

InetAddress InetAddress::loopback_ipv4(uint16_t port) {
  InetAddress a = any_ipv4(port);
  a.storage_.v4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

InetAddress InetAddress::from_sockaddr(const sockaddr* sa, socklen_t len) {
  InetAddress a;
  if (sa != nullptr) std::memcpy(&a.storage_, sa, std::min<size_t>(len, sizeof a.storage_));
  return a;
}

uint16_t InetAddress::port() const {
  return ntohs(family() == AF_INET6 ? storage_.v6.sin6_port : storage_.v4.sin_port);
}

std::string InetAddress::host() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (family() == AF_INET6)
    ::inet_ntop(AF_INET6, &storage_.v6.sin6_addr, buf, sizeof buf);
  else
    ::inet_ntop(AF_INET, &storage_.v4.sin_addr, buf, sizeof buf);
  return buf;
}

std::string InetAddress::to_string() const {
  std::string out;
  if (family() == AF_INET6) out += '[';
  out += host();
  if (family() == AF_INET6) out += ']';
  out += ':';
  out += std::to_string(port());
  return out;
}

socklen_t InetAddress::length() const {
  return family() == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
}

bool InetAddress::operator==(const InetAddress& other) const {
  return family() == other.family() && port() == other.port() && host() == other.host();
}

}  // namespace reactor::net
