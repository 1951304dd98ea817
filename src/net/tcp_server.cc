#include "reactor/net/tcp_server.h"

#include <future>

#include "core/check.h"
#include "net/acceptor.h"
#include "net/connection_group.h"
#include "net/proxy_stage.h"
#include "net/socket_ops.h"

namespace reactor::net {
namespace {

// The lingering close exists for one danger: bytes from the peer arriving after close()
// make the kernel answer with a reset, and a reset destroys what we sent that the peer has
// not yet received. A connection whose every byte sent is acknowledged has nothing such a
// reset could destroy, so it closes at once: a peer that keeps its socket open after our
// FIN then cannot hold the drain until its deadline. Anything queued or unacknowledged
// (an answer in flight to a peer that may still be sending) keeps the linger; unread
// input does too, as close(Linger::none) checks once the output is flushed.
void close_quietly_if_idle(const TcpConnectionPtr& c) {
  const bool quiet = c->connected() && c->pending_output() == 0 && !detail::output_unacked(c->fd());
  c->close(quiet ? Linger::none : Linger::until_peer_fin);
}

}  // namespace

struct TcpServer::DrainState {
  EventLoop* base;
  size_t remaining;
  std::function<void()> done;
  TimerId deadline;
};

TcpServer::TcpServer(EventLoop& loop, InetAddress listen_at, ConnectionCallbacks callbacks,
                     TcpServerOptions options)
    : loop_(loop), address_(listen_at), callbacks_(std::move(callbacks)), options_(options) {}

TcpServer::~TcpServer() {
  if (started_) {
    if (drain_) loop_.cancel(drain_->deadline);
    for (auto& acceptor : acceptors_) run_on(acceptor->loop(), [&] { acceptor.reset(); });
    for (size_t i = 0; i < groups_.size(); ++i)
      run_on(groups_[i]->loop, [&] {
        if (!stages_.empty()) stages_[i]->close_all();
        groups_[i]->abort_all();
      });
    if (pool_) pool_->stop();
  }
  for (auto* g : groups_) detail::release(g);
}

void TcpServer::run_on(EventLoop& loop, const std::function<void()>& fn) {
  if (loop.in_loop_thread()) return fn();
  std::promise<void> finished;
  loop.post([&] {
    fn();
    finished.set_value();
  });
  finished.get_future().wait();
}

void TcpServer::adopt(UniqueFd listening) {
  loop_.assert_in_loop_thread();
  REACTOR_CHECK(!started_, "TcpServer::adopt after start");
  REACTOR_CHECK(static_cast<bool>(listening), "TcpServer::adopt without a descriptor");
  adopted_ = std::move(listening);
  address_ = detail::local_address(adopted_.get());
}

void TcpServer::start() {
  loop_.assert_in_loop_thread();
  REACTOR_CHECK(!started_, "TcpServer started twice");
  REACTOR_CHECK(options_.threads >= 1, "TcpServer needs at least one loop");
  if (adopted_) detail::adopt_listener(adopted_.get());  // throws before any thread starts
  if (options_.threads > 1) {
    pool_ = std::make_unique<LoopPool>(options_.threads, std::string(loop_.backend()));
    pool_->start();
    for (size_t i = 0; i < pool_->size(); ++i)
      groups_.push_back(detail::make_group(pool_->loop(i), callbacks_, options_.connection));
  } else {
    groups_.push_back(detail::make_group(loop_, callbacks_, options_.connection));
  }
  for (detail::ConnectionGroup* group : groups_) group->security = options_.tls;
  if (options_.proxy.enabled)
    for (auto* g : groups_)
      stages_.push_back(std::make_unique<detail::ProxyStages>(*g, options_.proxy));
  started_ = true;
  const bool per_loop = options_.balancing == Balancing::reuse_port && !adopted_;
  for (size_t i = 0; i < (per_loop ? groups_.size() : 1); ++i) {
    UniqueFd fd = adopted_ ? std::move(adopted_) : detail::listen_on(address_, per_loop);
    address_ = detail::local_address(fd.get());  // port 0: the other listeners reuse this one
    // Linux copies TCP_NODELAY from a listener to the sockets it accepts: set once here,
    // not once per connection (the unit tests check the inheritance).
    detail::set_no_delay(fd.get(), options_.no_delay);
    detail::GroupRef group(groups_[i]);
    detail::ProxyStages* stages = stages_.empty() ? nullptr : stages_[i].get();
    detail::Acceptor::OnAccept on_accept = [this](UniqueFd c) { hand_out(std::move(c)); };
    if (per_loop)
      on_accept = [group, stages](UniqueFd c) { serve_on(*group, stages, std::move(c)); };
    EventLoop& owner = per_loop ? group->loop : loop_;
    acceptors_.push_back(std::make_unique<detail::Acceptor>(
        owner, std::move(fd), group->accept_failures, group->accept_out_of_fds, on_accept));
  }
  for (auto& acceptor : acceptors_) run_on(acceptor->loop(), [&] { acceptor->start(); });
}

void TcpServer::hand_out(UniqueFd fd) {
  const size_t i = pick_group();
  detail::ConnectionGroup* group = groups_[i];  // the server holds a reference
  detail::ProxyStages* stages = stages_.empty() ? nullptr : stages_[i].get();
  if (&group->loop == &loop_) return serve_on(*group, stages, std::move(fd));
  // The task owns the descriptor: a loop stopped before running it still closes it. The
  // stages outlive it: the destructor closes them with a task posted after this one.
  group->loop.post([group = detail::GroupRef(group), stages, fd = std::move(fd)]() mutable {
    serve_on(*group, stages, std::move(fd));
  });
}

void TcpServer::serve_on(detail::ConnectionGroup& group, detail::ProxyStages* stages, UniqueFd fd) {
  if (stages) return stages->admit(std::move(fd));
  if (!group.start(std::move(fd))) group.accept_failures.add(1);
}

// reuse_port comes here only with an adopted socket: it is served round-robin.
size_t TcpServer::pick_group() {
  if (options_.balancing != Balancing::least_connections) return next_++ % groups_.size();
  size_t best = 0;
  for (size_t i = 1; i < groups_.size(); ++i)
    if (groups_[i]->open.get() < groups_[best]->open.get()) best = i;
  return best;
}

void TcpServer::stop_accepting() {
  loop_.assert_in_loop_thread();
  for (auto& acceptor : acceptors_)
    run_on(acceptor->loop(), [&] {
      if (acceptor->active()) acceptor->stop();
    });
}

void TcpServer::drain(std::chrono::milliseconds deadline, std::function<void()> done,
                      std::function<void(const TcpConnectionPtr&)> tell) {
  loop_.assert_in_loop_thread();
  stop_accepting();
  if (!tell) tell = close_quietly_if_idle;
  auto state =
      std::make_shared<DrainState>(DrainState{&loop_, groups_.size(), std::move(done), {}});
  drain_ = state;
  std::vector<detail::GroupRef> groups(groups_.begin(), groups_.end());
  state->deadline = loop_.run_after(deadline, [groups] {
    for (auto& g : groups)
      g->loop.dispatch([g] {
        auto open = g->connections;
        for (auto& c : open) c->abort();
      });
  });
  // Posted, not run at once: input already collected in this batch of events (requests
  // that arrived before the signal that started the drain, say) is read first, so those
  // connections count as busy rather than idle.
  for (size_t i = 0; i < groups_.size(); ++i) {
    detail::ProxyStages* stages = stages_.empty() ? nullptr : stages_[i].get();
    groups_[i]->loop.post([g = detail::GroupRef(groups_[i]), stages, tell, state] {
      if (stages) stages->close_all();  // not connections yet: nothing is owed to them
      auto report = [state] { state->base->dispatch([state] { group_drained(*state); }); };
      auto open = g->connections;  // tell() may close them; removal happens later
      for (auto& c : open) tell(c);
      if (g->connections.empty())
        report();
      else
        g->on_empty = report;
    });
  }
}

void TcpServer::group_drained(DrainState& state) {
  if (--state.remaining != 0) return;
  state.base->cancel(state.deadline);
  if (state.done) state.done();
}

std::vector<ConnectionStats> TcpServer::stats() const {
  std::vector<ConnectionStats> out;
  for (const auto& g : groups_) out.push_back(g->stats());
  return out;
}

}  // namespace reactor::net
