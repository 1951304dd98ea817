#pragma once
#include <array>
#include <cstdint>

namespace reactor {
class EventLoop;
}

namespace reactor::net {

/// Counters for the connections of one loop (a server keeps one set per loop, so users can
/// see how evenly the load is spread). A snapshot; taken from any thread.
struct ConnectionStats {
  uint64_t open = 0;      ///< connections open now
  uint64_t accepted = 0;  ///< connections accepted (or connected) so far
  uint64_t bytes_read = 0;
  uint64_t bytes_written = 0;
  uint64_t accept_failures = 0;    ///< accepts that failed, out of descriptors or otherwise
  uint64_t accept_out_of_fds = 0;  ///< of those, for want of descriptors (EMFILE, ENFILE)
  uint64_t loop_events = 0;        ///< ready descriptors the loop dispatched
  /// Connections closed, indexed by CloseReason (peer, local, aborted, error, timeout).
  std::array<uint64_t, 5> closed{};
  /// Connections closed before they began: no valid PROXY header, an untrusted peer, or
  /// the header's deadline passed (TcpServerOptions::proxy).
  uint64_t proxy_rejected = 0;
  /// TLS handshakes completed (of them, resumed), failed, and cut off by the deadline
  /// (ConnectionOptions::handshake_timeout). Failed and timed-out ones never became
  /// connections: they are not in `closed`.
  uint64_t tls_handshakes = 0;
  uint64_t tls_resumed = 0;
  uint64_t tls_handshake_failures = 0;
  uint64_t tls_handshake_timeouts = 0;
  /// The loop these connections are on; valid while the server (or client) lives.
  const EventLoop* loop = nullptr;
};

}  // namespace reactor::net
