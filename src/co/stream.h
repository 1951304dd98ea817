#pragma once
// The coroutine side of one TCP connection: what co::Connection's awaitables wait on.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <system_error>

#include "reactor/co/connection.h"
#include "reactor/co/detail/runtime.h"
#include "reactor/net/tcp_client.h"
#include "reactor/net/tcp_connection.h"

namespace reactor::co::detail {

/// A TcpConnection's context while coroutines drive it: the awaiters parked on it (one read,
/// one write or close) and what the connection told so far. The connection owns it; its
/// callbacks (callbacks()) route every event here. A connection made by co::connect also
/// owns its TcpClient here. Loop thread only.
///
/// Reading never copies into a buffer of its own: bytes stay in the connection's input
/// until a read takes them, and bytes that find no reader stop the reading, so the next
/// ones wait in the kernel (back-pressure on the peer):
///
///   read side  event                          next      effect
///   flowing    bytes left, no reader parked   paused    pause_reading()
///   paused     a reader parks                 flowing   resume_reading(): re-delivers them
///   any        the peer's FIN                 ended     a parked reader ends (end of stream)
///
///   write side  event                         next      effect
///   open        on_high_water                 full
///   full        on_low_water                  open      the parked writer resumes
///   open, full  shutdown()                    shutting
///   shutting    on_write_closed               shut      the parked shutdown resumes
///   any         close(), abort()              closing   (a close by this layer)
///
/// on_close ends both sides: everything parked resumes, inside the close itself (before
/// the descriptor is released), with what read_end() / write_end() say.
class Stream final : public net::ConnectionContext, private LoopBound {
 public:
  explicit Stream(net::TcpConnection& tcp) : tcp_(tcp) {}
  ~Stream() override;

  /// Makes a Stream the context of `tcp` and returns the one handle to it.
  static Connection attach(const net::TcpConnectionPtr& tcp);
  /// Callbacks that route a connection's events to its Stream (set by attach() in
  /// `on_connect`, which must attach before returning).
  static net::ConnectionCallbacks callbacks(
      std::function<void(const net::TcpConnectionPtr&)> on_connect);
  static Stream& of(const net::TcpConnection& tcp) { return *tcp.context<Stream>(); }

  /// Keeps the TcpClient that made this connection until the connection is destroyed.
  void own(std::unique_ptr<net::TcpClient> client);
  /// A close or an abort by this layer: a reader then ends with operation_canceled.
  void close(net::Linger linger);
  void abort();

  net::TcpConnection& tcp() const { return tcp_; }

  // For the awaiters (connection.cc).
  enum class ReadSide : uint8_t { flowing, paused, ended };
  enum class WriteSide : uint8_t { open, full, shutting, shut, closing };
  /// Bytes at hand: the input on_message is handing over right now, or null.
  net::Buffer* input() const { return input_; }
  bool closed() const { return closed_.has_value(); }
  const net::CloseInfo& close_info() const { return *closed_; }
  bool read_ended() const { return closed_ || read_ == ReadSide::ended; }
  /// Why reading ended: empty for the peer's end of stream, else the error to throw.
  std::error_code read_end() const;
  bool writable() const {
    return !closed_ && (write_ == WriteSide::open || write_ == WriteSide::full);
  }
  bool write_full() const { return write_ == WriteSide::full; }
  /// Why a write cannot go on (closed, or our side shut down or closing).
  std::error_code write_end() const;
  WriteSide write_side() const { return write_; }
  void set_write_side(WriteSide side) { write_ = side; }

  void park(Connection::ReadAwaiter& reader);
  void unpark(Connection::ReadAwaiter& reader) noexcept;
  void park(Connection::WriteAwaiter& writer) { writer_ = &writer; }
  void unpark(Connection::WriteAwaiter& writer) noexcept;
  void park(Connection::CloseAwaiter& closer) { closer_ = &closer; }
  void unpark(Connection::CloseAwaiter& closer) noexcept;
  /// One read and one write or close at a time (REACTOR_CHECK).
  void check_no_reader() const;
  void check_no_writer() const;

 private:
  void on_message(net::Buffer& input);
  void on_peer_shutdown();
  void on_high_water();
  void on_low_water();
  void on_write_closed();
  void on_close(const net::CloseInfo& info);
  void end_with_loop() noexcept override;
  /// Stops reading while bytes wait and nobody reads them.
  void hold_input();

  net::TcpConnection& tcp_;  // the owner
  net::Buffer* input_ = nullptr;
  Connection::ReadAwaiter* reader_ = nullptr;
  Connection::WriteAwaiter* writer_ = nullptr;
  Connection::CloseAwaiter* closer_ = nullptr;
  std::unique_ptr<net::TcpClient> client_;
  Runtime* runtime_ = nullptr;  // where client_ is bound
  std::optional<net::CloseInfo> closed_;
  std::size_t buffered_ = 0;  // input left unread when on_message last returned
  ReadSide read_ = ReadSide::flowing;
  WriteSide write_ = WriteSide::open;
};

}  // namespace reactor::co::detail
