#include "tls/socket_bio.h"

#include <sys/socket.h>

#include <cerrno>
#include <climits>

namespace reactor::tls::detail {

namespace {

int fd_of(BIO* bio) {
  return static_cast<int>(reinterpret_cast<intptr_t>(BIO_get_data(bio)));
}

bool transient(int error) {
  return error == EAGAIN || error == EWOULDBLOCK || error == EINTR;
}

int bio_read(BIO* bio, char* dst, int n) {
  BIO_clear_retry_flags(bio);
  const ssize_t got = ::recv(fd_of(bio), dst, static_cast<size_t>(n), 0);
  if (got < 0 && transient(errno)) BIO_set_retry_read(bio);
  return static_cast<int>(got);  // 0: the peer's FIN
}

int bio_write(BIO* bio, const char* src, int n) {
  BIO_clear_retry_flags(bio);
  const ssize_t put = ::send(fd_of(bio), src, static_cast<size_t>(n), MSG_NOSIGNAL);
  if (put < 0 && transient(errno)) BIO_set_retry_write(bio);
  return static_cast<int>(put);
}

// Only what the TLS state machine asks of a socket: flushing is a no-op (every write went
// to the kernel), and anything else (kTLS, dgram controls) is not supported.
long bio_ctrl(BIO* bio, int command, long, void* ptr) {
  switch (command) {
    case BIO_CTRL_FLUSH:
      return 1;
    case BIO_C_GET_FD:
      if (ptr != nullptr) *static_cast<int*>(ptr) = fd_of(bio);
      return fd_of(bio);
    default:
      return 0;
  }
}

int bio_create(BIO* bio) {
  BIO_set_init(bio, 1);
  return 1;
}

const BIO_METHOD* method() {
  static BIO_METHOD* const m = [] {
    BIO_METHOD* made = BIO_meth_new(
        BIO_get_new_index() | BIO_TYPE_SOURCE_SINK | BIO_TYPE_DESCRIPTOR, "reactor socket");
    if (made == nullptr) return made;
    BIO_meth_set_read(made, bio_read);
    BIO_meth_set_write(made, bio_write);
    BIO_meth_set_ctrl(made, bio_ctrl);
    BIO_meth_set_create(made, bio_create);
    return made;
  }();
  return m;
}

}  // namespace

BIO* new_socket_bio(int fd) {
  const BIO_METHOD* m = method();
  BIO* bio = m != nullptr ? BIO_new(m) : nullptr;
  if (bio != nullptr) BIO_set_data(bio, reinterpret_cast<void*>(static_cast<intptr_t>(fd)));
  return bio;
}

}  // namespace reactor::tls::detail
