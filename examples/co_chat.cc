// co_chat: `reactor chat` written with coroutines. Each complete line a client sends goes,
// unchanged, to every other client. One loop: the room is the whole job, so no locks.
// Tutorial step 9, the other way: 69 lines; seed 2 gives this exercise in words, no Python.
#include <reactor/co/server.h>
#include <reactor/core/error.h>

#include <cstdio>
#include <string>
#include <vector>

#include "support/server_main.h"

using namespace reactor;

struct Room {
  size_t max_output = 1 << 20;  // queued for one client before it counts as not reading
  size_t max_line = 64 << 10;   // a "line" longer than this, with no newline, is abuse
  std::vector<co::Connection*> members;
};

// send(), not co_await write(): the room waits for nobody. A member whose output would pass
// max_output is not reading; it is dropped before it can stall the room or grow our memory.
void relay(const Room& room, const co::Connection& from, std::string_view line) {
  auto members = room.members;  // a copy: a member that is dropped leaves the room
  for (co::Connection* m : members) {
    if (m == &from) continue;
    if (m->tcp().pending_output() + line.size() > room.max_output) {
      std::fprintf(stderr, "co_chat: dropping a client that is not reading\n");
      m->abort();
    } else {
      m->tcp().send(line);
    }
  }
}

co::Task<> member(co::Connection c, Room* room) {
  room->members.push_back(&c);
  std::string line;
  try {
    for (;;) {
      line.clear();
      co_await c.read_until(line, "\n", room->max_line + 1);  // the line and its newline
      relay(*room, c, line);
    }
  } catch (const std::system_error& e) {
    if (e.code() == Errc::delimiter_not_found) {
      std::fprintf(stderr, "co_chat: dropping a client: line longer than %zu bytes\n",
                   room->max_line);
      c.abort();
    }  // otherwise the client left, or the drain closed its connection
  }
  std::erase(room->members, &c);
}

int main(int argc, char** argv) {
  examples::ServerMain app("co_chat", "line-based chat relay on coroutines",
                           examples::Threads::one_loop);
  Room room;
  app.cli()
      .add_option("--max-output", room.max_output,
                  "bytes queued for a client before it is disconnected as not reading")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1024}, size_t{1} << 32));
  app.cli()
      .add_option("--max-line", room.max_line, "longest line accepted, in bytes")
      ->capture_default_str()
      ->check(CLI::Range(size_t{16}, size_t{1} << 30));
  return app.serve(argc, argv, [&room](co::Server& server) { server.serve(member, &room); });
}
