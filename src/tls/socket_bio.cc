#include "tls/socket_bio.h"

#include <sys/socket.h>

#include <cerrno>

namespace reactor::tls::detail {
namespace {

// sock_write() of OpenSSL's crypto/bio/bss_sock.c, with MSG_NOSIGNAL. With kernel TLS
// sending, OpenSSL hands control records (alerts) to the socket BIO with a flag only its
// own write understands, so that write keeps the job (and SIGPIPE stays possible there).
int write_nosignal(BIO* bio, const char* data, int n) {
  if (BIO_get_ktls_send(bio)) return BIO_meth_get_write(BIO_s_socket())(bio, data, n);
  errno = 0;
  const int fd = static_cast<int>(BIO_get_fd(bio, nullptr));
  const auto sent = static_cast<int>(::send(fd, data, static_cast<size_t>(n), MSG_NOSIGNAL));
  BIO_clear_retry_flags(bio);
  if (sent <= 0 && BIO_sock_should_retry(sent)) BIO_set_retry_write(bio);
  return sent;
}

BIO_METHOD* make_method() {
  const BIO_METHOD* socket = BIO_s_socket();
  BIO_METHOD* method = BIO_meth_new(BIO_TYPE_SOCKET, "reactor socket");
  if (method == nullptr) return nullptr;
  BIO_meth_set_write(method, write_nosignal);
  BIO_meth_set_read(method, BIO_meth_get_read(socket));
  BIO_meth_set_puts(method, BIO_meth_get_puts(socket));
  BIO_meth_set_ctrl(method, BIO_meth_get_ctrl(socket));
  BIO_meth_set_create(method, BIO_meth_get_create(socket));
  BIO_meth_set_destroy(method, BIO_meth_get_destroy(socket));
  return method;
}

}  // namespace

BIO* new_socket_bio(int fd) {
  static BIO_METHOD* const method = make_method();  // lives as long as the process
  BIO* bio = method != nullptr ? BIO_new(method) : nullptr;
  if (bio != nullptr) BIO_set_fd(bio, fd, BIO_NOCLOSE);
  return bio;
}

}  // namespace reactor::tls::detail
