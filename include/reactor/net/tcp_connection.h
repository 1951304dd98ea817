#pragma once
#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include "reactor/core/event_loop.h"
#include "reactor/core/handler.h"
#include "reactor/core/unique_fd.h"
#include "reactor/net/buffer.h"
#include "reactor/net/inet_address.h"
#include "reactor/net/proxy_protocol.h"

namespace reactor::net {

class TcpConnection;
using TcpConnectionPtr = std::shared_ptr<TcpConnection>;

namespace detail {
struct ConnectionGroup;
struct ConnectionIo;
class SecureSession;
// The connection's state machine, defined with its transition table in
// src/net/connection_state.h.
enum class ReadState : uint8_t;
enum class WriteState : uint8_t;
enum class CloseMode : uint8_t;
}  // namespace detail

/// How a connection ended, as told to on_close.
enum class CloseReason {
  peer,     ///< the peer closed its side first; everything owed to it was sent
  local,    ///< shutdown() or close() completed; everything owed was sent
  aborted,  ///< abort(): reset at once, unsent output discarded
  error,    ///< an I/O error or a reset from the peer (see CloseInfo::error)
  timeout,  ///< close() could not flush its output before its deadline
};

/// "peer", "local", "aborted", "error" or "timeout".
std::string_view to_string(CloseReason reason);

/// How close() ends a connection once its output is flushed.
enum class Linger : uint8_t {
  /// Close the write half, then read (and discard) until the peer's FIN: a peer that is
  /// still sending would otherwise get a reset, which can destroy what it was sent.
  until_peer_fin,
  /// Close at once: for a peer that said it sends nothing more (an HTTP request with
  /// "Connection: close", say). Saves a round trip and the descriptor's wait.
  none,
};

struct CloseInfo {
  CloseReason reason;
  std::error_code error;  ///< set for error and timeout
  size_t unsent = 0;      ///< output bytes that never reached the kernel
  /// Input bytes received but left unconsumed (on_message kept them, reading was paused)
  /// when the connection ended: they can no longer be read.
  size_t unread = 0;
  /// TLS: the peer's stream ended without close_notify, so what it sent may have been cut
  /// short by an attacker or a crash (the reason is still peer or local). A clean TLS end,
  /// and every plain TCP end, leaves this false.
  bool truncated = false;
};

/// User state attached to a connection (owned by it, destroyed with it).
class ConnectionContext {
 public:
  virtual ~ConnectionContext() = default;
};

/// The callbacks of every connection of one server or client; all run on the
/// connection's loop thread. Only on_message is required.
struct ConnectionCallbacks {
  /// Established; for TLS, once the handshake is complete (a connection whose handshake
  /// fails is never reported, to on_connect or on_close).
  std::function<void(const TcpConnectionPtr&)> on_connect;
  /// New bytes are at the end of `input`; consume what was used, the rest stays for later.
  std::function<void(const TcpConnectionPtr&, Buffer& input)> on_message;
  /// The peer closed its write half. Unset: the connection shuts down its own side once
  /// its output is flushed, then closes. Set: the callback decides (e.g. answers, then
  /// calls shutdown()).
  std::function<void(const TcpConnectionPtr&)> on_peer_shutdown;
  /// Output fully flushed to the kernel.
  std::function<void(const TcpConnectionPtr&)> on_write_complete;
  /// Our write half closed: what was queued before shutdown() or close() is flushed and our
  /// FIN sent (close(Linger::none) may skip this and go straight to on_close).
  std::function<void(const TcpConnectionPtr&)> on_write_closed;
  /// Pending output rose to high_water_mark: pause the producer (e.g. pause_reading()).
  std::function<void(const TcpConnectionPtr&, size_t pending)> on_high_water;
  /// Pending output fell back to low_water_mark after a high-water report: resume.
  std::function<void(const TcpConnectionPtr&)> on_low_water;
  /// The connection is closed and unwatched; its descriptor is released right after.
  std::function<void(const TcpConnectionPtr&, const CloseInfo&)> on_close;
};

/// The tunables of every connection of one server or client.
struct ConnectionOptions {
  /// Pending output at which on_high_water fires (once, until it falls to low_water_mark).
  size_t high_water_mark = 1 << 20;
  size_t low_water_mark = 64 << 10;
  /// close() and graceful drains give up flushing after this long and reset.
  std::chrono::milliseconds close_timeout{5000};
  /// TLS: the whole handshake must finish within this, however its bytes trickle in;
  /// then the connection is closed and counted (ConnectionStats::tls_handshake_timeouts).
  std::chrono::milliseconds handshake_timeout{10000};
};

/// One established TCP connection. Shared-owned: by its server (or client) while open, and
/// by whoever holds a TcpConnectionPtr. Loop-thread only (checked), except send(), shutdown(),
/// close(), abort() and loop(), which may be called from any thread. An idle connection holds
/// no buffers.
class TcpConnection final : public std::enable_shared_from_this<TcpConnection>, private Handler {
  // Only the connection's group (TcpServer's or TcpClient's) can make one: users cannot
  // name this tag, and its explicit constructor keeps `{}` from standing in for it.
  struct Private {
    explicit Private() = default;
  };

