// Unit tests for net::Cidr (src/net/cidr.cc).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "reactor/net/proxy_protocol.h"

namespace reactor::net {
namespace {

InetAddress address(const char* host) {
  auto a = InetAddress::parse(host, 1234);
  EXPECT_TRUE(a) << host;
  return a.value_or(InetAddress());
}

bool contains(const char* range, const char* host) {
  auto c = Cidr::parse(range);
  EXPECT_TRUE(c) << range;
  return c && c->contains(address(host));
}

TEST(Cidr, ParsesRangesAndShowsTheirNetwork) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"10.0.0.0/8", "10.0.0.0/8"},
      {"10.1.2.3/8", "10.0.0.0/8"},  // the host bits are dropped
      {"192.168.1.77/26", "192.168.1.64/26"},
      {"127.0.0.1", "127.0.0.1/32"},
      {"1.2.3.4/32", "1.2.3.4/32"},
      {"0.0.0.0/0", "0.0.0.0/0"},
      {"255.255.255.255/0", "0.0.0.0/0"},
      {"::1", "::1/128"},
      {"::1/128", "::1/128"},
      {"2001:db8:1:2::5/32", "2001:db8::/32"},
      {"fe80::1/10", "fe80::/10"},
      {"::/0", "::/0"},
      {"::ffff:10.1.2.3/104", "::ffff:10.0.0.0/104"},
  };
  for (const auto& [text, shown] : cases) {
    auto c = Cidr::parse(text);
    ASSERT_TRUE(c) << text;
    EXPECT_EQ(c->to_string(), shown) << text;
  }
}

TEST(Cidr, RejectsBadText) {
  for (const char* text : {"",           "/8",          "1.2.3.4/",           "1.2.3.4/33",
                           "1.2.3.4/-1", "1.2.3.4/+8",  "1.2.3.4/8/9",        "1.2.3.4/ 8",
                           "1.2.3.4/8 ", "1.2.3.4/x",   "1.2.3.4/4294967304", "::1/129",
                           "::1/",       "1.2.3",       "256.0.0.0/8",        "example.com/8",
                           "localhost",  "localhost/8", " 10.0.0.0/8",        "10.0.0.0/8,"})
    EXPECT_FALSE(Cidr::parse(text)) << '"' << text << '"';
}

TEST(Cidr, ParsesLists) {
  auto list = Cidr::parse_list("10.0.0.0/8,::1,192.168.0.0/16");
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), 3u);
  EXPECT_EQ((*list)[0].to_string(), "10.0.0.0/8");
  EXPECT_EQ((*list)[1].to_string(), "::1/128");
  EXPECT_EQ((*list)[2].to_string(), "192.168.0.0/16");
  auto one = Cidr::parse_list("127.0.0.1");
  ASSERT_TRUE(one);
  EXPECT_EQ(one->size(), 1u);
  for (const char* text : {"", ",", "a,,b", "10.0.0.0/8,,::1", "10.0.0.0/8,", ",10.0.0.0/8",
                           "10.0.0.0/8, ::1", "10.0.0.0/8,1.2.3.4/33"})
    EXPECT_FALSE(Cidr::parse_list(text)) << '"' << text << '"';
}

TEST(Cidr, ContainsIpv4) {
  EXPECT_TRUE(contains("10.0.0.0/8", "10.0.0.0"));
  EXPECT_TRUE(contains("10.0.0.0/8", "10.255.255.255"));
  EXPECT_FALSE(contains("10.0.0.0/8", "11.0.0.0"));
  EXPECT_FALSE(contains("10.0.0.0/8", "9.255.255.255"));
  // A prefix that does not end on a byte.
  EXPECT_TRUE(contains("10.0.0.0/9", "10.127.255.255"));
  EXPECT_FALSE(contains("10.0.0.0/9", "10.128.0.0"));
  EXPECT_TRUE(contains("192.168.1.64/26", "192.168.1.127"));
  EXPECT_FALSE(contains("192.168.1.64/26", "192.168.1.128"));
  EXPECT_FALSE(contains("192.168.1.64/26", "192.168.1.63"));
  EXPECT_TRUE(contains("1.2.3.4/32", "1.2.3.4"));
  EXPECT_FALSE(contains("1.2.3.4/32", "1.2.3.5"));
  EXPECT_TRUE(contains("0.0.0.0/0", "255.255.255.255"));
  EXPECT_TRUE(contains("0.0.0.0/0", "0.0.0.0"));
}

TEST(Cidr, ContainsIpv6) {
  EXPECT_TRUE(contains("::1/128", "::1"));
  EXPECT_FALSE(contains("::1/128", "::2"));
  EXPECT_TRUE(contains("fe80::/10", "fe80::1"));
  EXPECT_TRUE(contains("fe80::/10", "febf:ffff::1"));
  EXPECT_FALSE(contains("fe80::/10", "fec0::1"));
  EXPECT_TRUE(contains("2001:db8::/32", "2001:db8:ffff::1"));
  EXPECT_FALSE(contains("2001:db8::/32", "2001:db9::"));
  EXPECT_TRUE(contains("::/0", "ffff::1"));
}

TEST(Cidr, Ipv4RangeMatchesItsIpv4MappedForm) {
  // What a dual-stack listener reports for an IPv4 peer.
  EXPECT_TRUE(contains("10.0.0.0/8", "::ffff:10.1.2.3"));
  EXPECT_FALSE(contains("10.0.0.0/8", "::ffff:11.1.2.3"));
  EXPECT_TRUE(contains("127.0.0.1", "::ffff:127.0.0.1"));
  EXPECT_TRUE(contains("0.0.0.0/0", "::ffff:1.2.3.4"));
  // Neither the IPv4-compatible form nor any other IPv6 address.
  EXPECT_FALSE(contains("10.0.0.0/8", "::10.1.2.3"));
  EXPECT_FALSE(contains("0.0.0.0/0", "::1"));
  EXPECT_FALSE(contains("0.0.0.0/0", "2001:db8::1"));
  // And the other way round: a range written in mapped form holds the IPv4 addresses.
  EXPECT_TRUE(contains("::ffff:10.0.0.0/104", "10.1.2.3"));
  // ::/0 is every address, IPv4 ones included.
  EXPECT_TRUE(contains("::/0", "10.1.2.3"));
}

TEST(Cidr, Loopback) {
  const std::vector<Cidr> loopback = Cidr::loopback();
  ASSERT_EQ(loopback.size(), 2u);
  EXPECT_EQ(loopback[0].to_string(), "127.0.0.0/8");
  EXPECT_EQ(loopback[1].to_string(), "::1/128");
  auto any = [&](const char* host) {
    const InetAddress a = address(host);
    for (const Cidr& c : loopback)
      if (c.contains(a)) return true;
    return false;
  };
  for (const char* host : {"127.0.0.1", "127.0.0.2", "127.255.255.255", "::1", "::ffff:127.0.0.1"})
    EXPECT_TRUE(any(host)) << host;
  for (const char* host : {"128.0.0.1", "126.255.255.255", "10.0.0.1", "0.0.0.0", "::", "::2",
                           "::ffff:10.0.0.1", "fe80::1"})
    EXPECT_FALSE(any(host)) << host;
}

}  // namespace
}  // namespace reactor::net
