// tls_echo CERT KEY [PORT]: echo_server over TLS. The server takes a TlsContext and nothing
// else changes: on_message sees plaintext, send() takes plaintext, back-pressure counts
// plaintext bytes. The handshake happens before on_connect; a client whose handshake fails
// (or stalls past 10 s) never reaches the callbacks. Try it:
//   openssl s_client -connect 127.0.0.1:65433 -CAfile ca.pem      (type a line)
#include <reactor/net/tcp_server.h>
#include <reactor/tls/tls_context.h>

#include <cstdio>
#include <string>
#include <system_error>

#include "example.h"
using namespace reactor;
using net::TcpConnectionPtr;

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: tls_echo CERT KEY [PORT]\n");
    return 2;
  }
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  net::TcpServerOptions options;
  try {  // a missing file, bad PEM or a key that does not match: one line, exit 1
    options.tls = tls::TlsContext::server({.certificates = {{argv[1], argv[2]}}});
  } catch (const std::system_error& e) {
    std::fprintf(stderr, "tls_echo: %s\n", e.what());
    return 1;
  }
  EventLoop loop;
  example::stop_on_signals(loop);
  net::ConnectionCallbacks cb;
  cb.on_connect = [](const TcpConnectionPtr& c) {
    std::printf("handshake done with %s\n", c->peer_address().to_string().c_str());
  };
  cb.on_message = [](const TcpConnectionPtr& c, net::Buffer& input) { c->send(input); };
  cb.on_high_water = [](const TcpConnectionPtr& c, size_t) { c->pause_reading(); };
  cb.on_low_water = [](const TcpConnectionPtr& c) { c->resume_reading(); };
  cb.on_close = [](const TcpConnectionPtr&, const net::CloseInfo& info) {
    // A peer that just drops the TCP connection, without close_notify, is "truncated":
    // whatever it sent last may have been cut short.
    std::printf("closed (%s%s)\n", std::string(to_string(info.reason)).c_str(),
                info.truncated ? ", truncated" : "");
  };
  auto at = net::InetAddress::loopback_ipv4(example::port_arg(argc, argv, 3, 65433));
  net::TcpServer server(loop, at, std::move(cb), options);
  server.start();
  example::announce(server.address());
  loop.run();
}
