// co::UdpSocket (src/co/udp.cc), over every selector backend: receiving parked and queued,
// truncation, the queue's bound and drop count, send errors, cancellation (stop token,
// when_any) that loses no datagram, and teardown with a receiver parked.
#include "reactor/co/udp.h"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <memory>
#include <stop_token>
#include <string>
#include <system_error>
#include <vector>

#include "co_test_util.h"
#include "reactor/co/time.h"
#include "reactor/co/when.h"
#include "reactor/net/udp_socket.h"

namespace reactor {
namespace {

using net::InetAddress;
using test::run_task;
using test::run_until;
using namespace std::chrono_literals;

// One receive: the bytes copied and what receive_from said.
struct Got {
  std::string data;
  co::Datagram datagram;
};

co::Task<Got> receive(co::UdpSocket& socket, std::size_t capacity = 256,
                      std::stop_token token = {}) {
  std::string buffer(capacity, '\0');
  co::Datagram datagram = co_await socket.receive_from(buffer, std::move(token));
  buffer.resize(datagram.size);
  co_return Got{std::move(buffer), datagram};
}

template <class T>
bool canceled(co::Spawned<T>& spawned) {
  try {
    spawned.get();
  } catch (const std::system_error& e) {
    return e.code() == std::errc::operation_canceled;
  }
  return false;
}

// The descriptor bound to `address`, found by its name (the test has no other way to it),
// to see whether the kernel still holds datagrams for it; -1 if there is none.
int descriptor_bound_to(const InetAddress& address) {
  for (int fd = 0; fd < 1024; ++fd) {
    sockaddr_in6 name{};
    socklen_t length = sizeof name;
    int type = 0;
    socklen_t type_length = sizeof type;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&name), &length) != 0) continue;
    if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &type_length) != 0 || type != SOCK_DGRAM)
      continue;
    if (InetAddress::from_sockaddr(reinterpret_cast<sockaddr*>(&name), length) == address)
      return fd;
  }
  return -1;
}

bool kernel_holds_datagrams(int fd) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, 0) == 1;
}

class CoUdpTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override { ASSERT_GE(fd_, 0); }

  std::error_code send(std::string_view data) { return peer_.send_to(data, socket_.address()); }
  // Runs the loop until the kernel holds nothing more for socket_: every datagram sent to
  // it so far has been read (into a receiver or the queue). On loopback a datagram is in
  // the receiving socket's queue when sendto returns.
  bool settle() {
    return run_until(loop_, [&] { return !kernel_holds_datagrams(fd_); });
  }

  test::FdLeakGuard leaks_;
  EventLoop loop_{GetParam()};
  std::vector<std::string> peer_got_;
  net::UdpSocket peer_{
      loop_, InetAddress::loopback_ipv4(0),
      [this](std::string_view d, const InetAddress&) { peer_got_.emplace_back(d); }};
  co::UdpSocket socket_{loop_, InetAddress::loopback_ipv4(0)};
  int fd_ = descriptor_bound_to(socket_.address());
};

TEST_P(CoUdpTest, ParkedReceiverGetsTheDatagram) {
  auto spawned = co::spawn(loop_, receive(socket_));
  EXPECT_FALSE(spawned.done()) << "nothing had arrived: it must have parked";
  ASSERT_FALSE(send("hello"));
  ASSERT_TRUE(run_until(loop_, [&] { return spawned.done(); }));
  Got got = spawned.get();
  EXPECT_EQ(got.data, "hello");
  EXPECT_EQ(got.datagram.size, 5u);
  EXPECT_FALSE(got.datagram.truncated);
  EXPECT_EQ(got.datagram.from, peer_.address());
  EXPECT_EQ(socket_.dropped(), 0u);
}

TEST_P(CoUdpTest, QueuedDatagramsAreTakenInOrderWithoutWaiting) {
  for (int i = 0; i < 3; ++i) ASSERT_FALSE(send("q" + std::to_string(i)));
  ASSERT_TRUE(settle());
  auto body = [&]() -> co::Task<std::vector<std::string>> {
    std::vector<std::string> out;
    for (int i = 0; i < 3; ++i) out.push_back((co_await receive(socket_)).data);
    co_return out;
  };
  auto spawned = co::spawn(loop_, body());
  ASSERT_TRUE(spawned.done()) << "all three were queued: no receive should have waited";
  EXPECT_EQ(spawned.get(), (std::vector<std::string>{"q0", "q1", "q2"}));
}

