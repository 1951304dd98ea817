#include "co/stream.h"

#include <utility>

#include "core/check.h"
#include "reactor/core/error.h"

namespace reactor::co::detail {

Stream::~Stream() {
  // The connection is going (so it is closed): its client can go too. Never earlier: a
  // TcpClient resets its connection when destroyed.
  if (client_) {
    runtime_->unbind(*this);
    client_.reset();
  }
}

Connection Stream::attach(const net::TcpConnectionPtr& tcp) {
  tcp->set_context(std::make_unique<Stream>(*tcp));
  return Connection(tcp);
}

net::ConnectionCallbacks Stream::callbacks(
    std::function<void(const net::TcpConnectionPtr&)> on_connect) {
  using Ptr = const net::TcpConnectionPtr&;
  net::ConnectionCallbacks cb;
  cb.on_connect = std::move(on_connect);
  cb.on_message = [](Ptr c, net::Buffer& input) { of(*c).on_message(input); };
  // Set, so that the peer's FIN does not shut our side: the coroutine reads the end of
  // the stream and may still write before it closes (or drops the Connection).
  cb.on_peer_shutdown = [](Ptr c) { of(*c).on_peer_shutdown(); };
  cb.on_high_water = [](Ptr c, std::size_t) { of(*c).on_high_water(); };
  cb.on_low_water = [](Ptr c) { of(*c).on_low_water(); };
  cb.on_write_closed = [](Ptr c) { of(*c).on_write_closed(); };
  cb.on_close = [](Ptr c, const net::CloseInfo& info) { of(*c).on_close(info); };
  return cb;
}

void Stream::own(std::unique_ptr<net::TcpClient> client) {
  client_ = std::move(client);
  runtime_ = &Runtime::of(tcp_.loop());
  runtime_->bind(*this);
}

void Stream::end_with_loop() noexcept {
  // Already unbound. Resets the connection if it is still open; nothing waits on it any
  // more (the loop's coroutines are gone), so its close resumes nobody.
  client_.reset();
}

void Stream::close(net::Linger linger) {
  if (closed_) return;
  write_ = WriteSide::closing;
  tcp_.close(linger);
}

void Stream::abort() {
  if (closed_) return;
  write_ = WriteSide::closing;
  tcp_.abort();
}

std::error_code Stream::read_end() const {
  if (read_ == ReadSide::ended) return {};
  // Bytes the connection received but this stream never handed out (they waited, reading
  // paused, when the peer's FIN ended a connection we had shut down): not a clean end.
  const std::error_code clean_end =
      closed_->unread > 0 ? make_error_code(Errc::input_discarded) : std::error_code();
  switch (closed_->reason) {
    case net::CloseReason::peer:
      return clean_end;
    case net::CloseReason::local:
      // Without a close of ours, a local ending is our shutdown() followed by the peer's FIN.
      if (write_ != WriteSide::closing) return clean_end;
      break;
    case net::CloseReason::error:
      return closed_->error;
    case net::CloseReason::aborted:
    case net::CloseReason::timeout:
      break;
  }
  return std::make_error_code(std::errc::operation_canceled);
}

std::error_code Stream::write_end() const {
  if (closed_ && closed_->reason == net::CloseReason::error) return closed_->error;
  return std::make_error_code(std::errc::operation_canceled);
}

void Stream::check_no_reader() const {
  REACTOR_CHECK(!reader_, "co::Connection: a read is already waiting (one at a time)");
}

void Stream::check_no_writer() const {
  REACTOR_CHECK(!writer_ && !closer_,
                "co::Connection: a write, shutdown or close is already waiting (one at a time)");
}

void Stream::park(Connection::ReadAwaiter& reader) {
  reader_ = &reader;
  if (read_ == ReadSide::paused) {
    read_ = ReadSide::flowing;
    tcp_.resume_reading();  // hands what waits in the input to on_message, posted
  }
}

void Stream::unpark(Connection::ReadAwaiter& reader) noexcept {
  if (reader_ != &reader) return;
  reader_ = nullptr;
  // Inside on_message, its end decides; outside, bytes a cancelled read_exactly or
  // read_until left waiting must stop the reading like any unread bytes.
  if (!input_) hold_input();
}

void Stream::unpark(Connection::WriteAwaiter& writer) noexcept {
  if (writer_ == &writer) writer_ = nullptr;
}

void Stream::unpark(Connection::CloseAwaiter& closer) noexcept {
  if (closer_ == &closer) closer_ = nullptr;
}

void Stream::hold_input() {
  if (buffered_ == 0 || read_ != ReadSide::flowing || closed_) return;
  read_ = ReadSide::paused;
  tcp_.pause_reading();
}

// The hot path of a coroutine echo: one take() (a memcpy into the reader's span) and the
// reader resumed right here. The resumed coroutine may await its next read before control
// comes back; while input_ is set, that read takes from `input` at once (await_ready), so
// a burst of small messages is read without a suspension each. It may also close the
// connection, which empties the connection's buffer (or leaves the loop's scratch buffer
// to be dropped): closed_ stops both this loop and the reads.
void Stream::on_message(net::Buffer& input) {
  input_ = &input;
  while (reader_ && !input.empty()) {
    Connection::ReadAwaiter& reader = *reader_;
    if (!reader.take(input)) break;  // a read_exactly or read_until that needs more
    reader_ = nullptr;
    reader.complete();
  }
  input_ = nullptr;
  buffered_ = input.size();
  if (!reader_) hold_input();
}

// Every byte before the FIN was handed to on_message already. A reader parked now had
// them all and still wants more: it ends, and what it could not use is dropped.
void Stream::on_peer_shutdown() {
  read_ = ReadSide::ended;
  if (auto* reader = std::exchange(reader_, nullptr)) {
    reader->end({});
    reader->complete();
  }
}

void Stream::on_high_water() {
  if (write_ == WriteSide::open) write_ = WriteSide::full;
}

void Stream::on_low_water() {
  if (write_ == WriteSide::full) write_ = WriteSide::open;
  if (auto* writer = std::exchange(writer_, nullptr)) {
    writer->complete_ = true;
    writer->complete();
  }
}

void Stream::on_write_closed() {
  if (write_ == WriteSide::shutting) write_ = WriteSide::shut;
  if (closer_ && closer_->mode_ == Connection::CloseAwaiter::Mode::shutdown) {
    auto* closer = std::exchange(closer_, nullptr);
    closer->complete_ = true;
    closer->complete();
  }
}

// Runs inside TcpConnection::finish(), before the descriptor is released and the
// connection's removal posted, so every coroutine waiting here has resumed before its
// server lets go of the connection (a drain's `done` comes after them). Each resumption may park or cancel the others:
// re-read the slots every time.
void Stream::on_close(const net::CloseInfo& info) {
  closed_ = info;
  if (auto* reader = std::exchange(reader_, nullptr)) {
    reader->end(read_end());
    reader->complete();
  }
  if (auto* writer = std::exchange(writer_, nullptr)) {
    writer->error_ = write_end();
    writer->complete_ = true;
    writer->complete();
  }
  if (auto* closer = std::exchange(closer_, nullptr)) {
    closer->info_ = info;
    closer->complete_ = true;
    closer->complete();
  }
}

}  // namespace reactor::co::detail
