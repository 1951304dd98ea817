#pragma once
// The BIO an SSL object reads and writes its connection's socket through.
#include <openssl/bio.h>

namespace reactor::tls::detail {

/// OpenSSL's socket BIO over `fd` (borrowed: freeing the BIO leaves it open), but writing
/// with send(MSG_NOSIGNAL): OpenSSL's own write() raises SIGPIPE when the peer is gone,
/// and reactor never changes the process's signal dispositions (src/net/socket_ops.h).
/// Null when OpenSSL is out of memory.
BIO* new_socket_bio(int fd);

}  // namespace reactor::tls::detail
