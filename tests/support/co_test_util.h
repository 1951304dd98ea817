#pragma once
// Helpers for the coroutine layer's tests: the backends they run on, running a loop until
// a spawned coroutine ends, and loopback addresses with nothing listening.
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <utility>

#include "net_test_util.h"
#include "reactor/co/spawn.h"
#include "reactor/net/inet_address.h"

namespace reactor::test {

/// Spawns `task` on `loop` and runs the loop until the task ended or `timeout` passed
/// (done() on the result says which).
template <class T>
co::Spawned<T> run_task(EventLoop& loop, co::Task<T> task,
                        std::chrono::milliseconds timeout = 10s) {
  auto spawned = co::spawn(loop, std::move(task));
  run_until(
      loop, [&] { return spawned.done(); }, timeout);
  return spawned;
}

/// Runs `loop` until `spawned` is done, calling `each()` every millisecond meanwhile (to
/// pump a raw peer, say); bounded by `timeout`. Returns whether it ended.
template <class T, class Each>
bool run_until_done(EventLoop& loop, co::Spawned<T>& spawned, Each each,
                    std::chrono::milliseconds timeout = 10s) {
  return run_until(
      loop,
      [&] {
        each();
        return spawned.done();
      },
      timeout);
}
template <class T>
bool run_until_done(EventLoop& loop, co::Spawned<T>& spawned) {
  return run_until_done(loop, spawned, [] {});
}

/// A loopback port with nothing listening on it (bound once, then released).
inline uint16_t unused_port() {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  net::InetAddress any = net::InetAddress::loopback_ipv4(0);
  EXPECT_EQ(::bind(fd.get(), any.sockaddr_ptr(), any.length()), 0);
  sockaddr_in sa{};
  socklen_t len = sizeof sa;
  ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&sa), &len);
  return ntohs(sa.sin_port);
}

/// The code of the std::system_error that `fn()` throws (empty if it throws none).
template <class Fn>
std::error_code error_of(Fn fn) {
  try {
    fn();
  } catch (const std::system_error& e) {
    return e.code();
  }
  return {};
}

}  // namespace reactor::test
