#include "reactor/co/connection.h"

#include <algorithm>
#include <cstring>
#include <exception>
#include <system_error>
#include <utility>

#include "co/stream.h"
#include "core/check.h"
#include "reactor/core/error.h"

namespace reactor::co {

using detail::Stream;

Connection::Connection(net::TcpConnectionPtr tcp)
    : tcp_(std::move(tcp)), stream_(&Stream::of(*tcp_)) {}

Connection::Connection(Connection&& other) noexcept
    : tcp_(std::move(other.tcp_)), stream_(std::exchange(other.stream_, nullptr)) {}

Connection& Connection::operator=(Connection&& other) noexcept {
  if (this != &other) {
    if (tcp_) stream().close(net::Linger::until_peer_fin);
    tcp_ = std::move(other.tcp_);
    stream_ = std::exchange(other.stream_, nullptr);
  }
  return *this;
}

// Connections are move-only, so this is the one handle: nobody can await the connection
// any more, and it ends as close() ends it (a no-op once closed). Dropped by an exception
// (a handler that throws, whose frame unwinds), it stopped mid-exchange: a graceful close
// would pass a half-made reply off as complete, so it resets.
Connection::~Connection() {
  if (!tcp_) return;
  if (std::uncaught_exceptions() > 0)
    stream().abort();
  else
    stream().close(net::Linger::until_peer_fin);
}

Stream& Connection::stream() const {
  REACTOR_CHECK(stream_, "co::Connection: used after a move (or default-constructed)");
  return *stream_;
}

Connection::ReadAwaiter Connection::read_some(std::span<char> into, std::stop_token token) {
  REACTOR_CHECK(!into.empty(), "co::Connection::read_some: the span is empty");
  ReadAwaiter read(stream(), ReadAwaiter::Mode::some, std::move(token));
  read.into_ = into;
  return read;
}

Connection::ReadAwaiter Connection::read_exactly(std::span<char> into, std::stop_token token) {
  ReadAwaiter read(stream(), ReadAwaiter::Mode::exactly, std::move(token));
  read.into_ = into;
  return read;
}

Connection::ReadAwaiter Connection::read_until(std::string& out, std::string_view delimiter,
                                               std::size_t max, std::stop_token token) {
  REACTOR_CHECK(!delimiter.empty(), "co::Connection::read_until: the delimiter is empty");
  ReadAwaiter read(stream(), ReadAwaiter::Mode::until, std::move(token));
  read.out_ = &out;
  read.delimiter_ = delimiter;
  read.max_ = max;
  return read;
}

Connection::WriteAwaiter Connection::write(std::string_view bytes, std::stop_token token) {
  return WriteAwaiter(stream(), bytes, std::move(token));
}

Connection::CloseAwaiter Connection::shutdown(std::stop_token token) {
  return CloseAwaiter(stream(), CloseAwaiter::Mode::shutdown, net::Linger::until_peer_fin,
                      std::move(token));
}

Connection::CloseAwaiter Connection::close(net::Linger linger, std::stop_token token) {
  return CloseAwaiter(stream(), CloseAwaiter::Mode::close, linger, std::move(token));
}

void Connection::abort() {
  stream().abort();
}

// ---- reads -------------------------------------------------------------------------------

Connection::ReadAwaiter::ReadAwaiter(Stream& stream, Mode mode, std::stop_token token)
    : stream_(&stream), token_(std::move(token)), mode_(mode) {}

void Connection::ReadAwaiter::unpark() noexcept {
  stream_->unpark(*this);
}

// Completes at once only when bytes are at hand (inside on_message) or the stream ended;
// otherwise the bytes are in the kernel or in a paused connection's input, and only a
// parked reader gets them (re-delivered by resume_reading).
bool Connection::ReadAwaiter::await_ready() {
  Stream& stream = *stream_;
  stream.check_no_reader();
  if (token_.stop_requested()) return false;  // arm() reports it
  if (mode_ == Mode::exactly && into_.empty()) return complete_ = true;
  if (stream.input() && !stream.closed() && take(*stream.input())) return true;
  if (!stream.read_ended()) return false;
  end(stream.read_end());
  return true;
}

bool Connection::ReadAwaiter::park(const detail::Context& context, std::coroutine_handle<> handle) {
  if (!arm(context, handle, token_)) return false;
  stream_->park(*this);
  return true;
}

// Unparked for good: the destructor must not reach for a stream that may be gone by the
// time the posted cancellation resumes the coroutine.
void Connection::ReadAwaiter::stop_waiting() noexcept {
  stream_->unpark(*this);
  complete_ = true;
}

void Connection::ReadAwaiter::throw_error() const {
  throw std::system_error(error_);
}

// read_exactly and read_until consume nothing until they are complete: a cancelled or
// failed one leaves the stream as it found it.
bool Connection::ReadAwaiter::take(net::Buffer& input) {
  std::size_t n = 0;
  switch (mode_) {
    case Mode::some:
      n = std::min(input.size(), into_.size());
      if (n == 0) return false;
      std::memcpy(into_.data(), input.data(), n);
      break;
    case Mode::exactly:
      n = into_.size();
      if (input.size() < n) return false;
      std::memcpy(into_.data(), input.data(), n);
      break;
    case Mode::until: {
      // Only a delimiter that ends within the first max_ bytes counts. Each call searches
      // on from where the last stopped (a delimiter may straddle the two).
      const std::string_view seen = input.view().substr(0, max_);
      const std::size_t overlap = delimiter_.size() - 1;
      const std::size_t at = seen.find(delimiter_, done_ > overlap ? done_ - overlap : 0);
      if (at == std::string_view::npos) {
        if (input.size() < max_) {
          done_ = seen.size();
          return false;
        }
        error_ = Errc::delimiter_not_found;
        return complete_ = true;
      }
      n = at + delimiter_.size();
      out_->append(seen.data(), n);
      break;
    }
  }
  input.consume(n);
  done_ = n;
  return complete_ = true;
}

void Connection::ReadAwaiter::end(std::error_code why) {
  complete_ = true;
  done_ = 0;
  if (why)
    error_ = why;
  else if (mode_ != Mode::some)
    error_ = Errc::end_of_stream;
}

// ---- writes ------------------------------------------------------------------------------

Connection::WriteAwaiter::WriteAwaiter(Stream& stream, std::string_view bytes,
                                       std::stop_token token)
    : stream_(&stream), token_(std::move(token)), bytes_(bytes) {}

void Connection::WriteAwaiter::unpark() noexcept {
  stream_->unpark(*this);
}

// The bytes are queued here, whatever follows: a write that must wait for the queue to
// fall has already handed them over, and stopping it stops only the wait.
bool Connection::WriteAwaiter::await_ready() {
  Stream& stream = *stream_;
  stream.check_no_writer();
  if (token_.stop_requested()) return false;                            // arm() reports it
  if (stream.writable() && !bytes_.empty()) stream.tcp().send(bytes_);  // may close it (error)
  if (!stream.writable()) {
    error_ = stream.write_end();
    return complete_ = true;
  }
  if (stream.write_full()) return false;  // on_high_water came: wait for on_low_water
  return complete_ = true;
}

bool Connection::WriteAwaiter::park(const detail::Context& context,
                                    std::coroutine_handle<> handle) {
  if (!arm(context, handle, token_)) return false;
  stream_->park(*this);
  return true;
}

void Connection::WriteAwaiter::stop_waiting() noexcept {
  stream_->unpark(*this);
  complete_ = true;  // as for a read
}


// ---- shutdown and close ------------------------------------------------------------------

Connection::CloseAwaiter::CloseAwaiter(Stream& stream, Mode mode, net::Linger linger,
                                       std::stop_token token)
    : stream_(&stream), token_(std::move(token)), mode_(mode), linger_(linger) {}

Connection::CloseAwaiter::~CloseAwaiter() {
  if (!complete_) stream_->unpark(*this);
}

// Like a write, the shutdown or close begins here; a stop ends only the wait for it.
bool Connection::CloseAwaiter::await_ready() {
  Stream& stream = *stream_;
  stream.check_no_writer();
  if (token_.stop_requested()) return false;  // arm() reports it
  if (mode_ == Mode::close) {
    stream.close(linger_);
  } else if (stream.writable()) {
    stream.set_write_side(Stream::WriteSide::shutting);
    stream.tcp().shutdown();  // flushed already: our FIN goes (on_write_closed) right here
  }
  if (stream.closed()) {
    info_ = stream.close_info();
    return complete_ = true;
  }
  return complete_ = mode_ == Mode::shutdown && stream.write_side() == Stream::WriteSide::shut;
}

bool Connection::CloseAwaiter::park(const detail::Context& context,
                                    std::coroutine_handle<> handle) {
  if (!arm(context, handle, token_)) return false;
  stream_->park(*this);
  return true;
}

void Connection::CloseAwaiter::stop_waiting() noexcept {
  stream_->unpark(*this);
  complete_ = true;  // as for a read
}

// A close reports how the connection ended, whatever it was; a shutdown succeeds if what
// it flushed went out (the connection may have closed since: peer or local).
net::CloseInfo Connection::CloseAwaiter::await_resume() {
  throw_if_cancelled();
  if (mode_ == Mode::shutdown) {
    if (info_.reason == net::CloseReason::error) throw std::system_error(info_.error);
    if (info_.reason == net::CloseReason::aborted || info_.reason == net::CloseReason::timeout)
      detail::throw_canceled();
  }
  return info_;
}

}  // namespace reactor::co
