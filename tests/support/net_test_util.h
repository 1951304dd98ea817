#pragma once
// Helpers for the TCP tests: a Recorder whose callbacks count what a server or client saw
// (thread-safe, so multi-loop servers can use it too).
#include <algorithm>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "reactor/net/tcp_connection.h"
#include "reactor/net/tcp_server.h"
#include "test_util.h"

namespace reactor::test {

/// Every Balancing, for suites parameterised over them, and each one's test-name suffix.
inline auto all_balancings() {
  return ::testing::Values(net::Balancing::round_robin, net::Balancing::least_connections,
                           net::Balancing::reuse_port);
}
inline std::string balancing_name(const ::testing::TestParamInfo<net::Balancing>& param) {
  switch (param.param) {
    case net::Balancing::round_robin:
      return "round_robin";
    case net::Balancing::least_connections:
      return "least_connections";
    case net::Balancing::reuse_port:
      return "reuse_port";
  }
  return "unknown";
}

/// Records every callback of the connections it serves. By default on_message echoes.
class Recorder {
 public:
  struct Closed {
    net::CloseReason reason;
    std::error_code error;
    size_t unsent;
    bool truncated;  ///< TLS: the peer's stream ended without close_notify
  };

  explicit Recorder(bool echo = true) : echo_(echo) {}

  net::ConnectionCallbacks callbacks() {
    net::ConnectionCallbacks cb;
    cb.on_connect = [this](const net::TcpConnectionPtr& c) {
      std::lock_guard lock(mu_);
      connections_.push_back(c);
      threads_.insert(std::this_thread::get_id());
    };
    cb.on_message = [this](const net::TcpConnectionPtr& c, net::Buffer& in) {
      {
        std::lock_guard lock(mu_);
        ++messages_;
        data_.append(in.view());
      }
      if (echo_)
        c->send(in);
      else
        in.clear();
    };
    cb.on_close = [this](const net::TcpConnectionPtr&, const net::CloseInfo& info) {
      std::lock_guard lock(mu_);
      closed_.push_back({info.reason, info.error, info.unsent, info.truncated});
    };
    return cb;
  }

  /// callbacks(), with `then` run for each new connection after it is recorded.
  template <class Fn>
  net::ConnectionCallbacks callbacks_then(Fn then) {
    net::ConnectionCallbacks cb = callbacks();
    cb.on_connect = [record = cb.on_connect, then](const net::TcpConnectionPtr& c) {
      record(c);
      then(c);
    };
    return cb;
  }

  size_t connects() const {
    std::lock_guard lock(mu_);
    return connections_.size();
  }
  size_t closes() const {
    std::lock_guard lock(mu_);
    return closed_.size();
  }
  int messages() const {
    std::lock_guard lock(mu_);
    return messages_;
  }
  std::string data() const {
    std::lock_guard lock(mu_);
    return data_;
  }
  net::TcpConnectionPtr connection(size_t i = 0) const {
    std::lock_guard lock(mu_);
    return i < connections_.size() ? connections_[i] : nullptr;
  }
  Closed closed(size_t i = 0) const {
    std::lock_guard lock(mu_);
    return closed_.at(i);
  }
  size_t thread_count() const {
    std::lock_guard lock(mu_);
    return threads_.size();
  }
  /// Drops the references to connections (so that they can be destroyed).
  void forget() {
    std::lock_guard lock(mu_);
    connections_.clear();
  }

 private:
  const bool echo_;
  mutable std::mutex mu_;
  std::vector<net::TcpConnectionPtr> connections_;
  std::vector<Closed> closed_;
  std::set<std::thread::id> threads_;
  std::string data_;
  int messages_ = 0;
};

inline std::ostream& operator<<(std::ostream& os, const Recorder::Closed& c) {
  return os << net::to_string(c.reason) << " (" << c.error.message() << ", unsent " << c.unsent
            << (c.truncated ? ", truncated" : "") << ")";
}

/// Caps `fd`'s kernel send or receive buffer (`option`: SO_SNDBUF or SO_RCVBUF) and returns
/// the size granted (Linux doubles the request for its bookkeeping). Setting either also
/// turns that buffer's auto-tuning off, so how much of a transfer the kernel absorbs no
/// longer depends on the host's tcp_wmem / tcp_rmem. Call it before any data flows.
inline size_t cap_kernel_buffer(int fd, int option, int bytes = 32 << 10) {
  EXPECT_EQ(::setsockopt(fd, SOL_SOCKET, option, &bytes, sizeof bytes), 0) << std::strerror(errno);
  int granted = 0;
  socklen_t len = sizeof granted;
  EXPECT_EQ(::getsockopt(fd, SOL_SOCKET, option, &granted, &len), 0) << std::strerror(errno);
  return static_cast<size_t>(granted);
}

/// The most a one-way transfer can leave in the kernel when the sender's SO_SNDBUF and the
/// receiver's SO_RCVBUF were capped (granted sizes given): both buffers, plus one receive
/// window the receiver may have announced before its cap (64 KiB, the largest unscaled one).
inline size_t kernel_share(size_t sndbuf, size_t rcvbuf) {
  return sndbuf + rcvbuf + (64 << 10);
}

/// A string of `n` bytes whose content depends on the position, so reordering shows.
inline std::string pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>(i * 131 % 251);
  return s;
}

}  // namespace reactor::test