TEST_P(CoUdpTest, LongerDatagramIsTruncated) {
  // Parked: copied straight into the receiver's buffer.
  auto parked = co::spawn(loop_, receive(socket_, 4));
  ASSERT_FALSE(send("abcdefgh"));
  ASSERT_TRUE(run_until(loop_, [&] { return parked.done(); }));
  Got got = parked.get();
  EXPECT_EQ(got.data, "abcd");
  EXPECT_TRUE(got.datagram.truncated);
  // Queued: the same; the rest of the long datagram is gone, the next one is whole.
  ASSERT_FALSE(send("wxyz12"));
  ASSERT_FALSE(send("ok"));
  ASSERT_TRUE(settle());
  auto first = run_task(loop_, receive(socket_, 4));
  auto second = run_task(loop_, receive(socket_, 4));
  ASSERT_TRUE(first.done() && second.done());
  got = first.get();
  EXPECT_EQ(got.data, "wxyz");
  EXPECT_EQ(got.datagram.size, 4u);
  EXPECT_TRUE(got.datagram.truncated);
  got = second.get();
  EXPECT_EQ(got.data, "ok");
  EXPECT_FALSE(got.datagram.truncated);
}

TEST_P(CoUdpTest, QueueIsBoundedAndDropsAreCounted) {
  constexpr std::size_t kMax = co::UdpSocket::kMaxQueuedDatagrams, kExtra = 40;
  // Windows small enough for the kernel's receive buffer, which would drop silently.
  constexpr std::size_t kWindow = 32;
  for (std::size_t sent = 0; sent < kMax + kExtra;) {
    for (std::size_t i = 0; i < kWindow && sent < kMax + kExtra; ++i, ++sent)
      ASSERT_FALSE(send("d" + std::to_string(sent)));
    ASSERT_TRUE(settle());
  }
  EXPECT_EQ(socket_.dropped(), kExtra);

  auto drain = [&]() -> co::Task<std::vector<std::string>> {
    std::vector<std::string> out;
    for (std::size_t i = 0; i < kMax; ++i) out.push_back((co_await receive(socket_)).data);
    co_return out;
  };
  auto drained = co::spawn(loop_, drain());
  ASSERT_TRUE(drained.done()) << "the queue held fewer than " << kMax;
  std::vector<std::string> got = drained.get();
  for (std::size_t i = 0; i < kMax; ++i) ASSERT_EQ(got[i], "d" + std::to_string(i));

  // Empty again: the next receive waits for the next datagram.
  auto next = co::spawn(loop_, receive(socket_));
  EXPECT_FALSE(next.done());
  ASSERT_FALSE(send("last"));
  ASSERT_TRUE(run_until(loop_, [&] { return next.done(); }));
  EXPECT_EQ(next.get().data, "last");
  EXPECT_EQ(socket_.dropped(), kExtra);
}

TEST_P(CoUdpTest, SendToDeliversAndThrowsOnErrors) {
  socket_.send_to("pong", peer_.address());
  ASSERT_TRUE(run_until(loop_, [&] { return peer_got_.size() == 1; }));
  EXPECT_EQ(peer_got_[0], "pong");
  try {
    socket_.send_to(std::string(70000, 'x'), peer_.address());
    ADD_FAILURE() << "an oversized datagram was sent";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::message_size) << e.what();
  }
  auto ipv6 = InetAddress::parse("::1", peer_.address().port());
  ASSERT_TRUE(ipv6);
  try {
    socket_.send_to("x", *ipv6);
    ADD_FAILURE() << "an IPv4 socket sent to an IPv6 address";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::address_family_not_supported) << e.what();
  }
  EXPECT_EQ(socket_.dropped(), 0u);
}

TEST_P(CoUdpTest, StopTokenCancelsAndLosesNothing) {
  std::stop_source stop;
  auto spawned = co::spawn(loop_, receive(socket_, 256, stop.get_token()));
  ASSERT_FALSE(spawned.done());
  stop.request_stop();
  ASSERT_TRUE(run_until(loop_, [&] { return spawned.done(); }));
  EXPECT_TRUE(canceled(spawned));
  ASSERT_FALSE(send("kept"));
  ASSERT_TRUE(settle());
  auto next = run_task(loop_, receive(socket_));
  ASSERT_TRUE(next.done());
  EXPECT_EQ(next.get().data, "kept");
}

TEST_P(CoUdpTest, StopRacingADatagramLosesNothing) {
  std::stop_source stop;
  auto spawned = co::spawn(loop_, receive(socket_, 256, stop.get_token()));
  ASSERT_FALSE(send("raced"));  // waiting in the kernel when the stop is asked for
  stop.request_stop();
  ASSERT_TRUE(run_until(loop_, [&] { return spawned.done(); }));
  // Either outcome is allowed (taken, or cancelled and left queued); losing it is not.
  std::string got;
  try {
    got = spawned.get().data;
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::operation_canceled);
    ASSERT_TRUE(settle());
    auto next = run_task(loop_, receive(socket_));
    ASSERT_TRUE(next.done());
    got = next.get().data;
  }
  EXPECT_EQ(got, "raced");
}

