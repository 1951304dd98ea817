// Unit tests for net::UdpSocket (src/net/udp_socket.cc), over every selector backend.
#include "reactor/net/udp_socket.h"

#include <algorithm>
#include <memory>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "test_util.h"

namespace reactor::net {
namespace {

using test::run_until;
using namespace std::chrono_literals;

struct Datagram {
  std::string data;
  InetAddress from;
};

class UdpSocketTest : public ::testing::TestWithParam<std::string> {
 protected:
  test::FdLeakGuard leaks_;
  EventLoop loop_{GetParam()};
  std::vector<Datagram> a_got_, b_got_;
  UdpSocket a_{loop_, InetAddress::loopback_ipv4(0),
               [this](std::string_view d, const InetAddress& from) {
                 a_got_.push_back({std::string(d), from});
               }};
  UdpSocket b_{loop_, InetAddress::loopback_ipv4(0),
               [this](std::string_view d, const InetAddress& from) {
                 b_got_.push_back({std::string(d), from});
               }};
};

TEST_P(UdpSocketTest, BoundToARealPort) {
  EXPECT_NE(a_.address().port(), 0);
  EXPECT_NE(a_.address().port(), b_.address().port());
  EXPECT_EQ(a_.address().host(), "127.0.0.1");
}

TEST_P(UdpSocketTest, RoundTripWithSenderAddress) {
  // b echoes back to whoever sent.
  UdpSocket echo(loop_, InetAddress::loopback_ipv4(0),
                 [&](std::string_view d, const InetAddress& from) {
                   b_got_.push_back({std::string(d), from});
                   EXPECT_FALSE(echo.send_to(d, from));
                 });
  ASSERT_FALSE(a_.send_to("ping", echo.address()));
  ASSERT_TRUE(run_until(loop_, [&] { return a_got_.size() == 1; }));
  ASSERT_EQ(b_got_.size(), 1u);
  EXPECT_EQ(b_got_[0].data, "ping");
  EXPECT_EQ(b_got_[0].from, a_.address());  // the sender's bound address
  EXPECT_EQ(a_got_[0].data, "ping");
  EXPECT_EQ(a_got_[0].from, echo.address());
  EXPECT_EQ(a_.dropped(), 0u);
}

TEST_P(UdpSocketTest, StatsCountDatagramsAndBytes) {
  UdpSocket echo(loop_, InetAddress::loopback_ipv4(0),
                 [&](std::string_view d, const InetAddress& from) { echo.send_to(d, from); });
  ASSERT_FALSE(a_.send_to("ping", echo.address()));
  ASSERT_FALSE(a_.send_to("", echo.address()));
  ASSERT_FALSE(a_.send_to("hello", echo.address()));
  ASSERT_TRUE(run_until(loop_, [&] { return a_got_.size() == 3; }));
  const UdpStats e = echo.stats();
  EXPECT_EQ(e.datagrams_received, 3u);
  EXPECT_EQ(e.bytes_received, 9u);
  EXPECT_EQ(e.datagrams_sent, 3u);
  EXPECT_EQ(e.bytes_sent, 9u);
  EXPECT_EQ(a_.stats().datagrams_sent, 3u);
  EXPECT_EQ(a_.stats().datagrams_received, 3u);
}

TEST_P(UdpSocketTest, EmptyAndLargeDatagrams) {
  const std::string big(60000, 'q');
  ASSERT_FALSE(a_.send_to("", b_.address()));
  ASSERT_FALSE(a_.send_to(big, b_.address()));
  ASSERT_TRUE(run_until(loop_, [&] { return b_got_.size() == 2; }));
  EXPECT_EQ(b_got_[0].data, "");
  EXPECT_EQ(b_got_[1].data, big);
}

TEST_P(UdpSocketTest, OversizedDatagramIsAnError) {
  const std::string huge(70000, 'x');
  std::error_code ec = a_.send_to(huge, b_.address());
  EXPECT_EQ(ec, std::errc::message_size) << ec.message();
}

TEST_P(UdpSocketTest, ManyDatagramsInOrder) {
  // Windows of 100 keep the receiver's socket buffer from overflowing (UDP may drop).
  constexpr int kTotal = 3000, kWindow = 100;
  for (int sent = 0; sent < kTotal; sent += kWindow) {
    for (int i = sent; i < sent + kWindow; ++i)
      ASSERT_FALSE(a_.send_to("d" + std::to_string(i), b_.address()));
    ASSERT_TRUE(run_until(loop_, [&] {
      return b_got_.size() == static_cast<size_t>(sent + kWindow);
    })) << b_got_.size();
  }
  for (int i = 0; i < kTotal; ++i)
    ASSERT_EQ(b_got_[static_cast<size_t>(i)].data, "d" + std::to_string(i));
  EXPECT_TRUE(std::all_of(b_got_.begin(), b_got_.end(),
                          [&](const Datagram& d) { return d.from == a_.address(); }));
}

TEST_P(UdpSocketTest, BurstLargerThanOneReadQuota) {
  // More datagrams wait than one wake-up reads (64): edge-triggered backends must come
  // back for the rest without a new arrival.
  constexpr size_t kBurst = 150;
  for (size_t i = 0; i < kBurst; ++i) ASSERT_FALSE(a_.send_to("burst", b_.address()));
  ASSERT_TRUE(run_until(
      loop_, [&] { return b_got_.size() == kBurst; }, 5s))
      << b_got_.size();
}

TEST_P(UdpSocketTest, CallbackMayDestroyTheSocket) {
  // Several datagrams wait, so one read batch would go on after the first callback: it
  // must notice that the callback destroyed the socket (under ASan, a use after free).
  int calls = 0;
  std::unique_ptr<UdpSocket> victim;
  victim = std::make_unique<UdpSocket>(loop_, InetAddress::loopback_ipv4(0),
                                       [&](std::string_view, const InetAddress&) {
                                         ++calls;
                                         victim.reset();
                                       });
  for (int i = 0; i < 3; ++i) ASSERT_FALSE(a_.send_to("x", victim->address()));
  ASSERT_TRUE(run_until(loop_, [&] { return victim == nullptr; }));
  EXPECT_EQ(calls, 1);
  // The loop goes on serving the other sockets.
  ASSERT_FALSE(a_.send_to("after", b_.address()));
  ASSERT_TRUE(run_until(loop_, [&] { return b_got_.size() == 1; }));
}

TEST_P(UdpSocketTest, BindToAPortInUseThrows) {
  EXPECT_THROW(UdpSocket(loop_, a_.address(), [](std::string_view, const InetAddress&) {}),
               std::system_error);
}

using UdpSocketDeathTest = UdpSocketTest;

TEST_P(UdpSocketDeathTest, SendToFromAnotherThreadAborts) {
  EXPECT_DEATH(std::thread([this] { static_cast<void>(a_.send_to("x", b_.address())); }).join(),
               "does not own this EventLoop");
}

INSTANTIATE_TEST_SUITE_P(Backends, UdpSocketDeathTest, ::testing::Values("epoll"));

INSTANTIATE_TEST_SUITE_P(Backends, UdpSocketTest, test::all_backends(), test::backend_name);

}  // namespace
}  // namespace reactor::net
