// Starts an HTTP server and a TCP client on one loop against the installed library, asks
// for "/", and exits 0 only if the answer came back: the package is usable end to end.
#include <reactor/http/server.h>
#include <reactor/net/tcp_client.h>

#include <cstdio>
#include <string>

int main() {
  reactor::EventLoop loop;
  reactor::http::Router router;
  router.route("GET", "/", [](const reactor::http::Request&, reactor::http::Responder r) {
    r.send(reactor::http::Response::text(200, "Hello, world!"));
  });
  reactor::http::Server server(loop, reactor::net::InetAddress::loopback_ipv4(0), router.handler());
  server.start();

  std::string reply;
  reactor::net::ConnectionCallbacks cb;
  cb.on_connect = [](const reactor::net::TcpConnectionPtr& c) {
    c->send("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  };
  cb.on_message = [&](const reactor::net::TcpConnectionPtr&, reactor::net::Buffer& in) {
    reply += in.take_all();
  };
  cb.on_close = [&](const reactor::net::TcpConnectionPtr&, const reactor::net::CloseInfo&) {
    loop.stop();
  };
  reactor::net::TcpClient client(loop, server.address(), cb);
  client.connect();
  loop.run_after(std::chrono::seconds(10), [&] { loop.stop(); });
  loop.run();
  bool ok = reply.find("Hello, world!") != std::string::npos;
  std::printf("consumer: %s\n", ok ? "ok" : "no reply");
  return ok ? 0 : 1;
}
