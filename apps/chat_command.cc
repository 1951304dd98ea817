// `reactor chat`: each complete line a client sends is relayed, unchanged, to every other
// client. Runs on one loop: the shared membership is the whole job, so one thread needs
// no locks, and relaying is cheap next to the syscalls.
#include <cstdio>
#include <string_view>
#include <unordered_map>

#include "commands.h"
#include "tcp_service.h"

namespace reactor::apps {
namespace {

struct ChatLimits {
  size_t max_output = 1 << 20;  // queued for one client before it counts as not reading
  size_t max_line = 64 << 10;   // a "line" longer than this, with no newline, is abuse
};

class ChatRoom {
 public:
  explicit ChatRoom(ChatLimits limits) : limits_(limits) {}

  net::ConnectionCallbacks callbacks() {
    net::ConnectionCallbacks cb;
    cb.on_connect = [this](const net::TcpConnectionPtr& c) { members_.emplace(c.get(), c); };
    cb.on_close = [this](const net::TcpConnectionPtr& c, const net::CloseInfo&) {
      members_.erase(c.get());
    };
    cb.on_message = [this](const net::TcpConnectionPtr& c, net::Buffer& in) { relay(c, in); };
    return cb;
  }

 private:
  void relay(const net::TcpConnectionPtr& from, net::Buffer& input) {
    std::string_view data = input.view();
    size_t end = data.rfind('\n');
    if (end == std::string_view::npos) {
      if (input.size() > limits_.max_line) {
        std::fprintf(stderr, "reactor chat: dropping a client: line longer than %zu bytes\n",
                     limits_.max_line);
        from->abort();
      }
      return;  // wait for the rest of the line
    }
    std::string_view lines = data.substr(0, end + 1);  // every complete line, one send each
    snapshot_.clear();
    for (auto& [raw, member] : members_)
      if (raw != from.get()) snapshot_.push_back(member);
    for (auto& member : snapshot_) {
      // A client that lets its output pile up past the limit is not reading: drop it so
      // it cannot stall the room or grow our memory.
      if (member->pending_output() + lines.size() > limits_.max_output) {
        std::fprintf(stderr, "reactor chat: dropping a client that is not reading\n");
        member->abort();
        continue;
      }
      member->send(lines);
    }
    snapshot_.clear();
    input.consume(end + 1);
  }

  ChatLimits limits_;
  std::unordered_map<net::TcpConnection*, net::TcpConnectionPtr> members_;
  std::vector<net::TcpConnectionPtr> snapshot_;  // reused: members may leave mid-relay
};

class ChatService final : public Service {
 public:
  ChatService(EventLoop& loop, const net::InetAddress& address, const ServerFlags& flags,
              ChatLimits limits)
      : room_(limits), tcp_(loop, address, room_.callbacks(), flags) {}
  bool adopt(UniqueFd listening) override { return tcp_.adopt(std::move(listening)); }
  net::InetAddress start() override { return tcp_.start(); }
  void drain(std::chrono::milliseconds deadline, std::function<void()> done) override {
    tcp_.drain(deadline, std::move(done));
  }
  void collect_metrics(MetricsSources& out) const override { tcp_.collect_metrics(out); }

 private:
  ChatRoom room_;
  TcpService tcp_;
};

}  // namespace

void add_chat_command(CLI::App& app, std::function<int()>& run) {
  auto* cmd = app.add_subcommand("chat", "line-based chat relay server");
  auto flags = std::make_shared<ServerFlags>();
  auto limits = std::make_shared<ChatLimits>();
  add_server_flags(*cmd, *flags, false);
  add_proxy_flags(*cmd, *flags);
  add_server_tls_flags(*cmd, flags->tls);
  cmd->add_option("--max-output", limits->max_output,
                  "bytes queued for a client before it is disconnected as not reading")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1024}, size_t{1} << 32));
  cmd->add_option("--max-line", limits->max_line, "longest line accepted, in bytes")
      ->capture_default_str()
      ->check(CLI::Range(size_t{16}, size_t{1} << 30));
  cmd->callback([&run, flags, limits] {
    run = [flags, limits] {
      return serve("reactor chat", *flags, [&](EventLoop& loop, const net::InetAddress& address) {
        return std::make_unique<ChatService>(loop, address, *flags, *limits);
      });
    };
  });
}

}  // namespace reactor::apps
