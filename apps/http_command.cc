// `reactor http`: the classic tutorial server done properly. GET / says hello, any other
// GET echoes the request-target, POST /echo echoes the body.
#include "commands.h"
#include "reactor/http/server.h"
#include "service.h"
#include "tcp_service.h"

namespace reactor::apps {
namespace {

struct HttpFlags {
  ServerFlags server;
  http::ServerOptions http;
  int header_timeout_ms = 10000;
  int body_timeout_ms = 30000;
  int idle_timeout_ms = 60000;
};

http::Router make_router() {
  http::Router router;
  router.route("GET", "/", [](const http::Request&, http::Responder r) {
    r.send(http::Response::text(200, "Hello, world!"));
  });
  router.route_prefix("GET", "/", [](const http::Request& req, http::Responder r) {
    // The target as received (not decoded), query included, without its leading '/'.
    std::string_view target = req.target();
    if (target.starts_with('/')) target.remove_prefix(1);
    r.send(http::Response::text(200, std::string(target)));
  });
  router.route("POST", "/echo", [](const http::Request& req, http::Responder r) {
    http::Response res(200);
    if (auto type = req.header("Content-Type"))
      res.content_type(std::string(*type));
    else
      res.content_type("application/octet-stream");
    r.send(std::move(res.body(std::string(req.body()))));
  });
  return router;
}

class HttpService final : public Service {
 public:
  HttpService(EventLoop& loop, const net::InetAddress& address, const HttpFlags& flags)
      : router_(make_router()), server_(loop, address, router_.handler(), options(flags)) {}
  net::InetAddress start() override {
    server_.start();
    return server_.address();
  }
  void drain(std::chrono::milliseconds deadline, std::function<void()> done) override {
    server_.drain(deadline, std::move(done));
  }

 private:
  static http::ServerOptions options(const HttpFlags& flags) {
    http::ServerOptions o = flags.http;
    o.tcp = server_options(flags.server);
    o.header_timeout = std::chrono::milliseconds(flags.header_timeout_ms);
    o.body_timeout = std::chrono::milliseconds(flags.body_timeout_ms);
    o.idle_timeout = std::chrono::milliseconds(flags.idle_timeout_ms);
    return o;
  }

  http::Router router_;
  http::Server server_;
};

}  // namespace

void add_http_command(CLI::App& app, std::function<int()>& run) {
  auto* cmd = app.add_subcommand("http", "HTTP/1.1 server: hello, URL echo, POST /echo");
  auto f = std::make_shared<HttpFlags>();
  add_server_flags(*cmd, f->server, true);
  add_proxy_flags(*cmd, f->server);
  auto positive = CLI::Range(size_t{1}, size_t{1} << 40);
  cmd->add_option("--max-request-line", f->http.max_request_line, "bytes; longer gets 414")
      ->capture_default_str()
      ->check(positive);
  cmd->add_option("--max-header-bytes", f->http.max_header_bytes, "bytes; larger gets 431")
      ->capture_default_str()
      ->check(positive);
  cmd->add_option("--max-headers", f->http.max_headers, "header lines; more gets 431")
      ->capture_default_str()
      ->check(positive);
  cmd->add_option("--max-body", f->http.max_body, "bytes; larger gets 413")
      ->capture_default_str()
      ->check(positive);
  auto millis = CLI::Range(1, 24 * 3600 * 1000);
  cmd->add_option("--header-timeout", f->header_timeout_ms,
                  "ms from a request's first byte to the end of its headers (then 408)")
      ->capture_default_str()
      ->check(millis);
  cmd->add_option("--body-timeout", f->body_timeout_ms, "ms between two reads of a body (then 408)")
      ->capture_default_str()
      ->check(millis);
  cmd->add_option("--idle-timeout", f->idle_timeout_ms, "ms an idle keep-alive connection lives")
      ->capture_default_str()
      ->check(millis);
  cmd->callback([&run, f] {
    run = [f] {
      return serve("reactor http", f->server,
                   [f](EventLoop& loop, const net::InetAddress& address) {
                     return std::make_unique<HttpService>(loop, address, *f);
                   });
    };
  });
}

}  // namespace reactor::apps
