// OpenSSL's errors as std::error_code: the packed ERR_get_error() value, and the X509_V_ERR_*
// results of certificate verification.
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cstdio>
#include <string>

#include "reactor/tls/tls_context.h"
#include "tls/tls_session.h"

namespace reactor::tls {
namespace {

class OpensslCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "openssl"; }
  // The reason alone ("wrong version number"): the library and function parts of
  // ERR_error_string_n's text say nothing a user can act on.
  std::string message(int value) const override {
    // The reason strings are loaded with libssl, which may not have been used yet.
    static const bool loaded =
        OPENSSL_init_ssl(OPENSSL_INIT_LOAD_SSL_STRINGS | OPENSSL_INIT_LOAD_CRYPTO_STRINGS, nullptr);
    (void)loaded;
    auto code = static_cast<unsigned long>(static_cast<unsigned int>(value));
    if (ERR_SYSTEM_ERROR(code)) return std::system_category().message(ERR_GET_REASON(code));
    if (const char* reason = ERR_reason_error_string(code)) return reason;
    char text[32];
    std::snprintf(text, sizeof text, "OpenSSL error %08lX", code);
    return text;
  }
};

class VerifyCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "x509 verify"; }
  std::string message(int value) const override { return X509_verify_cert_error_string(value); }
};

}  // namespace

const std::error_category& openssl_category() noexcept {
  static const OpensslCategory category;
  return category;
}

const std::error_category& verify_category() noexcept {
  static const VerifyCategory category;
  return category;
}

namespace detail {

std::error_code drain_errors() {
  unsigned long first = ERR_get_error();
  ERR_clear_error();
  if (first == 0) return {};
  // OpenSSL 3's packed codes fit in 32 bits (ERR_SYSTEM_FLAG is the top one).
  return {static_cast<int>(static_cast<unsigned int>(first)), openssl_category()};
}

}  // namespace detail
}  // namespace reactor::tls
