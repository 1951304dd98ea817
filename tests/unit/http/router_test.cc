// Unit tests for http::Router (src/http/router.cc): which route a request reaches (exact
// over prefix, longest prefix, HEAD by GET), and the 404 / 405 + Allow answers, the latter
// through a real http::Server on the test's loop.
#include "reactor/http/router.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "http/responder_access.h"
#include "http_test_util.h"

namespace reactor::http {
namespace {

using test::parse_request;
using test::wire_request;

// A router whose handlers record their own name; dispatch() is fed requests parsed by the
// server's parser and a Responder bound to no connection (its answers go nowhere).
class RouterDispatchTest : public ::testing::Test {
 protected:
  RequestHandler named(std::string name) {
    return [this, name](const Request&, Responder) { hits_.push_back(name); };
  }
  /// The names of the handlers `method target` reached (empty: none did).
  std::vector<std::string> dispatch(std::string_view method, std::string_view target) {
    hits_.clear();
    const std::string text = wire_request(method, target);
    auto parser = parse_request(text);
    router_.dispatch(parser->request(), detail::ResponderAccess::make({}, 0));
    return hits_;
  }
  using Hits = std::vector<std::string>;

  Router router_;
  std::vector<std::string> hits_;
};

TEST_F(RouterDispatchTest, ExactMatchOnly) {
  router_.route("GET", "/a", named("a"));
  EXPECT_EQ(dispatch("GET", "/a"), Hits{"a"});
  EXPECT_EQ(dispatch("GET", "/a/"), Hits{});
  EXPECT_EQ(dispatch("GET", "/ab"), Hits{});
  EXPECT_EQ(dispatch("GET", "/"), Hits{});
}

TEST_F(RouterDispatchTest, QueryIsNotPartOfThePath) {
  router_.route("GET", "/a", named("a"));
  EXPECT_EQ(dispatch("GET", "/a?x=1&y=/b"), Hits{"a"});
  EXPECT_EQ(dispatch("GET", "http://test/a?q"), Hits{"a"}) << "absolute-form: its path";
}

TEST_F(RouterDispatchTest, PathIsMatchedStillEncoded) {
  router_.route("GET", "/a b", named("decoded"));
  router_.route("GET", "/a%20b", named("raw"));
  EXPECT_EQ(dispatch("GET", "/a%20b"), Hits{"raw"});
}

TEST_F(RouterDispatchTest, ExactBeatsPrefixWhateverTheOrder) {
  router_.route_prefix("GET", "/a", named("prefix"));
  router_.route("GET", "/a", named("exact"));
  router_.route_prefix("GET", "/a/b", named("longer prefix"));
  EXPECT_EQ(dispatch("GET", "/a"), Hits{"exact"});
  EXPECT_EQ(dispatch("GET", "/a/x"), Hits{"prefix"});
  EXPECT_EQ(dispatch("GET", "/a/b/c"), Hits{"longer prefix"});
}

TEST_F(RouterDispatchTest, LongestPrefixWinsWhateverTheOrder) {
  for (bool longest_first : {false, true}) {
    Router router;
    std::vector<std::pair<std::string, std::string>> routes = {
        {"/", "root"}, {"/api", "api"}, {"/api/v1", "v1"}};
    if (longest_first) std::reverse(routes.begin(), routes.end());
    for (const auto& [prefix, name] : routes) router.route_prefix("GET", prefix, named(name));
    router_ = std::move(router);
    SCOPED_TRACE(longest_first ? "longest first" : "shortest first");
    EXPECT_EQ(dispatch("GET", "/api/v1/users"), Hits{"v1"});
    EXPECT_EQ(dispatch("GET", "/api/v1"), Hits{"v1"});
    EXPECT_EQ(dispatch("GET", "/api/v2"), Hits{"api"});
    EXPECT_EQ(dispatch("GET", "/other"), Hits{"root"});
    EXPECT_EQ(dispatch("GET", "/"), Hits{"root"});
  }
}

TEST_F(RouterDispatchTest, MethodMustMatchAndIsCaseSensitive) {
  router_.route("GET", "/r", named("get"));
  router_.route("POST", "/r", named("post"));
  router_.route_prefix("DELETE", "/", named("delete anything"));
  EXPECT_EQ(dispatch("GET", "/r"), Hits{"get"});
  EXPECT_EQ(dispatch("POST", "/r"), Hits{"post"});
  EXPECT_EQ(dispatch("DELETE", "/r"), Hits{"delete anything"}) << "a prefix route of the method";
  EXPECT_EQ(dispatch("PUT", "/r"), Hits{});
  EXPECT_EQ(dispatch("post", "/r"), Hits{});
}

TEST_F(RouterDispatchTest, HeadIsServedByTheGetRoute) {
  router_.route("GET", "/g", named("get"));
  router_.route_prefix("GET", "/p/", named("get prefix"));
  EXPECT_EQ(dispatch("HEAD", "/g"), Hits{"get"});
  EXPECT_EQ(dispatch("HEAD", "/p/anything"), Hits{"get prefix"});
}

// A route registered for HEAD itself is what a HEAD request should reach (and a 405 that
// lists HEAD in Allow for a HEAD request would contradict itself).
TEST_F(RouterDispatchTest, ExplicitHeadRouteServesHead) {
  router_.route("HEAD", "/h", named("head"));
  EXPECT_EQ(dispatch("HEAD", "/h"), Hits{"head"});
}

TEST_F(RouterDispatchTest, HandlerSeesTheRequest) {
  std::string seen;
  router_.route_prefix("POST", "/items/", [&](const Request& r, Responder) {
    seen = std::string(r.method()) + " " + std::string(r.path()) + " " + std::string(r.query()) +
           " " + std::string(r.body());
  });
  const std::string text = wire_request("POST", "/items/7?full=1", "payload");
  auto parser = parse_request(text);
  router_.dispatch(parser->request(), detail::ResponderAccess::make({}, 0));
  EXPECT_EQ(seen, "POST /items/7 full=1 payload");
}

// 404 and 405 are answers, so they are checked through a server.
class RouterServerTest : public ::testing::Test {
 protected:
  void start() {
    router_.route("GET", "/r", ok("get r"));
    router_.route("POST", "/r", ok("post r"));
    router_.route("DELETE", "/r", ok("delete r"));
    router_.route_prefix("PUT", "/files/", ok("put file"));
    router_.route("POST", "/only-post", ok("post only"));
    fixture_.start(router_.handler());
  }
  static RequestHandler ok(std::string body) {
    return [body](const Request&, Responder r) { r.send(Response::text(200, body)); };
  }
  test::Reply ask(std::string_view method, std::string_view target, bool head = false) {
    if (!client_) client_ = fixture_.connect();
    return fixture_.exchange(*client_, wire_request(method, target, ""), head);
  }

