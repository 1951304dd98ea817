#pragma once
// OpenSSL's socket BIO writes with write(), and a write to a socket the peer has reset
// raises SIGPIPE, which kills a process that does not ignore it. The plain path sends
// with MSG_NOSIGNAL so that no program on the library has to; this BIO does the same for
// TLS: recv() and send(MSG_NOSIGNAL) on a borrowed, non-blocking socket.
#include <openssl/bio.h>

namespace reactor::tls::detail {

/// A BIO over `fd` (not owned; never closed by the BIO). Null if OpenSSL cannot make one.
BIO* new_socket_bio(int fd);

}  // namespace reactor::tls::detail
