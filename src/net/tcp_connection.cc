#include "reactor/net/tcp_connection.h"

#include <sys/socket.h>

#include <cerrno>

#include "core/check.h"
#include "core/tracer.h"
#include "net/connection_group.h"
#include "net/connection_state.h"
#include "net/socket_ops.h"
#include "reactor/core/error.h"

namespace reactor::net {

using detail::CloseMode;
using detail::ReadState;
using detail::WriteState;
using reactor::detail::tracer;

namespace {

constexpr size_t kReadChunk = 64 * 1024;
// Edge-triggered only: reads per wake-up before yielding to other descriptors.
constexpr int kReadQuota = 16;

// Second readv target when the connection already has input buffered.
thread_local char t_spill[kReadChunk];

}  // namespace

// One per thread, so one per loop. A connection with nothing buffered reads straight into
// this and hands it to on_message; only bytes the callback leaves unconsumed are copied
// into the connection's own buffer. An idle connection therefore holds no read buffer.
thread_local Buffer detail::t_scratch;
using detail::t_scratch;

// With make_shared's 16-byte control block this is a 72-byte request, an 80-byte heap chunk;
// 8 bytes more and every idle connection pays 16 (see docs/architecture.md, memory).
static_assert(sizeof(void*) != 8 || sizeof(TcpConnection) <= 56, "TcpConnection grew");

TcpConnection::TcpConnection(Private, detail::ConnectionGroup& group, UniqueFd fd)
    : group_(&group), fd_(std::move(fd)) {
  detail::retain(group);
}

TcpConnection::~TcpConnection() {
  if (write_ != WriteState::closed && fd_) group_->loop.unwatch(fd_.get());
  io_.reset();  // a user context goes while its connection's group is still there
  detail::release(group_);
}

// The getters read state the loop thread changes: from another thread they would race.
bool TcpConnection::reading_paused() const {
  loop().assert_in_loop_thread();
  return read_ == ReadState::paused;
}
bool TcpConnection::connected() const {
  loop().assert_in_loop_thread();
  return write_ == WriteState::open;
}
int TcpConnection::fd() const {
  loop().assert_in_loop_thread();
  return fd_.get();
}
EventLoop& TcpConnection::loop() const {
  return group_->loop;
}
InetAddress TcpConnection::local_address() const {
  loop().assert_in_loop_thread();
  return detail::local_address(fd_.get());
}
InetAddress TcpConnection::peer_address() const {
  if (const ProxyHeader* h = proxy_header(); h && h->source) return *h->source;
  return socket_peer_address();
}
InetAddress TcpConnection::socket_peer_address() const {
  loop().assert_in_loop_thread();
  return detail::peer_address(fd_.get());
}
const ProxyHeader* TcpConnection::proxy_header() const {
  loop().assert_in_loop_thread();
  return io_ ? io_->proxy.get() : nullptr;
}
size_t TcpConnection::pending_output() const {
  loop().assert_in_loop_thread();
  return queued();
}
size_t TcpConnection::queued() const {
  return io_ ? io_->output.size() : 0;
}

detail::ConnectionIo& TcpConnection::io() {
  if (!io_) io_ = std::make_unique<detail::ConnectionIo>();
  return *io_;
}

void TcpConnection::maybe_release_io() {
  if (io_ && io_->unused()) io_.reset();
}

void TcpConnection::set_context(std::unique_ptr<ConnectionContext> context) {
  loop().assert_in_loop_thread();
  if (!context && !io_) return;
  io().context = std::move(context);
  maybe_release_io();
}

ConnectionContext* TcpConnection::context_base() const {
  loop().assert_in_loop_thread();
  return io_ ? io_->context.get() : nullptr;
}

void TcpConnection::update_interest() {
  if (write_ == WriteState::closed) return;
  if (io_ && io_->secure) [[unlikely]]
    return loop().set_interest(fd_.get(), secure_interest());
  const bool want_read = read_ == ReadState::reading || read_ == ReadState::discarding;
  uint32_t interest = (want_read ? io::kReadable : 0u) | (queued() ? io::kWritable : 0u);
  loop().set_interest(fd_.get(), interest);
}

// handle_read() and deliver() are forced inline into handle_events(): they run once per
// message, and the calls with their register saves were a measurable part of its cost.
// handle_read() has one caller; deliver() one more (resume_reading's task), which also gets
// a copy.
[[gnu::always_inline]] inline void TcpConnection::deliver(Buffer& input) {
  const bool scratch = &input == &t_scratch;
  if (read_ == ReadState::discarding || !group_->callbacks.on_message) {
    input.clear();  // read only to see the peer's FIN
  } else {
    group_->callbacks.on_message(group_->pointer_to(*this), input);
  }
  // The callback may have closed the connection, which frees io_ (and with it `input`
  // when it was the connection's own buffer): look again through io_, never `input`.
  if (!scratch) {
    if (io_ && io_->input.empty()) {
      io_->input.release_if_empty();
      maybe_release_io();
    }
    return;
  }
  if (!t_scratch.empty()) {
    if (write_ != WriteState::closed) io().input.append(t_scratch.view());
    t_scratch.clear();
  }
}

void TcpConnection::deliver_decrypted(Buffer& input) {
  deliver(input);
}

[[gnu::always_inline]] inline void TcpConnection::handle_read(uint32_t ready) {
  const bool edge = loop().edge_triggered();
  // When the peer's FIN is already queued behind the data, a short read does not mean
  // drained: one more read returns the EOF. Edge-triggered, no later edge would tell us.
  const bool eof_queued = ready & (io::kReadHangup | io::kHangup);
  for (int budget = (edge ? kReadQuota : 1) + (eof_queued ? 1 : 0); budget > 0; --budget) {
    const bool own = io_ && !io_->input.empty();
    Buffer& target = own ? io_->input : t_scratch;
    iovec iov[2];
    iov[0].iov_base = target.prepare(own ? 4096 : kReadChunk);
    iov[0].iov_len = target.writable();
    iov[1].iov_base = t_spill;
    iov[1].iov_len = own ? sizeof t_spill : 0;
    const size_t asked = iov[0].iov_len + iov[1].iov_len;
    // One buffer needs no iovec: read() spares the kernel copying one in.
    ssize_t n = own ? detail::readv(fd_.get(), iov, 2)
                    : detail::read(fd_.get(), iov[0].iov_base, iov[0].iov_len);
    if (n > 0) {
      auto got = static_cast<size_t>(n);
      if (tracer(loop())) [[unlikely]]
        trace_read(got);
      group_->bytes_read.add(got);
      size_t direct = std::min(got, iov[0].iov_len);
      target.commit(direct);
      if (got > direct) target.append(t_spill, got - direct);
      deliver(target);
      // Closed: done. Paused: resume_reading() re-arms.
      if (write_ == WriteState::closed || read_ == ReadState::paused) return;
      if (got < asked && !eof_queued) return;  // a short read: drained
      continue;
    }
    if (n == 0) {
      if (tracer(loop())) [[unlikely]]
        trace_read(0);
      return handle_peer_eof();
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) return;
    return finish(CloseReason::error, detail::last_error());
  }
  // Quota spent with data perhaps left: an edge will not come again for it, so ask the
  // loop to call us next iteration, after the other ready descriptors had their turn.
  if (edge) loop().requeue(fd_.get(), io::kReadable | (eof_queued ? io::kReadHangup : 0u));
}

void TcpConnection::handle_events(uint32_t ready) {
  if (io_ && io_->secure) [[unlikely]]
    return handle_secure_events(ready);
  // Hang-up and error are handled by reading: read() reports the EOF or the error, after
  // any bytes that arrived before it, and does so even while reading is paused.
  if ((ready & io::kReadable && read_ != ReadState::paused) || ready & (io::kHangup | io::kError))
    handle_read(ready);
  if (write_ != WriteState::closed && ready & io::kWritable) handle_write();
}

void TcpConnection::pause_reading() {
  loop().assert_in_loop_thread();
  if (read_ != ReadState::reading) return;
  read_ = ReadState::paused;
  update_interest();
}

void TcpConnection::resume_reading() {
  loop().assert_in_loop_thread();
  if (read_ != ReadState::paused) return;
  read_ = ReadState::reading;
  update_interest();
  // Input that arrived before the pause may hold whole messages the callback left there,
  // and a TLS session may hold records it already took from the socket; no new bytes may
  // come to trigger either, so hand them over again (from the loop, not here).
  if (io_ && (!io_->input.empty() || (io_->secure && io_->secure->has_pending())))
    loop().post([self = shared_from_this()] {
      if (self->read_ != ReadState::reading || !self->io_) return;
      if (!self->io_->input.empty()) self->deliver(self->io_->input);
      if (self->read_ == ReadState::reading && self->io_ && self->io_->secure &&
          self->io_->secure->has_pending())
        self->secure_read();
    });
}

void TcpConnection::handle_peer_eof() {
  if (read_ == ReadState::eof) return;  // a hang-up read it again
  read_ = ReadState::eof;
  if (mode_ == CloseMode::none) mode_ = CloseMode::peer;
  if (write_ == WriteState::shut) return finish(detail::ending_reason(mode_));
  update_interest();
  if (write_ != WriteState::open) return;  // after_flush() finishes once the output is out
  if (group_->callbacks.on_peer_shutdown)
    group_->callbacks.on_peer_shutdown(group_->pointer_to(*this));
  else
    shutdown_in_loop();
}

[[gnu::always_inline]] inline ssize_t TcpConnection::write_some(const char* data, size_t n) {
  if (io_ && io_->secure) [[unlikely]]
    return secure_write_some(data, n);
  const ssize_t w = detail::send(fd_.get(), data, n);
  if (w >= 0) return w;
  if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
  finish(CloseReason::error, detail::last_error());
  return -1;
}

// Forced inline into send(), like handle_read() into handle_events(): once per message.
[[gnu::always_inline]] inline void TcpConnection::write_or_queue(const char* data, size_t n) {
  size_t written = 0;
  if (queued() == 0) {
    const ssize_t w = write_some(data, n);
    if (w < 0) return;
    written = static_cast<size_t>(w);
    group_->bytes_written.add(written);
    if (written == n) {
      if (tracer(loop())) [[unlikely]]
        trace_write(written, 0);
      if (group_->callbacks.on_write_complete) post_write_complete();
      return;
    }
  }
  // Traced before queue_output(): the write comes first, then what it causes (the write
  // interest, a high-water callback).
  if (tracer(loop())) [[unlikely]]
    trace_write(written, queued() + (n - written));
  queue_output(data + written, n - written);
}

// Out of line and cold, so that the hooks on the per-message path are a load and a branch.
void TcpConnection::trace_read(size_t bytes) const {
  if (auto* t = tracer(loop())) t->line("read", {{"fd", fd_.get()}, {"bytes", bytes}});
}
void TcpConnection::trace_write(size_t written, size_t left) const {
  if (auto* t = tracer(loop()))
    t->line("write", {{"fd", fd_.get()}, {"bytes", written}, {"queued", left}});
}

void TcpConnection::send(std::string_view bytes) {
  if (loop().in_loop_thread()) {
    if (write_ == WriteState::open) write_or_queue(bytes.data(), bytes.size());
    return;
  }
  post_send(bytes);
}

void TcpConnection::post_send(std::string_view bytes) {
  loop().post([self = shared_from_this(), data = std::string(bytes)] {
    if (self->write_ == WriteState::open) self->write_or_queue(data.data(), data.size());
  });
}

void TcpConnection::send(Buffer& bytes) {
  send(bytes.view());  // off the loop thread, this copies the bytes into the posted task
  bytes.clear();
}

void TcpConnection::post_write_complete() {
  loop().post([self = shared_from_this()] {
    if (self->write_ != WriteState::closed)
      self->group_->callbacks.on_write_complete(self->group_->pointer_to(*self));
  });
}

void TcpConnection::queue_output(const char* data, size_t n) {
  Buffer& out = io().output;
  const bool was_empty = out.empty();
  out.append(data, n);
  if (was_empty) update_interest();
  const ConnectionCallbacks& cb = group_->callbacks;
  if (!high_water_ && out.size() >= group_->options.high_water_mark) {
    high_water_ = true;
    if (cb.on_high_water) cb.on_high_water(group_->pointer_to(*this), out.size());
  }
}

void TcpConnection::handle_write() {
  if (queued() == 0) {
    // TLS: a close_notify the socket did not take at once.
    if (io_ && io_->secure && io_->secure->notify_pending) return after_flush();
    return update_interest();
  }
  Buffer& out = io_->output;
  const ssize_t w = write_some(out.data(), out.size());
  if (w <= 0) {
    // A TLS session may wait for the other readiness than the one that brought us here.
    if (w == 0 && io_ && io_->secure) update_interest();
    return;
  }
  out.consume(static_cast<size_t>(w));
  group_->bytes_written.add(static_cast<size_t>(w));
  if (tracer(loop())) [[unlikely]]
    trace_write(static_cast<size_t>(w), out.size());
  const ConnectionCallbacks& cb = group_->callbacks;
  if (high_water_ && out.size() <= group_->options.low_water_mark) {
    high_water_ = false;
    if (cb.on_low_water) cb.on_low_water(group_->pointer_to(*this));
    if (write_ == WriteState::closed) return;
  }
  if (!io_ || !io_->output.empty()) return;
  io_->output.release_if_empty();
  maybe_release_io();
  update_interest();
  if (write_ == WriteState::open) {
    if (cb.on_write_complete) cb.on_write_complete(group_->pointer_to(*this));
  } else {
    after_flush();
  }
}

// The "flushed" rows (src/net/connection_state.h): no output is queued while the write
// side is flushing or shut.
void TcpConnection::after_flush() {
  if (io_ && io_->secure && !secure_close_notify()) return;  // handle_write() comes back
  if (mode_ == CloseMode::no_linger && !detail::input_waiting(fd_.get()))
    return finish(CloseReason::local);
  if (write_ == WriteState::flushing) {
    ::shutdown(fd_.get(), SHUT_WR);
    write_ = WriteState::shut;
    if (group_->callbacks.on_write_closed) {
      group_->callbacks.on_write_closed(group_->pointer_to(*this));
      if (write_ == WriteState::closed) return;  // the callback aborted it
    }
  }
  if (read_ == ReadState::eof) finish(detail::ending_reason(mode_));
}

void TcpConnection::shutdown() {
  loop().dispatch([self = shared_from_this()] { self->shutdown_in_loop(); });
}

void TcpConnection::shutdown_in_loop() {
  if (write_ != WriteState::open) return;
  write_ = WriteState::flushing;
  if (mode_ == CloseMode::none) mode_ = CloseMode::shutdown;
  if (queued() == 0) after_flush();
}

void TcpConnection::close(Linger linger) {
  loop().dispatch([self = shared_from_this(), linger] { self->close_in_loop(linger); });
}

void TcpConnection::close_in_loop(Linger linger) {
  if (write_ == WriteState::closed) return;
  switch (mode_) {
    case CloseMode::none:
    case CloseMode::shutdown:
      // Linger::none: the kernel sends what it holds, then its FIN; only unread input would
      // turn the close into a reset, and this peer promised to send nothing more. If bytes
      // came anyway (a stray CRLF after a body, say), after_flush() lingers after all.
      mode_ = linger == Linger::none ? CloseMode::no_linger : CloseMode::close;
      break;
    case CloseMode::peer:
      mode_ = CloseMode::peer_then_close;  // nothing left to read: linger changes nothing
      break;
    default:
      return;  // closing already
  }
  if (read_ != ReadState::eof) read_ = ReadState::discarding;  // read on to see the FIN
  if (write_ == WriteState::open) write_ = WriteState::flushing;
  update_interest();
  if (queued() == 0) after_flush();
  if (write_ == WriteState::closed) return;
  std::weak_ptr<TcpConnection> weak = weak_from_this();
  io().close_timer = loop().run_after(group_->options.close_timeout, [weak] {
    auto self = weak.lock();
    if (!self) return;
    self->io_->close_timer = {};
    if (self->queued() == 0) return self->finish(CloseReason::local);
    detail::set_linger_zero(self->fd_.get());
    self->finish(CloseReason::timeout, Errc::close_timed_out);
  });
}

void TcpConnection::abort() {
  loop().dispatch([self = shared_from_this()] {
    if (self->write_ == WriteState::closed) return;
    detail::set_linger_zero(self->fd_.get());
    self->finish(CloseReason::aborted);
  });
}

void TcpConnection::finish(CloseReason reason, std::error_code error) {
  if (write_ == WriteState::closed) return;
  if (auto* t = tracer(loop())) [[unlikely]]
    t->line("close", {{"fd", fd_.get()}, {"reason", to_string(reason)}});
  write_ = WriteState::closed;
  const bool truncated = io_ && io_->secure && io_->secure->truncated;
  // A TLS connection whose handshake failed was never reported: nobody is told of its end.
  const bool unborn = io_ && io_->secure && end_secure(reason);
  if (!unborn) group_->closed[static_cast<size_t>(reason)].add(1);
  const size_t unsent = queued();
  const size_t unread = io_ ? io_->input.size() : 0;
  if (io_) {
    // The buffers and the timer go now; a user context stays until the connection goes.
    if (io_->close_timer) loop().cancel(io_->close_timer);
    io_->close_timer = {};
    io_->input = Buffer();
    io_->output = Buffer();
    maybe_release_io();
  }
  loop().unwatch(fd_.get());
  // A copy, not a reference into the group's list: on_close may destroy the server or
  // client, whose teardown drops the group's references at once.
  const TcpConnectionPtr self = group_->pointer_to(*this);
  if (unborn) {
    if (group_->on_handshake_failed) group_->on_handshake_failed(error);
  } else if (group_->callbacks.on_close) {
    group_->callbacks.on_close(self, {reason, error, unsent, unread, truncated});
  }
  // Released only after on_close: whatever it runs (coroutines resumed with the close's
  // error, say) cannot be handed this descriptor's number by a new socket.
  fd_.reset();
  // Destroyed after the current batch of events, never under a running handler.
  loop().post([keep = self] { keep->group_->remove(*keep); });
}

std::string_view to_string(CloseReason reason) {
  switch (reason) {
    case CloseReason::peer:
      return "peer";
    case CloseReason::local:
      return "local";
    case CloseReason::aborted:
      return "aborted";
    case CloseReason::error:
      return "error";
    case CloseReason::timeout:
      return "timeout";
  }
  return "?";
}

}  // namespace reactor::net
