// Unit tests for http::Response and reason_phrase() (src/http/response.cc).
#include "reactor/http/response.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace reactor::http {
namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;

TEST(ResponseTest, DefaultsToAnEmpty200) {
  Response r;
  EXPECT_EQ(r.status(), 200);
  EXPECT_TRUE(r.headers().empty());
  EXPECT_EQ(r.body(), "");
}

TEST(ResponseTest, BuilderCallsChainAndKeepHeaderOrder) {
  Response r(201);
  r.header("B", "2").content_type("application/json").header("A", "1").body("{}").status(202);
  EXPECT_EQ(r.status(), 202);
  EXPECT_EQ(r.headers(), (Headers{{"B", "2"}, {"A", "1"}}));
  EXPECT_EQ(r.content_type(), "application/json");
  EXPECT_EQ(r.body(), "{}");
}

TEST(ResponseTest, ContentTypeIsReplacedNotRepeated) {
  Response r;
  EXPECT_EQ(r.content_type(), "");
  r.content_type("text/plain").content_type("text/html");
  EXPECT_EQ(r.content_type(), "text/html");
  EXPECT_TRUE(r.headers().empty());
}

TEST(ResponseTest, RepeatedHeadersStaySeparate) {
  Response r;
  r.header("Set-Cookie", "a=1").header("Set-Cookie", "b=2");
  EXPECT_EQ(r.headers(), (Headers{{"Set-Cookie", "a=1"}, {"Set-Cookie", "b=2"}}));
}

TEST(ResponseTest, TextIsPlainTextWithTheBody) {
  Response r = Response::text(404, "not here\n");
  EXPECT_EQ(r.status(), 404);
  EXPECT_EQ(r.content_type(), "text/plain");
  EXPECT_TRUE(r.headers().empty());
  EXPECT_EQ(r.body(), "not here\n");
}

TEST(ResponseTest, BodyMayHoldAnyBytes) {
  std::string bytes;
  for (int i = 0; i < 256; ++i) bytes.push_back(static_cast<char>(i));
  Response r;
  r.body(bytes);
  EXPECT_EQ(r.body(), bytes);
}

TEST(ResponseTest, StatusInsideRfc9110RangeIsAccepted) {
  for (int status : {100, 199, 200, 299, 404, 599}) {
    EXPECT_EQ(Response(status).status(), status);
    EXPECT_EQ(Response().status(status).status(), status);
  }
}

TEST(ResponseTest, StatusOutsideRfc9110RangeThrowsWhereItIsSet) {
  for (int status : {-1, 0, 99, 600, 999, 1000}) {
    EXPECT_THROW(Response{status}, std::invalid_argument) << status;
    EXPECT_THROW(Response::text(status, "x"), std::invalid_argument) << status;
    Response r(201);
    EXPECT_THROW(r.status(status), std::invalid_argument) << status;
    EXPECT_EQ(r.status(), 201) << "a rejected status leaves the response as it was";
  }
}

TEST(ReasonPhraseTest, KnownCodes) {
  EXPECT_EQ(reason_phrase(100), "Continue");
  EXPECT_EQ(reason_phrase(200), "OK");
  EXPECT_EQ(reason_phrase(204), "No Content");
  EXPECT_EQ(reason_phrase(304), "Not Modified");
  EXPECT_EQ(reason_phrase(400), "Bad Request");
  EXPECT_EQ(reason_phrase(404), "Not Found");
  EXPECT_EQ(reason_phrase(405), "Method Not Allowed");
  EXPECT_EQ(reason_phrase(408), "Request Timeout");
  EXPECT_EQ(reason_phrase(413), "Content Too Large");
  EXPECT_EQ(reason_phrase(414), "URI Too Long");
  EXPECT_EQ(reason_phrase(431), "Request Header Fields Too Large");
  EXPECT_EQ(reason_phrase(500), "Internal Server Error");
  EXPECT_EQ(reason_phrase(501), "Not Implemented");
  EXPECT_EQ(reason_phrase(505), "HTTP Version Not Supported");
}

TEST(ReasonPhraseTest, EveryStatusTheServerSendsHasAPhrase) {
  for (int status : {100, 200, 400, 404, 405, 408, 413, 414, 431, 500, 501, 505})
    EXPECT_NE(reason_phrase(status), "Unknown") << status;
}

TEST(ReasonPhraseTest, UnknownCodes) {
  for (int status : {0, 99, 199, 299, 418, 599, 600, 1000, -1})
    EXPECT_EQ(reason_phrase(status), "Unknown") << status;
}

}  // namespace
}  // namespace reactor::http
