// `reactor bench echo`: a load generator for echo servers, built on the library itself.
//   pingpong   each connection sends --size bytes, waits for all of them back, repeats
//   throughput each connection keeps --window bytes in flight
//   idle       opens --connections connections and holds them for --duration
// Prints "key: value" lines (see docs/performance.md). One loop, one thread: pin it.
#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "commands.h"
#include "reactor/net/tcp_client.h"

namespace reactor::apps {
namespace {

struct BenchFlags {
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  std::string mode = "pingpong";
  size_t connections = 1;
  size_t size = 64;
  size_t window = 64 << 10;
  double duration = 5.0;
  double warmup = 0.5;
  size_t sources = 1;  // 127.0.0.1 .. 127.0.0.N as local addresses
  std::string backend;
};

struct Peer {
  Clock::time_point sent_at;
  size_t owed = 0;  // bytes still to come back for the message in flight
};

class EchoBench {
 public:
  EchoBench(EventLoop& loop, const BenchFlags& f, const net::InetAddress& server)
      : loop_(loop), f_(f), payload_(std::max(f.size, f.window), 'x'), peers_(f.connections) {
    clients_.reserve(f.connections);
    for (size_t i = 0; i < f.connections; ++i) {
      net::TcpClientOptions options;
      if (f.sources > 1) options.bind_to = net::InetAddress::parse(source(i), 0);
      clients_.push_back(std::make_unique<net::TcpClient>(loop, server, callbacks(i), options));
      clients_.back()->on_connect_error([this](std::error_code ec) {
        if (errors_++ == 0)
          std::fprintf(stderr, "reactor bench: connect: %s\n", ec.message().c_str());
        maybe_start();
      });
    }
  }

  int run() {
    for (auto& c : clients_) c->connect();
    loop_.run_after(std::chrono::seconds(30), [this] {  // connecting must not hang forever
      if (!started_) loop_.stop();
    });
    loop_.run();
    return report();
  }

 private:
  std::string source(size_t i) const { return "127.0.0." + std::to_string(1 + i % f_.sources); }

  net::ConnectionCallbacks callbacks(size_t i) {
    net::ConnectionCallbacks cb;
    cb.on_connect = [this](const net::TcpConnectionPtr&) {
      ++connected_;
      maybe_start();
    };
    cb.on_message = [this, i](const net::TcpConnectionPtr& c, net::Buffer& in) {
      on_bytes(c, peers_[i], in.size());
      in.clear();
    };
    cb.on_close = [this](const net::TcpConnectionPtr&, const net::CloseInfo& info) {
      if (!stopping_ && info.reason != net::CloseReason::local) ++errors_;
    };
    return cb;
  }

  void maybe_start() {
    if (started_ || connected_ + errors_ < f_.connections) return;
    started_ = true;
    std::fprintf(stderr, "reactor bench: %zu connected, %zu failed\n", connected_, errors_);
    using std::chrono::duration_cast;
    auto secs = [](double s) {
      return duration_cast<Clock::duration>(std::chrono::duration<double>(s));
    };
    loop_.run_after(secs(f_.warmup), [this] {
      begin_ = Clock::now();
      counted_ = true;
    });
    loop_.run_after(secs(f_.warmup + f_.duration), [this] {
      end_ = Clock::now();
      counted_ = false;
      stopping_ = true;
      loop_.stop();
    });
    if (f_.mode == "idle") return;
    for (size_t i = 0; i < clients_.size(); ++i)
      if (auto c = clients_[i]->connection()) send_next(c, peers_[i]);
  }

  void send_next(const net::TcpConnectionPtr& c, Peer& p) {
    size_t n = f_.mode == "throughput" ? f_.window : f_.size;
    p.owed += n;
    p.sent_at = Clock::now();
    c->send(std::string_view(payload_).substr(0, n));
  }

  void on_bytes(const net::TcpConnectionPtr& c, Peer& p, size_t n) {
    if (counted_) bytes_ += n;
    if (f_.mode == "throughput") {   // refill what came back: the window stays full
      if (counted_) messages_ += n;  // counted in bytes, divided by --size at the end
      p.owed -= std::min(p.owed, n);
      c->send(std::string_view(payload_).substr(0, n));
      p.owed += n;
      return;
    }
    p.owed -= std::min(p.owed, n);
    if (p.owed > 0) return;
    if (counted_) {
      ++messages_;
      latencies_.push_back(
          std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - p.sent_at).count());
    }
    if (!stopping_) send_next(c, p);
  }