 public:
  /// Public for make_shared only: uncallable without the private tag.
  TcpConnection(Private, detail::ConnectionGroup& group, UniqueFd fd);
  ~TcpConnection();

  /// Any thread. Queues `bytes` after anything already queued; writes at once when the
  /// queue is empty (on the loop thread; from another thread a copy is posted to the loop,
  /// and sends from one thread keep their order). Ignored once the connection is shutting
  /// down or closed.
  void send(std::string_view bytes);
  /// Any thread, as send(std::string_view); then drains `bytes` (off the loop thread its
  /// content was copied into the posted task first, so the caller may reuse it at once).
  void send(Buffer& bytes);
  /// Any thread. Closes the write half once queued output is flushed; reading goes on.
  void shutdown();
  /// Any thread. Stops delivering input, flushes queued output, then (Linger::until_peer_fin)
  /// closes the write half and waits for the peer's FIN before closing: with no unread
  /// input left, no RST can destroy what was sent. Gives up after options.close_timeout
  /// (reason timeout if output was left).
  void close(Linger linger = Linger::until_peer_fin);
  /// Any thread. Resets the connection at once; queued output is discarded (and counted).
  void abort();

  /// Stops reading (back-pressure); the peer's bytes wait in the kernel.
  void pause_reading();
  /// Reads again, and hands input still buffered to on_message once more (posted).
  void resume_reading();
  bool reading_paused() const;
  /// True while send() is accepted: neither shutdown() nor close() began, nor did the
  /// peer's FIN lead to an automatic shutdown.
  bool connected() const;
  size_t pending_output() const;

  /// Any thread: a connection never changes loops.
  EventLoop& loop() const;
  int fd() const;
  InetAddress local_address() const;
  /// The client: the source its PROXY header named, when the server expects one
  /// (TcpServerOptions::proxy) and the header was not LOCAL; otherwise the socket's peer.
  InetAddress peer_address() const;
  /// The socket's own peer: the proxy, when connections come through one.
  InetAddress socket_peer_address() const;
  /// The PROXY header this connection began with; null when none was expected.
  const ProxyHeader* proxy_header() const;
  /// TLS: whether the connection is secured, and the ALPN protocol chosen (empty: none).
  bool secure() const;
  std::string_view alpn() const;

  void set_context(std::unique_ptr<ConnectionContext> context);
  template <class T>
  T* context() const {
    return static_cast<T*>(context_base());
  }

 private:
  friend struct detail::ConnectionGroup;
  void handle_events(uint32_t ready) override;
  // Inline: defined (and used) only in tcp_connection.cc, where handle_events() takes them in.
  inline void handle_read(uint32_t ready);
  void handle_write();
  inline void deliver(Buffer& input);
  void deliver_decrypted(Buffer& input);  // deliver() for secure_io.cc, out of line
  void handle_peer_eof();
  // Inline too: defined and used only in tcp_connection.cc, where send() takes it in.
  inline void write_or_queue(const char* data, size_t n);
  [[gnu::cold, gnu::noinline]] void trace_read(size_t bytes) const;
  [[gnu::cold, gnu::noinline]] void trace_write(size_t written, size_t left) const;
  // Out of line on purpose: the paths of send() and write_or_queue() that build a posted
  // task or touch the output buffer would otherwise give every message their stack frame
  // and register saves.
  [[gnu::noinline]] void post_send(std::string_view bytes);
  [[gnu::noinline]] void post_write_complete();
  [[gnu::noinline]] void queue_output(const char* data, size_t n);
  void after_flush();
  void shutdown_in_loop();
  void close_in_loop(Linger linger);
  void finish(CloseReason reason, std::error_code error = {});
  void update_interest();
  // Writes once from `data`: bytes taken, 0 to wait for the socket (or the TLS session),
  // -1 after an error finished the connection.
  inline ssize_t write_some(const char* data, size_t n);
  // TLS (src/net/secure_io.cc).
  void start_secure(std::unique_ptr<detail::SecureSession> session);
  uint32_t secure_interest() const;
  void handle_secure_events(uint32_t ready);
  void secure_handshake();
  void secure_read();
  ssize_t secure_write_some(const char* data, size_t n);
  bool secure_close_notify();
  bool end_secure(CloseReason reason);
  size_t queued() const;  // pending_output() without the thread check, for the hot paths
  detail::ConnectionIo& io();
  void maybe_release_io();
  ConnectionContext* context_base() const;

  // 56 bytes in all (a 72-byte block with make_shared's control block): an idle connection
  // is this, its group's pointer to it and its loop registration. Keep it that small.
  detail::ConnectionGroup* group_;  // a counted reference (src/net/group_ref.h)
  // Buffers, close timer and user context; null while the connection is idle and has none.
  std::unique_ptr<detail::ConnectionIo> io_;
  UniqueFd fd_;
  uint32_t slot_ = 0;  // index in the group's connection list
  detail::ReadState read_{};
  detail::WriteState write_{};
  detail::CloseMode mode_{};
  bool high_water_ = false;  // on_high_water reported, on_low_water not yet
};

}  // namespace reactor::net
