#include "reactor/http/server.h"

#include "http/session.h"

namespace reactor::http {

struct Server::Shared : detail::SessionConfig {};

namespace {

detail::Session& session(const net::TcpConnectionPtr& c) {
  return *detail::Session::of(*c);
}

net::ConnectionCallbacks session_callbacks(std::shared_ptr<const detail::SessionConfig> config) {
  net::ConnectionCallbacks cb;
  cb.on_connect = [config](const net::TcpConnectionPtr& c) {
    c->set_context(std::make_unique<detail::Session>(config, c));
  };
  cb.on_message = [](const net::TcpConnectionPtr& c, net::Buffer& in) {
    session(c).on_input(c, in);
  };
  cb.on_peer_shutdown = [](const net::TcpConnectionPtr& c) { session(c).peer_shutdown(c); };
  cb.on_close = [](const net::TcpConnectionPtr& c, const net::CloseInfo&) {
    session(c).closed(c->loop());
  };
  // A client that does not read its responses stops being read: memory stays bounded.
  cb.on_high_water = [](const net::TcpConnectionPtr& c, size_t) { c->pause_reading(); };
  cb.on_low_water = [](const net::TcpConnectionPtr& c) { c->resume_reading(); };
  return cb;
}

}  // namespace

Server::Server(EventLoop& loop, net::InetAddress listen_at, RequestHandler handler,
               ServerOptions options) {
  auto shared = std::make_shared<Shared>();
  shared->handler = std::move(handler);
  shared->options = options;
  shared->limits = {options.max_request_line, options.max_header_bytes, options.max_headers,
                    options.max_body};
  if (options.count_requests) shared->counters = std::make_shared<detail::RequestCounters>();
  shared_ = shared;
  options.tcp.connection.high_water_mark = options.max_output;
  options.tcp.connection.low_water_mark = options.max_output / 4;
  tcp_ = std::make_unique<net::TcpServer>(loop, listen_at, session_callbacks(shared), options.tcp);
}

Server::~Server() = default;

void Server::start() {
  tcp_->start();
}

std::vector<RequestStats> Server::request_stats() const {
  return shared_->counters ? shared_->counters->snapshot() : std::vector<RequestStats>{};
}

void Server::drain(std::chrono::milliseconds deadline, std::function<void()> done) {
  tcp_->drain(deadline, std::move(done),
              [](const net::TcpConnectionPtr& c) { session(c).drain(c); });
}

}  // namespace reactor::http
