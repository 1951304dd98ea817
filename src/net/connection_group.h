#pragma once
#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/counter.h"
#include "net/group_ref.h"
#include "net/secure_session.h"
#include "reactor/core/timer_id.h"
#include "reactor/core/unique_fd.h"
#include "reactor/net/buffer.h"
#include "reactor/net/connection_stats.h"
#include "reactor/net/tcp_connection.h"
#include "reactor/net/transport_security.h"

namespace reactor::net::detail {

using reactor::detail::Counter;

/// The connections of one loop that share callbacks: a server has one group per loop, a
/// client one. Holds the owning reference of each open connection. Loop thread only, but
/// for the counters.
struct ConnectionGroup {
  ConnectionGroup(EventLoop& l, ConnectionCallbacks cb, ConnectionOptions o)
      : loop(l), callbacks(std::move(cb)), options(o) {}
  ConnectionGroup(const ConnectionGroup&) = delete;
  ConnectionGroup& operator=(const ConnectionGroup&) = delete;

  /// Runs a connected, non-blocking socket as a new connection of this group: registers
  /// it and calls on_connect. Null if the loop refused the descriptor (it is closed).
  /// `proxy`: the PROXY header it began with, when the listener expects one.
  TcpConnectionPtr start(UniqueFd fd, std::unique_ptr<ProxyHeader> proxy = nullptr);

  void add(const TcpConnectionPtr& c) {
    c->slot_ = static_cast<uint32_t>(connections.size());
    connections.push_back(c);
    open.add(1);
    accepted.add(1);
  }
  /// Swap-removes `c`; the last connection takes its slot.
  void remove(TcpConnection& c) {
    uint32_t slot = c.slot_;
    if (slot >= connections.size() || connections[slot].get() != &c) return;
    if (slot + 1 != connections.size()) {
      connections[slot] = std::move(connections.back());
      connections[slot]->slot_ = slot;
    }
    connections.pop_back();
    open.sub(1);
    if (connections.empty() && on_empty) {
      auto notify = std::move(on_empty);  // one-shot, and safe if it sets a new one
      on_empty = nullptr;
      notify();
    }
  }
  const TcpConnectionPtr& pointer_to(const TcpConnection& c) const { return connections[c.slot_]; }
  /// Resets every open connection and drops the group's references at once: the removals
  /// that abort() posts may never run when the loop is about to go, and each connection
  /// and its group would then keep the other alive. No connection dies here, under a
  /// callback that may still be running for it: each closed one is held by its posted
  /// removal until the loop runs it (or is destroyed with it).
  void abort_all() {
    on_empty = nullptr;
    auto all = connections;  // a copy: remove() reorders the list
    for (auto& c : all) c->abort();
    for (auto& c : all) remove(*c);
  }

  ConnectionStats stats() const {
    ConnectionStats s;
    s.open = open.get();
    s.accepted = accepted.get();
    s.bytes_read = bytes_read.get();
    s.bytes_written = bytes_written.get();
    s.accept_failures = accept_failures.get();
    s.accept_out_of_fds = accept_out_of_fds.get();
    s.loop_events = loop.stats().events;
    for (size_t i = 0; i < s.closed.size(); ++i) s.closed[i] = closed[i].get();
    s.proxy_rejected = proxy_rejected.get();
    s.tls_handshakes = tls_handshakes.get();
    s.tls_resumed = tls_resumed.get();
    s.tls_handshake_failures = tls_failures.get();
    s.tls_handshake_timeouts = tls_timeouts.get();
    s.loop = &loop;
    return s;
  }

  EventLoop& loop;
  const ConnectionCallbacks callbacks;
  const ConnectionOptions options;
  std::vector<TcpConnectionPtr> connections;
  std::function<void()> on_empty;  ///< called once when the last connection is removed
  Counter open, accepted, bytes_read, bytes_written, accept_failures, accept_out_of_fds;
  Counter closed[5];  // by CloseReason
  Counter proxy_rejected;
  Counter tls_handshakes, tls_resumed, tls_failures, tls_timeouts;
  /// TLS: set before the first connection starts, never changed after.
  std::shared_ptr<const TransportSecurity> security;
  TransportSecurity::Role role = TransportSecurity::Role::server;
  std::string peer_name;  ///< a client's server name (SNI, verification) or address
  /// A client's handshake failed (the connection was never reported): TcpClient's error path.
  std::function<void(std::error_code)> on_handshake_failed;
  std::atomic<size_t> references{1};  // see group_ref.h
};

/// The read buffer of this thread's connections (src/net/tcp_connection.cc).
extern thread_local Buffer t_scratch;

/// What a connection needs only while it has bytes queued, is closing, or carries a user
/// context or a PROXY header: an idle connection without one holds none of it.
struct ConnectionIo {
  Buffer input;
  Buffer output;
  TimerId close_timer;
  std::unique_ptr<ConnectionContext> context;
  // Here rather than in TcpConnection (which must stay 56 bytes) or a side table keyed by
  // connection (a lookup and a removal to maintain): a connection without a header pays
  // one more null test when its buffers empty; one with a header keeps this block.
  std::unique_ptr<ProxyHeader> proxy;
  // A TLS connection keeps this block for the session (whose SSL object is many times its
  // size anyway); OpenSSL releases its own buffers while the connection is idle.
  std::unique_ptr<SecureSession> secure;

  bool unused() const {
    return input.empty() && output.empty() && !close_timer && !context && !proxy && !secure;
  }
};

}  // namespace reactor::net::detail
