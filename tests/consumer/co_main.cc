// The coroutine layer from the installed package, as examples/co_echo.cc uses it: a
// co::Server echoing and a co::connect client on one loop. Exits 0 only if the line came back.
#include <reactor/co/connect.h>
#include <reactor/co/server.h>
#include <reactor/co/time.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <system_error>

using namespace reactor;

co::Task<> echo(co::Connection c) {
  char buf[4096];
  try {
    while (size_t n = co_await c.read_some(buf)) co_await c.write({buf, n});
  } catch (const std::system_error&) {
    // closed as the server goes, when main() ends
  }
}

co::Task<std::string> ask(net::InetAddress server) {
  co::Connection c = co_await co::connect(server);
  co_await c.write("hello\n");
  std::string line;
  co_await c.read_until(line, "\n", 100);
  co_return line;
}

int main() {
  EventLoop loop;
  co::Server server(loop, net::InetAddress::loopback_ipv4(0));
  server.serve(echo);
  server.start();
  std::string reply;
  co::spawn(loop, co::timeout(ask(server.address()), std::chrono::seconds(10)),
            [&](co::Outcome<std::string>&& outcome) {
              if (outcome.has_value()) reply = std::move(outcome).value();
              loop.stop();
            });
  loop.run();
  bool ok = reply == "hello\n";
  std::printf("co consumer: %s\n", ok ? "ok" : "no echo");
  return ok ? 0 : 1;
}
