// `reactor client HOST PORT`: what is typed on stdin goes to the server, what the server
// sends is printed as it arrives. Both are descriptors on one loop.
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <string>

#include "commands.h"
#include "reactor/net/tcp_client.h"
#include "service.h"
#include "tls_flags.h"

namespace reactor::apps {
namespace {

struct ClientFlags {
  std::string host;
  uint16_t port = 0;
  std::string backend;
  bool trace = false;
  ClientTlsFlags tls;
};

/// Reads stdin as it becomes readable and forwards it; at EOF closes our write half.
class StdinForwarder final : public Handler {
 public:
  StdinForwarder(EventLoop& loop, net::TcpClient& client) : loop_(loop), client_(client) {}
  ~StdinForwarder() { stop(); }

  void start() {
    // A regular file cannot be polled (epoll refuses it, and it is always readable), so
    // read it whole; pipes and terminals are watched like any other descriptor.
    if (loop_.watch(STDIN_FILENO, io::kReadable, *this)) {
      while (read_once()) {
      }
      return;
    }
    watching_ = true;
  }
  /// The connection is up: send what was typed before it was.
  void flush() {
    if (auto c = client_.connection()) {
      if (!pending_.empty()) c->send(pending_);
      pending_.clear();
      if (eof_) c->shutdown();
    }
  }
  void handle_events(uint32_t) override {
    if (!read_once()) stop();
  }

 private:
  bool read_once() {
    char buf[16384];
    ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
    if (n < 0 && errno == EINTR) return true;
    if (n <= 0) {
      eof_ = true;
      flush();
      return false;
    }
    pending_.append(buf, static_cast<size_t>(n));
    flush();
    return true;
  }
  void stop() {
    if (watching_) loop_.unwatch(STDIN_FILENO);
    watching_ = false;
  }

  EventLoop& loop_;
  net::TcpClient& client_;
  std::string pending_;
  bool eof_ = false;
  bool watching_ = false;
};

// HOST is an address, so without --tls-server-name the certificate must name that address
// (an IP subjectAltName), and no SNI is sent.
net::TcpClientOptions client_options(const ClientFlags& flags) {
  net::TcpClientOptions options;
  options.tls = client_context(flags.tls);
  options.server_name = flags.tls.server_name;
  return options;
}

int run_client(const ClientFlags& flags) {
  auto address = net::InetAddress::parse(flags.host, flags.port);
  if (!address) {
    std::fprintf(stderr, "reactor client: '%s' is not an IPv4/IPv6 address\n", flags.host.c_str());
    return 2;
  }
  net::TcpClientOptions options;
  try {
    options = client_options(flags);
  } catch (const std::system_error& e) {  // an unreadable --tls-ca: what() names it
    std::fprintf(stderr, "reactor client: %s\n", e.what());
    return 1;
  }
  std::signal(SIGPIPE, SIG_IGN);  // stdout may be a pipe that closes; we report, not die
  if (flags.trace) EventLoop::set_trace_default(true);
  EventLoop loop(flags.backend);
  int status = 0;
  StdinForwarder* forwarder = nullptr;
  net::ConnectionCallbacks cb;
  cb.on_connect = [&](const net::TcpConnectionPtr&) { forwarder->flush(); };
  cb.on_message = [](const net::TcpConnectionPtr&, net::Buffer& input) {
    std::fwrite(input.data(), 1, input.size(), stdout);
    std::fflush(stdout);
    input.clear();
  };
  cb.on_close = [&](const net::TcpConnectionPtr&, const net::CloseInfo& info) {
    if (info.error) {
      std::fprintf(stderr, "reactor client: connection closed: %s\n", info.error.message().c_str());
      status = 1;
    }
    loop.stop();
  };
  net::TcpClient client(loop, *address, std::move(cb), std::move(options));
  StdinForwarder stdin_forwarder(loop, client);
  forwarder = &stdin_forwarder;
  client.on_connect_error([&](std::error_code ec) {
    if (auto failure = handshake_failure(ec))
      std::fprintf(stderr, "reactor client: TLS handshake with %s failed: %s\n",
                   address->to_string().c_str(), failure->c_str());
    else
      std::fprintf(stderr, "reactor client: cannot connect to %s: %s\n",
                   address->to_string().c_str(), ec.message().c_str());
    status = 1;
    loop.stop();
  });
  loop.on_signal(SIGINT, [&](int) { loop.stop(); });
  loop.on_signal(SIGTERM, [&](int) { loop.stop(); });
  client.connect();
  stdin_forwarder.start();
  loop.run();
  return status;
}

}  // namespace

void add_client_command(CLI::App& app, std::function<int()>& run) {
  auto* cmd =
      app.add_subcommand("client", "interactive line client: stdin to server, server to stdout");
  auto flags = std::make_shared<ClientFlags>();
  cmd->add_option("host", flags->host, "server address")->required();
  cmd->add_option("port", flags->port, "server port")->required()->check(CLI::Range(1, 65535));
  std::vector<std::string> backends(selector_names().begin(), selector_names().end());
  cmd->add_option("--backend", flags->backend, "selector backend")->check(CLI::IsMember(backends));
  add_trace_flag(*cmd, flags->trace);
  add_client_tls_flags(*cmd, flags->tls);
  cmd->callback([&run, flags] { run = [flags] { return run_client(*flags); }; });
}

}  // namespace reactor::apps
