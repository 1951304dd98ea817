// Unit tests for net::InetAddress (src/net/inet_address.cc).
#include "reactor/net/inet_address.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

namespace reactor::net {
namespace {

TEST(InetAddress, DefaultIsAnyIpv4PortZero) {
  InetAddress a;
  EXPECT_EQ(a.family(), AF_INET);
  EXPECT_EQ(a.port(), 0);
  EXPECT_EQ(a.to_string(), "0.0.0.0:0");
  EXPECT_EQ(a.length(), sizeof(sockaddr_in));
}

TEST(InetAddress, ParsesIpv4) {
  auto a = InetAddress::parse("127.0.0.1", 8080);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->family(), AF_INET);
  EXPECT_EQ(a->host(), "127.0.0.1");
  EXPECT_EQ(a->port(), 8080);
  EXPECT_EQ(a->to_string(), "127.0.0.1:8080");
  EXPECT_EQ(a->length(), sizeof(sockaddr_in));
  const auto* sin = reinterpret_cast<const sockaddr_in*>(a->sockaddr_ptr());
  EXPECT_EQ(ntohs(sin->sin_port), 8080);
  EXPECT_EQ(ntohl(sin->sin_addr.s_addr), INADDR_LOOPBACK);
}

TEST(InetAddress, ParsesIpv6PlainAndBracketed) {
  for (const char* text : {"::1", "[::1]"}) {
    auto a = InetAddress::parse(text, 443);
    ASSERT_TRUE(a) << text;
    EXPECT_EQ(a->family(), AF_INET6);
    EXPECT_EQ(a->host(), "::1");
    EXPECT_EQ(a->port(), 443);
    EXPECT_EQ(a->to_string(), "[::1]:443");
    EXPECT_EQ(a->length(), sizeof(sockaddr_in6));
  }
  auto b = InetAddress::parse("fe80::1:2", 1);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->host(), "fe80::1:2");
}

TEST(InetAddress, LocalhostIsLoopbackIpv4) {
  auto a = InetAddress::parse("localhost", 53);
  ASSERT_TRUE(a);
  EXPECT_EQ(*a, InetAddress::loopback_ipv4(53));
  EXPECT_EQ(a->to_string(), "127.0.0.1:53");
}

TEST(InetAddress, RejectsInvalidText) {
  for (const char* text : {"", "1.2.3", "256.0.0.1", "example.com", "[::1", "::1]", "1.2.3.4:80",
                           "[]", " 127.0.0.1", "::g"})
    EXPECT_FALSE(InetAddress::parse(text, 1)) << '"' << text << '"';
}

TEST(InetAddress, AnyAndLoopback) {
  EXPECT_EQ(InetAddress::any_ipv4(9).to_string(), "0.0.0.0:9");
  EXPECT_EQ(InetAddress::loopback_ipv4(65535).to_string(), "127.0.0.1:65535");
}

TEST(InetAddress, FromSockaddrRoundTrip) {
  for (const char* text : {"10.1.2.3", "2001:db8::7"}) {
    auto a = InetAddress::parse(text, 1234);
    ASSERT_TRUE(a);
    InetAddress b = InetAddress::from_sockaddr(a->sockaddr_ptr(), a->length());
    EXPECT_EQ(b, *a);
    EXPECT_EQ(b.to_string(), a->to_string());
  }
  EXPECT_EQ(InetAddress::from_sockaddr(nullptr, 0), InetAddress());
}

TEST(InetAddress, Equality) {
  auto a = InetAddress::parse("127.0.0.1", 1);
  EXPECT_EQ(*a, InetAddress::loopback_ipv4(1));
  EXPECT_FALSE(*a == InetAddress::loopback_ipv4(2));
  EXPECT_FALSE(*a == *InetAddress::parse("127.0.0.2", 1));
  EXPECT_FALSE(*InetAddress::parse("::", 1) == *InetAddress::parse("0.0.0.0", 1));
}

}  // namespace
}  // namespace reactor::net
