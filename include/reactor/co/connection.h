#pragma once
// co::Connection: a TCP connection driven by coroutines.
#include <cstddef>
#include <span>
#include <stop_token>
#include <string>
#include <string_view>
#include <system_error>

#include "reactor/co/detail/waiter.h"
#include "reactor/co/task.h"
#include "reactor/net/tcp_connection.h"

namespace reactor::co {

namespace detail {
class Stream;  // the connection's coroutine side (its ConnectionContext), src/co/stream.h
}

/// A TCP connection driven by coroutines: the same TcpConnection, buffers, back-pressure
/// and close semantics as the callback layer, with awaitables instead of callbacks. At
/// most one read and one write (or shutdown/close) may be awaited at a time. Move-only;
/// loop thread only (the connection's loop). Dropping the last handle to an open
/// connection closes it gracefully (close(), not awaited); dropping it while an exception
/// unwinds resets it (abort()).
///
/// Every awaitable takes a std::stop_token and also stops with the task's own scope
/// (when_any, Spawned::request_stop); a stopped wait throws
/// std::system_error(std::errc::operation_canceled) and takes nothing from the stream (a
/// stopped write, shutdown or close stops waiting; what it began goes on). When the
/// connection closes, every coroutine waiting on it resumes from the close itself, before
/// its descriptor is released (no new socket can take the number meanwhile), with operation_canceled (closed locally), the
/// connection's error (reset, I/O error), or end of stream (the peer's FIN).
class Connection {
 public:
  Connection() = default;
  Connection(Connection&& other) noexcept;
  Connection& operator=(Connection&& other) noexcept;
  ~Connection();

  explicit operator bool() const { return tcp_ != nullptr; }

  class ReadAwaiter;
  class WriteAwaiter;
  class CloseAwaiter;

  /// → size_t: copies what is buffered (at least one byte) into `into`; waits while
  /// nothing is. 0 means the peer ended its stream (FIN) and everything was read.
  ReadAwaiter read_some(std::span<char> into, std::stop_token token = {});
  /// → size_t (into.size()): fills `into` completely. Throws Errc::end_of_stream if the
  /// peer ends first (the incomplete rest is dropped). Bytes stay in the connection until
  /// all of them are there.
  ReadAwaiter read_exactly(std::span<char> into, std::stop_token token = {});
  /// → size_t: appends to `out` up to and including the first `delimiter`, and returns how
  /// many bytes that was. Throws Errc::delimiter_not_found once `max` bytes came without
  /// it (nothing is consumed then), Errc::end_of_stream if the peer ends first (the
  /// incomplete rest is dropped). `delimiter` must not be empty.
  ReadAwaiter read_until(std::string& out, std::string_view delimiter, std::size_t max,
                         std::stop_token token = {});
  /// → void: queues a copy of `bytes`. Completes at once while pending output stays below
  /// the high-water mark; otherwise once it has fallen to the low-water mark, so a peer
  /// that does not read holds the writer, not our memory. Throws if the connection closes
  /// first (operation_canceled, or its error).
  WriteAwaiter write(std::string_view bytes, std::stop_token token = {});
  /// → void: closes the write half once queued output is flushed; completes then.
  CloseAwaiter shutdown(std::stop_token token = {});
  /// → net::CloseInfo: TcpConnection::close(linger); completes when the connection closed.
  CloseAwaiter close(net::Linger linger = net::Linger::until_peer_fin, std::stop_token token = {});
  /// Resets at once (TcpConnection::abort()); waiting coroutines resume with operation_canceled.
  void abort();

  /// The underlying connection: addresses, pending_output(), loop(), stats.
  net::TcpConnection& tcp() const { return *tcp_; }
  EventLoop& loop() const { return tcp_->loop(); }
  net::InetAddress peer_address() const { return tcp_->peer_address(); }
  net::InetAddress local_address() const { return tcp_->local_address(); }

