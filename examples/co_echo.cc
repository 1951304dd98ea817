// co_echo: `reactor echo` written with coroutines. Every byte a client sends comes back.
// Tutorial step 3, the other way: 24 lines; the tutorial's Python: 65 (seed 1).
#include <reactor/co/server.h>

#include "support/server_main.h"

using namespace reactor;

// One coroutine per connection, on that connection's loop. write() completes at once while
// the client keeps up; when it does not, write() waits for the output to drain, nothing is
// read meanwhile, and the client's bytes wait in the kernel: a client that sends without
// reading costs us no more than the high-water mark (back-pressure).
// A client's reset, or the drain closing the connection, ends a wait with an exception;
// co::Server takes that as the connection's end (logged at debug level only).
co::Task<> echo(co::Connection c) {
  char buf[16 << 10];
  while (size_t n = co_await c.read_some(buf))  // 0: the client's FIN, all of it echoed
    co_await c.write({buf, n});
}  // Dropping the last handle closes the connection gracefully, after its queued output.

int main(int argc, char** argv) {
  examples::ServerMain app("co_echo", "TCP echo server on coroutines", examples::Threads::any);
  return app.serve(argc, argv, [](co::Server& server) { server.serve(echo); });
}
