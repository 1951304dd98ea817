#pragma once
// The OpenSSL side of one connection: net::detail::SecureSession over an SSL object that
// reads and writes the connection's socket itself. Made by TlsContext::new_session().
#include <openssl/ssl.h>

#include <memory>

#include "net/secure_session.h"

namespace reactor::tls::detail {

/// Takes `ssl` (configured: role, socket, name to verify); null when `ssl` is null.
std::unique_ptr<net::detail::SecureSession> make_session(SSL* ssl);

/// Drains OpenSSL's error queue (this thread's) into one error code: the first error, as
/// the root cause; the rest are discarded so the next connection starts clean.
std::error_code drain_errors();

}  // namespace reactor::tls::detail
