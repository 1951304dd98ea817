#include "reactor/net/tcp_client.h"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

#include "net/connection_group.h"
#include "net/socket_ops.h"
#include "reactor/core/error.h"

namespace reactor::net {

TcpClient::TcpClient(EventLoop& loop, InetAddress server, ConnectionCallbacks callbacks,
                     TcpClientOptions options)
    : loop_(loop),
      server_(server),
      options_(options),
      group_(detail::make_group(loop, std::move(callbacks), options.connection)),
      delay_(options.initial_delay) {
  if (!options_.tls) return;
  group_->security = options_.tls;
  group_->role = TransportSecurity::Role::client;
  group_->peer_name = options_.server_name.empty() ? server_.host() : options_.server_name;
  group_->on_handshake_failed = [this](std::error_code error) { failed(error); };
}

TcpClient::~TcpClient() {
  wanted_ = false;
  // abort_all() below ends a handshake under way: that is no failed attempt to report
  // (and the callback would run inside this destructor).
  group_->on_handshake_failed = nullptr;
  give_up_attempt();
  loop_.cancel(retry_timer_);
  group_->abort_all();
  detail::release(group_);
}

TcpConnectionPtr TcpClient::connection() const {
  loop_.assert_in_loop_thread();
  return group_->connections.empty() ? nullptr : group_->connections.front();
}

void TcpClient::connect() {
  loop_.assert_in_loop_thread();
  wanted_ = true;
  delay_ = options_.initial_delay;
  attempt();
}

void TcpClient::disconnect() {
  loop_.assert_in_loop_thread();
  wanted_ = false;
  give_up_attempt();
  loop_.cancel(retry_timer_);
  if (auto c = connection()) c->close();
}

void TcpClient::attempt() {
  retry_timer_ = {};
  if (!wanted_ || connecting_) return;
  UniqueFd fd = detail::make_socket(server_.family(), SOCK_STREAM);
  if (options_.bind_to &&
      ::bind(fd.get(), options_.bind_to->sockaddr_ptr(), options_.bind_to->length()) < 0)
    return failed(detail::last_error());
  int rc = ::connect(fd.get(), server_.sockaddr_ptr(), server_.length());
  if (rc < 0 && errno != EINPROGRESS) return failed(detail::last_error());
  // Even an immediate success is completed from the writability event, so that callbacks
  // never run inside connect().
  if (auto ec = loop_.watch(fd.get(), io::kWritable, *this)) return failed(ec);
  connecting_ = std::move(fd);
  timeout_timer_ = loop_.run_after(options_.connect_timeout, [this] {
    timeout_timer_ = {};
    give_up_attempt();
    failed(Errc::connect_timed_out);
  });
}

void TcpClient::handle_events(uint32_t) {
  std::error_code error = detail::socket_error(connecting_.get());
  UniqueFd fd = std::move(connecting_);
  loop_.unwatch(fd.get());
  loop_.cancel(timeout_timer_);
  timeout_timer_ = {};
  if (error) return failed(error);
  detail::set_no_delay(fd.get(), options_.no_delay);
  delay_ = options_.initial_delay;
  if (!group_->start(std::move(fd))) failed(std::make_error_code(std::errc::bad_file_descriptor));
}

void TcpClient::give_up_attempt() {
  if (!connecting_) return;
  loop_.unwatch(connecting_.get());
  connecting_.reset();
  loop_.cancel(timeout_timer_);
  timeout_timer_ = {};
}

void TcpClient::failed(std::error_code error) {
  if (on_error_) on_error_(error);
  if (!wanted_ || !options_.retry) return;
  retry_timer_ = loop_.run_after(delay_, [this] { attempt(); });
  delay_ = std::min(delay_ * 2, options_.max_delay);
}

}  // namespace reactor::net
