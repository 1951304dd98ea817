// Echo server on standalone Asio, in its usual style: one session object per
// connection, kept alive by the shared_ptr its pending handler holds, looping
// async_read_some -> async_write. async_write completes only when every byte
// is sent, so the next read waits: a slow reader bounds memory naturally.
#include <array>
#include <asio.hpp>
#include <memory>
#include <string>

#include "peer_common.h"

using asio::ip::tcp;

namespace {

class Session : public std::enable_shared_from_this<Session> {
 public:
  explicit Session(tcp::socket socket) : socket_(std::move(socket)) {}

  void read() {
    socket_.async_read_some(asio::buffer(buf_),
                            [self = shared_from_this()](std::error_code ec, std::size_t n) {
                              if (!ec) self->write(n);
                            });
  }

 private:
  void write(std::size_t n) {
    asio::async_write(socket_, asio::buffer(buf_.data(), n),
                      [self = shared_from_this()](std::error_code ec, std::size_t) {
                        if (!ec) self->read();
                      });
  }

  tcp::socket socket_;
  std::array<char, PEER_READ_BUF> buf_;
};

void accept(tcp::acceptor& acceptor) {
  acceptor.async_accept([&acceptor](std::error_code ec, tcp::socket socket) {
    if (!ec) {
      socket.set_option(tcp::no_delay(true));
      std::make_shared<Session>(std::move(socket))->read();
    }
    accept(acceptor);
  });
}

}  // namespace

int main(int argc, char** argv) {
  peer_args args = peer_parse_args(argc, argv);
  try {
    asio::io_context io(1);  // concurrency hint: one thread, no locking
    tcp::endpoint ep(asio::ip::make_address(args.host),
                     static_cast<unsigned short>(std::stoi(args.port)));
    tcp::acceptor acceptor(io, ep);  // sets SO_REUSEADDR, binds, listens
    asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&io](std::error_code, int) { io.stop(); });
    accept(acceptor);
    peer_announce(acceptor.native_handle());
    io.run();
  } catch (const std::exception& e) {
    fprintf(stderr, "echo_asio: %s\n", e.what());
    return 1;
  }
  return 0;
}
