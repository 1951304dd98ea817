// reactor::tls from the installed package: a TLS echo server and a verifying TLS client on
// one loop, with a certificate made by `openssl req` at run time. Exits 0 only if the line
// came back through both handshakes.
#include <reactor/net/tcp_client.h>
#include <reactor/net/tcp_server.h>
#include <reactor/tls/tls_context.h>
#include <stdlib.h>

#include <cstdio>
#include <cstdlib>
#include <string>

using namespace reactor;

int main() {
  char dir_template[] = "/tmp/reactor-tls-consumer-XXXXXX";
  std::string dir = ::mkdtemp(dir_template) ? dir_template : "";
  std::string cert = dir + "/cert.pem", key = dir + "/key.pem";
  std::string make_cert =
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj "
      "/CN=localhost -addext subjectAltName=IP:127.0.0.1 -keyout " +
      key + " -out " + cert + " 2>/dev/null";
  if (dir.empty() || std::system(make_cert.c_str()) != 0) return std::puts("no certificate"), 1;

  EventLoop loop;
  net::ConnectionCallbacks echo;
  echo.on_message = [](const net::TcpConnectionPtr& c, net::Buffer& in) { c->send(in); };
  tls::ServerConfig server_tls;
  server_tls.certificates.push_back({cert, key});
  net::TcpServerOptions server_options;
  server_options.tls = tls::TlsContext::server(server_tls);
  net::TcpServer server(loop, net::InetAddress::loopback_ipv4(0), echo, server_options);
  server.start();

  std::string reply;
  net::ConnectionCallbacks ask;
  ask.on_connect = [](const net::TcpConnectionPtr& c) { c->send("hello\n"); };
  ask.on_message = [&](const net::TcpConnectionPtr&, net::Buffer& in) {
    reply += in.take_all();
    if (reply.size() >= 6) loop.stop();
  };
  tls::ClientConfig client_tls;
  client_tls.ca_file = cert;  // the server's own certificate; its address is verified
  net::TcpClientOptions client_options;
  client_options.tls = tls::TlsContext::client(client_tls);
  net::TcpClient client(loop, server.address(), ask, client_options);
  client.on_connect_error([&](std::error_code) { loop.stop(); });
  client.connect();
  loop.run_after(std::chrono::seconds(10), [&] { loop.stop(); });
  loop.run();
  std::system(("rm -rf " + dir).c_str());
  bool ok = reply == "hello\n";
  std::printf("tls consumer: %s\n", ok ? "ok" : "no echo");
  return ok ? 0 : 1;
}
