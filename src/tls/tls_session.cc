#include "tls/tls_session.h"

#include <openssl/err.h>
#include <openssl/x509_vfy.h>

#include <cerrno>

#include "reactor/tls/tls_context.h"

namespace reactor::tls::detail {

namespace {

using net::detail::SecureSession;
using Status = SecureSession::Status;

class TlsSession final : public SecureSession {
 public:
  explicit TlsSession(SSL* ssl) : ssl_(ssl) {}
  ~TlsSession() override { SSL_free(ssl_); }
  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;

  // Each call starts with an empty error queue: SSL_get_error() reads it, and an error left
  // by other code on this thread would otherwise be taken for this connection's.
  Result handshake() override {
    ERR_clear_error();
    const int rc = SSL_do_handshake(ssl_);
    return rc == 1 ? Result{Status::done} : outcome(rc);
  }
  Result read(char* dst, size_t n) override {
    ERR_clear_error();
    size_t got = 0;
    const int rc = SSL_read_ex(ssl_, dst, n, &got);
    return rc == 1 ? Result{Status::done, got} : outcome(rc);
  }
  bool has_pending() const override { return SSL_has_pending(ssl_) == 1; }
  Result write(const char* src, size_t n) override {
    ERR_clear_error();
    size_t put = 0;
    const int rc = SSL_write_ex(ssl_, src, n, &put);
    return rc == 1 ? Result{Status::done, put} : outcome(rc);
  }
  // 0 means ours is sent and the peer's not yet seen: all we ask. After a fatal error
  // OpenSSL forbids SSL_shutdown, and there is no stream left to end cleanly.
  Result close_notify() override {
    if (fatal_) return {Status::done};
    ERR_clear_error();
    const int rc = SSL_shutdown(ssl_);
    return rc >= 0 ? Result{Status::done} : outcome(rc);
  }
  std::error_code error() const override { return error_; }
  bool resumed() const override { return SSL_session_reused(ssl_) == 1; }
  std::string_view alpn() const override {
    const unsigned char* data = nullptr;
    unsigned len = 0;
    SSL_get0_alpn_selected(ssl_, &data, &len);
    return {reinterpret_cast<const char*>(data), len};
  }
  std::string_view version() const override { return SSL_get_version(ssl_); }

 private:
  Result outcome(int rc);
  // OpenSSL may fail without queueing a reason; the connection still reports one.
  Result fail(std::error_code error) {
    fatal_ = true;
    error_ = error ? error : std::make_error_code(std::errc::protocol_error);
    return {Status::failed};
  }

  SSL* ssl_;
  std::error_code error_;
  bool fatal_ = false;
};

SecureSession::Result TlsSession::outcome(int rc) {
  switch (SSL_get_error(ssl_, rc)) {
    case SSL_ERROR_WANT_READ:
      return {Status::want_read};
    case SSL_ERROR_WANT_WRITE:
      return {Status::want_write};
    case SSL_ERROR_ZERO_RETURN:
      return {Status::closed};
    case SSL_ERROR_SYSCALL: {
      // An empty queue: the socket call failed (errno), or (OpenSSL 1.1 style) hit EOF.
      const int saved = errno;
      std::error_code queued = drain_errors();
      if (queued) return fail(queued);
      if (saved != 0) return fail({saved, std::system_category()});
      fatal_ = true;
      return {Status::truncated};
    }
    case SSL_ERROR_SSL: {
      const unsigned long first = ERR_peek_error();
      if (ERR_GET_LIB(first) == ERR_LIB_SSL &&
          ERR_GET_REASON(first) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
        error_ = drain_errors();
        fatal_ = true;
        return {Status::truncated};
      }
      // A refused certificate: its verification result says why, the queue only that it was.
      const long verdict = SSL_get_verify_result(ssl_);
      std::error_code queued = drain_errors();
      if (verdict != X509_V_OK) return fail({static_cast<int>(verdict), verify_category()});
      return fail(queued);
    }
    default:
      return fail(drain_errors());
  }
}

}  // namespace

std::unique_ptr<SecureSession> make_session(SSL* ssl) {
  if (ssl == nullptr) return nullptr;
  return std::make_unique<TlsSession>(ssl);
}

}  // namespace reactor::tls::detail
