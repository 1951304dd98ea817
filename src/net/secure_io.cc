// The TLS half of TcpConnection: the handshake with its deadline, reading through the
// session until both it and the socket are drained, writing plaintext through it, and
// close_notify. The plain paths (tcp_connection.cc) hand over here when io_->secure is
// set; the state machine (connection_state.h) is the same for both.
//
//   accept/connect ──► handshake ──done──► on_connect ──► secure_read / write_some ...
//                        │  └─ want_read / want_write: wait for that readiness
//                        └─ failed, or the deadline ──► finish(): counted, no on_close
#include <cerrno>

#include "core/tracer.h"
#include "net/connection_group.h"
#include "net/connection_state.h"
#include "net/secure_session.h"
#include "reactor/core/error.h"
#include "reactor/net/tcp_connection.h"

namespace reactor::net {

using detail::ReadState;
using detail::SecureSession;
using detail::WriteState;
using reactor::detail::tracer;
using Status = SecureSession::Status;

namespace {
// Reads per wake-up before yielding to other descriptors (a record each, at most 16 KiB).
constexpr int kSecureReadQuota = 16;
constexpr size_t kRecordPlaintext = 16 * 1024;
}  // namespace

bool TcpConnection::secure() const {
  loop().assert_in_loop_thread();
  return io_ && io_->secure;
}

std::string_view TcpConnection::alpn() const {
  loop().assert_in_loop_thread();
  return io_ && io_->secure && io_->secure->established ? io_->secure->alpn() : std::string_view{};
}

void TcpConnection::start_secure(std::unique_ptr<SecureSession> session) {
  SecureSession& s = *session;
  io().secure = std::move(session);
  std::weak_ptr<TcpConnection> weak = weak_from_this();
  s.handshake_timer = loop().run_after(group_->options.handshake_timeout, [weak] {
    auto self = weak.lock();
    if (!self || !self->io_ || !self->io_->secure) return;
    self->io_->secure->handshake_timer = {};
    self->finish(CloseReason::timeout, Errc::handshake_timed_out);
  });
}

uint32_t TcpConnection::secure_interest() const {
  const SecureSession& s = *io_->secure;
  if (!s.established) return s.read_wants_write ? io::kWritable : io::kReadable;
  const bool want_read = read_ == ReadState::reading || read_ == ReadState::discarding;
  uint32_t interest = 0;
  if (want_read) interest |= s.read_wants_write ? io::kWritable : io::kReadable;
  if (queued() || s.notify_pending) interest |= s.write_wants_read ? io::kReadable : io::kWritable;
  return interest;
}

void TcpConnection::handle_secure_events(uint32_t ready) {
  SecureSession& s = *io_->secure;
  if (!s.established) return secure_handshake();
  const bool can_read = ready & (io::kReadable | io::kHangup | io::kError);
  const bool can_write = ready & (io::kWritable | io::kHangup | io::kError);
  // Each side waits on the readiness its last call asked for, which may be the other's.
  const bool read_ready = s.read_wants_write ? can_write : can_read;
  if (read_ready && (read_ != ReadState::paused || ready & (io::kHangup | io::kError)))
    secure_read();
  if (write_ == WriteState::closed) return;
  const bool write_ready = s.write_wants_read ? can_read : can_write;
  if (write_ready && (queued() || s.notify_pending)) handle_write();
}

void TcpConnection::secure_handshake() {
  SecureSession& s = *io_->secure;
  const SecureSession::Result r = s.handshake();
  s.read_wants_write = r.status == Status::want_write;
  if (r.status == Status::want_read || r.status == Status::want_write) return update_interest();
  if (r.status == Status::closed || r.status == Status::truncated)  // the peer left
    return finish(CloseReason::error, s.error() ? s.error() : Errc::end_of_stream);
  if (r.status != Status::done) return finish(CloseReason::error, s.error());
  s.established = true;
  loop().cancel(s.handshake_timer);
  s.handshake_timer = {};
  group_->tls_handshakes.add(1);
  if (s.resumed()) group_->tls_resumed.add(1);
  if (auto* t = tracer(loop())) [[unlikely]]
    t->line("handshake", {{"fd", fd_.get()}, {"version", s.version()}, {"resumed", s.resumed()}});
  update_interest();
  if (group_->callbacks.on_connect) group_->callbacks.on_connect(group_->pointer_to(*this));
  if (write_ == WriteState::closed) return;
  if (queued() || write_ != WriteState::open) handle_write();  // what was sent meanwhile
  // Bytes that came with the handshake's last flight may be decrypted already, or (edge-
  // triggered) still in the socket with their edge spent: no readiness would report them.
  if (write_ != WriteState::closed && (s.has_pending() || loop().edge_triggered())) secure_read();
}

void TcpConnection::secure_read() {
  SecureSession& s = *io_->secure;
  const bool edge = loop().edge_triggered();
  for (int budget = kSecureReadQuota; budget > 0; --budget) {
    const bool own = io_->input.size() > 0;
    Buffer& target = own ? io_->input : detail::t_scratch;
    char* room = target.prepare(kRecordPlaintext);
    const SecureSession::Result r = s.read(room, target.writable());
    s.read_wants_write = r.status == Status::want_write;
    switch (r.status) {
      case Status::done:
        break;
      case Status::want_read:
        return;
      case Status::want_write:
        return update_interest();
      case Status::closed:
        return handle_peer_eof();
      case Status::truncated:
        s.truncated = true;
        return handle_peer_eof();
      case Status::failed:
        return finish(CloseReason::error, s.error());
    }
    if (tracer(loop())) [[unlikely]]
      trace_read(r.bytes);
    group_->bytes_read.add(r.bytes);
    target.commit(r.bytes);
    deliver_decrypted(target);
    if (write_ == WriteState::closed || read_ == ReadState::paused) return;
    // Level-triggered, the socket reports what it still holds; only what the session took
    // already needs another turn. Edge-triggered, read on until the session asks for more.
    if (!edge && !s.has_pending()) return;
  }
  loop().requeue(fd_.get(), io::kReadable);
}

// write_some()'s TLS half: as many whole records as the socket takes.
ssize_t TcpConnection::secure_write_some(const char* data, size_t n) {
  SecureSession& s = *io_->secure;
  if (!s.established) return 0;  // queued until the handshake is done
  size_t written = 0;
  while (written < n) {
    const SecureSession::Result r = s.write(data + written, n - written);
    s.write_wants_read = r.status == Status::want_read;
    if (r.status == Status::done) {
      written += r.bytes;
      continue;
    }
    if (r.status == Status::want_read || r.status == Status::want_write) break;
    finish(CloseReason::error, s.error());
    return -1;
  }
  return static_cast<ssize_t>(written);
}

// Before our FIN: close_notify, once the handshake is done (there is no session to end
// before it). False while it waits for the socket; handle_write() comes back here.
bool TcpConnection::secure_close_notify() {
  SecureSession& s = *io_->secure;
  if (s.notify_sent || !s.established) return true;
  const SecureSession::Result r = s.close_notify();
  s.notify_pending = r.status == Status::want_write || r.status == Status::want_read;
  s.write_wants_read = r.status == Status::want_read;
  if (s.notify_pending) {
    update_interest();
    return false;
  }
  s.notify_sent = true;
  return true;
}

// finish()'s TLS half: the session's end, its counters and the handshake timer. True when
// the connection never became one (its handshake failed): nobody is told.
bool TcpConnection::end_secure(CloseReason reason) {
  SecureSession& s = *io_->secure;
  if (s.handshake_timer) loop().cancel(s.handshake_timer);
  const bool established = s.established;
  if (!established) {
    (reason == CloseReason::timeout ? group_->tls_timeouts : group_->tls_failures).add(1);
  }
  io_->secure.reset();
  return !established;
}

}  // namespace reactor::net