  Router router_;  // outlives the server
  test::ServerFixture fixture_;
  std::unique_ptr<test::RawClient> client_;
};

TEST_F(RouterServerTest, MatchedRoutesAnswer) {
  start();
  EXPECT_EQ(ask("GET", "/r").body, "get r");
  EXPECT_EQ(ask("POST", "/r").body, "post r");
  EXPECT_EQ(ask("PUT", "/files/a/b").body, "put file");
  auto head = ask("HEAD", "/r", true);
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.header("Content-Length"), "5");
  EXPECT_EQ(head.body, "");
}

TEST_F(RouterServerTest, NoPathMatchIs404) {
  start();
  for (std::string_view target : {"/", "/nothing", "/r/", "/files", "/rr"}) {
    auto r = ask("GET", target);
    EXPECT_EQ(r.status, 404) << target;
    EXPECT_EQ(r.reason, "Not Found");
    EXPECT_EQ(r.header("Content-Type"), "text/plain");
    EXPECT_FALSE(r.header("Allow")) << target;
  }
  EXPECT_EQ(ask("PATCH", "/nothing").status, 404) << "no route at all: 404, not 405";
}

TEST_F(RouterServerTest, OtherMethodIs405WithEveryAllowedMethod) {
  start();
  auto r = ask("PUT", "/r");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.reason, "Method Not Allowed");
  EXPECT_EQ(r.header("Allow"), "GET, HEAD, POST, DELETE");
  EXPECT_EQ(ask("GET", "/files/x").header("Allow"), "PUT") << "a prefix route counts";
  EXPECT_EQ(ask("GET", "/only-post").header("Allow"), "POST") << "no HEAD without GET";
  EXPECT_EQ(ask("HEAD", "/only-post", true).status, 405);
  EXPECT_EQ(ask("get", "/r").header("Allow"), "GET, HEAD, POST, DELETE");
}

TEST_F(RouterServerTest, AllowListsEachMethodOnce) {
  router_.route("GET", "/d", ok("1"));
  router_.route_prefix("GET", "/", ok("2"));
  router_.route("POST", "/d", ok("3"));
  router_.route_prefix("POST", "/d", ok("4"));
  fixture_.start(router_.handler());
  EXPECT_EQ(ask("PUT", "/d").header("Allow"), "GET, HEAD, POST");
}

TEST_F(RouterServerTest, NotFoundAndNotAllowedKeepTheConnection) {
  start();
  EXPECT_EQ(ask("GET", "/missing").status, 404);
  EXPECT_EQ(ask("PUT", "/r").status, 405);
  EXPECT_EQ(ask("GET", "/r").body, "get r");
  EXPECT_FALSE(client_->eof);
}

TEST_F(RouterServerTest, EmptyRouterAnswers404) {
  fixture_.start(router_.handler());
  EXPECT_EQ(ask("GET", "/").status, 404);
  EXPECT_EQ(ask("POST", "/x").status, 404);
}

}  // namespace
}  // namespace reactor::http