  int report() {
    double secs = std::chrono::duration<double>(end_ - begin_).count();
    if (!started_ || secs <= 0) {
      std::fprintf(stderr, "reactor bench: never started (%zu of %zu connected)\n", connected_,
                   f_.connections);
      return 1;
    }
    double messages =
        f_.mode == "throughput" ? double(messages_) / double(f_.size) : double(messages_);
    std::printf("mode: %s\nconnections: %zu\nconnected: %zu\nsize: %zu\nseconds: %.3f\n",
                f_.mode.c_str(), f_.connections, connected_, f_.size, secs);
    std::printf("messages_per_sec: %.0f\nmib_per_sec: %.2f\nerrors: %zu\n", messages / secs,
                double(bytes_) / secs / (1 << 20), errors_);
    if (!latencies_.empty()) {
      std::sort(latencies_.begin(), latencies_.end());
      auto pct = [&](double q) {
        return double(latencies_[std::min(latencies_.size() - 1,
                                          size_t(q * double(latencies_.size())))]) /
               1000.0;
      };
      std::printf("latency_us_p50: %.1f\nlatency_us_p99: %.1f\nlatency_us_p999: %.1f\n", pct(0.5),
                  pct(0.99), pct(0.999));
    }
    std::fflush(stdout);
    return errors_ == 0 ? 0 : 1;
  }

  EventLoop& loop_;
  const BenchFlags& f_;
  std::string payload_;
  std::vector<Peer> peers_;
  std::vector<std::unique_ptr<net::TcpClient>> clients_;
  std::vector<int64_t> latencies_;
  size_t connected_ = 0, errors_ = 0;
  uint64_t messages_ = 0, bytes_ = 0;
  Clock::time_point begin_{}, end_{};
  bool started_ = false, counted_ = false, stopping_ = false;
};

int run_bench(const BenchFlags& f) {
  auto server = net::InetAddress::parse(f.host, f.port);
  if (!server) {
    std::fprintf(stderr, "reactor bench: --host '%s' is not an IPv4/IPv6 address\n",
                 f.host.c_str());
    return 2;
  }
  rlimit limit{};  // each connection is a descriptor: take all the kernel allows us
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
  EventLoop loop(f.backend);
  EchoBench bench(loop, f, *server);
  return bench.run();
}

}  // namespace

void add_bench_command(CLI::App& app, std::function<int()>& run) {
  auto* bench = app.add_subcommand("bench", "load generators");
  bench->require_subcommand(1);
  auto* cmd = bench->add_subcommand("echo", "drive an echo server: pingpong, throughput or idle");
  auto f = std::make_shared<BenchFlags>();
  cmd->add_option("--host", f->host, "server address")->capture_default_str();
  cmd->add_option("--port", f->port, "server port")->required()->check(CLI::Range(1, 65535));
  cmd->add_option("--mode", f->mode, "pingpong, throughput or idle")
      ->capture_default_str()
      ->check(CLI::IsMember({"pingpong", "throughput", "idle"}));
  cmd->add_option("--connections", f->connections)
      ->capture_default_str()
      ->check(CLI::Range(size_t{1}, size_t{1} << 20));
  cmd->add_option("--size", f->size, "message bytes")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1}, size_t{64} << 20));
  cmd->add_option("--window", f->window, "throughput mode: bytes in flight per connection")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1}, size_t{64} << 20));
  cmd->add_option("--duration", f->duration, "seconds measured")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 3600.0));
  cmd->add_option("--warmup", f->warmup, "seconds before measuring")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 600.0));
  cmd->add_option("--sources", f->sources,
                  "local addresses 127.0.0.1..N to spread connections over")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1}, size_t{250}));
  std::vector<std::string> backends(selector_names().begin(), selector_names().end());
  cmd->add_option("--backend", f->backend, "selector backend")->check(CLI::IsMember(backends));
  cmd->callback([&run, f] { run = [f] { return run_bench(*f); }; });
}

}  // namespace reactor::apps