TEST_P(CoUdpTest, WhenAnyCancelsTheReceiveAndLosesNothing) {
  auto timed = [&]() -> co::Task<std::size_t> {
    auto result = co_await co::when_any(receive(socket_), co::as_task(co::sleep_for(1ms)));
    co_return result.index();
  };
  auto first = run_task(loop_, timed());
  ASSERT_TRUE(first.done());
  EXPECT_EQ(first.get(), 1u) << "nothing was sent: the sleep must win";
  // The cancelled receive took nothing and left no receiver parked: a datagram now queues.
  ASSERT_FALSE(send("kept"));
  ASSERT_TRUE(settle());
  auto winner = [&]() -> co::Task<std::string> {
    auto result = co_await co::when_any(receive(socket_), co::as_task(co::sleep_for(10s)));
    co_return std::get<0>(std::move(result)).data;
  };
  auto second = co::spawn(loop_, winner());
  ASSERT_TRUE(run_until(loop_, [&] { return second.done(); }));
  EXPECT_EQ(second.get(), "kept");
}

TEST_P(CoUdpTest, DestroyingTheSocketCancelsItsReceiver) {
  auto other = std::make_unique<co::UdpSocket>(loop_, InetAddress::loopback_ipv4(0));
  auto spawned = co::spawn(loop_, receive(*other));
  ASSERT_FALSE(spawned.done());
  other.reset();
  ASSERT_TRUE(spawned.done()) << "resumed inside the destructor";
  EXPECT_TRUE(canceled(spawned));
}

TEST_P(CoUdpTest, SocketDestroyedWhileACancellationIsOnItsWay) {
  // A stop from the task's scope unparks the receiver at once and resumes it later: the
  // socket may be gone by then (under ASan, the awaiter must not touch it).
  auto other = std::make_unique<co::UdpSocket>(loop_, InetAddress::loopback_ipv4(0));
  auto spawned = co::spawn(loop_, receive(*other));
  spawned.request_stop();
  other.reset();
  ASSERT_TRUE(run_until(loop_, [&] { return spawned.done(); }));
  EXPECT_TRUE(canceled(spawned));
}

TEST_P(CoUdpTest, ReceiverMayDestroyTheSocketWhenResumed) {
  // The socket lives in the receiving coroutine's frame, which ends with the first
  // datagram: inside the socket's own read batch (two more datagrams wait behind it).
  InetAddress at;
  auto owner = [&]() -> co::Task<std::string> {
    co::UdpSocket own(loop_, InetAddress::loopback_ipv4(0));
    at = own.address();
    co_return (co_await receive(own)).data;
  };
  auto spawned = co::spawn(loop_, owner());
  ASSERT_FALSE(spawned.done());
  for (const char* d : {"one", "two", "three"}) ASSERT_FALSE(peer_.send_to(d, at));
  ASSERT_TRUE(run_until(loop_, [&] { return spawned.done(); }));
  EXPECT_EQ(spawned.get(), "one");
  // The loop goes on serving the sockets that remain.
  ASSERT_FALSE(send("still"));
  auto next = run_task(loop_, receive(socket_));
  ASSERT_TRUE(next.done());
  EXPECT_EQ(next.get().data, "still");
}

using CoUdpDeathTest = CoUdpTest;

TEST_P(CoUdpDeathTest, TwoReceiversAtOnceAbort) {
  EXPECT_DEATH(
      {
        auto a = co::spawn(loop_, receive(socket_));
        auto b = co::spawn(loop_, receive(socket_));
      },
      "two coroutines receive");
}

// Destroying the loop while a coroutine is parked on a socket in its own frame frees the
// frame (and the socket) without resuming it.
class CoUdpTeardownTest : public ::testing::TestWithParam<std::string> {
 protected:
  test::FdLeakGuard leaks_;
};

TEST_P(CoUdpTeardownTest, DestroyingTheLoopWhileParked) {
  int destroyed = 0;
  bool resumed = false;
  struct Probe {
    int* count;
    ~Probe() { ++*count; }
  };
  {
    EventLoop loop(GetParam());
    co::spawn(loop, [&]() -> co::Task<void> {
      Probe probe{&destroyed};
      co::UdpSocket own(loop, InetAddress::loopback_ipv4(0));
      char buffer[16];
      co_await own.receive_from(buffer);
      resumed = true;
    });
    test::run_for(loop, 5ms);
    EXPECT_EQ(destroyed, 0);
  }
  EXPECT_EQ(destroyed, 1);
  EXPECT_FALSE(resumed);
}

INSTANTIATE_TEST_SUITE_P(Backends, CoUdpTest,
                         test::all_backends(), test::backend_name);
INSTANTIATE_TEST_SUITE_P(Backends, CoUdpTeardownTest,
                         test::all_backends(), test::backend_name);
INSTANTIATE_TEST_SUITE_P(Backends, CoUdpDeathTest, ::testing::Values("epoll"));

}  // namespace
}  // namespace reactor
