// `reactor http`: the classic tutorial server done properly. GET / says hello, any other
// GET echoes the request-target, POST /echo echoes the body.
#include <cstdio>
#include <system_error>

#include "access_log.h"
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
  std::string access_log;  // empty: none
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
  HttpService(EventLoop& loop, const net::InetAddress& address, const HttpFlags& flags,
              AccessLog* log)
      : router_(make_router()),
        server_(loop, address, router_.handler(), options(flags, log)),
        log_(log) {
    if (log_) log_->attach(loop);  // before start(): SIGHUP blocked in every loop thread
  }
  ~HttpService() override {
    if (log_) log_->detach();
  }
  bool adopt(UniqueFd listening) override {
    server_.adopt(std::move(listening));
    return true;
  }
  net::InetAddress start() override {
    server_.start();
    return server_.address();
  }
  void drain(std::chrono::milliseconds deadline, std::function<void()> done) override {
    server_.drain(deadline, std::move(done));
  }
  void collect_metrics(MetricsSources& out) const override {
    out.connections = server_.stats();
    out.http = server_.request_stats();
  }

 private:
  static http::ServerOptions options(const HttpFlags& flags, AccessLog* log) {
    http::ServerOptions o = flags.http;
    if (log) o.on_response = [log](const http::ResponseRecord& r) { log->log(r); };
    o.tcp = server_options(flags.server);
    o.header_timeout = std::chrono::milliseconds(flags.header_timeout_ms);
    o.body_timeout = std::chrono::milliseconds(flags.body_timeout_ms);
    o.idle_timeout = std::chrono::milliseconds(flags.idle_timeout_ms);
    // Counted inside the server (no record per response); on_response stays the log's.
    o.count_requests = !flags.server.metrics.empty();
    return o;
  }

  http::Router router_;
  http::Server server_;
  AccessLog* log_;
};

// The log is opened before serving, so that a bad path fails the start like a bad port.
int run_http(const std::shared_ptr<HttpFlags>& f) {
  std::unique_ptr<AccessLog> log;
  if (!f->access_log.empty()) {
    try {
      log = std::make_unique<AccessLog>(f->access_log);
    } catch (const std::system_error& e) {
      std::fprintf(stderr, "reactor http: cannot open access log %s: %s\n", f->access_log.c_str(),
                   e.code().message().c_str());
      return 1;
    }
  }
  return serve("reactor http", f->server, [&](EventLoop& loop, const net::InetAddress& address) {
    return std::make_unique<HttpService>(loop, address, *f, log.get());
  });
}

}  // namespace

void add_http_command(CLI::App& app, std::function<int()>& run) {
  auto* cmd = app.add_subcommand("http", "HTTP/1.1 server: hello, URL echo, POST /echo");
  auto f = std::make_shared<HttpFlags>();
  add_server_flags(*cmd, f->server, true);
  add_proxy_flags(*cmd, f->server);
  add_server_tls_flags(*cmd, f->server.tls);
  f->server.tls.alpn = {"http/1.1"};
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
  cmd->add_option("--access-log", f->access_log,
                  "append one Combined Log Format line per response to PATH ('-': stderr); "
                  "SIGHUP reopens it")
      ->type_name("PATH");
  cmd->callback([&run, f] { run = [f] { return run_http(f); }; });
}

}  // namespace reactor::apps
