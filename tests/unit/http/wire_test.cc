// Unit tests for how responses are laid out on the wire (src/http/wire.cc): status line,
// the cached Date, user headers, Content-Length, Connection, body; HEAD and bodiless codes.
#include "http/wire.h"

#include <gtest/gtest.h>

#include <ctime>
#include <string>
#include <thread>

#include "http_test_util.h"

namespace reactor::http::detail {
namespace {

using test::ParseResult;
using test::Reply;
using test::take_reply;

std::string wire(const Response& r, bool head = false,
                 ConnectionHeader c = ConnectionHeader::none) {
  net::Buffer out;
  write_response(out, r, head, c);
  return std::string(out.view());
}

// The value of the first Date line ("" if none) and where that line starts.
std::string date_value(const std::string& text, size_t* line = nullptr) {
  const size_t at = text.find("\r\nDate: ");
  if (at == std::string::npos) return {};
  if (line) *line = at;
  const size_t begin = at + 8, end = text.find("\r\n", begin);
  return text.substr(begin, end - begin);
}

// The response with its Date value blanked, so whole responses compare exactly.
std::string without_date(std::string text) {
  size_t line = 0;
  const std::string value = date_value(text, &line);
  if (!value.empty()) text.replace(line + 8, value.size(), "*");
  return text;
}

TEST(WireTest, WholeLayoutInOrder) {
  Response r(200);
  r.header("X-First", "1").header("X-Second", "two words").body("hello");
  EXPECT_EQ(without_date(wire(r)),
            "HTTP/1.1 200 OK\r\n"
            "Date: *\r\n"
            "X-First: 1\r\n"
            "X-Second: two words\r\n"
            "Content-Length: 5\r\n"
            "\r\n"
            "hello");
}

TEST(WireTest, StatusLineUsesTheReasonPhrase) {
  EXPECT_TRUE(wire(Response(404)).starts_with("HTTP/1.1 404 Not Found\r\n"));
  EXPECT_TRUE(wire(Response(505)).starts_with("HTTP/1.1 505 HTTP Version Not Supported\r\n"));
  EXPECT_TRUE(wire(Response(299)).starts_with("HTTP/1.1 299 Unknown\r\n"));
}

TEST(WireTest, DateHeaderHasTheImfFixdateShapeAndIsNow) {
  const std::string text = wire(Response(200));
  size_t line = 0;
  const std::string value = date_value(text, &line);
  EXPECT_EQ(line, text.find("\r\n")) << "Date comes right after the status line";
  // IMF-fixdate (RFC 9110 §5.6.7): "Sun, 06 Nov 1994 08:49:37 GMT", always 29 bytes.
  ASSERT_EQ(value.size(), 29u) << text;
  std::tm tm{};
  const char* end = strptime(value.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  ASSERT_NE(end, nullptr) << value;
  EXPECT_EQ(*end, '\0') << value;
  EXPECT_EQ(value.substr(3, 2), ", ");
  EXPECT_EQ(value[7], ' ');
  const std::time_t stamped = timegm(&tm);
  EXPECT_LE(std::abs(std::difftime(std::time(nullptr), stamped)), 2.0);
  EXPECT_EQ(date_header(), "Date: " + value + "\r\n");
}

TEST(WireTest, DateHeaderIsCachedPerThreadAndValidEverywhere) {
  const std::string_view first = date_header();
  EXPECT_TRUE(first.starts_with("Date: ") && first.ends_with(" GMT\r\n")) << first;
  EXPECT_EQ(first.size(), std::string_view("Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n").size());
  std::string other;
  std::thread([&] { other = std::string(date_header()); }).join();
  EXPECT_EQ(other.size(), first.size());
}

TEST(WireTest, ContentLengthIsTheBodySize) {
  for (size_t size : {size_t{0}, size_t{1}, size_t{1000}, size_t{1} << 20}) {
    Response r(200);
    r.body(std::string(size, 'b'));
    std::string text = wire(r);
    Reply got;
    ASSERT_EQ(take_reply(text, got), ParseResult::complete);
    EXPECT_EQ(got.header("Content-Length"), std::to_string(size));
    EXPECT_EQ(got.body.size(), size);
    EXPECT_TRUE(text.empty()) << "bytes after the body";
  }
}

TEST(WireTest, HeadKeepsTheHeadersAndDropsTheBody) {
  Response r(200);
  r.content_type("text/plain").body("Hello, world!");
  const std::string get = wire(r, false), head = wire(r, true);
  EXPECT_EQ(head + "Hello, world!", get);
  EXPECT_NE(head.find("Content-Length: 13\r\n"), std::string::npos);
  EXPECT_TRUE(head.ends_with("\r\n\r\n"));
}

TEST(WireTest, ContentTypeComesBeforeTheOtherHeaders) {
  Response r(200);
  r.header("X-A", "1").content_type("text/html").body("<p>");
  EXPECT_EQ(without_date(wire(r)),
            "HTTP/1.1 200 OK\r\n"
            "Date: *\r\n"
            "Content-Type: text/html\r\n"
            "X-A: 1\r\n"
            "Content-Length: 3\r\n"
            "\r\n"
            "<p>");
}

// Content-Length is the server's: a handler's own is dropped (it could break the framing),
// but an answer to HEAD may say how long the GET answer would be.
TEST(WireTest, HandlersContentLengthCountsOnlyForHead) {
  Response r(200);
  r.header("content-length", "999").body("abc");
  const std::string get = wire(r, false), head = wire(r, true);
  EXPECT_NE(get.find("Content-Length: 3\r\n"), std::string::npos) << get;
  EXPECT_EQ(get.find("999"), std::string::npos) << get;
  EXPECT_NE(head.find("Content-Length: 999\r\n"), std::string::npos) << head;
  EXPECT_EQ(head.find("Content-Length: 3"), std::string::npos) << head;
}

TEST(WireTest, NoContentHasNoContentLengthAndNoBody) {
  Response r(204);
  r.body("ignored");
  const std::string text = wire(r);
  EXPECT_EQ(text.find("Content-Length"), std::string::npos) << text;
  EXPECT_TRUE(text.ends_with("\r\n\r\n")) << text;
}

TEST(WireTest, InformationalHasNoContentLengthAndNoBody) {
  const std::string text = wire(Response(100));
  EXPECT_TRUE(text.starts_with("HTTP/1.1 100 Continue\r\n"));
  EXPECT_EQ(text.find("Content-Length"), std::string::npos) << text;
  EXPECT_TRUE(text.ends_with("\r\n\r\n"));
}

// RFC 9112 §6.3: a 304 ends at the blank line after its headers; a body written after it
// would be read as the start of the next response on the connection.
TEST(WireTest, NotModifiedHasNoBody) {
  Response r(304);
  r.body("stale body a handler left");
  const std::string text = wire(r);
  EXPECT_TRUE(text.ends_with("\r\n\r\n")) << text;
  EXPECT_EQ(text.find("stale body"), std::string::npos) << text;
}

TEST(WireTest, ConnectionHeaderOnlyWhenAsked) {
  Response r(200);
  r.body("x");
  const std::string none = wire(r, false, ConnectionHeader::none);
  const std::string close = wire(r, false, ConnectionHeader::close);
  const std::string keep = wire(r, false, ConnectionHeader::keep_alive);
  EXPECT_EQ(none.find("Connection"), std::string::npos);
  EXPECT_NE(close.find("\r\nConnection: close\r\n\r\nx"), std::string::npos) << close;
  EXPECT_NE(keep.find("\r\nConnection: keep-alive\r\n\r\nx"), std::string::npos) << keep;
  EXPECT_EQ(keep.find("close"), std::string::npos);
}

TEST(WireTest, ResponsesAppendToTheBuffer) {
  net::Buffer out;
  Response a(200), b(404);
  a.body("first");
  b.body("second");
  write_response(out, a, false, ConnectionHeader::none);
  write_response(out, b, true, ConnectionHeader::none);
  write_response(out, a, false, ConnectionHeader::close);
  std::string text(out.view());
  Reply r1, r2, r3;
  ASSERT_EQ(take_reply(text, r1), ParseResult::complete);
  ASSERT_EQ(take_reply(text, r2, true), ParseResult::complete);
  ASSERT_EQ(take_reply(text, r3), ParseResult::complete);
  EXPECT_EQ(r1.body, "first");
  EXPECT_EQ(r2.status, 404);
  EXPECT_EQ(r2.body, "");
  EXPECT_EQ(r3.header("Connection"), "close");
  EXPECT_TRUE(text.empty());
}

TEST(WireTest, UserHeadersAreWrittenAsGiven) {
  Response r(201);
  r.header("Location", "/items/7").header("set-cookie", "a=1").header("Set-Cookie", "b=2");
  std::string text = wire(r);
  Reply got;
  ASSERT_EQ(take_reply(text, got), ParseResult::complete);
  EXPECT_EQ(got.status, 201);
  EXPECT_EQ(got.reason, "Created");
  EXPECT_EQ(got.header("Location"), "/items/7");
  EXPECT_EQ(got.count("Set-Cookie"), 2u);
  EXPECT_EQ(got.headers[1].first, "Location");
  EXPECT_EQ(got.headers[2].first, "set-cookie") << "names keep their case";
}

}  // namespace
}  // namespace reactor::http::detail
