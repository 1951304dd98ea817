// Unit tests for the HTTP/1.1 request parser (src/http/parser.cc) and the Request view.
//
// Every valid request is fed whole, split at every byte boundary and one byte at a
// time. Each parse() call gets a freshly allocated, exact-size copy of the input, so
// the buffer moves between calls (the parser must keep offsets, not pointers) and
// AddressSanitizer catches any read past the end. A guard-page run does the same
// without sanitizers.

#include "http/parser.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <new>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "allocation_counter.h"  // this binary counts its heap allocations
#include "guarded_region.h"
#include "reactor/http/request.h"

namespace reactor::http::detail {
namespace {

using namespace std::literals;
using State = RequestParser::State;

// An owning copy of everything a Request exposes, comparable after its buffer died.
struct Snapshot {
  std::string method, target, path, query;
  Version version = Version::http_1_1;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  bool keep_alive = true;
  bool expects_continue = false;
  std::size_t consumed = 0;
  bool operator==(const Snapshot&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Snapshot& s) {
  os << "{" << s.method << " target=" << s.target << " path=" << s.path << " query=" << s.query
     << " v=" << (s.version == Version::http_1_0 ? "1.0" : "1.1") << " headers=[";
  for (const auto& [n, v] : s.headers) os << n << ": " << v << "; ";
  return os << "] body=" << s.body << " keep_alive=" << s.keep_alive
            << " continue=" << s.expects_continue << " consumed=" << s.consumed << "}";
}

Snapshot snapshot(const Request& r, std::size_t consumed) {
  Snapshot s{std::string(r.method()),
             std::string(r.target()),
             std::string(r.path()),
             std::string(r.query()),
             r.version(),
             {},
             std::string(r.body()),
             r.keep_alive(),
             r.expects_continue(),
             consumed};
  for (const Header& h : r.headers()) s.headers.emplace_back(h.name, h.value);
  return s;
}

struct StreamResult {
  std::vector<Snapshot> requests;
  RequestParser::Result last{State::need_more, 0, 0, {}};
};

// Simulates one connection: `wire` arrives in pieces ending at `cuts`; completed
// requests are dropped from the front of the buffer, as a server would. With
// `move_buffer` each call gets a fresh exact-size copy; without, a view of `wire`
// (for inputs too large to copy once per byte).
StreamResult feed(std::string_view wire, const std::vector<std::size_t>& cuts,
                  const Limits& limits = Limits{}, bool move_buffer = true) {
  RequestParser parser(limits);
  StreamResult out;
  std::size_t start = 0;
  for (const std::size_t cut : cuts) {
    for (;;) {
      const std::vector<char> buffer =
          move_buffer ? std::vector<char>(wire.begin() + static_cast<std::ptrdiff_t>(start),
                                          wire.begin() + static_cast<std::ptrdiff_t>(cut))
                      : std::vector<char>();
      out.last = move_buffer ? parser.parse({buffer.data(), buffer.size()})
                             : parser.parse(wire.substr(start, cut - start));
      if (out.last.state == State::error) return out;
      if (out.last.state == State::need_more) break;
      out.requests.push_back(snapshot(parser.request(), out.last.consumed));
      start += out.last.consumed;
      parser.reset();
    }
  }
  return out;
}

std::vector<std::size_t> whole(std::string_view wire) {
  return {wire.size()};
}
std::vector<std::size_t> split_at(std::string_view wire, std::size_t k) {
  return {k, wire.size()};
}
std::vector<std::size_t> bytewise(std::string_view wire) {
  std::vector<std::size_t> cuts;
  for (std::size_t i = 1; i <= wire.size(); ++i) cuts.push_back(i);
  return cuts;
}

template <typename Case>
std::string case_name(const ::testing::TestParamInfo<Case>& param) {
  return param.param.name;
}

// ---------------------------------------------------------------------------------
// Valid requests.

struct GoodCase {
  std::string name;
  std::string wire;
  std::vector<Snapshot> expected;
};

std::ostream& operator<<(std::ostream& os, const GoodCase& c) {
  return os << c.name;
}

using H = std::vector<std::pair<std::string, std::string>>;

std::vector<GoodCase> good_cases() {
  std::vector<GoodCase> cases;
  {
    const std::string wire =
        "GET /search?q=a+b&lang=en HTTP/1.1\r\nHost: example.com\r\nUser-Agent: test/1.0\r\n"
        "Accept: */*\r\n\r\n";
    cases.push_back(
        {"get_with_query",
         wire,
         {{"GET", "/search?q=a+b&lang=en", "/search", "q=a+b&lang=en", Version::http_1_1,
           H{{"Host", "example.com"}, {"User-Agent", "test/1.0"}, {"Accept", "*/*"}}, "", true,
           false, wire.size()}}});
  }
  {
    const std::string wire =
        "POST /form HTTP/1.1\r\nHost: h\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        "Content-Length: 11\r\n\r\nhello=world";
    cases.push_back({"post_content_length",
                     wire,
                     {{"POST", "/form", "/form", "", Version::http_1_1,
                       H{{"Host", "h"},
                         {"Content-Type", "application/x-www-form-urlencoded"},
                         {"Content-Length", "11"}},
                       "hello=world", true, false, wire.size()}}});
  }
  {
    const std::string wire =
        "POST /upload HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n\r\n"
        "5;name=value\r\nhello\r\n"
        "6 ; a = \"q\\\"x\" ;b\t;c=d\r\n world\r\n"
        "A\r\n0123456789\r\n"
        "0;last\r\nX-Trailer: t\r\nX-Other:  v \r\n\r\n";
    cases.push_back({"chunked_with_extensions_and_trailers",
                     wire,
                     {{"POST", "/upload", "/upload", "", Version::http_1_1,
                       H{{"Host", "h"}, {"Transfer-Encoding", "Chunked"}}, "hello world0123456789",
                       true, false, wire.size()}}});
  }
  {
    const std::string wire = "GET /old HTTP/1.0\r\nUser-Agent: x\r\n\r\n";
    cases.push_back({"http10_close",
                     wire,
                     {{"GET", "/old", "/old", "", Version::http_1_0, H{{"User-Agent", "x"}}, "",
                       false, false, wire.size()}}});
  }
  {
    const std::string wire = "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\nHost: h\r\n\r\n";
    cases.push_back(
        {"http10_keep_alive",
         wire,
         {{"GET", "/", "/", "", Version::http_1_0, H{{"Connection", "Keep-Alive"}, {"Host", "h"}},
           "", true, false, wire.size()}}});
  }
  {
    const std::string wire = "GET / HTTP/1.1\r\nHost: h\r\nConnection: upgrade, close\r\n\r\n";
    cases.push_back(
        {"http11_connection_close",
         wire,
         {{"GET", "/", "/", "", Version::http_1_1,
           H{{"Host", "h"}, {"Connection", "upgrade, close"}}, "", false, false, wire.size()}}});
  }
  {
    const std::string a = "GET /a HTTP/1.1\r\nHost: h\r\n\r\n";
    const std::string b = "POST /b?x HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc";
    const std::string c =
        "\r\nPUT /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n";
    const std::string d = "DELETE /d HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
    cases.push_back(
        {"pipelined",
         a + b + c + d,
         {{"GET", "/a", "/a", "", Version::http_1_1, H{{"Host", "h"}}, "", true, false, a.size()},
          {"POST", "/b?x", "/b", "x", Version::http_1_1, H{{"Host", "h"}, {"Content-Length", "3"}},
           "abc", true, false, b.size()},
          {"PUT", "/c", "/c", "", Version::http_1_1,
           H{{"Host", "h"}, {"Transfer-Encoding", "chunked"}}, "hi", true, false, c.size()},
          {"DELETE", "/d", "/d", "", Version::http_1_1, H{{"Host", "h"}, {"Connection", "close"}},
           "", false, false, d.size()}}});
  }
  {
    const std::string wire = "GET http://example.com:8080/a/b?c=d HTTP/1.1\r\nHost: x\r\n\r\n";
    cases.push_back({"absolute_form",
                     wire,
                     {{"GET", "http://example.com:8080/a/b?c=d", "/a/b", "c=d", Version::http_1_1,
                       H{{"Host", "x"}}, "", true, false, wire.size()}}});
  }
  {
    const std::string wire = "GET https://[::1]?q HTTP/1.1\r\nHost: [::1]\r\n\r\n";
    cases.push_back({"absolute_form_without_path",
                     wire,
                     {{"GET", "https://[::1]?q", "/", "q", Version::http_1_1, H{{"Host", "[::1]"}},
                       "", true, false, wire.size()}}});
  }
  {
    const std::string wire = "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n";
    cases.push_back({"asterisk_form",
                     wire,
                     {{"OPTIONS", "*", "", "", Version::http_1_1, H{{"Host", "h"}}, "", true, false,
                       wire.size()}}});
  }
  {
    const std::string wire = "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n";
    cases.push_back({"authority_form",
                     wire,
                     {{"CONNECT", "example.com:443", "", "", Version::http_1_1,
                       H{{"Host", "example.com:443"}}, "", true, false, wire.size()}}});
  }
  {
    const std::string wire =
        "PUT /big HTTP/1.1\r\nHost: h\r\nexpect: 100-Continue\r\nContent-Length: 4\r\n\r\ndata";
    cases.push_back({"expect_continue",
                     wire,
                     {{"PUT", "/big", "/big", "", Version::http_1_1,
                       H{{"Host", "h"}, {"expect", "100-Continue"}, {"Content-Length", "4"}},
                       "data", true, true, wire.size()}}});
  }
  {
    const std::string wire =
        "M-SEARCH /x HTTP/1.2\r\nHost: h\r\nX-Empty:\r\nX-Ows: \t a  b \t \r\n"
        "X-Utf8: caf\xc3\xa9\r\nX-Marks: !#$%&'*+-.^_`|~\r\n\r\n";
    cases.push_back({"unknown_method_higher_minor_ows_and_obs_text",
                     wire,
                     {{"M-SEARCH", "/x", "/x", "", Version::http_1_1,
                       H{{"Host", "h"},
                         {"X-Empty", ""},
                         {"X-Ows", "a  b"},
                         {"X-Utf8", "caf\xc3\xa9"},
                         {"X-Marks", "!#$%&'*+-.^_`|~"}},
                       "", true, false, wire.size()}}});
  }
  {
    const std::string wire = "\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n";
    cases.push_back({"leading_empty_lines",
                     wire,
                     {{"GET", "/", "/", "", Version::http_1_1, H{{"Host", "h"}}, "", true, false,
                       wire.size()}}});
  }
  {
    const std::string wire = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n";
    cases.push_back({"zero_content_length",
                     wire,
                     {{"POST", "/", "/", "", Version::http_1_1,
                       H{{"Host", "h"}, {"Content-Length", "0"}}, "", true, false, wire.size()}}});
  }
  return cases;
}

class GoodRequest : public ::testing::TestWithParam<GoodCase> {};

TEST_P(GoodRequest, Whole) {
  const GoodCase& c = GetParam();
  const StreamResult r = feed(c.wire, whole(c.wire));
  EXPECT_EQ(r.last.state, State::need_more) << r.last.reason;
  EXPECT_EQ(r.requests, c.expected);
}

TEST_P(GoodRequest, SplitAtEveryByte) {
  const GoodCase& c = GetParam();
  for (std::size_t k = 1; k < c.wire.size(); ++k) {
    const StreamResult r = feed(c.wire, split_at(c.wire, k));
    ASSERT_EQ(r.requests, c.expected) << "split at " << k << ": " << r.last.reason;
  }
}

TEST_P(GoodRequest, OneByteAtATime) {
  const GoodCase& c = GetParam();
  const StreamResult r = feed(c.wire, bytewise(c.wire));
  EXPECT_EQ(r.last.state, State::need_more) << r.last.reason;
  EXPECT_EQ(r.requests, c.expected);
}

TEST_P(GoodRequest, ViewsPointIntoTheInput) {
  const GoodCase& c = GetParam();
  RequestParser parser;
  const RequestParser::Result r = parser.parse(c.wire);
  ASSERT_EQ(r.state, State::complete);
  const Request& req = parser.request();
  auto inside = [&](std::string_view v) {
    return v.data() >= c.wire.data() && v.data() + v.size() <= c.wire.data() + r.consumed;
  };
  EXPECT_TRUE(inside(req.method()));
  EXPECT_TRUE(inside(req.target()));
  EXPECT_TRUE(inside(req.query()));
  EXPECT_TRUE(inside(req.path()) || req.path() == "/");
  for (const Header& h : req.headers()) EXPECT_TRUE(inside(h.name) && inside(h.value));
  if (!req.header("Transfer-Encoding")) {
    EXPECT_TRUE(inside(req.body()));
  }
}

INSTANTIATE_TEST_SUITE_P(Parser, GoodRequest, ::testing::ValuesIn(good_cases()),
                         case_name<GoodCase>);

// ---------------------------------------------------------------------------------
// Malformed and hostile requests: each must fail with its status, however it arrives.

struct BadCase {
  std::string name;
  std::string wire;
  int status;
};

std::ostream& operator<<(std::ostream& os, const BadCase& c) {
  return os << c.name;
}

std::string get_with(std::string_view fields) {
  return "GET / HTTP/1.1\r\nHost: h\r\n" + std::string(fields) + "\r\n";
}
std::string post_with(std::string_view fields, std::string_view body) {
  return "POST / HTTP/1.1\r\nHost: h\r\n" + std::string(fields) + "\r\n" + std::string(body);
}
std::string chunked(std::string_view body) {
  return post_with("Transfer-Encoding: chunked\r\n", body);
}
std::string line(std::string_view request_line) {
  return std::string(request_line) + "\r\nHost: h\r\n\r\n";
}

std::vector<BadCase> bad_cases() {
  std::string many_fields;
  for (int i = 0; i <= 100; ++i) many_fields += "X-" + std::to_string(i) + ": v\r\n";
  std::string big_block;
  for (int i = 0; i < 70; ++i)
    big_block += "X-" + std::to_string(i) + ": " + std::string(1000, 'v') + "\r\n";
  std::string many_trailers;
  for (int i = 0; i <= 100; ++i) many_trailers += "T-" + std::to_string(i) + ": v\r\n";

  return {
      // Request line.
      {"nul_in_method", line("G\0T / HTTP/1.1"s), 400},
      {"separator_in_method", line("G(T / HTTP/1.1"), 400},
      {"leading_space", line(" GET / HTTP/1.1"), 400},
      {"double_space_before_target", line("GET  / HTTP/1.1"), 400},
      {"double_space_before_version", line("GET /  HTTP/1.1"), 400},
      {"trailing_space", line("GET / HTTP/1.1 "), 400},
      {"tab_separator", line("GET\t/ HTTP/1.1"), 400},
      {"space_in_target", line("GET /a b HTTP/1.1"), 400},
      {"del_in_target", line("GET /\x7f HTTP/1.1"), 400},
      {"ctl_in_target", line("GET /\x01 HTTP/1.1"), 400},
      {"non_ascii_target", line("GET /caf\xc3\xa9 HTTP/1.1"), 400},
      {"fragment_in_target", line("GET /#frag HTTP/1.1"), 400},
      {"http09", "GET /\r\n", 400},
      {"lowercase_version", line("GET / http/1.1"), 400},
      {"two_digit_minor", line("GET / HTTP/1.10"), 400},
      {"two_digit_major", line("GET / HTTP/11.1"), 400},
      {"version_without_minor", line("GET / HTTP/1"), 400},
      {"version_letter", line("GET / HTTP/1.x"), 400},
      {"https_version", line("GET / HTTPS/1.1"), 400},
      {"http2", line("GET / HTTP/2.0"), 505},
      {"http3", line("GET / HTTP/3.0"), 505},
      {"http0_9_explicit", line("GET / HTTP/0.9"), 505},
      {"http2_preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505},
      {"bare_lf_request_line", "GET / HTTP/1.1\nHost: h\r\n\r\n", 400},
      {"bare_lf_headers", "GET / HTTP/1.1\r\nHost: h\n\n", 400},
      {"bare_lf_end_of_headers", "GET / HTTP/1.1\r\nHost: h\r\n\n", 400},
      {"cr_cr_lf", "GET / HTTP/1.1\r\r\nHost: h\r\n\r\n", 400},
      {"leading_bare_lf", "\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", 400},
      {"leading_cr_without_lf", "\rGET / HTTP/1.1\r\nHost: h\r\n\r\n", 400},
      {"too_many_leading_lines", "\r\n\r\n\r\n\r\n\r\n" + line("GET / HTTP/1.1"), 400},
      {"asterisk_with_get", line("GET * HTTP/1.1"), 400},
      {"connect_origin_form", line("CONNECT / HTTP/1.1"), 400},
      {"connect_without_port", line("CONNECT example.com HTTP/1.1"), 400},
      {"authority_form_with_get", line("GET example.com:80 HTTP/1.1"), 400},
      {"absolute_form_empty_host", line("GET http:///x HTTP/1.1"), 400},
      {"absolute_form_userinfo", line("GET http://user@host/ HTTP/1.1"), 400},
      {"absolute_form_bad_scheme", line("GET 1http://a/ HTTP/1.1"), 400},
      {"relative_target", line("GET a/b HTTP/1.1"), 400},
      {"request_line_too_long", line("GET /" + std::string(9000, 'a') + " HTTP/1.1"), 414},
      // Field lines.
      {"space_before_colon", "GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400},
      {"tab_before_colon", get_with("X-A\t: v\r\n"), 400},
      {"obs_fold", get_with("X-A: a\r\n b\r\n"), 400},
      {"whitespace_before_first_field", "GET / HTTP/1.1\r\n Host: h\r\n\r\n", 400},
      {"nul_in_name", get_with("X-\0A: v\r\n"s), 400},
      {"cr_in_name", get_with("X-\rA: v\r\n"), 400},
      {"del_in_name",
       get_with("X-\x7f"
                "A: v\r\n"),
       400},
      {"nul_in_value", get_with("X-A: a\0b\r\n"s), 400},
      {"cr_in_value", get_with("X-A: a\rb\r\n"), 400},
      {"del_in_value",
       get_with("X-A: a\x7f"
                "b\r\n"),
       400},
      {"ctl_in_value",
       get_with("X-A: a\x01"
                "b\r\n"),
       400},
      {"empty_name", get_with(": v\r\n"), 400},
      {"no_colon", get_with("X-A v\r\n"), 400},
      {"separator_in_name", get_with("X(A): v\r\n"), 400},
      {"missing_host", "GET / HTTP/1.1\r\nX-A: v\r\n\r\n", 400},
      {"two_hosts", get_with("Host: h\r\n"), 400},
      {"two_hosts_different_case", get_with("hOsT: other\r\n"), 400},
      {"host_with_slash", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400},
      {"host_with_userinfo", "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", 400},
      {"host_with_space", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400},
      {"too_many_fields", get_with(many_fields), 431},
      {"header_block_too_large", get_with(big_block), 431},
      {"one_huge_field", get_with("X-A: " + std::string(70000, 'v') + "\r\n"), 431},
      // Content-Length.
      {"cl_and_te", post_with("Content-Length: 3\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n"),
       400},
      {"te_and_cl", post_with("Transfer-Encoding: chunked\r\nContent-Length: 3\r\n", "0\r\n\r\n"),
       400},
      {"cl_differing_duplicates", post_with("Content-Length: 1\r\nContent-Length: 2\r\n", "ab"),
       400},
      {"cl_identical_duplicates", post_with("Content-Length: 2\r\nContent-Length: 2\r\n", "ab"),
       400},
      {"cl_plus_sign", post_with("Content-Length: +2\r\n", "ab"), 400},
      {"cl_minus_sign", post_with("Content-Length: -1\r\n", "ab"), 400},
      {"cl_space_inside", post_with("Content-Length: 1 2\r\n", "ab"), 400},
      {"cl_list", post_with("Content-Length: 1,2\r\n", "ab"), 400},
      {"cl_identical_list", post_with("Content-Length: 2, 2\r\n", "ab"), 400},
      {"cl_hex", post_with("Content-Length: 0x2\r\n", "ab"), 400},
      {"cl_empty", post_with("Content-Length:\r\n", "ab"), 400},
      {"cl_overflow_huge", post_with("Content-Length: 99999999999999999999999\r\n", ""), 400},
      {"cl_overflow_2_64", post_with("Content-Length: 18446744073709551616\r\n", ""), 400},
      {"cl_max_u64", post_with("Content-Length: 18446744073709551615\r\n", ""), 413},
      {"cl_over_limit", post_with("Content-Length: 16777217\r\n", ""), 413},
      // Transfer-Encoding.
      {"te_gzip_only", post_with("Transfer-Encoding: gzip\r\n", ""), 400},
      {"te_chunked_identity", post_with("Transfer-Encoding: chunked, identity\r\n", ""), 400},
      {"te_chunked_then_gzip", post_with("Transfer-Encoding: chunked, gzip\r\n", ""), 400},
      {"te_gzip_then_chunked", post_with("Transfer-Encoding: gzip, chunked\r\n", ""), 501},
      {"te_two_lines_gzip_chunked",
       post_with("Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n", ""), 501},
      {"te_identity", post_with("Transfer-Encoding: identity\r\n", ""), 400},
      {"te_obs_fold", post_with("Transfer-Encoding:\r\n chunked\r\n", "0\r\n\r\n"), 400},
      {"te_chunked_twice_lines",
       post_with("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n"), 400},
      {"te_chunked_twice_list", post_with("Transfer-Encoding: chunked, chunked\r\n", "0\r\n\r\n"),
       400},
      {"te_xchunked", post_with("Transfer-Encoding: xchunked\r\n", "0\r\n\r\n"), 400},
      {"te_chunked_with_param", post_with("Transfer-Encoding: chunked;q=1\r\n", "0\r\n\r\n"), 400},
      {"te_quoted", post_with("Transfer-Encoding: \"chunked\"\r\n", "0\r\n\r\n"), 400},
      {"te_empty", post_with("Transfer-Encoding:\r\n", ""), 400},
      {"te_space_before_colon", post_with("Transfer-Encoding : chunked\r\n", "0\r\n\r\n"), 400},
      {"te_http10", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
      // Chunked framing.
      {"chunk_size_overflow", chunked("10000000000000000\r\nx\r\n0\r\n\r\n"), 400},
      {"chunk_size_max_u64", chunked("FFFFFFFFFFFFFFFF\r\nx\r\n0\r\n\r\n"), 413},
      {"chunk_over_limit", chunked("1000001\r\nx\r\n0\r\n\r\n"), 413},
      {"chunk_missing_crlf", chunked("3\r\nabcX\r\n0\r\n\r\n"), 400},
      {"chunk_data_too_long", chunked("3\r\nabcd\r\n0\r\n\r\n"), 400},
      {"chunk_lf_only_after_data", chunked("3\r\nabc\n0\r\n\r\n"), 400},
      {"chunk_size_hex_prefix", chunked("0x3\r\nabc\r\n0\r\n\r\n"), 400},
      {"chunk_size_leading_space", chunked(" 3\r\nabc\r\n0\r\n\r\n"), 400},
      {"chunk_size_trailing_space", chunked("3 \r\nabc\r\n0\r\n\r\n"), 400},
      {"chunk_size_empty", chunked("\r\nabc\r\n0\r\n\r\n"), 400},
      {"chunk_size_negative", chunked("-1\r\nabc\r\n0\r\n\r\n"), 400},
      {"chunk_size_bare_lf", chunked("3\nabc\r\n0\r\n\r\n"), 400},
      {"chunk_ext_empty_name", chunked("3;\r\nabc\r\n0\r\n\r\n"), 400},
      {"chunk_ext_unterminated_quote", chunked("3;a=\"x\r\nabc\r\n0\r\n\r\n"), 400},
      {"chunk_ext_space_in_value", chunked("3;a=b c\r\nabc\r\n0\r\n\r\n"), 400},
      {"chunk_ext_ctl", chunked("3;a=\x01\r\nabc\r\n0\r\n\r\n"), 400},
      {"chunk_line_too_long", chunked("3;a=" + std::string(2000, 'x') + "\r\nabc\r\n0\r\n\r\n"),
       400},
      {"chunk_ext_total_too_long", chunked([] {
         std::string s;
         for (int i = 0; i < 8; ++i) s += "1;e=" + std::string(600, 'x') + "\r\nz\r\n";
         return s + "0\r\n\r\n";
       }()),
       400},
      {"trailer_obs_fold", chunked("0\r\nX-T: a\r\n b\r\n\r\n"), 400},
      {"trailer_space_before_colon", chunked("0\r\nX-T : a\r\n\r\n"), 400},
      {"trailer_nul", chunked("0\r\nX-T: a\0\r\n\r\n"s), 400},
      {"trailer_bare_lf", chunked("0\r\nX-T: a\n\r\n"), 400},
      {"too_many_trailers", chunked("0\r\n" + many_trailers + "\r\n"), 431},
      {"trailer_block_too_large", chunked("0\r\nX-T: " + std::string(70000, 'v') + "\r\n\r\n"),
       431},
  };
}

class BadRequest : public ::testing::TestWithParam<BadCase> {};

TEST_P(BadRequest, Whole) {
  const BadCase& c = GetParam();
  const StreamResult r = feed(c.wire, whole(c.wire));
  EXPECT_TRUE(r.requests.empty());
  EXPECT_EQ(r.last.state, State::error);
  EXPECT_EQ(r.last.status, c.status) << r.last.reason;
  EXPECT_FALSE(r.last.reason.empty());
}

TEST_P(BadRequest, OneByteAtATime) {
  const BadCase& c = GetParam();
  const bool small = c.wire.size() < 20000;  // copying per byte is quadratic
  const StreamResult r = feed(c.wire, bytewise(c.wire), Limits{}, small);
  EXPECT_TRUE(r.requests.empty());
  EXPECT_EQ(r.last.state, State::error);
  EXPECT_EQ(r.last.status, c.status) << r.last.reason;
}

INSTANTIATE_TEST_SUITE_P(Parser, BadRequest, ::testing::ValuesIn(bad_cases()), case_name<BadCase>);

// ---------------------------------------------------------------------------------
// Host and the authority of absolute-form and authority-form targets (the verdicts
// in parser.h): uri-host [":" port], each case fed whole, split at every byte and one
// byte at a time. A field after Host keeps 16 bytes readable past a short Host, so the
// whole feed takes the parser's 16-byte fast path and the bytewise feed the full one.

struct HostCase {
  std::string name;
  std::string request_line;  // without CRLF
  std::string host;          // the Host field value as sent
  bool accepted;
};

std::ostream& operator<<(std::ostream& os, const HostCase& c) {
  return os << c.name;
}

std::vector<HostCase> host_cases() {
  const std::string get = "GET / HTTP/1.1";
  return {
      // Accepted: reg-name, IPv4, IP-literal, ports.
      {"reg_name", get, "example.com", true},
      {"reg_name_port", get, "localhost:8080", true},
      {"reg_name_all_marks", get, "a-b._~!$&'()*+,;=c", true},
      {"pct_encoded", get, "ex%41mple.c%6fm", true},
      {"ipv4", get, "127.0.0.1:80", true},
      {"ipv4_shaped_reg_name", get, "1.2.3.999", true},
      {"ipv6_loopback", get, "[::1]", true},
      {"ipv6_port", get, "[::1]:8080", true},
      {"ipv6_full", get, "[2001:db8:0:0:1:0:0:1]", true},
      {"ipv6_gap_middle", get, "[2001:DB8::1]", true},
      {"ipv6_gap_end", get, "[1:2:3:4:5:6:7::]", true},
      {"ipv6_unspecified", get, "[::]", true},
      {"ipv6_ls32", get, "[::ffff:192.0.2.1]", true},
      {"ipv6_full_ls32", get, "[1:2:3:4:5:6:1.2.3.4]", true},
      {"ipvfuture", get, "[v1.a:b]", true},
      {"empty_port", get, "h:", true},
      {"long_port", get, "h:000080", true},
      {"mixed_case_name_port", get, "Example.ORG-1:80", true},  // 16 bytes
      {"seventeen_bytes", get, "example.org:12345", true},
      {"marks_only_name", get, "-.:1", true},
      {"absolute_form_empty_host_field", "GET http://h/ HTTP/1.1", "", true},
      {"absolute_form_empty_port", "GET http://h:/x HTTP/1.1", "h", true},
      {"absolute_form_ipv6_port", "GET http://[::1]:80/x HTTP/1.1", "[::1]:80", true},
      {"absolute_form_pct", "GET http://a%2Db/ HTTP/1.1", "a%2Db", true},
      {"connect_ipv6", "CONNECT [::1]:443 HTTP/1.1", "[::1]:443", true},
      {"connect_empty_host_field", "CONNECT h:443 HTTP/1.1", "", true},
      // Rejected: port, userinfo, pct-encoding, brackets, emptiness.
      {"port_letter", get, "localhost:8x", false},
      {"port_sign", get, "h:+80", false},
      {"port_space", get, "h: 80", false},
      {"two_colons", get, "h:80:90", false},
      {"userinfo", get, "user@h", false},
      {"userinfo_password", get, "u:p@h:80", false},
      {"pct_truncated", get, "h%4", false},
      {"pct_at_end", get, "h%", false},
      {"pct_not_hex", get, "h%zz", false},
      {"slash", get, "a/b", false},
      {"query", get, "a?b", false},
      {"space", get, "a b", false},
      {"backslash", get, "a\\b", false},
      {"non_ascii", get, "caf\xc3\xa9", false},
      {"empty_host_with_port", get, ":80", false},
      {"colon_only", get, ":", false},
      {"underscore_then_bad_port", get, "a_b:8x", false},
      {"port_then_name", get, "80:h", false},
      {"empty_in_origin_form", get, "", false},
      {"empty_in_asterisk_form", "OPTIONS * HTTP/1.1", "", false},
      {"empty_in_http10", "GET / HTTP/1.0", "", false},
      {"ipv6_unbracketed", get, "::1", false},
      {"ipv6_unclosed", get, "[::1", false},
      {"bracket_without_open", get, "::1]", false},
      {"reg_name_in_brackets", get, "[example.com]", false},
      {"ipv4_in_brackets", get, "[127.0.0.1]", false},
      {"bracket_then_junk", get, "[::1]x", false},
      {"ipv6_two_gaps", get, "[1::2::3]", false},
      {"ipv6_nine_groups", get, "[1:2:3:4:5:6:7:8:9]", false},
      {"ipv6_seven_groups", get, "[1:2:3:4:5:6:7]", false},
      {"ipv6_eight_groups_and_gap", get, "[1:2:3:4:5:6:7:8::]", false},
      {"ipv6_long_group", get, "[12345::]", false},
      {"ipv6_trailing_colon", get, "[1:2:3:4:5:6:7:8:]", false},
      {"ipv6_leading_colon", get, "[:1:2:3:4:5:6:7]", false},
      {"ipv6_triple_colon", get, "[:::]", false},
      {"ipv6_zone_id", get, "[fe80::1%25eth0]", false},
      {"ipv6_ls32_leading_zero", get, "[::ffff:192.0.2.01]", false},
      {"ipv6_ls32_octet_256", get, "[::ffff:192.0.2.256]", false},
      {"ipv6_ls32_not_last", get, "[::1.2.3.4:1]", false},
      {"ipvfuture_no_hex", get, "[v.a]", false},
      {"ipvfuture_empty_tail", get, "[v1.]", false},
      {"ipvfuture_bad_char", get, "[v1.a/b]", false},
      {"absolute_form_port_letter", "GET http://h:8x/ HTTP/1.1", "h", false},
      {"absolute_form_pct_bad", "GET http://h%g0/ HTTP/1.1", "h", false},
      {"absolute_form_empty_host_port", "GET http://:80/ HTTP/1.1", "h", false},
      {"absolute_form_ipv6_unclosed", "GET http://[::1/ HTTP/1.1", "h", false},
      {"absolute_form_bad_host_field", "GET http://h/ HTTP/1.1", "h:x", false},
      {"connect_empty_port", "CONNECT h: HTTP/1.1", "h", false},
      {"connect_port_letter", "CONNECT h:4a3 HTTP/1.1", "h", false},
      {"connect_userinfo", "CONNECT u@h:443 HTTP/1.1", "h", false},
      {"connect_bad_ipv6", "CONNECT [1::2::3]:443 HTTP/1.1", "h", false},
  };
}

class HostField : public ::testing::TestWithParam<HostCase> {
 protected:
  std::string wire() const {
    return GetParam().request_line + "\r\nHost: " + GetParam().host +
           "\r\nX-Pad: 0123456789abcdef\r\n\r\n";
  }
  // Checks one way of feeding the request against the case's verdict.
  void expect_verdict(const StreamResult& r, std::string_view how) const {
    const HostCase& c = GetParam();
    if (c.accepted) {
      ASSERT_EQ(r.requests.size(), 1u) << how << ": " << r.last.reason;
      EXPECT_EQ(r.requests[0].headers.at(0), std::make_pair("Host"s, c.host)) << how;
    } else {
      EXPECT_TRUE(r.requests.empty()) << how;
      EXPECT_EQ(r.last.state, State::error) << how;
      EXPECT_EQ(r.last.status, 400) << how;
    }
  }
};

TEST_P(HostField, Whole) {
  expect_verdict(feed(wire(), whole(wire())), "whole");
}

TEST_P(HostField, SplitAtEveryByte) {
  const std::string w = wire();
  for (std::size_t k = 1; k < w.size(); ++k) {
    SCOPED_TRACE(k);
    expect_verdict(feed(w, split_at(w, k)), "split");
  }
}

TEST_P(HostField, OneByteAtATime) {
  expect_verdict(feed(wire(), bytewise(wire())), "bytewise");
}

INSTANTIATE_TEST_SUITE_P(Parser, HostField, ::testing::ValuesIn(host_cases()), case_name<HostCase>);

// The target, field values and line ends are scanned sixteen bytes at a time, the
// input's last block reloaded from its end; a bad byte must be caught at every offset
// within and across those blocks, a good one let through.
TEST(ParserWordScan, EveryOffsetOfTargetAndValue) {
  constexpr std::size_t kLength = 40;  // two whole blocks and a partial one
  for (std::size_t at = 0; at < kLength; ++at) {
    SCOPED_TRACE(at);
    for (const char bad : {'\0', '\x01', '\x1f', '\r', '\n', '\x7f'}) {
      std::string value(kLength, 'v');
      value[at] = bad;
      const std::string wire = get_with("X-A: " + value + "\r\n");
      EXPECT_EQ(feed(wire, whole(wire)).last.status, 400) << int(bad);
    }
    for (const char bad : {' ', '#', '\x7f', '\x80', '\xff', '\t'}) {
      std::string target = "/" + std::string(kLength, 't');
      target[at + 1] = bad;
      const std::string wire = line("GET " + target + " HTTP/1.1");
      EXPECT_EQ(feed(wire, whole(wire)).last.status, 400) << int(bad);
    }
    for (const char good : {'\t', ' ', '\x80', '\xff', '~', '"'}) {
      std::string value(kLength, 'v');
      value[at] = good;
      const std::string wire = get_with("X-A: " + value + "\r\n");
      const StreamResult r = feed(wire, whole(wire));
      ASSERT_EQ(r.requests.size(), 1u) << int(good);
      // SP and HT at either end are OWS, not part of the value.
      const std::size_t first = value.find_first_not_of(" \t");
      const std::size_t last = value.find_last_not_of(" \t");
      EXPECT_EQ(r.requests[0].headers.back().second, value.substr(first, last - first + 1));
    }
  }
}

// ---------------------------------------------------------------------------------
// Guard page: input that ends where readable memory ends. Any over-read faults.

using test::GuardedRegion;

// Feeds every prefix of `wire`, each placed against the guard page (so the buffer
// also moves on every call), and returns the final result.
RequestParser::Result parse_against_guard(std::string_view wire) {
  GuardedRegion region(wire.size());
  RequestParser parser;
  RequestParser::Result r{State::need_more, 0, 0, {}};
  for (std::size_t k = 1; k <= wire.size() && r.state == State::need_more; ++k) {
    r = parser.parse(region.place(wire.substr(0, k)));
  }
  return r;
}

TEST(ParserGuardPage, GoodRequestsNeverReadPastTheEnd) {
  for (const GoodCase& c : good_cases()) {
    SCOPED_TRACE(c.name);
    const std::string_view first(c.wire.data(), c.expected.front().consumed);
    const RequestParser::Result r = parse_against_guard(first);
    EXPECT_EQ(r.state, State::complete) << r.reason;
    EXPECT_EQ(r.consumed, first.size());
  }
}

TEST(ParserGuardPage, BadRequestsNeverReadPastTheEnd) {
  for (const BadCase& c : bad_cases()) {
    if (c.wire.size() > 20000) continue;
    SCOPED_TRACE(c.name);
    const RequestParser::Result r = parse_against_guard(c.wire);
    EXPECT_EQ(r.state, State::error);
    EXPECT_EQ(r.status, c.status) << r.reason;
  }
}

TEST(ParserGuardPage, WholeInputEndingAtThePage) {
  GuardedRegion region(4096);
  RequestParser parser;
  const auto r = parser.parse(region.place("GET /x HTTP/1.1\r\nHost: h\r\nX-A: v"));
  EXPECT_EQ(r.state, State::need_more);
  EXPECT_TRUE(RequestParser().parse(region.place("GET / HTTP/1.1\r\nHost: h\r\n\r")).state ==
              State::need_more);
}

// ---------------------------------------------------------------------------------
// Limits, exactly at and one past each boundary.

TEST(ParserLimits, RequestLineBoundary) {
  Limits limits;
  limits.max_request_line = 64;
  const std::string at = "GET /" + std::string(64 - 14, 'a') + " HTTP/1.1";
  ASSERT_EQ(at.size(), 64u);
  EXPECT_EQ(feed(line(at), whole(line(at)), limits).requests.size(), 1u);
  const std::string over = "GET /" + std::string(64 - 13, 'a') + " HTTP/1.1";
  EXPECT_EQ(feed(line(over), whole(line(over)), limits).last.status, 414);
  // Without its line end, the line is rejected as soon as it cannot fit.
  EXPECT_EQ(feed(over, whole(over), limits).last.state, State::need_more);
  const std::string open = over + "x";
  EXPECT_EQ(feed(open, whole(open), limits).last.status, 414);
}

TEST(ParserLimits, HeaderCountBoundary) {
  Limits limits;
  limits.max_headers = 3;
  const std::string at = get_with("A: 1\r\nB: 2\r\n");
  EXPECT_EQ(feed(at, whole(at), limits).requests.size(), 1u);
  const std::string over = get_with("A: 1\r\nB: 2\r\nC: 3\r\n");
  EXPECT_EQ(feed(over, whole(over), limits).last.status, 431);
}

TEST(ParserLimits, HeaderBytesBoundary) {
  Limits limits;
  limits.max_header_bytes = 40;
  // "Host: h\r\n" (9) + "X: " + v + "\r\n" + "\r\n" = 16 + v.size().
  const std::string at = get_with("X: " + std::string(24, 'v') + "\r\n");
  EXPECT_EQ(feed(at, whole(at), limits).requests.size(), 1u);
  const std::string over = get_with("X: " + std::string(25, 'v') + "\r\n");
  EXPECT_EQ(feed(over, whole(over), limits).last.status, 431);
  EXPECT_EQ(feed(over, bytewise(over), limits).last.status, 431);
}

TEST(ParserLimits, BodyBoundary) {
  Limits limits;
  limits.max_body = 8;
  const std::string cl_at = post_with("Content-Length: 8\r\n", "12345678");
  EXPECT_EQ(feed(cl_at, whole(cl_at), limits).requests.at(0).body, "12345678");
  // 413 is decided from the header alone, before any body byte arrives.
  const std::string cl_over = post_with("Content-Length: 9\r\n", "");
  EXPECT_EQ(feed(cl_over, whole(cl_over), limits).last.status, 413);
  const std::string ch_at = chunked("5\r\n12345\r\n3\r\n678\r\n0\r\n\r\n");
  EXPECT_EQ(feed(ch_at, whole(ch_at), limits).requests.at(0).body, "12345678");
  const std::string ch_over = chunked("5\r\n12345\r\n4\r\n6789\r\n0\r\n\r\n");
  EXPECT_EQ(feed(ch_over, whole(ch_over), limits).last.status, 413);
}

// ---------------------------------------------------------------------------------
// Behaviour across calls.

TEST(ParserFlow, HeadersDoneBeforeTheBodyForExpectContinue) {
  const std::string head =
      "PUT /f HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n";
  RequestParser parser;
  std::string buffer = head.substr(0, head.size() - 1);
  EXPECT_EQ(parser.parse(buffer).state, State::need_more);
  EXPECT_FALSE(parser.headers_done());
  buffer = head;
  EXPECT_EQ(parser.parse(buffer).state, State::need_more);
  ASSERT_TRUE(parser.headers_done());
  EXPECT_TRUE(parser.request().expects_continue());
  EXPECT_EQ(parser.request().path(), "/f");
  EXPECT_EQ(parser.request().header("content-length"), "5");

  // The buffer moves (a new allocation) before the body arrives.
  std::string moved = head + "hel";
  moved.reserve(4096);
  EXPECT_EQ(parser.parse(moved).state, State::need_more);
  EXPECT_EQ(parser.request().method().data(), moved.data());
  std::string full = moved + "lo";
  const auto r = parser.parse(full);
  ASSERT_EQ(r.state, State::complete);
  EXPECT_EQ(r.consumed, full.size());
  EXPECT_EQ(parser.request().body(), "hello");
  EXPECT_EQ(parser.request().method().data(), full.data());
}

TEST(ParserFlow, ExpectContinueIsIgnoredInHttp10) {
  const std::string wire = "PUT / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx";
  const StreamResult r = feed(wire, whole(wire));
  ASSERT_EQ(r.requests.size(), 1u);
  EXPECT_FALSE(r.requests[0].expects_continue);
}

TEST(ParserFlow, RepeatedCompleteCallFollowsTheMovedBuffer) {
  const std::string wire = "POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nok";
  RequestParser parser;
  ASSERT_EQ(parser.parse(wire).state, State::complete);
  const std::string moved = wire + "GET";
  const auto r = parser.parse(moved);
  EXPECT_EQ(r.consumed, wire.size());
  EXPECT_EQ(parser.request().path().data(), moved.data() + 5);
  EXPECT_EQ(parser.request().body().data(), moved.data() + wire.size() - 2);
}

TEST(ParserFlow, ResultIsStickyUntilReset) {
  RequestParser parser;
  const std::string wire = "GET / HTTP/1.1\r\nHost: h\r\n\r\nGET /next";
  const auto first = parser.parse(wire);
  ASSERT_EQ(first.state, State::complete);
  EXPECT_EQ(parser.parse(wire + "more").consumed, first.consumed);
  parser.reset();
  EXPECT_EQ(parser.parse("BAD\x01").state, State::need_more);
  const auto bad = parser.parse("BAD\x01 / HTTP/1.1\r\n");
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(parser.parse("anything").status, 400);
  parser.reset();
  EXPECT_FALSE(parser.headers_done());
  EXPECT_EQ(parser.parse(wire.substr(first.consumed)).state, State::need_more);
}

TEST(ParserFlow, HeaderLookupIsCaseInsensitiveAndFirstWins) {
  const std::string wire = get_with("X-Dup: 1\r\nx-dup: 2\r\n");
  RequestParser parser;
  ASSERT_EQ(parser.parse(wire).state, State::complete);
  const Request& r = parser.request();
  EXPECT_EQ(r.header("X-DUP"), "1");
  EXPECT_EQ(r.header("host"), "h");
  EXPECT_FALSE(r.header("X-Missing").has_value());
  EXPECT_EQ(r.headers().size(), 3u);
  EXPECT_TRUE(iequals("Content-Length", "content-LENGTH"));
  EXPECT_FALSE(iequals("a", "b"));
  EXPECT_FALSE(iequals("[", "{"));
}

TEST(ParserFlow, CommonPathDoesNotAllocate) {
  const std::string browser =
      "GET /index.html?x=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: Mozilla/5.0\r\n"
      "Accept: text/html\r\nAccept-Language: en\r\nAccept-Encoding: gzip\r\n"
      "Connection: keep-alive\r\nCookie: a=b\r\nCache-Control: no-cache\r\n\r\n";
  const std::string post = post_with("Content-Length: 4\r\n", "body");
  RequestParser parser;
  const long before = test::allocations();
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(parser.parse(browser).state, State::complete);
    parser.reset();
    ASSERT_EQ(parser.parse(post).state, State::complete);
    parser.reset();
  }
  for (std::size_t k = 1; k <= browser.size(); ++k) {
    parser.parse(std::string_view(browser).substr(0, k));
  }
  EXPECT_EQ(test::allocations() - before, 0);
}

TEST(ParserFlow, HeadersVectorIsReusedAcrossReset) {
  const std::string first = get_with("A: 1\r\n");
  const std::string second = get_with("B: 2\r\nC: 3\r\n");
  RequestParser parser;
  ASSERT_EQ(parser.parse(first).state, State::complete);
  const Header* storage = parser.request().headers().data();
  parser.reset();
  ASSERT_EQ(parser.parse(second).state, State::complete);
  EXPECT_EQ(parser.request().headers().data(), storage);
}

// A session reuses a parser for another connection only if it applies the same limits.
TEST(ParserFlow, MadeForTheLimitsItWasGiven) {
  Limits strict;
  strict.max_headers = 7;
  EXPECT_TRUE(RequestParser(strict).made_for(strict));
  EXPECT_FALSE(RequestParser(strict).made_for(Limits{}));
  Limits huge;  // clamped inside, still made for what it was given
  huge.max_request_line = std::size_t{1} << 40;
  EXPECT_TRUE(RequestParser(huge).made_for(huge));
}

// Byte-at-a-time feeding must be linear: a quadratic parser would examine a 60 KB
// header block ~1.8e9 times here and take many seconds.
TEST(ParserFlow, OneByteAtATimeIsLinear) {
  std::string wire = "GET / HTTP/1.1\r\nHost: h\r\n";
  while (wire.size() < 60000) wire += "X-Long: " + std::string(1000, 'v') + "\r\n";
  wire += "\r\n";
  RequestParser parser;
  const auto start = std::chrono::steady_clock::now();
  RequestParser::Result r{State::need_more, 0, 0, {}};
  for (std::size_t k = 1; k <= wire.size(); ++k)
    r = parser.parse(std::string_view(wire).substr(0, k));
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.state, State::complete);
  EXPECT_LT(elapsed, std::chrono::seconds(2));
}

}  // namespace
}  // namespace reactor::http::detail
