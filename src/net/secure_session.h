#pragma once
// One connection's TLS session, as TcpConnection drives it (src/net/secure_io.cc). net
// defines this interface; reactor_tls implements it on OpenSSL (src/tls/tls_session.cc).
// The session reads and writes the socket itself (OpenSSL's socket BIO), so ciphertext
// never passes through the connection's buffers: they hold plaintext only, and the
// back-pressure marks count plaintext bytes, as for a plain connection.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <system_error>

#include "reactor/core/timer_id.h"

namespace reactor::net::detail {

class SecureSession {
 public:
  virtual ~SecureSession() = default;

  enum class Status : uint8_t {
    done,        ///< the call did what it was asked (read or wrote `bytes`)
    want_read,   ///< it waits for the socket to become readable
    want_write,  ///< it waits for the socket to become writable
    closed,      ///< the peer sent close_notify: a clean end of its stream
    truncated,   ///< the peer's stream ended (TCP FIN) without close_notify
    failed,      ///< a protocol, verification or I/O error: see error()
  };
  struct Result {
    Status status;
    size_t bytes = 0;
  };

  /// Advances the handshake; done once it is complete.
  virtual Result handshake() = 0;
  /// Decrypts into `dst` (at most one record's worth per call).
  virtual Result read(char* dst, size_t n) = 0;
  /// Bytes already taken from the socket that read() can process without it: a
  /// level-triggered loop will not wake for them, an edge-triggered one even less.
  virtual bool has_pending() const = 0;
  /// Encrypts and sends from `src`; may write less than `n` (whole records). After
  /// want_write, call again with the same bytes first (more may follow them).
  virtual Result write(const char* src, size_t n) = 0;
  /// Sends close_notify (once): done, want_write (call again), or failed.
  virtual Result close_notify() = 0;
  /// Why the last call failed, with OpenSSL's error queue drained into it.
  virtual std::error_code error() const = 0;
  /// After the handshake: whether it resumed an earlier session, and the ALPN protocol
  /// chosen (empty: none).
  virtual bool resumed() const = 0;
  virtual std::string_view alpn() const = 0;
  /// The negotiated version, "TLSv1.3" or "TLSv1.2" (trace mode, logs).
  virtual std::string_view version() const = 0;

  // The connection's bookkeeping (src/net/secure_io.cc), kept here so that TcpConnection
  // stays small and a plain connection pays nothing for it.
  TimerId handshake_timer;
  bool established = false;
  bool read_wants_write = false;  ///< the last handshake() or read() returned want_write
  bool write_wants_read = false;  ///< the last write() returned want_read
  bool notify_pending = false;    ///< close_notify is half sent: finish it when writable
  bool notify_sent = false;
  bool truncated = false;  ///< the peer's stream ended without close_notify
};

}  // namespace reactor::net::detail
