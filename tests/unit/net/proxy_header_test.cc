// Unit tests for the PROXY protocol header parser (src/net/proxy_header.cc).
//
// Every valid header is fed whole, followed by application bytes, split at every byte
// offset and one byte at a time; every call sees its input placed against a guard page,
// so any read past the end faults. Every invalid header names the byte that must decide
// it: each shorter prefix is need_more (no prefix of a header that may still be valid is
// refused), and the prefix ending at that byte is already an error, with the reason given.

#include "net/proxy_header.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <string>
#include <string_view>
#include <vector>

#include "allocation_counter.h"  // this binary counts its heap allocations
#include "guarded_region.h"

namespace reactor::net::detail {
namespace {

using namespace std::literals;
using State = ProxyParse::State;
using test::GuardedRegion;

// ---------------------------------------------------------------------------------
// Building v2 headers.

const std::string kSignature("\r\n\r\n\0\r\nQUIT\n", 12);

std::string u16(size_t v) {
  return {static_cast<char>(v >> 8 & 0xff), static_cast<char>(v & 0xff)};
}

std::string v2(uint8_t version_command, uint8_t family, std::string_view rest) {
  return kSignature + static_cast<char>(version_command) + static_cast<char>(family) +
         u16(rest.size()) + std::string(rest);
}

std::string tlv(uint8_t type, std::string_view value) {
  return static_cast<char>(type) + u16(value.size()) + std::string(value);
}

std::string address_bytes(int family, const char* text) {
  char bytes[16];
  EXPECT_EQ(::inet_pton(family, text, bytes), 1) << text;
  return std::string(bytes, family == AF_INET ? 4 : 16);
}

std::string inet4(const char* src, const char* dst, uint16_t sport, uint16_t dport) {
  return address_bytes(AF_INET, src) + address_bytes(AF_INET, dst) + u16(sport) + u16(dport);
}

std::string inet6(const char* src, const char* dst, uint16_t sport, uint16_t dport) {
  return address_bytes(AF_INET6, src) + address_bytes(AF_INET6, dst) + u16(sport) + u16(dport);
}

// A v2 header whose `rest` holds one CRC32C TLV (value zeros) at `crc_at` (from the 17th
// byte), with the checksum filled in: over the whole header with those 4 bytes zero.
std::string v2_with_crc(uint8_t version_command, uint8_t family, std::string rest, size_t crc_at) {
  std::string header = v2(version_command, family, rest);
  const size_t at = kProxyV2FixedBytes + crc_at + 3;
  EXPECT_EQ(header.substr(at - 3, 7), "\x03\x00\x04\x00\x00\x00\x00"s);
  const uint32_t crc = crc32c(header);
  header.replace(at, 4, u16(crc >> 16) + u16(crc & 0xffff));
  return header;
}

const std::string kCrcZero = tlv(0x03, "\0\0\0\0"s);

// Captured from HAProxy 2.6 ("server ... send-proxy-v2 proxy-v2-options crc32c" and
// "crc32c,unique-id"), client 127.0.0.2: an outside check of the CRC's byte order.
const std::string kHaproxyCrc(
    "\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x13\x7f\x00\x00\x02\x7f\x00\x00\x01\xe4\xf7\xa8\xe1"
    "\x03\x00\x04\xeb\x65\x89\x04",
    35);
const std::string kHaproxyCrcUniqueId(
    "\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x1c\x7f\x00\x00\x02\x7f\x00\x00\x01\xbb\xe5\xc2\xcf"
    "\x03\x00\x04\xad\x7c\x51\xe3\x05\x00\x06"
    "abc123",
    44);

// HAProxy's health check with "send-proxy-v2 proxy-v2-options crc32c check": LOCAL over
// UNSPEC, with TLVs after an empty address block.
const std::string kHaproxyCheck("\r\n\r\n\0\r\nQUIT\n\x20\x00\x00\x07\x03\x00\x04\xa9\xb8\x7e\x8f",
                                23);

// ---------------------------------------------------------------------------------
// The cases.

struct GoodCase {
  std::string name;
  std::string wire;
  uint8_t version;
  bool local;
  std::string source;  // InetAddress::to_string(), "" for none
  std::string destination;
};

std::vector<GoodCase> good_cases() {
  const std::string ffff6 = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
  const std::string ssl = tlv(0x20, "\x01\0\0\0\0"s + tlv(0x21, "TLSv1.3") + tlv(0x22, "cn"));
  return {
      {"v1 spec example", "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n", 1, false,
       "192.168.0.1:56324", "192.168.0.11:443"},
      {"v1 TCP4 longest (56 bytes)", "PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n",
       1, false, "255.255.255.255:65535", "255.255.255.255:65535"},
      {"v1 TCP4 zeros", "PROXY TCP4 0.0.0.0 10.0.0.1 0 0\r\n", 1, false, "0.0.0.0:0", "10.0.0.1:0"},
      {"v1 TCP6 longest (104 bytes)", "PROXY TCP6 " + ffff6 + " " + ffff6 + " 65535 65535\r\n", 1,
       false, "[" + ffff6 + "]:65535", "[" + ffff6 + "]:65535"},
      {"v1 TCP6 compressed", "PROXY TCP6 ::1 2001:DB8::a 1 80\r\n", 1, false, "[::1]:1",
       "[2001:db8::a]:80"},
      {"v1 TCP6 unspecified", "PROXY TCP6 :: :: 2 3\r\n", 1, false, "[::]:2", "[::]:3"},
      {"v1 TCP6 IPv4-mapped", "PROXY TCP6 ::ffff:10.1.2.3 fe80::1:2 4 5\r\n", 1, false,
       "[::ffff:10.1.2.3]:4", "[fe80::1:2]:5"},
      {"v1 UNKNOWN short", "PROXY UNKNOWN\r\n", 1, true, "", ""},
      {"v1 UNKNOWN longest (107 bytes)",
       "PROXY UNKNOWN " + ffff6 + " " + ffff6 + " 65535 65535\r\n", 1, true, "", ""},
      {"v1 UNKNOWN with any bytes", "PROXY UNKNOWN  x\t\x01\xff\0 \r\n"s, 1, true, "", ""},
      {"v1 from HAProxy send-proxy", "PROXY TCP4 127.0.0.2 127.0.0.1 50649 60479\r\n", 1, false,
       "127.0.0.2:50649", "127.0.0.1:60479"},
      {"v2 PROXY TCP4", v2(0x21, 0x11, inet4("192.0.2.1", "198.51.100.7", 56324, 443)), 2, false,
       "192.0.2.1:56324", "198.51.100.7:443"},
      {"v2 PROXY TCP6", v2(0x21, 0x21, inet6("2001:db8::1", "::1", 1, 65535)), 2, false,
       "[2001:db8::1]:1", "[::1]:65535"},
      {"v2 LOCAL UNSPEC (health check)", v2(0x20, 0x00, ""), 2, true, "", ""},
      {"v2 LOCAL with TCP4 addresses, ignored",
       v2(0x20, 0x11, inet4("192.0.2.1", "192.0.2.2", 1, 2)), 2, true, "", ""},
      {"v2 LOCAL over UDP, family ignored", v2(0x20, 0x12, inet4("192.0.2.1", "192.0.2.2", 1, 2)),
       2, true, "", ""},
      {"v2 PROXY UNSPEC", v2(0x21, 0x00, ""), 2, true, "", ""},
      {"v2 PROXY UNSPEC over STREAM", v2(0x21, 0x01, ""), 2, true, "", ""},
      {"v2 PROXY INET over UNSPEC transport", v2(0x21, 0x10, inet4("192.0.2.1", "192.0.2.2", 1, 2)),
       2, true, "", ""},
      {"v2 TLVs skipped",
       v2(0x21, 0x11,
          inet4("10.0.0.1", "10.0.0.2", 1000, 80) + tlv(0x04, "") + tlv(0x01, "h2") +
              tlv(0x02, "example.com") + ssl + tlv(0xe0, "custom") + tlv(0x30, "ns")),
       2, false, "10.0.0.1:1000", "10.0.0.2:80"},
      {"v2 UNSPEC then TLVs", v2(0x20, 0x00, tlv(0x05, "id")), 2, true, "", ""},
      {"v2 CRC32C right",
       v2_with_crc(0x21, 0x11, inet4("10.0.0.1", "10.0.0.2", 1, 2) + kCrcZero, 12), 2, false,
       "10.0.0.1:1", "10.0.0.2:2"},
      {"v2 CRC32C right among TLVs, TCP6",
       v2_with_crc(0x21, 0x21,
                   inet6("::2", "::3", 4, 5) + tlv(0x04, "pad") + kCrcZero + tlv(0x05, "id"), 42),
       2, false, "[::2]:4", "[::3]:5"},
      {"v2 CRC32C right on LOCAL", v2_with_crc(0x20, 0x00, kCrcZero, 0), 2, true, "", ""},
      {"v2 from HAProxy, CRC32C", kHaproxyCrc, 2, false, "127.0.0.2:58615", "127.0.0.1:43233"},
      {"v2 from HAProxy, CRC32C and unique id", kHaproxyCrcUniqueId, 2, false, "127.0.0.2:48101",
       "127.0.0.1:49871"},
      {"v2 from HAProxy, health check", kHaproxyCheck, 2, true, "", ""},
      {"v2 longest accepted",
       v2(0x21, 0x11,
          inet4("10.0.0.1", "10.0.0.2", 1, 2) +
              tlv(0x04, std::string(kProxyV2MaxLength - 15, 'n'))),
       2, false, "10.0.0.1:1", "10.0.0.2:2"},
  };
}

// A header refused at the byte after `valid`: every prefix up to `valid` is need_more.
struct BadCase {
  std::string name;
  std::string valid;
  std::string rest;
  std::string_view reason;
};

std::vector<BadCase> bad_v1_cases() {
  const std::string tcp4 = "PROXY TCP4 ", tcp6 = "PROXY TCP6 ", addrs = tcp4 + "1.2.3.4 5.6.7.8 ";
  const std::string v4_45 = "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255";
  return {
      {"not a header: HTTP", "", "GET / HTTP/1.1\r\n", "not a PROXY protocol header"},
      {"not a header: TLS", "", "\x16\x03\x01", "not a PROXY protocol header"},
      {"lowercase proxy", "", "proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n", "not a PROXY protocol header"},
      {"PROXY without space", "PROXY", "\r\n", "bad v1 signature"},
      {"PROXY misspelt", "PROX", "I TCP4", "bad v1 signature"},
      {"double space after PROXY", "PROXY ", " TCP4 1.2.3.4 5.6.7.8 1 2\r\n", "bad v1 protocol"},
      {"lowercase tcp4", "PROXY ", "tcp4 1.2.3.4 5.6.7.8 1 2\r\n", "bad v1 protocol"},
      {"TCP5", "PROXY TCP", "5 1.2.3.4", "bad v1 protocol"},
      {"UDP4", "PROXY U", "DP4 1.2.3.4", "bad v1 protocol"},  // U as in UNKNOWN,
      {"TCP4 then CRLF", "PROXY TCP4", "\r\n", "bad v1 protocol"},
      {"double space after TCP4", tcp4, " 1.2.3.4 5.6.7.8 1 2\r\n", "bad v1 source address"},
      {"octet 256", tcp4 + "25", "6.1.1.1 5.6.7.8 1 2\r\n", "bad v1 source address"},
      {"three octets", tcp4 + "1.2.3", " 5.6.7.8 1 2\r\n", "bad v1 source address"},
      {"five octets", tcp4 + "1.2.3.4", ".5 5.6.7.8 1 2\r\n", "bad v1 source address"},
      {"leading zero octet", tcp4 + "0", "1.2.3.4 5.6.7.8 1 2\r\n", "bad v1 source address"},
      {"empty octet", tcp4 + "1.", ".2.3 5.6.7.8 1 2\r\n", "bad v1 source address"},
      {"leading dot", tcp4, ".1.2.3 5.6.7.8 1 2\r\n", "bad v1 source address"},
      {"trailing dot", tcp4 + "1.2.3.", " 5.6.7.8 1 2\r\n", "bad v1 source address"},
      {"IPv6 in TCP4", tcp4, "::1 ::1 1 2\r\n", "bad v1 source address"},
      {"name in TCP4", tcp4, "localhost 5.6.7.8 1 2\r\n", "bad v1 source address"},
      {"signed octet", tcp4, "+1.2.3.4 5.6.7.8 1 2\r\n", "bad v1 source address"},
      {"CRLF inside the addresses", tcp4 + "1.2.3.4", "\r\n", "bad v1 source address"},
      {"bad destination", tcp4 + "1.2.3.4 1.2.3.25", "6 1 2\r\n", "bad v1 destination address"},
      {"IPv4 in TCP6", tcp6 + "1.2.3.4", " ::1 1 2\r\n", "bad v1 source address"},
      {"nine IPv6 groups", tcp6 + "1:2:3:4:5:6:7:8", ":9 ::1 1 2\r\n", "bad v1 source address"},
      {"seven IPv6 groups", tcp6 + "1:2:3:4:5:6:7", " ::1 1 2\r\n", "bad v1 source address"},
      {"triple colon", tcp6 + "::", ":1 ::1 1 2\r\n", "bad v1 source address"},
      {"two double colons", tcp6 + "1::2:", ":3 ::1 1 2\r\n", "bad v1 source address"},
      {"nine colons", tcp6 + "1::3:4:5:6:7:8:9", ":0 ::1 1 2\r\n", "bad v1 source address"},
      {"hex in the IPv4 tail", tcp6 + "::1.2", "a.3.4 ::1 1 2\r\n", "bad v1 source address"},
      {"colon after the IPv4 tail", tcp6 + "::1.2", ":3 ::1 1 2\r\n", "bad v1 source address"},
      {"four dots in IPv6", tcp6 + "::1.2.3.4", ".5 ::1 1 2\r\n", "bad v1 source address"},
      {"five hex digits", tcp6 + "1234", "5:: ::1 1 2\r\n", "bad v1 source address"},
      {"non-hex in IPv6", tcp6, "g::1 ::1 1 2\r\n", "bad v1 source address"},
      {"IPv6 zone id", tcp6 + "fe80::1", "%eth0 ::1 1 2\r\n", "bad v1 source address"},
      {"bracketed IPv6", tcp6, "[::1] ::1 1 2\r\n", "bad v1 source address"},
      {"IPv6 of 46 characters", tcp6 + v4_45, "5 ::1 1 2\r\n", "bad v1 source address"},
      {"bad IPv6 destination", tcp6 + "::1 ::1:", " 1 2\r\n", "bad v1 destination address"},
      {"port 65536", addrs + "6553", "6 2\r\n", "bad v1 source port"},
      {"port 99999", addrs + "1 9999", "9\r\n", "bad v1 destination port"},
      {"port -1", addrs, "-1 2\r\n", "bad v1 source port"},
      {"port +1", addrs, "+1 2\r\n", "bad v1 source port"},
      {"port 01", addrs + "0", "1 2\r\n", "bad v1 source port"},
      {"port 0x10", addrs + "0", "x10 2\r\n", "bad v1 source port"},
      {"empty source port", addrs, " 2\r\n", "bad v1 source port"},
      {"empty destination port", addrs + "1 ", "\r\n", "bad v1 destination port"},
      {"destination port missing", addrs + "1", "\r\n", "bad v1 source port"},
      {"double space between ports", addrs + "1 ", " 2\r\n", "bad v1 destination port"},
      {"a sixth field", addrs + "1 2", " 3\r\n", "bad v1 destination port"},
      {"space before CRLF", addrs + "1 2", " \r\n", "bad v1 destination port"},
      {"garbage before CRLF", addrs + "1 2", "x\r\n", "bad v1 destination port"},
      {"lone LF", addrs + "1 2", "\nGET /", "bad v1 destination port"},
      {"lone CR", addrs + "1 2\r", "GET /", "bad v1 line end"},
      {"CR CR LF", addrs + "1 2\r", "\r\n", "bad v1 line end"},
      {"UNKNOWN glued", "PROXY UNKNOWN", "X\r\n", "bad v1 UNKNOWN line"},
      {"UNKNOWN lone LF", "PROXY UNKNOWN", "\n", "bad v1 UNKNOWN line"},
      {"UNKNOWN LF inside", "PROXY UNKNOWN a", "\nb\r\n", "bad v1 UNKNOWN line"},
      {"UNKNOWN lone CR", "PROXY UNKNOWN a\r", "b\r\n", "bad v1 UNKNOWN line"},
      {"UNKNOWN 108 bytes", "PROXY UNKNOWN " + std::string(92, 'x'), "\r\n",
       "v1 line longer than 107 bytes"},
      {"UNKNOWN without CRLF", "PROXY UNKNOWN " + std::string(92, 'x'), std::string(100, 'x'),
       "v1 line longer than 107 bytes"},
      {"TCP6 108 bytes", tcp6 + v4_45 + " " + v4_45 + " 655", "35 65535\r\n",
       "v1 line longer than 107 bytes"},
      {"v1 then v2", "PROXY ", kSignature, "bad v1 protocol"},
      {"v1 prefix then v2", "P", kSignature, "bad v1 signature"},
  };
}

std::vector<BadCase> bad_v2_cases() {
  const std::string tcp4 = inet4("10.0.0.1", "10.0.0.2", 1, 2);
  // A header whose first `n` bytes are `good`'s, then the rest of `bad`.
  auto split = [](const std::string& bad, size_t n) {
    return std::pair{bad.substr(0, n), bad.substr(n)};
  };
  std::vector<BadCase> cases;
  auto add = [&](std::string name, const std::string& bad, size_t n, std::string_view reason) {
    auto [valid, rest] = split(bad, n);
    cases.push_back({std::move(name), valid, rest, reason});
  };
  add("version 1", v2(0x11, 0x11, tcp4), 12, "bad v2 version");
  add("version 3", v2(0x31, 0x11, tcp4), 12, "bad v2 version");
  add("version 0", v2(0x01, 0x11, tcp4), 12, "bad v2 version");
  add("command 2", v2(0x22, 0x11, tcp4), 12, "bad v2 command");
  add("command 15", v2(0x2f, 0x11, tcp4), 12, "bad v2 command");
  add("family 4", v2(0x21, 0x41, tcp4), 13, "bad v2 family");
  add("transport 3", v2(0x21, 0x13, tcp4), 13, "bad v2 family");
  add("LOCAL with family 4", v2(0x20, 0x41, ""), 13, "bad v2 family");
  add("PROXY over UDP4", v2(0x21, 0x12, tcp4), 13, "unsupported v2 family");
  add("PROXY over UDP6", v2(0x21, 0x22, inet6("::1", "::1", 1, 2)), 13, "unsupported v2 family");
  add("PROXY over UNSPEC DGRAM", v2(0x21, 0x02, ""), 13, "unsupported v2 family");
  add("PROXY over UNIX stream", v2(0x21, 0x31, std::string(216, '\0')), 13,
      "unsupported v2 family");
  add("PROXY over UNIX dgram", v2(0x21, 0x32, std::string(216, '\0')), 13, "unsupported v2 family");
  add("TCP4 length 11", v2(0x21, 0x11, tcp4.substr(0, 11)), 15,
      "v2 length shorter than its addresses");
  add("TCP4 length 0", v2(0x21, 0x11, ""), 15, "v2 length shorter than its addresses");
  add("TCP6 length 35", v2(0x21, 0x21, std::string(35, '\0')), 15,
      "v2 length shorter than its addresses");
  add("LOCAL TCP4 length 0", v2(0x20, 0x11, ""), 15, "v2 length shorter than its addresses");
  add("length over the cap",
      v2(0x21, 0x11, tcp4 + tlv(0x04, std::string(kProxyV2MaxLength - 14, 'n'))), 15,
      "v2 header too long");
  add("length 65535", kSignature + "\x21\x11\xff\xff"s, 15, "v2 header too long");
  add("one byte after the addresses", v2(0x21, 0x11, tcp4 + "\x04"s), 15,
      "v2 TLV overruns the header");
  add("two bytes after the addresses", v2(0x21, 0x11, tcp4 + "\x04\x00"s), 15,
      "v2 TLV overruns the header");
  add("TLV one byte too long", v2(0x21, 0x11, tcp4 + "\x04\x00\x03"s + "ab"), 30,
      "v2 TLV overruns the header");
  add("TLV length 65535", v2(0x21, 0x11, tcp4 + "\x04\xff\xff"s + "ab"), 30,
      "v2 TLV overruns the header");
  add("second TLV overruns", v2(0x21, 0x11, tcp4 + tlv(0x05, "id") + "\x04\x00\x01"s), 35,
      "v2 TLV overruns the header");
  add("CRC32C of 3 bytes", v2(0x21, 0x11, tcp4 + tlv(0x03, "abc")), 30, "bad v2 CRC32C TLV length");
  add("CRC32C of 5 bytes", v2(0x21, 0x11, tcp4 + tlv(0x03, "abcde")), 30,
      "bad v2 CRC32C TLV length");
  add("two CRC32C TLVs", v2(0x21, 0x11, tcp4 + kCrcZero + kCrcZero), 37, "second v2 CRC32C TLV");

  std::string wrong = v2_with_crc(0x21, 0x11, tcp4 + kCrcZero, 12);
  wrong.back() ^= 1;
  add("CRC32C wrong", wrong, wrong.size() - 1, "CRC32C mismatch");
  std::string altered = v2_with_crc(0x21, 0x11, tcp4 + kCrcZero + tlv(0x05, "id"), 12);
  altered[16] = '\x8a';  // the source address (10.0.0.1), after the checksum was taken
  add("CRC32C over altered addresses", altered, altered.size() - 1, "CRC32C mismatch");
  std::string haproxy = kHaproxyCrcUniqueId;
  haproxy.back() = 'X';  // the unique id
  add("CRC32C from HAProxy, altered TLV", haproxy, haproxy.size() - 1, "CRC32C mismatch");
  std::string check = kHaproxyCheck;
  check[13] = '\x01';  // UNSPEC over STREAM: still local, but the checksum covered \x00
  add("CRC32C from HAProxy, altered family", check, check.size() - 1, "CRC32C mismatch");
  std::string zeroed = v2_with_crc(0x20, 0x00, kCrcZero, 0);
  zeroed.replace(zeroed.size() - 4, 4, "\0\0\0\0"s);  // as sent, before the checksum
  add("CRC32C left zero", zeroed, zeroed.size() - 1, "CRC32C mismatch");

  add("v2 then v1", kSignature.substr(0, 4) + "PROXY TCP4 ", 4, "bad v2 signature");
  add("CR then v1", "\rPROXY TCP4 ", 1, "bad v2 signature");
  add("HTTP after CRLF", "\r\nGET / HTTP/1.1\r\n", 2, "bad v2 signature");
  return cases;
}

std::vector<BadCase> bad_cases() {
  std::vector<BadCase> all = bad_v1_cases();
  for (BadCase& c : bad_v2_cases()) all.push_back(std::move(c));
  return all;
}

// ---------------------------------------------------------------------------------
// Feeding.

// Parses `data` placed against a guard page.
ProxyParse parse_guarded(std::string_view data) {
  GuardedRegion region(data.size() + 1);
  return parse_proxy_header(region.place(data));
}

void expect_header(const ProxyParse& p, const GoodCase& c) {
  ASSERT_EQ(p.state, State::complete) << p.error;
  EXPECT_EQ(p.consumed, c.wire.size());
  EXPECT_TRUE(p.error.empty());
  EXPECT_EQ(p.header.version, c.version);
  EXPECT_EQ(p.header.local, c.local);
  EXPECT_EQ(p.header.source ? p.header.source->to_string() : "", c.source);
  EXPECT_EQ(p.header.destination ? p.header.destination->to_string() : "", c.destination);
}

// What an application may send first: none of it is the header's.
const std::vector<std::string> kAfter = {"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
                                         "\r\n",
                                         "\n",
                                         std::string(1, '\0'),
                                         "PROXY UNKNOWN\r\n",
                                         kSignature + "\x20\x00\x00\x00"s,
                                         std::string(200, 'x')};

TEST(ProxyHeaderGood, Whole) {
  for (const GoodCase& c : good_cases()) {
    SCOPED_TRACE(c.name);
    expect_header(parse_guarded(c.wire), c);
  }
}

TEST(ProxyHeaderGood, ApplicationBytesAfterAreNotTheHeaders) {
  for (const GoodCase& c : good_cases()) {
    for (const std::string& after : kAfter) {
      SCOPED_TRACE(c.name + " + " + std::to_string(after.size()) + " bytes");
      const std::string wire = c.wire + after;
      const ProxyParse p = parse_guarded(wire);
      expect_header(p, c);
      EXPECT_EQ(std::string_view(wire).substr(p.consumed), after);
    }
  }
}

// A header received in two reads, split at every offset: the first read is need_more
// (so a reader keeps its bytes), the second gives the header and leaves the rest.
TEST(ProxyHeaderGood, SplitAtEveryOffset) {
  for (const GoodCase& c : good_cases()) {
    const std::string wire = c.wire + "GET /";
    for (size_t k = 1; k < c.wire.size(); ++k) {
      SCOPED_TRACE(c.name + " split at " + std::to_string(k));
      const ProxyParse first = parse_guarded(std::string_view(wire).substr(0, k));
      ASSERT_EQ(first.state, State::need_more) << first.error;
      EXPECT_EQ(first.consumed, 0u);
      expect_header(parse_guarded(wire), c);
    }
  }
}

// Header and application bytes arriving one byte at a time: need_more until the
// header's last byte, complete exactly then, whatever follows.
TEST(ProxyHeaderGood, OneByteAtATime) {
  for (const GoodCase& c : good_cases()) {
    SCOPED_TRACE(c.name);
    const std::string wire = c.wire + "PROXY TCP4 6.6.6.6 6.6.6.6 6 6\r\n";
    GuardedRegion region(wire.size());
    size_t done_at = 0;
    for (size_t n = 0; n <= wire.size() && done_at == 0; ++n) {
      const ProxyParse p = parse_proxy_header(region.place(std::string_view(wire).substr(0, n)));
      if (p.state == State::need_more) continue;
      done_at = n;
      expect_header(p, c);
    }
    EXPECT_EQ(done_at, c.wire.size());
  }
}

TEST(ProxyHeaderGood, ParsingAllocatesNothing) {
  std::vector<std::string> good, bad;
  for (const GoodCase& c : good_cases()) good.push_back(c.wire);
  for (const BadCase& c : bad_cases()) bad.push_back(c.valid + c.rest);
  size_t complete = 0, errors = 0;
  const long before = test::allocations();
  for (const std::string& wire : good)
    complete += parse_proxy_header(wire).state == State::complete;
  for (const std::string& wire : bad) errors += parse_proxy_header(wire).state == State::error;
  const long allocations = test::allocations() - before;
  EXPECT_EQ(allocations, 0);
  EXPECT_EQ(complete, good.size());
  EXPECT_EQ(errors, bad.size());
}

// Each bad header: need_more for every prefix of `valid` (it may still become a header),
// an error from the next byte on, with the reason.
TEST(ProxyHeaderBad, RefusedAtTheFirstImpossibleByte) {
  for (const BadCase& c : bad_cases()) {
    SCOPED_TRACE(c.name);
    ASSERT_FALSE(c.rest.empty());
    const std::string wire = c.valid + c.rest;
    GuardedRegion region(wire.size());
    for (size_t n = 0; n <= c.valid.size(); ++n) {
      const ProxyParse p = parse_proxy_header(region.place(std::string_view(wire).substr(0, n)));
      ASSERT_EQ(p.state, State::need_more) << n << ": " << p.error;
    }
    for (size_t n = c.valid.size() + 1; n <= wire.size(); ++n) {
      const ProxyParse p = parse_proxy_header(region.place(std::string_view(wire).substr(0, n)));
      ASSERT_EQ(p.state, State::error) << n;
      EXPECT_EQ(p.error, c.reason) << n;
      EXPECT_EQ(p.consumed, 0u);
      EXPECT_FALSE(p.header.source);
    }
  }
}

TEST(ProxyHeaderBad, EveryBrokenSignatureByte) {
  const std::string good = v2(0x20, 0x00, "");
  for (size_t i = 0; i < kSignature.size(); ++i) {
    for (const int flip : {0x01, 0x20, 0x80}) {
      std::string bad = good;
      bad[i] = static_cast<char>(bad[i] ^ flip);
      SCOPED_TRACE(std::to_string(i) + " ^ " + std::to_string(flip));
      EXPECT_EQ(parse_guarded(bad.substr(0, i)).state, State::need_more);
      const ProxyParse p = parse_guarded(bad.substr(0, i + 1));
      ASSERT_EQ(p.state, State::error);
      // A broken first byte is no longer a v2 start: "P" is v1, the rest no header.
      if (i > 0) {
        EXPECT_EQ(p.error, "bad v2 signature");
      }
    }
  }
}

// ---------------------------------------------------------------------------------
// Edge behaviour outside the tables.

TEST(ProxyHeaderEdges, EmptyInputWantsMore) {
  const ProxyParse p = parse_proxy_header({});
  EXPECT_EQ(p.state, State::need_more);
  EXPECT_EQ(p.consumed, 0u);
}

TEST(ProxyHeaderEdges, TruncatedHeadersWaitForTheirLength) {
  // The v2 length promises bytes that have not come: need_more for as long as they do
  // not (the header deadline, not the parser, ends the wait).
  const std::string header = v2(0x21, 0x11, inet4("10.0.0.1", "10.0.0.2", 1, 2) + tlv(0x04, "abc"));
  for (size_t n = 0; n < header.size(); ++n)
    EXPECT_EQ(parse_guarded(header.substr(0, n)).state, State::need_more) << n;
  const std::string longest = "PROXY UNKNOWN " + std::string(91, 'x') + "\r";
  ASSERT_EQ(longest.size(), kProxyV1MaxBytes - 1);
  EXPECT_EQ(parse_guarded(longest).state, State::need_more);
  EXPECT_EQ(parse_guarded(longest + "\n").state, State::complete);
}

TEST(ProxyHeaderEdges, V1NeverLooksPastItsLongestLine) {
  // A valid line followed by anything: the parser reads at most 107 bytes to decide.
  const std::string line = "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n";
  GuardedRegion region(4096);
  const std::string_view placed = region.place(line + std::string(4000, '\xff'));
  const ProxyParse p = parse_proxy_header(placed.substr(0, line.size()));
  EXPECT_EQ(p.state, State::complete);
  EXPECT_EQ(p.consumed, line.size());
}

// ---------------------------------------------------------------------------------
// CRC32C (Castagnoli).

TEST(Crc32c, KnownValues) {
  EXPECT_EQ(crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(crc32c(""), 0u);
  // RFC 3720 appendix B.4 (the bytes there are the CRC sent least significant first).
  EXPECT_EQ(crc32c(std::string(32, '\0')), 0x8A9136AAu);
  EXPECT_EQ(crc32c(std::string(32, '\xff')), 0x62A8AB43u);
  std::string ascending;
  for (int i = 0; i < 32; ++i) ascending.push_back(static_cast<char>(i));
  EXPECT_EQ(crc32c(ascending), 0x46DD794Eu);
}

TEST(Crc32c, ContinuesAcrossPieces) {
  const std::string_view text = "The quick brown fox jumps over the lazy dog";
  for (size_t k = 0; k <= text.size(); ++k)
    EXPECT_EQ(crc32c(text.substr(k), crc32c(text.substr(0, k))), crc32c(text)) << k;
}

}  // namespace
}  // namespace reactor::net::detail