 private:
  friend class detail::Stream;
  explicit Connection(net::TcpConnectionPtr tcp);
  detail::Stream& stream() const;

  net::TcpConnectionPtr tcp_;
  detail::Stream* stream_ = nullptr;  // tcp_'s context, kept at hand for the hot paths
};

// The awaitables live in the awaiting coroutine's frame: awaiting allocates nothing.

class Connection::ReadAwaiter final : public detail::Waiter {
 public:
  ReadAwaiter(ReadAwaiter&&) = default;  // only before it is awaited
  ~ReadAwaiter() {
    if (!complete_) unpark();
  }
  bool await_ready();
  template <class P>
  bool await_suspend(std::coroutine_handle<P> awaiting) {
    return park(detail::context_of(awaiting), awaiting);
  }
  std::size_t await_resume() {
    throw_if_cancelled();
    if (error_) [[unlikely]]
      throw_error();
    return done_;
  }

 private:
  friend class Connection;
  friend class detail::Stream;
  enum class Mode : uint8_t { some, exactly, until };
  void unpark() noexcept;
  [[noreturn]] void throw_error() const;
  ReadAwaiter(detail::Stream& stream, Mode mode, std::stop_token token);
  bool park(const detail::Context& context, std::coroutine_handle<> handle);
  void stop_waiting() noexcept override;
  /// Takes what it can from `input`; true once the read is complete (or failed).
  bool take(net::Buffer& input);
  /// Ends the read without data: the peer's end of stream (`why` empty), or an error.
  void end(std::error_code why);

  detail::Stream* stream_;
  std::stop_token token_;
  std::span<char> into_;
  std::string* out_ = nullptr;
  std::string_view delimiter_;
  std::size_t max_ = 0;
  std::size_t done_ = 0;  // the result; while read_until waits, how far it has searched
  std::error_code error_;
  Mode mode_;
  bool complete_ = false;
};

class Connection::WriteAwaiter final : public detail::Waiter {
 public:
  WriteAwaiter(WriteAwaiter&&) = default;  // only before it is awaited
  ~WriteAwaiter() {
    if (!complete_) unpark();
  }
  bool await_ready();
  template <class P>
  bool await_suspend(std::coroutine_handle<P> awaiting) {
    return park(detail::context_of(awaiting), awaiting);
  }
  void await_resume() {
    throw_if_cancelled();
    if (error_) [[unlikely]]
      throw std::system_error(error_);
  }

 private:
  friend class Connection;
  friend class detail::Stream;
  void unpark() noexcept;
  WriteAwaiter(detail::Stream& stream, std::string_view bytes, std::stop_token token);
  bool park(const detail::Context& context, std::coroutine_handle<> handle);
  void stop_waiting() noexcept override;

  detail::Stream* stream_;
  std::stop_token token_;
  std::string_view bytes_;
  std::error_code error_;
  bool complete_ = false;
};

class Connection::CloseAwaiter final : public detail::Waiter {
 public:
  CloseAwaiter(CloseAwaiter&&) = default;  // only before it is awaited
  ~CloseAwaiter();
  bool await_ready();
  template <class P>
  bool await_suspend(std::coroutine_handle<P> awaiting) {
    return park(detail::context_of(awaiting), awaiting);
  }
  /// shutdown(): the CloseInfo is meaningless (reason local); close(): how it ended.
  net::CloseInfo await_resume();

 private:
  friend class Connection;
  friend class detail::Stream;
  enum class Mode : uint8_t { shutdown, close };
  CloseAwaiter(detail::Stream& stream, Mode mode, net::Linger linger, std::stop_token token);
  bool park(const detail::Context& context, std::coroutine_handle<> handle);
  void stop_waiting() noexcept override;

  detail::Stream* stream_;
  std::stop_token token_;
  net::CloseInfo info_{net::CloseReason::local, {}, 0};
  Mode mode_;
  net::Linger linger_;
  bool complete_ = false;
};

}  // namespace reactor::co
